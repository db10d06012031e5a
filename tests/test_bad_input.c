/*
 * Bad input never corrupts a pool.  The jumbo(9) functions return void, so
 * they report the function and the address and abort: each case runs in a
 * forked child that must die that way.  The pool API returns an error code
 * instead, and the pool keeps working with its counts intact.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <sys/mman.h>

static char addrbuf[32];

static void free_foreign(void *arg)
{
	jumbo_pg_free((vm_offset_t)arg);
}

static void freem_inside(void *arg)
{
	jumbo_freem((caddr_t)arg + 16, NULL);
}

static void free_twice(void *arg)
{
	vm_page_t pg = jumbo_pg_alloc();
	jumbo_pg_free((vm_offset_t)jumbo_page_kva(pg));
	snprintf(addrbuf, sizeof(addrbuf), "%p", (void *)jumbo_page_kva(pg));
	fprintf(stderr, "addr=%s\n", addrbuf);
	jumbo_freem(jumbo_page_kva(pg), NULL);
}

static void steal_free(void *arg)
{
	vm_page_t pg = jumbo_pg_alloc();
	jumbo_pg_free((vm_offset_t)jumbo_page_kva(pg));
	jumbo_pg_steal(pg);
}

/* The I/O address where the virtual one belongs (issue 16). */
static void free_iova(void *arg)
{
	vm_page_t pg = jumbo_pg_alloc();
	(void)arg;
	jumbo_pg_alloc(); /* so that pg's I/O address is not 0 */
	jumbo_pg_free((vm_offset_t)VM_PAGE_TO_PHYS(jumbo_pg_alloc()));
	(void)pg;
}

/* Before init: ENXIO, and a line that says why. */
static void alloc_before_init(void *arg)
{
	(void)arg;
	if (jumbo_pg_alloc() == NULL && errno == ENXIO)
		abort();
}

static void steal_bogus(void *arg)
{
	jumbo_pg_steal((vm_page_t)arg);
}

static void free_before_init(void *arg)
{
	jumbo_pg_free((vm_offset_t)arg);
}

static void expect(const char *what, void (*fn)(void *), void *arg,
		   const char *fname, const char *why)
{
	const char *want[] = { fname, why, NULL };
	expect_abort(what, fn, arg, want);
}

int main(void)
{
	static char foreign[8192] __attribute__((aligned(4096)));
	char fa[32];

	snprintf(fa, sizeof(fa), "%p", (void *)foreign);
	expect("free before init", free_before_init, foreign, "jumbo_pg_free",
	       "jumbo_vm_init has not run");
	expect("alloc before init", alloc_before_init, NULL, "jumbo_pg_alloc",
	       "jumbo_vm_init() has not succeeded");
	REQUIRE(jumbo_vm_init() == 1);
	expect("foreign free", free_foreign, foreign, "jumbo_pg_free",
	       "not a page of the pool");
	{
		const char *want[] = { "jumbo_pg_free", fa, NULL };
		expect_abort("foreign free names the address", free_foreign,
			     foreign, want);
	}
	vm_page_t pg = jumbo_pg_alloc();
	REQUIRE(pg);
	expect("free inside a page", freem_inside, jumbo_page_kva(pg),
	       "jumbo_freem", "not the start of a page");
	expect("double free", free_twice, NULL, "jumbo_freem", "double free");
	expect("steal of a free page", steal_free, NULL, "jumbo_pg_steal",
	       "steal of a free page");
	expect("free of an I/O address", free_iova, NULL, "jumbo_pg_free",
	       "is an I/O address; free jumbo_phys_to_kva(pa)");
	expect("steal of a bogus descriptor", steal_bogus, (char *)pg + 3,
	       "jumbo_pg_steal", "not a jumbo page descriptor");
	expect("steal of a foreign descriptor", steal_bogus, foreign,
	       "jumbo_pg_steal", "not a jumbo page descriptor");

	/*
	 * The first frame past the committed ones (the cap is far off): not
	 * the pool's yet, so not a page, and its descriptor not a descriptor.
	 */
	{
		struct jumbo_stats ds;
		char fe[32], de[32];
		REQUIRE(jumbo_pool_stats(jumbo_default_pool(), &ds) == 0);
		REQUIRE(ds.committed < ds.reserved);
		char *past = (char *)jumbo_page_kva(pg) +
			     (ds.committed - jumbo_page_index(pg)) * jumbo_page_size();
		vm_page_t pastd = pg + (ds.committed - jumbo_page_index(pg));
		snprintf(fe, sizeof(fe), "%p: not a page of the pool", (void *)past);
		snprintf(de, sizeof(de), "%p: not a jumbo", (void *)pastd);
		expect("free of the frame past the committed ones", free_foreign,
		       past, "jumbo_pg_free", fe);
		expect("steal of the descriptor past the committed ones",
		       steal_bogus, pastd, "jumbo_pg_steal", de);
		expect("steal of the last committed descriptor (free)",
		       steal_bogus, pastd - 1, "jumbo_pg_steal",
		       "steal of a free page");
	}
	jumbo_pg_free((vm_offset_t)jumbo_page_kva(pg));

	/* The pool API: codes, and nothing changed. */
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 64;
	pp.grow_pages = 8;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	char *a = jumbo_pool_alloc(p), *b = jumbo_pool_alloc(p);
	REQUIRE(a && b);
	CHECK_EQ(jumbo_pool_free(p, foreign), -EFAULT);
	CHECK_EQ(jumbo_pool_free(p, NULL), -EFAULT);
	CHECK_EQ(jumbo_pool_free(p, a + 1), -EINVAL);
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	CHECK_EQ(jumbo_pool_free(p, a), -EALREADY);
	CHECK_EQ(jumbo_pool_hold(p, a), -EALREADY);
	CHECK_EQ(jumbo_pool_unhold(p, b), -ENOENT);
	CHECK_EQ(jumbo_pool_steal(p, a, 0), -EALREADY);
	CHECK_EQ(jumbo_pool_hold(p, b), 0);
	CHECK_EQ(jumbo_pool_steal(p, b, 0), -EBUSY);
	CHECK_EQ(jumbo_pool_unhold(p, b), 0);
	CHECK_EQ(jumbo_pool_unhold(p, b), -ENOENT);
	/* Past the committed part but inside the reservation: not a page. */
	CHECK_EQ(jumbo_pool_free(p, (char *)jumbo_pool_iova_to_addr(p, 0) +
					    63 * 4096), -EFAULT);
	/* Bad parameters. */
	pp.page_size = 8192;
	errno = 0;
	CHECK(jumbo_pool_create(&pp) == NULL && errno == EINVAL);
	pp.page_size = 4096;
	pp.init_pages = 65;
	CHECK(jumbo_pool_create(&pp) == NULL && errno == EINVAL);
	CHECK(jumbo_pool_create(NULL) == NULL && errno == EINVAL);
	CHECK_EQ(jumbo_pool_stats(NULL, &st), -EINVAL);
	CHECK_EQ(jumbo_pool_destroy(NULL), -EINVAL);
	CHECK_EQ(jumbo_pool_steal(p, b, 0x80), -EINVAL); /* unknown flag */
	CHECK_EQ(jumbo_pool_hold(NULL, b), -EINVAL);
	CHECK_EQ(jumbo_pool_unhold(NULL, b), -EINVAL);
	CHECK_EQ(jumbo_pool_steal(NULL, b, 0), -EINVAL);
	CHECK_EQ(jumbo_pool_trim(NULL, 0), -EINVAL);
	CHECK_EQ(jumbo_pool_fd(NULL), -1);
	jumbo_pool_flush_cache(NULL);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, foreign), NULL, NULL),
		 JUMBO_PG_UNUSED);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, b), NULL, NULL),
		 JUMBO_PG_ALLOC); /* b, untouched by all of the above */

	/* The pool is intact: exactly b is out, the rest can be had. */
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.in_use, 1);
	void *v[64];
	unsigned n = jumbo_pool_alloc_bulk(p, v, 64);
	CHECK_EQ(n, 63);
	for (unsigned i = 0; i < n; i++)
		CHECK(v[i] != b);
	/* A batch with bad entries: they are skipped, the rest freed. */
	void *mixed[6] = { v[0], foreign, v[1], v[0], v[2], a + 1 };
	CHECK_EQ(jumbo_pool_free_bulk(p, mixed, 6), -EFAULT);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.in_use, 63 - 3 + 1);
	/*
	 * One bad entry after a good one, so the batch's fast loop meets
	 * it with room in the cache: the edges of the reservation and
	 * addresses inside pages, each refused with the reason, changing
	 * nothing (the fast loop's one compare covers all of them).
	 */
	char *base = JUMBO_HEAD(p)->ph_base, *end = base + 64 * 4096;
	char *edge[] = { base - 1, base - 4096, end, end + 1, end - 1,
			 base + 1, base + 2048, base + 4095, (char *)1,
			 (char *)UINTPTR_MAX };
	int why[] = { -EFAULT, -EFAULT, -EFAULT, -EFAULT, -EINVAL,
		      -EINVAL, -EINVAL, -EINVAL, -EFAULT, -EFAULT };
	for (unsigned k = 0; k < sizeof(edge) / sizeof(edge[0]); k++) {
		void *pair[2] = { v[3], edge[k] };
		CHECK_EQ(jumbo_pool_free_bulk(p, pair, 2), why[k]);
		v[3] = jumbo_pool_alloc(p); /* the good one went back */
		REQUIRE(v[3] != NULL);
		REQUIRE(jumbo_pool_stats(p, &st) == 0);
		CHECK_EQ(st.in_use, 63 - 3 + 1);
	}
	CHECK_EQ(jumbo_pool_free_bulk(p, v + 3, n - 3), 0);
	CHECK_EQ(jumbo_pool_free(p, b), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_done("bad_input");
}
