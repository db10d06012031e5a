/*
 * The pool's fork hooks, which the library's pthread_atfork handlers
 * (src/fork.c) call: a child forked while other threads allocate, free and
 * trim finds every pool lock free and no trim pending, and can use the
 * pool.  Without them the child can inherit a lock held by a thread it
 * does not have, and hang (its alarm then fails the test).
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>

static struct jumbo_pool *pool;
static int stop;

static void *busy(void *arg)
{
	void *v[64];
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned n = jumbo_pool_alloc_bulk(pool, v, 64);
		jumbo_pool_free_bulk(pool, v, n);
		jumbo_pool_flush_cache(pool);
		jumbo_pool_trim(pool, 0);
	}
	return NULL;
}

int main(void)
{
#if defined(__SANITIZE_ADDRESS__)
	/*
	 * A child hung in 3 of 12 ASan runs when this skip was added.  Not
	 * reproduced since (docs/TESTING.md): 67 runs, 13400 children, on
	 * this tree and on the one the skip was added to, none hung, so no
	 * stack could be read.  Suspected: gcc 12's libasan.so.8 neither
	 * intercepts fork() nor registers a pthread_atfork handler (nm: no
	 * __interceptor_fork, no pthread_atfork; libtsan has both), so its
	 * allocator's locks are not taken across fork: a child forked while
	 * a busy thread is inside ASan's malloc (magazines, trim's claim
	 * list) blocks in its own first calloc (its thread cache).  The
	 * library's locks are all taken by its handlers.  The normal and
	 * ThreadSanitizer builds run it.
	 */
	puts("atfork: skipped under AddressSanitizer: gcc 12's libasan does "
	     "not lock its allocator across fork (see docs/TESTING.md)");
	return 77;
#endif
	struct jumbo_pool_params pp;
	pthread_t t[2];
	int bad = 0;

	/* The library registers its handlers itself (src/fork.c). */
	jumbo_pool_params_init(&pp);
	pp.max_pages = 1024;
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool);
	for (int i = 0; i < 2; i++)
		REQUIRE(pthread_create(&t[i], NULL, busy, NULL) == 0);
	for (int k = 0; k < 200; k++) {
		pid_t pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			alarm(TEST_HANG_SECONDS); /* a hang fails the test */
			void *a = jumbo_pool_alloc(pool);
			struct jumbo_stats st;
			if (!a || jumbo_pool_free(pool, a) != 0 ||
			    jumbo_pool_trim(pool, 0) < 0 ||
			    jumbo_pool_stats(pool, &st) != 0)
				_exit(1);
			_exit(0);
		}
		int st;
		REQUIRE(waitpid(pid, &st, 0) == pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(bad, 0);
	return check_done("atfork");
}
