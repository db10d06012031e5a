/*
 * Destroying a pool: with pages still out it reports how many, returns
 * -EBUSY and leaves the pool (and its memory) in place; once they are back
 * it goes.  Thread caches of live and exited threads are handled, and a
 * pool made afterwards with the same internal slot works in those threads.
 * The default pool is never destroyed.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>

static struct jumbo_pool *p;
static pthread_barrier_t bar;

static void *user(void *arg)
{
	void *v[100];
	CHECK_EQ(jumbo_pool_alloc_bulk(p, v, 100), 100);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, 100), 0); /* cached in this thread */
	pthread_barrier_wait(&bar); /* main destroys p and makes a new one */
	pthread_barrier_wait(&bar);
	void *a = jumbo_pool_alloc(p);
	CHECK(a != NULL);
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	return NULL;
}

static struct jumbo_pool *make(void)
{
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 1024;
	return jumbo_pool_create(&pp);
}

int main(void)
{
	p = make();
	REQUIRE(p);
	char *a = jumbo_pool_alloc(p), *b = jumbo_pool_alloc(p);
	REQUIRE(a && b);
	memset(a, 3, 4096);
	CHECK_EQ(jumbo_pool_destroy(p), -EBUSY); /* says "2 page(s)" */
	CHECK_EQ(a[4095], 3); /* memory in use is still there */
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	CHECK_EQ(jumbo_pool_destroy(p), -EBUSY);
	CHECK_EQ(jumbo_pool_free(p, b), 0);
	/* A thread that used the pool and exited: its cache went back. */
	pthread_t t;
	pthread_barrier_init(&bar, NULL, 2);
	REQUIRE(pthread_create(&t, NULL, user, NULL) == 0);
	pthread_barrier_wait(&bar);
	CHECK_EQ(jumbo_pool_destroy(p), 0); /* with the thread's cache full */
	p = make(); /* likely the same slot in the threads' tables */
	REQUIRE(p);
	pthread_barrier_wait(&bar);
	pthread_join(t, NULL);
	struct jumbo_stats st;
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.allocs, 1);
	CHECK_EQ(jumbo_pool_destroy(p), 0);

	/* The default pool is refused and keeps working (the seed's calls
	 * and the inline fast paths point into it). */
	REQUIRE(jumbo_vm_init() >= 0);
	CHECK_EQ(jumbo_pool_destroy(jumbo_default_pool()), -EBUSY);
	vm_page_t pg = jumbo_pg_alloc();
	CHECK(pg != NULL);
	if (pg)
		jumbo_pg_free((vm_offset_t)jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg)));
	return check_done("destroy");
}
