/*
 * Two reclaims of one dead handle's record, and a new handle that takes
 * the record between them: the slower reclaim must leave the newcomer's
 * record alone.
 *
 * D attaches to an MPMC ring, leaves an intent whose slots are all done
 * in its record, and exits.  A, traced, reclaims: it is single-stepped
 * until D's record shows the first of its clears (its producer intent
 * gone), and held there.  Meanwhile this process reclaims too, and C
 * attaches and waits.  Then A runs on.  A reclaim used to clear the
 * record's fields first and free it (its pid to 0) by a compare-and-swap
 * last, so the second reclaim freed the record under the first one, C
 * took it, and A went on to clear C's fields (its pid namespace, its
 * lock mark: C's death could then no longer be told).  Now a reclaim
 * first claims the record for the freeing (its pid to a value no process
 * has), so another reclaim passes it by and no handle takes it until it
 * is free.
 *
 * Skipped if this process may not trace its child.
 */
#include "check.h"
#include "test_ring_wb.h"

#include <jumbo/ring.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 8u
#define STEPS_MAX 5000000L

static void *rm;
static size_t ring_len;

/* The record of pid, or NULL. */
static struct ring_rec_wb *rec_of(pid_t pid)
{
	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++)
		if (__atomic_load_n(&ring_rec(rm, i)->pid, __ATOMIC_ACQUIRE) ==
		    (int32_t)pid)
			return ring_rec(rm, i);
	return NULL;
}

int main(void)
{
	int ws, go[2], ready[2];
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("JUMBO_STAT", "0", 1); /* no statistics thread in the children */
	ring_len = jumbo_ring_memsize(SLOTS);
	rm = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(rm != MAP_FAILED);
	struct jumbo_ring *r = jumbo_ring_init(rm, ring_len, SLOTS,
					       JUMBO_RING_MPMC);
	REQUIRE(r);
	REQUIRE(pipe(go) == 0 && pipe(ready) == 0);

	/* D: a record with an intent over slots that are all done, dead. */
	fflush(NULL);
	pid_t d = fork();
	REQUIRE(d >= 0);
	if (d == 0) {
		struct jumbo_ring *rd = jumbo_ring_attach_mem(rm, ring_len);
		struct ring_rec_wb *mine = rd ? ring_my_rec(rm) : NULL;
		if (!mine)
			_exit(2);
		__atomic_store_n(&mine->ppos, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&mine->pn, 5, __ATOMIC_RELEASE);
		_exit(0);
	}
	REQUIRE(waitpid(d, &ws, 0) == d && WIFEXITED(ws) &&
		WEXITSTATUS(ws) == 0);
	struct ring_rec_wb *dr = rec_of(d);
	REQUIRE(dr && dr->pn == 5);

	/* A: a reclaim, stopped before it starts. */
	fflush(NULL);
	pid_t a = fork();
	REQUIRE(a >= 0);
	if (a == 0) {
		struct jumbo_ring *ra = jumbo_ring_attach_mem(rm, ring_len);
		if (!ra)
			_exit(2);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(77);
		raise(SIGSTOP);
		jumbo_ring_reclaim(ra, 0);
		jumbo_ring_close(ra);
		_exit(0);
	}
	REQUIRE(waitpid(a, &ws, 0) == a);
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77) {
		printf("ring_free: skipped, this process may not trace its "
		       "child\n");
		return 77;
	}
	REQUIRE(WIFSTOPPED(ws));

	/* Stepped until it has begun on D's record. */
	long steps = 0;
	while (__atomic_load_n(&dr->pn, __ATOMIC_ACQUIRE) != 0 &&
	       steps++ < STEPS_MAX) {
		REQUIRE(ptrace(PTRACE_SINGLESTEP, a, NULL, NULL) == 0);
		REQUIRE(waitpid(a, &ws, 0) == a && WIFSTOPPED(ws));
	}
	REQUIRE(steps < STEPS_MAX);
	printf("ring_free: the first reclaim held after %ld steps, D's "
	       "record's pid reads %d\n", steps, (int)dr->pid);

	/* The second reclaim, and a newcomer. */
	jumbo_ring_reclaim(r, 0);
	fflush(NULL);
	pid_t cpid = fork();
	REQUIRE(cpid >= 0);
	if (cpid == 0) {
		struct jumbo_ring *rc = jumbo_ring_attach_mem(rm, ring_len);
		c = rc ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(3);
		_exit(0);
	}
	REQUIRE(read(ready[0], &c, 1) == 1 && c == 'y');
	struct ring_rec_wb *cr = rec_of(cpid);
	REQUIRE(cr);
	uint64_t ns = __atomic_load_n(&cr->pidns, __ATOMIC_ACQUIRE);
	CHECK(ns != 0);

	/* The first reclaim runs on; C's record must be as C made it. */
	REQUIRE(ptrace(PTRACE_DETACH, a, NULL, NULL) == 0);
	REQUIRE(waitpid(a, &ws, 0) == a && WIFEXITED(ws) &&
		WEXITSTATUS(ws) == 0);
	CHECK_EQ(rec_of(cpid), cr);
	CHECK_EQ(__atomic_load_n(&cr->pidns, __ATOMIC_ACQUIRE), ns);
	/* D's record is free again, and none is left half freed. */
	CHECK(rec_of(d) == NULL);
	CHECK(rec_of(-1) == NULL);

	REQUIRE(write(go[1], "g", 1) == 1);
	REQUIRE(waitpid(cpid, &ws, 0) == cpid);
	jumbo_ring_close(r);
	munmap(rm, ring_len);
	return check_done("ring_free");
}
