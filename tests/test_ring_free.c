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
 * Then a reclaimer killed inside the freeing (stopped there, then sent
 * SIGKILL), on a ring in caller memory (handles told alive by their pid)
 * and on one with a descriptor (by their lock): a reclaim in another
 * process must finish the freeing, so that the ring takes its full
 * JUMBO_RING_MAX_HANDLES handles again.  The record used to stay "being
 * freed" for the ring's life, one handle fewer.  And the intent left in
 * such a record is a dead one's (stale_intent); a freer whose record has
 * a new holder is gone (freer_replaced).
 *
 * Skipped if this process may not trace its child.
 */
#include "check.h"
#include "test_ring_wb.h"

#include <jumbo/ring.h>

#include <signal.h>
#include <stdbool.h>
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

/* Records being freed (a negative pid). */
static unsigned recs_freeing(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++)
		n += __atomic_load_n(&ring_rec(rm, i)->pid,
				     __ATOMIC_ACQUIRE) < 0;
	return n;
}

/* A new handle on the ring: by fd, or in rm if fd < 0. */
static struct jumbo_ring *attach(int fd)
{
	return fd >= 0 ? jumbo_ring_open_fd(fd) :
			 jumbo_ring_attach_mem(rm, ring_len);
}

/*
 * D: a child that attaches, leaves an intent whose slots are all done in
 * its record, and exits.  Its record (*dp: its pid).
 */
static struct ring_rec_wb *dead_holder(int fd, pid_t *dp)
{
	int ws;

	fflush(NULL);
	pid_t d = fork();
	REQUIRE(d >= 0);
	if (d == 0) {
		struct ring_rec_wb *mine = attach(fd) ? ring_my_rec(rm) : NULL;
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
	*dp = d;
	return dr;
}

/*
 * A: a child that attaches and reclaims, traced, stopped before it
 * starts; 0 if it may not be traced (it has exited then).
 */
static pid_t reclaimer(int fd)
{
	int ws;

	fflush(NULL);
	pid_t a = fork();
	REQUIRE(a >= 0);
	if (a == 0) {
		struct jumbo_ring *ra = attach(fd);
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
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77)
		return 0;
	REQUIRE(WIFSTOPPED(ws));
	return a;
}

/*
 * Single-step A until it has claimed D's record for the freeing (its pid
 * negative: taken) or begun to clear it (its producer intent gone).
 */
static long step_until(pid_t a, struct ring_rec_wb *dr, bool taken)
{
	long steps = 0;
	int ws;

	for (;;) {
		bool there = taken ?
			__atomic_load_n(&dr->pid, __ATOMIC_ACQUIRE) < 0 :
			__atomic_load_n(&dr->pn, __ATOMIC_ACQUIRE) == 0;
		if (there || steps >= STEPS_MAX)
			break;
		REQUIRE(ptrace(PTRACE_SINGLESTEP, a, NULL, NULL) == 0);
		REQUIRE(waitpid(a, &ws, 0) == a && WIFSTOPPED(ws));
		steps++;
	}
	REQUIRE(steps < STEPS_MAX);
	return steps;
}

/*
 * The freeing of D's record by A, held inside, with a second reclaim and a
 * newcomer meanwhile (the comment at the top).  false if A may not be
 * traced.
 */
static bool second_reclaim(struct jumbo_ring *r)
{
	int ws, go[2], ready[2];
	pid_t d;
	char c;

	REQUIRE(pipe(go) == 0 && pipe(ready) == 0);
	struct ring_rec_wb *dr = dead_holder(-1, &d);
	pid_t a = reclaimer(-1);
	if (a == 0)
		return false;
	long steps = step_until(a, dr, false);
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
	CHECK_EQ(recs_freeing(), 0);

	REQUIRE(write(go[1], "g", 1) == 1);
	REQUIRE(waitpid(cpid, &ws, 0) == cpid);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
	return true;
}

/*
 * A reclaimer killed inside the freeing of D's record, just past its
 * claim; then a reclaim here.  fd: the ring's (its handles go by their
 * lock), or -1 (in rm, by their pid).  false if A may not be traced.
 */
static bool killed_freer(struct jumbo_ring *r, int fd, const char *what)
{
	struct jumbo_ring *h[JUMBO_RING_MAX_HANDLES];
	unsigned n = 0;
	pid_t d;
	int ws;

	/*
	 * With a descriptor, A attaches first: its record comes before D's,
	 * and the reclaim below frees it before it meets D's (whose freer's
	 * record is then free); else after, and still held by dead A.
	 */
	pid_t a = fd >= 0 ? reclaimer(fd) : 0;
	struct ring_rec_wb *dr = dead_holder(fd, &d);
	if (fd < 0)
		a = reclaimer(fd);
	if (a == 0)
		return false;
	struct ring_rec_wb *ar = rec_of(a);
	REQUIRE(ar);
	long steps = step_until(a, dr, true);
	int32_t mark = __atomic_load_n(&dr->pid, __ATOMIC_ACQUIRE);
	unsigned ai = 0; /* its index (records are a line apart) */
	while (ring_rec(rm, ai) != ar)
		ai++;
	printf("ring_free: %s: the reclaimer (record %u) killed after %ld "
	       "steps, D's record's pid reads %d\n", what, ai, steps,
	       (int)mark);
	/* Signed with the freer's record and claim (ring.c's REC_FREER). */
	CHECK_EQ(mark, ring_freer(ai, ar->gen));
	REQUIRE(kill(a, SIGKILL) == 0);
	REQUIRE(waitpid(a, &ws, 0) == a && WIFSIGNALED(ws));

	/* Another process's reclaim finishes the freeing... */
	jumbo_ring_reclaim(r, 0);
	CHECK(rec_of(d) == NULL);
	CHECK(rec_of(a) == NULL);
	CHECK_EQ(recs_freeing(), 0);
	/* ...and the ring takes its full number of handles again. */
	while (n < JUMBO_RING_MAX_HANDLES && (h[n] = attach(fd)) != NULL)
		n++;
	CHECK_EQ(n + 1, JUMBO_RING_MAX_HANDLES); /* r holds one */
	while (n > 0)
		jumbo_ring_close(h[--n]);
	return true;
}

/*
 * A record left being freed by a reclaimer killed before it cleared the
 * dead holder's intent, which names a slot reserved since by a producer
 * that died before filling it (the dead holder's reserving CAS had lost
 * to that one's).  The intent is a dead one's: the slot must be repaired
 * at once, not kept for a live handle's.  Made by hand (white box): the
 * slot of position 0 reserved and never filled, record 5 being freed by
 * the holder of record 6, which is free (the freer is gone).
 */
static void stale_intent(void)
{
	struct ring_rec_wb *x = ring_rec(rm, 5);
	struct jumbo_ring_ent e = { .iova = 4096, .len = 1 }, got;
	struct jumbo_ring *r = jumbo_ring_init(rm, ring_len, SLOTS,
					       JUMBO_RING_MPMC);

	REQUIRE(r);
	__atomic_store_n(ring_tail(rm), 1, __ATOMIC_RELEASE);
	x->ppos = 0;
	x->pn = 1;
	__atomic_store_n(&x->pid, ring_freer(6, 0), __ATOMIC_RELEASE);
	int n = jumbo_ring_reclaim(r, 0);
	printf("ring_free: a slot under a record being freed: %d repaired\n",
	       n);
	CHECK_EQ(n, 1);
	CHECK_EQ(recs_freeing(), 0);
	CHECK_EQ(jumbo_ring_enqueue(r, &e, 1), 1);
	CHECK_EQ(jumbo_ring_dequeue(r, &got, 1), 1);
	jumbo_ring_close(r);
}

/*
 * A record being freed by a handle whose record has been given back and
 * claimed anew by a live one: the freer is gone all the same, and the
 * freeing is taken over at once, not when the newcomer goes.  White box:
 * record 5 being freed by the holder of record 1 by its previous claim;
 * record 1 is held now by a live handle of this process.
 */
static void freer_replaced(void)
{
	struct ring_rec_wb *x = ring_rec(rm, 5), *one = ring_rec(rm, 1);
	struct jumbo_ring *r = jumbo_ring_init(rm, ring_len, SLOTS,
					       JUMBO_RING_MPMC);
	struct jumbo_ring *h = jumbo_ring_attach_mem(rm, ring_len);

	REQUIRE(r && h);
	REQUIRE(one->pid == (int32_t)getpid() && one->gen == 1);
	x->ppos = 0;
	x->pn = 1;
	__atomic_store_n(&x->pid, ring_freer(1, 0), __ATOMIC_RELEASE);
	jumbo_ring_reclaim(r, 0);
	printf("ring_free: a record being freed by a previous holder of a "
	       "live one's record: its pid reads %d after a reclaim\n",
	       (int)x->pid);
	CHECK_EQ(__atomic_load_n(&x->pid, __ATOMIC_ACQUIRE), 0);
	CHECK_EQ(x->pn, 0);
	/* The same holder, by its claim: alive, the freeing is its own. */
	__atomic_store_n(&x->pid, ring_freer(1, 1), __ATOMIC_RELEASE);
	jumbo_ring_reclaim(r, 0);
	CHECK_EQ(__atomic_load_n(&x->pid, __ATOMIC_ACQUIRE), ring_freer(1, 1));
	__atomic_store_n(&x->pid, 0, __ATOMIC_RELEASE);
	jumbo_ring_close(h);
	jumbo_ring_close(r);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("JUMBO_STAT", "0", 1); /* no statistics thread in the children */
	ring_len = jumbo_ring_memsize(SLOTS);

	/* A ring in caller memory: its handles go by their pid. */
	rm = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(rm != MAP_FAILED);
	struct jumbo_ring *r = jumbo_ring_init(rm, ring_len, SLOTS,
					       JUMBO_RING_MPMC);
	REQUIRE(r);
	if (!second_reclaim(r)) {
		printf("ring_free: skipped, this process may not trace its "
		       "child\n");
		return 77;
	}
	REQUIRE(killed_freer(r, -1, "caller memory"));
	jumbo_ring_close(r);
	stale_intent();
	freer_replaced();
	munmap(rm, ring_len);

	/* A ring with a descriptor: its handles go by their lock. */
	r = jumbo_ring_create(NULL, SLOTS, JUMBO_RING_MPMC, 0600);
	REQUIRE(r);
	int fd = jumbo_ring_fd(r);
	rm = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(rm != MAP_FAILED);
	REQUIRE(killed_freer(r, fd, "descriptor"));
	munmap(rm, ring_len);
	jumbo_ring_close(r);
	return check_done("ring_free");
}
