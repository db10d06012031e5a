/*
 * jumbo_pg_steal: the page's data is moved away with mremap (no copy), the
 * slot is re-backed, and it can be allocated again with no old data in it.
 * Both ways of moving: MREMAP_DONTUNMAP (the slot stays mapped, the pool is
 * told with JUMBO_STEAL_MOVED) and a plain mremap that leaves a hole, which
 * jumbo_pg_steal fills.  Also a page kept by its caller, and a shared pool,
 * which cannot give its memory away.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <sys/mman.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static int all_zero(const char *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return 0;
	return 1;
}

/* Allocate until the page at kva comes back (LIFO caches: soon). */
static vm_page_t realloc_slot(caddr_t kva, vm_page_t *held, int *nheld)
{
	for (int i = 0; i < 4096; i++) {
		vm_page_t pg = jumbo_pg_alloc();
		if (!pg)
			return NULL;
		if (jumbo_page_kva(pg) == kva)
			return pg;
		held[(*nheld)++] = pg;
	}
	return NULL;
}

int main(void)
{
	const size_t ps = 4096;
	vm_page_t held[4096];
	int nheld = 0;
	struct jumbo_stats st;

	REQUIRE(jumbo_vm_init() == 1);
	char *dst = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(dst != MAP_FAILED);
	memset(dst, 0x11, 2 * ps); /* the reader's old pages */

	/* 1. DONTUNMAP move, then the pool API's steal. */
	vm_page_t pg = jumbo_pg_alloc();
	caddr_t kva = jumbo_page_kva(pg);
	memset(kva, 0x5a, ps);
	void *r = mremap(kva, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
			 dst);
	if (r == MAP_FAILED)
		skip("mremap(MREMAP_DONTUNMAP) not supported: %s", strerror(errno));
	CHECK(r == dst);
	CHECK_EQ((unsigned char)dst[0], 0x5a);
	CHECK_EQ((unsigned char)dst[ps - 1], 0x5a);
	CHECK_EQ((unsigned char)dst[ps], 0x11);
	CHECK_EQ(jumbo_pool_steal(jumbo_default_pool(), kva, JUMBO_STEAL_MOVED), 0);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
	vm_page_t again = realloc_slot(kva, held, &nheld);
	CHECK(again == pg);
	CHECK(all_zero(kva, ps));
	CHECK_EQ((unsigned char)dst[100], 0x5a); /* the reader keeps the data */

	/* 2. A plain mremap leaves a hole; jumbo_pg_steal maps fresh memory. */
	memset(kva, 0x77, ps);
	r = mremap(kva, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED, dst + ps);
	CHECK(r == dst + ps);
	CHECK_EQ((unsigned char)dst[ps + 5], 0x77);
	jumbo_pg_steal(pg);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
	again = realloc_slot(kva, held, &nheld);
	CHECK(again == pg);
	CHECK(all_zero(kva, ps));
	memset(kva, 1, ps); /* the slot is real, writable memory */

	/* 3. Kept by the caller (not moved): the slot's data is discarded. */
	jumbo_pg_steal(pg);
	again = realloc_slot(kva, held, &nheld);
	CHECK(again == pg);
	CHECK(all_zero(kva, ps));
	jumbo_pg_free((vm_offset_t)kva);

	for (int i = 0; i < nheld; i++)
		jumbo_pg_free((vm_offset_t)jumbo_page_kva(held[i]));
	REQUIRE(jumbo_pool_stats(jumbo_default_pool(), &st) == 0);
	CHECK_EQ(st.steals, 3);
	CHECK_EQ(st.lost, 0);
	CHECK_EQ(st.in_use, 0);

	/* 4. A shared pool's memory cannot be given away. */
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 16;
	pp.flags = JUMBO_POOL_SHARED;
	struct jumbo_pool *sp = jumbo_pool_create(&pp);
	REQUIRE(sp);
	void *a = jumbo_pool_alloc(sp);
	REQUIRE(a);
	CHECK_EQ(jumbo_pool_steal(sp, a, 0), -EOPNOTSUPP);
	CHECK_EQ(jumbo_pool_free(sp, a), 0);
	CHECK_EQ(jumbo_pool_destroy(sp), 0);
	munmap(dst, 2 * ps);
	return check_done("steal");
}
