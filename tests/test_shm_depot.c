/*
 * A named pool's depot, white-box: the queue's contents are written by
 * hand (under the depot's lock, through the segment's real layout,
 * src/pool/shm_int.h) in every shape that breaks the runs its take and
 * its put check and stamp a vector of words at a time (shm.c,
 * depot_take and _jumbo_shm_put), and each is checked by the pages
 * handed out and the words afterwards:
 *
 *   middle    a run with one word that is not FREE|0 in its middle: that
 *             frame is dropped, the rest handed out, none twice;
 *   committed a run that crosses the committed end: the frames past it
 *             (their words forged FREE|0) are dropped;
 *   wrap      a run that crosses the end of the queue's array;
 *   unaligned a run starting at a frame, and a queue position, that are
 *             not a vector's multiple;
 *   down      descending runs, one of them ending at frame 0;
 *   twice     a frame queued twice inside a run, and a whole run queued
 *             twice: each page handed out once;
 *   put       the way back: a cache's magazine with a FREE|0 word and a
 *             word another process owns in its run, queued across the
 *             array's end: the one dropped, the others queued in order,
 *             FREE|0;
 *   abi       a segment of the layout before this one is refused (EPROTO).
 *
 *   test_shm_depot
 */
#include "check.h"
#include "test_named.h"

#include "shm_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGES 1024u /* the cap */
#define GROW 512u   /* committed: the first step */
#define CACHE 128u  /* magazines of 64 */
#define MAG 64u

static char nm[32];
static struct jumbo_pool *p;
static char *seg;                     /* the segment from its control page */
static const struct jumbo_shm_hdr *H; /* its header */
static struct jumbo_shm_ctl *C;
static uint32_t *W;                   /* the state words */
static frame_t *Q;                    /* the queue's array */
static uint32_t alloc_me;             /* ALLOC|me: the test's pages */
static void *all[PAGES];              /* the pages the test holds */

static size_t frame_of(void *a)
{
	return (size_t)(jumbo_pool_iova(p, a) >> 12);
}

static void *addr_of(frame_t f)
{
	return jumbo_pool_iova_to_addr(p, (vm_paddr_t)f << 12);
}

static uint32_t word(frame_t f)
{
	return __atomic_load_n(&W[f], __ATOMIC_RELAXED);
}

static void set_word(frame_t f, uint32_t w)
{
	__atomic_store_n(&W[f], w, __ATOMIC_RELAXED);
}

/* The segment mapped, from its header at the end of the file. */
static void map_segment(void)
{
	struct stat sb;
	int fd = jumbo_pool_fd(p);

	REQUIRE(fstat(fd, &sb) == 0);
	static struct jumbo_shm_hdr h;
	REQUIRE(pread(fd, &h, sizeof(h), sb.st_size - SHM_PAGE) == sizeof(h));
	REQUIRE(h.max_pages == PAGES);
	seg = mmap(NULL, h.total_bytes - h.off_ctl, PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, (off_t)h.off_ctl);
	REQUIRE(seg != MAP_FAILED);
	H = &h;
	C = (struct jumbo_shm_ctl *)(void *)seg;
	W = (uint32_t *)(void *)(seg + (h.off_state - h.off_ctl));
	Q = (frame_t *)(void *)(seg + (h.off_fifo - h.off_ctl));
}

static int cmp_frame(const void *a, const void *b)
{
	frame_t x = *(const frame_t *)a, y = *(const frame_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * The queue becomes e[0..ne), at position at of the array, every frame
 * in good[0..MAG) made FREE|0 (the rest of e keep the words the case
 * gave them): then the test takes MAG pages, which one refill of its
 * empty cache takes off the queue, and they must be exactly good, each
 * once, the queue empty, nothing carved, the words of the bad entries
 * untouched.
 */
static void run_case(const char *name, const frame_t *e, unsigned ne,
		     uint64_t at, const frame_t *good)
{
	uint32_t before[64];
	frame_t bad[64];
	unsigned nbad = 0;
	void *got[MAG + 1];

	for (unsigned i = 0; i < ne; i++) {
		bool is_good = false;
		for (unsigned g = 0; g < MAG; g++)
			is_good |= good[g] == e[i];
		if (!is_good && nbad < 64) {
			bad[nbad] = e[i];
			before[nbad++] = word(e[i]);
		}
	}
	REQUIRE(pthread_mutex_lock(&C->lock) == 0);
	REQUIRE(C->head == C->tail); /* the test holds every page */
	for (unsigned g = 0; g < MAG; g++)
		set_word(good[g], JUMBO_PG_FREE);
	for (unsigned i = 0; i < ne; i++)
		Q[(at + i) % PAGES] = e[i];
	C->head = at;
	C->tail = at + ne;
	C->out -= MAG;
	uint64_t carved = C->carved;
	REQUIRE(pthread_mutex_unlock(&C->lock) == 0);

	unsigned n = jumbo_pool_alloc_bulk(p, got, MAG);
	CHECK_EQ(n, MAG);
	frame_t f[MAG], want[MAG];
	for (unsigned i = 0; i < n; i++)
		f[i] = (frame_t)frame_of(got[i]);
	memcpy(want, good, sizeof(want));
	qsort(f, n, sizeof(f[0]), cmp_frame);
	qsort(want, MAG, sizeof(want[0]), cmp_frame);
	unsigned wrong = 0;
	for (unsigned i = 0; i < n; i++) {
		if (f[i] != want[i] && wrong++ < 4)
			fprintf(stderr, "%s: handed out %u where %u\n", name,
				f[i], want[i]);
		if (i && f[i] == f[i - 1])
			fprintf(stderr, "%s: %u handed out twice\n", name, f[i]);
		CHECK(!i || f[i] != f[i - 1]);
		CHECK_EQ(word(f[i]), alloc_me);
	}
	CHECK_EQ(wrong, 0);
	for (unsigned b = 0; b < nbad; b++) {
		if (word(bad[b]) != before[b])
			fprintf(stderr, "%s: dropped frame %u's word %#x, was "
				"%#x\n", name, bad[b], word(bad[b]), before[b]);
		CHECK_EQ(word(bad[b]), before[b]);
	}
	CHECK_EQ(C->head, C->tail);
	CHECK_EQ(C->head, at + ne);
	CHECK_EQ(C->carved, carved);
	CHECK_EQ(C->committed, GROW);
	/* Back in the test's hands, in the slots they came from. */
	for (unsigned i = 0; i < n; i++)
		all[frame_of(got[i])] = got[i];
	printf("%-9s %u entries, %u dropped: the %u good pages, once each\n",
	       name, ne, ne - MAG, MAG);
}

static unsigned run_of(frame_t *e, frame_t from, frame_t to)
{
	unsigned n = 0;
	if (from <= to)
		for (frame_t f = from; f <= to; f++)
			e[n++] = f;
	else
		for (frame_t f = from + 1; f-- > to;)
			e[n++] = f;
	return n;
}

/* The frames of e[0..ne) but those in bad[0..nb), first copies only. */
static void good_of(const frame_t *e, unsigned ne, const frame_t *bad,
		    unsigned nb, frame_t *good)
{
	unsigned g = 0;
	for (unsigned i = 0; i < ne; i++) {
		bool skip_it = false;
		for (unsigned b = 0; b < nb; b++)
			skip_it |= e[i] == bad[b];
		for (unsigned j = 0; j < i; j++)
			skip_it |= e[j] == e[i];
		if (!skip_it) {
			REQUIRE(g < MAG);
			good[g++] = e[i];
		}
	}
	REQUIRE(g == MAG);
}

static void middle(void)
{
	frame_t e[128], good[MAG], bad[] = { 130 };
	unsigned n = run_of(e, 100, 164); /* 130: the test's, ALLOC|me */
	good_of(e, n, bad, 1, good);
	run_case("middle", e, n, 0, good);

	/* Another owner's cached page, FREE|7, in a descending run. */
	n = run_of(e, 364, 300);
	bad[0] = 333;
	set_word(333, shm_word(JUMBO_PG_FREE, 7));
	good_of(e, n, bad, 1, good);
	run_case("middle", e, n, 64, good);
	set_word(333, alloc_me);
}

static void committed(const uint32_t *past)
{
	frame_t e[128], good[MAG], bad[4];
	/* 452..515: 512..515 are past committed (512), forged FREE|0. */
	unsigned n = run_of(e, 452, 515);
	n += run_of(e + n, 20, 23);
	for (unsigned b = 0; b < 4; b++) {
		bad[b] = GROW + b;
		set_word(GROW + b, JUMBO_PG_FREE);
	}
	good_of(e, n, bad, 4, good);
	run_case("committed", e, n, 200, good);
	/* Going down from past the end: 519..456. */
	n = run_of(e, 519, 456);
	for (unsigned b = 0; b < 8; b++)
		set_word(GROW + b, JUMBO_PG_FREE);
	frame_t bad8[8];
	for (unsigned b = 0; b < 8; b++)
		bad8[b] = GROW + b;
	n += run_of(e + n, 30, 37);
	good_of(e, n, bad8, 8, good);
	run_case("committed", e, n, 300, good);
	for (unsigned b = 0; b < 8; b++)
		set_word(GROW + b, past[b]);
}

static void wrap(void)
{
	frame_t e[128], good[MAG];
	unsigned n = run_of(e, 200, 263);
	good_of(e, n, NULL, 0, good);
	run_case("wrap", e, n, 3 * PAGES - 13, good); /* 13 before the end */
	n = run_of(e, 263, 200);
	good_of(e, n, NULL, 0, good);
	run_case("wrap", e, n, 5 * PAGES - 1, good); /* 1 before it */
}

static void unaligned(void)
{
	frame_t e[128], good[MAG];
	unsigned n = run_of(e, 301, 364);
	good_of(e, n, NULL, 0, good);
	run_case("unaligned", e, n, 5, good);
	/* Runs of 3, 5, 7 and 9 back to back, then the rest. */
	n = run_of(e, 101, 103);
	n += run_of(e + n, 205, 209);
	n += run_of(e + n, 317, 311);
	n += run_of(e + n, 401, 409);
	n += run_of(e + n, 3, 42);
	good_of(e, n, NULL, 0, good);
	run_case("unaligned", e, n, 7, good);
}

static void down(void)
{
	frame_t e[128], good[MAG];
	unsigned n = run_of(e, 400, 337);
	good_of(e, n, NULL, 0, good);
	run_case("down", e, n, 0, good);
	/* To frame 0, then up again. */
	n = run_of(e, 40, 0);
	n += run_of(e + n, 480, 502);
	good_of(e, n, NULL, 0, good);
	run_case("down", e, n, 0, good);
}

static void twice(void)
{
	frame_t e[128], good[MAG];
	/* 100..107, 104 again, 108..163. */
	unsigned n = run_of(e, 100, 107);
	e[n++] = 104;
	n += run_of(e + n, 108, 163);
	good_of(e, n, NULL, 0, good);
	run_case("twice", e, n, 0, good);
	/* A whole vector queued twice: 200..231, 200..207, 232..263. */
	n = run_of(e, 200, 231);
	n += run_of(e + n, 200, 207);
	n += run_of(e + n, 232, 263);
	good_of(e, n, NULL, 0, good);
	run_case("twice", e, n, 0, good);
	/* Down, the second copy in the middle of a vector: 363..356,
	 * 355, 360, 354..301. */
	n = run_of(e, 363, 355);
	e[n++] = 360;
	n += run_of(e + n, 354, 300);
	good_of(e, n, NULL, 0, good);
	run_case("twice", e, n, 0, good);
}

/*
 * The way back: the test frees 2 MAG pages of a run, which fill its
 * cache; one more free hands the older magazine (100..163) to the queue.
 * In it: 130 made FREE|0 (an unhold's deferred free: queued), 140 made
 * ALLOC|7 (another's now: dropped, untouched).  The queue starts 20
 * before the array's end.
 */
static void put(void)
{
	const frame_t lo = 100;
	uint32_t w_free = alloc_me - 1;

	CHECK_EQ(jumbo_pool_free_bulk(p, all + lo, 2 * MAG), 0);
	for (frame_t f = lo; f < lo + 2 * MAG; f++)
		CHECK_EQ(word(f), w_free);
	REQUIRE(pthread_mutex_lock(&C->lock) == 0);
	REQUIRE(C->head == C->tail);
	C->head = C->tail = 7 * PAGES - 20;
	set_word(130, JUMBO_PG_FREE);
	set_word(140, shm_word(JUMBO_PG_ALLOC, 7));
	REQUIRE(pthread_mutex_unlock(&C->lock) == 0);

	CHECK_EQ(jumbo_pool_free(p, all[400]), 0); /* the cache is full */
	CHECK_EQ(C->tail - C->head, MAG - 1);
	unsigned q = 0, wrong = 0;
	for (frame_t f = lo; f < lo + MAG; f++) {
		if (f == 140) {
			CHECK_EQ(word(f), shm_word(JUMBO_PG_ALLOC, 7));
			continue;
		}
		frame_t x = Q[(C->head + q++) % PAGES];
		if (x != f && wrong++ < 4)
			fprintf(stderr, "put: queued %u where %u\n", x, f);
		CHECK_EQ(word(f), JUMBO_PG_FREE);
	}
	CHECK_EQ(wrong, 0);
	for (frame_t f = lo + MAG; f < lo + 2 * MAG; f++)
		CHECK_EQ(word(f), w_free);
	set_word(140, alloc_me);
	CHECK_EQ(jumbo_pool_free(p, all[140]), 0);
	printf("put       %u pages back across the array's end: %u queued "
	       "in order, FREE|0, the other's left alone\n", MAG, MAG - 1);
}

/* The layout before this one (ABI 2): refused, not misread. */
static void abi(void)
{
	char path[64];
	uint32_t old = 2;

	snprintf(path, sizeof(path), "/dev/shm/jumbo-pool.%s", nm);
	int fd = open(path, O_RDWR);
	REQUIRE(fd >= 0);
	off_t at = (off_t)H->off_hdr + offsetof(struct jumbo_shm_hdr, abi);
	uint32_t now;
	REQUIRE(pread(fd, &now, 4, at) == 4);
	REQUIRE(pwrite(fd, &old, 4, at) == 4);
	errno = 0;
	CHECK(jumbo_pool_attach(nm, 0) == NULL);
	CHECK_EQ(errno, EPROTO);
	REQUIRE(pwrite(fd, &now, 4, at) == 4);
	close(fd);
	struct jumbo_pool *q = jumbo_pool_attach(nm, 0);
	CHECK(q != NULL);
	if (q)
		jumbo_pool_destroy(q);
	printf("abi       a segment of ABI 2 refused (EPROTO)\n");
}

/* A REQUIRE that ends the test leaves no segment behind (a destroyed
 * pool's name is gone already: ENOENT, ignored). */
static void unlink_pool(void)
{
	jumbo_pool_unlink(nm);
}

int main(void)
{
	/* No statistics segment to leave behind either. */
	setenv("JUMBO_STAT", "0", 1);
	snprintf(nm, sizeof(nm), "shmdepot-%d", (int)getpid());
	p = test_named_pool(nm, PAGES, GROW, CACHE, false);
	atexit(unlink_pool);
	map_segment();

	/* Every committed page the test's: the queue empty, nothing left
	 * to carve. */
	void *v[GROW];
	REQUIRE(jumbo_pool_alloc_bulk(p, v, GROW) == GROW);
	REQUIRE(C->committed == GROW && C->carved == GROW);
	REQUIRE(C->head == C->tail);
	for (unsigned i = 0; i < GROW; i++)
		all[frame_of(v[i])] = v[i];
	for (frame_t f = 0; f < GROW; f++)
		REQUIRE(all[f] == addr_of(f));
	alloc_me = word(0);
	REQUIRE((alloc_me & PGS_MASK) == JUMBO_PG_ALLOC &&
		fr_owner_of(alloc_me) != 0);

	uint32_t past[8];
	for (unsigned b = 0; b < 8; b++)
		past[b] = word(GROW + b);

	middle();
	committed(past);
	wrap();
	unaligned();
	down();
	twice();
	put();
	abi();

	/* Everything back: the frames put() did not free. */
	for (frame_t f = 0; f < GROW; f++)
		if ((f < 100 || f >= 100 + 2 * MAG) && f != 400)
			CHECK_EQ(jumbo_pool_free(p, all[f]), 0);
	struct jumbo_stats st;
	CHECK_EQ(jumbo_pool_stats(p, &st), 0);
	CHECK_EQ(st.in_use, 0);
	munmap(seg, H->total_bytes - H->off_ctl);
	jumbo_pool_destroy(p);
	return check_done("shm_depot");
}
