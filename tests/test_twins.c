/*
 * Twins: two threads free the same page at the same instant, over and over.
 * The free's fast path has no read-modify-write, so now and then both
 * frees pass their check and the page lands in both threads' caches (a
 * double free that escaped).  The pool must still never hand the page out
 * twice: the second copy is caught when it leaves a cache or the depot,
 * reported and dropped.  Checked here, with an ownership map over every
 * allocation, through trims and thread exits, and by draining the pool at
 * the end: every escaped double free is counted exactly once
 * (double_frees), every page of the cap comes out exactly once, and the
 * pool's accounting balances (destroy succeeds).  On the default pool the
 * jumbo(9) functions abort instead, naming the function and the address,
 * and so does a twin that the pool API's frees made there.
 *
 * Allocations never race with each other here (the threads take turns),
 * since two allocations of the two copies in the same nanosecond are the
 * documented hole that only debug mode's compare-and-swap closes.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define CAP 4096
#define MAX_ATTEMPTS 200000
#define MAX_NS 2000000000ull

static struct jumbo_pool *pool;
static _Atomic unsigned char owned[CAP];
static _Atomic int handed_twice;

static _Atomic unsigned phase;   /* 4 per attempt */
static _Atomic unsigned arrived; /* the race's two-sided barrier */
static _Atomic int stop;
static void *page_x;
static int r_a, r_b;
static _Atomic int last_escaped;
static unsigned long attempts, escaped, caught, bad_outcome;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void wait_phase(unsigned want)
{
	for (unsigned spins = 0; atomic_load(&phase) != want; spins++)
		if (spins > 1000)
			sched_yield(); /* the other vCPU may not be running */
}

static size_t frame_of(void *addr)
{
	return (size_t)(jumbo_pool_iova(pool, addr) >> 12);
}

/*
 * The two ways in: the pool API, or the jumbo(9) functions (seed).  With
 * seed_race_api the default pool's racing frees go through the pool API,
 * which refuses a double free it sees instead of aborting, so that the
 * child lives until a race escapes and its twin shows.
 */
static int seed, seed_race_api;
static _Atomic unsigned api_escapes; /* races both frees passed, there */

static void *take(void)
{
	void *a;

	if (seed) {
		vm_page_t pg = jumbo_pg_alloc();
		a = pg ? jumbo_page_kva(pg) : NULL;
	} else {
		a = jumbo_pool_alloc(pool);
	}
	if (a) {
		unsigned char zero = 0;
		if (!atomic_compare_exchange_strong(&owned[frame_of(a)], &zero, 1))
			atomic_fetch_add(&handed_twice, 1);
	}
	return a;
}

static int give(void *a)
{
	if (!seed)
		return jumbo_pool_free(pool, a);
	jumbo_pg_free((vm_offset_t)a); /* aborts on a double free it sees */
	return 0;
}

static void disown(void *a)
{
	atomic_store(&owned[frame_of(a)], 0);
}

/*
 * Both threads arrive, then free x as close together as they can.  The
 * default pool's children warm up first (B stays out of the first 2000
 * rounds, or 200 ms on a slow machine): a fresh process's first race is
 * seldom close.  A sets warm.
 */
#define SEED_WARMUP 2000u
#define SEED_WARMUP_NS 200000000ull
static _Atomic int warm;

static int race_free(void *x, unsigned round, int is_b)
{
	atomic_fetch_add(&arrived, 1);
	while (atomic_load_explicit(&arrived, memory_order_acquire) < 2 * round)
		;
	if (seed && is_b && !atomic_load(&warm))
		return -EALREADY;
	if (seed_race_api)
		return jumbo_pool_free(pool, x);
	return give(x);
}

static void *thread_a(void *arg)
{
	(void)arg;
	uint64_t t0 = now_ns();
	unsigned i;

	for (i = 0; !atomic_load(&stop); i++) {
		wait_phase(4 * i);
		uint64_t t = now_ns() - t0;
		if (seed && (i >= SEED_WARMUP || t > SEED_WARMUP_NS))
			atomic_store(&warm, 1);
		/* A child has no time limit: its first real race kills it. */
		/*
		 * Out of attempts or time: stop, preferably right after a race
		 * that escaped, so that a twin is still in B's cache when B
		 * exits (see pool_api); a little grace time for one.
		 */
		/*
		 * A child racing through the pool API on the default pool
		 * looks much longer for a race that escapes (a loaded machine
		 * seldom runs both threads at once), and stops after three
		 * that it survived: their twins were dropped.
		 */
		unsigned max = seed_race_api ? 50 * MAX_ATTEMPTS : MAX_ATTEMPTS;
		uint64_t max_ns = seed_race_api ? 30 * MAX_NS : MAX_NS;
		int timed = !seed || seed_race_api;
		int out = i >= max || (timed && t > max_ns) ||
			  atomic_load(&api_escapes) >= 3;
		int grace = i < max + 20000 && (!timed || t < max_ns + MAX_NS / 4);
		if (out && (atomic_load(&last_escaped) || !grace)) {
			atomic_store(&stop, 1);
			atomic_store(&phase, 4 * i + 1);
			break;
		}
		page_x = take();
		if (!page_x) {
			fprintf(stderr, "twins: allocation failed at attempt %u\n", i);
			atomic_fetch_add(&handed_twice, 1);
			atomic_store(&stop, 1);
			atomic_store(&phase, 4 * i + 1);
			break;
		}
		*(volatile unsigned *)page_x = i;
		disown(page_x); /* from the race on, nobody owns it */
		atomic_store(&phase, 4 * i + 1);
		wait_phase(4 * i + 2);
		r_a = race_free(page_x, i + 1, 0);
		atomic_fetch_add(&phase, 1); /* 4i+3 once both have freed */
		wait_phase(4 * i + 4);
		/*
		 * Now and then B has pushed its cache into the depot (with
		 * the copy of x it got if the race escaped); A takes a page,
		 * x again if it got a copy too, and trims while holding it:
		 * trim must drop the copy, not give x's memory away.
		 */
		if (i % 64 == 63 && !seed) {
			void *y = take();
			if (y)
				*(volatile unsigned *)y = i;
			if (jumbo_pool_trim(pool, 0) < 0)
				atomic_fetch_add(&handed_twice, 1);
			if (y) {
				if (*(volatile unsigned *)y != i)
					atomic_fetch_add(&handed_twice, 1);
				disown(y);
				CHECK_EQ(give(y), 0);
			}
		}
	}
	attempts = i;
	return NULL;
}

/* B's last act waits for the main thread's first drain (see pool_api). */
static _Atomic int drained;

static void *thread_b(void *arg)
{
	(void)arg;
	for (unsigned i = 0;; i++) {
		wait_phase(4 * i + 1);
		if (atomic_load(&stop)) {
			while (!atomic_load(&drained))
				sched_yield();
			break;
		}
		/* B takes its turn to allocate: a twin it holds shows here. */
		void *y = take();
		if (!y) {
			atomic_fetch_add(&handed_twice, 1);
		} else {
			disown(y);
			CHECK_EQ(give(y), 0);
		}
		atomic_store(&phase, 4 * i + 2);
		r_b = race_free(page_x, i + 1, 1);
		/* A is also adding one: wait until both have, then judge. */
		while (atomic_load(&phase) != 4 * i + 3)
			sched_yield();
		atomic_store(&last_escaped, r_a == 0 && r_b == 0);
		if (r_a == 0 && r_b == 0) {
			escaped++;
			if (seed_race_api)
				atomic_fetch_add(&api_escapes, 1);
		}
		else if ((r_a == 0 && r_b == -EALREADY) ||
			 (r_b == 0 && r_a == -EALREADY))
			caught++;
		else
			bad_outcome++;
		if (i % 64 == 63 && !seed)
			jumbo_pool_flush_cache(pool);
		atomic_store(&phase, 4 * i + 4);
	}
	return NULL;
}

static void pool_api(void)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	static void *all[CAP];
	pthread_t a, b;

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pp.reserve_pages = 0;
	pp.name = "twins";
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool != NULL);

	REQUIRE(pthread_create(&a, NULL, thread_a, NULL) == 0);
	REQUIRE(pthread_create(&b, NULL, thread_b, NULL) == 0);
	pthread_join(a, NULL); /* A's cache went back to the depot */

	/*
	 * Drain: every page exactly once, and every twin caught.  First what
	 * the main thread can reach while B lives, so that B then exits with
	 * twins in its cache whose other copies are allocated (its cache goes
	 * back to the depot with them: the invariant checks of the sanitized
	 * builds must allow that), then the rest.
	 */
	size_t n = 0;
	while (n < CAP && (all[n] = take()) != NULL)
		n++;
	atomic_store(&drained, 1);
	pthread_join(b, NULL);
	while (n < CAP && (all[n] = take()) != NULL)
		n++;

	printf("twins: %lu racing double frees: %lu caught at the free, "
	       "%lu escaped it\n", attempts, caught, escaped);
	CHECK_EQ(bad_outcome, 0);
	CHECK_EQ(caught + escaped, attempts);
	if (escaped == 0)
		printf("twins: no double free escaped its check on this run; "
		       "only the ownership and accounting checks had work\n");

	CHECK(take() == NULL);
	CHECK_EQ(n, CAP);
	CHECK_EQ(atomic_load(&handed_twice), 0);
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	printf("twins: double_frees %llu, in_use %llu\n",
	       (unsigned long long)st.double_frees,
	       (unsigned long long)st.in_use);
	CHECK_EQ(st.double_frees, escaped);
	CHECK_EQ(st.in_use, CAP);
	for (size_t i = 0; i < n; i++) {
		disown(all[i]);
		CHECK_EQ(jumbo_pool_free(pool, all[i]), 0);
	}
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	CHECK_EQ(st.in_use, 0);
	/* The depot's books came out even: each free page counted once. */
	CHECK_EQ(st.cached_free + st.depot_free, st.committed);
	CHECK(st.high_water <= CAP);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* ---- the jumbo(9) functions: abort, naming function and address -------- */

/* A child races on the default pool until it dies of what it sees. */
static void seed_child(void *arg)
{
	pthread_t a, b;

	seed_race_api = arg != NULL;
	setenv("JUMBO_MAX_PAGES", "4096", 1); /* frames fit owned[] */
	if (jumbo_vm_init() != 1)
		_exit(3);
	seed = 1;
	pool = jumbo_default_pool();
	/* What the pool test left in the shared state starts afresh. */
	atomic_store(&phase, 0);
	atomic_store(&arrived, 0);
	atomic_store(&stop, 0);
	atomic_store(&warm, 0);
	atomic_store(&drained, 1); /* nobody drains here */
	for (size_t i = 0; i < CAP; i++)
		atomic_store(&owned[i], 0);
	pthread_create(&a, NULL, thread_a, NULL);
	pthread_create(&b, NULL, thread_b, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	/* Returns: MAX_ATTEMPTS races and no abort, and the test fails. */
}

/*
 * The default pool is the jumbo(9) functions' pool, whichever call freed
 * the page twice: a twin aborts even when both frees were the pool API's
 * (which then returned 0 both).  A child racing that way lives through
 * the races caught at the free and dies at the first twin; one that
 * outlives its attempts must have had none, and never dropped a copy.
 */
static void seed_api_run(void)
{
	char buf[8192];
	int st = run_child(seed_child, "api", buf, sizeof(buf));

	if (st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT &&
	    strstr(buf, "jumbo_pg_alloc: 0x") &&
	    strstr(buf, "freed twice by two threads at once")) {
		printf("twins: default pool, pool API frees: aborted at a twin\n");
		return;
	}
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	    !strstr(buf, "dropped")) {
		printf("twins: default pool, pool API frees: no race escaped; "
		       "the abort on a twin was not exercised\n");
		return;
	}
	fprintf(stderr, "twins: the default pool's child (pool API frees) "
		"did not abort at a twin: status %#x, stderr: %.2000s\n", st, buf);
	check_failures++;
}

/* 1: died of an escaped double free, 0: of one caught at the free. */
static int seed_run(void)
{
	char buf[8192];
	int st = run_child(seed_child, NULL, buf, sizeof(buf));

	if (st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) {
		if (strstr(buf, "jumbo_pg_alloc: 0x") &&
		    strstr(buf, "freed twice by two threads at once"))
			return 1;
		if (strstr(buf, "jumbo_pg_free: 0x") &&
		    strstr(buf, "double free"))
			return 0;
	}
	fprintf(stderr, "twins: the default pool's child: status %#x, "
		"stderr: %s\n", st, buf);
	check_failures++;
	return -1;
}

int main(void)
{
	pool_api();
	seed_api_run();

	/* Each child dies at its first race: at the free, or at the next
	 * allocation if the race escaped the free's check. */
	int twin = 0, at_free = 0;
	uint64_t t0 = now_ns();
	for (int k = 0; k < 400 && twin == 0 && now_ns() - t0 < 10 * MAX_NS; k++) {
		int r = seed_run();
		if (r < 0)
			break;
		twin += r == 1;
		at_free += r == 0;
	}
	printf("twins: default pool: %d children aborted at the free, %d at "
	       "the twin's allocation\n", at_free, twin);
	if (!twin)
		printf("twins: no race escaped in the children; the abort on "
		       "a twin was not exercised\n");
	return check_done("twins");
}
