/*
 * A fork child of a named pool's creator is detached (jumbo_pool(3),
 * Processes): it may use the pages it inherited, and its allocations,
 * adoptions and reclaims fail with EXDEV.  Only the allocations count as
 * failed allocations, and the one warning it gets names what was refused
 * without calling an adopt an allocation.
 */
#include "test_named.h"

#include <jumbo/jumbo.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static char name[40];
static char said[512];
static int nsaid;

static void hook(int level, const char *msg, void *arg)
{
	(void)level, (void)arg;
	if (nsaid++ == 0)
		snprintf(said, sizeof(said), "%s", msg);
}

static uint64_t alloc_fails(struct jumbo_pool *p)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	return st.alloc_fails;
}

static void child(struct jumbo_pool *p, void *inherited)
{
	uint64_t before = alloc_fails(p);

	jumbo_set_log(hook, NULL);
	CHECK_EQ(jumbo_pool_adopt(p, inherited), -EXDEV);
	CHECK_EQ(jumbo_pool_reclaim(p), -EXDEV);
	CHECK_EQ(alloc_fails(p), before);
	CHECK(strstr(said, "jumbo_pool_adopt") != NULL);
	CHECK(strstr(said, "adopt") && strstr(said, "EXDEV"));
	errno = 0;
	CHECK(jumbo_pool_alloc(p) == NULL);
	CHECK_EQ(errno, EXDEV);
	CHECK_EQ(alloc_fails(p), before + 1);
	CHECK_EQ(nsaid, 1); /* said once per pool */
	/* The inherited page is still the child's to use. */
	memset(inherited, 0x5a, 4096);
	if (check_failures)
		fprintf(stderr, "child: first message: %s\n", said);
	_exit(check_failures ? 1 : 0);
}

static void cleanup(void)
{
	test_named_unlink(name);
}

int main(void)
{
	snprintf(name, sizeof(name), "test-shm-detached-%d", (int)getpid());
	atexit(cleanup);
	setenv("JUMBO_STAT", "0", 1); /* no thread across the fork */
	struct jumbo_pool *p = test_named_pool(name, 256, 256, 0, false);
	void *a = jumbo_pool_alloc(p);
	REQUIRE(a);

	fflush(NULL);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		alarm(TEST_HANG_SECONDS);
		child(p, a);
	}
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	printf("detached: a fork child's adopt and reclaim refused (EXDEV) "
	       "without counting as failed allocations; its allocation "
	       "counted; one warning\n");
	return check_done("shm_detached");
}
