/*
 * Named shared pools: the segment's layout and a process's view of it,
 * shared by shm.c (the segment, its depot, the allocation paths) and
 * reclaim.c (processes, deaths, and the return of a dead one's pages).
 */
#ifndef JUMBO_SHM_INT_H
#define JUMBO_SHM_INT_H

#include "jumbo_int.h"

#include <stdio.h>

#define SHM_PAGE 4096u
/* A pool NAME's object is SHM_DIR SHM_PREFIX NAME. */
#define SHM_DIR "/dev/shm/"
#define SHM_PREFIX "jumbo-pool."
#define SHM_PATH_MAX (sizeof(SHM_DIR SHM_PREFIX) + 32)

/* The path of pool name's object into buf (SHM_PATH_MAX bytes). */
static inline void shm_path(char *buf, const char *name)
{
	snprintf(buf, SHM_PATH_MAX, SHM_DIR SHM_PREFIX "%s", name);
}
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
 * Invariant whenever the lock is free and dirty is 0: every frame of
 * [0, carved) whose word is FREE with owner 0 is in the queue; the queue
 * holds besides at most stale entries whose frames a run took by their
 * words (shm.c, "runs"), which shm_get drops as it meets them since their
 * words no longer read FREE|0 (a frame freed again meanwhile is in the
 * queue twice: the first entry taken stamps it, the second is dropped).
 * An operation on it sets dirty before its first write and clears it
 * after its last; a holder killed in between leaves dirty set, and the
 * next holder (EOWNERDEAD) rebuilds the queue from the words, which are
 * the truth (reclaim.c): exactly the FREE|0 frames, once each, stale 0.
 * A queue found full (it can be, with stale entries) sets rebuild_due,
 * and the holder rebuilds it before it lets the lock go.
 *
 * lock_slot: the slot holding the lock (written after locking, cleared
 * before unlocking), so that EOWNERDEAD says who died; 0 if unknown.
 */
#define SHM_MARKS 64u
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
	uint64_t stale;        /* queue entries a run took by their words, at
				* most (an estimate above 0 until a rebuild) */
	uint64_t run_cursor;   /* where the next scan of the words for a
				* run starts */
	uint64_t scan_tail;    /* tail + 1 when a scan of every word last
				* found no run; 0 after a rebuild */
	uint32_t rebuild_due;  /* a frame found the queue full */
	uint32_t qmiss_n;      /* the last search of the queue's head for a
				* run found none of qmiss_n, looking at */
	uint64_t qmiss_look;   /* qmiss_look entries from head */
	uint64_t qmiss_head;   /* qmiss_head - 1; 0 after a rebuild */
	/*
	 * Trim (shm.c, "trim"): the queue's entries below trim_pos have been
	 * looked at by a trim already; trimmed counts the pages it gave
	 * back.  The ages of the queue's entries: mark[(mark_at + i) %
	 * SHM_MARKS] for i < mark_n, oldest first, each saying that every
	 * entry below pos was queued at ms or before.  A rebuild drops the
	 * marks and trim_pos (ages unknown are young).
	 */
	uint64_t trim_pos;
	uint64_t trimmed;
	uint32_t put_ms;       /* the clock when the tail last moved */
	uint32_t mark_at, mark_n;
	struct jumbo_shm_mark {
		uint64_t pos;
		uint32_t ms, pad;
	} mark[SHM_MARKS];
};
_Static_assert(sizeof(struct jumbo_shm_ctl) <= SHM_PAGE,
	       "the depot's control block is one page of the segment");

/*
 * A process attached to the pool: one 64-byte record per slot, written
 * under the lock.
 *
 * Whether it lives: with lock set (the usual case), while the byte at
 * SHM_LOCK_OFF(slot) of the object is locked, by an open-file-description
 * lock the process took at the join through a description of its own
 * (struct jumbo_shm's lock_fd).  The kernel drops it when that
 * description's last reference goes, which is the process's exit however
 * it dies (its descriptors are closed before it is a zombie), and no pid
 * is involved: peers in other pid namespaces (containers sharing
 * /dev/shm) see the same lock.  Without it (lock 0: no description could
 * be made, or the kernel has no such locks), by the pid: start (field 22
 * of /proc/PID/stat) tells a reused pid from the process that took the
 * slot, and pidns (the inode of its pid namespace, 0 unknown) whether the
 * pid means anything to a peer: one in another namespace is never taken
 * for dead on it.  pid and start are kept in either case, for messages.
 *
 * A DEAD process's cached pages are
 * back already; its allocated ones wait for jumbo_pool_reclaim(), which
 * marks it RECLAIMING (reclaimer: the slot doing it) while it works, and
 * FREE when done.  A reclaimer that dies leaves RECLAIMING behind, and
 * the next reclaim does the work again: every step is idempotent.  A
 * process that leaves (destroy) still owning pages is DEAD too, with pid
 * 0, since it may live on (reclaim.c, _jumbo_shm_leave).
 */
enum { PROC_FREE, PROC_LIVE, PROC_DEAD, PROC_RECLAIMING };

struct jumbo_shm_proc {
	int32_t pid;
	uint32_t state;
	uint64_t start;
	uint32_t reclaimer;
	uint32_t gen;       /* bumped each time the slot is taken */
	uint32_t lock;      /* 1: liveness is the lock on SHM_LOCK_OFF(slot) */
	uint32_t pins;      /* its jumbo_pool_pin()s not yet undone */
	uint64_t pidns;     /* inode of its pid namespace; 0 unknown */
	uint64_t pad[3];
};

/*
 * The byte whose lock says slot i lives: far past anything the object
 * holds (a byte-range lock may lie past the end of a file).
 */
#define SHM_LOCK_OFF(i) JUMBO_LOCK_OFF(i) /* as rings' records */

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
	int lock_fd;        /* its own description of the object, which
			     * holds the slot's lock; -1 none (or a fork
			     * child's: closed in it) */
	uint64_t pidns;     /* this process's pid namespace (its inode) */
	uint32_t w_free;    /* FREE | me: a page in this process's caches */
	uint32_t w_alloc;   /* ALLOC | me: a page this process owns */
	uint32_t last_check; /* clock of the last look at the peers */
	bool creator;       /* unlinks the name at destroy */
	pthread_mutex_t rings_lock; /* the rings bound to the pool here */
	struct jumbo_ring **rings;
	unsigned nrings, rings_cap;
	char path[SHM_PATH_MAX];
	char tmp[SHM_PATH_MAX + 32];
};

_Static_assert(sizeof(struct jumbo_shm_hdr) <= SHM_PAGE, "header page");
_Static_assert(sizeof(struct jumbo_shm_ctl) <= SHM_PAGE, "ctl page");
_Static_assert(sizeof(struct jumbo_shm_proc) == 64, "a proc record a line");

static inline uint32_t shm_word(unsigned state, unsigned owner)
{
	return state | owner << PG_OWNER_SHIFT;
}

/* shm.c: the depot's lock (EOWNERDEAD, and a rebuild due, handled inside)
 * and queue. */
JUMBO_HIDDEN void _jumbo_shm_lock(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_shm_unlock(struct jumbo_pool *p);
/* Lock held, dirty set: frame f (its word now FREE|0) joins the queue. */
JUMBO_HIDDEN void _jumbo_shm_enqueue(struct jumbo_shm *s, frame_t f);

/* reclaim.c */
JUMBO_HIDDEN void _jumbo_shm_owner_died(struct jumbo_pool *p);
/* Lock held: the queue anew from the words (dirty is set meanwhile). */
JUMBO_HIDDEN void _jumbo_shm_rebuild(struct jumbo_pool *p);
#define PEER_CHECK_MS 100 /* a depot visit looks at the peers this often */
#define PEER_SHORT_MS 10  /* and a refill that came up short, this often */
JUMBO_HIDDEN void _jumbo_shm_check_peers(struct jumbo_pool *p, unsigned min_ms);
JUMBO_HIDDEN int _jumbo_shm_join(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_shm_leave(struct jumbo_pool *p);
/* A fork child's handle: its copy of the parent's lock goes (cache.c). */
JUMBO_HIDDEN void _jumbo_shm_forked(struct jumbo_pool *p);

/*
 * The short cuts of a named pool, inlined at the top of cache.c's
 * _jumbo_alloc_slow and _jumbo_free_slow, which the private pool's inline
 * paths call whenever their own test fails (it always does on a named
 * pool's words, which carry an owner), and the allocation's also on that
 * failing side in jumbo_pool_alloc (pool.c), which saves it the call.
 * They are the private pool's paths with this process's words for
 * constants: the thread's cache of the named pool it used last
 * (tls.shm_last); an allocation takes the page on top if it reads
 * FREE|me and makes it ALLOC|me, a free takes a page that reads
 * ALLOC|me, makes it FREE|me and pushes it; a load and a plain store
 * each, no read-modify-write.  Why one writer may be assumed for these
 * two words, and which races that leaves uncaught: shm.c, "allocation
 * and free".  Everything else (no short cut, an empty or full cache,
 * another process's page, a held or flagged one, a twin) takes the
 * general paths, out of line in shm.c.
 */
JUMBO_HIDDEN frame_t _jumbo_shm_alloc_slow(struct jumbo_pool *p);
JUMBO_HIDDEN int _jumbo_shm_free_slow(struct jumbo_pool *p, frame_t f);

_Static_assert(JUMBO_PG_ALLOC - 1 == JUMBO_PG_FREE,
	       "FREE|me is ALLOC|me less one");

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
 * And cache.c's free kernel: the addresses a[0..k) while they are a run of
 * page starts one page apart whose words read from, a chunk of SHM_RUN at
 * a time, each checked before any is changed: how many (a multiple of
 * SHM_RUN, 0 when k < SHM_RUN), each now to, its frame in o[0..).
 */
#define SHM_RUN 32u /* cache.c's CHUNK */
JUMBO_HIDDEN unsigned _jumbo_give_run(struct jumbo_pool *p, void *const *a,
				      frame_t *o, unsigned k, uint32_t from,
				      uint32_t to);

/*
 * True and *fp = a frame, now ALLOC|me; false when the general path must
 * run (nothing was changed then).  As _jumbo_alloc_fast, everything is
 * read before anything is written.  p may be any pool: only a named one
 * can be the thread's shm_pool, and while its cache is still p's,
 * p->shm_mine is set (at the join, before any cache; cleared at the
 * close, after destroy took every cache off the pool).
 */
static inline bool _jumbo_shm_alloc_fast(struct jumbo_pool *p, frame_t *fp)
{
	struct jumbo_cache *c;

	if (likely(_jumbo_tls_shm(p, &c)) && likely(c->f.len != 0)) {
		unsigned len = c->f.len;
		uint32_t *st = p->state, mine = p->shm_mine;
		uint64_t n = c->f.allocs;
		frame_t f = c->objs[len - 1];
		if (likely(__atomic_load_n(&st[f], __ATOMIC_RELAXED) ==
			   mine - 1)) {
			c->f.len = len - 1;
			__atomic_store_n(&st[f], mine, __ATOMIC_RELAXED);
			__atomic_store_n(&c->f.allocs, n + 1, __ATOMIC_RELAXED);
			*fp = f;
			return true;
		}
	}
	return false;
}

/* Frame f (below the cap), ALLOC|me, is now FREE|me and cached: true;
 * false as above. */
static inline bool _jumbo_shm_free_fast(struct jumbo_pool *p, frame_t f)
{
	struct jumbo_cache *c;

	if (likely(_jumbo_tls_shm(p, &c))) {
		unsigned len = c->f.len;
		uint32_t *st = p->state, mine = p->shm_mine;
		uint64_t n = c->f.frees;
		if (likely(__atomic_load_n(&st[f], __ATOMIC_RELAXED) == mine) &&
		    likely(len < c->f.cap)) {
			__atomic_store_n(&st[f], mine - 1, __ATOMIC_RELAXED);
			c->objs[len] = f;
			c->f.len = len + 1;
			__atomic_store_n(&c->f.frees, n + 1, __ATOMIC_RELAXED);
			return true;
		}
	}
	return false;
}

#endif
