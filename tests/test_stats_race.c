/*
 * Statistics beside writers: whatever runs beside jumbo_pool_stats, no
 * value it reports may be impossible.  Writers: one thread allocates runs
 * of 8 and frees them page by page (the case that read in_use as
 * 18446744073709551088 before the fix: pool-wide and per-thread counters
 * read at different moments, subtracted unsigned), one allocates and frees
 * bursts through its cache, one steals pages, one trims.  The reader
 * checks every invariant on every snapshot.
 *
 *   test_stats_race [snapshots]
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>

#define CAP 4096

static struct jumbo_pool *pool;
static int stop;

static void *contig(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		char *a = jumbo_pool_alloc_contig(pool, 8);
		if (!a)
			continue;
		for (int i = 0; i < 8; i++)
			CHECK_EQ(jumbo_pool_free(pool, a + i * 4096), 0);
	}
	return NULL;
}

static void *bursts(void *arg)
{
	static void *v[600];
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned n = jumbo_pool_alloc_bulk(pool, v, 600);
		for (unsigned i = 0; i < n; i++)
			CHECK_EQ(jumbo_pool_free(pool, v[i]), 0);
	}
	return NULL;
}

static void *stealer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		void *a = jumbo_pool_alloc(pool);
		if (a)
			CHECK_EQ(jumbo_pool_steal(pool, a, 0), 0);
		jumbo_pool_trim(pool, 0);
	}
	return NULL;
}

static int bad;

#define INV(c)                                                               \
	do {                                                                 \
		if (!(c) && bad++ < 10) {                                    \
			fprintf(stderr, "stats_race: impossible: %s\n", #c); \
			jumbo_stats_print(&st, stderr);                      \
		}                                                            \
	} while (0)

int main(int argc, char **argv)
{
	long snaps = argc > 1 ? strtol(argv[1], NULL, 0) : 100000;
	struct jumbo_pool_params pp;
	pthread_t t[3];
	void *(*fn[3])(void *) = { contig, bursts, stealer };

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool);
	for (int i = 0; i < 3; i++)
		REQUIRE(pthread_create(&t[i], NULL, fn[i], NULL) == 0);
	for (long k = 0; k < snaps; k++) {
		struct jumbo_stats st;
		REQUIRE(jumbo_pool_stats(pool, &st) == 0);
		uint64_t out = st.in_use + st.cached_free;
		INV(st.reserved == CAP);
		INV(st.in_use <= CAP);
		INV(st.cached_free <= CAP);
		INV(st.committed <= st.reserved);
		INV(st.high_water <= st.reserved);
		INV(out <= st.high_water);
		INV(out <= st.committed);
		INV(st.depot_free <= st.reserved);
		INV(out + st.depot_free <= st.reserved);
		INV(st.frees + st.steals + st.lost <= st.allocs);
		INV(st.allocs - st.frees - st.steals - st.lost >= st.in_use);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("stats_race: %ld snapshots, %d impossible\n", snaps, bad);
	CHECK_EQ(bad, 0);
	struct jumbo_stats st;
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.allocs, st.frees + st.steals);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("stats_race");
}
