/*
 * The kernel refuses memory, for real: under RLIMIT_AS the default pool's
 * reservation fails, so jumbo_vm_init returns 0 and allocation NULL, and a
 * later call succeeds once the limit is raised; under RLIMIT_DATA the
 * pool's growth is refused, allocation returns NULL with ENOMEM, and frees
 * still make pages available again.  Each case runs in a child, since the
 * limits are the process's.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <sys/resource.h>

/* A field of /proc/self/status, in bytes. */
static rlim_t status_bytes(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = 0;
	size_t n = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			kb = atol(line + n + 1);
			break;
		}
	if (f)
		fclose(f);
	REQUIRE(kb > 0);
	return (rlim_t)kb << 10;
}

static int child_as(void)
{
	struct rlimit rl, low;
	REQUIRE(getrlimit(RLIMIT_AS, &rl) == 0);
	setenv("JUMBO_MAX_PAGES", "262144", 1); /* 1 GiB */
	low = rl;
	/*
	 * Room for 256 MiB more address space, soft limit only so that it
	 * can be raised back; relative to what the process has mapped, which
	 * under a sanitizer is terabytes of shadow.
	 */
	low.rlim_cur = status_bytes("VmSize") + (256ull << 20);
	REQUIRE(setrlimit(RLIMIT_AS, &low) == 0);
	CHECK_EQ(jumbo_vm_init(), 0);
	errno = 0;
	CHECK(jumbo_pg_alloc() == NULL);
	CHECK(errno != 0);
	CHECK(jumbo_default_pool() == NULL);
	/* A call after a failure may try again. */
	REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
	CHECK_EQ(jumbo_vm_init(), 1);
	vm_page_t pg = jumbo_pg_alloc();
	CHECK(pg != NULL);
	if (pg)
		jumbo_pg_free((vm_offset_t)jumbo_page_kva(pg));
	return check_failures;
}

static int child_data(void)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	struct rlimit rl;
	enum { CAP = 65536 };
	static void *v[CAP];
	int n = 0;

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP; /* 256 MiB reserved, not charged */
	pp.grow_pages = 256;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p != NULL);
	/* Room for about 32 MiB more of private writable memory. */
	REQUIRE(getrlimit(RLIMIT_DATA, &rl) == 0);
	rl.rlim_cur = status_bytes("VmData") + (32u << 20);
	REQUIRE(setrlimit(RLIMIT_DATA, &rl) == 0);

	while (n < CAP && (v[n] = jumbo_pool_alloc(p)) != NULL)
		memset(v[n++], 1, 64);
	CHECK_EQ(errno, ENOMEM);
	printf("refusal: RLIMIT_DATA stopped growth at %d pages\n", n);
	CHECK(n > 1000 && n < CAP);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	CHECK(st.grow_fails >= 1);
	CHECK_EQ(st.in_use, n);
	/* Still working: what is freed can be had again. */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(jumbo_pool_free(p, v[--n]), 0);
	for (int i = 0; i < 10; i++)
		CHECK((v[n++] = jumbo_pool_alloc(p)) != NULL);
	while (n)
		CHECK_EQ(jumbo_pool_free(p, v[--n]), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	return check_failures;
}

static void run(const char *name, int (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		{ int r = fn(); fflush(stdout); _exit(r ? 1 : 0); }
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "refusal: %s child failed (status %#x)\n", name, st);
		check_failures++;
	}
}

int main(void)
{
	run("RLIMIT_AS", child_as);
	run("RLIMIT_DATA", child_data);
	return check_done("refusal");
}
