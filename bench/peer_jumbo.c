/*
 * libjumbo, twice: through the jumbo(9) functions on the default pool
 * (jumbo_pg_alloc, jumbo_page_kva, jumbo_pg_free by address, as a driver
 * would use them) and through the pool API on a pool of its own (one call
 * per page, and the batch calls for S2B).  Linked statically, as the
 * other peers' fast paths are inlined or called directly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jumbo/jumbo.h>

#include "bench.h"

/* Frees that returned an error code: counted, reported after the run. */
static _Atomic uint64_t jb_free_errors;
static _Atomic int jb_last_error;

static int jb_check(char *why, size_t whylen)
{
	/* Relaxed: read after the workload's threads were joined, which
	 * already orders their increments before this load. */
	uint64_t n = atomic_exchange_explicit(&jb_free_errors, 0,
					      memory_order_relaxed);

	if (n == 0)
		return 0;
	snprintf(why, whylen, "%llu frees failed (last: %s)",
		 (unsigned long long)n,
		 strerror(-atomic_load_explicit(&jb_last_error,
						memory_order_relaxed)));
	return -1;
}

/* ---- the jumbo(9) functions ------------------------------------------ */

static int seed_start(size_t capacity, char *why, size_t whylen)
{
	if (jumbo_vm_init() != 1) {
		snprintf(why, whylen, "jumbo_vm_init() returned 0 (%s)",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static inline void *seed_alloc(void)
{
	vm_page_t pg = jumbo_pg_alloc();

	return pg ? jumbo_page_kva(pg) : NULL;
}

#define WL_FN(x) seed_##x
#define WL_ALLOC() seed_alloc()
#define WL_FREE(p) jumbo_pg_free((vm_offset_t)(p))
#include "workloads.h"
#undef WL_FN
#undef WL_ALLOC
#undef WL_FREE

const struct peer peer_jumbo_seed = {
	.name = "jumbo-seed",
	.what = "libjumbo jumbo_pg_alloc/jumbo_page_kva/jumbo_pg_free",
	.start = seed_start,
	.s1 = seed_s1,
	.s2 = seed_s2,
	.s3_produce = seed_s3_produce,
	.s3_consume = seed_s3_consume,
	.s4 = seed_s4,
};

/* ---- the pool API ----------------------------------------------------- */

static struct jumbo_pool *jp_main, *jp_grown, *jp;

/*
 * JUMBO_BENCH_CACHE=N: the pools' per-thread cache (default 512, as
 * DPDK's), to measure what the magazine size does (bench/README.md, S3 in
 * the slow placement).
 */
static size_t bench_cache_size(void)
{
	const char *e = getenv("JUMBO_BENCH_CACHE");

	return e && *e ? (size_t)strtoul(e, NULL, 0) : 0;
}

/*
 * JUMBO_BENCH_RESERVE=N|auto: the pools' cold reserve in pages (default:
 * the library's, none), to measure what it does (bench/README.md).
 */
static size_t bench_reserve(size_t dflt)
{
	const char *e = getenv("JUMBO_BENCH_RESERVE");

	if (!e || !*e)
		return dflt;
	if (!strcmp(e, "auto"))
		return JUMBO_RESERVE_AUTO;
	return (size_t)strtoul(e, NULL, 0);
}

static struct jumbo_pool *pool_make(const char *name, size_t init,
				    size_t max)
{
	struct jumbo_pool_params p;

	jumbo_pool_params_init(&p);
	p.cache_size = bench_cache_size();
	p.reserve_pages = bench_reserve(p.reserve_pages);
	p.name = name;
	p.init_pages = init;
	p.max_pages = max;
	return jumbo_pool_create(&p);
}

static int pool_start(size_t capacity, char *why, size_t whylen)
{
	/* The cap has room for every thread's cache on top of what the
	 * workloads hold; memory is committed only as it is used. */
	jp_main = jp = pool_make("bench", 0, 2 * capacity);
	if (jp == NULL) {
		snprintf(why, whylen, "jumbo_pool_create: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static void pool_destroy(struct jumbo_pool *pool)
{
	int err = jumbo_pool_destroy(pool);

	if (err)
		fprintf(stderr, "jumbo-pool: jumbo_pool_destroy: %s\n",
			strerror(-err));
}

static void pool_stop(void)
{
	pool_destroy(jp_main);
	jp_main = jp = NULL;
}

/* A free returned an error: counted, and reported by jb_check(). */
static void pool_free_failed(int err, unsigned n)
{
	/* Relaxed: a count and the last code, read after a join. */
	atomic_fetch_add_explicit(&jb_free_errors, n, memory_order_relaxed);
	atomic_store_explicit(&jb_last_error, err, memory_order_relaxed);
}

static inline void pool_free(struct jumbo_pool *pool, void *p)
{
	int err = jumbo_pool_free(pool, p);

	if (BENCH_UNLIKELY(err != 0))
		pool_free_failed(err, 1);
}

static inline int pool_free_bulk(struct jumbo_pool *pool, void **v,
				 unsigned n)
{
	int err = jumbo_pool_free_bulk(pool, v, n);

	if (BENCH_UNLIKELY(err != 0))
		pool_free_failed(err, n);
	return err;
}

/* A fresh pool for the growth workload: nothing committed, cap 1 GiB. */
static int pool_grow_begin(size_t n)
{
	jp_grown = pool_make("grown", 0, n);
	if (jp_grown == NULL)
		return -1;
	jp = jp_grown;
	return 0;
}

static void pool_grow_end(void)
{
	pool_destroy(jp_grown);
	jp = jp_main;
	jp_grown = NULL;
}

/* Return this thread's cache to the depot, then trim the whole depot. */
static void pool_release(void)
{
	long n;

	jumbo_pool_flush_cache(jp);
	n = jumbo_pool_trim(jp, 0);
	if (n < 0)
		fprintf(stderr, "jumbo-pool: jumbo_pool_trim: %s\n",
			strerror((int)-n));
}

/* meta_bytes over the committed pages, with the whole GiB out. */
static double pool_meta(void)
{
	struct jumbo_stats st;

	if (jumbo_pool_stats(jp, &st) != 0 || st.committed == 0)
		return -1;
	return (double)st.meta_bytes / (double)st.committed;
}

/* Cached pages go back to the depot when a thread exits; flush anyway so
 * that each run starts from the same state whichever thread ran last. */
static void pool_thread_leave(void)
{
	jumbo_pool_flush_cache(jp);
}

#define WL_FN(x) pool_##x
#define WL_ALLOC() jumbo_pool_alloc(jp)
#define WL_FREE(p) pool_free(jp, p)
#define WL_ALLOC_BULK(v, n) jumbo_pool_alloc_bulk(jp, v, n)
#define WL_FREE_BULK(v, n) pool_free_bulk(jp, v, n)
#define WL_GROW_BEGIN(n) pool_grow_begin(n)
#define WL_GROW_END() pool_grow_end()
#define WL_RELEASE() pool_release()
#define WL_META(n) pool_meta()
#include "workloads.h"
#undef WL_FN
#undef WL_ALLOC
#undef WL_FREE
#undef WL_ALLOC_BULK
#undef WL_FREE_BULK
#undef WL_GROW_BEGIN
#undef WL_GROW_END
#undef WL_RELEASE
#undef WL_META

const struct peer peer_jumbo_pool = {
	.name = "jumbo-pool",
	.what = "libjumbo jumbo_pool_alloc/jumbo_pool_free (+_bulk for S2B)",
	.start = pool_start,
	.stop = pool_stop,
	.thread_leave = pool_thread_leave,
	.check = jb_check,
	.s1 = pool_s1,
	.s2 = pool_s2,
	.s2b = pool_s2b,
	.s3_produce = pool_s3_produce,
	.s3_consume = pool_s3_consume,
	.s4 = pool_s4,
	.grow = pool_grow,
};

/*
 * The same calls on a named shared pool (jumbo_pool(3), Processes): the
 * state words and the depot in a /dev/shm object, for S1/S2 against a
 * private pool's (issue 12: within 1.2x).  A pool of its own, jsp: every
 * peer is started before the first run, so sharing jumbo-pool's jp would
 * make both peers measure whichever pool started last.
 */
static struct jumbo_pool *jsp;

static int shpool_start(size_t capacity, char *why, size_t whylen)
{
	struct jumbo_pool_params p;
	char name[32];

	snprintf(name, sizeof(name), "bench-%d", (int)getpid());
	jumbo_pool_params_init(&p);
	p.name = name;
	p.max_pages = 2 * capacity;
	p.cache_size = bench_cache_size();
	p.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	jsp = jumbo_pool_create(&p);
	if (jsp == NULL) {
		snprintf(why, whylen, "jumbo_pool_create (named): %s",
			 strerror(errno));
		return -1;
	}
	/* Only this process uses it: the name can go, so that a bench
	 * killed mid-run leaves no object in /dev/shm. */
	jumbo_pool_unlink(name);
	return 0;
}

static void shpool_stop(void)
{
	pool_destroy(jsp);
	jsp = NULL;
}

static void shpool_thread_leave(void)
{
	jumbo_pool_flush_cache(jsp);
}

#define WL_FN(x) shpool_##x
#define WL_ALLOC() jumbo_pool_alloc(jsp)
#define WL_FREE(p) pool_free(jsp, p)
#define WL_ALLOC_BULK(v, n) jumbo_pool_alloc_bulk(jsp, v, n)
#define WL_FREE_BULK(v, n) pool_free_bulk(jsp, v, n)
#include "workloads.h"

const struct peer peer_jumbo_shpool = {
	.name = "jumbo-shpool",
	.what = "libjumbo jumbo_pool_alloc/jumbo_pool_free on a named shared pool",
	.start = shpool_start,
	.stop = shpool_stop,
	.thread_leave = shpool_thread_leave,
	.check = jb_check,
	.s1 = shpool_s1,
	.s2 = shpool_s2,
	.s2b = shpool_s2b,
	.s3_produce = shpool_s3_produce,
	.s3_consume = shpool_s3_consume,
	.s4 = shpool_s4,
};
