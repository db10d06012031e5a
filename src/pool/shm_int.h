/*
 * Named shared pools: the segment's layout and a process's view of it,
 * shared by shm.c (the segment, its depot, the allocation paths) and
 * reclaim.c (processes, deaths, and the return of a dead one's pages).
 */
#ifndef JUMBO_SHM_INT_H
#define JUMBO_SHM_INT_H

#include "jumbo_int.h"

#define SHM_PAGE 4096u
/* Process slots 1..254: an owner is a byte, 0 nobody, 255 PG_OWNER_RING. */
#define SHM_SLOTS 255u

/* Written once by the creator, before the name exists; then read-only. */
struct jumbo_shm_hdr {
	uint64_t magic;
	uint32_t abi;
	uint32_t hdr_bytes; /* sizeof(struct jumbo_shm_hdr) */
	uint32_t page_shift;
	uint32_t flags;     /* JUMBO_POOL_* of the creator */
	uint64_t max_pages, grow_pages, reserve;
	uint32_t cache_size, trim_idle_ms;
	uint64_t off_ctl, off_procs, off_state, off_fifo, off_hdr, total_bytes;
	char name[32];
	uint32_t creator_uid;
	uint32_t sum;       /* FNV-1a of the bytes above */
};

/*
 * Mutable, shared; everything but the counters changes under lock.
 *
 * The depot is a queue of free frames [head, tail) at fifo[i % max_pages].
 * Invariant whenever the lock is free and dirty is 0: the queue holds
 * exactly the frames of [0, carved) whose word is FREE with owner 0, each
 * once.  An operation on it sets dirty before its first write and clears
 * it after its last; a holder killed in between leaves dirty set, and the
 * next holder (EOWNERDEAD) rebuilds the queue from the words, which are
 * the truth (reclaim.c).
 *
 * lock_slot: the slot holding the lock (written after locking, cleared
 * before unlocking), so that EOWNERDEAD says who died; 0 if unknown.
 */
struct jumbo_shm_ctl {
	pthread_mutex_t lock;
	uint32_t lock_slot;
	uint32_t dirty;
	uint64_t head, tail;
	uint64_t carved;    /* frames [0, carved) have left the fresh range */
	uint64_t committed; /* frames [0, committed) have memory */
	uint64_t reserve;   /* see take() in depot.c; 0 once growth failed */
	int64_t out;        /* pages out of the depot: in use or cached */
	uint64_t high_water;
	uint64_t owner_deaths; /* times a lock holder died in the lock */
	uint64_t grows, grow_fails;
	uint64_t rebuilds;     /* times the queue was rebuilt from the words */
	uint64_t reclaims;     /* processes whose pages were reclaimed */
	uint64_t reclaimed;    /* pages they gave back */
};

/*
 * A process attached to the pool: one 64-byte record per slot, written
 * under the lock.  start (field 22 of /proc/PID/stat) tells a reused pid
 * from the process that took the slot.  A DEAD process's cached pages are
 * back already; its allocated ones wait for jumbo_pool_reclaim(), which
 * marks it RECLAIMING (reclaimer: the slot doing it) while it works, and
 * FREE when done.  A reclaimer that dies leaves RECLAIMING behind, and
 * the next reclaim does the work again: every step is idempotent.
 */
enum { PROC_FREE, PROC_LIVE, PROC_DEAD, PROC_RECLAIMING };

struct jumbo_shm_proc {
	int32_t pid;
	uint32_t state;
	uint64_t start;
	uint32_t reclaimer;
	uint32_t gen;       /* bumped each time the slot is taken */
	uint64_t pad[5];
};

/* A process's view of the object. */
struct jumbo_shm {
	char *map;          /* [off_ctl, total_bytes) of the object */
	size_t map_len;
	const struct jumbo_shm_hdr *hdr;
	struct jumbo_shm_ctl *ctl;
	struct jumbo_shm_proc *procs; /* [SHM_SLOTS], [0] unused */
	frame_t *fifo;
	size_t cap;         /* max_pages */
	unsigned me;        /* this process's slot; 0 before attach ends */
	pid_t pid;          /* the process that took it (a fork child is not) */
	uint32_t w_free;    /* FREE | me: a page in this process's caches */
	uint32_t w_alloc;   /* ALLOC | me: a page this process owns */
	uint32_t last_check; /* clock of the last look at the peers */
	bool creator;       /* unlinks the name at destroy */
	pthread_mutex_t rings_lock; /* the rings bound to the pool here */
	struct jumbo_ring **rings;
	unsigned nrings, rings_cap;
	char path[sizeof("/dev/shm/jumbo-pool.") + 32];
	char tmp[sizeof("/dev/shm/jumbo-pool.") + 64];
};

_Static_assert(sizeof(struct jumbo_shm_hdr) <= SHM_PAGE, "header page");
_Static_assert(sizeof(struct jumbo_shm_ctl) <= SHM_PAGE, "ctl page");
_Static_assert(sizeof(struct jumbo_shm_proc) == 64, "a proc record a line");

static inline uint32_t shm_word(unsigned state, unsigned owner)
{
	return state | owner << PG_OWNER_SHIFT;
}

/* shm.c: the depot's lock (EOWNERDEAD handled inside) and queue. */
JUMBO_HIDDEN void _jumbo_shm_lock(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_shm_unlock(struct jumbo_pool *p);
/* Lock held, dirty set: frame f (its word now FREE|0) joins the queue. */
JUMBO_HIDDEN void _jumbo_shm_enqueue(struct jumbo_shm *s, frame_t f);

/* reclaim.c */
JUMBO_HIDDEN void _jumbo_shm_owner_died(struct jumbo_pool *p);
#define PEER_CHECK_MS 100 /* a depot visit looks at the peers this often */
#define PEER_SHORT_MS 10  /* and a refill that came up short, this often */
JUMBO_HIDDEN void _jumbo_shm_check_peers(struct jumbo_pool *p, unsigned min_ms);
JUMBO_HIDDEN int _jumbo_shm_join(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_shm_leave(struct jumbo_pool *p);

/*
 * The same-process paths of a named pool, inlined into cache.c's entries
 * behind the private pool's inline paths (which never match its words).
 * Which word changes need compare-and-swap, and why: shm.c, "allocation
 * and free".  The general paths behind them, out of line in shm.c:
 * alloc_slow as _jumbo_alloc_slow, free_slow as _jumbo_free_slow.
 */
JUMBO_HIDDEN frame_t _jumbo_shm_alloc_slow(struct jumbo_pool *p);
JUMBO_HIDDEN int _jumbo_shm_free_slow(struct jumbo_pool *p, frame_t f);

/*
 * The batch calls on a named pool (shm.c), which cache.c's
 * jumbo_pool_alloc_bulk and jumbo_pool_free_bulk hand over to; and
 * cache.c's loop that takes pages off a cache a run at a time, whose
 * words read from, making them to (it returns how many; fewer than k:
 * the cache's top page read otherwise and is still in it).
 */
JUMBO_HIDDEN unsigned _jumbo_shm_alloc_bulk(struct jumbo_pool *p, void **addrs,
					    unsigned n);
JUMBO_HIDDEN int _jumbo_shm_free_bulk(struct jumbo_pool *p, void *const *addrs,
				      unsigned n);
JUMBO_HIDDEN unsigned _jumbo_cache_take(struct jumbo_pool *p,
					struct jumbo_cache *c, void **out,
					unsigned k, uint32_t from, uint32_t to);

/*
 * A page from cache c, now ALLOC|me, or false when c is empty.  FREE|me
 * has one writer, this thread (shm.c): a load, a compare and a store.  A
 * page that reads otherwise is not ours to hand out and is dropped.
 */
static inline bool _jumbo_shm_pop(const struct jumbo_shm *s,
				  struct jumbo_pool *p, struct jumbo_cache *c,
				  frame_t *fp)
{
	while (c->f.len) {
		frame_t f = c->objs[--c->f.len];
		if (likely(fr_load(p, f) == s->w_free)) {
			fr_store(p, f, s->w_alloc);
			ctr_bump(&c->f.allocs);
			*fp = f;
			return true;
		}
	}
	return false;
}

/* An allocation: the short cut's cache, else the general path. */
static inline frame_t _jumbo_shm_alloc(struct jumbo_pool *p)
{
	struct jumbo_cache *c = _jumbo_tls_shm(p);
	frame_t f;

	if (likely(c) && likely(_jumbo_shm_pop(p->shm, p, c, &f)))
		return f;
	return _jumbo_shm_alloc_slow(p);
}

/*
 * A free: a plain allocated page (any owner, no hold, no flag) goes
 * straight into the short cut's cache if it has room; else the general
 * path.  The word changes by compare-and-swap, against a concurrent free,
 * hold or reclaim; one that fails goes the general way with the word it
 * saw.  0 or -errno.
 */
static inline int _jumbo_shm_free(struct jumbo_pool *p, frame_t f)
{
	struct jumbo_cache *c = _jumbo_tls_shm(p);

	if (likely(c) && likely(c->f.len < c->f.cap)) {
		uint32_t w = fr_load(p, f);
		if (likely((w & ~PG_OWNER_MASK) == JUMBO_PG_ALLOC) &&
		    likely(fr_cas(p, f, &w, p->shm->w_free))) {
			c->objs[c->f.len++] = f;
			ctr_bump(&c->f.frees);
			return 0;
		}
	}
	return _jumbo_shm_free_slow(p, f);
}

#endif
