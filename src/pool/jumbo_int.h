/*
 * libjumbo internals: the pool, its depot of magazines, the per-thread
 * caches, and the page state word.  Installed headers never include this.
 */
#ifndef JUMBO_INT_H
#define JUMBO_INT_H

#include <jumbo/jumbo.h>
#include <pthread.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jumbo_common.h"
#include "jumbo_pool_layer.h"

/*
 * Assertions in three levels, as mimalloc has them: JUMBO_DEBUG_LEVEL 1
 * checks cheap invariants, 2 internal ones, 3 expensive walks.  Release
 * builds compile them out; the checks that protect the pool from bad input
 * are not assertions and are always on.
 */
#ifndef JUMBO_DEBUG_LEVEL
#define JUMBO_DEBUG_LEVEL 0
#endif
JUMBO_HIDDEN _Noreturn void _jumbo_assert_fail(const char *expr,
					       const char *file, int line);
#define jumbo_assert_level(lvl, e)                                           \
	do {                                                                 \
		if (JUMBO_DEBUG_LEVEL >= (lvl) && !(e))                      \
			_jumbo_assert_fail(#e, __FILE__, __LINE__);          \
	} while (0)
#define jumbo_assert(e) jumbo_assert_level(1, e)
#define jumbo_assert_internal(e) jumbo_assert_level(2, e)
#define jumbo_assert_expensive(e) jumbo_assert_level(3, e)

/*
 * Frames are named by number inside the library: the caches and magazines
 * hold frame numbers (4 bytes, so a magazine exchange moves half the lines
 * pointers would), and a frame's address and state follow from its number
 * without touching its descriptor.
 */
typedef uint32_t frame_t;
#define NO_FRAME UINT32_MAX

/*
 * The page state word, one per frame in the pool's dense array p->state
 * (16 words to a cache line; a descriptor is 24 bytes and read-only after
 * growth).  One thread allocating and another freeing write the words of
 * pages that are mostly consecutive, so a line changes cores once per 16
 * pages rather than once or twice per page:
 *
 *   bits 0-3   state: JUMBO_PG_UNUSED, _FREE, _ALLOC, _LOST
 *              (HELD is ALLOC with a hold count above zero)
 *   bit  4     PGF_TRIMMED: free, and its memory was given back
 *   bit  5     PGF_POISON: free, and filled with the poison pattern
 *   bit  6     PGF_DEFER: allocated and held, and freed: the last unhold
 *              completes the free
 *   bits 8-15  owner, in a named shared pool only (shm.c): 0 the depot (or
 *              fresh, or nobody's), 1..254 the process slot that holds the
 *              page (cached FREE, or ALLOC), PG_OWNER_RING a page left in
 *              a ring by a process that died; always 0 in a private pool
 *   bits 16-31 hold count
 *
 * A FREE or ALLOC page with no flag and no hold is the only state the fast
 * paths handle; everything else goes to a slow path.  The word is written
 * with plain atomic stores while only one party can touch it (the owner of
 * an allocated, unheld page; the cache or depot that holds a free one) and
 * with compare-and-swap while holds may race with a free.
 */
#define PGS_MASK 0xfu
#define PGF_TRIMMED 0x10u
#define PGF_POISON 0x20u
#define PGF_DEFER 0x40u
#define PG_HOLD_SHIFT 16
#define PG_HOLD_ONE (1u << PG_HOLD_SHIFT)
#define PG_HOLD_MAX 0xffffu
#define PG_OWNER_SHIFT 8
#define PG_OWNER_MASK 0xff00u
#define PG_OWNER_RING 255u

static inline unsigned fr_owner_of(uint32_t s)
{
	return (s & PG_OWNER_MASK) >> PG_OWNER_SHIFT;
}

struct jumbo_pool;
static inline uint32_t *fr_word(const struct jumbo_pool *p, frame_t f);

static inline uint32_t fr_load(const struct jumbo_pool *p, frame_t f)
{
	/*
	 * Relaxed: whoever may legally look at this page got it through a
	 * synchronising hand-off (the depot lock, a ring, a thread join), so
	 * the last write is already visible; racing holds use CAS.
	 */
	return __atomic_load_n(fr_word(p, f), __ATOMIC_RELAXED);
}

static inline void fr_store(const struct jumbo_pool *p, frame_t f, uint32_t v)
{
	__atomic_store_n(fr_word(p, f), v, __ATOMIC_RELAXED);
}

/* Compare-and-swap, where holds may race with a free. */
static inline bool fr_cas(const struct jumbo_pool *p, frame_t f, uint32_t *s,
			  uint32_t ns)
{
	return __atomic_compare_exchange_n(fr_word(p, f), s, ns, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/*
 * A magazine: a LIFO array of free pages in the depot.  Invariants:
 * 0 <= count <= mag_size; pages[0..count) are FREE pages of one pool, each
 * in no other magazine or cache (but for twins: see _jumbo_twin()).  stamp
 * is the coarse clock (ms) at which it was last filled; trimmed says some
 * of its pages were given back to the kernel (their words carry
 * PGF_TRIMMED until they are taken).
 */
struct jumbo_mag {
	struct jumbo_mag *next;
	unsigned count;
	uint32_t stamp;
	bool trimmed;
	frame_t pages[];
};

/*
 * A thread's cache for one pool: a LIFO array of up to f.cap free pages,
 * traded with the depot half a cache (mag_size pages) at a time, so that a
 * burst of cap allocations, or of cap frees, never reaches the depot.  The
 * trade goes through the spare magazine: filled from the array and swapped
 * for an empty one, or swapped for a full one and emptied into the array.
 * Only its thread touches f.len and objs; others read the counters
 * (relaxed) for statistics.  pool is cleared by jumbo_pool_destroy, after
 * which the owner frees the cache on its next look.  f.allocs - f.frees is
 * the thread's net effect on pages in use (negative when it frees pages
 * that others allocated).  Every page in objs is plain FREE, but for twins.
 *
 * f is the public view (struct jumbo_fast, <jumbo/jumbo.h>): length,
 * room, counters and copies of the pool's constants, one cache line.  For
 * the default pool, publish is the owner's jumbo_fast_seed, which points
 * at f while the inline fast paths in programs may use it (cache_publish
 * in cache.c says when); NULL for every other pool.
 */
struct jumbo_cache {
	struct jumbo_fast f;
	struct jumbo_pool *pool;
	struct jumbo_mag *spare;       /* an empty magazine, or NULL */
	struct jumbo_cache *pool_next; /* the pool's list of caches */
	struct jumbo_cache **pool_pprev;
	struct jumbo_fast **publish;   /* default pool: &jumbo_fast_seed */
	frame_t objs[];
} __attribute__((aligned(JUMBO_CACHELINE)));

/* Layout 1 of struct jumbo_fast is ABI: programs inline these offsets. */
_Static_assert(sizeof(frame_t) == sizeof(uint32_t), "objs holds frame_t");
_Static_assert(JUMBO_FAST_FREE == JUMBO_PG_FREE &&
	       JUMBO_FAST_ALLOC == JUMBO_PG_ALLOC, "fast-path state words");
_Static_assert(JUMBO_FAST_LAYOUT == 1 &&
	       offsetof(struct jumbo_fast, len) == 0 &&
	       offsetof(struct jumbo_fast, cap) == 4 &&
	       offsetof(struct jumbo_fast, shift) == 8 &&
	       offsetof(struct jumbo_fast, npages) == 12 &&
	       offsetof(struct jumbo_fast, objs) == 16 &&
	       offsetof(struct jumbo_fast, state) == 24 &&
	       offsetof(struct jumbo_fast, base) == 32 &&
	       offsetof(struct jumbo_fast, pages) == 40 &&
	       offsetof(struct jumbo_fast, allocs) == 48 &&
	       offsetof(struct jumbo_fast, frees) == 56 &&
	       sizeof(struct jumbo_fast) == 64, "struct jumbo_fast, layout 1");

/*
 * Per-thread state.  last/last_pool short-cut the table for the pool the
 * thread used last, which is the only one most threads ever use.
 * shm_last/shm_pool do the same for the named pool it used last, for
 * its short cuts (shm_int.h; the inline paths never look at them); each
 * pair is set together by _jumbo_cache_get and cleared together wherever
 * the cache goes.
 */
struct jumbo_tls {
	struct jumbo_pool *last_pool;
	struct jumbo_cache *last;
	struct jumbo_cache **v; /* indexed by pool id */
	unsigned n;
	bool keyed;             /* thread-exit destructor armed */
	const char *busy;       /* debug: the pool call this thread is in */
	struct jumbo_pool *shm_pool;
	struct jumbo_cache *shm_last;
};

/*
 * initial-exec: a plain %fs-relative access even from the shared library
 * (the general-dynamic default calls __tls_get_addr on every use), at the
 * cost of a little static TLS, which glibc reserves for such libraries.
 */
extern __thread struct jumbo_tls _jumbo_tls __attribute__((tls_model("initial-exec")));

/*
 * A free run of n contiguous pages, kept whole in the depot for
 * jumbo_pool_alloc_contig.  stamp: when it was freed; trimmed: its memory
 * was given back (its words carry PGF_TRIMMED).
 */
struct jumbo_run {
	frame_t first;
	uint32_t n;
	uint32_t stamp;
	bool trimmed;
	bool loose;   /* made of pages freed one by one (runs_coalesce) */
};

/* Counters bumped on slow paths, under no lock: atomic adds. */
struct jumbo_counters {
	uint64_t allocs, frees; /* those that went around the thread caches */
	uint64_t steals, holds, deferred_frees, grows, trims, alloc_fails,
		grow_fails, lost;
	uint64_t twins; /* second copies of a page freed twice at once */
};

/*
 * A pool.  The head (public, read-only) comes first.  The depot fields
 * below the lock are guarded by it; committed and trimmed change only under
 * it, fresh likewise.  Balance: every committed, non-lost page is exactly
 * one of: allocated; in a thread cache; in a depot magazine (or one that
 * trim holds for a moment); in a free run (likewise); on the spill list;
 * fresh (index in [carved, committed)).  Twins aside: see _jumbo_twin().
 */
struct jumbo_pool {
	struct jumbo_pool_head head;
	uint32_t *state;       /* state words, indexed by frame */
	unsigned id;           /* index in the threads' cache tables */
	unsigned mag_size;     /* pages per magazine: cache_size / 2 */
	unsigned cache_size;   /* pages per thread cache */
	/*
	 * A named pool's ALLOC|me (shm.c), the word of a page this process
	 * owns, for the short cuts in shm_int.h (FREE|me is one less); 0
	 * for every other pool and outside a named one's join and close.
	 * In what was padding: no field the private pool's inline paths
	 * use moves.
	 */
	uint32_t shm_mine;
	size_t grow_pages;
	size_t page_size;
	size_t page_mask;      /* page_size - 1 */
	bool huge;             /* hugetlb pages (2 MiB): no MREMAP_DONTUNMAP,
				* no MADV_POPULATE_WRITE, holes re-backed */
	int fd;                /* memfd of a shared pool, else -1 */
	bool debug;            /* poison on free, check on alloc */
	bool nocache;          /* no thread caches (also in debug mode) */
	bool seed;             /* the default pool: misuse aborts */
	bool detached;         /* a shared pool in a fork child: no
				  allocation, no trim (see fork.c) */
	bool detached_said;    /* the refusal was reported (atomic) */
	size_t reserved_bytes; /* length of the reservation */
	size_t meta_bytes;     /* length of the descriptor reservation */
	size_t state_bytes;    /* length of the state array's reservation */
	char name[32];
	struct jumbo_shm *shm;  /* a named shared pool's segment (shm.c) */

	pthread_mutex_t lock __attribute__((aligned(JUMBO_CACHELINE)));
	struct jumbo_mag *full;     /* depot: magazines with pages, a queue */
	struct jumbo_mag *full_tail;
	struct jumbo_mag *empty;    /* depot: empty magazines */
	size_t nempty;              /* how many */
	size_t depot_pages;         /* free pages in the full magazines */
	uint32_t spill;             /* pages freed with no magazine to hold
				       them, linked through pg_link */
	size_t nspill;
	size_t carved;              /* frames [0, carved) have been used */
	size_t committed;           /* frames [0, committed) have memory */
	size_t reserve;             /* depot pages kept cold before reuse;
				       0 once the kernel refused growth */
	size_t trimmed;             /* committed frames given back */
	size_t trim_pages;          /* free pages trim holds out of the
				       depot for its system calls */
	pthread_cond_t trim_cv;     /* signalled when it puts them back, and
				       when the last trim in progress ends */
	unsigned pins;              /* jumbo_pool_pin()s not yet undone */
	unsigned trimming;          /* trims, steals and deliveries' moves
				       between their check of pins and their
				       end (pin() waits for them) */
	uint32_t trim_idle_ms;      /* automatic trim age; 0: off */
	uint32_t last_trim;         /* clock of the last automatic trim (atomic) */
	/*
	 * Pages out of the depot right now (allocated or in caches).  Signed:
	 * while a twin (see _jumbo_twin) is loose it counts one page short,
	 * and both copies back in the depot make that -1 for a moment.
	 */
	long out;
	size_t high_water;          /* most of out */
	size_t nmags;               /* magazines allocated */
	struct jumbo_run *runs;     /* free runs, runs[0..nruns) */
	size_t nruns, runs_cap;
	size_t run_pages;           /* free pages in them */
	size_t loose_pages;         /* of those, in loose runs */
	size_t coalesce_left;       /* magazine pages the last coalesce
				       (depot.c) left there */
	struct jumbo_cache *caches; /* every thread's cache of this pool */
	uint64_t retired_allocs;    /* counters of caches that are gone */
	uint64_t retired_frees;

	struct jumbo_counters ctr __attribute__((aligned(JUMBO_CACHELINE)));
};

/*
 * The pages a pool grows to for its cold reserve (depot.c reserve_fresh,
 * which says why; shm.c's for the shared queue): its working set, the
 * most pages ever out of the depot at once (high_water) or now with the n
 * asked for (out is one short for a moment while a twin is loose), plus
 * the reserve, plus a magazine of slack for what the thread caches hold
 * from one burst to the next, when there are caches.
 */
static inline size_t _jumbo_reserve_goal(const struct jumbo_pool *p,
					 int64_t out, size_t high_water,
					 size_t reserve, unsigned n)
{
	size_t hw = (out > 0 ? (size_t)out : 0) + n;

	if (hw < high_water)
		hw = high_water;
	return hw + reserve + (p->nocache ? 0 : p->mag_size);
}

#define SPILL_END NO_FRAME

/*
 * Pages in use, from the summed allocation and free counts (a steal gives
 * its page back as a free does): lost slots are not in use, and each twin
 * is a free counted twice.
 */
static inline uint64_t pool_in_use(const struct jumbo_pool *p, uint64_t allocs,
				   uint64_t frees)
{
	return allocs - frees - __atomic_load_n(&p->ctr.lost, __ATOMIC_RELAXED) +
	       __atomic_load_n(&p->ctr.twins, __ATOMIC_RELAXED);
}

static inline uint32_t *fr_word(const struct jumbo_pool *p, frame_t f)
{
	return &p->state[f];
}

/*
 * A trimmed free page about to leave the depot: caches and callers see
 * plain FREE words, so the flag goes (its memory refaults as zeros).
 * Lock held, as for every change of p->trimmed, so that statistics see
 * it move with the page.
 */
static inline void fr_untrim(struct jumbo_pool *p, frame_t f)
{
	if (fr_load(p, f) & PGF_TRIMMED) {
		fr_store(p, f, JUMBO_PG_FREE);
		__atomic_fetch_sub(&p->trimmed, 1, __ATOMIC_RELAXED);
	}
}

/* A frame's address, descriptor; a descriptor's frame. */
static inline char *fr_addr(const struct jumbo_pool *p, frame_t f)
{
	return p->head.ph_base + ((size_t)f << p->head.ph_shift);
}

static inline vm_page_t fr_page(const struct jumbo_pool *p, frame_t f)
{
	return &p->head.ph_pages[f];
}

static inline frame_t pg_frame(const struct vm_page *pg)
{
	return pg->pg_index;
}

/* Frame i's descriptor and state, as growth writes them (lock held). */
/*
 * The one address-to-frame lookup, for every entry point that takes an
 * address.  Its bound is the cap (ph_npages, fixed at creation: one
 * compare, no atomic load; an address below the base wraps above it).  A
 * frame inside the cap but beyond the committed part passes and is told
 * apart by its state word, which reads JUMBO_PG_UNUSED until the frame is
 * committed (the state array is mapped for the whole cap, zero-filled):
 * each caller's state check turns that into -EFAULT.  exact: addr must be
 * a page's first byte.  0, -EFAULT (outside the cap) or -EINVAL.
 */
static inline int fr_of(const struct jumbo_pool *p, const void *addr,
			bool exact, frame_t *fp)
{
	size_t off = (uintptr_t)addr - (uintptr_t)p->head.ph_base;
	size_t i = off >> p->head.ph_shift;

	if (unlikely(i >= p->head.ph_npages))
		return -EFAULT;
	if (exact && unlikely(off & p->page_mask))
		return -EINVAL;
	*fp = (frame_t)i;
	return 0;
}

/*
 * fr_of for a page descriptor (jumbo_pg_steal): the descriptor's page,
 * found by the one lookup, so the bound and the answer for a frame not
 * committed are those of every by-address entry point.  The index is
 * bounded by the cap before it is made an address only because a wild
 * one would wrap when shifted.  0, -EFAULT (outside the array, or not on
 * a descriptor's boundary).
 */
static inline int fr_of_page(const struct jumbo_pool *p,
			     const struct vm_page *pg, frame_t *fp)
{
	size_t off = (uintptr_t)pg - (uintptr_t)p->head.ph_pages;
	size_t i = off / sizeof(*pg);

	if (unlikely(off % sizeof(*pg) || i >= p->head.ph_npages))
		return -EFAULT;
	return fr_of(p, fr_addr(p, (frame_t)i), true, fp);
}

static inline void fr_init(struct jumbo_pool *p, size_t i)
{
	struct vm_page *pg = &p->head.ph_pages[i];
	pg->pg_index = (frame_t)i;
	pg->pg_pool = p;
	pg->pg_link = SPILL_END;
	pg->pg_kva = fr_addr(p, (frame_t)i);
	fr_store(p, (frame_t)i, JUMBO_PG_FREE);
}

static inline void ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* Thread-owned counter: one writer, so a load and a store, no RMW. */
static inline void ctr_bump(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

/* mem.c: the pool's memory, from the kernel. */
JUMBO_HIDDEN void *_jumbo_reserve(size_t len, size_t align);
JUMBO_HIDDEN void _jumbo_unreserve(void *addr, size_t len);
JUMBO_HIDDEN int _jumbo_commit(struct jumbo_pool *p, size_t first, size_t n);
JUMBO_HIDDEN int _jumbo_decommit(struct jumbo_pool *p, size_t first, size_t n);
JUMBO_HIDDEN int _jumbo_reback(struct jumbo_pool *p, size_t idx);

/* depot.c: the shared depot, behind the pool lock. */
JUMBO_HIDDEN unsigned _jumbo_depot_get(struct jumbo_pool *p, frame_t *out,
				       unsigned n);
JUMBO_HIDDEN void _jumbo_depot_put(struct jumbo_pool *p, const frame_t *fs,
				   unsigned n);
JUMBO_HIDDEN struct jumbo_mag *_jumbo_depot_take_full(struct jumbo_pool *p,
						      struct jumbo_mag *spare);
JUMBO_HIDDEN struct jumbo_mag *_jumbo_depot_take_empty(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_depot_keep_empty(struct jumbo_pool *p,
					  struct jumbo_mag *m);
JUMBO_HIDDEN struct jumbo_mag *_jumbo_depot_give_full(struct jumbo_pool *p,
						      struct jumbo_mag *m);
JUMBO_HIDDEN struct jumbo_mag *_jumbo_mag_new(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_depot_free_all(struct jumbo_pool *p);
JUMBO_HIDDEN struct jumbo_mag *_jumbo_depot_take_old(struct jumbo_pool *p,
						     uint32_t now,
						     unsigned min_age_ms);
JUMBO_HIDDEN void _jumbo_depot_put_back(struct jumbo_pool *p,
					struct jumbo_mag *list, size_t n,
					size_t ntrimmed);
JUMBO_HIDDEN bool _jumbo_depot_take_run(struct jumbo_pool *p, unsigned n,
					struct jumbo_run *out);
JUMBO_HIDDEN void _jumbo_depot_put_run(struct jumbo_pool *p, frame_t first,
				       unsigned n);
JUMBO_HIDDEN size_t _jumbo_depot_take_old_runs(struct jumbo_pool *p,
					       uint32_t now, unsigned min_age_ms,
					       struct jumbo_run **out);
JUMBO_HIDDEN void _jumbo_depot_put_back_runs(struct jumbo_pool *p,
					     struct jumbo_run *v, size_t n,
					     size_t ntrimmed);

/* cache.c: the per-thread caches. */
JUMBO_HIDDEN struct jumbo_cache *_jumbo_cache_get(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_cache_put(struct jumbo_pool *p, frame_t f);
JUMBO_HIDDEN frame_t _jumbo_alloc_slow(struct jumbo_pool *p);
JUMBO_HIDDEN int _jumbo_free_slow(struct jumbo_pool *p, frame_t f);
JUMBO_HIDDEN int _jumbo_registry_add(struct jumbo_pool *p);
JUMBO_HIDDEN uint64_t _jumbo_registry_remove(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_counters_sum(struct jumbo_pool *p, uint64_t *allocs,
				      uint64_t *frees);

/*
 * The fast paths, inlined into the entry points.  The thread's cache of
 * the pool it used last is two TLS loads away; an allocation is a pop and
 * one store to the frame's state word; a free one load, one store and a
 * push.  Neither touches the descriptor.
 */
static inline bool _jumbo_tls_hit(const struct jumbo_pool *p,
				  struct jumbo_cache **cp)
{
	struct jumbo_tls *t = &_jumbo_tls;
	struct jumbo_cache *c = *cp = t->last;

	/* last is never NULL while last_pool is set. */
	return likely(t->last_pool == p) &&
	       likely(__atomic_load_n(&c->pool, __ATOMIC_RELAXED) == p);
}

/*
 * The same for named pool p (the thread's shm_last): true if p is the
 * named pool it used last and the cache is still p's (not destroyed, no
 * drain request).
 */
static inline bool _jumbo_tls_shm(const struct jumbo_pool *p,
				  struct jumbo_cache **cp)
{
	struct jumbo_tls *t = &_jumbo_tls;
	struct jumbo_cache *c = *cp = t->shm_last;

	/* shm_last is never NULL while shm_pool is set. */
	return likely(t->shm_pool == p) &&
	       likely(__atomic_load_n(&c->pool, __ATOMIC_RELAXED) == p);
}

/* The same as a pointer, or NULL (the fast paths branch on the above:
 * a pointer would cost them a NULL test they never need). */
static inline struct jumbo_cache *_jumbo_tls_cache(const struct jumbo_pool *p)
{
	struct jumbo_cache *c;

	return _jumbo_tls_hit(p, &c) ? c : NULL;
}

/*
 * The allocation fast path: true and *fp = a frame, now ALLOC; false when
 * the slow path must run (no cache, an empty one, or a cached page that is
 * not plain FREE: a twin, see _jumbo_twin()).  Everything is read before
 * anything is written, since the compiler reloads across atomic stores.
 */
static inline bool _jumbo_alloc_fast(struct jumbo_pool *p, frame_t *fp)
{
	struct jumbo_cache *c;

	if (likely(_jumbo_tls_hit(p, &c)) && likely(c->f.len != 0)) {
		unsigned len = c->f.len;
		uint32_t *st = p->state;
		uint64_t n = c->f.allocs;
		frame_t f = c->objs[len - 1];
		if (likely(__atomic_load_n(&st[f], __ATOMIC_RELAXED) ==
			   JUMBO_PG_FREE)) {
			c->f.len = len - 1;
			__atomic_store_n(&st[f], JUMBO_PG_ALLOC, __ATOMIC_RELAXED);
			__atomic_store_n(&c->f.allocs, n + 1, __ATOMIC_RELAXED);
			*fp = f;
			return true;
		}
	}
	return false;
}

/* A free page's descriptor, now ALLOC, or NULL with errno ENOMEM. */
static inline vm_page_t _jumbo_alloc_page(struct jumbo_pool *p)
{
	frame_t f;

	if (likely(_jumbo_alloc_fast(p, &f)))
		return fr_page(p, f);
	f = _jumbo_alloc_slow(p);
	return f != NO_FRAME ? fr_page(p, f) : NULL;
}

/* Frame f (below the cap) is freed: 0, or a -errno and nothing changed. */
static inline int _jumbo_free(struct jumbo_pool *p, frame_t f)
{
	struct jumbo_cache *c;

	if (likely(_jumbo_tls_hit(p, &c))) {
		unsigned len = c->f.len;
		uint32_t *st = p->state;
		uint64_t n = c->f.frees;
		if (likely(__atomic_load_n(&st[f], __ATOMIC_RELAXED) ==
			   JUMBO_PG_ALLOC) && likely(len < c->f.cap)) {
			__atomic_store_n(&st[f], JUMBO_PG_FREE, __ATOMIC_RELAXED);
			c->objs[len] = f;
			c->f.len = len + 1;
			__atomic_store_n(&c->f.frees, n + 1, __ATOMIC_RELAXED);
			return 0;
		}
	}
	return _jumbo_free_slow(p, f);
}

/* The free of an address: checked, then the inline free. */
static inline int _jumbo_free_addr(struct jumbo_pool *p, const void *addr)
{
	frame_t f;
	int err = fr_of(p, addr, true, &f);

	if (unlikely(err))
		return err;
	return _jumbo_free(p, f);
}

/*
 * Re-entry.  A pool call made from a signal handler that interrupted a
 * pool call on the same thread finds the cache half-changed, or the pool
 * lock held by itself.  In debug mode (a JUMBO_POOL_DEBUG pool, or a build
 * with JUMBO_DEBUG_LEVEL) each slow path and locking entry point marks the
 * thread busy; a call that finds the mark is reported (function, pool and
 * the call it interrupted: written, or parked for the log hook, by the
 * async-signal-safe _jumbo_log_signal) and refused with EDEADLK, changing
 * nothing.
 * Only outermost calls mark: internal calls between them do not.
 */
JUMBO_HIDDEN JUMBO_NOINLINE bool _jumbo_reentered(struct jumbo_pool *p,
						 const char *fn);

static inline bool _jumbo_enter(struct jumbo_pool *p, const char *fn)
{
	if (!(JUMBO_DEBUG_LEVEL > 0 || p->debug))
		return true;
	if (unlikely(_jumbo_tls.busy))
		return !_jumbo_reentered(p, fn);
	/* Not re-entered: the place to deliver what a re-entered call on
	 * any thread parked for the hook. */
	_jumbo_log_deliver();
	_jumbo_tls.busy = fn;
	/* A handler on this thread sees the mark before the call's work. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return true;
}

static inline void _jumbo_leave(struct jumbo_pool *p)
{
	if (!(JUMBO_DEBUG_LEVEL > 0 || p->debug))
		return;
	/* The call's work is done before a handler can find it unmarked. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	_jumbo_tls.busy = NULL;
}

/* The error for a page whose word is not ALLOC, or 0 if it is. */
static inline int not_alloc(uint32_t s)
{
	switch (s & PGS_MASK) {
	case JUMBO_PG_ALLOC:
		return 0;
	case JUMBO_PG_UNUSED:
		return -EFAULT;
	default:
		return -EALREADY;
	}
}

/* page.c: states, checks, poison, reports. */
JUMBO_HIDDEN bool _jumbo_alloc_check(struct jumbo_pool *p, frame_t f);
JUMBO_HIDDEN void _jumbo_twin(struct jumbo_pool *p, frame_t f, const char *fn,
			      bool in_depot);
JUMBO_HIDDEN int _jumbo_free_state(struct jumbo_pool *p, frame_t f);
JUMBO_HIDDEN int _jumbo_page_of(struct jumbo_pool *p, const void *addr,
				bool exact, frame_t *fp);
JUMBO_HIDDEN void _jumbo_poison(struct jumbo_pool *p, frame_t f);
JUMBO_HIDDEN const char *_jumbo_strerr(int err);

/* hold.c: a steal by frame (the seed's jumbo_pg_steal). */
JUMBO_HIDDEN int _jumbo_steal(struct jumbo_pool *p, frame_t f,
			      unsigned flags);

/* page.c: a detached pool refuses fn: -EXDEV, reported once. */
JUMBO_HIDDEN int _jumbo_detached(struct jumbo_pool *p, const char *fn,
				 bool alloc);

/* pool.c */
JUMBO_HIDDEN struct jumbo_pool *_jumbo_pool_make(const struct jumbo_pool_params *pp,
						int at);
JUMBO_HIDDEN void _jumbo_pool_locks_init(struct jumbo_pool *p);

/* trim.c */
JUMBO_HIDDEN void _jumbo_auto_trim(struct jumbo_pool *p);
JUMBO_HIDDEN long _jumbo_trim(struct jumbo_pool *p, unsigned min_age_ms);

/*
 * After a visit to the depot (its lock released): the automatic trim's
 * moment, if the pool has one.  The depot's callers make this call, not
 * the depot, so that calls in the pool layer go one way (docs/LAYOUT.md).
 */
static inline void trim_if_idle(struct jumbo_pool *p)
{
	if (unlikely(p->trim_idle_ms))
		_jumbo_auto_trim(p);
}


/*
 * shm.c: named shared pools.  Their state words and depot live in the
 * segment; the depot entry points in depot.c hand over to these when
 * p->shm is set.  setup: at create (at == -1) or attach (at: the fd).
 */
JUMBO_HIDDEN int _jumbo_shm_setup(struct jumbo_pool *p,
				  const struct jumbo_pool_params *pp, int at);
JUMBO_HIDDEN int _jumbo_shm_publish(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_shm_close(struct jumbo_pool *p);
JUMBO_HIDDEN unsigned _jumbo_shm_get(struct jumbo_pool *p, frame_t *out,
				     unsigned n, bool grow);
JUMBO_HIDDEN void _jumbo_shm_put(struct jumbo_pool *p, const frame_t *fs,
				 unsigned n);
JUMBO_HIDDEN long _jumbo_shm_trim(struct jumbo_pool *p, unsigned min_age_ms);
JUMBO_HIDDEN int _jumbo_shm_pin(struct jumbo_pool *p, int delta);
/* n contiguous free pages, their words now w: true and *first. */
JUMBO_HIDDEN bool _jumbo_shm_take_run(struct jumbo_pool *p, unsigned n,
				      uint32_t w, frame_t *first);
JUMBO_HIDDEN void _jumbo_shm_stats(struct jumbo_pool *p, struct jumbo_stats *st);
/*
 * A named pool's own allocation and free paths (shm.c, and shm_int.h's
 * short cuts): its words carry the owner, so the private pool's inline
 * paths never match them and its caches are never the thread's "last"
 * (cache.c) but its shm_last.
 */
JUMBO_HIDDEN void _jumbo_shm_cache_put(struct jumbo_pool *p, frame_t f);

/* Live statistics (statseg.c): publish a pool, or stop publishing it. */
JUMBO_HIDDEN void _jumbo_statseg_register(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_statseg_unregister(struct jumbo_pool *p);

#endif
