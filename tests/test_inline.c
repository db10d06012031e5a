/*
 * The translation a program inlines from <jumbo/jumbo.h>: the inline
 * jumbo_phys_to_kva answers exactly as the library's out-of-line one,
 * before jumbo_vm_init, inside the committed frames, past them, and after
 * the pool grew (the inline reads the public head's ph_committed, which
 * growth must keep up to date).  Built twice: linked with libjumbo.a, and
 * as inline_so, with libjumbo.so into a non-PIE program, where the
 * exported jumbo_default_head is copied into the program (a copy
 * relocation) and the library must write the copy.
 */
#include "check.h"

#include <jumbo/jumbo.h>

/* The library's own function, never the inline definition. */
static caddr_t (*volatile out_of_line)(vm_offset_t) = jumbo_phys_to_kva;

/* Both ways, and they agree. */
static caddr_t both(vm_offset_t pa)
{
	caddr_t in = jumbo_phys_to_kva(pa);

	CHECK(in == out_of_line(pa));
	return in;
}

int main(void)
{
	enum { N = 1500 }; /* past the first growth step (512 pages) */
	static vm_page_t pg[N];
	struct jumbo_stats st;
	size_t page, committed;

	setenv("JUMBO_MAX_PAGES", "8192", 1);
	setenv("JUMBO_TRIM_MS", "0", 1);
	/* Before: no head, nothing translates. */
	CHECK(jumbo_default_head == NULL);
	CHECK(both(0) == NULL);

	CHECK_EQ(jumbo_vm_init(), 1);
	CHECK(jumbo_default_head != NULL);
	CHECK(jumbo_default_head == JUMBO_HEAD(jumbo_default_pool()));
	page = jumbo_page_size();

	for (unsigned i = 0; i < N; i++) {
		pg[i] = jumbo_pg_alloc();
		CHECK(pg[i] != NULL);
		if (pg[i] == NULL)
			return 1;
		/* Each page, as the manual page's driver translates it. */
		caddr_t kva = both(VM_PAGE_TO_PHYS(pg[i]));
		CHECK(kva == jumbo_page_kva(pg[i]));
		CHECK(both(VM_PAGE_TO_PHYS(pg[i]) + page - 1) == kva + page - 1);
		kva[0] = 1; /* committed: writable */
	}

	/* Past the committed frames: NULL, inside the cap or beyond it. */
	CHECK_EQ(jumbo_pool_stats(jumbo_default_pool(), &st), 0);
	committed = st.committed; /* nothing trimmed: JUMBO_TRIM_MS=0 */
	CHECK(committed >= N);
	CHECK(both((vm_offset_t)(committed - 1) * page) != NULL);
	CHECK(both((vm_offset_t)committed * page) == NULL);
	CHECK(both((vm_offset_t)8192 * page) == NULL);
	CHECK(both((vm_offset_t)-1) == NULL);

	for (unsigned i = 0; i < N; i++)
		jumbo_pg_free((vm_offset_t)jumbo_page_kva(pg[i]));
	return check_failures ? 1 : 0;
}
