/*
 * The one address-to-page lookup: every entry point that takes an address
 * bounds it by the cap and tells a frame not yet committed by its state
 * (issue 11).  The same three addresses go to each: one beyond the cap,
 * one inside the cap but not committed, one committed page.
 */
#include "check.h"

#include <jumbo/jumbo.h>

int main(void)
{
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 1024;
	pp.init_pages = 16;
	pp.grow_pages = 16;
	pp.flags = JUMBO_POOL_NOCACHE;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	size_t ps = jumbo_pool_page_size(p);
	char *page = jumbo_pool_alloc(p);
	REQUIRE(page);
	char *base = jumbo_pool_iova_to_addr(p, 0);
	REQUIRE(base);
	char *uncommitted = base + 512 * ps; /* inside the cap, not committed */
	char *beyond = base + 1024 * ps;     /* the cap's end */
	char *below = base - ps;             /* wraps above the cap */

	/* Outside the cap: EFAULT everywhere, no descriptor. */
	for (char *a = beyond; a; a = a == beyond ? below : NULL) {
		CHECK_EQ(jumbo_pool_free(p, a), -EFAULT);
		CHECK_EQ(jumbo_pool_hold(p, a), -EFAULT);
		CHECK_EQ(jumbo_pool_unhold(p, a), -EFAULT);
		CHECK_EQ(jumbo_pool_steal(p, a, 0), -EFAULT);
		CHECK_EQ(jumbo_pool_free_contig(p, a, 1), -EFAULT);
		CHECK(jumbo_pool_page(p, a) == NULL);
		CHECK(jumbo_pool_iova(p, a) == (vm_paddr_t)-1);
	}
	/* Inside the cap, not committed: a descriptor whose state says so,
	 * and EFAULT from every call that would change a page. */
	CHECK_EQ(jumbo_pool_free(p, uncommitted), -EFAULT);
	CHECK_EQ(jumbo_pool_hold(p, uncommitted), -EFAULT);
	CHECK_EQ(jumbo_pool_unhold(p, uncommitted), -EFAULT);
	CHECK_EQ(jumbo_pool_steal(p, uncommitted, 0), -EFAULT);
	CHECK_EQ(jumbo_pool_free_contig(p, uncommitted, 1), -EFAULT);
	CHECK(jumbo_pool_page(p, uncommitted) != NULL);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, uncommitted), NULL, NULL),
		 JUMBO_PG_UNUSED);
	/* A run from the last page of the cap over its end. */
	CHECK_EQ(jumbo_pool_free_contig(p, beyond - ps, 2), -EFAULT);
	/* Inside a page: EINVAL where the call needs a page's start. */
	CHECK_EQ(jumbo_pool_free(p, page + 1), -EINVAL);
	CHECK_EQ(jumbo_pool_steal(p, page + 1, 0), -EINVAL);
	CHECK_EQ(jumbo_pool_free_contig(p, page + 1, 1), -EINVAL);
	/* A committed page: hold and unhold take any byte of it. */
	CHECK_EQ(jumbo_pool_hold(p, page + 1), 0);
	CHECK_EQ(jumbo_pool_unhold(p, page + ps - 1), 0);
	CHECK_EQ(jumbo_pool_free(p, page), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);

	/* jumbo(9)'s I/O addresses: committed frames translate, no others. */
	REQUIRE(jumbo_vm_init() == 1);
	vm_page_t pg = jumbo_pg_alloc();
	REQUIRE(pg);
	vm_offset_t pa = VM_PAGE_TO_PHYS(pg);
	CHECK(jumbo_phys_to_kva(pa) == jumbo_page_kva(pg));
	CHECK(jumbo_phys_to_kva((vm_offset_t)1 << 46) == NULL);
	/* Inside the default pool's cap, far beyond what one page committed. */
	CHECK(jumbo_phys_to_kva((vm_offset_t)60000 * jumbo_page_size()) == NULL);
	jumbo_pg_free((vm_offset_t)jumbo_page_kva(pg));
	return check_done("lookup");
}
