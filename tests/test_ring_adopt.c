/*
 * test_ring_adopt: a bound ring's dequeue adopts a batch of pages another
 * process sent, four at a time where four entries are a run over an
 * aligned group of frames (up or down), two at a time where two are an
 * aligned pair, one at a time otherwise (jumbo_ring(3)), with the outcome
 * of one at a time in every case.
 *
 * A child process allocates a region of pages and sends one batch that
 * mixes: runs up and down, aligned and not; pairs (both orders) and
 * singles; runs with one page held, one held and freed (a deferred free,
 * a flag in its word), one freed (not adoptable: dropped without a word),
 * one entry of an I/O address past the pool's cap and one of a frame never
 * handed out (each said, with its address, and dropped); a run whose
 * addresses are a page's frames but not a page apart; a run of two
 * owners; runs that go on from one group and break in the next; a batch
 * that ends inside a group.  The parent dequeues it whole
 * (SPSC, then MPMC) and checks the entries kept (in order, tags and all),
 * the messages, and every word of the region afterwards (the layout of
 * src/pool/shm_int.h): kept pages ours with their holds and flags, the
 * freed page and the pages not sent untouched.
 *
 *   test_ring_adopt
 */
#include "check.h"
#include "test_named.h"

#include <jumbo/jumbo.h>
#include <jumbo/ring.h>

#include <stdbool.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define PAGES 4096
#define REGION 128 /* frames a batch is made from */
#define SLOTS 256

/* The word of a page (src/pool/jumbo_int.h): owner bits 8-15, hold
 * count 16-31, state 0-3, PGF_DEFER 0x40. */
#define W_OWNER(w) (((w) >> 8) & 0xffu)
#define W_HOLDS(w) ((w) >> 16)
#define W_DEFER 0x40u
#define W_ALLOC 2u

enum { HELD = 41, DEFERRED = 46, FREED = 50, THEIRS = 73 };
#define FOREIGN -1 /* an I/O address past the cap */
#define NEVER -2   /* the cap's last frame: never handed out */
#define OFFSET 1000 /* + frame: an address inside the page, not its start */

/* The batch, in frames from the region's first. */
static const int batch[] = {
	0, 1, 2, 3, 4, 5, 6, 7,                  /* up, aligned: two groups */
	15, 14, 13, 12, 11, 10, 9, 8,            /* down, aligned */
	17, 18, 19, 20, 21, 22,                  /* up, not aligned */
	30, 29, 28, 27, 26, 25,                  /* down, not aligned */
	32, 33, 35, 37, 36, 38,                  /* pairs and singles */
	40, HELD, 42, 43,                        /* one held */
	44, 45, DEFERRED, 47,                    /* one held and freed */
	48, 49, FREED, 51,                       /* one freed: dropped */
	52, 53, FOREIGN, 55,                     /* a foreign address */
	56, NEVER, 58, 59,                       /* a frame never handed out */
	60, 61, 62 + OFFSET, 63,                 /* not a page apart */
	75, 74, THEIRS, 72,                      /* two owners, down */
	79, 78, 77, 76, 80, 81, 82, 83,          /* down then up */
	88, 89, 90, 91, 92, 93, 100, 95,         /* a run that goes on, */
	104, 105, 106, 107, 108, 120, 110, 111,  /* broken in its next */
	112, 113, 114, 115, 121, 117, 118, 119,  /* group, three ways */
	84, 85, 86,                              /* the batch ends */
};
#define N (sizeof(batch) / sizeof(batch[0]))

static char name[32];
static unsigned said;
static char msgs[512];

static void log_hook(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level == JUMBO_LOG_ERROR && strstr(msg, "jumbo_ring_dequeue")) {
		said++;
		snprintf(msgs + strlen(msgs), sizeof(msgs) - strlen(msgs),
			 "%s\n", msg);
	}
}

static uint64_t ent_iova(int b, uint64_t base)
{
	if (b == FOREIGN)
		return (uint64_t)PAGES * 4096 + 4096;
	if (b == NEVER)
		return (uint64_t)(PAGES - 1) * 4096;
	if (b >= OFFSET)
		return base + (uint64_t)(b - OFFSET) * 4096 + 100;
	return base + (uint64_t)b * 4096;
}

/*
 * The child: a region of REGION frames all its own, aligned to 16 (a line
 * of words); THEIRS given to the parent (who adopts it), HELD held,
 * DEFERRED held and freed, the batch sent, FREED freed after.  Writes the
 * region's first I/O address to out, waits for a byte, then leaves.
 */
static int child(int rfd, int out)
{
	struct jumbo_pool *q = jumbo_pool_attach(name, 0);
	struct jumbo_ring *r = jumbo_ring_open_fd(rfd);
	static void *v[PAGES];
	static void *at[PAGES]; /* by frame */
	struct jumbo_ring_ent e[N];
	unsigned n, base;
	char c;

	if (!q || !r || jumbo_ring_bind(r, q) != 0)
		return 2;
	n = jumbo_pool_alloc_bulk(q, v, 2 * REGION + 64);
	for (unsigned i = 0; i < n; i++)
		at[jumbo_pool_iova(q, v[i]) >> 12] = v[i];
	for (base = 0; base + REGION <= PAGES; base += 16) {
		unsigned k = 0;
		while (k < REGION && at[base + k])
			k++;
		if (k == REGION)
			break;
	}
	if (base + REGION > PAGES)
		return 3;
	uint64_t b0 = (uint64_t)base << 12;
	if (jumbo_pool_hold(q, at[base + HELD]) != 0 ||
	    jumbo_pool_hold(q, at[base + DEFERRED]) != 0 ||
	    jumbo_pool_free(q, at[base + DEFERRED]) != 0)
		return 4;
	for (unsigned i = 0; i < N; i++)
		e[i] = (struct jumbo_ring_ent){ ent_iova(batch[i], b0), i,
						0x5a000000u + i };
	if (jumbo_ring_enqueue(r, e, N) != N)
		return 5;
	if (write(out, &b0, sizeof(b0)) != sizeof(b0) || read(out, &c, 1) != 1)
		return 6;
	/* After THEIRS went to the parent and before the dequeue: a page
	 * freed in the ring is its sender's bug, which adoption survives. */
	if (jumbo_pool_free(q, at[base + FREED]) != 0)
		return 7;
	if (write(out, "f", 1) != 1 || read(out, &c, 1) != 1)
		return 8;
	jumbo_ring_bind(r, NULL);
	jumbo_ring_close(r);
	jumbo_pool_destroy(q);
	return 0;
}

/* One batch through a ring of kind, from a child; every check. */
static void one(struct jumbo_pool *p, unsigned kind, const uint32_t *words,
		unsigned me)
{
	struct jumbo_ring *r = jumbo_ring_create(NULL, SLOTS, kind, 0);
	static uint32_t before[REGION];
	struct jumbo_ring_ent e[N];
	int sv[2], st;
	uint64_t b0;
	char c;

	REQUIRE(r && jumbo_ring_bind(r, p) == 0);
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		alarm(TEST_HANG_SECONDS);
		_exit(child(jumbo_ring_fd(r), sv[1]));
	}
	close(sv[1]);
	if (read(sv[0], &b0, sizeof(b0)) != sizeof(b0)) {
		REQUIRE(waitpid(pid, &st, 0) == pid);
		fprintf(stderr, "the child exited early: status %d\n",
			WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		exit(1);
	}
	const uint32_t *w = words + (b0 >> 12);
	void *theirs = jumbo_pool_iova_to_addr(p, b0 + THEIRS * 4096);
	REQUIRE(theirs && jumbo_pool_adopt(p, theirs) == 0);
	CHECK_EQ(W_OWNER(w[THEIRS]), me);
	REQUIRE(write(sv[0], "g", 1) == 1 && read(sv[0], &c, 1) == 1);
	unsigned them = W_OWNER(w[0]);
	CHECK(them != me && them != 0);
	memcpy(before, w, sizeof(before));

	said = 0;
	msgs[0] = 0;
	REQUIRE(jumbo_set_log(log_hook, NULL) == 0);
	unsigned n = jumbo_ring_dequeue(r, e, N);
	jumbo_set_log(NULL, NULL);

	/* The entries kept: all but three, in order, as they were sent. */
	CHECK_EQ(n, N - 3);
	for (unsigned i = 0, k = 0; i < N && k < n; i++) {
		int b = batch[i];
		if (b == FREED || b == FOREIGN || b == NEVER)
			continue;
		CHECK_EQ(e[k].iova, ent_iova(b, b0));
		CHECK_EQ(e[k].len, i);
		CHECK_EQ(e[k].tag, 0x5a000000u + i);
		k++;
	}
	/* Said: the two bad addresses, each by its value; the freed page
	 * not at all. */
	char a[2][32];
	snprintf(a[0], sizeof(a[0]), "%#llx", (unsigned long long)ent_iova(FOREIGN, 0));
	snprintf(a[1], sizeof(a[1]), "%#llx", (unsigned long long)ent_iova(NEVER, 0));
	CHECK_EQ(said, 2);
	CHECK(strstr(msgs, a[0]) && strstr(msgs, a[1]));

	/* The words: every page sent and kept is ours, holds and flags as
	 * they were; the freed page and those not sent are untouched. */
	bool sent[REGION] = { false };
	for (unsigned i = 0; i < N; i++)
		if (batch[i] >= 0)
			sent[batch[i] % OFFSET] = true;
	for (unsigned f = 0; f < REGION; f++) {
		uint32_t now = w[f], was = before[f];
		if (!sent[f] || f == FREED) {
			if (now != was)
				fprintf(stderr, "frame %u: %#x, was %#x\n", f, now, was);
			CHECK_EQ(now, was);
			continue;
		}
		if (W_OWNER(now) != me || (now & 0xf) != W_ALLOC ||
		    (now & ~0xff00u) != (was & ~0xff00u))
			fprintf(stderr, "frame %u: %#x, was %#x (ours: %u)\n", f,
				now, was, me);
		CHECK_EQ(W_OWNER(now), me);
		CHECK_EQ(now & ~0xff00u, was & ~0xff00u);
	}
	CHECK_EQ(W_HOLDS(w[HELD]), 1);
	CHECK_EQ(W_HOLDS(w[DEFERRED]), 1);
	CHECK(w[DEFERRED] & W_DEFER);
	CHECK_EQ(w[FREED] & 0xf, 1); /* FREE, the child's */
	CHECK_EQ(W_OWNER(w[FREED]), them);
	printf("ring_adopt: %s ring: %u of %zu entries adopted, 2 said:\n%s",
	       kind == JUMBO_RING_MPMC ? "MPMC" : "SPSC", n, N, msgs);

	/* Ours to give back: the held page after its unhold, the deferred
	 * one by its unhold. */
	for (unsigned k = 0; k < n; k++) {
		void *pg = jumbo_pool_iova_to_addr(p, e[k].iova & ~4095ull);
		uint64_t f = (e[k].iova - b0) >> 12;
		REQUIRE(pg);
		if (f == HELD || f == DEFERRED)
			CHECK_EQ(jumbo_pool_unhold(p, pg), 0);
		if (f != DEFERRED)
			CHECK_EQ(jumbo_pool_free(p, pg), 0);
	}
	REQUIRE(write(sv[0], "x", 1) == 1);
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	jumbo_ring_bind(r, NULL);
	jumbo_ring_close(r);
	close(sv[0]);
}

int main(void)
{
	setenv("JUMBO_STAT", "0", 1); /* no statistics thread: we fork */
	snprintf(name, sizeof(name), "test-ring-adopt-%d", (int)getpid());
	struct jumbo_pool *p = test_named_pool(name, PAGES, 0, 128, false);
	/* The words, read-only: after the pages, the control page and the
	 * process records (src/pool/shm_int.h). */
	const uint32_t *words = mmap(NULL, PAGES * 4, PROT_READ, MAP_SHARED,
				     jumbo_pool_fd(p),
				     ((off_t)PAGES << 12) + 4096 + 16384);
	REQUIRE(words != MAP_FAILED);
	void *mine = jumbo_pool_alloc(p);
	REQUIRE(mine);
	unsigned me = W_OWNER(words[jumbo_pool_iova(p, mine) >> 12]);
	CHECK(me != 0 && (words[jumbo_pool_iova(p, mine) >> 12] & 0xf) == W_ALLOC);

	one(p, JUMBO_RING_SPSC, words, me);
	one(p, JUMBO_RING_MPMC, words, me);

	/* The children left pages they still owned: back now. */
	CHECK(jumbo_pool_reclaim(p) >= 0);
	CHECK_EQ(jumbo_pool_free(p, mine), 0);
	struct jumbo_stats st;
	CHECK_EQ(jumbo_pool_stats(p, &st), 0);
	CHECK_EQ(st.in_use, 0);
	munmap((void *)words, PAGES * 4);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	if (check_failures)
		printf("ring_adopt: %d check(s) FAILED\n", check_failures);
	else
		printf("ring_adopt: ok\n");
	return check_failures ? 1 : 0;
}
