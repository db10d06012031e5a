/*
 * A named pool's contiguous runs are found again once freed: whole
 * (jumbo_pool_free_contig), page by page in order, or page by page in any
 * order and by another process, as a receiver's runs come back from the
 * workers it handed their pages to.  So a pool that needs a few runs at a
 * time stays that small, and never runs out of runs while it has free
 * pages side by side.  (Runs used to come from frames never handed out
 * only: a receiver's pool grew to its cap, then every run failed.)
 *
 * Usage: test_shm_reuse [seed]
 */
#include "test_named.h"

#include <jumbo/jumbo.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN 3u      /* pages of a 9000-byte frame in 4 KiB pages */
#define ROUNDS 20000u
#define CAP 4096u
#define GROW 256u
#define CACHE 64u

static char name[40];
static uint64_t rng;


static struct jumbo_stats stats(struct jumbo_pool *p)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	return st;
}

/*
 * The pool grew no further than the pages ever out of the depot at once
 * (high_water: in use and cached) and one growth step, rounded up to a
 * step: what a pool that reuses its runs needs.
 */
static void no_growth_past_need(struct jumbo_pool *p, const char *what)
{
	struct jumbo_stats st = stats(p);
	uint64_t need = (st.high_water + GROW + GROW - 1) / GROW * GROW;

	printf("%s: committed %llu pages, high water %llu, %llu run "
	       "allocations failed\n", what, (unsigned long long)st.committed,
	       (unsigned long long)st.high_water,
	       (unsigned long long)st.alloc_fails);
	CHECK(st.committed <= need);
	CHECK_EQ(st.alloc_fails, 0);
	CHECK_EQ(st.in_use, 0);
}

/*
 * ROUNDS runs, each freed whole (jumbo_pool_free_contig) or page by page
 * in order through this thread's cache: the next allocation finds it
 * again.
 */
static void one_at_a_time(struct jumbo_pool *p, bool whole)
{
	for (unsigned i = 0; i < ROUNDS; i++) {
		char *a = jumbo_pool_alloc_contig(p, RUN);
		if (!a) {
			CHECK(a != NULL);
			fprintf(stderr, "round %u: no run of %u (%s)\n", i, RUN,
				strerror(errno));
			break;
		}
		if (whole)
			CHECK_EQ(jumbo_pool_free_contig(p, a, RUN), 0);
		else
			for (unsigned k = 0; k < RUN; k++)
				CHECK_EQ(jumbo_pool_free(p, a + k * 4096), 0);
	}
	jumbo_pool_flush_cache(p);
	no_growth_past_need(p, whole ? "freed whole" : "freed page by page");
}

/*
 * Runs freed in a shuffled order of their pages: no run is side by side
 * in the depot's queue, and they are found by their pages' words.  N
 * runs, twice, from a pool of N + SLACK runs' pages: the second time all
 * but SLACK runs must come from pages freed (the slack takes the few
 * pages a run taken first-fit off the queue at an odd offset can leave
 * apart).
 */
static void shuffled(void)
{
	enum { N = 64, SLACK = 4 };
	char sname[48];
	void *pg[N * RUN];
	char *run[N];

	snprintf(sname, sizeof(sname), "%s-s", name);
	test_named_unlink(sname);
	struct jumbo_pool *p = test_named_pool(sname, (N + SLACK) * RUN,
					       (N + SLACK) * RUN, CACHE, false);
	for (unsigned pass = 0; pass < 2; pass++) {
		unsigned got = 0;
		for (unsigned i = 0; i < N; i++)
			got += (run[i] = jumbo_pool_alloc_contig(p, RUN)) != NULL;
		printf("shuffled, pass %u: %u of %u runs\n", pass, got, N);
		CHECK_EQ(got, N);
		for (unsigned i = 0; i < N; i++)
			for (unsigned k = 0; k < RUN; k++)
				pg[i * RUN + k] = run[i] ? run[i] + k * 4096 : NULL;
		for (unsigned i = N * RUN; i > 1; i--) {
			unsigned j = (unsigned)(rnd(&rng) % i);
			void *t = pg[i - 1];
			pg[i - 1] = pg[j];
			pg[j] = t;
		}
		for (unsigned i = 0; i < N * RUN; i++)
			if (pg[i])
				CHECK_EQ(jumbo_pool_free(p, pg[i]), 0);
		jumbo_pool_flush_cache(p);
	}
	CHECK_EQ(stats(p).in_use, 0);
	jumbo_pool_destroy(p);
}

/*
 * Across processes, as a receiver and a worker: the parent allocates runs
 * and writes each run's number in every page; a child attached to the
 * pool takes their I/O addresses from a pipe, checks the number on every
 * page (a page handed out twice while the child had it would read
 * another) and frees the pages one by one in a shuffled order.  At most
 * WINDOW runs are out at once.
 */
#define WINDOW 32u

static int worker(int rfd, int ackfd, uint64_t seed)
{
	struct jumbo_pool *p = jumbo_pool_attach(name, 0);
	uint64_t msg[2];
	int bad = 0;

	if (!p)
		return 2;
	rng = seed;
	while (read(rfd, msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
		char *a = jumbo_pool_iova_to_addr(p, msg[0]);
		unsigned order[RUN];
		for (unsigned k = 0; k < RUN; k++)
			order[k] = k;
		for (unsigned k = RUN; k > 1; k--) {
			unsigned j = (unsigned)(rnd(&rng) % k), t = order[k - 1];
			order[k - 1] = order[j];
			order[j] = t;
		}
		for (unsigned k = 0; k < RUN; k++) {
			char *pg = a + order[k] * 4096;
			if (*(volatile uint64_t *)pg != msg[1])
				bad = 1;
			if (jumbo_pool_free(p, pg) != 0)
				bad = 1;
		}
		char c = 0;
		if (write(ackfd, &c, 1) != 1)
			bad = 1;
	}
	jumbo_pool_destroy(p);
	return bad ? 1 : 0;
}

static void across(struct jumbo_pool *p, uint64_t seed)
{
	int tx[2], ack[2];
	unsigned out = 0, failed = 0;

	REQUIRE(pipe(tx) == 0 && pipe(ack) == 0);
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(tx[1]);
		close(ack[0]);
		_exit(worker(tx[0], ack[1], seed + 1));
	}
	close(tx[0]);
	close(ack[1]);
	for (uint64_t i = 0; i < ROUNDS; i++) {
		char c;
		while (out >= WINDOW && read(ack[0], &c, 1) == 1)
			out--;
		char *a = jumbo_pool_alloc_contig(p, RUN);
		if (!a) {
			/* The child still has pages: wait for one, retry. */
			if (out && read(ack[0], &c, 1) == 1)
				out--;
			if (!(a = jumbo_pool_alloc_contig(p, RUN))) {
				failed++;
				continue;
			}
		}
		for (unsigned k = 0; k < RUN; k++)
			*(volatile uint64_t *)(a + k * 4096) = i + 1;
		uint64_t msg[2] = { jumbo_pool_iova(p, a), i + 1 };
		REQUIRE(write(tx[1], msg, sizeof(msg)) == (ssize_t)sizeof(msg));
		out++;
	}
	close(tx[1]);
	int st;
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(ack[0]);
	CHECK_EQ(failed, 0);
	jumbo_pool_flush_cache(p);
	no_growth_past_need(p, "freed page by page by another process");
}

/*
 * At the cap: no run while the free pages are not side by side (or are in
 * this thread's cache), ENOMEM at once; one as soon as a run is free in
 * the depot again.  A pool of exactly four runs.
 */
static void exhausted(void)
{
	enum { N = 4 };
	char sname[48];
	char *run[N], *x;

	snprintf(sname, sizeof(sname), "%s-s", name);
	test_named_unlink(sname);
	struct jumbo_pool *p = test_named_pool(sname, N * RUN, N * RUN, CACHE,
					       false);
	for (unsigned i = 0; i < N; i++)
		REQUIRE((run[i] = jumbo_pool_alloc_contig(p, RUN)) != NULL);
	errno = 0;
	CHECK(jumbo_pool_alloc_contig(p, RUN) == NULL && errno == ENOMEM);
	/* One page of each of two runs, and their neighbours' apart. */
	CHECK_EQ(jumbo_pool_free(p, run[0] + 2 * 4096), 0);
	CHECK_EQ(jumbo_pool_free(p, run[1]), 0);
	CHECK_EQ(jumbo_pool_free(p, run[2] + 4096), 0);
	jumbo_pool_flush_cache(p);
	errno = 0;
	CHECK(jumbo_pool_alloc_contig(p, RUN) == NULL && errno == ENOMEM);
	/* The rest of run 1, into the cache only: still none. */
	CHECK_EQ(jumbo_pool_free(p, run[1] + 4096), 0);
	CHECK_EQ(jumbo_pool_free(p, run[1] + 2 * 4096), 0);
	CHECK(jumbo_pool_alloc_contig(p, RUN) == NULL);
	/* In the depot: run 0's last page and run 1's first two make one. */
	jumbo_pool_flush_cache(p);
	x = jumbo_pool_alloc_contig(p, RUN);
	CHECK(x != NULL);
	printf("exhausted: no run while none was free side by side; then "
	       "%s\n", x ? "one" : "STILL NONE");
	if (x)
		CHECK_EQ(jumbo_pool_free_contig(p, x, RUN), 0);
	CHECK_EQ(jumbo_pool_free_contig(p, run[3], RUN), 0);
	CHECK_EQ(jumbo_pool_free(p, run[0]), 0);
	CHECK_EQ(jumbo_pool_free(p, run[0] + 4096), 0);
	CHECK_EQ(jumbo_pool_free(p, run[2]), 0);
	CHECK_EQ(jumbo_pool_free(p, run[2] + 2 * 4096), 0);
	jumbo_pool_flush_cache(p);
	unsigned got = 0;
	for (unsigned i = 0; i < N; i++)
		got += (run[i] = jumbo_pool_alloc_contig(p, RUN)) != NULL;
	CHECK_EQ(got, N);
	CHECK_EQ(stats(p).in_use, N * RUN);
	for (unsigned i = 0; i < N; i++)
		if (run[i])
			CHECK_EQ(jumbo_pool_free_contig(p, run[i], RUN), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/*
 * A process killed at a random instant while it takes runs, frees them
 * page by page and flushes: after the reclaim, nothing is in use and
 * every page of the pool can be had again (a run half taken from the
 * queue or half claimed by its words when the lock holder died is
 * repaired by the next holder).
 */
#define KILLS 40u

static void killed(uint64_t seed)
{
	enum { N = 32 };
	char sname[48];

	snprintf(sname, sizeof(sname), "%s-s", name);
	test_named_unlink(sname);
	struct jumbo_pool *p = test_named_pool(sname, N * RUN, N * RUN, CACHE,
					       false);
	for (unsigned k = 0; k < KILLS; k++) {
		fflush(NULL);
		pid_t c = fork();
		REQUIRE(c >= 0);
		if (c == 0) {
			struct jumbo_pool *q = jumbo_pool_attach(sname, 0);
			uint64_t r = seed + k;
			char *a[N];
			if (!q)
				_exit(2);
			for (;;) {
				unsigned m = 1 + (unsigned)(rnd(&r) % N);
				for (unsigned i = 0; i < m; i++)
					a[i] = jumbo_pool_alloc_contig(q, RUN);
				for (unsigned i = 0; i < m; i++)
					for (unsigned j = 0; a[i] && j < RUN; j++)
						jumbo_pool_free(q, a[i] + ((j + i) % RUN) * 4096);
				if (rnd(&r) % 2)
					jumbo_pool_flush_cache(q);
			}
		}
		struct timespec t = { 0, (long)(rnd(&rng) % 3000000) };
		nanosleep(&t, NULL);
		kill(c, SIGKILL);
		int ws;
		REQUIRE(waitpid(c, &ws, 0) == c);
		CHECK(jumbo_pool_reclaim(p) >= 0);
		CHECK_EQ(stats(p).in_use, 0);
	}
	/*
	 * Nothing lost: every page of the pool can be had again.  (One by
	 * one: runs taken first-fit from a pool of exactly N runs need not
	 * tile it.)
	 */
	void *pg[N * RUN];
	unsigned got = 0;
	while (got < N * RUN && (pg[got] = jumbo_pool_alloc(p)) != NULL)
		got++;
	printf("killed %u times while taking runs: %u of %u pages of the "
	       "pool allocated after\n", KILLS, got, N * RUN);
	CHECK_EQ(got, N * RUN);
	for (unsigned i = 0; i < got; i++)
		CHECK_EQ(jumbo_pool_free(p, pg[i]), 0);
	jumbo_pool_flush_cache(p);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

static void cleanup(void)
{
	char sname[48];

	snprintf(sname, sizeof(sname), "%s-s", name);
	test_named_unlink(name);
	test_named_unlink(sname);
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "shm_reuse");

	rng = seed | 1;
	snprintf(name, sizeof(name), "test-reuse-%d", (int)getpid());
	atexit(cleanup);

	struct jumbo_pool *p = test_named_pool(name, CAP, GROW, CACHE, false);
	one_at_a_time(p, true);
	jumbo_pool_destroy(p);
	test_named_unlink(name);

	p = test_named_pool(name, CAP, GROW, CACHE, false);
	one_at_a_time(p, false);
	jumbo_pool_destroy(p);
	test_named_unlink(name);

	shuffled();
	exhausted();
	killed(seed);

	p = test_named_pool(name, CAP, GROW, CACHE, false);
	across(p, seed);
	jumbo_pool_destroy(p);
	return check_done("shm_reuse");
}
