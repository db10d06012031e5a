/*
 * The peers of a named pool are told alive by a lock, not by their pid
 * (jumbo_pool(3), Processes), so that:
 *
 *   pidns  a peer in a pid namespace of its own, with its own /proc (a
 *          container sharing /dev/shm), whose pid (1) names another process
 *          here, is not taken for dead while it lives: nothing of its is
 *          reclaimed, no page of its goes to another process; killed, it
 *          is, and a reclaim gets all its pages back
 *   fork   a peer's fork child, living on after its parent is killed, does
 *          not keep the parent alive: a third process's reclaim gets the
 *          parent's pages back
 *
 * Root: the first needs CAP_SYS_ADMIN (new pid and mount namespaces, a
 * /proc mounted in them); skipped with a reason without it.
 */
#include "test_named.h"
#include "test_pidns.h"

#include <jumbo/jumbo.h>

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PAGES 256u
#define CACHE 32u
#define TAKEN 24u /* pages a peer allocates */
#define FREED 8u  /* of those, freed back to its cache at once */
#define KEPT (TAKEN - FREED)
#define LATER 8u  /* of the kept ones, freed when the parent has looked */
#define MARK 0x6a756d626f6c6976ull

/* Between the test and its children, in an anonymous shared mapping. */
struct shared {
	int stage;          /* the peer's: 1 ready, 3 freed LATER; parent: 2 */
	int peer_fails;     /* checks that failed in the peer */
	pid_t peer, child;  /* pids, as the test sees them */
	int child_ready;    /* the peer's child has returned from fork() */
	pid_t peer_ns_pid;  /* the peer's pid in its own namespace */
	char skip[160];     /* why the peer could not be made */
	uint64_t kept[KEPT]; /* I/O addresses of the pages it keeps */
};

static struct shared *sh;
static char name[40];

static int get(const int *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static void set(int *v, int x)
{
	__atomic_store_n(v, x, __ATOMIC_RELEASE);
}

/* Waits for stage >= want while child (the test's own child) runs. */
static bool wait_stage(int want, pid_t child)
{
	while (get(&sh->stage) < want) {
		int ws;
		if (waitpid(child, &ws, WNOHANG) == child)
			return get(&sh->stage) >= want;
		usleep(1000);
	}
	return true;
}

static _Noreturn void peer_skip(const char *what)
{
	snprintf(sh->skip, sizeof(sh->skip), "%s: %s", what, strerror(errno));
	_exit(0);
}

/*
 * A peer: attaches (unless given its handle), allocates TAKEN pages, frees FREED of them (its
 * cache), marks the rest; ready.  When the parent has looked (2), checks
 * that its pages are still its own (their marks), frees LATER of them,
 * and waits to be killed.
 */
static void peer(struct jumbo_pool *p, bool wait_free)
{
	void *a[TAKEN];
	int fails = 0;

	if (!p)
		p = jumbo_pool_attach(name, 0);
	if (!p) {
		fprintf(stderr, "peer: jumbo_pool_attach: %s\n", strerror(errno));
		_exit(1);
	}
	for (unsigned i = 0; i < TAKEN; i++)
		if (!(a[i] = jumbo_pool_alloc(p))) {
			fprintf(stderr, "peer: jumbo_pool_alloc failed\n");
			_exit(1);
		}
	for (unsigned i = 0; i < FREED; i++)
		fails += jumbo_pool_free(p, a[KEPT + i]) != 0;
	for (unsigned i = 0; i < KEPT; i++) {
		sh->kept[i] = jumbo_pool_iova(p, a[i]);
		*(uint64_t *)a[i] = MARK ^ i;
	}
	sh->peer_ns_pid = getpid();
	set(&sh->peer_fails, fails);
	set(&sh->stage, 1);
	if (wait_free) {
		while (get(&sh->stage) < 2)
			usleep(1000);
		for (unsigned i = 0; i < KEPT; i++)
			if (*(uint64_t *)a[i] != (MARK ^ i)) {
				fprintf(stderr, "peer: page %u (I/O address "
					"%#llx) written by another process\n",
					i, (unsigned long long)sh->kept[i]);
				fails++;
			}
		for (unsigned i = 0; i < LATER; i++) {
			int r = jumbo_pool_free(p, a[i]);
			if (r != 0) {
				fprintf(stderr, "peer: free of a kept page: "
					"%s\n", strerror(-r));
				fails++;
			}
		}
		set(&sh->peer_fails, fails);
		set(&sh->stage, 3);
	}
	for (;;)
		pause();
}

static void stats(struct jumbo_pool *p, struct jumbo_stats *st)
{
	REQUIRE(jumbo_pool_stats(p, st) == 0);
}

/*
 * The test's child: new pid and mount namespaces (the mounts private, so
 * that the /proc of the new namespace stays in it), then the peer, pid 1
 * there, with that /proc: what a container sharing /dev/shm sees.  The
 * child reaps it and goes.
 */
static void ns_child(void)
{
	pid_t g = pidns_fork(peer_skip);
	if (g == 0)
		peer(NULL, true);
	__atomic_store_n(&sh->peer, g, __ATOMIC_RELEASE);
	int ws;
	while (waitpid(g, &ws, 0) < 0 && errno == EINTR)
		;
	_exit(0);
}

static void test_pidns(struct jumbo_pool *p)
{
	struct jumbo_stats st;

	memset(sh, 0, sizeof(*sh));
	pid_t c = pidns_spawn(ns_child);
	if (!wait_stage(1, c)) {
		int ws;
		waitpid(c, &ws, 0);
		if (sh->skip[0] && !check_failures)
			skip("a peer in a pid namespace of its own: %s",
			     sh->skip);
		REQUIRE(!"the peer in its pid namespace failed");
	}
	while (__atomic_load_n(&sh->peer, __ATOMIC_ACQUIRE) == 0)
		usleep(1000); /* the child writes it after its fork */
	CHECK_EQ(get(&sh->peer_fails), 0);
	printf("pidns: the peer is pid %d in its namespace, %d here\n",
	       (int)sh->peer_ns_pid, (int)sh->peer);

	/* The peer's: KEPT pages in use, its cache's (FREED and the rest of
	 * its refills) free; this process has none yet. */
	stats(p, &st);
	CHECK_EQ(st.in_use, KEPT);
	uint64_t peer_cached = st.cached_free;
	CHECK(peer_cached >= FREED);

	/*
	 * A look at the peers: the reclaim's, and a depot visit's after
	 * PEER_CHECK_MS (100 ms; slept twice over so that it comes, whatever
	 * the load), and every short refill's while everything is taken.
	 */
	CHECK_EQ(jumbo_pool_reclaim(p), 0);
	usleep(200 * 1000);
	void **mine = calloc(MAX_PAGES, sizeof(*mine));
	unsigned n = 0;
	REQUIRE(mine);
	while (n < MAX_PAGES && (mine[n] = jumbo_pool_alloc(p)) != NULL)
		n++;
	CHECK_EQ(jumbo_pool_reclaim(p), 0);
	/* Every page but the live peer's, and none of its. */
	CHECK_EQ(n, MAX_PAGES - KEPT - peer_cached);
	unsigned twice = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = jumbo_pool_iova(p, mine[i]);
		for (unsigned k = 0; k < KEPT; k++)
			twice += a == sh->kept[k];
		memset(mine[i], 0xa5, 64);
	}
	CHECK_EQ(twice, 0);
	stats(p, &st);
	CHECK_EQ(st.in_use, KEPT + n);

	/* Its pages untouched, and LATER of them freed by it without error. */
	set(&sh->stage, 2);
	REQUIRE(wait_stage(3, c));
	CHECK_EQ(get(&sh->peer_fails), 0);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, mine[i]), 0);
	free(mine);
	jumbo_pool_flush_cache(p);
	stats(p, &st);
	CHECK_EQ(st.in_use, KEPT - LATER);
	uint64_t peer_pages = st.in_use + st.cached_free;

	/* Killed: all it had comes back, in the reclaim. */
	REQUIRE(kill(sh->peer, SIGKILL) == 0);
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(jumbo_pool_reclaim(p), (long)peer_pages);
	stats(p, &st);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.cached_free, 0);
	if (!check_failures)
		printf("pidns: a live peer in another pid namespace kept "
		       "its %u pages and its cache through two reclaims "
		       "and a drained depot; killed, %llu pages "
		       "reclaimed\n", KEPT, (unsigned long long)peer_pages);
}

/*
 * A peer forks a child that lives on; the peer is killed; this process
 * (a third) reclaims the peer's pages.  The child is reaped here: this
 * process is its subreaper once its parent is gone.
 */
static void test_fork(struct jumbo_pool *p)
{
	struct jumbo_stats st;

	memset(sh, 0, sizeof(*sh));
	REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	fflush(NULL);
	pid_t a = fork();
	REQUIRE(a >= 0);
	if (a == 0) {
		alarm(TEST_HANG_SECONDS);
		/* The peer's child is made once the peer holds its slot
		 * (and its lock's description). */
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		if (!q)
			_exit(1);
		fflush(NULL);
		pid_t k = fork();
		if (k < 0)
			_exit(1);
		if (k == 0) {
			/* Past fork(): the library's handler has closed its
			 * copy of the lock's descriptor.  Until a child has
			 * run that far, the copy still holds the parent's
			 * lock (jumbo_pool(3)), so the test waits for it. */
			set(&sh->child_ready, 1);
			for (;;)
				pause();
		}
		sh->child = k;
		while (!get(&sh->child_ready))
			usleep(1000);
		peer(q, false);
	}
	REQUIRE(wait_stage(1, a));
	CHECK_EQ(get(&sh->peer_fails), 0);
	stats(p, &st);
	CHECK_EQ(st.in_use, KEPT);
	uint64_t peer_pages = st.in_use + st.cached_free;

	REQUIRE(kill(a, SIGKILL) == 0);
	int ws;
	REQUIRE(waitpid(a, &ws, 0) == a);
	CHECK(kill(sh->child, 0) == 0); /* the child lives on */
	CHECK_EQ(jumbo_pool_reclaim(p), (long)peer_pages);
	stats(p, &st);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.cached_free, 0);

	REQUIRE(kill(sh->child, SIGKILL) == 0);
	REQUIRE(waitpid(sh->child, &ws, 0) == sh->child);
	if (!check_failures)
		printf("fork: a killed peer whose child lives on was "
		       "reclaimed by a third process: %llu pages\n",
		       (unsigned long long)peer_pages);
}

static void cleanup(void)
{
	test_named_unlink(name);
}

int main(void)
{
	snprintf(name, sizeof(name), "test-shm-pidns-%d", (int)getpid());
	atexit(cleanup);
	setenv("JUMBO_STAT", "0", 1); /* no thread across the forks */
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(sh != MAP_FAILED);
	struct jumbo_pool *p = test_named_pool(name, MAX_PAGES, MAX_PAGES,
					       CACHE, false);

	test_fork(p);
	test_pidns(p);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_done("shm_pidns");
}
