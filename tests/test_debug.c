/*
 * Debug mode (JUMBO_POOL_DEBUG, or JUMBO_DEBUG=1 for the default pool):
 * freed pages are poisoned and checked when next allocated, so a write
 * after free is reported with the function and the address; and frees use
 * compare-and-swap, so a double free is caught even across threads.
 */
#include "check.h"

#include <jumbo/jumbo.h>

static void uaf_pool(void *arg)
{
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 8;
	pp.flags = JUMBO_POOL_DEBUG;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	char *a = jumbo_pool_alloc(p);
	jumbo_pool_free(p, a);
	a[100] = 1; /* the use after free */
	/* LIFO: the next allocation is the same page, and is checked. */
	fprintf(stderr, "page=%p\n", (void *)a);
	jumbo_pool_alloc(p);
}

static void uaf_default(void *arg)
{
	setenv("JUMBO_DEBUG", "1", 1);
	if (!jumbo_vm_init())
		return;
	vm_page_t pg = jumbo_pg_alloc();
	caddr_t k = jumbo_page_kva(pg);
	jumbo_pg_free((vm_offset_t)k);
	k[4000] = 7;
	jumbo_pg_alloc();
}

int main(void)
{
	const char *want[] = { "jumbo_pg_alloc", "use after free", "offset 96",
			       NULL };
	expect_abort("use after free, pool", uaf_pool, NULL, want);
	const char *want2[] = { "jumbo_pg_alloc", "use after free",
				"offset 4000", NULL };
	expect_abort("use after free, default pool", uaf_default, NULL, want2);

	/* Without a write after free, debug mode is silent and correct. */
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 64;
	pp.flags = JUMBO_POOL_DEBUG;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	for (int r = 0; r < 100; r++) {
		void *v[64];
		unsigned n = jumbo_pool_alloc_bulk(p, v, 64);
		CHECK_EQ(n, 64);
		for (unsigned i = 0; i < n; i++)
			memset(v[i], r, 64);
		CHECK_EQ(jumbo_pool_free_bulk(p, v, n), 0);
	}
	char *a = jumbo_pool_alloc(p);
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	CHECK_EQ((unsigned char)a[0], 0xdb); /* poisoned */
	CHECK_EQ(jumbo_pool_free(p, a), -EALREADY);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_done("debug");
}
