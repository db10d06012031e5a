/*
 * 2 MiB pages.  As root the test reserves huge pages itself
 * (vm.nr_hugepages) and puts the old value back; otherwise, or if the
 * kernel cannot find them, it skips saying why.  Anonymous and shared
 * pools; growth to the cap; a 2 MiB page moved away by mremap and stolen;
 * trim; and the default pool with JUMBO_PAGE_SIZE=2m.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <sys/mman.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#define HP (2u << 20)
#define WANT 24

static long read_nr(void)
{
	long n = -1;
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static int write_nr(long n)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (!f)
		return -1;
	fprintf(f, "%ld\n", n);
	return fclose(f);
}

static long free_huge(void)
{
	char line[128];
	long n = 0;
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

static void pool_case(unsigned flags, const char *what)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	void *v[8];

	jumbo_pool_params_init(&pp);
	pp.page_size = JUMBO_PAGE_2M;
	pp.max_pages = 8;
	pp.init_pages = 2;
	pp.flags = flags;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	CHECK_EQ(jumbo_pool_page_size(p), HP);
	CHECK_EQ(jumbo_pool_alloc_bulk(p, v, 8), 8);
	CHECK(jumbo_pool_alloc(p) == NULL);
	for (int i = 0; i < 8; i++) {
		CHECK_EQ((uintptr_t)v[i] % HP, 0);
		memset(v[i], i + 1, HP);
		CHECK(jumbo_pool_iova_to_addr(p, jumbo_pool_iova(p, v[i])) == v[i]);
		CHECK(jumbo_pool_page(p, (char *)v[i] + HP - 1) ==
		      jumbo_pool_page(p, v[i]));
	}
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK_EQ(st.committed, 8);
	if (!(flags & JUMBO_POOL_SHARED)) {
		/* Move one 2 MiB page to a reader, then steal its slot. */
		char *dst = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		REQUIRE(dst != MAP_FAILED);
		char *d = (char *)(((uintptr_t)dst + HP - 1) & ~(uintptr_t)(HP - 1));
		void *r = mremap(v[3], HP, HP, MREMAP_MAYMOVE | MREMAP_FIXED, d);
		CHECK(r == d);
		CHECK_EQ(d[HP - 1], 4);
		/* MOVED is ignored for huge pages: the hole is filled. */
		CHECK_EQ(jumbo_pool_steal(p, v[3], JUMBO_STEAL_MOVED), 0);
		void *a = jumbo_pool_alloc(p);
		CHECK(a == v[3]);
		CHECK_EQ(((char *)a)[12345], 0);
		memset(a, 9, HP);
		CHECK_EQ(d[7], 4);
		munmap(dst, 2 * HP);
	}
	CHECK_EQ(jumbo_pool_free_bulk(p, v, 8), 0);
	jumbo_pool_flush_cache(p);
	long t = jumbo_pool_trim(p, 0);
	printf("hugepages %s: trim gave back %ld pages\n", what, t);
	CHECK_EQ(t, 8);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

int main(void)
{
	long old = read_nr();
	if (old < 0)
		skip("no /proc/sys/vm/nr_hugepages: kernel without huge pages");
	if (free_huge() < WANT) {
		if (geteuid() != 0)
			skip("needs %d free 2 MiB huge pages (have %ld) and is not "
			     "root to reserve them", WANT, free_huge());
		write_nr(old + WANT);
	}
	if (free_huge() < WANT) {
		write_nr(old);
		skip("the kernel could not reserve %d huge pages (free: %ld)",
		     WANT, free_huge());
	}
	pool_case(0, "anonymous");
	pool_case(JUMBO_POOL_SHARED, "memfd");

	/* The default pool in a child: its pages live as long as it does. */
	fflush(stdout);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		setenv("JUMBO_PAGE_SIZE", "2m", 1);
		setenv("JUMBO_MAX_PAGES", "4", 1);
		CHECK_EQ(jumbo_page_size(), HP);
		REQUIRE(jumbo_vm_init() == 1);
		vm_page_t pg = jumbo_pg_alloc();
		REQUIRE(pg);
		CHECK(jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg) + 4096) ==
		      jumbo_page_kva(pg) + 4096);
		memset(jumbo_page_kva(pg), 1, HP);
		jumbo_pg_free((vm_offset_t)jumbo_page_kva(pg));
		_exit(check_failures ? 1 : 0);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (read_nr() != old)
		write_nr(old);
	CHECK_EQ(read_nr(), old);
	return check_done("hugepages");
}
