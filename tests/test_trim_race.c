/*
 * Trim beside allocators: trim takes old magazines out of the depot to give
 * their memory back without the lock, and meanwhile their pages must stay
 * within reach.  Threads allocate and free one page at a time (each flush
 * sends its page through the depot) while another trims all the time, and:
 *
 *   at the cap, with at most a page per thread in use, no allocation may
 *   fail (before the fix: thousands of ENOMEMs a second);
 *   below the cap, with no reserve, the pool may not grow (before the fix
 *   it grew by thousands of pages with one page in use);
 *
 * for an explicit jumbo_pool_trim(0) in a loop and for trim_idle_ms = 1.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#define THREADS 2
#define ROUNDS 2000000

static struct jumbo_pool *pool;
static int stop;
static unsigned long fails;

static void *allocator(void *arg)
{
	(void)arg;
	unsigned long f = 0;

	for (int i = 0; i < ROUNDS; i++) {
		void *a = jumbo_pool_alloc(pool);
		if (!a) {
			f++;
			continue;
		}
		*(volatile char *)a = 1;
		CHECK_EQ(jumbo_pool_free(pool, a), 0);
		jumbo_pool_flush_cache(pool); /* every page through the depot */
	}
	__atomic_fetch_add(&fails, f, __ATOMIC_RELAXED);
	return NULL;
}

static void *trimmer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		CHECK(jumbo_pool_trim(pool, 0) >= 0);
		sched_yield();
	}
	return NULL;
}

static void run(const char *what, size_t cap, size_t warm, unsigned idle_ms,
		bool explicit_trim)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st0, st1;
	static void *v[4096];
	pthread_t t[THREADS], tt;

	jumbo_pool_params_init(&pp);
	pp.max_pages = cap;
	pp.cache_size = 16;
	pp.reserve_pages = 0;
	pp.trim_idle_ms = idle_ms;
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool);
	/* Commit warm pages and put them all in the depot. */
	REQUIRE(jumbo_pool_alloc_bulk(pool, v, warm) == warm);
	CHECK_EQ(jumbo_pool_free_bulk(pool, v, warm), 0);
	jumbo_pool_flush_cache(pool);
	REQUIRE(jumbo_pool_stats(pool, &st0) == 0);

	fails = 0;
	stop = 0;
	if (explicit_trim)
		REQUIRE(pthread_create(&tt, NULL, trimmer, NULL) == 0);
	for (int i = 0; i < THREADS; i++)
		REQUIRE(pthread_create(&t[i], NULL, allocator, NULL) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	if (explicit_trim)
		pthread_join(tt, NULL);
	REQUIRE(jumbo_pool_stats(pool, &st1) == 0);
	printf("trim_race: %s: %lu failed allocations, %llu growth steps, "
	       "%llu pages trimmed\n", what, fails,
	       (unsigned long long)(st1.grows - st0.grows),
	       (unsigned long long)st1.trims);
	CHECK_EQ(fails, 0);
	CHECK_EQ(st1.alloc_fails, 0);
	CHECK_EQ(st1.grows, st0.grows);
	CHECK_EQ(st1.in_use, 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(void)
{
	/* At the cap: every page committed, a handful in use at most. */
	run("at the cap, trim(0) in a loop", 1024, 1024, 0, true);
	run("at the cap, trim_idle_ms = 1", 1024, 1024, 1, false);
	/* Below the cap: 1024 pages committed of 65536. */
	run("below the cap, trim(0) in a loop", 65536, 1024, 0, true);
	run("below the cap, trim_idle_ms = 1", 65536, 1024, 1, false);
	return check_done("trim_race");
}
