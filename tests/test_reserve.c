/*
 * The cold reserve: the depot keeps free pages cold before it hands them
 * out again, and the pool grows for that once, with its working set; a
 * pool that has held a burst is never grown again by a later burst of the
 * same size, whether the bursts come from one thread that returns its
 * cache in between (what jumbo-bench does between runs), or from threads
 * started one after another (each new thread's cache starts empty, and
 * the last one's went back to the depot at its exit).  Counted from the
 * statistics (committed pages, growth steps), never timed.
 *
 * And what the reserve is for still holds: one party allocating while
 * another frees, a freed page comes back only after about the reserve's
 * worth of other pages have been handed out.
 */
#include "check.h"
#include "test_named.h"

#include <jumbo/jumbo.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BURST 1000

struct burst {
	struct jumbo_pool *p;
	unsigned n;
	int failed;
};

/* n allocations, each page written, then n frees. */
static int burst(struct jumbo_pool *p, unsigned n)
{
	void **v = calloc(n, sizeof(*v));
	int bad = v == NULL;

	for (unsigned i = 0; v && i < n; i++) {
		v[i] = jumbo_pool_alloc(p);
		if (!v[i]) {
			bad = 1;
			break;
		}
		memset(v[i], (int)i, 64);
	}
	for (unsigned i = 0; v && i < n && v[i]; i++)
		bad |= jumbo_pool_free(p, v[i]) != 0;
	free(v);
	return bad;
}

static void *burst_thread(void *arg)
{
	struct burst *b = arg;

	b->failed = burst(b->p, b->n);
	return NULL; /* the thread's cache goes back to the depot at exit */
}

static void stats(struct jumbo_pool *p, struct jumbo_stats *st)
{
	REQUIRE(jumbo_pool_stats(p, st) == 0);
}

/*
 * A private pool, or a named shared one (whose depot is a queue in the
 * segment, with a reserve of its own, shm.c), of the default size.
 */
static struct jumbo_pool *pool(size_t reserve, bool named)
{
	struct jumbo_pool_params pp;

	if (named) {
		char nm[64];

		snprintf(nm, sizeof(nm), "reserve-%d", (int)getpid());
		jumbo_pool_params_init(&pp);
		struct jumbo_pool *p = test_named_pool(nm, pp.max_pages,
						       pp.grow_pages,
						       pp.cache_size, true);
		if (reserve != JUMBO_RESERVE_AUTO) {
			CHECK_EQ(jumbo_pool_destroy(p), 0);
			p = test_named_pool(nm, pp.max_pages, pp.grow_pages,
					    pp.cache_size, false);
		}
		return p;
	}
	jumbo_pool_params_init(&pp);
	pp.name = "reserve";
	pp.reserve_pages = reserve;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p != NULL);
	return p;
}

static const char *kind(bool named)
{
	return named ? "named" : "private";
}

/* Threads one after another, each a burst: only the first grows. */
static void threads(size_t reserve, bool named)
{
	struct jumbo_pool *p = pool(reserve, named);
	struct jumbo_stats st, first;

	for (int t = 0; t < 8; t++) {
		struct burst b = { p, BURST, 0 };
		pthread_t tid;

		REQUIRE(pthread_create(&tid, NULL, burst_thread, &b) == 0);
		REQUIRE(pthread_join(tid, NULL) == 0);
		CHECK_EQ(b.failed, 0);
		stats(p, &st);
		printf("reserve: %s, threads, reserve %s: after thread %d: "
		       "%llu committed, %llu growth steps\n", kind(named),
		       reserve ? "auto" : "0", t,
		       (unsigned long long)st.committed,
		       (unsigned long long)st.grows);
		if (t == 0) {
			first = st;
			continue;
		}
		CHECK_EQ(st.committed, first.committed);
		CHECK_EQ(st.grows, first.grows);
	}
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.cached_free, 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/*
 * One thread, its cache returned after each burst: the first burst of a
 * size grows the pool, a larger one may, and none of the same size again,
 * trimmed or not.
 */
static void bursts(bool named)
{
	struct jumbo_pool *p = pool(JUMBO_RESERVE_AUTO, named);
	struct jumbo_stats st, first;
	unsigned sizes[] = { BURST, 4 * BURST };

	for (unsigned k = 0; k < 2; k++) {
		for (int i = 0; i < 20; i++) {
			CHECK_EQ(burst(p, sizes[k]), 0);
			jumbo_pool_flush_cache(p);
			stats(p, &st);
			if (i == 0) {
				first = st;
				continue;
			}
			CHECK_EQ(st.committed, first.committed);
			CHECK_EQ(st.grows, first.grows);
		}
		printf("reserve: %s, bursts of %u: %llu committed, %llu "
		       "growth steps\n", kind(named), sizes[k],
		       (unsigned long long)st.committed,
		       (unsigned long long)st.grows);
	}
	/* Trimmed pages come back before the pool grows (a named pool's
	 * depot is not trimmed: its queue is shared). */
	if (named) {
		CHECK_EQ(jumbo_pool_destroy(p), 0);
		return;
	}
	CHECK(jumbo_pool_trim(p, 0) > 0);
	CHECK_EQ(burst(p, 4 * BURST), 0);
	jumbo_pool_flush_cache(p);
	stats(p, &st);
	CHECK_EQ(st.grows, first.grows);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/*
 * The reserve's purpose: one side allocates, the other frees what was
 * allocated QUEUE allocations before, as a receive thread and a worker
 * would.  Once the pool has grown, a page comes back only after at least
 * the reserve's worth of other allocations, less one magazine (the depot
 * hands out its oldest magazine, newest page first).  No thread caches,
 * so that every page goes through the depot in this order.
 */
#define QUEUE 100
#define RESERVE 1024
#define CAP 8192

static void order(void)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.name = "reserve-order";
	pp.max_pages = CAP;
	pp.grow_pages = 64;
	pp.cache_size = 16; /* magazines of 8 */
	pp.flags = JUMBO_POOL_NOCACHE;
	pp.reserve_pages = RESERVE;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p != NULL);

	static uint64_t freed_at[CAP];
	void *q[QUEUE] = { 0 };
	uint64_t min_gap = UINT64_MAX, reused = 0;
	struct jumbo_stats st;

	for (uint64_t i = 0; i < 20 * RESERVE; i++) {
		void *a = jumbo_pool_alloc(p);
		REQUIRE(a != NULL);
		size_t f = (size_t)jumbo_pool_iova(p, a) / JUMBO_PAGE_4K;
		if (freed_at[f]) {
			uint64_t gap = i - freed_at[f];
			if (gap < min_gap)
				min_gap = gap;
			reused++;
		}
		void *old = q[i % QUEUE];
		q[i % QUEUE] = a;
		if (old) {
			size_t g = (size_t)jumbo_pool_iova(p, old) / JUMBO_PAGE_4K;
			freed_at[g] = i;
			CHECK_EQ(jumbo_pool_free(p, old), 0);
		}
	}
	for (int i = 0; i < QUEUE; i++)
		CHECK_EQ(jumbo_pool_free(p, q[i]), 0);
	stats(p, &st);
	printf("reserve: order: %llu pages reused, each after at least %llu "
	       "other allocations; %llu committed\n",
	       (unsigned long long)reused, (unsigned long long)min_gap,
	       (unsigned long long)st.committed);
	CHECK(reused > 0);
	CHECK(min_gap >= RESERVE - 8);
	/* The working set (QUEUE + 1) and the reserve, no more than a
	 * growth step and a magazine over. */
	CHECK(st.committed >= QUEUE + 1 + RESERVE);
	CHECK(st.committed <= QUEUE + 1 + RESERVE + 64 + 8);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

int main(void)
{
	for (int named = 0; named < 2; named++) {
		threads(JUMBO_RESERVE_AUTO, named);
		threads(0, named);
		bursts(named);
	}
	order();
	return check_done("reserve");
}
