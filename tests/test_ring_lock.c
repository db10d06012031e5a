/*
 * A ring's handles are told alive by a lock, not by their pid
 * (jumbo_ring(3), "Processes that die"): each handle of a ring with a
 * descriptor holds a lock the kernel drops when its process dies.  So a
 * handle that dies inside an MPMC call, after its reservation and before
 * it fills the slot, is repaired by jumbo_ring_reclaim(r, 0):
 *
 *   pidns  from the test's namespace, the handle being in a pid namespace
 *          of its own (a container sharing the ring), while a live handle
 *          of that namespace caught in its call keeps its slot;
 *   reuse  though its pid already names another, unrelated process (made
 *          so by ns_last_pid, in a pid namespace of the test's own, so
 *          that no other program's pids are touched);
 *   fork   though a fork child of its process lives on; and the child's
 *          close of its copy of the handle left the parent's record;
 *   nofd   a handle that could have no description of its own for its
 *          lock (RLIMIT_NOFILE) works, and is told dead by its pid.
 *
 * The dying handle reserves as ring.c's mpmc_enqueue does, intent and
 * compare-and-swap (white-box: test_ring_wb.h), then kills itself.
 * Root: the first two need new pid and mount namespaces; each says why it
 * is passed over without.
 */
#include "check.h"
#include "test_pidns.h"
#include "test_ring_wb.h"

#include <jumbo/ring.h>

#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 16u

/* Between the test and its children, in an anonymous shared mapping. */
struct shared {
	int stage;        /* how far the children have come */
	pid_t init;       /* the namespace's first process, as seen here */
	pid_t dead;       /* the dying handle's pid, as its namespace sees it */
	pid_t reuser;     /* the process that took that pid after it */
	pid_t child;      /* fork: the dying handle's child */
	int dead_locked;  /* its record said locked */
	int live_locked;
	int reclaimed;    /* reuse: what the reclaim there returned */
	int dead_freed;   /* reuse: and whether the dead record went */
	char skip[160];
};

static struct shared *sh;
static int ring_fd;      /* the current case's ring (a memfd) */
static void *rm;         /* mapped here, for the white-box looks */

static int get(const int *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static void set(int *v, int x)
{
	__atomic_store_n(v, x, __ATOMIC_RELEASE);
}

static _Noreturn void say_skip(const char *what)
{
	snprintf(sh->skip, sizeof(sh->skip), "%s: %s", what, strerror(errno));
	_exit(77);
}

/* A fresh MPMC ring in a memfd, with a handle of the test's. */
static struct jumbo_ring *new_ring(void)
{
	struct jumbo_ring *r = jumbo_ring_create(NULL, SLOTS, JUMBO_RING_MPMC,
						 0600);

	REQUIRE(r);
	ring_fd = jumbo_ring_fd(r);
	rm = mmap(NULL, jumbo_ring_memsize(SLOTS), PROT_READ | PROT_WRITE,
		  MAP_SHARED, ring_fd, 0);
	REQUIRE(rm != MAP_FAILED);
	CHECK_EQ(ring_my_rec(rm)->lock, 1);
	return r;
}

static void drop_ring(struct jumbo_ring *r)
{
	munmap(rm, jumbo_ring_memsize(SLOTS));
	jumbo_ring_close(r);
}

/*
 * In a child with one handle: the next position reserved through it as
 * mpmc_enqueue reserves it, not filled.  *locked: whether its record says
 * locked.
 */
static void reserve_on(int *locked)
{
	struct ring_rec_wb *me = ring_my_rec(rm);

	if (!me)
		_exit(2);
	set(locked, (int)me->lock);
	uint64_t at = __atomic_load_n(ring_tail(rm), __ATOMIC_RELAXED);
	me->ppos = at;
	__atomic_store_n(&me->pn, 1, __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(ring_tail(rm), &at, at + 1, false,
					 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		_exit(3);
}

/* The same through a handle of its own (the inherited descriptor's). */
static void reserve(int *locked)
{
	if (!jumbo_ring_open_fd(ring_fd))
		_exit(2);
	reserve_on(locked);
}

/* A child that reserves and dies in its call; reaped here. */
static pid_t reserve_and_die(void)
{
	fflush(NULL);
	pid_t d = fork();
	if (d == 0) {
		reserve(&sh->dead_locked);
		raise(SIGKILL);
		_exit(4);
	}
	int ws;
	if (d > 0 && waitpid(d, &ws, 0) != d)
		return -1;
	return d;
}

static bool slot_reserved(uint64_t p)
{
	return __atomic_load_n(&ring_seq(rm)[p & (SLOTS - 1)],
			       __ATOMIC_ACQUIRE) == 2 * (uint32_t)p;
}

static bool slot_skipped(uint64_t p)
{
	return __atomic_load_n(&ring_seq(rm)[p & (SLOTS - 1)],
			       __ATOMIC_ACQUIRE) == (2 * (uint32_t)(p + 1) | 1);
}

/* The ring works on: an entry goes through, and it is empty after. */
static void ring_flows(struct jumbo_ring *r)
{
	struct jumbo_ring_ent e = { 0x1000, 4096, 7 }, out[SLOTS];

	while (jumbo_ring_dequeue(r, out, SLOTS) != 0)
		;
	CHECK_EQ(jumbo_ring_enqueue(r, &e, 1), 1);
	CHECK_EQ(jumbo_ring_dequeue(r, out, SLOTS), 1);
	CHECK_EQ(out[0].tag, 7);
	CHECK_EQ(jumbo_ring_count(r), 0);
}

/* pidns ----------------------------------------------------------------- */

/*
 * The namespace's first process: a live handle caught in its call
 * (position 0), then one that dies in its (position 1); then it waits to
 * be killed, and the namespace goes with it.
 */
static void pidns_child(void)
{
	pid_t init = pidns_fork(say_skip);
	if (init == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fflush(NULL);
		pid_t l = fork();
		if (l == 0) {
			reserve(&sh->live_locked);
			set(&sh->stage, 1);
			for (;;)
				pause();
		}
		while (l > 0 && get(&sh->stage) < 1)
			usleep(1000);
		sh->dead = reserve_and_die();
		set(&sh->stage, sh->dead > 0 ? 2 : -1);
		for (;;)
			pause();
	}
	__atomic_store_n(&sh->init, init, __ATOMIC_RELEASE);
	int ws;
	while (waitpid(init, &ws, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(ws) ? WEXITSTATUS(ws) : 0);
}

/* Waits for stage >= want while c (the test's child) runs: false if not. */
static bool wait_stage(int want, pid_t c, const char *what)
{
	while (get(&sh->stage) < want) {
		int ws;
		if (get(&sh->stage) < 0)
			return false;
		if (waitpid(c, &ws, WNOHANG) == c) {
			if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77) {
				printf("%s: passed over: %s\n", what, sh->skip);
				return false;
			}
			REQUIRE(!"a child failed");
		}
		usleep(1000);
	}
	return true;
}

static void test_pidns(void)
{
	struct jumbo_ring *r = new_ring();

	memset(sh, 0, sizeof(*sh));
	pid_t c = pidns_spawn(pidns_child);
	if (!wait_stage(2, c, "pidns")) {
		CHECK(get(&sh->stage) >= 0);
		goto out;
	}
	CHECK_EQ(get(&sh->dead_locked), 1);
	CHECK_EQ(get(&sh->live_locked), 1);
	/* Its slot skipped, the live one's left. */
	CHECK_EQ(jumbo_ring_reclaim(r, 0), 1);
	CHECK(slot_reserved(0));
	CHECK(slot_skipped(1));
	printf("pidns: a handle dead in its call in another pid namespace "
	       "(pid %d there): its slot %s; a live one's there: %s\n",
	       (int)sh->dead, slot_skipped(1) ? "repaired" : "LEFT",
	       slot_reserved(0) ? "left" : "REPAIRED");
	CHECK_EQ(jumbo_ring_reclaim(r, 0), 0);
	CHECK(slot_reserved(0));

	/* The namespace goes, the live handle with it: its slot too. */
	while (!__atomic_load_n(&sh->init, __ATOMIC_ACQUIRE))
		usleep(1000);
	kill(sh->init, SIGKILL);
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK_EQ(jumbo_ring_reclaim(r, 0), 1);
	CHECK(slot_skipped(0));
	ring_flows(r);
out:
	drop_ring(r);
}

/* reuse ----------------------------------------------------------------- */

/*
 * The namespace's first process (pid 1): a handle dies in its call (pid
 * 2), another process takes pid 2, then this one reclaims through a
 * handle of its own, in the dead one's namespace.
 */
static void reuse_child(void)
{
	pid_t init = pidns_fork(say_skip);
	if (init == 0) {
		char last[32];
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sh->dead = reserve_and_die();
		if (sh->dead <= 0)
			_exit(5);
		fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
		snprintf(last, sizeof(last), "%d", (int)sh->dead - 1);
		if (fd < 0 || write(fd, last, strlen(last)) < 0)
			say_skip("/proc/sys/kernel/ns_last_pid");
		close(fd);
		fflush(NULL);
		pid_t u = fork();
		if (u == 0)
			for (;;)
				pause();
		sh->reuser = u;
		struct jumbo_ring *q = jumbo_ring_open_fd(ring_fd);
		if (!q)
			_exit(6);
		sh->reclaimed = jumbo_ring_reclaim(q, 0);
		bool held = false;
		for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++)
			held |= ring_rec(rm, i)->pid == sh->dead;
		sh->dead_freed = !held;
		jumbo_ring_close(q);
		kill(u, SIGKILL);
		set(&sh->stage, 1);
		_exit(0);
	}
	int ws;
	while (waitpid(init, &ws, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(ws) ? WEXITSTATUS(ws) : 1);
}

static void test_reuse(void)
{
	struct jumbo_ring *r = new_ring();

	memset(sh, 0, sizeof(*sh));
	pid_t c = pidns_spawn(reuse_child);
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77) {
		printf("reuse: passed over: %s\n", sh->skip);
		goto out;
	}
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(get(&sh->stage), 1);
	CHECK_EQ(get(&sh->dead_locked), 1);
	CHECK_EQ(sh->reuser, sh->dead);
	CHECK_EQ(sh->reclaimed, 1);
	CHECK_EQ(sh->dead_freed, 1);
	CHECK(slot_skipped(0));
	printf("reuse: a handle dead in its call whose pid (%d) another "
	       "process took: %d slot repaired, its record %s\n",
	       (int)sh->dead, sh->reclaimed,
	       sh->dead_freed ? "freed" : "STILL HELD");
	ring_flows(r);
out:
	drop_ring(r);
}

/* fork ------------------------------------------------------------------ */

/*
 * P takes a handle and forks a child that closes its copy of the handle
 * and goes, then K, which lives on; P dies in its call.  This process, a third, repairs it.  K is
 * reaped here: this process is its subreaper once P is gone.
 */
static void test_fork(void)
{
	struct jumbo_ring *r = new_ring();
	pid_t k = 0;

	memset(sh, 0, sizeof(*sh));
	REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	fflush(NULL);
	pid_t p = fork();
	REQUIRE(p >= 0);
	if (p == 0) {
		alarm(TEST_HANG_SECONDS);
		struct jumbo_ring *q = jumbo_ring_open_fd(ring_fd);
		if (!q)
			_exit(2);
		/* A first child closes its copy and goes: that leaves P's
		 * record. */
		fflush(NULL);
		pid_t kk = fork();
		if (kk == 0) {
			jumbo_ring_close(q);
			_exit(0);
		}
		int ws;
		if (kk < 0 || waitpid(kk, &ws, 0) != kk)
			_exit(5);
		/* The second lives on, its copy open. */
		kk = fork();
		if (kk == 0) {
			/* Past fork(): the handler has closed its copy of
			 * the lock's description (until then the copy holds
			 * P's lock: the test waits for it). */
			set(&sh->stage, 1);
			for (;;)
				pause();
		}
		sh->child = kk;
		while (kk > 0 && get(&sh->stage) < 1)
			usleep(1000);
		set(&sh->stage, 2);
		while (get(&sh->stage) < 3)
			usleep(1000);
		reserve_on(&sh->dead_locked);
		raise(SIGKILL);
		_exit(4);
	}
	while (get(&sh->stage) < 2)
		usleep(1000);
	k = sh->child;
	CHECK(k > 0);
	/* A child closed its copy: P's record is still P's. */
	bool held = false;
	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++)
		held |= ring_rec(rm, i)->pid == p;
	CHECK(held);
	printf("fork: the child's close of its copy of the handle left its "
	       "parent's record %s\n", held ? "held" : "FREED");
	set(&sh->stage, 3);
	int ws;
	REQUIRE(waitpid(p, &ws, 0) == p);
	CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	CHECK_EQ(get(&sh->dead_locked), 1);
	CHECK(k > 0 && kill(k, 0) == 0); /* the child lives on */
	CHECK_EQ(jumbo_ring_reclaim(r, 0), 1);
	CHECK(slot_skipped(0));
	printf("fork: a handle dead in its call whose child lives on: its "
	       "slot %s by a third process\n",
	       slot_skipped(0) ? "repaired" : "LEFT");
	ring_flows(r);
	if (k > 0) {
		kill(k, SIGKILL);
		REQUIRE(waitpid(k, &ws, 0) == k);
	}
	drop_ring(r);
}

/* nofd ------------------------------------------------------------------ */

static void test_nofd(void)
{
	struct jumbo_ring *r = new_ring();

	memset(sh, 0, sizeof(*sh));
	sh->dead_locked = -1;
	fflush(NULL);
	pid_t d = fork();
	REQUIRE(d >= 0);
	if (d == 0) {
		/* The two lowest free descriptors: the handle's dup of the
		 * ring's gets the first, its lock's description would get
		 * the second, which the limit refuses (EMFILE). */
		int a = dup(0), b = dup(0);
		if (a < 0 || b < 0)
			_exit(2);
		close(a);
		close(b);
		struct rlimit rl = { (rlim_t)b, (rlim_t)b };
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(2);
		struct jumbo_ring *q = jumbo_ring_open_fd(ring_fd);
		struct jumbo_ring_ent e = { 0x2000, 4096, 9 };
		if (!q || jumbo_ring_enqueue(q, &e, 1) != 1)
			_exit(3);
		reserve_on(&sh->dead_locked);
		raise(SIGKILL);
		_exit(4);
	}
	int ws;
	REQUIRE(waitpid(d, &ws, 0) == d);
	CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	CHECK_EQ(get(&sh->dead_locked), 0);
	CHECK_EQ(jumbo_ring_reclaim(r, 0), 1);
	CHECK(slot_skipped(1));
	printf("nofd: a handle without a description for its lock worked, "
	       "and dead in its call was repaired by its pid: slot %s\n",
	       slot_skipped(1) ? "repaired" : "LEFT");
	struct jumbo_ring_ent out[SLOTS];
	CHECK_EQ(jumbo_ring_dequeue(r, out, SLOTS), 1);
	CHECK_EQ(out[0].tag, 9);
	ring_flows(r);
	drop_ring(r);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(sh != MAP_FAILED);

	test_fork();
	test_pidns();
	test_reuse();
	test_nofd();
	return check_done("ring_lock");
}
