/*
 * The seed's allocation as programs write it: a static inline wrapper of
 * jumbo_pg_alloc() and the translation, pg = jumbo_pg_alloc(); kva =
 * jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg)), called from more than one place
 * (bench/user/seed_user.c's user_alloc).  Here it must answer right: pairs
 * on one page, then bursts that empty and refill the thread's cache, every
 * address the page's own.  wrapper_inlined (wrapper.cmake) builds this file
 * as a user does with GCC -O2 -Winline -Werror: the header's inline code
 * must leave such a wrapper small enough for GCC to inline it.
 */
#include "check.h"

#include <jumbo/jumbo.h>

static inline void *seed_alloc(void)
{
	vm_page_t pg = jumbo_pg_alloc();

	return pg ? jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg)) : NULL;
}

/* What the wrapper gave must be the page jumbo_pg_alloc() handed out. */
static void check_page(const char *p)
{
	const struct jumbo_pool_head *h = jumbo_default_head;
	vm_page_t pg;

	CHECK(p != NULL);
	if (!p)
		return;
	pg = jumbo_pool_page(jumbo_default_pool(), p);
	CHECK(pg != NULL);
	CHECK(((uintptr_t)p & (((uintptr_t)1 << h->ph_shift) - 1)) == 0);
	if (pg)
		CHECK(jumbo_page_kva(pg) == p);
}

/* S1: allocate, touch, free; the same page comes back each time. */
static void pairs(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char *p = seed_alloc();

		check_page(p);
		if (!p)
			return;
		p[i % 4096] = (char)i;
		jumbo_pg_free((vm_offset_t)p);
	}
}

/* S2: bursts past the cache's size, through its refills and flushes. */
static void bursts(unsigned rounds, unsigned n)
{
	static char *v[2048];

	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < n; i++) {
			v[i] = seed_alloc();
			check_page(v[i]);
			if (v[i])
				*v[i] = (char)i;
		}
		for (unsigned i = 0; i < n; i++)
			if (v[i]) {
				CHECK(*v[i] == (char)i);
				jumbo_pg_free((vm_offset_t)v[i]);
			}
	}
}

int main(void)
{
	struct jumbo_stats st;

	setenv("JUMBO_MAX_PAGES", "8192", 1);
	CHECK_EQ(jumbo_vm_init(), 1);
	pairs(100000);
	bursts(20, 2048);
	pairs(1000);
	CHECK_EQ(jumbo_pool_stats(jumbo_default_pool(), &st), 0);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.allocs, st.frees);
	CHECK_EQ(st.allocs, 100000 + 20 * 2048 + 1000);
	return check_done("wrapper");
}
