/*
 * Holds: a held page is not freed and not leaked: the free waits for the
 * last unhold, which may run on another thread, even while the owner
 * frees.  The race is run many times; each round the page must come back
 * exactly once.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>

static struct jumbo_pool *p;
static void *volatile shared_page;
static pthread_barrier_t bar;
#define ROUNDS 20000

static void *unholder(void *arg)
{
	for (int r = 0; r < ROUNDS; r++) {
		pthread_barrier_wait(&bar);
		CHECK_EQ(jumbo_pool_unhold(p, shared_page), 0);
		pthread_barrier_wait(&bar);
	}
	return NULL;
}

int main(void)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	unsigned holds;
	int pending;

	jumbo_pool_params_init(&pp);
	pp.max_pages = 1024;
	p = jumbo_pool_create(&pp);
	REQUIRE(p);

	char *a = jumbo_pool_alloc(p);
	vm_page_t pg = jumbo_pool_page(p, a);
	CHECK_EQ(jumbo_pool_hold(p, a), 0);
	CHECK_EQ(jumbo_pool_hold(p, a + 100), 0); /* any byte of the page */
	CHECK_EQ(jumbo_page_state(pg, &holds, &pending), JUMBO_PG_HELD);
	CHECK_EQ(holds, 2);
	CHECK_EQ(pending, 0);
	CHECK_EQ(jumbo_pool_free(p, a), 0); /* deferred */
	CHECK_EQ(jumbo_page_state(pg, &holds, &pending), JUMBO_PG_HELD);
	CHECK_EQ(pending, 1);
	CHECK_EQ(jumbo_pool_free(p, a), -EALREADY); /* a second free is caught */
	CHECK_EQ(jumbo_pool_hold(p, a), -EALREADY); /* no new I/O on it */
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.in_use, 1);
	CHECK_EQ(st.deferred_frees, 1);
	CHECK_EQ(jumbo_pool_unhold(p, a), 0);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_HELD);
	CHECK_EQ(jumbo_pool_unhold(p, a), 0); /* the last: the free happens */
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
	CHECK_EQ(jumbo_pool_unhold(p, a), -ENOENT);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.holds, 2);

	/* Hold, unhold, then free: an ordinary free. */
	a = jumbo_pool_alloc(p);
	CHECK_EQ(jumbo_pool_hold(p, a), 0);
	CHECK_EQ(jumbo_pool_unhold(p, a), 0);
	CHECK_EQ(jumbo_pool_free(p, a), 0);

	/* The owner frees while another thread unholds, again and again. */
	pthread_t t;
	pthread_barrier_init(&bar, NULL, 2);
	REQUIRE(pthread_create(&t, NULL, unholder, NULL) == 0);
	for (int r = 0; r < ROUNDS; r++) {
		shared_page = jumbo_pool_alloc(p);
		REQUIRE(shared_page);
		REQUIRE(jumbo_pool_hold(p, shared_page) == 0);
		pthread_barrier_wait(&bar);
		CHECK_EQ(jumbo_pool_free(p, shared_page), 0);
		pthread_barrier_wait(&bar);
		CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, shared_page), NULL,
					  NULL), JUMBO_PG_FREE);
	}
	pthread_join(t, NULL);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.in_use, 0);
	printf("hold: %llu deferred of %d racing frees\n",
	       (unsigned long long)st.deferred_frees - 1, ROUNDS);
	/* Every page is free exactly once: the pool hands out all, no twin. */
	void *v[1024];
	unsigned n = jumbo_pool_alloc_bulk(p, v, 1024);
	CHECK_EQ(n, 1024);
	CHECK(jumbo_pool_alloc(p) == NULL);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, n), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_done("hold");
}
