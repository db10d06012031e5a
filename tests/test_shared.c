/*
 * A shared pool: its memory is a memfd that another process maps; a page's
 * I/O address is its offset there, so a ring can carry offsets across
 * address spaces.  A forked child maps the fd at its own address and
 * writes by I/O address; the parent reads it in the page.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <sys/mman.h>

int main(void)
{
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 256;
	pp.flags = JUMBO_POOL_SHARED;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	int fd = jumbo_pool_fd(p);
	CHECK(fd >= 0);

	void *v[8];
	CHECK_EQ(jumbo_pool_alloc_bulk(p, v, 8), 8);
	vm_paddr_t io[8];
	for (int i = 0; i < 8; i++) {
		io[i] = jumbo_pool_iova(p, v[i]);
		memset(v[i], 0, 4096);
	}
	fflush(stdout);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* Another address space: only the fd and the offsets. */
		char *m = mmap(NULL, 256 * 4096, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			_exit(2);
		for (int i = 0; i < 8; i++)
			snprintf(m + io[i], 64, "page %d from the child", i);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (int i = 0; i < 8; i++) {
		char want[64];
		snprintf(want, sizeof(want), "page %d from the child", i);
		CHECK(strcmp(v[i], want) == 0);
	}
	/* A non-shared pool has no fd. */
	struct jumbo_pool_params q;
	jumbo_pool_params_init(&q);
	q.max_pages = 8;
	struct jumbo_pool *anon = jumbo_pool_create(&q);
	REQUIRE(anon);
	CHECK_EQ(jumbo_pool_fd(anon), -1);
	CHECK_EQ(jumbo_pool_destroy(anon), 0);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, 8), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_done("shared");
}
