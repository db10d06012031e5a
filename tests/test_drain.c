/*
 * Free pages stranded in other threads' caches.
 *
 *   small caps: a thread's cache never holds more than a quarter of the
 *   cap, so with caps 1 to 16 a thread that freed every page and stays
 *   alive leaves at least three quarters to another (before the fix the
 *   cache was 2 pages for caps 1 and 2: the other thread got nothing);
 *
 *   drain requests: 32 threads of a 64-page pool each get two pages from
 *   another, free one (it stays in their cache) and hold one; a new thread's allocation fails and asks them to give their
 *   cached pages back, which each does on its next call (a free): the new
 *   thread then gets those 32 pages (before the fix: none).
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>

static struct jumbo_pool *pool;
static pthread_barrier_t bar;

/* Small caps: take every page, free them, wait while main allocates. */
static void *hog(void *arg)
{
	size_t cap = (size_t)arg;
	void *v[16];
	CHECK_EQ(jumbo_pool_alloc_bulk(pool, v, (unsigned)cap), cap);
	CHECK_EQ(jumbo_pool_free_bulk(pool, v, (unsigned)cap), 0);
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);
	return NULL;
}

static void small_caps(void)
{
	for (size_t cap = 1; cap <= 16; cap++) {
		struct jumbo_pool_params pp;
		void *v[16];
		pthread_t t;

		jumbo_pool_params_init(&pp);
		pp.max_pages = cap;
		pool = jumbo_pool_create(&pp);
		REQUIRE(pool);
		REQUIRE(pthread_create(&t, NULL, hog, (void *)cap) == 0);
		pthread_barrier_wait(&bar);
		unsigned got = jumbo_pool_alloc_bulk(pool, v, (unsigned)cap);
		if (got < cap - cap / 4)
			printf("drain: cap %zu: got %u of %zu pages beside a "
			       "live thread that freed them all\n", cap, got, cap);
		CHECK(got >= cap - cap / 4);
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, got), 0);
		pthread_barrier_wait(&bar);
		pthread_join(t, NULL);
		CHECK_EQ(jumbo_pool_destroy(pool), 0);
	}
}

#define THREADS 32
#define CAP 64

static pthread_barrier_t bar2;

/*
 * Given two pages (a receive thread allocates, workers free): free one,
 * which stays in this thread's cache, hold the other; after main's
 * failure, free it: the call that honours the request.
 */
static void *worker(void *arg)
{
	void **ab = arg, *a = ab[0], *b = ab[1];
	CHECK_EQ(jumbo_pool_free(pool, a), 0);
	pthread_barrier_wait(&bar2); /* cached: one each */
	pthread_barrier_wait(&bar2); /* main's allocation failed */
	CHECK_EQ(jumbo_pool_free(pool, b), 0);
	pthread_barrier_wait(&bar2); /* main allocates */
	pthread_barrier_wait(&bar2);
	return NULL;
}

static void drain(void)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	pthread_t t[THREADS];
	static void *v[CAP], *w[CAP];

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool);
	REQUIRE(pthread_barrier_init(&bar2, NULL, THREADS + 1) == 0);
	REQUIRE(jumbo_pool_alloc_bulk(pool, v, CAP) == CAP);
	for (int i = 0; i < THREADS; i++)
		REQUIRE(pthread_create(&t[i], NULL, worker, &v[2 * i]) == 0);
	pthread_barrier_wait(&bar2);
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	CHECK_EQ(st.in_use, THREADS);
	errno = 0;
	CHECK(jumbo_pool_alloc(pool) == NULL);
	CHECK_EQ(errno, ENOMEM);
	pthread_barrier_wait(&bar2);
	pthread_barrier_wait(&bar2);
	unsigned got = jumbo_pool_alloc_bulk(pool, w, CAP);
	printf("drain: cap %d, %d threads: got %u pages after the drain "
	       "request\n", CAP, THREADS, got);
	CHECK(got >= THREADS);
	CHECK_EQ(jumbo_pool_free_bulk(pool, w, got), 0);
	pthread_barrier_wait(&bar2);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar2);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(void)
{
	REQUIRE(pthread_barrier_init(&bar, NULL, 2) == 0);
	small_caps();
	drain();
	return check_done("drain");
}
