/*
 * Multi-thread stress: threads allocate, free their own pages, and hand
 * pages to each other to be freed there (the receive thread allocates, the
 * workers free).  An ownership map, one atomic word per page, proves that
 * no page is ever handed out twice, and the final count that none is lost.
 *
 *   test_stress [seed [threads [ops per thread]]]
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>
#include <stdatomic.h>

#define CAP 4096
#define KEEP 256
#define BOX 512

struct inbox {
	pthread_mutex_t lock;
	void *v[BOX];
	unsigned n;
};

static struct jumbo_pool *pool;
static _Atomic unsigned owner[CAP]; /* 0: free; else thread id + 1 */
static struct inbox boxes[64];
static unsigned nthreads;
static unsigned long ops;
static uint64_t seed0;
static _Atomic unsigned long twice, wrong_data;

static size_t idx(void *a)
{
	return (size_t)(jumbo_pool_iova(pool, a) >> 12);
}

static void got(unsigned me, void *a)
{
	unsigned z = 0;
	/* The page must be nobody's: else it was handed out twice. */
	if (!atomic_compare_exchange_strong(&owner[idx(a)], &z, me + 1))
		atomic_fetch_add(&twice, 1);
	memset(a, (int)me, 64);
}

static void put(unsigned me, void *a)
{
	unsigned char *b = a;
	for (int i = 0; i < 64; i++)
		if (b[i] != (unsigned char)me)
			atomic_fetch_add(&wrong_data, 1);
	unsigned o = me + 1;
	if (!atomic_compare_exchange_strong(&owner[idx(a)], &o, 0))
		atomic_fetch_add(&twice, 1);
	CHECK_EQ(jumbo_pool_free(pool, a), 0);
}

/* Give a page to thread to: it becomes that thread's to free. */
static int give(unsigned me, unsigned to, void *a)
{
	struct inbox *b = &boxes[to];
	int ok = 0;
	pthread_mutex_lock(&b->lock);
	if (b->n < BOX) {
		unsigned o = me + 1;
		if (!atomic_compare_exchange_strong(&owner[idx(a)], &o, to + 1))
			atomic_fetch_add(&twice, 1);
		memset(a, (int)to, 64);
		b->v[b->n++] = a;
		ok = 1;
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static void drain(unsigned me)
{
	void *v[BOX];
	unsigned n;
	pthread_mutex_lock(&boxes[me].lock);
	n = boxes[me].n;
	memcpy(v, boxes[me].v, n * sizeof(void *));
	boxes[me].n = 0;
	pthread_mutex_unlock(&boxes[me].lock);
	for (unsigned i = 0; i < n; i++)
		put(me, v[i]);
}

static void *worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint64_t r = seed0 + me * 0x9e3779b97f4a7c15ull + 1;
	void *mine[KEEP];
	unsigned n = 0;

	for (unsigned long i = 0; i < ops; i++) {
		uint64_t x = rnd(&r);
		unsigned op = x % 8;
		if (op < 4 && n < KEEP) {
			void *a = jumbo_pool_alloc(pool);
			if (a) {
				got(me, a);
				mine[n++] = a;
			}
		} else if (op < 6 && n) {
			unsigned k = (unsigned)(x >> 8) % n;
			put(me, mine[k]);
			mine[k] = mine[--n];
		} else if (op == 6 && n) {
			unsigned to = (unsigned)(x >> 8) % nthreads;
			if (to != me && give(me, to, mine[n - 1]))
				n--;
		} else {
			drain(me);
		}
	}
	while (n)
		put(me, mine[--n]);
	return NULL;
}

int main(int argc, char **argv)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	pthread_t t[64];

	seed0 = test_seed(argc, argv, "stress");
	nthreads = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
	ops = argc > 3 ? strtoul(argv[3], NULL, 0) : 3000000;
	if (nthreads < 2 || nthreads > 64)
		nthreads = 4;
	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pp.cache_size = 64;
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_mutex_init(&boxes[i].lock, NULL);
	for (unsigned i = 0; i < nthreads; i++)
		REQUIRE(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) == 0);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < nthreads; i++)
		drain(i); /* pages given to a thread after its last drain */

	CHECK_EQ(atomic_load(&twice), 0);
	CHECK_EQ(atomic_load(&wrong_data), 0);
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	printf("stress: %u threads x %lu ops: %llu allocs, %llu frees, "
	       "%llu failed, high water %llu\n", nthreads, ops,
	       (unsigned long long)st.allocs, (unsigned long long)st.frees,
	       (unsigned long long)st.alloc_fails,
	       (unsigned long long)st.high_water);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.allocs, st.frees);
	CHECK(st.allocs > ops * nthreads / 8);
	/* None lost: all CAP pages can be had at once, each once. */
	static void *v[CAP];
	unsigned n = jumbo_pool_alloc_bulk(pool, v, CAP);
	CHECK_EQ(n, CAP);
	for (unsigned i = 0; i < n; i++)
		got(0, v[i]);
	CHECK_EQ(atomic_load(&twice), 0);
	CHECK_EQ(jumbo_pool_free_bulk(pool, v, n), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("stress");
}
