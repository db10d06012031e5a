/*
 * test_shhuge: a named pool's memory in 2 MiB pages where /dev/shm gives
 * them on request (mounted huge=advise), in the creating process and in
 * one that attaches: the commit faults its memory in through a mapping
 * that asks for huge pages (jumbo_pool(3), Processes).
 *
 * Root only: the test mounts a tmpfs with huge=advise on /dev/shm in a
 * mount namespace of its own, which goes with it.  Skips where the
 * kernel's tmpfs has no huge pages.
 */
#include <jumbo/jumbo.h>
#include "check.h"
#include "test_named.h"

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>

#define PAGES 2048u /* 8 MiB: four huge pages */
#define NAME "test-shhuge"

/* kB of the range [lo, hi) mapped by PMD (whole 2 MiB pages), from smaps. */
static long pmd_kb(uintptr_t lo, uintptr_t hi)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long kb = 0;

	REQUIRE(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b, v;

		/* A mapping's first line: "start-end perms ..."; the
		 * fields that follow are "Name: value" and never scan two. */
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2) {
			in = a < hi && b > lo;
			continue;
		}
		if (in && sscanf(line, "ShmemPmdMapped: %lu kB", &v) == 1)
			kb += (long)v;
	}
	fclose(f);
	return kb;
}

/* Every page of the pool allocated, written and freed; the PMD-mapped kB. */
static long touch_all(struct jumbo_pool *p)
{
	static void *v[PAGES];
	unsigned n = jumbo_pool_alloc_bulk(p, v, PAGES);
	uintptr_t lo = UINTPTR_MAX, hi = 0;

	CHECK(n > PAGES / 2);
	for (unsigned i = 0; i < n; i++) {
		memset(v[i], 0x5a, 64);
		if ((uintptr_t)v[i] < lo)
			lo = (uintptr_t)v[i];
		if ((uintptr_t)v[i] + 4096 > hi)
			hi = (uintptr_t)v[i] + 4096;
	}
	long kb = pmd_kb(lo, hi);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, n), 0);
	return kb;
}

int main(void)
{
	struct jumbo_pool *p;
	long kb;
	int st;

	if (geteuid() != 0)
		skip("needs root (a tmpfs mounted on /dev/shm)");
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		skip("no mount namespace of our own: %s", strerror(errno));
	if (mount("test-shhuge", "/dev/shm", "tmpfs", 0,
		  "huge=advise,mode=1777") != 0)
		skip("tmpfs with huge=advise: %s (no huge pages in tmpfs)",
		     strerror(errno));
	setenv("JUMBO_STAT", "0", 1); /* no statistics thread: we fork */

	p = test_named_pool(NAME, PAGES, 0, 64, false);

	kb = touch_all(p);
	printf("creator: %ld kB of the pool mapped in 2 MiB pages\n", kb);
	CHECK(kb >= 2048);

	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(NAME, 0);
		REQUIRE(q);
		long ckb = touch_all(q);
		printf("attached: %ld kB of the pool mapped in 2 MiB pages\n",
		       ckb);
		CHECK(ckb >= 2048);
		CHECK_EQ(jumbo_pool_destroy(q), 0);
		fflush(stdout);
		_exit(check_failures ? 1 : 0);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_failures ? 1 : 0;
}
