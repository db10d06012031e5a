/*
 * Runs of contiguous pages: jumbo_pool_alloc_contig / jumbo_pool_free_contig.
 * A run is contiguous, aligned and writable; a run freed whole comes back
 * whole; at the cap a run is found among the depot's loose pages (and the
 * frames never handed out, when it straddles them), and free runs give
 * their pages to single allocations; trim gives a run's memory back; a held page in a run defers only its own free; bad arguments are
 * errors that change nothing; and two threads allocating runs and freeing
 * them on either thread never get a page twice (an ownership map).
 *
 *   test_contig [seed]
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#define PAGE 4096u

static struct jumbo_pool *make(size_t cap, size_t reserve)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.max_pages = cap;
	pp.reserve_pages = reserve;
	pp.grow_pages = 64;
	pp.name = "contig";
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p != NULL);
	return p;
}

static uint64_t in_use(struct jumbo_pool *p)
{
	struct jumbo_stats st;
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	return st.in_use;
}

/* Fill a run and check it back: n pages, each with its own pattern. */
static void fill(char *a, unsigned n, unsigned tag)
{
	for (unsigned i = 0; i < n; i++)
		memset(a + (size_t)i * PAGE, (int)(tag + i), PAGE);
}

static int filled(const char *a, unsigned n, unsigned tag)
{
	for (unsigned i = 0; i < n; i++)
		for (size_t b = 0; b < PAGE; b += 512)
			if ((unsigned char)a[(size_t)i * PAGE + b] != (unsigned char)(tag + i))
				return 0;
	return 1;
}

static void test_basic(void)
{
	struct jumbo_pool *p = make(4096, 0);
	static const unsigned sizes[] = { 1, 2, 3, 8, 64, 512 };
	char *first[6];

	for (unsigned k = 0; k < 6; k++) {
		unsigned n = sizes[k];
		char *a = jumbo_pool_alloc_contig(p, n);
		REQUIRE(a != NULL);
		CHECK_EQ((uintptr_t)a % PAGE, 0);
		for (unsigned i = 0; i < n; i++) {
			vm_page_t pg = jumbo_pool_page(p, a + (size_t)i * PAGE);
			CHECK(jumbo_page_kva(pg) == a + (size_t)i * PAGE);
			CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_ALLOC);
		}
		fill(a, n, k);
		first[k] = a;
	}
	for (unsigned k = 0; k < 6; k++)
		CHECK(filled(first[k], sizes[k], k));
	CHECK_EQ(in_use(p), 1 + 2 + 3 + 8 + 64 + 512);
	/* Freed whole, handed out whole: the same run again. */
	for (unsigned k = 0; k < 6; k++)
		CHECK_EQ(jumbo_pool_free_contig(p, first[k], sizes[k]), 0);
	CHECK_EQ(in_use(p), 0);
	for (unsigned k = 6; k-- > 1;) {
		char *a = jumbo_pool_alloc_contig(p, sizes[k]);
		CHECK(a == first[k]);
		CHECK_EQ(jumbo_pool_free_contig(p, a, sizes[k]), 0);
	}

	/* Bad arguments: errors, and nothing changes. */
	errno = 0;
	CHECK(jumbo_pool_alloc_contig(p, 0) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK(jumbo_pool_alloc_contig(p, 4097) == NULL);
	CHECK_EQ(errno, EINVAL);
	char *a = jumbo_pool_alloc_contig(p, 4);
	REQUIRE(a != NULL);
	CHECK_EQ(jumbo_pool_free_contig(p, a, 0), -EINVAL);
	CHECK_EQ(jumbo_pool_free_contig(p, a + 8, 4), -EINVAL);
	CHECK_EQ(jumbo_pool_free_contig(p, a - 4096 * (size_t)PAGE * 2, 4), -EFAULT);
	CHECK_EQ(jumbo_pool_free_contig(p, jumbo_pool_iova_to_addr(p, 4094 * (size_t)PAGE), 4),
		 -EFAULT); /* runs past the cap */
	CHECK_EQ(in_use(p), 4);
	CHECK_EQ(jumbo_pool_free_contig(p, a, 4), 0);
	CHECK_EQ(jumbo_pool_free_contig(p, a, 4), -EALREADY); /* double free */
	CHECK_EQ(in_use(p), 0);

	/* A held page defers its own free; the others are freed now. */
	a = jumbo_pool_alloc_contig(p, 4);
	REQUIRE(a != NULL);
	CHECK_EQ(jumbo_pool_hold(p, a + 2 * PAGE), 0);
	CHECK_EQ(jumbo_pool_free_contig(p, a, 4), 0);
	CHECK_EQ(in_use(p), 1);
	int pending = 0;
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, a + 2 * PAGE), NULL, &pending),
		 JUMBO_PG_HELD);
	CHECK_EQ(pending, 1);
	CHECK_EQ(jumbo_pool_unhold(p, a + 2 * PAGE), 0);
	CHECK_EQ(in_use(p), 0);

	/* Pages allocated one by one may be freed as a run, and back. */
	void *one[3];
	for (int i = 0; i < 3; i++)
		REQUIRE((one[i] = jumbo_pool_alloc_contig(p, 1)) != NULL);
	a = jumbo_pool_alloc_contig(p, 3);
	REQUIRE(a != NULL);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(jumbo_pool_free(p, a + (size_t)i * PAGE), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(jumbo_pool_free_contig(p, one[i], 1), 0);
	CHECK_EQ(in_use(p), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/* At the cap: runs among loose pages; free runs feed single allocations. */
static void test_cap(void)
{
	enum { CAP = 256 };
	struct jumbo_pool *p = make(CAP, 0);
	static void *v[CAP];
	size_t n = 0;

	while (n < CAP && (v[n] = jumbo_pool_alloc(p)) != NULL)
		n++;
	CHECK_EQ(n, CAP);
	errno = 0;
	CHECK(jumbo_pool_alloc_contig(p, 2) == NULL);
	CHECK_EQ(errno, ENOMEM);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	jumbo_pool_flush_cache(p); /* every page loose in the depot */
	char *a = jumbo_pool_alloc_contig(p, 16);
	CHECK(a != NULL);
	if (a) {
		fill(a, 16, 7);
		CHECK(filled(a, 16, 7));
	}
	n = 0;
	while (n < CAP && (v[n] = jumbo_pool_alloc(p)) != NULL)
		n++;
	CHECK_EQ(n, CAP - 16); /* everything else, once */
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	if (a)
		CHECK_EQ(jumbo_pool_free_contig(p, a, 16), 0);
	jumbo_pool_flush_cache(p);

	/* All in free runs: single allocations still get every page. */
	char *r[4];
	for (int i = 0; i < 4; i++)
		r[i] = jumbo_pool_alloc_contig(p, 64);
	for (int i = 0; i < 4; i++) {
		CHECK(r[i] != NULL);
		if (r[i])
			CHECK_EQ(jumbo_pool_free_contig(p, r[i], 64), 0);
	}
	n = 0;
	while (n < CAP && (v[n] = jumbo_pool_alloc(p)) != NULL)
		n++;
	CHECK_EQ(n, CAP);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	CHECK_EQ(in_use(p), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/*
 * At the cap, a run that starts among the depot's pages and ends among the
 * frames never handed out: with every page free, any run fits.  An 8-page
 * pool growing a page at a time: 5 pages used and back in the depot (no
 * caches), 3 fresh; runs of 6 to 8 need both.
 */
static void test_straddle(void)
{
	for (unsigned want = 6; want <= 8; want++) {
		struct jumbo_pool_params pp;
		void *v[5];

		jumbo_pool_params_init(&pp);
		pp.max_pages = 8;
		pp.grow_pages = 1;
		pp.flags = JUMBO_POOL_NOCACHE;
		pp.name = "straddle";
		struct jumbo_pool *p = jumbo_pool_create(&pp);
		REQUIRE(p != NULL);
		for (int i = 0; i < 5; i++)
			REQUIRE((v[i] = jumbo_pool_alloc(p)) != NULL);
		for (int i = 0; i < 5; i++)
			CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
		errno = 0;
		char *a = jumbo_pool_alloc_contig(p, want);
		if (!a)
			fprintf(stderr, "contig: straddle: alloc_contig(%u) "
				"in a free pool of 8: errno %d\n", want, errno);
		CHECK(a != NULL);
		if (a) {
			CHECK_EQ(in_use(p), want);
			fill(a, want, 3);
			CHECK(filled(a, want, 3));
			/* The rest, once each, and none of the run's. */
			unsigned n = 0;
			char *q;
			while ((q = jumbo_pool_alloc(p)) != NULL) {
				CHECK(q < a || q >= a + (size_t)want * PAGE);
				CHECK(n < 8 - want);
				v[n++ % 5] = q;
			}
			CHECK_EQ(n, 8 - want);
			for (unsigned i = 0; i < n && i < 5; i++)
				CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
			CHECK_EQ(jumbo_pool_free_contig(p, a, want), 0);
		}
		CHECK_EQ(in_use(p), 0);
		CHECK_EQ(jumbo_pool_destroy(p), 0);
	}
}

/* Trim gives a free run's memory back; it comes back zeroed. */
static void test_trim(void)
{
	struct jumbo_pool *p = make(4096, 0);
	char *r[8];
	unsigned char vec[32];

	for (int i = 0; i < 8; i++) {
		REQUIRE((r[i] = jumbo_pool_alloc_contig(p, 32)) != NULL);
		fill(r[i], 32, (unsigned)i);
	}
	for (int i = 0; i < 8; i++)
		CHECK_EQ(jumbo_pool_free_contig(p, r[i], 32), 0);
	long t = jumbo_pool_trim(p, 0);
	CHECK(t >= 8 * 32);
	for (int i = 0; i < 8; i++) {
		REQUIRE(mincore(r[i], 32 * (size_t)PAGE, vec) == 0);
		int resident = 0;
		for (int k = 0; k < 32; k++)
			resident += vec[k] & 1;
		CHECK_EQ(resident, 0);
	}
	CHECK_EQ(jumbo_pool_trim(p, 0), 0); /* nothing left to give */
	char *a = jumbo_pool_alloc_contig(p, 32);
	REQUIRE(a != NULL);
	int zero = 1;
	for (size_t b = 0; b < 32 * (size_t)PAGE; b += 256)
		zero &= a[b] == 0;
	CHECK(zero);
	CHECK_EQ(jumbo_pool_free_contig(p, a, 32), 0);
	CHECK_EQ(in_use(p), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

/* ---- two threads: runs allocated on either, freed on either ------------ */

#define T_CAP 2048
#define T_OPS 100000

static struct jumbo_pool *tp;
static _Atomic unsigned char owner[T_CAP];
static _Atomic unsigned long twice;
static pthread_mutex_t box_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { char *a; unsigned n; } box[64];
static unsigned nbox;
static uint64_t seed0;

static void own(char *a, unsigned n, unsigned char me)
{
	size_t f = (size_t)(jumbo_pool_iova(tp, a) / PAGE);
	for (unsigned i = 0; i < n; i++) {
		unsigned char z = 0;
		if (!atomic_compare_exchange_strong(&owner[f + i], &z, me))
			atomic_fetch_add(&twice, 1);
	}
	fill(a, n, me);
}

static void disown(char *a, unsigned n, unsigned char me)
{
	size_t f = (size_t)(jumbo_pool_iova(tp, a) / PAGE);
	if (!filled(a, n, me))
		atomic_fetch_add(&twice, 1);
	for (unsigned i = 0; i < n; i++)
		atomic_store(&owner[f + i], 0);
}

static void *worker(void *arg)
{
	unsigned char me = (unsigned char)(uintptr_t)arg;
	uint64_t s = seed0 ^ me;
	struct { char *a; unsigned n; } mine[16];
	unsigned nm = 0;

	for (unsigned long k = 0; k < T_OPS; k++) {
		unsigned op = (unsigned)(rnd(&s) % 4);
		if (op < 2 && nm < 16) {
			unsigned n = 1 + (unsigned)(rnd(&s) % 8);
			char *a = jumbo_pool_alloc_contig(tp, n);
			if (a) {
				own(a, n, me);
				mine[nm].a = a;
				mine[nm++].n = n;
			}
		} else if (op == 2 && nm) {
			/* Free one here, as a run or page by page. */
			nm--;
			disown(mine[nm].a, mine[nm].n, me);
			if (rnd(&s) % 4) {
				CHECK_EQ(jumbo_pool_free_contig(tp, mine[nm].a, mine[nm].n), 0);
			} else {
				for (unsigned i = 0; i < mine[nm].n; i++)
					CHECK_EQ(jumbo_pool_free(tp, mine[nm].a + (size_t)i * PAGE), 0);
			}
		} else if (nm) {
			/* Hand one to the box; take one out and free it here. */
			pthread_mutex_lock(&box_lock);
			if (nbox < 64) {
				nm--;
				disown(mine[nm].a, mine[nm].n, me);
				box[nbox].a = mine[nm].a;
				box[nbox++].n = mine[nm].n;
			}
			char *a = NULL;
			unsigned n = 0;
			if (nbox) {
				nbox--;
				a = box[nbox].a;
				n = box[nbox].n;
			}
			pthread_mutex_unlock(&box_lock);
			if (a)
				CHECK_EQ(jumbo_pool_free_contig(tp, a, n), 0);
		}
	}
	while (nm) {
		nm--;
		disown(mine[nm].a, mine[nm].n, me);
		CHECK_EQ(jumbo_pool_free_contig(tp, mine[nm].a, mine[nm].n), 0);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[2];

	tp = make(T_CAP, 64);
	for (uintptr_t i = 0; i < 2; i++)
		REQUIRE(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < nbox; i++)
		CHECK_EQ(jumbo_pool_free_contig(tp, box[i].a, box[i].n), 0);
	CHECK_EQ(atomic_load(&twice), 0);
	CHECK_EQ(in_use(tp), 0);
	struct jumbo_stats st;
	REQUIRE(jumbo_pool_stats(tp, &st) == 0);
	printf("contig: threads: %llu pages allocated, %llu committed of %u\n",
	       (unsigned long long)st.allocs, (unsigned long long)st.committed,
	       T_CAP);
	CHECK_EQ(jumbo_pool_destroy(tp), 0);
}

int main(int argc, char **argv)
{
	seed0 = test_seed(argc, argv, "contig") | 1;
	test_basic();
	test_cap();
	test_straddle();
	test_trim();
	test_threads();
	return check_done("contig");
}
