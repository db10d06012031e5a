/*
 * The hold count's limit: 65535 holds on one page are counted, the next
 * is refused with -EOVERFLOW and changes nothing (the count sits next to
 * the page's state and flags in one word: an overflow would corrupt
 * them); after the last unhold a free pending from the start completes.
 * The coverage run found the -EOVERFLOW branch unexecuted, and a fault
 * that let the count overflow survived the suite (docs/COVERAGE.md).
 */
#include "check.h"

#include <jumbo/jumbo.h>

#define HOLD_MAX 65535u

int main(void)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	unsigned holds;
	int pending;

	jumbo_pool_params_init(&pp);
	pp.max_pages = 16;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p != NULL);
	char *a = jumbo_pool_alloc(p);
	REQUIRE(a != NULL);
	vm_page_t pg = jumbo_pool_page(p, a);

	for (unsigned i = 0; i < HOLD_MAX; i++)
		if (jumbo_pool_hold(p, a + i % 4096) != 0) {
			CHECK_EQ(i, HOLD_MAX); /* refused too early */
			break;
		}
	CHECK_EQ(jumbo_pool_hold(p, a), -EOVERFLOW);
	CHECK_EQ(jumbo_page_state(pg, &holds, &pending), JUMBO_PG_HELD);
	CHECK_EQ(holds, HOLD_MAX);
	CHECK_EQ(pending, 0);

	/* Freed while held: deferred to the last of the 65535 unholds. */
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	CHECK_EQ(jumbo_pool_hold(p, a), -EALREADY);
	for (unsigned i = 0; i < HOLD_MAX - 1; i++)
		if (jumbo_pool_unhold(p, a) != 0) {
			CHECK_EQ(i, HOLD_MAX - 1);
			break;
		}
	CHECK_EQ(jumbo_page_state(pg, &holds, &pending), JUMBO_PG_HELD);
	CHECK_EQ(holds, 1);
	CHECK_EQ(pending, 1);
	CHECK_EQ(jumbo_pool_unhold(p, a), 0);
	CHECK_EQ(jumbo_page_state(pg, &holds, &pending), JUMBO_PG_FREE);
	CHECK_EQ(jumbo_pool_unhold(p, a), -ENOENT);

	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.holds, HOLD_MAX);
	CHECK_EQ(st.deferred_frees, 1);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_done("hold_limit");
}
