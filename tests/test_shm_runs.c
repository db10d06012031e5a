/*
 * Contiguous runs of a named shared pool belong to the process that
 * allocated them, as its single pages do: killed, its runs come back with
 * jumbo_pool_reclaim() (they were lost for good when their pages carried
 * no owner); another process frees them like any page of another's (one
 * free wins, the second is EALREADY); the owner frees its own run whole.
 */
#include "test_named.h"

#include <jumbo/jumbo.h>

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The whole pool: every page of it is counted at the end.
 */
#define PAGES 256u
#define RUN 8u

static char name[40];

/* Every page of the pool can be allocated, then all go back: true. */
static bool all_pages(struct jumbo_pool *p)
{
	void *v[PAGES];
	unsigned n = 0;

	while (n < PAGES && (v[n] = jumbo_pool_alloc(p)) != NULL)
		n++;
	void *extra = jumbo_pool_alloc(p);
	CHECK(extra == NULL);
	if (extra)
		jumbo_pool_free(p, extra);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(jumbo_pool_free(p, v[i]), 0);
	jumbo_pool_flush_cache(p);
	if (n != PAGES)
		fprintf(stderr, "only %u of %u pages could be allocated\n", n,
			PAGES);
	return n == PAGES;
}

static uint64_t in_use(struct jumbo_pool *p)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	return st.in_use;
}

/*
 * A child that attaches, allocates a run, sends its I/O address and
 * waits; then, told to by a byte on cmd, frees it (status 0 if that
 * said EALREADY, as it must once the parent freed it first).
 */
static pid_t runner(int *iofd, int *cmdfd)
{
	int up[2], down[2];

	REQUIRE(pipe(up) == 0 && pipe(down) == 0);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		alarm(TEST_HANG_SECONDS);
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		void *a = q ? jumbo_pool_alloc_contig(q, RUN) : NULL;
		uint64_t io = a ? jumbo_pool_iova(q, a) : UINT64_MAX;
		char ch;

		if (write(up[1], &io, sizeof(io)) != sizeof(io) || !a)
			_exit(2);
		if (read(down[0], &ch, 1) != 1)
			_exit(3);
		_exit(jumbo_pool_free_contig(q, a, RUN) == -EALREADY ? 0 : 4);
	}
	close(up[1]);
	close(down[0]);
	*iofd = up[0];
	*cmdfd = down[1];
	return c;
}

static void *child_run(struct jumbo_pool *p, int iofd)
{
	uint64_t io;

	REQUIRE(read(iofd, &io, sizeof(io)) == sizeof(io));
	close(iofd);
	void *a = jumbo_pool_iova_to_addr(p, io);
	REQUIRE(a);
	return a;
}

/* Killed holding a run: the reclaim returns it, every page comes back. */
static void killed(struct jumbo_pool *p)
{
	int iofd, cmdfd, ws;
	pid_t c = runner(&iofd, &cmdfd);
	void *a = child_run(p, iofd);

	CHECK_EQ(in_use(p), RUN);
	kill(c, SIGKILL);
	REQUIRE(waitpid(c, &ws, 0) == c);
	close(cmdfd);
	long got = jumbo_pool_reclaim(p);
	CHECK(got >= (long)RUN);
	CHECK_EQ(in_use(p), 0);
	for (unsigned i = 0; i < RUN; i++)
		CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, (char *)a +
							   i * 4096),
					  NULL, NULL),
			 JUMBO_PG_FREE);
	printf("killed: a run of %u pages of a killed process reclaimed "
	       "(%ld pages back)\n", RUN, got);
}

/* Freed by another process: one free wins, the owner's is EALREADY. */
static void freed_by_another(struct jumbo_pool *p)
{
	int iofd, cmdfd, ws;
	pid_t c = runner(&iofd, &cmdfd);
	void *a = child_run(p, iofd);

	CHECK_EQ(jumbo_pool_free_contig(p, a, RUN), 0);
	CHECK_EQ(in_use(p), 0);
	REQUIRE(write(cmdfd, "f", 1) == 1);
	close(cmdfd);
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK(jumbo_pool_reclaim(p) >= 0);
	CHECK_EQ(in_use(p), 0);
	printf("another's: a run freed by another process, its owner's "
	       "free then EALREADY\n");
}

/* The owner's own run, freed whole and allocated again. */
static void own(struct jumbo_pool *p)
{
	for (int round = 0; round < 3; round++) {
		void *a = jumbo_pool_alloc_contig(p, RUN);
		REQUIRE(a);
		CHECK_EQ(in_use(p), RUN);
		CHECK_EQ(jumbo_pool_free_contig(p, a, RUN), 0);
		CHECK_EQ(jumbo_pool_free_contig(p, a, RUN), -EALREADY);
		CHECK_EQ(in_use(p), 0);
	}
	printf("own: a run freed whole by its owner, three times\n");
}

static void cleanup(void)
{
	test_named_unlink(name);
}

int main(void)
{
	snprintf(name, sizeof(name), "test-shm-runs-%d", (int)getpid());
	atexit(cleanup);
	struct jumbo_pool *p = test_named_pool(name, PAGES, PAGES, 0, false);

	own(p);
	killed(p);
	freed_by_another(p);
	CHECK(all_pages(p));
	printf("all: every page of the pool allocated again\n");
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_done("shm_runs");
}
