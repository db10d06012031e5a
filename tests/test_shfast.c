/*
 * A named pool's same-process paths: each thread reaches its cache of
 * the named pool it used last through a short cut of its own (shm_int.h),
 * which must never outlive the cache.  Every way a cache goes is taken
 * with the short cut set and then the pool used again: the pool's
 * destroy (a new named pool made at once, which may get the same handle
 * and id), the thread's exit (a pthread key destructor that runs after
 * libjumbo's calls the pool), a fork child (its pool detached: the
 * allocation is refused), and threads alternating between two named
 * pools and a private one (each page comes from the pool asked).  A free
 * of a page twice, and of a page another process freed, are refused with
 * EALREADY whichever path the first free took.  Run under AddressSanitizer
 * a cache used after it is freed is reported; in every build a page of
 * the wrong pool, or one handed out twice, fails a check.
 *
 *   test_shfast [seed]
 */
#include "check.h"
#include "test_named.h"

#include <jumbo/jumbo.h>

#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define MAX_PAGES 1024
#define BURST 100

static unsigned serial;
static char nm[32]; /* the name of the pool made last */

static struct jumbo_pool *named(void)
{
	snprintf(nm, sizeof(nm), "shfast-%d-%u", (int)getpid(), serial++);
	return test_named_pool(nm, MAX_PAGES, 64, 64, true);
}

static bool in_pool(struct jumbo_pool *p, void *a)
{
	const struct jumbo_pool_head *h = JUMBO_HEAD(p);
	uintptr_t off = (uintptr_t)a - (uintptr_t)h->ph_base;

	return off < ((uintptr_t)h->ph_npages << h->ph_shift);
}

/*
 * n pages from p, each p's, each distinct and marked, freed again: the
 * cache's paths, in and out past its size.
 */
static void use(struct jumbo_pool *p, unsigned n, uint64_t tag)
{
	void *v[BURST];

	REQUIRE(n <= BURST);
	for (unsigned i = 0; i < n; i++) {
		v[i] = jumbo_pool_alloc(p);
		REQUIRE(v[i]);
		CHECK(in_pool(p, v[i]));
		*(uint64_t *)v[i] = tag + i;
	}
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(*(uint64_t *)v[i], tag + i); /* none handed out twice */
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
}

static void in_use_is(struct jumbo_pool *p, uint64_t n)
{
	struct jumbo_stats st;

	CHECK_EQ(jumbo_pool_stats(p, &st), 0);
	CHECK_EQ(st.in_use, n);
}

/* Destroyed with the short cut set; a new pool in its place. */
static void destroy_and_again(void)
{
	for (unsigned k = 0; k < 20; k++) {
		struct jumbo_pool *p = named();
		use(p, BURST, k << 16);
		CHECK_EQ(jumbo_pool_destroy(p), 0);
	}
}

/* Two named pools and a private one, page by page on one thread. */
static void alternate(uint64_t seed)
{
	struct jumbo_pool *a = named(), *b = named();
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = MAX_PAGES;
	struct jumbo_pool *c = jumbo_pool_create(&pp);
	struct jumbo_pool *ps[3] = { a, b, c };
	void *v[3][BURST];
	unsigned n[3] = { 0 };

	REQUIRE(c);
	for (unsigned i = 0; i < 20000; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned k = (unsigned)(seed >> 33) % 3;
		bool alloc = n[k] == 0 || (n[k] < BURST && (seed >> 40) & 1);
		if (alloc) {
			void *x = jumbo_pool_alloc(ps[k]);
			REQUIRE(x);
			CHECK(in_pool(ps[k], x));
			*(uint64_t *)x = (uint64_t)k << 32 | n[k];
			v[k][n[k]++] = x;
		} else {
			void *x = v[k][--n[k]];
			CHECK_EQ(*(uint64_t *)x, (uint64_t)k << 32 | n[k]);
			CHECK_EQ(jumbo_pool_free(ps[k], x), 0);
		}
	}
	for (unsigned k = 0; k < 3; k++) {
		CHECK_EQ(jumbo_pool_free_bulk(ps[k], v[k], n[k]), 0);
		CHECK_EQ(jumbo_pool_destroy(ps[k]), 0);
	}
}

/*
 * A thread's key destructor that runs after libjumbo's (glibc runs them
 * in the order the keys were made, and libjumbo's is made at the
 * thread's first cache): the thread's caches are gone, the short cut
 * with them, and the pool works as for a thread that never used it.
 */
static pthread_key_t late_key;
static struct jumbo_pool *late_pool;

static void late_destructor(void *arg)
{
	(void)arg;
	use(late_pool, BURST, 7ull << 40);
}

static void *late_thread(void *arg)
{
	(void)arg;
	use(late_pool, BURST, 6ull << 40); /* the cache, and the short cut */
	CHECK_EQ(pthread_setspecific(late_key, late_pool), 0);
	return NULL;
}

static void thread_exit(void)
{
	pthread_t t;

	late_pool = named();
	use(late_pool, 1, 0); /* libjumbo's key made before ours */
	CHECK_EQ(pthread_key_create(&late_key, late_destructor), 0);
	CHECK_EQ(pthread_create(&t, NULL, late_thread, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	in_use_is(late_pool, 0);
	CHECK_EQ(jumbo_pool_destroy(late_pool), 0);
	pthread_key_delete(late_key);
}

/* A fork child: its copy of the pool is detached, short cut or not. */
static void fork_child(void)
{
	struct jumbo_pool *p = named();
	use(p, BURST, 1ull << 48);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		errno = 0;
		void *x = jumbo_pool_alloc(p);
		_exit(x == NULL && errno == EXDEV ? 0 : 1);
	}
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	use(p, BURST, 2ull << 48);
	in_use_is(p, 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/*
 * Double frees: on the short cut (this thread's cache has room) and off
 * it (another process freed the page and gave it back): EALREADY each time,
 * nothing changed.
 */
static void double_free(void)
{
	struct jumbo_pool *p = named();
	void *x = jumbo_pool_alloc(p);

	REQUIRE(x);
	CHECK_EQ(jumbo_pool_free(p, x), 0);
	CHECK_EQ(jumbo_pool_free(p, x), -EALREADY);
	x = jumbo_pool_alloc(p);
	REQUIRE(x);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(nm, 0);
		int ok = q && jumbo_pool_free(q, JUMBO_HEAD(q)->ph_base +
					      ((char *)x - JUMBO_HEAD(p)->ph_base)) == 0;
		_exit(ok && jumbo_pool_destroy(q) == 0 ? 0 : 1);
	}
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(jumbo_pool_free(p, x), -EALREADY);
	in_use_is(p, 0);
	use(p, BURST, 3ull << 48);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* nothing buffered across fork */
	/* No live-statistics thread: the fork children attach pools. */
	setenv("JUMBO_STAT", "0", 1);
	uint64_t seed = test_seed(argc, argv, "shfast");

	destroy_and_again();
	alternate(seed);
	thread_exit();
	fork_child();
	double_free();
	return check_done("shfast");
}
