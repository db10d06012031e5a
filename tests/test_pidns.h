/*
 * What the tests of peers in another pid namespace share: such a peer is
 * a process in a container sharing /dev/shm (a pool's) or memory (a
 * ring's) with this one.  Header only, like check.h.
 */
#ifndef JUMBO_TEST_PIDNS_H
#define JUMBO_TEST_PIDNS_H

#include "check.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * In a child of the test: new pid and mount namespaces (the mounts made
 * private, so that the new namespace's /proc stays in it), then a fork.
 * Returns 0 in the new namespace's first process (pid 1 there) with that
 * namespace's /proc mounted, and that process's pid (in the caller's
 * namespace) in the caller, which reaps it.  A refusal (no root, no
 * namespaces) calls fail(what), which does not return.
 */
static inline pid_t pidns_fork(void (*fail)(const char *what))
{
	pid_t g;

	if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0)
		fail("unshare(CLONE_NEWPID | CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		fail("mount(/, MS_REC | MS_PRIVATE)");
	g = fork();
	if (g < 0)
		fail("fork in the new pid namespace");
	if (g == 0 && mount("proc", "/proc", "proc",
			    MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fail("mount(proc) in the new pid namespace");
	return g;
}

/*
 * The test's child that makes the namespace: forked, with the test's hang
 * alarm, running child() (which calls pidns_fork and does not return).
 * Its pid.
 */
static inline pid_t pidns_spawn(void (*child)(void))
{
	fflush(NULL);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		alarm(TEST_HANG_SECONDS);
		child();
		_exit(1);
	}
	return c;
}

#endif
