/*
 * Pools: creation and destruction, the by-address entry points, trim and
 * statistics.
 */
#include "jumbo_int.h"
#include "shm_int.h" /* a named pool's short cut */

#include <jumbo/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEFAULT_MAX_PAGES 65536
#define DEFAULT_CACHE 512
/*
 * JUMBO_RESERVE_AUTO, 32 MiB: the reserve must outlast what the freeing
 * core's private cache holds of the pages.  One line touched per page (a
 * forwarder that reads headers), one thread allocating and another
 * freeing (bench S3, 4 alternating 3-run invocations, reserve_pages set
 * by hand, at ab6cdf4, on the AMD host of the time): 0.45-0.49 of DPDK's
 * rate with no reserve, 0.67-0.77 with 4096 pages, 0.97-1.09 with 8192.
 * Code that reads whole frames evicts them sooner.
 *
 * Not the default since 2026-11-30: on the Intel host of that day S3 ran
 * 35-37.5 M pages/s with it against 50-58 without, receive was the same
 * either way, and a thread whose bursts reach the depot (after a flush,
 * a new thread, S2 after S1 in jumbo-bench) got pages that had gone round
 * 32 MiB and missed every cache: 114 against 5.7 ns a page (bench/README,
 * "The cold reserve as a default").  A program that hands pages between
 * cores asks for it and measures.
 */
#define DEFAULT_RESERVE_BYTES ((size_t)32 << 20)

void jumbo_pool_params_init(struct jumbo_pool_params *p)
{
	memset(p, 0, sizeof(*p));
	p->page_size = JUMBO_PAGE_4K;
	p->max_pages = DEFAULT_MAX_PAGES;
	p->cache_size = DEFAULT_CACHE;
	p->reserve_pages = 0; /* see DEFAULT_RESERVE_BYTES */
}

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/*
 * Magazine size: half the thread cache, but no more than an eighth of the
 * cap (a cache of a quarter at most), so that a small pool's pages are not
 * all parked in one thread.  0 below 8 pages: no caches at all.
 */
static unsigned mag_size_for(const struct jumbo_pool_params *pp)
{
	size_t m = (pp->cache_size ? pp->cache_size : DEFAULT_CACHE) / 2;
	if (m > pp->max_pages / 8)
		m = pp->max_pages / 8;
	return (unsigned)m;
}

static void pool_unmap(struct jumbo_pool *p)
{
	if (p->shm)
		_jumbo_shm_close(p);
	if (p->head.ph_base)
		_jumbo_unreserve(p->head.ph_base, p->reserved_bytes);
	if (p->head.ph_pages)
		munmap(p->head.ph_pages, p->meta_bytes);
	if (p->state)
		munmap(p->state, p->state_bytes);
	if (p->fd >= 0)
		close(p->fd);
}

/* The pool's lock and trim's condition, unlocked (also in a fork child). */
void _jumbo_pool_locks_init(struct jumbo_pool *p)
{
	/*
	 * Adaptive: critical sections are a few list operations, so a thread
	 * that finds the lock taken spins briefly rather than sleeping in the
	 * kernel, which would cost it tens of microseconds.
	 */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&p->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_cond_init(&p->trim_cv, NULL);
}

struct jumbo_pool *jumbo_pool_create(const struct jumbo_pool_params *pp)
{
	return _jumbo_pool_make(pp, -1);
}

/* A pool made (at == -1) or, for a named shared pool, attached (at: its fd). */
struct jumbo_pool *_jumbo_pool_make(const struct jumbo_pool_params *pp, int at)
{
	struct jumbo_pool *p;
	unsigned shift;
	int err;

	_jumbo_atfork_init(); /* before any lock of a pool can be held */
	if (!pp || (pp->page_size != JUMBO_PAGE_4K && pp->page_size != JUMBO_PAGE_2M) ||
	    pp->max_pages == 0 || pp->init_pages > pp->max_pages ||
	    pp->max_pages > UINT32_MAX - 1 ||
	    (pp->flags & ~(unsigned)(JUMBO_POOL_SHARED | JUMBO_POOL_DEBUG |
				     JUMBO_POOL_NOCACHE | JUMBO_POOL_STAT |
				     JUMBO_POOL_NAMED | JUMBO_POOL_GROUP))) {
		errno = EINVAL;
		return NULL;
	}
	/* Named: shared, 4 KiB pages (2 MiB ones would need a second,
	 * hugetlbfs file, on which the header could not be written). */
	if ((pp->flags & (JUMBO_POOL_NAMED | JUMBO_POOL_GROUP)) &&
	    (!(pp->flags & JUMBO_POOL_SHARED) || !(pp->flags & JUMBO_POOL_NAMED) ||
	     pp->page_size != JUMBO_PAGE_4K)) {
		errno = EINVAL;
		return NULL;
	}
	shift = pp->page_size == JUMBO_PAGE_4K ? 12 : 21;
	if (pp->max_pages > (SIZE_MAX >> 1) >> shift) {
		errno = EINVAL;
		return NULL;
	}
	p = aligned_alloc(JUMBO_CACHELINE, round_up(sizeof(*p), JUMBO_CACHELINE));
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->spill = SPILL_END;
	p->page_size = pp->page_size;
	p->page_mask = pp->page_size - 1;
	p->huge = pp->page_size == JUMBO_PAGE_2M;
	p->head.ph_shift = shift;
	p->head.ph_npages = pp->max_pages;
	p->head.ph_flags = pp->flags;
	p->debug = (pp->flags & JUMBO_POOL_DEBUG) != 0;
	/* Debug pools check every page at the depot: no caches. */
	p->nocache = (pp->flags & (JUMBO_POOL_NOCACHE | JUMBO_POOL_DEBUG)) != 0;
	p->mag_size = mag_size_for(pp);
	p->cache_size = 2 * p->mag_size;
	if (p->mag_size == 0) { /* the depot's magazines still need room */
		p->nocache = true;
		p->mag_size = 1;
		p->cache_size = 0;
	}
	p->trim_idle_ms = pp->trim_idle_ms;
	p->reserve = pp->reserve_pages == JUMBO_RESERVE_AUTO
			     ? DEFAULT_RESERVE_BYTES >> shift : pp->reserve_pages;
	if (p->reserve > pp->max_pages / 4)
		p->reserve = pp->max_pages / 4;
	if (p->debug) /* reuse soon: a use after free shows sooner */
		p->reserve = 0;
	p->last_trim = _jumbo_clock_ms();
	p->grow_pages = pp->grow_pages ? pp->grow_pages
				       : (JUMBO_PAGE_2M >> shift);
	snprintf(p->name, sizeof(p->name), "%s", pp->name ? pp->name : "jumbo");
	_jumbo_pool_locks_init(p);

	err = ENOMEM;
	p->reserved_bytes = pp->max_pages << shift;
	p->head.ph_base = _jumbo_reserve(p->reserved_bytes, JUMBO_PAGE_2M);
	if (!p->head.ph_base)
		goto fail;
	/* Descriptors: reserved for the cap, touched only as the pool grows. */
	p->meta_bytes = round_up(pp->max_pages * sizeof(struct vm_page), 4096);
	p->head.ph_pages = mmap(NULL, p->meta_bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->head.ph_pages == MAP_FAILED) {
		p->head.ph_pages = NULL;
		goto fail;
	}
	/* State words likewise; unused ones read as zero: JUMBO_PG_UNUSED. */
	p->state_bytes = round_up(pp->max_pages * sizeof(*p->state), 4096);
	p->state = mmap(NULL, p->state_bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->state == MAP_FAILED) {
		p->state = NULL;
		goto fail;
	}
	if (pp->flags & JUMBO_POOL_NAMED) {
		err = -_jumbo_shm_setup(p, pp, at);
		if (err)
			goto fail;
	} else if (pp->flags & JUMBO_POOL_SHARED) {
		unsigned mf = MFD_CLOEXEC | (shift == 21 ? MFD_HUGETLB : 0);
		p->fd = memfd_create(p->name, mf);
		if (p->fd < 0 || ftruncate(p->fd, (off_t)p->reserved_bytes) != 0) {
			err = errno;
			goto fail;
		}
	}
	if (_jumbo_registry_add(p) != 0) {
		err = ENOMEM;
		goto fail;
	}
	/* Commit the initial pages: all of them, or the pool is not made. */
	pthread_mutex_lock(&p->lock);
	while (at < 0 && p->committed < pp->init_pages) {
		size_t step = pp->init_pages - p->committed;
		err = _jumbo_commit(p, p->committed, step);
		if (err) {
			pthread_mutex_unlock(&p->lock);
			_jumbo_registry_remove(p);
			err = -err;
			goto fail;
		}
		for (size_t i = p->committed; i < p->committed + step; i++)
			fr_init(p, i);
		p->committed += step;
		p->head.ph_committed = p->committed; /* not yet published */
	}
	pthread_mutex_unlock(&p->lock);
	if (p->shm && (err = -_jumbo_shm_publish(p)) != 0) {
		_jumbo_registry_remove(p);
		goto fail;
	}
	_jumbo_statseg_register(p);
	return p;
fail:
	pool_unmap(p);
	pthread_cond_destroy(&p->trim_cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
	errno = err;
	return NULL;
}

int jumbo_pool_destroy(struct jumbo_pool *p)
{
	if (!p)
		return -EINVAL;
	/* The default pool is jumbo_vm_init's: the seed's calls, the inline
	 * fast paths and jumbo_default_head point into it until exit. */
	if (p->seed) {
		_jumbo_log(JUMBO_LOG_ERROR, "jumbo_pool_destroy: pool \"%s\" "
			   "is the default pool (jumbo_vm_init); it lives "
			   "until the process exits", p->name);
		return -EBUSY;
	}
	uint64_t in_use = _jumbo_registry_remove(p);
	if (in_use) {
		_jumbo_log(JUMBO_LOG_ERROR,
			   "jumbo_pool_destroy: pool \"%s\": %llu page(s) "
			   "still in use; the pool is left in place",
			p->name, (unsigned long long)in_use);
		return -EBUSY;
	}
	_jumbo_statseg_unregister(p);
	_jumbo_depot_free_all(p);
	pool_unmap(p);
	pthread_cond_destroy(&p->trim_cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return 0;
}

/* ---- by address ---------------------------------------------------------- */

/*
 * A named pool's short cut is tried here too, after the private one
 * failed, so that its allocation is one call from the program, as a
 * private pool's is, rather than two (named_pair: the call and return
 * were most of what a named pair paid over a private one).  The private
 * pool's path is the instructions it was.
 */
void *jumbo_pool_alloc(struct jumbo_pool *p)
{
	frame_t f;

	if (likely(_jumbo_alloc_fast(p, &f)) || _jumbo_shm_alloc_fast(p, &f))
		return fr_addr(p, f);
	f = _jumbo_alloc_slow(p);
	return f != NO_FRAME ? fr_addr(p, f) : NULL;
}

vm_page_t jumbo_pool_alloc_page(struct jumbo_pool *p)
{
	return _jumbo_alloc_page(p);
}

int jumbo_pool_free(struct jumbo_pool *p, void *addr)
{
	return _jumbo_free_addr(p, addr);
}

/* ---- runs of contiguous pages ------------------------------------------- */

static void *alloc_contig(struct jumbo_pool *p, unsigned n);

void *jumbo_pool_alloc_contig(struct jumbo_pool *p, unsigned n)
{
	if (!p || n == 0 || n > p->head.ph_npages) {
		errno = EINVAL;
		return NULL;
	}
	if (unlikely(p->detached)) {
		errno = -_jumbo_detached(p, "jumbo_pool_alloc_contig", true);
		return NULL;
	}
	if (!_jumbo_enter(p, "jumbo_pool_alloc_contig"))
		return NULL;
	void *a = alloc_contig(p, n);
	_jumbo_leave(p);
	return a;
}

/*
 * The word of a page of a run this process allocates: plain ALLOC, or in
 * a named pool ALLOC|me, so that the run's pages are this process's like
 * any other it allocated: a reclaim of it dead returns them (page by
 * page), and another process frees them by compare-and-swap.
 */
static uint32_t run_word(const struct jumbo_pool *p)
{
	return p->shm ? p->shm_mine : JUMBO_PG_ALLOC;
}

static void *alloc_contig(struct jumbo_pool *p, unsigned n)
{
	struct jumbo_run r;
	uint32_t w = run_word(p);

	/* A named pool's run comes with its words made w under its lock
	 * (shm.c, "runs"): no other process may see them free meanwhile. */
	if (p->shm) {
		if (_jumbo_shm_take_run(p, n, w, &r.first)) {
			ctr_add(&p->ctr.allocs, n);
			return fr_addr(p, r.first);
		}
		ctr_add(&p->ctr.alloc_fails, 1);
		errno = ENOMEM;
		return NULL;
	}
	while (_jumbo_depot_take_run(p, n, &r)) {
		/*
		 * Each word must be plain FREE (poisoned in a debug pool; the
		 * depot untrimmed it); else the page is a twin, the run is
		 * broken, and its other pages go back one by one.
		 */
		unsigned bad = n;
		for (unsigned i = 0; i < n; i++) {
			uint32_t s = fr_load(p, r.first + i) & ~PGF_POISON;
			if (s != JUMBO_PG_FREE && bad == n)
				bad = i;
		}
		if (bad < n) {
			_jumbo_twin(p, r.first + bad, "jumbo_pool_alloc_contig",
				    false);
			for (unsigned i = 0; i < n; i++) {
				frame_t f = r.first + i;
				if (i != bad)
					_jumbo_depot_put(p, &f, 1);
			}
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			if (p->debug)
				_jumbo_alloc_check(p, r.first + i); /* poison */
			fr_store(p, r.first + i, w);
		}
		ctr_add(&p->ctr.allocs, n);
		return fr_addr(p, r.first);
	}
	ctr_add(&p->ctr.alloc_fails, 1);
	errno = ENOMEM;
	return NULL;
}

int jumbo_pool_free_contig(struct jumbo_pool *p, void *addr, unsigned n)
{
	if (!p || n == 0)
		return -EINVAL;
	frame_t x;
	int bad = fr_of(p, addr, true, &x);
	if (bad)
		return bad;
	if (n > p->head.ph_npages - x)
		return -EFAULT;
	/*
	 * The usual case, every page plain ALLOC (ALLOC|me in a named pool:
	 * run_word()): the run goes back whole.  Otherwise (a held page, a
	 * bad one, another process's, a debug pool, which poisons page by
	 * page) each page is freed as jumbo_pool_free would.
	 */
	uint32_t w = run_word(p);
	unsigned i = 0;
	while (!p->debug && i < n && fr_load(p, (frame_t)(x + i)) == w)
		i++;
	if (i == n) {
		for (i = 0; i < n; i++)
			fr_store(p, (frame_t)(x + i), JUMBO_PG_FREE);
		ctr_add(&p->ctr.frees, n);
		_jumbo_depot_put_run(p, (frame_t)x, n);
		trim_if_idle(p);
		return 0;
	}
	int first = 0;
	for (i = 0; i < n; i++) {
		int err = _jumbo_free_addr(p, (char *)addr + ((size_t)i << p->head.ph_shift));
		if (err && !first)
			first = err;
	}
	return first;
}

int jumbo_pool_fd(const struct jumbo_pool *p)
{
	return p ? p->fd : -1;
}

/* ---- statistics -------------------------------------------------------------- */

/*
 * A snapshot in which no value is impossible.  The depot's figures are
 * read together under its lock; the counts of allocations and frees are
 * summed over the thread caches, which change under no lock, so pages in
 * use are that difference bounded by what the depot says is out of it
 * (pages in use plus pages cached), and the cached pages are the rest.
 */
int jumbo_pool_stats(struct jumbo_pool *p, struct jumbo_stats *st)
{
	uint64_t allocs, frees;

	if (!p || !st)
		return -EINVAL;
	if (!_jumbo_enter(p, "jumbo_pool_stats"))
		return -EDEADLK;
	memset(st, 0, sizeof(*st));
	if (p->shm) {
		_jumbo_shm_stats(p, st);
		_jumbo_leave(p);
		return 0;
	}
	/* Frees (and twins, and steals, each counted before its free) are
	 * read before the events that precede them: see sum_locked(). */
	st->double_frees = __atomic_load_n(&p->ctr.twins, __ATOMIC_ACQUIRE);
	st->steals = __atomic_load_n(&p->ctr.steals, __ATOMIC_ACQUIRE);
	_jumbo_counters_sum(p, &allocs, &frees);
	st->lost = __atomic_load_n(&p->ctr.lost, __ATOMIC_ACQUIRE);
	st->holds = __atomic_load_n(&p->ctr.holds, __ATOMIC_RELAXED);
	st->deferred_frees = __atomic_load_n(&p->ctr.deferred_frees, __ATOMIC_RELAXED);
	st->grows = __atomic_load_n(&p->ctr.grows, __ATOMIC_RELAXED);
	st->trims = __atomic_load_n(&p->ctr.trims, __ATOMIC_RELAXED);
	st->alloc_fails = __atomic_load_n(&p->ctr.alloc_fails, __ATOMIC_RELAXED);
	st->grow_fails = __atomic_load_n(&p->ctr.grow_fails, __ATOMIC_RELAXED);
	/* Internally a steal returns its page like a free, and each copy
	 * of a twin counts a free; report them apart. */
	uint64_t gone = st->steals + st->double_frees;
	st->frees = frees > gone ? frees - gone : 0;
	if (allocs < st->frees + st->steals + st->lost)
		allocs = st->frees + st->steals + st->lost;
	st->allocs = allocs;
	/*
	 * A steal or a twin is counted before its free, so this snapshot may
	 * hold the one and not yet the other: its page is no longer in use
	 * all the same, so what is in use is reckoned with at least gone
	 * frees (else in_use could exceed allocs - frees - steals - lost).
	 */
	uint64_t freed = frees > gone ? frees : gone;
	int64_t in_use = (int64_t)(allocs - freed - st->lost + st->double_frees);

	pthread_mutex_lock(&p->lock);
	/* Out of the depot: in use or cached.  A loose twin can make it
	 * one short for a moment. */
	uint64_t out = p->out > 0 ? (uint64_t)p->out : 0;
	st->committed = p->committed - p->trimmed;
	st->high_water = p->high_water > out ? p->high_water : out;
	st->depot_free = p->depot_pages + p->nspill + p->run_pages +
			 p->trim_pages + (p->committed - p->carved);
	size_t runs_cap = p->runs_cap, committed = p->committed;
	pthread_mutex_unlock(&p->lock);
	st->in_use = in_use < 0 ? 0 : (uint64_t)in_use > out ? out
							    : (uint64_t)in_use;
	st->cached_free = out - st->in_use;
	st->reserved = p->head.ph_npages;
	st->page_size = p->page_size;
	st->meta_bytes = committed * (sizeof(struct vm_page) +
					 sizeof(*p->state)) +
			 __atomic_load_n(&p->nmags, __ATOMIC_RELAXED) *
				 (sizeof(struct jumbo_mag) +
				  p->mag_size * sizeof(frame_t)) +
			 runs_cap * sizeof(struct jumbo_run) + sizeof(*p);
	_jumbo_leave(p);
	return 0;
}

void jumbo_stats_print(const struct jumbo_stats *st, FILE *stream)
{
	FILE *f = stream ? stream : stdout;
	const struct {
		const char *name;
		uint64_t v;
	} rows[] = {
		{ "page_size", st->page_size },   { "in_use", st->in_use },
		{ "committed", st->committed },   { "reserved", st->reserved },
		{ "high_water", st->high_water }, { "depot_free", st->depot_free },
		{ "cached_free", st->cached_free }, { "allocs", st->allocs },
		{ "frees", st->frees },           { "steals", st->steals },
		{ "holds", st->holds },           { "deferred_frees", st->deferred_frees },
		{ "grows", st->grows },           { "trims", st->trims },
		{ "alloc_fails", st->alloc_fails }, { "grow_fails", st->grow_fails },
		{ "lost", st->lost },             { "meta_bytes", st->meta_bytes },
		{ "double_frees", st->double_frees },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(f, "%-16s %llu\n", rows[i].name,
			(unsigned long long)rows[i].v);
}
