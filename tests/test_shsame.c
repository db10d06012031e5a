/*
 * A named pool's short cuts within one process, and the races they leave
 * to catch.  A process frees its own pages (ALLOC|me) with a load and a
 * plain store, as a private pool frees between threads (shm.c,
 * "allocation and free"); what that must still catch:
 *
 *   copy      a page in a thread's cache whose word no longer reads
 *             FREE|me (the second copy of a double free that escaped,
 *             made here white-box: the word written as the first copy's
 *             allocation leaves it) is not handed out: it is dropped,
 *             reported with the function and its address, and counted in
 *             double_frees;
 *   twins     two threads of one process free one page at the same
 *             instant, over and over: both may succeed, but the page is
 *             never handed out twice and each escaped double free is
 *             counted exactly once;
 *   foreign   two processes free a third's page at the same instant:
 *             exactly one succeeds, the other gets EALREADY (a page of
 *             another process keeps the compare-and-swap);
 *   live      a process allocating and freeing its own pages on the
 *             short cuts while peers are killed and reclaimed beside it
 *             loses no page, gets none twice, and sees no twin: a
 *             reclaim touches only the words of processes proven dead.
 *
 * Every check is on outcomes, never on timing: on a loaded machine the
 * races escape less often, which changes nothing that is checked.
 *
 *   test_shsame [seed]
 */
#include "check.h"
#include "test_named.h"

#include <jumbo/jumbo.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGES 512
#define CACHE 64

static char nm[32];

static struct jumbo_pool *named(void)
{
	static unsigned serial;

	snprintf(nm, sizeof(nm), "shsame-%d-%u", (int)getpid(), serial++);
	return test_named_pool(nm, PAGES, 64, CACHE, false);
}

static uint64_t stat_of(struct jumbo_pool *p, bool double_frees)
{
	struct jumbo_stats st;

	CHECK_EQ(jumbo_pool_stats(p, &st), 0);
	return double_frees ? st.double_frees : st.in_use;
}

static size_t frame_of(struct jumbo_pool *p, void *a)
{
	return (size_t)(jumbo_pool_iova(p, a) >> 12);
}

/*
 * Spin until *v reaches want, then yield too (the other side may not be
 * running).  A race's start spins longer: the closer both sides leave
 * it, the more often the race is real.
 */
static void spin_for(_Atomic unsigned *v, unsigned want, unsigned spins)
{
	for (unsigned k = 0; atomic_load(v) < want; k++)
		if (k > spins)
			sched_yield();
}

static void wait_for(_Atomic unsigned *v, unsigned want)
{
	spin_for(v, want, 200);
}

/* ---- copy ----------------------------------------------------------------- */

/*
 * The segment's state words (src/pool/shm.c, the layout): after the pages
 * come the control page and 255 process records of 64 bytes (16 KiB).
 */
static _Atomic uint32_t *state_words(struct jumbo_pool *p)
{
	off_t off = ((off_t)PAGES << 12) + 4096 + 16384;
	void *m = mmap(NULL, PAGES * 4, PROT_READ | PROT_WRITE, MAP_SHARED,
		       jumbo_pool_fd(p), off);

	REQUIRE(m != MAP_FAILED);
	return m;
}

static unsigned logged;
static char logmsg[512];

static void hook(int level, const char *msg, void *arg)
{
	(void)level;
	(void)arg;
	if (logged++ == 0)
		snprintf(logmsg, sizeof(logmsg), "%s", msg);
}

static void copy(void)
{
	struct jumbo_pool *p = named();
	void *x = jumbo_pool_alloc(p), *y = jumbo_pool_alloc(p);
	char addr[32];

	REQUIRE(x && y);
	/* LIFO: x on top of the cache, y under it. */
	CHECK_EQ(jumbo_pool_free(p, y), 0);
	CHECK_EQ(jumbo_pool_free(p, x), 0);
	_Atomic uint32_t *w = state_words(p);
	uint32_t fx = atomic_load(&w[frame_of(p, x)]);
	CHECK_EQ(fx & 0xffu, 1);           /* FREE */
	CHECK(((fx >> 8) & 0xffu) != 0);   /* | me */
	CHECK_EQ(atomic_load(&w[frame_of(p, y)]), fx);
	/* The other copy of x was allocated: ALLOC|me. */
	atomic_store(&w[frame_of(p, x)], fx + 1);

	CHECK_EQ(jumbo_set_log(hook, NULL), 0);
	void *z = jumbo_pool_alloc(p);
	CHECK_EQ(jumbo_set_log(NULL, NULL), 0);
	CHECK(z == y);
	CHECK_EQ(stat_of(p, true), 1);
	CHECK_EQ(logged, 1);
	snprintf(addr, sizeof(addr), "%p", x);
	CHECK(strstr(logmsg, "jumbo_pool_alloc") && strstr(logmsg, addr));
	printf("copy: a cached page that is not ours any more: dropped, "
	       "reported (\"%s\")\n", logmsg);

	/* The first copy's owner frees it: then nothing is amiss. */
	CHECK_EQ(jumbo_pool_free(p, x), 0);
	CHECK_EQ(jumbo_pool_free(p, z), 0);
	CHECK_EQ(stat_of(p, false), 0);
	munmap((void *)w, PAGES * 4);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/* ---- twins ---------------------------------------------------------------- */

#define TWIN_ROUNDS 20000
#define TWIN_MS 3000

static struct jumbo_pool *tp;
static _Atomic unsigned char owned[PAGES];
static _Atomic unsigned handed_twice, both_refused;
static _Atomic unsigned step; /* 4 per round, see twin_thread */
static _Atomic unsigned arrived;
static void *race_x;
static int res[2];
static unsigned escaped; /* rounds both frees passed (thread 0's count) */
static unsigned rounds;
static _Atomic int stop_twins;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *take(void)
{
	void *a = jumbo_pool_alloc(tp);
	unsigned char zero = 0;

	REQUIRE(a);
	if (!atomic_compare_exchange_strong(&owned[frame_of(tp, a)], &zero, 1))
		atomic_fetch_add(&handed_twice, 1);
	return a;
}

static void give(void *a)
{
	atomic_store(&owned[frame_of(tp, a)], 0);
	CHECK_EQ(jumbo_pool_free(tp, a), 0);
}

/*
 * Round i, threads 0 and 1 taking turns but for the race: 0 allocates x;
 * both free it as close together as they can; then 0 takes a page and
 * 1 takes a page (if both frees passed, 0 gets x from the top of its
 * cache and 1 meets its copy on top of its own: dropped, counted), and
 * each frees what it took.  Round i + 1 may start while 1 frees.
 */
static void *twin_thread(void *arg)
{
	int me = (int)(intptr_t)arg;
	uint64_t t0 = now_ms();
	unsigned i;
	void *a;

	for (i = 0; i < TWIN_ROUNDS; i++) {
		if (me == 0) {
			/* Enough rounds, or enough time (counted, not checked). */
			if (i > 0 && now_ms() - t0 > TWIN_MS) {
				atomic_store(&stop_twins, 1);
				atomic_store(&step, 4 * i + 1);
				break;
			}
			race_x = take();
			/* From the race on, nobody owns it. */
			atomic_store(&owned[frame_of(tp, race_x)], 0);
			atomic_store(&step, 4 * i + 1);
		}
		wait_for(&step, 4 * i + 1);
		if (atomic_load(&stop_twins))
			break;
		atomic_fetch_add(&arrived, 1);
		spin_for(&arrived, 4 * i + 2, 1u << 20);
		res[me] = jumbo_pool_free(tp, race_x);
		atomic_fetch_add(&step, 1);
		wait_for(&step, 4 * i + 3);
		if (me == 0) {
			if (res[0] != 0 && res[1] != 0)
				atomic_fetch_add(&both_refused, 1);
			if (res[0] == 0 && res[1] == 0)
				escaped++;
			a = take();
			atomic_fetch_add(&step, 1);
		} else {
			wait_for(&step, 4 * i + 4);
			a = take();
		}
		/*
		 * Both took before either gives back: x given back by 0 at
		 * once could look free to 1 again, which would take it.
		 */
		atomic_fetch_add(&arrived, 1);
		wait_for(&arrived, 4 * i + 4);
		give(a);
	}
	if (me == 0)
		rounds = i;
	return NULL;
}

static void twins(void)
{
	pthread_t t[2];

	tp = named();
	for (int k = 0; k < 2; k++)
		REQUIRE(pthread_create(&t[k], NULL, twin_thread,
				       (void *)(intptr_t)k) == 0);
	for (int k = 0; k < 2; k++)
		REQUIRE(pthread_join(t[k], NULL) == 0);
	/* Escapes: both frees returned 0; each left one copy to catch. */
	uint64_t caught = stat_of(tp, true);
	CHECK_EQ(caught, escaped);
	CHECK_EQ(handed_twice, 0);
	CHECK_EQ(both_refused, 0);
	CHECK_EQ(stat_of(tp, false), 0);
	printf("twins: %u rounds, %llu double frees escaped the free, each "
	       "caught once, none handed out twice\n", rounds,
	       (unsigned long long)caught);
	CHECK_EQ(jumbo_pool_destroy(tp), 0);
}

/* ---- foreign -------------------------------------------------------------- */

#define FOREIGN_ROUNDS 40
#define BATCH 64

struct foreign {
	_Atomic unsigned batch;      /* batches published by the owner */
	_Atomic unsigned arrived[BATCH];
	_Atomic unsigned done;       /* frees made, both children */
	uint64_t iova[BATCH];
	int res[2][BATCH];
	int bad[2];                  /* a child's own failures */
	_Atomic unsigned won, refused, other;
};

static void foreign_child(struct foreign *F, int me)
{
	struct jumbo_pool *q = jumbo_pool_attach(nm, 0);

	if (!q)
		_exit(2);
	for (unsigned b = 0; b < FOREIGN_ROUNDS; b++) {
		wait_for(&F->batch, b + 1);
		for (unsigned i = 0; i < BATCH; i++) {
			atomic_fetch_add(&F->arrived[i], 1);
			spin_for(&F->arrived[i], 2 * (b + 1), 1u << 16);
			int r = jumbo_pool_free(q, jumbo_pool_iova_to_addr(q, F->iova[i]));
			atomic_fetch_add(r == 0 ? &F->won : r == -EALREADY ? &F->refused
							       : &F->other, 1);
			F->res[me][i] = r;
		}
		atomic_fetch_add(&F->done, 1);
	}
	_exit(jumbo_pool_destroy(q) == 0 ? 0 : 3);
}

static void foreign(void)
{
	struct jumbo_pool *p = named();
	struct foreign *F = mmap(NULL, sizeof(*F), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t c[2];

	REQUIRE(F != MAP_FAILED);
	memset(F, 0, sizeof(*F));
	fflush(stdout);
	for (int k = 0; k < 2; k++) {
		c[k] = fork();
		REQUIRE(c[k] >= 0);
		if (c[k] == 0)
			foreign_child(F, k);
	}
	unsigned split = 0;
	for (unsigned b = 0; b < FOREIGN_ROUNDS; b++) {
		for (unsigned i = 0; i < BATCH; i++) {
			void *a = jumbo_pool_alloc(p);
			REQUIRE(a);
			F->iova[i] = jumbo_pool_iova(p, a);
		}
		atomic_store(&F->batch, b + 1);
		wait_for(&F->done, 2 * (b + 1));
		for (unsigned i = 0; i < BATCH; i++) {
			int r0 = F->res[0][i], r1 = F->res[1][i];
			CHECK((r0 == 0 && r1 == -EALREADY) ||
			      (r1 == 0 && r0 == -EALREADY));
			split += r0 == 0;
		}
	}
	for (int k = 0; k < 2; k++) {
		int ws;
		REQUIRE(waitpid(c[k], &ws, 0) == c[k]);
		CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	}
	CHECK_EQ(F->won, FOREIGN_ROUNDS * BATCH);
	CHECK_EQ(F->refused, FOREIGN_ROUNDS * BATCH);
	CHECK_EQ(F->other, 0);
	CHECK_EQ(stat_of(p, false), 0);
	CHECK_EQ(stat_of(p, true), 0);
	printf("foreign: %u pages of a third process freed by two at once: "
	       "exactly one free each (%u and %u), the other EALREADY\n",
	       FOREIGN_ROUNDS * BATCH, split, FOREIGN_ROUNDS * BATCH - split);
	munmap(F, sizeof(*F));
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/* ---- live ----------------------------------------------------------------- */

#define VICTIMS 60
#define LIVE_BURST 48

struct live {
	_Atomic int stop;
	_Atomic unsigned rounds;
	_Atomic unsigned bad_token, twins, fails;
};

/* The live owner: bursts of its own pages, marked and checked. */
static void live_child(struct live *L, uint64_t seed)
{
	struct jumbo_pool *q = jumbo_pool_attach(nm, 0);
	void *v[LIVE_BURST];

	if (!q)
		_exit(2);
	while (!atomic_load(&L->stop)) {
		unsigned n = 1 + (unsigned)(rnd(&seed) % LIVE_BURST), got = 0;
		uint64_t tag = rnd(&seed);
		for (; got < n; got++) {
			v[got] = jumbo_pool_alloc(q);
			if (!v[got])
				break; /* the victims hold the rest for now */
			*(volatile uint64_t *)v[got] = tag + got;
		}
		for (unsigned i = 0; i < got; i++)
			if (*(volatile uint64_t *)v[i] != tag + i)
				atomic_fetch_add(&L->bad_token, 1);
		for (unsigned i = 0; i < got; i++)
			if (jumbo_pool_free(q, v[i]) != 0)
				atomic_fetch_add(&L->fails, 1);
		atomic_fetch_add(&L->rounds, 1);
	}
	struct jumbo_stats st;
	if (jumbo_pool_stats(q, &st) == 0)
		atomic_store(&L->twins, (unsigned)st.double_frees);
	_exit(jumbo_pool_destroy(q) == 0 ? 0 : 3);
}

/* A victim: allocates, caches, and is killed with both. */
static void victim(uint64_t seed)
{
	struct jumbo_pool *q = jumbo_pool_attach(nm, 0);
	void *v[CACHE];

	if (!q)
		_exit(2);
	unsigned n = jumbo_pool_alloc_bulk(q, v, 1 + (unsigned)(rnd(&seed) % CACHE));
	jumbo_pool_free_bulk(q, v, n / 2);
	raise(SIGKILL);
}

static void live(uint64_t seed)
{
	struct jumbo_pool *p = named();
	struct live *L = mmap(NULL, sizeof(*L), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static void *all[PAGES + 1];
	int ws;

	REQUIRE(L != MAP_FAILED);
	memset(L, 0, sizeof(*L));
	fflush(stdout);
	pid_t l = fork();
	REQUIRE(l >= 0);
	if (l == 0)
		live_child(L, seed);
	long back = 0;
	for (unsigned k = 0; k < VICTIMS; k++) {
		uint64_t s = rnd(&seed);
		pid_t v = fork();
		REQUIRE(v >= 0);
		if (v == 0)
			victim(s);
		REQUIRE(waitpid(v, &ws, 0) == v);
		long n = jumbo_pool_reclaim(p);
		CHECK(n >= 0);
		back += n;
	}
	/* The owner made some rounds while the victims died (not timed). */
	wait_for(&L->rounds, 100);
	atomic_store(&L->stop, 1);
	REQUIRE(waitpid(l, &ws, 0) == l);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(L->bad_token, 0);
	CHECK_EQ(L->fails, 0);
	CHECK_EQ(L->twins, 0);
	/* Every page of the cap comes out exactly once. */
	CHECK(jumbo_pool_reclaim(p) >= 0);
	static bool seen[PAGES];
	unsigned got = 0;
	while (got <= PAGES && (all[got] = jumbo_pool_alloc(p)) != NULL) {
		size_t f = frame_of(p, all[got++]);
		CHECK(f < PAGES && !seen[f]);
		seen[f % PAGES] = true;
	}
	CHECK_EQ(got, PAGES);
	CHECK_EQ(jumbo_pool_free_bulk(p, all, got), 0);
	CHECK_EQ(stat_of(p, false), 0);
	CHECK_EQ(stat_of(p, true), 0);
	printf("live: %u rounds of the owner's own pages beside %d victims "
	       "killed and reclaimed (%ld pages back): nothing lost or "
	       "doubled\n", atomic_load(&L->rounds), VICTIMS, back);
	munmap(L, sizeof(*L));
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* nothing buffered across fork */
	/* No live-statistics thread: the children attach pools. */
	setenv("JUMBO_STAT", "0", 1);
	uint64_t seed = test_seed(argc, argv, "shsame");

	copy();
	twins();
	foreign();
	live(seed | 1);
	return check_done("shsame");
}
