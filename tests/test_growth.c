/*
 * Growth: a pool that starts empty grows in steps far past its first step,
 * up to its cap, then returns NULL with ENOMEM, and recovers when pages come
 * back.  Every page handed out is distinct, aligned and writable.
 */
#include "check.h"

#include <jumbo/jumbo.h>

#define CAP 20000

static int cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	static void *v[CAP], *sorted[CAP];

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pp.grow_pages = 64;
	pp.name = "growth";
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p != NULL);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.committed, 0);
	CHECK_EQ(st.reserved, CAP);
	/* A frame with no memory yet: its descriptor says so. */
	vm_page_t unused = jumbo_pool_page(p, jumbo_pool_iova_to_addr(p, 4096));
	REQUIRE(unused != NULL);
	CHECK_EQ(jumbo_page_state(unused, NULL, NULL), JUMBO_PG_UNUSED);

	for (int i = 0; i < CAP; i++) {
		v[i] = jumbo_pool_alloc(p);
		REQUIRE(v[i] != NULL);
		CHECK_EQ((uintptr_t)v[i] % 4096, 0);
		*(volatile int *)v[i] = i;
		*(volatile int *)((char *)v[i] + 4092) = i;
	}
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.committed, CAP);
	CHECK_EQ(st.in_use, CAP);
	CHECK_EQ(st.grows, (CAP + 63) / 64);
	CHECK(st.high_water >= CAP);
	/* The metadata promise of jumbo.h: at most 32 bytes per page. */
	printf("metadata: %.2f bytes per page\n",
	       (double)st.meta_bytes / (double)st.committed);
	CHECK(st.meta_bytes <= 32 * st.committed);

	/* Every translation agrees with every other, for every page. */
	for (int i = 0; i < CAP; i++) {
		vm_page_t pg = jumbo_pool_page(p, (char *)v[i] + 100);
		REQUIRE(pg != NULL);
		CHECK(jumbo_page_kva(pg) == v[i]);
		CHECK_EQ(jumbo_page_index(pg), jumbo_pool_iova(p, v[i]) >> 12);
		CHECK_EQ(VM_PAGE_TO_PHYS(pg), jumbo_pool_iova(p, v[i]));
		CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_ALLOC);
	}

	/* Distinct pages, none overlapping another. */
	memcpy(sorted, v, sizeof(v));
	qsort(sorted, CAP, sizeof(void *), cmp);
	for (int i = 1; i < CAP; i++)
		CHECK((char *)sorted[i] >= (char *)sorted[i - 1] + 4096);
	for (int i = 0; i < CAP; i++)
		CHECK_EQ(*(int *)v[i], i);

	/* At the cap: NULL and ENOMEM, again and again, and nothing breaks. */
	for (int k = 0; k < 3; k++) {
		errno = 0;
		CHECK(jumbo_pool_alloc(p) == NULL);
		CHECK_EQ(errno, ENOMEM);
	}
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.alloc_fails, 3);

	/* Recovery: what comes back can be had again, and only that. */
	for (int i = 0; i < 100; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	for (int i = 0; i < 100; i++) {
		v[i] = jumbo_pool_alloc(p);
		CHECK(v[i] != NULL);
	}
	CHECK(jumbo_pool_alloc(p) == NULL);

	/* Addresses never moved: the first page is where it always was. */
	CHECK(jumbo_pool_iova_to_addr(p, 0) == sorted[0]);
	for (int i = 0; i < CAP; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);

	/*
	 * The reserve: the depot keeps that many free pages cold, growing the
	 * pool rather than reusing a page just freed; without one, the page
	 * just freed comes straight back.  NOCACHE so every call is the
	 * depot's.
	 */
	for (int reserve = 0; reserve <= 256; reserve += 256) {
		jumbo_pool_params_init(&pp);
		pp.max_pages = 4096;
		pp.grow_pages = 64;
		pp.flags = JUMBO_POOL_NOCACHE;
		pp.reserve_pages = (size_t)reserve;
		p = jumbo_pool_create(&pp);
		REQUIRE(p != NULL);
		void *a = jumbo_pool_alloc(p), *b;
		int reused = 0;
		for (int i = 0; i < 1000; i++) {
			CHECK_EQ(jumbo_pool_free(p, a), 0);
			b = jumbo_pool_alloc(p);
			reused += b == a;
			a = b;
		}
		CHECK_EQ(jumbo_pool_free(p, a), 0);
		REQUIRE(jumbo_pool_stats(p, &st) == 0);
		printf("growth: reserve %d: %d of 1000 frees reused at once, "
		       "%llu pages committed\n", reserve, reused,
		       (unsigned long long)st.committed);
		if (reserve) {
			CHECK_EQ(reused, 0);
			CHECK(st.committed >= 256 && st.committed <= 256 + 64);
		} else {
			CHECK_EQ(reused, 1000);
			CHECK_EQ(st.committed, 64);
		}
		CHECK_EQ(jumbo_pool_destroy(p), 0);
	}

	/*
	 * The reserve's footprint: never more than a quarter of the cap,
	 * whether asked for by hand or by default (32 MiB, more than this
	 * whole pool).  One page going round twice the cap's worth of times
	 * commits the capped reserve and a growth step, not the cap.
	 */
	size_t asks[] = { JUMBO_RESERVE_AUTO, 1024, 512 };
	for (size_t k = 0; k < sizeof(asks) / sizeof(asks[0]); k++) {
		jumbo_pool_params_init(&pp);
		pp.max_pages = 1024;
		pp.grow_pages = 64;
		pp.flags = JUMBO_POOL_NOCACHE;
		pp.reserve_pages = asks[k];
		p = jumbo_pool_create(&pp);
		REQUIRE(p != NULL);
		void *a = jumbo_pool_alloc(p);
		for (int i = 0; i < 2048; i++) {
			CHECK_EQ(jumbo_pool_free(p, a), 0);
			a = jumbo_pool_alloc(p);
		}
		CHECK_EQ(jumbo_pool_free(p, a), 0);
		REQUIRE(jumbo_pool_stats(p, &st) == 0);
		char ask[24] = "auto";
		if (k)
			snprintf(ask, sizeof(ask), "%zu", asks[k]);
		printf("growth: reserve asked %s of a 1024-page cap: %llu "
		       "pages committed\n", ask, (unsigned long long)st.committed);
		CHECK(st.committed >= 256 && st.committed <= 256 + 64);
		CHECK_EQ(jumbo_pool_destroy(p), 0);
	}
	return check_done("growth");
}
