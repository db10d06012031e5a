/*
 * A private pool finds its contiguous runs again when they were freed
 * page by page, in order or shuffled, by the thread that took them or by
 * another: so a pool that needs a few runs at a time stays that small.
 * (Only runs freed whole were kept as runs: pages freed one by one went
 * into magazines, every later run came from fresh frames, and the pool
 * grew to its cap, where each run then cost a sort of every free page.)
 *
 *   in_order   runs taken and freed page by page, one at a time
 *   handed     runs taken by this thread, with a token on every page,
 *              passed to a second thread that checks the tokens (a page
 *              handed out twice would carry another) and frees 8 runs'
 *              pages at a time in a shuffled order, while this thread
 *              keeps taking runs: none fails, none comes twice
 *   mixed      bursts of single pages between the runs: runs made of
 *              pages freed one by one give them back to single
 *              allocations before the pool grows for those
 *   trimmed    runs made from pages freed one by one survive a trim of
 *              the pool (their memory given back) and are handed out
 *              whole and zeroed
 *
 * Usage: test_contig_reuse [seed]
 */
#include "check.h"

#include <jumbo/jumbo.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN 3u      /* pages of a 9000-byte frame in 4 KiB pages */
#define CAP 65536u  /* far above the need: growth must not be the answer */
#define GROW 256u
#define CACHE 64u
#define PAGE 4096u

static uint64_t rng;


static struct jumbo_pool *make(void)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pp.grow_pages = GROW;
	pp.cache_size = CACHE;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	return p;
}

static struct jumbo_stats stats(struct jumbo_pool *p)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	return st;
}

/*
 * The pool grew no further than twice the pages ever out at once (in use
 * and cached: high_water), plus a growth step: a pool that reuses its
 * runs needs about high_water; one that does not reaches CAP.
 */
static void small(struct jumbo_pool *p, const char *what)
{
	struct jumbo_stats st = stats(p);

	printf("%s: committed %llu pages, high water %llu, %llu failed\n",
	       what, (unsigned long long)st.committed,
	       (unsigned long long)st.high_water,
	       (unsigned long long)st.alloc_fails);
	CHECK(st.committed <= 2 * st.high_water + GROW);
	CHECK_EQ(st.alloc_fails, 0);
}

static void in_order(void)
{
	struct jumbo_pool *p = make();

	for (unsigned i = 0; i < 20000; i++) {
		char *a = jumbo_pool_alloc_contig(p, RUN);
		CHECK(a != NULL);
		if (!a)
			break;
		for (unsigned k = 0; k < RUN; k++)
			CHECK_EQ(jumbo_pool_free(p, a + k * PAGE), 0);
	}
	small(p, "in order");
	CHECK_EQ(stats(p).in_use, 0);
	jumbo_pool_destroy(p);
}

/* ---- handed: a taker and a freer ---------------------------------------- */

#define OUT 256u    /* runs out at once */
#define GROUP 8u    /* runs freed together, shuffled */
#define STEPS 100000u

struct handoff {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *q[OUT];
	uint64_t tok[OUT];
	unsigned head, tail; /* q[head % OUT .. tail % OUT) */
	bool done;
	struct jumbo_pool *p;
	unsigned bad, freed;
	uint64_t seed;      /* the freer's shuffles */
};

static void put_token(char *run, uint64_t t)
{
	for (unsigned k = 0; k < RUN; k++)
		memcpy(run + k * PAGE + 64 * (t % 60), &t, sizeof(t));
}

static bool has_token(const char *run, uint64_t t)
{
	for (unsigned k = 0; k < RUN; k++) {
		uint64_t v;
		memcpy(&v, run + k * PAGE + 64 * (t % 60), sizeof(v));
		if (v != t)
			return false;
	}
	return true;
}

static void *freer(void *arg)
{
	struct handoff *h = arg;
	char *pg[GROUP * RUN];
	unsigned n = 0;
	uint64_t r = h->seed;

	for (;;) {
		pthread_mutex_lock(&h->mu);
		while (h->head == h->tail && !h->done)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->head == h->tail) {
			pthread_mutex_unlock(&h->mu);
			break;
		}
		char *run = h->q[h->head % OUT];
		uint64_t t = h->tok[h->head % OUT];
		h->head++;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);

		if (!has_token(run, t))
			h->bad++;
		for (unsigned k = 0; k < RUN; k++)
			pg[n++] = run + k * PAGE;
		if (n < GROUP * RUN)
			continue;
		for (unsigned i = n; i > 1; i--) {
			unsigned j = (unsigned)(rnd(&r) % i);
			char *x = pg[i - 1];
			pg[i - 1] = pg[j];
			pg[j] = x;
		}
		for (unsigned i = 0; i < n; i++)
			h->freed += jumbo_pool_free(h->p, pg[i]) == 0;
		n = 0;
	}
	for (unsigned i = 0; i < n; i++)
		h->freed += jumbo_pool_free(h->p, pg[i]) == 0;
	jumbo_pool_flush_cache(h->p);
	return NULL;
}

static void handed(void)
{
	static struct handoff h;
	pthread_t t;
	unsigned fails = 0;

	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	h.p = make();
	h.seed = rnd(&rng) | 1;
	REQUIRE(pthread_create(&t, NULL, freer, &h) == 0);
	for (uint64_t s = 1; s <= STEPS; s++) {
		char *run = jumbo_pool_alloc_contig(h.p, RUN);
		if (!run) {
			fails++;
			continue;
		}
		uint64_t tok = s * 0x100000001b3ull + rnd(&rng) % 7;
		put_token(run, tok);
		pthread_mutex_lock(&h.mu);
		while (h.tail - h.head == OUT)
			pthread_cond_wait(&h.cv, &h.mu);
		h.q[h.tail % OUT] = run;
		h.tok[h.tail % OUT] = tok;
		h.tail++;
		pthread_cond_broadcast(&h.cv);
		pthread_mutex_unlock(&h.mu);
	}
	pthread_mutex_lock(&h.mu);
	h.done = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(t, NULL);
	jumbo_pool_flush_cache(h.p);
	CHECK_EQ(fails, 0);
	CHECK_EQ(h.bad, 0);
	CHECK_EQ(h.freed, (STEPS - fails) * RUN);
	small(h.p, "handed, shuffled");
	CHECK_EQ(stats(h.p).in_use, 0);
	jumbo_pool_destroy(h.p);
}

/* ---- mixed ---------------------------------------------------------------- */

static void mixed(void)
{
	enum { SINGLES = 4000, RUNS = 256, ROUNDS = 1000 };
	struct jumbo_pool *p = make();
	void **one = calloc(SINGLES, sizeof(*one));
	char *run[RUNS];

	REQUIRE(one);
	for (unsigned r = 0; r < ROUNDS; r++) {
		unsigned ns = 1000 + (unsigned)(rnd(&rng) % (SINGLES - 1000));
		for (unsigned i = 0; i < ns; i++)
			CHECK((one[i] = jumbo_pool_alloc(p)) != NULL);
		for (unsigned i = 0; i < RUNS; i++)
			CHECK((run[i] = jumbo_pool_alloc_contig(p, RUN)) != NULL);
		for (unsigned i = 0; i < ns; i++)
			if (one[i])
				CHECK_EQ(jumbo_pool_free(p, one[i]), 0);
		for (unsigned i = 0; i < RUNS; i++)
			for (unsigned k = 0; run[i] && k < RUN; k++)
				CHECK_EQ(jumbo_pool_free(p, run[i] + k * PAGE), 0);
		if (check_failures)
			break;
	}
	free(one);
	jumbo_pool_flush_cache(p);
	small(p, "mixed");
	CHECK_EQ(stats(p).in_use, 0);
	jumbo_pool_destroy(p);
}

/* ---- trimmed -------------------------------------------------------------- */

static void trimmed(void)
{
	enum { N = 128 };
	struct jumbo_pool *p = make();
	char *run[N], *pg[N * RUN];

	for (unsigned i = 0; i < N; i++) {
		run[i] = jumbo_pool_alloc_contig(p, RUN);
		REQUIRE(run[i]);
		memset(run[i], 0x5a, RUN * PAGE);
		for (unsigned k = 0; k < RUN; k++)
			pg[i * RUN + k] = run[i] + k * PAGE;
	}
	for (unsigned i = N * RUN; i > 1; i--) {
		unsigned j = (unsigned)(rnd(&rng) % i);
		char *x = pg[i - 1];
		pg[i - 1] = pg[j];
		pg[j] = x;
	}
	for (unsigned i = 0; i < N * RUN; i++)
		CHECK_EQ(jumbo_pool_free(p, pg[i]), 0);
	jumbo_pool_flush_cache(p);
	/* One run taken now makes the rest runs (those pages' memory is
	 * still there); the trim then gives their memory back. */
	char *first = jumbo_pool_alloc_contig(p, RUN);
	CHECK(first != NULL);
	long given = jumbo_pool_trim(p, 0);
	printf("trimmed: %ld pages given back\n", given);
	CHECK(given > 0);
	unsigned got = 0, dirty = 0;
	for (unsigned i = 0; i < N - 1; i++) {
		run[i] = jumbo_pool_alloc_contig(p, RUN);
		if (!run[i])
			continue;
		got++;
		for (unsigned k = 0; k < RUN * PAGE; k += 512)
			dirty += run[i][k] != 0 && run[i][k] != 0x5a;
		memset(run[i], 0x33, RUN * PAGE);
	}
	CHECK_EQ(got, N - 1);
	CHECK_EQ(dirty, 0);
	small(p, "trimmed");
	for (unsigned i = 0; i < N - 1; i++)
		if (run[i])
			CHECK_EQ(jumbo_pool_free_contig(p, run[i], RUN), 0);
	if (first)
		CHECK_EQ(jumbo_pool_free_contig(p, first, RUN), 0);
	CHECK_EQ(stats(p).in_use, 0);
	jumbo_pool_destroy(p);
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "contig_reuse");

	rng = seed | 1;
	in_order();
	handed();
	mixed();
	trimmed();
	return check_done("contig_reuse");
}
