/*
 * jumbo_pool_pin: a pool whose memory a device holds keeps every page's
 * memory where it is.  While pinned, trim gives nothing back (EBUSY) and
 * the memory stays committed; zero-copy delivery copies instead of
 * moving; a steal is refused and changes nothing; a pin waits for a trim
 * already under way (raced from another thread: the committed memory
 * never shrinks between a pin's return and its unpin); unpins must match
 * pins.  In a named pool, one process's pin stops every process's trim
 * until it unpins or dies.  (test_rx_xdp checks the same with a real
 * UMEM, which the kernel pins.)
 *
 * Usage: test_pin [seed]
 */
#include "test_named.h"

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGES 256u

static char name[40];

/* Every page allocated, written, freed: all free in the depot. */
static void cycle(struct jumbo_pool *p)
{
	static void *v[PAGES];
	unsigned n = 0;

	while (n < PAGES && (v[n] = jumbo_pool_alloc(p)) != NULL)
		memset(v[n++], 0x77, 4096);
	REQUIRE(n == PAGES);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	jumbo_pool_flush_cache(p);
}

static struct jumbo_pool *private_pool(void)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.max_pages = PAGES;
	pp.reserve_pages = 0;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	return p;
}

static void trim_refused(void)
{
	struct jumbo_pool *p = private_pool();

	cycle(p);
	uint64_t before = test_stats(p).committed;
	CHECK_EQ(jumbo_pool_pin(p), 0);
	CHECK_EQ(jumbo_pool_pin(p), 0); /* counted */
	CHECK_EQ(jumbo_pool_trim(p, 0), -EBUSY);
	CHECK_EQ(test_stats(p).committed, before);
	CHECK_EQ(jumbo_pool_unpin(p), 0);
	CHECK_EQ(jumbo_pool_trim(p, 0), -EBUSY); /* one pin left */
	CHECK_EQ(jumbo_pool_unpin(p), 0);
	CHECK_EQ(jumbo_pool_unpin(p), -EINVAL);
	long got = jumbo_pool_trim(p, 0);
	CHECK(got > 0);
	CHECK(test_stats(p).committed < before);
	CHECK_EQ(jumbo_pool_pin(NULL), -EINVAL);
	CHECK_EQ(jumbo_pool_unpin(NULL), -EINVAL);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("trim: refused while pinned (twice, then once), %ld pages "
	       "given back after the last unpin\n", got);
}

/* A steal of a pinned pool's page is refused; the page stays the
 * caller's, with its data. */
static void steal_refused(void)
{
	struct jumbo_pool *p = private_pool();
	char *a = jumbo_pool_alloc(p);

	REQUIRE(a);
	memset(a, 0x42, 4096);
	CHECK_EQ(jumbo_pool_pin(p), 0);
	CHECK_EQ(jumbo_pool_steal(p, a, 0), -EBUSY);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, a), NULL, NULL),
		 JUMBO_PG_ALLOC);
	CHECK(a[0] == 0x42 && a[4095] == 0x42);
	CHECK_EQ(jumbo_pool_unpin(p), 0);
	CHECK_EQ(jumbo_pool_steal(p, a, 0), 0); /* re-backed, free */
	CHECK_EQ(test_stats(p).in_use, 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("steal: refused while pinned, the page kept; done after the "
	       "unpin\n");
}

/* A delivery asked to move copies from a pinned pool: the pool's page
 * keeps its memory and data. */
static void delivery_copies(void)
{
	struct jumbo_pool *p = private_pool();
	size_t ps = 4096;
	char *dst = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct jumbo_deliver_stats st;

	REQUIRE(dst != MAP_FAILED);
	for (int pinned = 1; pinned >= 0; pinned--) {
		struct mbuf *m = m_getjumbo(p, 2 * ps, NULL);
		REQUIRE(m && m->m_next);
		char *slot = m->m_data;
		memset(m->m_data, 0x11, ps);
		memset(m->m_next->m_data, 0x22, ps);
		if (pinned)
			CHECK_EQ(jumbo_pool_pin(p), 0);
		CHECK_EQ(jumbo_deliver(m, dst, 2 * ps, JUMBO_DELIVER_MOVE, &st),
			 0);
		CHECK(dst[0] == 0x11 && dst[ps] == 0x22);
		if (pinned) {
			CHECK_EQ(st.moved, 0);
			CHECK_EQ(st.copied, 2 * ps);
			CHECK(slot[0] == 0x11); /* the pool's page kept */
			CHECK_EQ(jumbo_pool_unpin(p), 0);
		} else {
			/* Unpinned, the same delivery moves (the control). */
			CHECK_EQ(st.moved, 2 * ps);
		}
	}
	munmap(dst, 4 * ps);
	CHECK_EQ(test_stats(p).in_use, 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("delivery: copied while pinned, moved after\n");
}

/*
 * A pin waits for a trim under way.  A thread trims without pause; the
 * main thread pins, reads the committed pages, cycles the pool's pages
 * (which commits whatever trim took), reads again and unpins.  Between
 * its pin and its unpin nothing may be given back: committed never
 * shrinks there.
 */
static volatile int stop;

static void *trimmer(void *arg)
{
	struct jumbo_pool *p = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		(void)jumbo_pool_trim(p, 0);
	return NULL;
}

static void pin_waits(void)
{
	struct jumbo_pool *p = private_pool();
	pthread_t t;
	unsigned shrank = 0, rounds = 2000;

	REQUIRE(pthread_create(&t, NULL, trimmer, p) == 0);
	for (unsigned r = 0; r < rounds; r++) {
		CHECK_EQ(jumbo_pool_pin(p), 0);
		uint64_t a = test_stats(p).committed;
		void *v[16];
		for (int i = 0; i < 16; i++)
			v[i] = jumbo_pool_alloc(p);
		for (int i = 0; i < 16; i++)
			if (v[i])
				jumbo_pool_free(p, v[i]);
		jumbo_pool_flush_cache(p);
		uint64_t b = test_stats(p).committed;
		shrank += b < a;
		CHECK_EQ(jumbo_pool_unpin(p), 0);
		cycle(p);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	CHECK_EQ(shrank, 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("pin waits: %u rounds of pin, cycle, unpin against a trimming "
	       "thread; memory given back while pinned: %u times\n", rounds,
	       shrank);
}

/* A child that attaches to the named pool, pins it and waits to be
 * killed; returned once its pin is made. */
static pid_t pinning_child(void)
{
	int up[2];
	char c;

	REQUIRE(pipe(up) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(TEST_HANG_SECONDS);
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		if (!q || jumbo_pool_pin(q) != 0 || write(up[1], "p", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(up[1]);
	REQUIRE(read(up[0], &c, 1) == 1);
	close(up[0]);
	return pid;
}

/* Named: a child's pin stops the parent's trim, until the child dies. */
static void named(void)
{
	struct jumbo_pool *p = test_named_pool(name, PAGES, PAGES, 16, false);
	int ws;

	cycle(p);
	pid_t pid = pinning_child();
	uint64_t before = test_stats(p).committed;
	CHECK_EQ(jumbo_pool_trim(p, 0), -EBUSY);
	CHECK_EQ(test_stats(p).committed, before);
	CHECK_EQ(jumbo_pool_unpin(p), -EINVAL); /* not this process's pin */
	kill(pid, SIGKILL);
	REQUIRE(waitpid(pid, &ws, 0) == pid);
	CHECK(jumbo_pool_reclaim(p) >= 0);
	long got = jumbo_pool_trim(p, 0);
	CHECK_EQ(got, (long)PAGES);
	/* Its own pin and unpin. */
	cycle(p);
	CHECK_EQ(jumbo_pool_pin(p), 0);
	CHECK_EQ(jumbo_pool_trim(p, 0), -EBUSY);
	CHECK_EQ(jumbo_pool_unpin(p), 0);
	CHECK_EQ(jumbo_pool_trim(p, 0), (long)PAGES);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("named: another process's pin refused this one's trim until it "
	       "was killed (then %ld pages given back)\n", got);
}

/*
 * Named: a pinning process killed; nobody has noticed yet (no reclaim, no
 * allocation since).  Its pins end with it: the next trim finds it dead
 * and gives the pages back, not EBUSY.
 */
static void named_dead_pinner(void)
{
	struct jumbo_pool *p = test_named_pool(name, PAGES, PAGES, 16, false);
	int ws;

	cycle(p);
	pid_t pid = pinning_child();
	CHECK_EQ(jumbo_pool_trim(p, 0), -EBUSY);
	kill(pid, SIGKILL);
	REQUIRE(waitpid(pid, &ws, 0) == pid);
	long got = jumbo_pool_trim(p, 0);
	CHECK_EQ(got, (long)PAGES);
	/* One that leaves (destroy) still pinned: its pins go with it. */
	cycle(p);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		_exit(q && jumbo_pool_pin(q) == 0 &&
		      jumbo_pool_trim(q, 0) == -EBUSY &&
		      jumbo_pool_destroy(q) == 0 ? 0 : 1);
	}
	REQUIRE(waitpid(pid, &ws, 0) == pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(jumbo_pool_trim(p, 0), (long)PAGES);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("named, dead pinner: the trim after its death gave back %ld "
	       "pages, no reclaim asked for; a pinner's destroy ends its "
	       "pins too\n", got);
}

/*
 * A shared (memfd) pool's fork child is detached: its trims would punch
 * the parent's memory and are refused, and the parent's trims punch the
 * memory it shares.  A pin there could not keep the pages: it is refused
 * too (EXDEV, as in a named pool's child), not a 0 that holds nothing.
 */
static void detached_child(void)
{
	struct jumbo_pool_params pp;
	int ws;

	jumbo_pool_params_init(&pp);
	pp.flags = JUMBO_POOL_SHARED;
	pp.max_pages = PAGES;
	pp.reserve_pages = 0;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	cycle(p);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(TEST_HANG_SECONDS);
		int r = jumbo_pool_pin(p);
		_exit(r == -EXDEV ? 0 : r == 0 ? 1 : 2);
	}
	REQUIRE(waitpid(pid, &ws, 0) == pid);
	CHECK(WIFEXITED(ws));
	CHECK_EQ(WEXITSTATUS(ws), 0);
	CHECK_EQ(jumbo_pool_trim(p, 0), (long)PAGES);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("detached child: its pin of a shared pool refused (EXDEV)\n");
}

/*
 * A pin waits for a steal or a zero-copy delivery under way, as for a
 * trim: such a move checks the pin first and gives the page's memory
 * away after (madvise, mremap), so a device registered in between would
 * keep the old page while the slot got a new one.  A child's thread is
 * stopped (ptrace) at the entry of that system call; another of its
 * threads pins: the pin must not return before the move is done.
 */
struct pinner {
	struct jumbo_pool *p;
	int go, up;
};

static void *pinner(void *arg)
{
	struct pinner *a = arg;
	char c;

	if (read(a->go, &c, 1) != 1 || jumbo_pool_pin(a->p) != 0 ||
	    write(a->up, "p", 1) != 1 || jumbo_pool_unpin(a->p) != 0)
		_exit(5);
	return NULL;
}

static void move_in_flight(bool deliver)
{
#if defined(__x86_64__)
	int go[2], up[2], ws;
	char c;

	REQUIRE(pipe(go) == 0 && pipe(up) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(TEST_HANG_SECONDS);
		struct jumbo_pool *p = private_pool();
		struct mbuf *m = deliver ? m_getjumbo(p, 4096, NULL) : NULL;
		char *a = deliver ? (m ? m->m_data : NULL) : jumbo_pool_alloc(p);
		char *dst = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct pinner arg = { p, go[0], up[1] };
		struct jumbo_deliver_stats st;
		pthread_t t;
		int r;

		if (!a || dst == MAP_FAILED)
			_exit(2);
		memset(a, 0x42, 4096);
		if (pthread_create(&t, NULL, pinner, &arg) != 0 ||
		    ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(3);
		raise(SIGSTOP);
		r = deliver ? jumbo_deliver(m, dst, 4096, JUMBO_DELIVER_MOVE,
					    &st)
			    : jumbo_pool_steal(p, a, 0);
		pthread_join(t, NULL);
		_exit(r == 0 && (!deliver || dst[0] == 0x42) ? 0 : 4);
	}
	close(go[0]);
	close(up[1]);
	REQUIRE(waitpid(pid, &ws, __WALL) == pid && WIFSTOPPED(ws));
	/* To the entry (rax -ENOSYS) of the call that gives the page away. */
	for (;;) {
		struct user_regs_struct rg;

		REQUIRE(ptrace(PTRACE_SYSCALL, pid, NULL, NULL) == 0);
		REQUIRE(waitpid(pid, &ws, __WALL) == pid && WIFSTOPPED(ws));
		REQUIRE(ptrace(PTRACE_GETREGS, pid, NULL, &rg) == 0);
		if (rg.rax != (unsigned long long)-ENOSYS)
			continue;
		if (deliver ? rg.orig_rax == SYS_mremap
			    : rg.orig_rax == SYS_madvise && rg.rdx == MADV_DONTNEED)
			break;
	}
	REQUIRE(write(go[1], "g", 1) == 1);
	struct pollfd pf = { .fd = up[0], .events = POLLIN };
	int early = poll(&pf, 1, 1000); /* 1: the pin returned meanwhile */
	CHECK_EQ(early, 0);
	REQUIRE(ptrace(PTRACE_DETACH, pid, NULL, NULL) == 0);
	REQUIRE(read(up[0], &c, 1) == 1);
	REQUIRE(waitpid(pid, &ws, 0) == pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	close(go[1]);
	close(up[0]);
	printf("%s in flight: a pin %s for it\n",
	       deliver ? "delivery" : "steal",
	       early ? "returned without waiting" : "waited");
#else
	(void)deliver;
	printf("in flight: x86-64 only (registers read by ptrace)\n");
#endif
}

/*
 * The default pool (jumbo(9)) pinned: jumbo_pg_steal returns nothing, so
 * a steal the pin refuses aborts, saying so, as a steal of a held page
 * does (jumbo_pool(3), Pins).  In a child, whose standard error is kept.
 */
static void seed_pinned(void)
{
	int ws, err[2];
	char buf[512] = "";

	REQUIRE(pipe(err) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		dup2(err[1], 2);
		if (jumbo_vm_init() != 1)
			_exit(77);
		vm_page_t pg = jumbo_pg_alloc();
		if (!pg || jumbo_pool_pin(jumbo_default_pool()) != 0)
			_exit(2);
		jumbo_pg_steal(pg);
		_exit(0);
	}
	close(err[1]);
	ssize_t k = read(err[0], buf, sizeof(buf) - 1);
	buf[k > 0 ? k : 0] = 0;
	close(err[0]);
	REQUIRE(waitpid(pid, &ws, 0) == pid);
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77) {
		printf("default pool: skipped (jumbo_vm_init failed)\n");
		return;
	}
	CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT);
	CHECK(strstr(buf, "jumbo_pg_steal") != NULL);
	CHECK(strstr(buf, "pinned") != NULL); /* not "held" */
	printf("default pool pinned: jumbo_pg_steal aborted, saying: %.*s\n",
	       (int)strcspn(buf, "\n"), buf);
}

/*
 * A private pool's fork child: the parent's pins are the parent's (the
 * kernel gives the child copies of pinned pages), so the child trims and
 * moves pages as if nothing were pinned, while the parent stays pinned.
 */
static void private_child(void)
{
	struct jumbo_pool *p = private_pool();
	int ws;

	cycle(p);
	CHECK_EQ(jumbo_pool_pin(p), 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(TEST_HANG_SECONDS);
		long r = jumbo_pool_trim(p, 0);
		int u = jumbo_pool_unpin(p);
		_exit(r > 0 && u == -EINVAL ? 0 : r == -EBUSY ? 1 : 2);
	}
	REQUIRE(waitpid(pid, &ws, 0) == pid);
	CHECK(WIFEXITED(ws));
	CHECK_EQ(WEXITSTATUS(ws), 0);
	CHECK_EQ(jumbo_pool_trim(p, 0), -EBUSY); /* the parent's pin */
	CHECK_EQ(jumbo_pool_unpin(p), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("private child: trims in a fork child of a pinned pool (the "
	       "parent's pin stays the parent's)\n");
}

static void cleanup(void)
{
	test_named_unlink(name);
}

int main(void)
{
	/* No statistics thread: move_in_flight forks, then starts one
	 * (ThreadSanitizer refuses threads after a multi-threaded fork). */
	setenv("JUMBO_STAT", "0", 1);
	snprintf(name, sizeof(name), "test-pin-%d", (int)getpid());
	atexit(cleanup);
	trim_refused();
	steal_refused();
	delivery_copies();
	pin_waits();
	named();
	move_in_flight(false);
	move_in_flight(true);
	named_dead_pinner();
	detached_child();
	private_child();
	seed_pinned();
	return check_done("pin");
}
