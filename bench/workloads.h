/*
 * The workloads, as a template that each peer adapter includes once, so
 * that its alloc and free calls are inlined into the loops exactly as a
 * program using that allocator would compile them.  Indirect calls would
 * add about a nanosecond to every figure, which is a third of the floor.
 *
 * Before including, the adapter defines:
 *   WL_FN(x)          the name of its instance of x (e.g. dpdk_##x)
 *   WL_ALLOC()        a page-sized page, or NULL
 *   WL_FREE(p)        give it back; an expression, its value ignored
 * and optionally:
 *   WL_NO_S3          no S3: the allocator cannot free across threads
 *   WL_ALLOC_BULK(v, n) / WL_FREE_BULK(v, n)   batch calls, for S2B;
 *       ALLOC_BULK returns how many it gave, FREE_BULK 0 on success
 *   WL_UNINSTRUMENTED the allocator is not built with the sanitizer
 *   WL_GROW_BEGIN(n)  make a fresh pool able to hold n pages (0 or -1);
 *   WL_GROW_END()     destroy it; WL_RELEASE() give free memory back to
 *                     the kernel (trim); WL_META(n) metadata bytes per page
 *                     of that pool, -1 when the allocator does not say
 *
 * Every workload checks what it measures: each page must be page-aligned,
 * each carries a 64-bit token written when it is allocated and compared
 * before it is freed (so a page handed out twice, or not writable, shows),
 * and an allocation that returns NULL ends the run with an error.
 */
#include <stdatomic.h>
#include <string.h>

#include "bench.h"
#include "ring.h"

/* This header may be included more than once in a file (peer_jumbo.c). */
#undef WL_HB_ALLOC
#undef WL_HB_FREE
#undef WL_S2B_FN
#undef WL_GROW_FN

#ifdef WL_UNINSTRUMENTED
#define WL_HB_ALLOC(p) BENCH_HB_ALLOC(p)
#define WL_HB_FREE(p) BENCH_HB_FREE(p)
#else
#define WL_HB_ALLOC(p) ((void)0)
#define WL_HB_FREE(p) ((void)0)
#endif

/*
 * The token of a page.  WL_TOKEN_AT spreads the tokens of a batch of pages
 * over the 64 cache lines of a page: written at offset 0 in every page,
 * 512 pages all fall in one L1 set, and the misses that causes (S2's floor
 * went from 5.4 to 12 ns/page) would swamp what the allocators differ by.
 */
#define WL_TOKEN(p) (*(volatile uint64_t *)(p))
#define WL_TOKEN_AT(p, i) \
	(*(volatile uint64_t *)((char *)(p) + ((i) & 63) * 64))
#define WL_MISALIGNED(p) ((uintptr_t)(p) & (BENCH_PAGE - 1))

static void WL_FN(s1)(const struct wl_params *a, struct wl_result *r)
{
	uintptr_t misaligned = 0;
	uint64_t i;

	for (i = 0; i < a->iters; i++) {
		void *p = WL_ALLOC();

		if (BENCH_UNLIKELY(p == NULL)) {
			bench_error(r, "alloc returned NULL at pair %llu",
				    (unsigned long long)i);
			return;
		}
		WL_HB_ALLOC(p);
		misaligned |= WL_MISALIGNED(p);
		WL_TOKEN(p) = i;
		WL_HB_FREE(p);
		WL_FREE(p);
	}
	bench_check_pages(r, misaligned, 0);
}

/* Fills v[0..BURST) with tokens base.. and checks them back. */
static inline void WL_FN(burst_touch)(void **v, uint64_t base,
				      uintptr_t *misaligned)
{
	for (unsigned i = 0; i < BENCH_BURST; i++) {
		WL_HB_ALLOC(v[i]);
		*misaligned |= WL_MISALIGNED(v[i]);
		WL_TOKEN_AT(v[i], i) = base + i;
	}
}

static inline uint64_t WL_FN(burst_check)(void **v, uint64_t base)
{
	uint64_t bad = 0;

	for (unsigned i = 0; i < BENCH_BURST; i++) {
		bad += WL_TOKEN_AT(v[i], i) != base + i;
		WL_HB_FREE(v[i]);
	}
	return bad;
}

static void WL_FN(s2)(const struct wl_params *a, struct wl_result *r)
{
	void *v[BENCH_BURST];
	uintptr_t misaligned = 0;
	uint64_t bad = 0;

	for (uint64_t b = 0; b < a->iters; b++) {
		for (unsigned i = 0; i < BENCH_BURST; i++) {
			v[i] = WL_ALLOC();
			if (BENCH_UNLIKELY(v[i] == NULL)) {
				bench_error(r, "alloc returned NULL at page %u"
					    " of a burst", i);
				while (i > 0)
					WL_FREE(v[--i]);
				return;
			}
		}
		WL_FN(burst_touch)(v, b * BENCH_BURST, &misaligned);
		bad += WL_FN(burst_check)(v, b * BENCH_BURST);
		for (unsigned i = 0; i < BENCH_BURST; i++)
			WL_FREE(v[i]);
	}
	bench_check_pages(r, misaligned, bad);
}

#ifdef WL_ALLOC_BULK
static void WL_FN(s2b)(const struct wl_params *a, struct wl_result *r)
{
	void *v[BENCH_BURST];
	uintptr_t misaligned = 0;
	uint64_t bad = 0;

	for (uint64_t b = 0; b < a->iters; b++) {
		unsigned got = WL_ALLOC_BULK(v, BENCH_BURST);

		if (BENCH_UNLIKELY(got != BENCH_BURST)) {
			bench_error(r, "bulk alloc gave %u of %u pages", got,
				    BENCH_BURST);
			if (got)
				(void)WL_FREE_BULK(v, got);
			return;
		}
		WL_FN(burst_touch)(v, b * BENCH_BURST, &misaligned);
		bad += WL_FN(burst_check)(v, b * BENCH_BURST);
		if (BENCH_UNLIKELY(WL_FREE_BULK(v, BENCH_BURST) != 0)) {
			bench_error(r, "bulk free failed");
			return;
		}
	}
	bench_check_pages(r, misaligned, bad);
}
#define WL_S2B_FN WL_FN(s2b)
#else
#define WL_S2B_FN NULL
#endif

#ifndef WL_NO_S3
/*
 * S3, the receive path.  The producer allocates page i, writes token i and
 * posts it; the consumer checks that its k-th page carries token k (the
 * ring is FIFO) and frees it.  The producer raises q->failed when it gives
 * up, as run.c does for a thread that could not enter the peer, so that
 * the other side stops waiting.
 */
static void WL_FN(s3_produce)(struct spsc *q, uint64_t n, struct wl_result *r)
{
	uintptr_t misaligned = 0;

	for (uint64_t i = 0; i < n; i++) {
		void *p = WL_ALLOC();

		if (BENCH_UNLIKELY(p == NULL)) {
			bench_error(r, "alloc returned NULL at page %llu",
				    (unsigned long long)i);
			/* Release: the consumer's acquire load of failed then
			 * also sees the error text written above. */
			atomic_store_explicit(&q->failed, 1,
					      memory_order_release);
			return;
		}
		WL_HB_ALLOC(p);
		misaligned |= WL_MISALIGNED(p);
		WL_TOKEN_AT(p, i) = i;
		while (!spsc_push(q, p)) {
			/* Acquire: pairs with the release store of a consumer
			 * that gave up; only a flag. */
			if (atomic_load_explicit(&q->failed,
						 memory_order_acquire)) {
				WL_HB_FREE(p);
				WL_FREE(p);
				return;
			}
			spsc_pause();
		}
	}
	spsc_flush_tail(q);
	bench_check_pages(r, misaligned, 0);
}

static void WL_FN(s3_consume)(struct spsc *q, uint64_t n, struct wl_result *r)
{
	uint64_t bad = 0;

	for (uint64_t k = 0; k < n; k++) {
		void *p;

		while ((p = spsc_pop(q)) == NULL) {
			/* Acquire: pairs with the producer's release store;
			 * only a flag, the pages need no ordering here. */
			if (atomic_load_explicit(&q->failed,
						 memory_order_acquire))
				return;
			spsc_pause();
		}
		bad += WL_TOKEN_AT(p, k) != k;
		WL_HB_FREE(p);
		WL_FREE(p);
	}
	bench_check_pages(r, 0, bad);
}

#endif /* WL_NO_S3 */

/*
 * S4: each of the eight threads flips random slots of its own 64: an empty
 * slot gets a fresh page, a full one is checked and freed; so a thread
 * holds about 32 pages and alloc and free interleave irregularly.  r->value
 * returns the number of allocations, the harness divides wall time by the
 * sum over the threads.
 */
static void WL_FN(s4)(uint64_t steps, uint64_t seed, struct wl_result *r)
{
	void *slot[BENCH_S4_SLOTS] = { 0 };
	uint64_t tok[BENCH_S4_SLOTS];
	uint64_t allocs = 0, bad = 0;
	uintptr_t misaligned = 0;

	for (uint64_t s = 0; s < steps; s++) {
		unsigned k = (unsigned)(bench_mix(&seed) % BENCH_S4_SLOTS);
		void *p = slot[k];

		if (p) {
			bad += WL_TOKEN_AT(p, k) != tok[k];
			WL_HB_FREE(p);
			WL_FREE(p);
			slot[k] = NULL;
			continue;
		}
		p = WL_ALLOC();
		if (BENCH_UNLIKELY(p == NULL)) {
			bench_error(r, "alloc returned NULL at step %llu",
				    (unsigned long long)s);
			break;
		}
		WL_HB_ALLOC(p);
		misaligned |= WL_MISALIGNED(p);
		WL_TOKEN_AT(p, k) = tok[k] = s;
		slot[k] = p;
		allocs++;
	}
	for (unsigned k = 0; k < BENCH_S4_SLOTS; k++) {
		if (slot[k]) {
			bad += WL_TOKEN_AT(slot[k], k) != tok[k];
			WL_HB_FREE(slot[k]);
			WL_FREE(slot[k]);
		}
	}
	r->value = (double)allocs;
	bench_check_pages(r, misaligned, bad);
}

#ifdef WL_GROW_BEGIN
/*
 * Growth and memory, from a fresh pool: time and minor faults to allocate
 * and write 1 GiB of pages (the pool grows, or the allocator maps memory),
 * then free them all, give memory back the way the allocator offers
 * (WL_RELEASE), and see what stays resident.
 */
static void WL_FN(grow)(const struct wl_params *a, struct wl_result *g,
			struct wl_result *m)
{
	size_t n = a->grow_pages, i;
	void **v = bench_map(n * sizeof(*v));
	uintptr_t misaligned = 0;
	uint64_t bad = 0;
	double rss0, t0, t1;
	long f0, f1;

	if (v == NULL) {
		bench_error(g, "no memory for the page array");
		return;
	}
	memset(v, 0, n * sizeof(*v)); /* fault it in before measuring */
	rss0 = bench_rss_mib();
	if (rss0 < 0) {
		bench_error(m, "cannot read /proc/self/statm");
		goto out;
	}
	/* Making the pool is on the clock: for DPDK it is the growth. */
	f0 = bench_minflt();
	t0 = bench_now_ns();
	if (WL_GROW_BEGIN(n) != 0) {
		bench_error(g, "could not make a pool of %zu pages", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		v[i] = WL_ALLOC();
		if (BENCH_UNLIKELY(v[i] == NULL)) {
			bench_error(g, "alloc returned NULL at page %zu of %zu",
				    i, n);
			break;
		}
		WL_HB_ALLOC(v[i]);
		misaligned |= WL_MISALIGNED(v[i]);
		WL_TOKEN(v[i]) = i;
	}
	t1 = bench_now_ns();
	f1 = bench_minflt();
	g->value = (t1 - t0) / 1e6 * ((double)BENCH_GROW_BYTES /
				       ((double)n * BENCH_PAGE));
	g->minflt = (double)(f1 - f0) / (double)n;
	bench_check_pages(g, misaligned, 0);
	m->meta = WL_META(n);
	for (size_t k = 0; k < i; k++) {
		bad += WL_TOKEN(v[k]) != k;
		WL_HB_FREE(v[k]);
		WL_FREE(v[k]);
	}
	bench_check_pages(m, 0, bad);
	WL_RELEASE();
	/* Above the baseline; below it (memory an earlier run left behind
	 * was given back meanwhile) counts as nothing left. */
	m->rss_mib = bench_rss_mib() - rss0;
	if (m->rss_mib < 0)
		m->rss_mib = 0;
	WL_GROW_END();
out:
	bench_unmap(v, n * sizeof(*v));
}
#define WL_GROW_FN WL_FN(grow)
#else
#define WL_GROW_FN NULL
#endif
