/*
 * Statistics segments are told alive by their writer's lock, not by its
 * pid (jumbo_stat(3)), so that:
 *
 *   fork   a writer's fork child, living on after its parent is killed,
 *          does not keep the parent's segment alive, and its own segment
 *          (a pool made with JUMBO_POOL_STAT) reads as before
 *   pidns  a writer in a pid namespace of its own (a container sharing
 *          /dev/shm), whose pid (1) names another process here, is read as
 *          live, and neither jumbo_stat_remove() nor "jumbo stat" removes
 *          its segment; killed, its segment is stale and goes
 *   twice  two writers of the same pid number (1) in two namespaces both
 *          keep a segment: both are listed and read by their keys, and
 *          "jumbo stat" shows both, and the second alone as PID.K; a
 *          third, once the first is killed, takes its name back
 *
 * Root: the last two need CAP_SYS_ADMIN (new pid and mount namespaces, a
 * /proc mounted in them); skipped with a reason without it.
 */
#include "test_tool.h"
#include "test_pidns.h"

#include <jumbo/jumbo.h>
#include <jumbo/stat.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#if defined(__SANITIZE_THREAD__)
/*
 * ThreadSanitizer refuses a thread started in the child of a process with
 * threads (a writer has its publisher's): the fork child publishes nothing
 * of its own there.
 */
#define CHILD_PUBLISHES 0
#else
#define CHILD_PUBLISHES 1
#endif

#define WRITERS 3 /* two at once, then a third */

/* Between the test and its writers, in an anonymous shared mapping. */
struct shared {
	struct {
		int stage;     /* writer: 1 published */
		pid_t pid;     /* as the test sees it */
		pid_t ns_pid;  /* in its own namespace */
	} w[WRITERS];
	char skip[160];        /* why a writer could not be made */
};

static struct shared *sh;
static char dir[] = "/tmp/jumbo-stat-pidns.XXXXXX";
static unsigned cur; /* the writer ns_child makes */

static int get(const int *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static void set(int *v, int x)
{
	__atomic_store_n(v, x, __ATOMIC_RELEASE);
}

static int seg_count(void)
{
	pid_t keys[16];
	int n = jumbo_stat_list(keys, 16);
	REQUIRE(n >= 0);
	return n;
}

static struct jumbo_pool *make_pool(const char *name)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.name = name;
	pp.max_pages = 64;
	pp.flags = JUMBO_POOL_STAT;
	return jumbo_pool_create(&pp);
}

/* "ns0", "ns1": writer i's pool. */
static void pool_name(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "ns%u", i);
}

/* Writer i: a pool published, then ready (1); waits to be killed. */
static _Noreturn void writer(unsigned i)
{
	char name[16];

	/* Goes with its parent, and so with the test, whatever ends it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);

	pool_name(name, sizeof(name), i);
	if (!make_pool(name))
		_exit(3);
	sh->w[i].ns_pid = getpid();
	set(&sh->w[i].stage, 1);
	for (;;)
		pause();
}

static _Noreturn void writer_skip(const char *what)
{
	snprintf(sh->skip, sizeof(sh->skip), "%s: %s", what, strerror(errno));
	_exit(0);
}

/* The test's child: writer cur as pid 1 of a new pid namespace. */
static void ns_child(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pid_t g = pidns_fork(writer_skip);
	if (g == 0)
		writer(cur);
	__atomic_store_n(&sh->w[cur].pid, g, __ATOMIC_RELEASE);
	int ws;
	while (waitpid(g, &ws, 0) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* Starts writer i in a namespace of its own; its child's pid (to reap). */
static pid_t start_writer(unsigned i)
{
	cur = i;
	pid_t c = pidns_spawn(ns_child);
	while (get(&sh->w[i].stage) < 1) {
		int ws;
		if (waitpid(c, &ws, WNOHANG) == c) {
			if (sh->skip[0] && !check_failures)
				skip("a writer in a pid namespace of its own: %s",
				     sh->skip);
			REQUIRE(!"the writer in its pid namespace failed");
		}
		usleep(1000);
	}
	while (__atomic_load_n(&sh->w[i].pid, __ATOMIC_ACQUIRE) == 0)
		usleep(1000); /* the child writes it after its fork */
	return c;
}

/* The key jumbo_stat_list() gives the segment whose pool is name; 0 if none. */
static pid_t key_of(const char *name, struct jumbo_stat_proc *sp)
{
	pid_t keys[16];
	int n = jumbo_stat_list(keys, 16);

	for (int i = 0; i < n && i < 16; i++)
		if (jumbo_stat_read(keys[i], sp) == 0 && sp->npools == 1 &&
		    !strcmp(sp->pools[0].name, name))
			return keys[i];
	return 0;
}

static int run_stat_all(struct proc *p, const char *bin)
{
	char *argv[] = { (char *)bin, "stat", "--json", NULL };
	return proc_run(p, argv, PROC_HANG_MS);
}

/*
 * A writer forks a child that lives on and publishes a pool of its own;
 * the writer is killed.  Its segment is stale (the child closed its copy
 * of the lock's description), the child's reads.  This process is the
 * child's subreaper, to reap it once its parent is gone.
 */
static void test_fork(struct jumbo_stat_proc *sp)
{
	int fds[2];
	pid_t kids[2];

	/* The writer's child, orphaned, is reaped here. */
	REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	REQUIRE(pipe(fds) == 0);
	fflush(NULL);
	pid_t a = fork();
	REQUIRE(a >= 0);
	if (a == 0) {
		alarm(TEST_HANG_SECONDS);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		if (!make_pool("parent"))
			_exit(3);
		pid_t c = fork();
		if (c == 0) {
			/* Outlives its parent, not the test's hang limit. */
			alarm(TEST_HANG_SECONDS);
			if (CHILD_PUBLISHES && !make_pool("child"))
				_exit(3);
			kids[0] = getpid();
			kids[1] = getppid();
			if (write(fds[1], kids, sizeof(kids)) != sizeof(kids))
				_exit(4);
			for (;;)
				pause();
		}
		close(fds[1]); /* the child's alone: its end is the read's EOF */
		for (;;)
			pause();
	}
	close(fds[1]);
	REQUIRE(read(fds[0], kids, sizeof(kids)) == sizeof(kids));
	close(fds[0]);
	CHECK_EQ(kids[1], a);
	CHECK_EQ(jumbo_stat_read(a, sp), 0);
	CHECK(sp->npools == 1 && !strcmp(sp->pools[0].name, "parent"));
	if (CHILD_PUBLISHES) {
		CHECK_EQ(jumbo_stat_read(kids[0], sp), 0);
		CHECK(sp->npools == 1 && !strcmp(sp->pools[0].name, "child"));
	}

	REQUIRE(kill(a, SIGKILL) == 0);
	REQUIRE(waitpid(a, NULL, 0) == a);
	CHECK_EQ(jumbo_stat_read(a, sp), -ESRCH);
	CHECK_EQ(jumbo_stat_remove(a), 0);
	if (CHILD_PUBLISHES) {
		CHECK_EQ(jumbo_stat_read(kids[0], sp), 0);
		CHECK(sp->npools == 1 && !strcmp(sp->pools[0].name, "child"));
		CHECK_EQ(jumbo_stat_remove(kids[0]), -EBUSY);
	}
	/* Killed, the child's segment is stale too (its lock went with it). */
	REQUIRE(kill(kids[0], SIGKILL) == 0);
	REQUIRE(waitpid(kids[0], NULL, 0) == kids[0]);
	if (CHILD_PUBLISHES)
		CHECK_EQ(jumbo_stat_remove(kids[0]), 0);
	CHECK_EQ(seg_count(), 0);
	if (!check_failures)
		printf("fork: a killed writer's segment went stale while its "
		       "fork child lived on%s\n", CHILD_PUBLISHES ?
		       " with a segment of its own" : "");
}

/* Kills writer i, whose namespace goes with it, and reaps c, its parent. */
static void stop_writer(unsigned i, pid_t c)
{
	int ws;

	REQUIRE(kill(sh->w[i].pid, SIGKILL) == 0);
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

static void test_pidns(struct jumbo_stat_proc *sp, const char *bin)
{
	pid_t c[WRITERS], k[WRITERS];
	char name[16];
	struct proc p;

	/* Two writers, each pid 1 in a namespace of its own. */
	for (unsigned i = 0; i < 2; i++)
		c[i] = start_writer(i);
	printf("pidns: writers are pid %d and %d in their namespaces, %d and "
	       "%d here\n", (int)sh->w[0].ns_pid, (int)sh->w[1].ns_pid,
	       (int)sh->w[0].pid, (int)sh->w[1].pid);
	REQUIRE(sh->w[0].ns_pid == sh->w[1].ns_pid);

	/* ---- twice: neither took the other's segment ---- */
	CHECK_EQ(seg_count(), 2);

	/* ---- pidns: both read as live, neither is removed ---- */
	for (unsigned i = 0; i < 2; i++) {
		pool_name(name, sizeof(name), i);
		k[i] = key_of(name, sp);
		CHECK(k[i] != 0);
		CHECK_EQ(jumbo_stat_remove(k[i]), -EBUSY);
	}
	CHECK(k[0] != k[1]);
	/* The first keeps the plain name: its key is its pid. */
	CHECK_EQ(k[0], sh->w[0].ns_pid);
	CHECK_EQ(run_stat_all(&p, bin), 0);
	CHECK(strstr(p.obuf, "\"name\":\"ns0\"") != NULL);
	CHECK(strstr(p.obuf, "\"name\":\"ns1\"") != NULL);
	CHECK(strstr(p.ebuf, "stale") == NULL);
	if (check_failures)
		proc_dump(&p, "jumbo stat with two writers of one pid number");
	CHECK_EQ(seg_count(), 2);

	/* Each by its key alone: the pool is its own. */
	for (unsigned i = 0; i < 2; i++) {
		pool_name(name, sizeof(name), i);
		CHECK_EQ(jumbo_stat_read(k[i], sp), 0);
		CHECK(sp->pid == k[i] && sp->npools == 1 &&
		      !strcmp(sp->pools[0].name, name));
	}
	/* jumbo stat PID.K: the second. */
	char arg[24];
	snprintf(arg, sizeof(arg), "%d.%u", (int)JUMBO_STAT_KEY_PID(k[1]),
		 JUMBO_STAT_KEY_SUFFIX(k[1]));
	char *av[] = { (char *)bin, "stat", arg, "--json", NULL };
	CHECK_EQ(proc_run(&p, av, PROC_HANG_MS), 0);
	CHECK(strstr(p.obuf, "\"name\":\"ns1\"") != NULL);
	CHECK(strstr(p.obuf, "\"name\":\"ns0\"") == NULL);
	CHECK(strstr(p.obuf, "\"suffix\":") != NULL);
	if (check_failures)
		proc_dump(&p, "jumbo stat PID.K");

	/*
	 * ---- killed: stale; a third writer of pid 1 takes the plain name
	 * back from the first's stale segment, and leaves the second's ----
	 */
	stop_writer(0, c[0]);
	CHECK_EQ(jumbo_stat_read(k[0], sp), -ESRCH);
	CHECK_EQ(jumbo_stat_read(k[1], sp), 0);
	c[2] = start_writer(2);
	CHECK_EQ(seg_count(), 2);
	k[2] = key_of("ns2", sp);
	CHECK_EQ(k[2], k[0]);
	CHECK_EQ(jumbo_stat_read(k[1], sp), 0);
	CHECK(sp->npools == 1 && !strcmp(sp->pools[0].name, "ns1"));

	/* ---- killed, the other two: jumbo stat removes both ---- */
	stop_writer(1, c[1]);
	CHECK_EQ(jumbo_stat_read(k[1], sp), -ESRCH);
	CHECK_EQ(jumbo_stat_read(k[2], sp), 0);
	stop_writer(2, c[2]);
	CHECK_EQ(run_stat_all(&p, bin), 0);
	CHECK(strstr(p.ebuf, "pid 1 is gone: removed its stale segment") != NULL);
	CHECK(strstr(p.ebuf, "pid 1.1 is gone: removed its stale segment") != NULL);
	CHECK(strstr(p.obuf, "\"processes\":[]") != NULL);
	if (check_failures)
		proc_dump(&p, "jumbo stat after the kills");
	CHECK_EQ(seg_count(), 0);
	if (!check_failures)
		printf("pidns: two writers, pid %d each in namespaces of their "
		       "own, both read as live and kept (keys %d and %d); "
		       "killed, stale; a third took the first's name back\n",
		       (int)sh->w[0].ns_pid, (int)k[0], (int)k[1]);
}

int main(void)
{
	const char *bin = jumbo_bin();
	struct jumbo_stat_proc *sp = malloc(sizeof(*sp));

	REQUIRE(sp);
	REQUIRE(mkdtemp(dir));
	setenv("JUMBO_STAT_DIR", dir, 1);
	setenv("JUMBO_STAT_MS", "20", 1);
	unsetenv("JUMBO_STAT");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(sh != MAP_FAILED);

	test_fork(sp);
	if (geteuid() != 0) {
		rmdir(dir);
		if (check_failures)
			return check_done("stat_pidns");
		skip("writers in pid namespaces of their own need root");
	}
	test_pidns(sp, bin);
	free(sp);
	CHECK_EQ(rmdir(dir), 0);
	return check_done("stat_pidns");
}
