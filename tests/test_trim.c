/*
 * Trim gives the memory of long-free pages back to the kernel (mincore
 * shows them gone) while their addresses stay: they can be allocated again
 * and read as zero.  Anonymous and shared (memfd) pools.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <sys/mman.h>

#define N 1024

static size_t resident(void *base, size_t pages)
{
	unsigned char vec[N];
	size_t n = 0;
	REQUIRE(mincore(base, pages * 4096, vec) == 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}

static void run(unsigned flags, const char *what)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	static void *v[N];

	jumbo_pool_params_init(&pp);
	pp.max_pages = N;
	pp.flags = flags;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	CHECK_EQ(jumbo_pool_alloc_bulk(p, v, N), N);
	for (int i = 0; i < N; i++)
		memset(v[i], 0xee, 4096);
	void *base = jumbo_pool_iova_to_addr(p, 0);
	CHECK_EQ(resident(base, N), N);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, N), 0);
	jumbo_pool_flush_cache(p);
	/* Not old enough yet: nothing goes. */
	CHECK_EQ(jumbo_pool_trim(p, 60000), 0);
	long t = jumbo_pool_trim(p, 0);
	printf("trim %s: %ld pages given back\n", what, t);
	CHECK_EQ(t, N);
	CHECK(resident(base, N) < N / 10);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.committed, 0);
	CHECK_EQ(st.trims, N);
	CHECK_EQ(jumbo_pool_trim(p, 0), 0); /* nothing left to give */

	/* Same addresses, zeroed, usable. */
	CHECK_EQ(jumbo_pool_alloc_bulk(p, v, N), N);
	for (int i = 0; i < N; i++) {
		CHECK(v[i] >= base && (char *)v[i] < (char *)base + N * 4096);
		CHECK_EQ(((unsigned char *)v[i])[i % 4096], 0);
		memset(v[i], 1, 4096);
	}
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.committed, N);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, N), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Automatic trim: pages idle longer than trim_idle_ms are given back at the
 * pool's next slow path, here a free that overflows a thread cache.
 */
static void run_auto(void)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	static void *v[N];

	jumbo_pool_params_init(&pp);
	pp.max_pages = N;
	pp.cache_size = 16;
	pp.trim_idle_ms = 50;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	CHECK_EQ(jumbo_pool_alloc_bulk(p, v, N), N);
	for (int i = 0; i < N; i++)
		memset(v[i], 1, 64);
	uint64_t t0 = now_ms();
	CHECK_EQ(jumbo_pool_free_bulk(p, v, N - 64), 0);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	/*
	 * Nothing has been idle yet, unless the machine stopped this thread
	 * for trim_idle_ms inside the free (its own slow paths may then
	 * trim the pages it freed first): only then is the check void.
	 */
	if (now_ms() - t0 < 50)
		CHECK_EQ(st.trims, 0);
	else
		printf("trim auto: the free took %llu ms, over trim_idle_ms: "
		       "no check that nothing was trimmed\n",
		       (unsigned long long)(now_ms() - t0));
	usleep(150 * 1000);
	CHECK_EQ(jumbo_pool_free_bulk(p, v + N - 64, 64), 0); /* slow paths */
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	printf("trim auto: %llu pages given back after 150 ms idle\n",
	       (unsigned long long)st.trims);
	CHECK(st.trims >= N - 64 - 16);
	CHECK(st.committed <= 64 + 16);
	CHECK_EQ(jumbo_pool_alloc_bulk(p, v, N), N);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, N), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

int main(void)
{
	run(0, "anonymous");
	run(JUMBO_POOL_SHARED, "memfd");
	run_auto();
	return check_done("trim");
}
