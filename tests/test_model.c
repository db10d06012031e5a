/*
 * The pool API against a model: random sequences of every call (alloc and
 * free, one and in batches, hold, unhold, steal, trim, flush, frees of bad
 * addresses, page states, statistics) on small pools of several shapes
 * (cache sizes, reserves, growth steps, debug and no-cache pools).  A
 * plain model of each page (free or allocated, holds, a pending free, the
 * token written into it) predicts every return code, every state and the
 * counters; the pages' contents must survive until they are freed, and a
 * stolen page must come back zeroed.  Single-threaded, so every result is
 * exact; the threads have test_stress and test_twins.
 *
 *   test_model [seed [ops per pool]]
 */
#include "check.h"

#include <jumbo/jumbo.h>

#define CAP 384
#define PAGE 4096u

struct mpage {
	int alloc;          /* allocated (held or not, pending or not) */
	unsigned holds;
	int pending;        /* freed while held: the last unhold frees it */
	int seen;           /* allocated at least once: has a state word */
	int zero;           /* stolen: must come back zeroed */
	unsigned off;       /* where its token is */
	uint64_t token;
};

static struct jumbo_pool *pool;
static char *base;
static struct mpage m[CAP];
static unsigned in_use; /* allocated, pending ones included */
static uint64_t n_allocs, n_frees, n_steals, n_holds, n_deferred;
static uint64_t rs;

static char *addr_of(unsigned i) { return base + (size_t)i * PAGE; }

static unsigned index_of(const void *a)
{
	return (unsigned)(((const char *)a - base) / PAGE);
}

static unsigned pick(unsigned n) { return (unsigned)(rnd(&rs) % n); }

/* A page in the given condition, or CAP if there is none. */
enum want { ANY_ALLOC, UNHELD, HELD, FREE_SEEN };

static unsigned find(enum want w)
{
	unsigned start = pick(CAP);
	for (unsigned k = 0; k < CAP; k++) {
		unsigned i = (start + k) % CAP;
		struct mpage *q = &m[i];
		if ((w == ANY_ALLOC && q->alloc) ||
		    (w == UNHELD && q->alloc && !q->holds && !q->pending) ||
		    (w == HELD && q->alloc && q->holds) ||
		    (w == FREE_SEEN && !q->alloc && q->seen))
			return i;
	}
	return CAP;
}

/* A page came out of the pool: it must have been free; mark and fill it. */
static void got(void *a)
{
	if (!a || (uintptr_t)a % PAGE) {
		CHECK(a != NULL && (uintptr_t)a % PAGE == 0);
		return;
	}
	unsigned i = index_of(a);
	REQUIRE(i < CAP);
	struct mpage *q = &m[i];
	CHECK_EQ(q->alloc, 0);
	if (q->zero)
		CHECK_EQ(*(uint64_t *)(void *)(addr_of(i) + q->off), 0);
	*q = (struct mpage){ .alloc = 1, .seen = 1,
			     .off = pick(PAGE / 8) * 8, .token = rnd(&rs) };
	*(uint64_t *)(void *)(addr_of(i) + q->off) = q->token;
	in_use++;
	n_allocs++;
}

/* The model's free of page i: the expected return code, and its effect. */
static int model_free(unsigned i)
{
	struct mpage *q = &m[i];
	if (!q->alloc)
		return q->seen ? -EALREADY : -EFAULT;
	if (q->pending)
		return -EALREADY;
	CHECK_EQ(*(uint64_t *)(void *)(addr_of(i) + q->off), q->token);
	if (q->holds) { /* counted as a free when the last unhold ends it */
		q->pending = 1;
		n_deferred++;
		return 0;
	}
	q->alloc = 0;
	in_use--;
	n_frees++;
	return 0;
}

static void op_alloc(void)
{
	void *a = jumbo_pool_alloc(pool);
	if (in_use < CAP) {
		CHECK(a != NULL);
		got(a);
	} else {
		CHECK(a == NULL);
		CHECK_EQ(errno, ENOMEM);
	}
}

static void op_alloc_bulk(void)
{
	void *v[48];
	unsigned n = 1 + pick(48), want = CAP - in_use < n ? CAP - in_use : n;
	unsigned k = jumbo_pool_alloc_bulk(pool, v, n);
	CHECK_EQ(k, want);
	for (unsigned j = 0; j < k; j++)
		got(v[j]);
}

/* A run: if the pool finds one, its pages must all have been free. */
static void op_alloc_contig(void)
{
	unsigned n = 1 + pick(pick(4) ? 4 : 24);
	char *a = jumbo_pool_alloc_contig(pool, n);
	if (!a) {
		CHECK_EQ(errno, ENOMEM); /* where it may look is not modelled */
		return;
	}
	for (unsigned j = 0; j < n; j++)
		got(a + (size_t)j * PAGE);
}

/*
 * free_contig over n pages from an allocated one: each page as a free
 * would be, in order (held ones deferred, free ones an error); the first
 * error is the result.
 */
static void op_free_contig(void)
{
	unsigned i = find(ANY_ALLOC), n = 1;
	if (i == CAP)
		return;
	unsigned want_n = 1 + pick(8);
	/* Mostly allocated pages; now and then a free one (an error). */
	while (n < want_n && i + n < CAP &&
	       (m[i + n].alloc || (m[i + n].seen && pick(8) == 0)))
		n++;
	int first = 0;
	for (unsigned j = 0; j < n; j++) {
		int r = model_free(i + j);
		if (r && !first)
			first = r;
	}
	CHECK_EQ(jumbo_pool_free_contig(pool, addr_of(i), n), first);
}

static void op_free(void)
{
	unsigned i = find(pick(4) ? UNHELD : ANY_ALLOC);
	if (i == CAP)
		return;
	int want = model_free(i);
	CHECK_EQ(jumbo_pool_free(pool, addr_of(i)), want);
}

/* Frees the pool must refuse, changing nothing. */
static void op_free_bad(void)
{
	unsigned i;
	switch (pick(4)) {
	case 0: /* double free */
		if ((i = find(FREE_SEEN)) != CAP)
			CHECK_EQ(jumbo_pool_free(pool, addr_of(i)), -EALREADY);
		break;
	case 1: /* inside a page, not its start */
		if ((i = find(ANY_ALLOC)) != CAP)
			CHECK_EQ(jumbo_pool_free(pool, addr_of(i) + 1 + pick(PAGE - 1)),
				 -EINVAL);
		break;
	case 2: /* beyond the cap, and below the base */
		CHECK_EQ(jumbo_pool_free(pool, addr_of(CAP) + pick(8) * PAGE),
			 -EFAULT);
		CHECK_EQ(jumbo_pool_free(pool, base - PAGE), -EFAULT);
		break;
	default: /* a free while a free is pending */
		for (unsigned k = 0; k < CAP; k++)
			if (m[k].pending) {
				CHECK_EQ(jumbo_pool_free(pool, addr_of(k)), -EALREADY);
				break;
			}
	}
}

static void op_free_bulk(void)
{
	void *v[24];
	unsigned n = 0, want_n = 1 + pick(24);
	int first = 0;

	for (unsigned k = 0; k < want_n; k++) {
		unsigned i;
		int r;
		if (pick(16) == 0) { /* now and then a bad entry */
			v[n] = addr_of(CAP) + PAGE;
			r = -EFAULT;
		} else if ((i = find(pick(3) ? UNHELD : ANY_ALLOC)) != CAP) {
			v[n] = addr_of(i);
			r = model_free(i); /* in order, as the call does */
		} else {
			break;
		}
		if (r && !first)
			first = r;
		n++;
	}
	CHECK_EQ(jumbo_pool_free_bulk(pool, v, n), first);
}

static void op_hold(void)
{
	unsigned i = find(pick(3) ? ANY_ALLOC : FREE_SEEN);
	if (i == CAP)
		return;
	struct mpage *q = &m[i];
	int want = !q->alloc || q->pending ? -EALREADY : 0;
	/* Any byte of the page names it. */
	CHECK_EQ(jumbo_pool_hold(pool, addr_of(i) + pick(PAGE)), want);
	if (!want) {
		q->holds++;
		n_holds++;
	}
}

static void op_unhold(void)
{
	unsigned i = find(pick(4) ? HELD : ANY_ALLOC);
	if (i == CAP)
		return;
	struct mpage *q = &m[i];
	int want = q->holds ? 0 : -ENOENT;
	CHECK_EQ(jumbo_pool_unhold(pool, addr_of(i)), want);
	if (want)
		return;
	if (--q->holds == 0 && q->pending) {
		q->alloc = 0;
		q->pending = 0;
		in_use--;
		n_frees++;
	}
}

static void op_steal(void)
{
	unsigned i = find(pick(4) ? UNHELD : pick(2) ? HELD : FREE_SEEN);
	if (i == CAP)
		return;
	struct mpage *q = &m[i];
	int want = !q->alloc ? -EALREADY
		   : q->holds ? (q->pending ? -EALREADY : -EBUSY) : 0;
	CHECK_EQ(jumbo_pool_steal(pool, addr_of(i), 0), want);
	if (!want) {
		q->alloc = 0;
		q->zero = 1; /* the slot was re-backed with fresh memory */
		in_use--;
		n_steals++;
	}
}

static void op_state(void)
{
	unsigned i = pick(CAP);
	struct mpage *q = &m[i];
	unsigned holds = 99;
	int pending = 99;
	enum jumbo_page_state s =
		jumbo_page_state(jumbo_pool_page(pool, addr_of(i)), &holds, &pending);

	if (!q->seen) /* never handed out: unused or fresh */
		CHECK(s == JUMBO_PG_UNUSED || s == JUMBO_PG_FREE);
	else if (!q->alloc)
		CHECK_EQ(s, JUMBO_PG_FREE);
	else
		CHECK_EQ(s, q->holds ? JUMBO_PG_HELD : JUMBO_PG_ALLOC);
	if (q->alloc) {
		CHECK_EQ(holds, q->holds);
		CHECK_EQ(pending, q->pending);
	}
}

static void check_stats(void)
{
	struct jumbo_stats st;
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	CHECK_EQ(st.in_use, in_use);
	CHECK_EQ(st.allocs, n_allocs);
	CHECK_EQ(st.frees, n_frees);
	CHECK_EQ(st.steals, n_steals);
	CHECK_EQ(st.holds, n_holds);
	CHECK_EQ(st.deferred_frees, n_deferred);
	CHECK_EQ(st.double_frees, 0);
	CHECK_EQ(st.lost, 0);
	CHECK(st.committed <= CAP && st.high_water <= CAP);
	CHECK(st.meta_bytes > 0);
}

static void run(const char *what, unsigned cache, size_t reserve,
		size_t grow, unsigned flags, unsigned long ops)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pp.cache_size = cache;
	pp.reserve_pages = reserve;
	pp.grow_pages = grow;
	pp.flags = flags;
	pp.name = what;
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool != NULL);
	base = jumbo_pool_iova_to_addr(pool, 0);
	memset(m, 0, sizeof(m));
	in_use = 0;
	n_allocs = n_frees = n_steals = n_holds = n_deferred = 0;

	for (unsigned long k = 0; k < ops; k++) {
		/* Phases of 5000 calls: filling up to the cap, then draining,
		 * so that both a full and an emptying pool get their turn. */
		int drain = (k / 5000) % 2;
		unsigned r = pick(100);
		if (r < 26 && drain && pick(4))
			op_free();
		else if (r < 26)
			op_alloc();
		else if (r < 30)
			op_alloc_bulk();
		else if (r < 52)
			op_free();
		else if (r < 54)
			op_free_bulk();
		else if (r < 55)
			op_alloc_contig();
		else if (r < 56)
			op_free_contig();
		else if (r < 60)
			op_free_bad();
		else if (r < 70)
			op_hold();
		else if (r < 82)
			op_unhold();
		else if (r < 86)
			op_steal();
		else if (r < 95)
			op_state();
		else if (r < 97)
			jumbo_pool_flush_cache(pool);
		else if (r < 98)
			CHECK(jumbo_pool_trim(pool, 0) >= 0);
		else
			check_stats();
	}
	check_stats();

	/* Pages out: destroy refuses and changes nothing. */
	if (in_use)
		CHECK_EQ(jumbo_pool_destroy(pool), -EBUSY);
	for (unsigned i = 0; i < CAP; i++) {
		for (; m[i].holds; m[i].holds--)
			CHECK_EQ(jumbo_pool_unhold(pool, addr_of(i)), 0);
		if (m[i].pending) {
			m[i].alloc = m[i].pending = 0;
			in_use--;
			n_frees++;
		} else if (m[i].alloc) {
			int want = model_free(i); /* reads the token first */
			CHECK_EQ(jumbo_pool_free(pool, addr_of(i)), want);
		}
	}
	check_stats();
	CHECK_EQ(in_use, 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	printf("model: %-10s %lu calls, %llu allocations, %llu steals, "
	       "%llu deferred frees\n", what, ops, (unsigned long long)n_allocs,
	       (unsigned long long)n_steals, (unsigned long long)n_deferred);
}

int main(int argc, char **argv)
{
	rs = test_seed(argc, argv, "model") | 1;
	unsigned long ops = argc > 2 ? strtoul(argv[2], NULL, 0) : 200000;

	run("default", 0, JUMBO_RESERVE_AUTO, 0, 0, ops);
	run("tiny", 2, 0, 1, 0, ops);          /* magazines of one page */
	run("odd", 24, 40, 7, 0, ops);         /* reserve, odd growth steps */
	run("nocache", 0, 16, 3, JUMBO_POOL_NOCACHE, ops);
	run("debug", 0, 0, 0, JUMBO_POOL_DEBUG, ops / 4); /* poison: slower */
	return check_done("model");
}
