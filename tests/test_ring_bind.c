/*
 * test_ring_bind: an SPSC ring bound to a named pool hands each page to
 * the process that dequeues it, a batch at a time (two neighbouring
 * frames in one compare-and-swap, jumbo_ring(3)).  A producer process
 * sends runs of pages, among them a held page (its hold must survive the
 * hand-off) and a page it frees after sending (not adoptable: dropped, the
 * other entries kept in order); then it leaves the pool, which takes back
 * every page still its own.  The consumer's pages must all be the
 * consumer's: each frees once, with no EALREADY.  Last, entries whose I/O
 * address is no page of the pool (past the cap, never handed out) are
 * dropped by a bound dequeue, SPSC and MPMC, each reported with its
 * address; a good entry beside them comes through.
 *
 *   test_ring_bind [seed]
 */
#include "check.h"
#include "test_named.h"

#include <jumbo/jumbo.h>
#include <jumbo/ring.h>

#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#define PAGES 4096
#define BATCH 32
#define ROUNDS 64
#define SLOTS 64

static char name[32];

/* The producer: ROUNDS batches; in each, one page held and one freed after
 * it was sent.  Tells the consumer which ones through the pipe. */
static int produce(int rfd, int out, uint64_t seed)
{
	struct jumbo_pool *q = jumbo_pool_attach(name, 0);
	struct jumbo_ring *r = jumbo_ring_open_fd(rfd);
	void *v[BATCH];
	struct jumbo_ring_ent e[BATCH];

	if (!q || !r || jumbo_ring_bind(r, q) != 0)
		return 2;
	for (unsigned k = 0; k < ROUNDS; k++) {
		unsigned held = (unsigned)((seed >> (k % 32)) + k) % BATCH;
		unsigned freed = (held + 1 + k % (BATCH - 1)) % BATCH;
		if (jumbo_pool_alloc_bulk(q, v, BATCH) != BATCH)
			return 3;
		for (unsigned i = 0; i < BATCH; i++) {
			*(uint64_t *)v[i] = (uint64_t)k * BATCH + i;
			e[i] = (struct jumbo_ring_ent){ jumbo_pool_iova(q, v[i]),
							4096, 0 };
		}
		if (jumbo_pool_hold(q, v[held]) != 0)
			return 4;
		for (unsigned i = 0; i < BATCH;)
			i += jumbo_ring_enqueue(r, e + i, BATCH - i);
		if (jumbo_pool_free(q, v[freed]) != 0)
			return 5;
		unsigned msg[2] = { held, freed };
		char c;
		/* The consumer's answer: it has the batch (else the freed
		 * page, first out of our cache, would be sent again). */
		if (write(out, msg, sizeof(msg)) != sizeof(msg) ||
		    read(out, &c, 1) != 1)
			return 6;
	}
	/* Leave only once the consumer has everything: what is still ours
	 * then goes back to the depot (the freed pages are in our cache). */
	char c;
	if (read(out, &c, 1) != 1)
		return 7;
	jumbo_ring_bind(r, NULL);
	jumbo_ring_close(r);
	return jumbo_pool_destroy(q) == 0 ? 0 : 8;
}

static unsigned bad_said;
static char bad_msg[256];

static void log_hook(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level == JUMBO_LOG_ERROR && strstr(msg, "jumbo_ring_dequeue")) {
		bad_said++;
		snprintf(bad_msg, sizeof(bad_msg), "%s", msg);
	}
}

/* Bad entries beside a good one, through a bound ring of kind. */
static void bad_entries(struct jumbo_pool *p, unsigned kind)
{
	struct jumbo_ring *r = jumbo_ring_create(NULL, SLOTS, kind, 0);
	void *pg = jumbo_pool_alloc(p);
	uint64_t past = (uint64_t)PAGES * 4096 + 8192;
	uint64_t never = (uint64_t)(PAGES - 1) * 4096; /* the cap's last */
	struct jumbo_ring_ent in[3] = {
		{ .iova = past, .len = 1 },
		{ .iova = jumbo_pool_iova(p, pg), .len = 2 },
		{ .iova = never, .len = 3 },
	}, out[3];
	char want[64];

	REQUIRE(r && pg && jumbo_ring_bind(r, p) == 0);
	bad_said = 0;
	REQUIRE(jumbo_set_log(log_hook, NULL) == 0);
	CHECK_EQ(jumbo_ring_enqueue(r, in, 3), 3);
	unsigned n = 0;
	for (unsigned tries = 0; tries < 3 && n == 0; tries++)
		n = jumbo_ring_dequeue(r, out, 3);
	jumbo_set_log(NULL, NULL);
	CHECK_EQ(n, 1);
	CHECK_EQ(out[0].iova, in[1].iova);
	CHECK_EQ(out[0].len, 2);
	CHECK_EQ(bad_said, 2);
	snprintf(want, sizeof(want), "%#llx", (unsigned long long)never);
	CHECK(strstr(bad_msg, want) != NULL);
	printf("ring_bind: %s ring, bad entries: %s\n",
	       kind == JUMBO_RING_MPMC ? "MPMC" : "SPSC", bad_msg);
	CHECK_EQ(jumbo_pool_free(p, pg), 0);
	jumbo_ring_close(r);
}

/*
 * A fork of the pool's maker cannot adopt the pool's pages (its copy is
 * detached): its dequeue from a bound ring moves nothing and says EXDEV,
 * and the entries stay for the maker, who takes them all.  Before, the
 * child's dequeue consumed them, adopted nothing and returned 0: the
 * pages were lost with no word.
 */
static void forked_dequeue(struct jumbo_pool *p, unsigned kind)
{
	struct jumbo_ring *r = jumbo_ring_create(NULL, SLOTS, kind, 0);
	struct jumbo_ring_ent in[4], out[4];
	void *pg[4];
	int st;

	REQUIRE(r && jumbo_ring_bind(r, p) == 0);
	for (unsigned i = 0; i < 4; i++) {
		REQUIRE((pg[i] = jumbo_pool_alloc(p)) != NULL);
		in[i] = (struct jumbo_ring_ent){ jumbo_pool_iova(p, pg[i]),
						 4096, 0 };
	}
	CHECK_EQ(jumbo_ring_enqueue(r, in, 4), 4);
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* The parent's handle: the child opens its own. */
		struct jumbo_ring *c = jumbo_ring_open_fd(jumbo_ring_fd(r));
		if (!c || jumbo_ring_bind(c, p) != 0)
			_exit(2);
		errno = 0;
		unsigned n = jumbo_ring_dequeue(c, out, 4);
		_exit(n == 0 && errno == EXDEV ? 0 : 3);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unsigned n = 0;
	for (unsigned tries = 0; tries < 3 && n < 4; tries++)
		n += jumbo_ring_dequeue(r, out + n, 4 - n);
	CHECK_EQ(n, 4);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(out[i].iova, in[i].iova);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(jumbo_pool_free(p, pg[i]), 0);
	printf("ring_bind: %s ring, after a fork's dequeue (EXDEV wanted): "
	       "%u of 4 left for the maker\n",
	       kind == JUMBO_RING_MPMC ? "MPMC" : "SPSC", n);
	jumbo_ring_bind(r, NULL);
	jumbo_ring_close(r);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0)
				 : (uint64_t)time(NULL) * 2654435761u;
	static void *got[ROUNDS * BATCH];
	static bool held_pg[ROUNDS * BATCH];
	unsigned ngot = 0;
	int sv[2], st;

	printf("ring_bind: seed %llu (rerun: test_ring_bind %llu)\n",
	       (unsigned long long)seed, (unsigned long long)seed);
	setenv("JUMBO_STAT", "0", 1); /* no statistics thread: we fork */
	snprintf(name, sizeof(name), "test-ring-bind-%d", (int)getpid());
	struct jumbo_pool *p = test_named_pool(name, PAGES, 0, 128, false);
	struct jumbo_ring *r = jumbo_ring_create(NULL, SLOTS, JUMBO_RING_SPSC, 0);
	REQUIRE(r && jumbo_ring_bind(r, p) == 0);
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);

	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(produce(jumbo_ring_fd(r), sv[1], seed));
	}
	close(sv[1]);

	for (unsigned k = 0; k < ROUNDS; k++) {
		unsigned msg[2], n;
		struct jumbo_ring_ent e[BATCH];

		/* The whole batch is in the ring, its freed page freed: one
		 * dequeue takes its BATCH slots, and drops the freed page's
		 * entry. */
		if (read(sv[0], msg, sizeof(msg)) != sizeof(msg)) {
			REQUIRE(waitpid(pid, &st, 0) == pid);
			fprintf(stderr, "the producer exited early: status %d\n",
				WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			return 1;
		}
		n = jumbo_ring_dequeue(r, e, BATCH);
		CHECK_EQ(n, BATCH - 1);
		REQUIRE(write(sv[0], "k", 1) == 1);
		for (unsigned i = 0, want = 0; i < n; i++, want++) {
			if (want == msg[1])
				want++;
			void *a = jumbo_pool_iova_to_addr(p, e[i].iova);
			REQUIRE(a);
			/* In order, and the freed one missing. */
			CHECK_EQ(*(uint64_t *)a, (uint64_t)k * BATCH + want);
			held_pg[ngot] = want == msg[0];
			got[ngot++] = a;
		}
	}
	REQUIRE(write(sv[0], "x", 1) == 1);
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* The producer has left: every page we took is still ours, the
	 * held ones with their hold. */
	for (unsigned i = 0; i < ngot; i++) {
		unsigned holds = 0;
		enum jumbo_page_state s =
			jumbo_page_state(jumbo_pool_page(p, got[i]), &holds, NULL);
		CHECK_EQ(s, held_pg[i] ? JUMBO_PG_HELD : JUMBO_PG_ALLOC);
		CHECK_EQ(holds, held_pg[i] ? 1 : 0);
		if (held_pg[i])
			CHECK_EQ(jumbo_pool_unhold(p, got[i]), 0);
		CHECK_EQ(jumbo_pool_free(p, got[i]), 0);
	}
	jumbo_ring_bind(r, NULL);
	jumbo_ring_close(r);
	bad_entries(p, JUMBO_RING_SPSC);
	bad_entries(p, JUMBO_RING_MPMC);
	forked_dequeue(p, JUMBO_RING_SPSC);
	forked_dequeue(p, JUMBO_RING_MPMC);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	if (check_failures)
		printf("ring_bind: %d check(s) FAILED\n", check_failures);
	else
		printf("ring_bind: ok (%u pages handed over)\n", ngot);
	return check_failures ? 1 : 0;
}
