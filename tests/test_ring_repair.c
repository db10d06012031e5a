/*
 * The repair of a ring bound to a named shared pool, by the pool's
 * reclaim, where a dead process's unfinished slot is claimed by a live
 * handle's intent as well (jumbo_ring(3), "Processes that die"): the kill
 * campaign of test_reclaim found a ring stuck for good that way, rarely
 * and only on a loaded machine.  Here each case is made to happen at an
 * exact point, by writing what ring.c writes (white-box: test_ring_wb.h)
 * or by tracing a real call one instruction at a time:
 *
 *   - a live handle stopped between its intent and its compare-and-swap,
 *     a dead one's reservation of the same slot (an enqueue's, a
 *     dequeue's): the reclaim may leave the slot, the next one, once the
 *     live handle has gone on, must finish it;
 *   - a live enqueuer that loses the ring's last room to one that dies
 *     before filling it: its call ends with nothing moved, and claims
 *     nothing after it.
 *
 * Each case ends with the ring empty and every page of the pool to be had.
 */
#include "check.h"
#include "test_named.h"
#include "test_ring_wb.h"

#include <jumbo/jumbo.h>
#include <jumbo/ring.h>

#include <stdbool.h>
#include <sys/mman.h>
#include <sys/ptrace.h>

#define PAGES 256
#define CACHE 16
#define SLOTS 64

static void *ring_mem;
static size_t ring_len;
static char name[32];

/*
 * D: a process of the pool that reserves the next position of the ring
 * at rm (prod: an enqueue's, at the tail; else a dequeue's, at the head)
 * as ring.c's mpmc_enqueue (mpmc_dequeue) does, intent and compare-and-
 * swap, and is killed before it fills (releases) the slot.  It had
 * allocated a page to send.  Reaped when this returns.
 */
static void reserve_and_die(void *rm, bool prod)
{
	int ws;
	pid_t d = fork();

	REQUIRE(d >= 0);
	if (d == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		struct jumbo_ring *rq = jumbo_ring_attach_mem(rm, ring_len);
		struct ring_rec_wb *me = ring_my_rec(rm);
		void *x = q ? jumbo_pool_alloc(q) : NULL;
		if (!x || !rq || !me || jumbo_ring_bind(rq, q) != 0)
			_exit(2);
		uint64_t *pos = prod ? ring_tail(rm) : ring_head(rm);
		uint64_t at = *pos;
		if (prod) {
			me->ppos = at;
			__atomic_store_n(&me->pn, 1, __ATOMIC_RELAXED);
		} else {
			me->cpos = at;
			__atomic_store_n(&me->cn, 1, __ATOMIC_RELAXED);
		}
		if (!__atomic_compare_exchange_n(pos, &at, at + 1, false,
						 __ATOMIC_RELEASE,
						 __ATOMIC_RELAXED))
			_exit(3);
		raise(SIGKILL);
	}
	REQUIRE(waitpid(d, &ws, 0) == d);
	CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
}

/*
 * A dead process's unfinished slot that a live handle's intent covers as
 * well: the live one wrote its intent for the same positions and was
 * stopped (or not yet run again) before its compare-and-swap, which the
 * dead one's beat.  A reclaim then cannot tell whose the slot is, and
 * leaves it; the next jumbo_pool_reclaim(), once the live one has moved
 * on, must finish it, or the ring stays stuck at that slot for ever: an
 * enqueue reserved and never filled (prod) stops the dequeuers, with the
 * entries behind it; a dequeue's slot taken and never released stops the
 * enqueuers, and its page is lost.  The kill campaign can meet the first
 * on a loaded machine: its parent reclaims right after the kill, when a
 * survivor it has just continued may not have run again yet.
 *
 * L and D write their intents and D its compare-and-swap as ring.c's
 * mpmc_enqueue (mpmc_dequeue) does, white-box; L is stopped there, D
 * killed.  L's retry is a real call.
 */
#define SHIELD_SENT 8

static void shielded_slot(struct jumbo_pool *p, bool prod)
{
	void *rm = ring_mem;
	struct jumbo_ring *r = jumbo_ring_init(rm, ring_len, SLOTS,
					       JUMBO_RING_MPMC);
	const char *side = prod ? "an enqueue's" : "a dequeue's";
	static void *mine[SLOTS + 1], *all[PAGES + 1];
	struct jumbo_ring_ent e[SLOTS];
	int to_l[2], from_l[2];
	unsigned sent = 0, got = 0;
	uint64_t y = 0;
	int failed = check_failures;
	char c = 0;
	int ws;

	REQUIRE(r && jumbo_ring_bind(r, p) == 0);
	REQUIRE(pipe(to_l) == 0 && pipe(from_l) == 0);
	if (!prod) {
		/* The entry D takes: a page of ours. */
		REQUIRE((mine[0] = jumbo_pool_alloc(p)));
		e[0] = (struct jumbo_ring_ent){ jumbo_pool_iova(p, mine[0]),
						4096, 0 };
		y = e[0].iova;
		REQUIRE(jumbo_ring_enqueue(r, e, 1) == 1);
	}

	/* L: about to reserve position 0, stopped. */
	pid_t l = fork();
	REQUIRE(l >= 0);
	if (l == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		struct jumbo_ring *rq = jumbo_ring_attach_mem(rm, ring_len);
		struct ring_rec_wb *me = ring_my_rec(rm);
		struct jumbo_ring_ent le;
		if (!q || !rq || !me || jumbo_ring_bind(rq, q) != 0)
			_exit(2);
		if (prod) {
			me->ppos = *ring_tail(rm);
			__atomic_store_n(&me->pn, 4, __ATOMIC_RELEASE);
		} else {
			me->cpos = *ring_head(rm);
			__atomic_store_n(&me->cn, 1, __ATOMIC_RELEASE);
		}
		raise(SIGSTOP);
		/* Its compare-and-swap failed: it tries again, a real call
		 * that moves one entry. */
		if (prod) {
			void *pg = jumbo_pool_alloc(q);
			if (!pg)
				_exit(3);
			le = (struct jumbo_ring_ent){ jumbo_pool_iova(q, pg),
						      4096, 0 };
			if (jumbo_ring_enqueue(rq, &le, 1) != 1)
				_exit(3);
		} else if (jumbo_ring_dequeue(rq, &le, 1) != 1 ||
			   jumbo_pool_free(q, jumbo_pool_iova_to_addr(
						      q, le.iova)) != 0) {
			_exit(3);
		}
		if (write(from_l[1], &c, 1) != 1 || read(to_l[0], &c, 1) != 1)
			_exit(4);
		jumbo_ring_close(rq);
		_exit(jumbo_pool_destroy(q) == 0 ? 0 : 5);
	}
	REQUIRE(waitpid(l, &ws, WUNTRACED) == l && WIFSTOPPED(ws));

	/* D: reserves the same position, and dies before finishing it. */
	reserve_and_die(rm, prod);

	/* Entries behind D's slot (prod), or as many as fit (!prod). */
	unsigned want = prod ? SHIELD_SENT : SLOTS;
	for (unsigned i = 0; i < want; i++) {
		REQUIRE((mine[1 + i] = jumbo_pool_alloc(p)));
		e[i] = (struct jumbo_ring_ent){ jumbo_pool_iova(p, mine[1 + i]),
						4096, 0 };
	}
	sent = jumbo_ring_enqueue(r, e, want);
	CHECK_EQ(sent, prod ? SHIELD_SENT : SLOTS - 1);
	for (unsigned i = sent; i < want; i++)
		CHECK_EQ(jumbo_pool_free(p, mine[1 + i]), 0);

	/* A reclaim while L is in its call: it may leave D's slot. */
	CHECK(jumbo_pool_reclaim(p) >= 1);
	bool left = prod ? ring_seq(rm)[0] == 0 : ring_seq(rm)[0] == 2;

	/* L goes on; once it is out of its call, the next reclaim
	 * finishes D's slot. */
	kill(l, SIGCONT);
	REQUIRE(read(from_l[0], &c, 1) == 1);
	CHECK(jumbo_pool_reclaim(p) >= 0);
	if (prod) {
		/* Every entry comes out: ours and L's. */
		unsigned n;
		while ((n = jumbo_ring_dequeue(r, e + got, SLOTS - got)) != 0)
			got += n;
		CHECK_EQ(got, SHIELD_SENT + 1);
	} else {
		/* The page D had taken is back in the depot, and the ring
		 * takes two more: at D's slot and at L's. */
		void *a = jumbo_pool_iova_to_addr(p, y);
		CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, a), NULL, NULL),
			 JUMBO_PG_FREE);
		struct jumbo_ring_ent two[2];
		void *pg[2];
		for (unsigned i = 0; i < 2; i++) {
			REQUIRE((pg[i] = jumbo_pool_alloc(p)));
			two[i] = (struct jumbo_ring_ent){
				jumbo_pool_iova(p, pg[i]), 4096, 0 };
		}
		unsigned in = jumbo_ring_enqueue(r, two, 2);
		CHECK_EQ(in, 2);
		for (unsigned i = in; i < 2; i++)
			CHECK_EQ(jumbo_pool_free(p, pg[i]), 0);
	}
	CHECK_EQ(jumbo_ring_count(r), prod ? 0 : SLOTS);
	if (jumbo_ring_count(r) != (prod ? 0 : SLOTS))
		ring_dump(side, rm);

	/* Whatever happened: the ring repaired, emptied, every page ours
	 * freed, L gone; then every page of the pool can be had. */
	jumbo_ring_reclaim(r, 0);
	unsigned n;
	while ((n = jumbo_ring_dequeue(r, e + got, SLOTS - got)) != 0)
		got += n;
	for (unsigned i = 0; i < got; i++)
		CHECK_EQ(jumbo_pool_free(p, jumbo_pool_iova_to_addr(p, e[i].iova)),
			 0);
	REQUIRE(write(to_l[1], &c, 1) == 1);
	REQUIRE(waitpid(l, &ws, 0) == l);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK(jumbo_pool_reclaim(p) >= 0);
	unsigned all_n = jumbo_pool_alloc_bulk(p, all, PAGES + 1);
	CHECK_EQ(all_n, PAGES);
	CHECK_EQ(jumbo_pool_free_bulk(p, all, all_n), 0);
	jumbo_ring_close(r);
	int *fds[] = { to_l, from_l };
	for (unsigned i = 0; i < 2; i++)
		close(fds[i][0]), close(fds[i][1]);
	if (check_failures == failed)
		printf("%s slot of a dead process that a live one's intent "
		       "also covered%s: the next reclaim finished it\n", side,
		       left ? " (the first reclaim left it)" : "");
}

/*
 * A live handle that loses the race for a ring's last room to a process
 * that then dies before filling it: its call ends with nothing moved (the
 * ring is full), and it must not go on claiming the dead one's slot.  It
 * did until its next successful enqueue, which a full ring stuck at that
 * slot never allows: every reclaim left the slot, for as long as it
 * lived.  What the kill campaign's reports point at: the dead one's
 * inbox full, its head slot reserved and never filled, after the round.
 *
 * L is made to lose deterministically: traced, it is stepped one
 * instruction at a time through jumbo_ring_enqueue() until its intent is
 * in its record, and held there while D reserves the last room and dies
 * (reserve_and_die); then it runs on, and its compare-and-swap fails.
 * Where this process may not trace its child, said and passed over.
 */
#define STEPS_MAX 5000000L

static void lost_race(struct jumbo_pool *p)
{
	void *rm = ring_mem;
	struct jumbo_ring *r = jumbo_ring_init(rm, ring_len, SLOTS,
					       JUMBO_RING_MPMC);
	static void *mine[SLOTS];
	struct jumbo_ring_ent e[SLOTS];
	int to_l[2], from_l[2];
	int failed = check_failures;
	unsigned got = 0, n, lmoved = ~0u;
	char c = 0;
	int ws;

	REQUIRE(r && jumbo_ring_bind(r, p) == 0);
	REQUIRE(pipe(to_l) == 0 && pipe(from_l) == 0);
	/* One room left in the ring. */
	for (unsigned i = 0; i < SLOTS - 1; i++) {
		REQUIRE((mine[i] = jumbo_pool_alloc(p)));
		e[i] = (struct jumbo_ring_ent){ jumbo_pool_iova(p, mine[i]),
						4096, 0 };
	}
	REQUIRE(jumbo_ring_enqueue(r, e, SLOTS - 1) == SLOTS - 1);

	pid_t l = fork();
	REQUIRE(l >= 0);
	if (l == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		struct jumbo_ring *rq = jumbo_ring_attach_mem(rm, ring_len);
		void *pg = q ? jumbo_pool_alloc(q) : NULL;
		if (!pg || !rq || jumbo_ring_bind(rq, q) != 0)
			_exit(2);
		struct jumbo_ring_ent le = { jumbo_pool_iova(q, pg), 4096, 0 };
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) {
			c = 'n';
			_exit(write(from_l[1], &c, 1) == 1 ? 0 : 3);
		}
		raise(SIGSTOP);
		unsigned moved = jumbo_ring_enqueue(rq, &le, 1);
		if (write(from_l[1], &moved, sizeof(moved)) != sizeof(moved) ||
		    read(to_l[0], &c, 1) != 1)
			_exit(4);
		/* Its page was never sent: it frees it, and owns nothing. */
		if (moved == 0 && jumbo_pool_free(q, pg) != 0)
			_exit(5);
		jumbo_ring_close(rq);
		_exit(jumbo_pool_destroy(q) == 0 ? 0 : 6);
	}
	REQUIRE(waitpid(l, &ws, 0) == l);
	if (WIFEXITED(ws)) {
		REQUIRE(read(from_l[0], &c, 1) == 1 && c == 'n');
		printf("lost race: passed over, this process may not trace "
		       "its child\n");
		goto out;
	}
	REQUIRE(WIFSTOPPED(ws));

	/* Step L until its intent is in its record: its CAS is next. */
	struct ring_rec_wb *lr = NULL;
	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES && !lr; i++)
		if (ring_rec(rm, i)->pid == l)
			lr = ring_rec(rm, i);
	REQUIRE(lr);
	long steps = 0;
	while (__atomic_load_n(&lr->pn, __ATOMIC_ACQUIRE) == 0 &&
	       steps++ < STEPS_MAX) {
		REQUIRE(ptrace(PTRACE_SINGLESTEP, l, NULL, NULL) == 0);
		REQUIRE(waitpid(l, &ws, 0) == l && WIFSTOPPED(ws));
	}
	REQUIRE(steps < STEPS_MAX);

	/* D takes the last room and dies; L goes on and loses. */
	reserve_and_die(rm, true);
	REQUIRE(ptrace(PTRACE_DETACH, l, NULL, NULL) == 0);
	REQUIRE(read(from_l[0], &lmoved, sizeof(lmoved)) == sizeof(lmoved));
	CHECK_EQ(lmoved, 0);
	CHECK_EQ(__atomic_load_n(&lr->pn, __ATOMIC_ACQUIRE), 0);

	/* L lives on, out of its call: the reclaim finishes D's slot, and
	 * everything comes out. */
	CHECK(jumbo_pool_reclaim(p) >= 1);
	while ((n = jumbo_ring_dequeue(r, e + got, SLOTS - got)) != 0)
		got += n;
	CHECK_EQ(got, SLOTS - 1);
	CHECK_EQ(jumbo_ring_count(r), 0);
	if (jumbo_ring_count(r) != 0)
		ring_dump("lost race", rm);

	/* Whatever happened: L gone, the ring repaired and emptied, our
	 * pages freed; then every page of the pool can be had. */
	REQUIRE(write(to_l[1], &c, 1) == 1);
	REQUIRE(waitpid(l, &ws, 0) == l);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	jumbo_ring_reclaim(r, 0);
	while ((n = jumbo_ring_dequeue(r, e + got, SLOTS - got)) != 0)
		got += n;
	for (unsigned i = 0; i < got; i++)
		CHECK_EQ(jumbo_pool_free(p, jumbo_pool_iova_to_addr(p, e[i].iova)),
			 0);
	CHECK(jumbo_pool_reclaim(p) >= 0);
	static void *all[PAGES + 1];
	unsigned all_n = jumbo_pool_alloc_bulk(p, all, PAGES + 1);
	CHECK_EQ(all_n, PAGES);
	CHECK_EQ(jumbo_pool_free_bulk(p, all, all_n), 0);
	if (check_failures == failed)
		printf("a live enqueuer lost the ring's last room to a process "
		       "that died in its enqueue (%ld steps traced): its claim "
		       "went with its call, the reclaim finished the slot\n",
		       steps);
out:
	jumbo_ring_close(r);
	int *fds[] = { to_l, from_l };
	for (unsigned i = 0; i < 2; i++)
		close(fds[i][0]), close(fds[i][1]);
}

static void cleanup(void)
{
	test_named_unlink(name); /* the destroy did, unless it failed */
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("JUMBO_STAT", "0", 1); /* no statistics thread: see test_shpool */
	snprintf(name, sizeof(name), "ring-repair-test-%d", (int)getpid());
	struct jumbo_pool *p = test_named_pool(name, PAGES, 64, CACHE, false);
	atexit(cleanup);
	ring_len = jumbo_ring_memsize(SLOTS);
	ring_mem = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(ring_mem != MAP_FAILED);

	shielded_slot(p, true);
	shielded_slot(p, false);
	lost_race(p);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_done("ring_repair");
}
