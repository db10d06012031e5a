/*
 * A ring's handle in another pid namespace is not taken for dead by its
 * pid.  A ring's repair (jumbo_ring_reclaim, and a pool's reclaim) judges
 * the handles' records by their pids; a handle in a container sharing the
 * ring has a pid of its own namespace, which here may name no process: its
 * record was freed while it lived (and its claims on slots with it).  And a
 * dead handle of this namespace is still repaired.
 *
 * Needs root (new pid and mount namespaces); skips without.
 */
#include "check.h"
#include "test_pidns.h"
#include "test_ring_wb.h"

#include <jumbo/ring.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 64u

struct shared {
	int stage;         /* 1: the peer has its handle */
	pid_t free_pid;    /* a pid no process here has: the peer's there */
	pid_t peer_ns_pid; /* the peer's pid in its namespace */
	pid_t init;        /* the namespace's first process, here */
	char skip[160];
};

static struct shared *sh;
static void *ring_mem;

static _Noreturn void say_skip(const char *what)
{
	snprintf(sh->skip, sizeof(sh->skip), "%s: %s", what, strerror(errno));
	_exit(77);
}

/* In the new namespace: a handle on the ring, then wait to be killed. */
static void peer(void)
{
	struct jumbo_ring *r = jumbo_ring_attach_mem(ring_mem,
						     jumbo_ring_memsize(SLOTS));

	if (!r)
		_exit(2);
	sh->peer_ns_pid = getpid();
	__atomic_store_n(&sh->stage, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
}

/*
 * The child: new pid and mount namespaces (pidns_fork), whose first
 * process (pid 1 there) sets the namespace's last pid so that the peer it
 * forks gets free_pid - a number no process has in the test's namespace,
 * as a container's process may have.
 */
static void ns_child(void)
{
	pid_t init = pidns_fork(say_skip);
	if (init == 0) {
		char last[32];
		int fd;

		/* Killed with the child, it takes its namespace along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
		snprintf(last, sizeof(last), "%d", (int)sh->free_pid - 1);
		if (fd < 0 || write(fd, last, strlen(last)) < 0)
			say_skip("/proc/sys/kernel/ns_last_pid");
		close(fd);
		pid_t p = fork();
		if (p == 0)
			peer();
		int ws;
		while (p > 0 && waitpid(p, &ws, 0) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	__atomic_store_n(&sh->init, init, __ATOMIC_RELEASE);
	int ws;
	while (waitpid(init, &ws, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 0 : 1);
}

/* A pid near the top that names no process here. */
static pid_t free_pid(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	int max = 32768;

	if (f) {
		if (fscanf(f, "%d", &max) != 1)
			max = 32768;
		fclose(f);
	}
	for (pid_t p = max - 2; p > max - 1000; p--)
		if (kill(p, 0) != 0 && errno == ESRCH)
			return p;
	return 0;
}

static struct ring_rec_wb *rec_of(pid_t pid)
{
	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++)
		if (__atomic_load_n(&ring_rec(ring_mem, i)->pid,
				    __ATOMIC_RELAXED) == (int32_t)pid)
			return ring_rec(ring_mem, i);
	return NULL;
}

/* The peer in its namespace: its record outlives a repair. */
static void foreign(struct jumbo_ring *r)
{
	memset(sh, 0, sizeof(*sh));
	sh->free_pid = free_pid();
	if (!sh->free_pid)
		skip("no free pid near pid_max to give the peer");
	pid_t c = pidns_spawn(ns_child);
	while (!__atomic_load_n(&sh->stage, __ATOMIC_ACQUIRE)) {
		int ws;
		if (waitpid(c, &ws, WNOHANG) == c) {
			if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77)
				skip("a ring's handle in a pid namespace of its "
				     "own: %s", sh->skip);
			REQUIRE(!"the peer in its pid namespace failed");
		}
		usleep(1000);
	}
	printf("foreign: the peer is pid %d in its namespace, which names no "
	       "process here\n", (int)sh->peer_ns_pid);
	CHECK_EQ(sh->peer_ns_pid, sh->free_pid);
	CHECK(kill(sh->peer_ns_pid, 0) != 0 && errno == ESRCH);
	CHECK(rec_of(sh->peer_ns_pid) != NULL);

	CHECK(jumbo_ring_reclaim(r, 0) >= 0);
	CHECK(rec_of(sh->peer_ns_pid) != NULL);
	printf("foreign: after a repair its record is %s\n",
	       rec_of(sh->peer_ns_pid) ? "still its own" : "FREED");

	/* The namespace goes with its first process, the peer with it; the
	 * child reaps it and ends. */
	while (!__atomic_load_n(&sh->init, __ATOMIC_ACQUIRE))
		usleep(1000);
	kill(sh->init, SIGKILL);
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
}

/* A handle of this namespace that dies is repaired: its record freed. */
static void local(struct jumbo_ring *r)
{
	int go[2];

	REQUIRE(pipe(go) == 0);
	fflush(NULL);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		struct jumbo_ring *q = jumbo_ring_attach_mem(
			ring_mem, jumbo_ring_memsize(SLOTS));
		char ch = q ? 1 : 0;
		if (write(go[1], &ch, 1) != 1 || !q)
			_exit(2);
		for (;;)
			pause();
	}
	char ch = 0;
	REQUIRE(read(go[0], &ch, 1) == 1 && ch == 1);
	CHECK(rec_of(c) != NULL);
	kill(c, SIGKILL);
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(jumbo_ring_reclaim(r, 0) >= 0);
	CHECK(rec_of(c) == NULL);
	printf("local: a dead handle of this namespace: its record %s\n",
	       rec_of(c) ? "STILL HELD" : "freed");
	close(go[0]);
	close(go[1]);
}

int main(void)
{
	size_t len = jumbo_ring_memsize(SLOTS);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ring_mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(sh != MAP_FAILED && ring_mem != MAP_FAILED);
	struct jumbo_ring *r = jumbo_ring_init(ring_mem, len, SLOTS,
					       JUMBO_RING_MPMC);
	REQUIRE(r);

	local(r);
	foreign(r);
	jumbo_ring_close(r);
	return check_done("ring_pidns");
}
