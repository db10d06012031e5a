/*
 * A pool called from a signal handler that interrupted a pool call on the
 * same thread.  The pool is not async-signal-safe (jumbo_pool(3),
 * CONTEXT); in debug mode the re-entered call must be reported and
 * refused with EDEADLK, leaving the pool intact, instead of deadlocking
 * on the pool lock or handing a page out twice.  The run is in a child
 * with an alarm, so that a deadlock (the behaviour before the fix) fails
 * the test, after 100 s, instead of hanging it.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <sys/time.h>

#define CAP 64

static struct jumbo_pool *pool;
static volatile sig_atomic_t refused, ran, in_handler;

/* The hook: counts the reports, and any call made inside the handler. */
static int hooked, hooked_in_handler;
static char first[512];

static void hook(int level, const char *msg, void *arg)
{
	(void)arg;
	if (in_handler)
		hooked_in_handler++;
	if (level == JUMBO_LOG_ERROR && strstr(msg, "re-entered") &&
	    hooked++ == 0)
		snprintf(first, sizeof(first), "%s", msg);
}

static void handler(int sig)
{
	int e = errno;
	(void)sig;
	in_handler = 1;
	void *a = jumbo_pool_alloc(pool);
	if (a) {
		if (jumbo_pool_free(pool, a) == -EDEADLK)
			refused = refused + 1; /* leaked: nothing else to do */
	} else if (errno == EDEADLK) {
		refused = refused + 1;
	}
	ran = ran + 1;
	in_handler = 0;
	errno = e;
}

static void scenario(void *arg)
{
	struct jumbo_pool_params pp;
	struct itimerval it = { { 0, 50 }, { 0, 50 } };
	static void *v[CAP];

	alarm(TEST_HANG_SECONDS); /* a deadlock: SIGALRM */
	if (arg && jumbo_set_log(hook, NULL) != 0)
		_exit(2);
	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pp.flags = JUMBO_POOL_DEBUG;
	pool = jumbo_pool_create(&pp);
	if (!pool)
		_exit(2);
	signal(SIGPROF, handler);
	setitimer(ITIMER_PROF, &it, NULL);
	for (long i = 0; i < 2000000 && refused < 20; i++) {
		void *a = jumbo_pool_alloc(pool);
		if (a && jumbo_pool_free(pool, a) != 0)
			_exit(3);
	}
	it.it_value.tv_usec = it.it_interval.tv_usec = 0;
	setitimer(ITIMER_PROF, &it, NULL);
	fprintf(stderr, "reentry: %d handler calls, %d refused\n", (int)ran,
		(int)refused);
	if (refused == 0)
		_exit(77);
	/* Intact: every page but those leaked by a refused free, once. */
	unsigned n = jumbo_pool_alloc_bulk(pool, v, CAP);
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < i; j++)
			if (v[i] == v[j])
				_exit(4);
	struct jumbo_stats st;
	if (jumbo_pool_stats(pool, &st) != 0 || st.in_use > CAP ||
	    st.double_frees != 0 || n + (unsigned)refused < CAP)
		_exit(5);
	if (arg) {
		/* A call outside the handler delivers what is parked. */
		jumbo_pool_free_bulk(pool, v, n);
		printf("reentry: hook: %d reports, %d calls in the handler; "
		       "first: %s\n", hooked, hooked_in_handler, first);
		fflush(stdout);
		if (hooked == 0)
			_exit(6);
		if (hooked_in_handler)
			_exit(7);
	}
	_exit(0);
}

/* The scenario in a child: 0 fine, 1 failed, 77 no signal landed. */
static int run(int with_hook)
{
	char buf[8192];
	int st = run_child(scenario, with_hook ? "hook" : NULL, buf,
			   sizeof(buf));

	fputs(buf, stdout);
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return 77;
	if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		printf("reentry%s: child %s %d\n", with_hook ? " (hook)" : "",
		       st != -1 && WIFSIGNALED(st) ? "killed by signal"
						    : "status",
		       st == -1 ? -1 : WIFSIGNALED(st) ? WTERMSIG(st)
							: WEXITSTATUS(st));
		return 1;
	}
	/* Without a hook, stderr has the line; with one, only the hook. */
	if (!with_hook && !strstr(buf, "re-entered on its thread"))
		return 1;
	if (with_hook && strstr(buf, "refused (EDEADLK)\n"))
		return 1;
	return 0;
}

int main(void)
{
	int r = run(0);

	if (r == 77)
		skip("no signal landed inside a pool call");
	CHECK(r == 0);
	r = run(1);
	if (r == 77)
		printf("reentry (hook): no signal landed inside a pool call\n");
	else
		CHECK(r == 0);
	return check_done("reentry");
}
