/*
 * The batch calls' runs (cache.c): jumbo_pool_alloc_bulk and
 * jumbo_pool_free_bulk check and change a run of consecutive pages at
 * once.  A bad entry anywhere inside a run (a double free, a held page, an
 * address inside a page, one past the cap, a run given twice) must be
 * caught as the page-by-page path catches it: the error returned, that
 * entry left alone, the others freed, and no page handed out twice after.
 * Randomized where the bad entry sits: the seed is printed and taken as
 * the first argument.
 */
#include "check.h"

#include <jumbo/jumbo.h>

enum { CAP = 2048, BURST = 512 };

static struct jumbo_pool *pool;
static void *v[CAP + 64];

static uint64_t in_use(void)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	return st.in_use;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The pool is whole: every page it can hand out comes out once, page
 * aligned, and the count is the cap less what is in use.
 */
static void check_whole(const char *what)
{
	static void *all[CAP + 1];
	uint64_t used = in_use();
	unsigned n = jumbo_pool_alloc_bulk(pool, all, CAP + 1);

	if (n != CAP - used)
		fprintf(stderr, "%s: %u pages to be had, expected %llu\n", what,
			n, (unsigned long long)(CAP - used));
	CHECK_EQ(n, CAP - used);
	qsort(all, n, sizeof(all[0]), cmp_ptr);
	for (unsigned i = 0; i < n; i++) {
		CHECK(((uintptr_t)all[i] & 4095) == 0);
		if (i && all[i] == all[i - 1]) {
			fprintf(stderr, "%s: %p handed out twice\n", what, all[i]);
			check_failures++;
		}
	}
	CHECK_EQ(jumbo_pool_free_bulk(pool, all, n), 0);
	CHECK_EQ(in_use(), used);
}

/* A burst whose pages come in runs (pages carved together come back
 * together): it is what the run paths see. */
static void take(void)
{
	REQUIRE(jumbo_pool_alloc_bulk(pool, v, BURST) == BURST);
	CHECK_EQ(in_use(), BURST);
	unsigned runs = 0;
	for (unsigned i = 1; i < BURST; i++)
		runs += (char *)v[i] - (char *)v[i - 1] != 4096 &&
			(char *)v[i - 1] - (char *)v[i] != 4096;
	CHECK(runs < BURST / 32); /* mostly runs, or this tests nothing */
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "bulk");
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pp.init_pages = CAP;
	pp.reserve_pages = 0;
	REQUIRE((pool = jumbo_pool_create(&pp)) != NULL);

	for (int round = 0; round < 20; round++) {
		unsigned r = (unsigned)(rnd(&seed) % BURST);
		char *keep;

		/* Good runs, both ways. */
		take();
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), 0);
		CHECK_EQ(in_use(), 0);

		/* A double free inside a run. */
		take();
		CHECK_EQ(jumbo_pool_free(pool, v[r]), 0);
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), -EALREADY);
		CHECK_EQ(in_use(), 0);
		check_whole("double free in a run");

		/* A held page inside a run: its free waits for the unhold. */
		take();
		CHECK_EQ(jumbo_pool_hold(pool, v[r]), 0);
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), 0);
		CHECK_EQ(jumbo_page_state(jumbo_pool_page(pool, v[r]), NULL, NULL),
			 JUMBO_PG_HELD);
		CHECK_EQ(jumbo_pool_unhold(pool, v[r]), 0);
		CHECK_EQ(in_use(), 0);
		check_whole("held page in a run");

		/* An address inside a page, inside a run: left alone. */
		take();
		keep = v[r];
		v[r] = keep + 1 + rnd(&seed) % 4095;
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), -EINVAL);
		CHECK_EQ(in_use(), 1);
		CHECK_EQ(jumbo_page_state(jumbo_pool_page(pool, keep), NULL, NULL),
			 JUMBO_PG_ALLOC);
		CHECK_EQ(jumbo_pool_free(pool, keep), 0);
		check_whole("address inside a page in a run");

		/* A run given twice in one batch: the second is refused. */
		take();
		memcpy(v + BURST, v + r / 64 * 64, 64 * sizeof(v[0]));
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST + 64), -EALREADY);
		CHECK_EQ(in_use(), 0);
		check_whole("a run twice in a batch");

		/* The whole burst freed again: refused, nothing changed. */
		take();
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), 0);
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), -EALREADY);
		CHECK_EQ(in_use(), 0);
		check_whole("a burst freed twice");
	}

	/*
	 * A run that steps past the cap: the pool's last pages, then
	 * addresses beyond its reservation, one page apart.  The pages are
	 * freed, the rest refused as outside the pool.
	 */
	{
		static void *all[CAP];
		char *base = JUMBO_HEAD(pool)->ph_base;
		unsigned k = 16 + (unsigned)(rnd(&seed) % 32), n;

		REQUIRE((n = jumbo_pool_alloc_bulk(pool, all, CAP)) == CAP);
		for (unsigned i = 0; i < 64; i++)
			v[i] = base + (size_t)(CAP - k + i) * 4096;
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, 64), -EFAULT);
		CHECK_EQ(in_use(), CAP - k);
		/* and downwards, from below the base */
		for (unsigned i = 0; i < 64; i++)
			v[i] = base + ((ptrdiff_t)k - 64 + 63 - (ptrdiff_t)i) * 4096;
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, 64), -EFAULT);
		CHECK_EQ(in_use(), CAP - 2 * k);
		for (unsigned i = 0; i < CAP; i++) {
			size_t f = ((char *)all[i] - base) / 4096;
			if (f >= k && f < CAP - k)
				CHECK_EQ(jumbo_pool_free(pool, all[i]), 0);
		}
		CHECK_EQ(in_use(), 0);
		check_whole("runs past the ends");
	}

	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("bulk");
}
