/*
 * Trim of a named shared pool: the memory of pages free in the depot's
 * queue goes back to the kernel (holes in the object), whoever freed them;
 * they read as zeros when next allocated, in any process; a trim with an
 * age leaves pages freed more recently; trim never takes a page from under
 * a process that allocated it, while others allocate, write and free at
 * full speed; a trimmer killed at any instant leaves the pool whole.
 *
 * Usage: test_shm_trim [seed]
 */
#include "test_named.h"

#include <jumbo/jumbo.h>

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGES 2048u
#define GROW 256u

static char name[40];

/* The object's memory, in pages (its metadata included). */
static long object_pages(struct jumbo_pool *p)
{
	struct stat sb;

	REQUIRE(fstat(jumbo_pool_fd(p), &sb) == 0);
	return (long)(sb.st_blocks * 512 / 4096);
}

/* A child attaches, allocates every page, writes each whole, frees all. */
static void fill_in_child(void)
{
	pid_t c = fork();
	int ws;

	REQUIRE(c >= 0);
	if (c == 0) {
		alarm(TEST_HANG_SECONDS);
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		static void *v[PAGES];
		unsigned n = 0;

		if (!q)
			_exit(2);
		while (n < PAGES && (v[n] = jumbo_pool_alloc(q)) != NULL)
			memset(v[n++], 0xa5, 4096);
		for (unsigned i = 0; i < n; i++)
			if (jumbo_pool_free(q, v[i]) != 0)
				_exit(3);
		_exit(n == PAGES && jumbo_pool_destroy(q) == 0 ? 0 : 4);
	}
	REQUIRE(waitpid(c, &ws, 0) == c);
	REQUIRE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

/* Every page allocated again: all read zeros where trim gave them back
 * (want_zero), all are writable; they go back.  The pages that read as
 * zeros. */
static unsigned realloc_all(struct jumbo_pool *p)
{
	static void *v[PAGES];
	unsigned n = 0, zero = 0;

	while (n < PAGES && (v[n] = jumbo_pool_alloc(p)) != NULL)
		n++;
	CHECK_EQ(n, PAGES);
	for (unsigned i = 0; i < n; i++) {
		const uint64_t *w = v[i];
		bool z = true;

		for (unsigned j = 0; j < 4096 / 8; j++)
			z &= w[j] == 0;
		zero += z;
		memset(v[i], 0x5a, 4096);
	}
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	jumbo_pool_flush_cache(p);
	return zero;
}

/* Freed by another process, trimmed by this one: the memory goes. */
static void given_back(struct jumbo_pool *p)
{
	fill_in_child();
	struct jumbo_stats st0 = test_stats(p);
	long obj0 = object_pages(p);
	long got = jumbo_pool_trim(p, 0);
	struct jumbo_stats st1 = test_stats(p);
	long obj1 = object_pages(p);

	CHECK_EQ(st0.committed, PAGES);
	CHECK_EQ(got, PAGES);
	CHECK_EQ(st1.committed, 0);
	CHECK_EQ(st1.trims, st0.trims + PAGES);
	CHECK(obj1 <= obj0 - (long)PAGES);
	CHECK_EQ(jumbo_pool_trim(p, 0), 0); /* nothing left to give */
	unsigned zero = realloc_all(p);
	CHECK_EQ(zero, PAGES);
	CHECK_EQ(test_stats(p).committed, PAGES);
	CHECK_EQ(test_stats(p).in_use, 0);
	printf("given back: %ld pages another process freed, object %ld -> "
	       "%ld pages; all %u read zeros when allocated again\n", got,
	       obj0, obj1, zero);
}

/* A trim with an age leaves what was freed since. */
static void aged(struct jumbo_pool *p)
{
	CHECK_EQ(jumbo_pool_trim(p, 0), PAGES); /* realloc_all wrote them */
	fill_in_child();
	CHECK_EQ(jumbo_pool_trim(p, 60000), 0);
	CHECK_EQ(test_stats(p).committed, PAGES);
	nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
	long got = jumbo_pool_trim(p, 200);
	CHECK_EQ(got, PAGES);
	printf("aged: pages freed just now stay at a trim of 60 s, go at one "
	       "of 200 ms 300 ms later (%ld)\n", got);
}

/*
 * Two processes allocate, write a token over each page and check it
 * until they free it, as fast as they can, while a third trims without
 * pause and is SIGKILLed at a random instant; then the pool is whole.
 */
#define LOAD_PAGES 256u /* a short queue: pages freed are soon taken */

static pid_t worker(const char *pool, unsigned seed, unsigned rounds)
{
	pid_t c = fork();

	REQUIRE(c >= 0);
	if (c != 0)
		return c;
	alarm(TEST_HANG_SECONDS);
	struct jumbo_pool *q = jumbo_pool_attach(pool, 0);
	static void *v[LOAD_PAGES / 2];

	if (!q)
		_exit(2);
	srand(seed);
	for (unsigned r = 0; r < rounds; r++) {
		unsigned n = 1 + (unsigned)rand() % (LOAD_PAGES / 2 - 16);
		uint64_t tok = ((uint64_t)getpid() << 32) | r;

		n = jumbo_pool_alloc_bulk(q, v, n);
		for (unsigned i = 0; i < n; i++)
			for (unsigned j = 0; j < 4096 / 8; j += 64)
				((uint64_t *)v[i])[j] = tok + i;
		sched_yield(); /* let the trimmer in between */
		for (unsigned i = 0; i < n; i++)
			for (unsigned j = 0; j < 4096 / 8; j += 64)
				if (((uint64_t *)v[i])[j] != tok + i) {
					fprintf(stderr, "page %p lost its data "
						"while allocated\n", v[i]);
					_exit(5);
				}
		if (jumbo_pool_free_bulk(q, v, n) != 0)
			_exit(3);
		jumbo_pool_flush_cache(q); /* through the queue */
	}
	_exit(jumbo_pool_destroy(q) == 0 ? 0 : 4);
}

static void under_load(unsigned seed)
{
	char load_name[48];
	pid_t w[2], t;
	int ws;
	/* What the trimmer gave back so far, where it cannot block. */
	volatile long *trimmed = mmap(NULL, sizeof(long),
				      PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	snprintf(load_name, sizeof(load_name), "%s-load", name);
	struct jumbo_pool *p = test_named_pool(load_name, LOAD_PAGES, 64, 16,
					       false);

	REQUIRE(trimmed != MAP_FAILED);
	t = fork();
	REQUIRE(t >= 0);
	if (t == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(load_name, 0);

		if (!q)
			_exit(2);
		for (;;) {
			long r = jumbo_pool_trim(q, 0);
			if (r < 0)
				_exit(3);
			*trimmed += r;
		}
	}
	w[0] = worker(load_name, seed, 3000);
	w[1] = worker(load_name, seed + 1, 3000);
	for (int i = 0; i < 2; i++) {
		REQUIRE(waitpid(w[i], &ws, 0) == w[i]);
		CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	}
	/* The trimmer dies at an instant of its own choosing: most of its
	 * time is in the depot's lock. */
	srand(seed);
	nanosleep(&(struct timespec){.tv_nsec = (rand() % 20) * 1000000L},
		  NULL);
	kill(t, SIGKILL);
	REQUIRE(waitpid(t, &ws, 0) == t);
	CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	CHECK(jumbo_pool_reclaim(p) >= 0);
	CHECK_EQ(test_stats(p).in_use, 0);
	static void *v[LOAD_PAGES];
	unsigned n = 0;
	while (n < LOAD_PAGES && (v[n] = jumbo_pool_alloc(p)) != NULL)
		memset(v[n++], 0x5a, 4096);
	CHECK_EQ(n, LOAD_PAGES);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	CHECK_EQ(test_stats(p).in_use, 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	test_named_unlink(load_name);
	long given = *trimmed;
	munmap((void *)trimmed, sizeof(long));
	printf("under load: two processes x 3000 rounds, each page's data "
	       "checked while a third trimmed (%ld pages given back) and was "
	       "killed; then every page allocated again\n", given);
}

/* trim_idle_ms: an idle pool trims itself at its next slow path. */
static void automatic(void)
{
	char auto_name[48];
	struct jumbo_pool_params pp;

	snprintf(auto_name, sizeof(auto_name), "%s-auto", name);
	jumbo_pool_params_init(&pp);
	pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	pp.max_pages = PAGES;
	pp.grow_pages = GROW;
	pp.reserve_pages = 0;
	pp.trim_idle_ms = 100;
	pp.name = auto_name;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	static void *v[PAGES];
	unsigned n = 0;
	while (n < PAGES && (v[n] = jumbo_pool_alloc(p)) != NULL)
		memset(v[n++], 1, 4096);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	jumbo_pool_flush_cache(p);
	uint64_t before = test_stats(p).committed;
	nanosleep(&(struct timespec){.tv_nsec = 400000000}, NULL);
	/* A slow path: a cache that runs dry refills from the depot. */
	jumbo_pool_flush_cache(p);
	void *a = jumbo_pool_alloc(p);
	REQUIRE(a);
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	jumbo_pool_flush_cache(p);
	struct jumbo_stats st = test_stats(p);
	CHECK(st.trims > 0);
	CHECK(st.committed < before);
	printf("automatic: trim_idle_ms 100, idle 400 ms: %llu pages given "
	       "back at the next slow path (%llu -> %llu with memory)\n",
	       (unsigned long long)st.trims, (unsigned long long)before,
	       (unsigned long long)st.committed);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	test_named_unlink(auto_name);
}

/*
 * The queue keeps SHM_MARKS (64) age marks, one per 50 ms of puts at
 * most.  Puts spread over more than 64 of those intervals while nothing
 * takes from the queue (a burst that ends, then an idle pool) fill them;
 * the pages put after that must still age and go, once idle long enough.
 */
#define MARK_ROUNDS 72u

static void marks_full(void)
{
	char m_name[48];
	static void *v[MARK_ROUNDS];

	snprintf(m_name, sizeof(m_name), "%s-marks", name);
	struct jumbo_pool *p = test_named_pool(m_name, 256, 256, 16, false);
	for (unsigned i = 0; i < MARK_ROUNDS; i++) {
		v[i] = jumbo_pool_alloc(p); /* fresh: the queue is empty */
		REQUIRE(v[i]);
		memset(v[i], 0x33, 4096);
	}
	for (unsigned i = 0; i < MARK_ROUNDS; i++) { /* one put each */
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
		jumbo_pool_flush_cache(p);
		nanosleep(&(struct timespec){.tv_nsec = 55000000}, NULL);
	}
	nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
	long aged = jumbo_pool_trim(p, 200);
	long rest = jumbo_pool_trim(p, 0); /* what the aged trim left */
	CHECK(aged >= (long)MARK_ROUNDS);
	CHECK_EQ(rest, 0);
	printf("marks full: %u puts 55 ms apart, idle 300 ms: a trim of 200 "
	       "ms gave back %ld pages, left %ld\n", MARK_ROUNDS, aged, rest);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	test_named_unlink(m_name);
}

/*
 * A corrupted control page: committed past the cap.  The frames trim
 * looks at are below the cap whatever it says: a queue entry naming the
 * frame at the cap (whose "word" is then the queue's first entry, here
 * 1, FREE) must not have its "page" punched: that is the control page.
 * Statistics neither crash nor hang on a huge committed.
 */
#define BAD_CAP 1024u /* words fill one page: frame BAD_CAP's is fifo[0] */

struct ctl_head {
	pthread_mutex_t lock;
	uint32_t lock_slot, dirty;
	uint64_t head, tail, carved, committed;
};

/* The whole control page (src/pool/shm_int.h, struct jumbo_shm_ctl). */
struct ctl_all {
	pthread_mutex_t lock;
	uint32_t lock_slot, dirty;
	uint64_t head, tail, carved, committed, reserve;
	int64_t out;
	uint64_t high_water, owner_deaths, grows, grow_fails, rebuilds;
	uint64_t reclaims, reclaimed, stale, run_cursor, scan_tail;
	uint32_t rebuild_due, qmiss_n;
	uint64_t qmiss_look, qmiss_head, trim_pos, trimmed;
	uint32_t put_ms, mark_at, mark_n;
	struct { uint64_t pos; uint32_t ms, pad; } mark[64];
};

/*
 * Garbage in the trim's fields of the control page (the marks, trim_pos,
 * head and tail), rounds of it from the seed: trim neither crashes nor
 * punches an allocated page (each keeps its data), and with the page put
 * back the pool is whole.
 */
static void bad_marks(unsigned seed)
{
	char b_name[48];
	static void *v[BAD_CAP];
	unsigned n = 0;

	snprintf(b_name, sizeof(b_name), "%s-bad", name);
	struct jumbo_pool *p = test_named_pool(b_name, BAD_CAP, 64, 16, false);
	while (n < BAD_CAP && (v[n] = jumbo_pool_alloc(p)) != NULL)
		n++;
	REQUIRE(n == BAD_CAP);
	for (unsigned i = 0; i < n; i += 2) /* half free, in the queue */
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	jumbo_pool_flush_cache(p);
	for (unsigned i = 1; i < n; i += 2)
		memset(v[i], 0x6b, 4096);
	struct ctl_all *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_SHARED, jumbo_pool_fd(p),
				 (off_t)BAD_CAP << 12);
	REQUIRE(c != MAP_FAILED);
	static struct ctl_all was;
	was = *c;
	CHECK(was.tail - was.head == BAD_CAP / 2);
	srand(seed);
	for (unsigned r = 0; r < 200; r++) {
		uint64_t g[4];
		for (int i = 0; i < 4; i++)
			g[i] = ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^
			       (uint64_t)rand();
		c->mark_n = r % 3 == 0 ? (uint32_t)g[0] : (uint32_t)(g[0] % 65);
		c->mark_at = (uint32_t)g[1];
		for (unsigned i = 0; i < 64; i++) {
			c->mark[i].pos = r % 2 ? was.head + (uint64_t)rand() % BAD_CAP
					       : ((uint64_t)rand() << 33) ^ (uint64_t)rand();
			c->mark[i].ms = (uint32_t)rand();
		}
		c->trim_pos = r % 4 == 0 ? g[2] : was.head + g[2] % (BAD_CAP / 2);
		if (r % 5 == 0) {
			c->head = g[3];
			c->tail = g[3] + (uint64_t)rand() % (2 * BAD_CAP);
		} else if (r % 5 == 1) {
			c->head = g[3];
			c->tail = (uint64_t)rand();
		}
		(void)jumbo_pool_trim(p, 0);
		(void)jumbo_pool_trim(p, (unsigned)rand() % 1000);
		c->head = was.head;
		c->tail = was.tail;
	}
	unsigned bad = 0;
	for (unsigned i = 1; i < n; i += 2) {
		const unsigned char *b = v[i];
		bad += b[0] != 0x6b || b[4095] != 0x6b;
	}
	CHECK_EQ(bad, 0);
	*c = was; /* nobody holds its lock */
	for (unsigned i = 1; i < n; i += 2)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	jumbo_pool_flush_cache(p);
	n = 0;
	while (n < BAD_CAP && (v[n] = jumbo_pool_alloc(p)) != NULL)
		n++;
	CHECK_EQ(n, BAD_CAP);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, n), 0);
	printf("bad marks: 200 rounds of garbage in marks, trim_pos, head and "
	       "tail: no crash, %u allocated pages punched, the pool whole\n",
	       bad);
	munmap(c, 4096);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	test_named_unlink(b_name);
}

static void bad_committed(void)
{
	char b_name[48];
	struct jumbo_stats st;
	int ws;

	snprintf(b_name, sizeof(b_name), "%s-bad", name);
	struct jumbo_pool *p = test_named_pool(b_name, BAD_CAP, 64, 16, false);
	void *a = jumbo_pool_alloc(p); /* the pool has carved pages */
	REQUIRE(a);
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	jumbo_pool_flush_cache(p);
	int fd = jumbo_pool_fd(p);
	off_t off_ctl = (off_t)BAD_CAP << 12;
	/* ctl, procs (255 records of 64 bytes, 4 pages), words (1 page). */
	off_t off_fifo = off_ctl + 4096 + 4 * 4096 + 4096;
	struct ctl_head *h = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_SHARED, fd, off_ctl);
	uint32_t *fifo = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
			      fd, off_fifo);
	REQUIRE(h != MAP_FAILED && fifo != MAP_FAILED);
	struct ctl_head was = *h;
	uint32_t f0 = fifo[0], f1 = fifo[1];

	CHECK(was.carved > 0);
	fifo[0] = 1;       /* JUMBO_PG_FREE, as frame BAD_CAP's "word" */
	fifo[1] = BAD_CAP; /* the only entry: the frame at the cap */
	h->head = 1;
	h->tail = 2;
	h->committed = BAD_CAP + 1;
	long got = jumbo_pool_trim(p, 0);
	uint64_t carved = h->carved; /* zero if the page was punched */
	CHECK(got <= 0);
	CHECK_EQ(carved, was.carved);
	/* Statistics over a committed of 2^40 pages, in a child. */
	h->committed = (uint64_t)1 << 40;
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		alarm(20);
		_exit(jumbo_pool_stats(p, &st) == 0 ? 0 : 1);
	}
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	/* carved past committed: no depot count beyond the pool's cap. */
	h->committed = was.committed;
	h->carved = was.committed + 5;
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK(st.depot_free <= BAD_CAP);
	h->carved = carved;
	printf("bad committed: trim gave back %ld (the control page kept: "
	       "carved %llu), statistics %s\n", got, (unsigned long long)carved,
	       WIFEXITED(ws) ? "returned" : "crashed or hung");
	if (carved == was.carved) { /* whole: put it back, destroy it */
		h->head = was.head;
		h->tail = was.tail;
		h->committed = was.committed;
		fifo[0] = f0;
		fifo[1] = f1;
		CHECK_EQ(jumbo_pool_destroy(p), 0);
	}
	munmap(h, 4096);
	munmap(fifo, 4096);
	test_named_unlink(b_name);
}

/*
 * Memory in 2 MiB pages (/dev/shm mounted huge=advise, as test_shhuge
 * does, in a child with a mount namespace of its own): a 4 KiB hole in a
 * huge page must still give its memory back (the kernel splits the huge
 * page), so that what trim returns and committed say is what the object
 * holds.  Half the pages free, every other one: the worst case.
 */
static void huge_backed(void)
{
	int ws;
	pid_t c = fork();

	REQUIRE(c >= 0);
	if (c == 0) {
		alarm(TEST_HANG_SECONDS);
		if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("test-shm-trim", "/dev/shm", "tmpfs", 0,
			  "huge=advise,mode=1777") != 0)
			_exit(77);
		struct jumbo_pool *p = test_named_pool(name, PAGES, PAGES, 64,
						       false);
		static void *v[PAGES];
		unsigned n = jumbo_pool_alloc_bulk(p, v, PAGES);
		CHECK_EQ(n, PAGES);
		for (unsigned i = 0; i < n; i++)
			memset(v[i], 0x5a, 4096);
		for (unsigned i = 0; i < n; i += 2)
			CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
		jumbo_pool_flush_cache(p);
		long obj0 = object_pages(p);
		long got = jumbo_pool_trim(p, 0);
		long obj1 = object_pages(p);
		CHECK_EQ(got, (long)PAGES / 2);
		CHECK_EQ(test_stats(p).committed, PAGES / 2);
		CHECK(obj1 <= obj0 - (long)PAGES / 2);
		CHECK_EQ(jumbo_pool_trim(p, 0), 0);
		for (unsigned i = 1; i < n; i += 2) {
			const unsigned char *b = v[i];
			CHECK(b[0] == 0x5a && b[4095] == 0x5a);
			CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
		}
		printf("huge backed: every other page free, trimmed: %ld pages "
		       "given back, object %ld -> %ld pages\n", got, obj0, obj1);
		CHECK_EQ(jumbo_pool_destroy(p), 0);
		test_named_unlink(name);
		fflush(stdout);
		_exit(check_failures ? 1 : 0);
	}
	REQUIRE(waitpid(c, &ws, 0) == c);
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77) {
		printf("huge backed: skipped (needs root and a tmpfs with "
		       "huge=advise)\n");
		return;
	}
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

/*
 * A process killed inside a mark's making leaves no mark that says more
 * than it knows.  The marks are made under the lock by whichever process
 * puts or trims, and a kill there leaves its stores as they were: the
 * count must never name a mark not yet written, and a mark moved up to
 * the tail (marks full) must get its new time before its new position,
 * else for an instant it says that pages just put are as old as the
 * mark was.  A child frees one page (a put, which marks), single-stepped
 * by ptrace; at each instruction the marks are read.  First with room
 * for a mark (it appends), then with the 64 marks full (it moves the
 * newest).  The number of instants at which a mark was half made.
 */
static unsigned mark_steps(const char *pool, struct ctl_all *c,
			   uint64_t iova)
{
	int ws;
	unsigned half = 0;
	pid_t a = fork();

	REQUIRE(a >= 0);
	if (a == 0) {
		alarm(TEST_HANG_SECONDS);
		struct jumbo_pool *q = jumbo_pool_attach(pool, 0);
		if (!q || ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(2);
		raise(SIGSTOP);
		if (jumbo_pool_free(q, jumbo_pool_iova_to_addr(q, iova)) != 0)
			_exit(3);
		jumbo_pool_flush_cache(q);
		_exit(jumbo_pool_destroy(q) == 0 ? 0 : 4);
	}
	REQUIRE(waitpid(a, &ws, 0) == a && WIFSTOPPED(ws));
	uint32_t n0 = c->mark_n, at0 = c->mark_at;
	uint64_t pos0 = c->mark[(at0 + n0 - 1) % 64].pos;
	uint32_t ms0 = c->mark[(at0 + n0 - 1) % 64].ms;
	bool seen = false;
	for (unsigned long k = 0; !seen && k < 20000000ul; k++) {
		REQUIRE(ptrace(PTRACE_SINGLESTEP, a, NULL, NULL) == 0);
		REQUIRE(waitpid(a, &ws, 0) == a);
		if (!WIFSTOPPED(ws))
			break;
		uint32_t n = c->mark_n, at = c->mark_at;
		if (at != at0)
			break; /* marks dropped: not this case */
		if (n == n0 + 1) { /* appended: all of it written? */
			seen = true;
			half += c->mark[(at + n - 1) % 64].pos != c->tail ||
				c->mark[(at + n - 1) % 64].ms != c->put_ms;
		} else if (c->mark[(at + n - 1) % 64].pos != pos0) {
			seen = true; /* moved: its time first? */
			half += c->mark[(at + n - 1) % 64].ms == ms0;
		}
	}
	CHECK(seen);
	REQUIRE(ptrace(PTRACE_DETACH, a, NULL, NULL) == 0 || !WIFSTOPPED(ws));
	REQUIRE(waitpid(a, &ws, 0) == a || errno == ECHILD);
	return half;
}

static void mark_killed(void)
{
	char k_name[48];
	static void *v[80];

	snprintf(k_name, sizeof(k_name), "%s-kill", name);
	struct jumbo_pool *p = test_named_pool(k_name, 256, 256, 16, false);
	struct ctl_all *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_SHARED, jumbo_pool_fd(p), (off_t)256 << 12);
	REQUIRE(c != MAP_FAILED);
	for (unsigned i = 0; i < 80; i++)
		REQUIRE((v[i] = jumbo_pool_alloc(p)) != NULL);
	CHECK_EQ(jumbo_pool_free(p, v[0]), 0);
	jumbo_pool_flush_cache(p); /* the first mark */
	nanosleep(&(struct timespec){.tv_nsec = 60000000}, NULL);
	unsigned append = mark_steps(k_name, c, jumbo_pool_iova(p, v[1]));
	for (unsigned i = 2; c->mark_n < 64 && i < 78; i++) {
		nanosleep(&(struct timespec){.tv_nsec = 55000000}, NULL);
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
		jumbo_pool_flush_cache(p);
	}
	CHECK_EQ(c->mark_n, 64);
	nanosleep(&(struct timespec){.tv_nsec = 60000000}, NULL);
	unsigned move = mark_steps(k_name, c, jumbo_pool_iova(p, v[78]));
	CHECK_EQ(append, 0);
	CHECK_EQ(move, 0);
	printf("mark killed: a put single-stepped, its mark half made at %u "
	       "instant(s) appending, %u moving the newest\n", append, move);
	munmap(c, 4096);
	for (unsigned i = 0; i < 80; i++)
		if (jumbo_page_state(jumbo_pool_page(p, v[i]), NULL, NULL) ==
		    JUMBO_PG_ALLOC)
			CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	test_named_unlink(k_name);
}

static void cleanup(void)
{
	char other[48];

	test_named_unlink(name);
	snprintf(other, sizeof(other), "%s-auto", name);
	test_named_unlink(other);
	snprintf(other, sizeof(other), "%s-load", name);
	test_named_unlink(other);
	snprintf(other, sizeof(other), "%s-marks", name);
	test_named_unlink(other);
	snprintf(other, sizeof(other), "%s-bad", name);
	test_named_unlink(other);
	snprintf(other, sizeof(other), "%s-kill", name);
	test_named_unlink(other);
}

int main(int argc, char **argv)
{
	unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0)
				 : (unsigned)time(NULL);

	printf("seed %u\n", seed);
	snprintf(name, sizeof(name), "test-shm-trim-%d", (int)getpid());
	atexit(cleanup);
	struct jumbo_pool *p = test_named_pool(name, PAGES, GROW, 64, false);

	given_back(p);
	aged(p);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	under_load(seed);
	automatic();
	marks_full();
	bad_committed();
	bad_marks(seed);
	huge_backed();
	mark_killed();
	return check_done("shm_trim");
}
