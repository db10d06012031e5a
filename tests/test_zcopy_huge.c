/*
 * Zero-copy delivery of 2 MiB pages: hugetlb memory cannot be moved with
 * MREMAP_DONTUNMAP, so these pages move with a plain mremap and the pool
 * re-maps the slot.  Needs huge pages: as root the test raises
 * vm.nr_hugepages if it must; otherwise it skips and says why.
 * Usage: test_zcopy_huge [seed]
 */
#include "check.h"

#include <jumbo/mbuf.h>
#include <stdbool.h>
#include <sys/mman.h>

#define H JUMBO_PAGE_2M
#define NEED 12 /* pool pages + the spare re-backing pages + calibration */

static long read_long(const char *path, const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!key || strncmp(line, key, strlen(key)) == 0) {
			v = strtol(line + (key ? strlen(key) : 0), NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long saved_nr = -1;

/* Puts vm.nr_hugepages back to what it was if this test raised it. */
static void restore_hugepages(void)
{
	FILE *f = saved_nr >= 0 ? fopen("/proc/sys/vm/nr_hugepages", "w") : NULL;
	if (f) {
		fprintf(f, "%ld\n", saved_nr);
		fclose(f);
	}
}

/* Makes sure NEED huge pages are free, raising the count as root. */
static void want_hugepages(void)
{
	long fr = read_long("/proc/meminfo", "HugePages_Free:");
	long total = read_long("/proc/sys/vm/nr_hugepages", NULL);
	if (fr >= NEED)
		return;
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (f) {
		fprintf(f, "%ld\n", total + NEED - (fr < 0 ? 0 : fr));
		fclose(f);
		printf("zcopy_huge: raised vm.nr_hugepages from %ld\n", total);
		saved_nr = total;
		atexit(restore_hugepages);
	}
	fr = read_long("/proc/meminfo", "HugePages_Free:");
	if (fr < NEED)
		skip("zcopy_huge: %ld free 2 MiB pages, %d needed (as root: "
		     "echo %ld > /proc/sys/vm/nr_hugepages)", fr, NEED,
		     total + NEED);
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 512)
		if (p[i])
			return false;
	return true;
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "zcopy_huge");
	struct jumbo_pool_params p;
	struct jumbo_deliver_stats st;
	struct jumbo_deliver_tuning t;

	want_hugepages();
	jumbo_pool_params_init(&p);
	p.page_size = H;
	p.max_pages = 4;
	p.grow_pages = 4;
	p.init_pages = 4;
	p.name = "test_zcopy_huge";
	struct jumbo_pool *pool = jumbo_pool_create(&p);
	if (!pool)
		skip("zcopy_huge: 2 MiB pool: %s", strerror(errno));

	int r = jumbo_deliver_calibrate(H, &t);
	CHECK(r == 0 || r == -EOPNOTSUPP);
	printf("calibrated 2 MiB: move from %zd bytes (1 thread), %zd (more)\n",
	       (ssize_t)t.thresh_1thr, (ssize_t)t.thresh_mthr);

	/* A 2 MiB-aligned destination for two pages, with a guard each side. */
	char *raw = mmap(NULL, 5 * H, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(raw != MAP_FAILED);
	char *dst = (char *)(((uintptr_t)raw + 2 * H - 1) & ~(uintptr_t)(H - 1));
	memset(raw, 0x5a, 5 * H);

	for (int round = 0; round < 4; round++) {
		size_t len = 2 * H - (round & 1 ? 1000 : 0);
		struct mbuf *m = m_getjumbo(pool, len, NULL);
		REQUIRE(m);
		char *slot0 = m->m_data;
		uint64_t s = seed + (uint64_t)round;
		for (struct mbuf *x = m; x; x = x->m_next)
			for (size_t i = 0; i < x->m_len; i += 8)
				*(uint64_t *)(x->m_data + i) = rnd(&s);
		char *ref = malloc(len);
		REQUIRE(m_copydata(m, 0, len, ref) == 0);
		unsigned fl = round < 2 ? JUMBO_DELIVER_MOVE : JUMBO_DELIVER_COPY;
		CHECK_EQ(jumbo_deliver(m, dst, 2 * H, fl, &st), 0);
		CHECK(memcmp(dst, ref, len) == 0);
		CHECK_EQ(st.moved + st.copied, len);
		if (fl == JUMBO_DELIVER_MOVE) {
			/* The last page is partial when len is not 4 MiB. */
			CHECK_EQ(st.moved, len == 2 * H ? 2 * H : H);
			CHECK_EQ(jumbo_page_state(jumbo_pool_page(pool, slot0),
						  NULL, NULL), JUMBO_PG_FREE);
			CHECK(all_zero(slot0, H));
		} else {
			CHECK_EQ(st.moved, 0);
		}
		CHECK(dst[-1] == 0x5a && dst[2 * H] == 0x5a);
		free(ref);
	}
	struct jumbo_stats js;
	jumbo_pool_stats(pool, &js);
	CHECK_EQ(js.in_use, 0);
	CHECK_EQ(js.lost, 0);
	CHECK(js.steals >= 3);
	munmap(raw, 5 * H);
	jumbo_pool_flush_cache(pool);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("zcopy_huge");
}
