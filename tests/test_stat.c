/*
 * Live statistics: a child process with pools and mbufs publishes them, and
 * "jumbo stat" reads them back: the right pools with the right pages in use
 * and the mbufs in use (JSON), a bar and the mbufs (text), well-formed
 * Prometheus exposition lines, and the same while the child is stopped.
 * Segments of an older and a newer format, and a file that is none, are
 * refused in one line each.  A forked child publishes only what it asks
 * for (JUMBO_POOL_STAT), so that one ending with _exit leaves nothing
 * unless it asked.  After
 * kill -9 of the child its stale segment is removed and reported; a normal
 * exit, or destroying the last published pool, leaves no file; another
 * user (uid 65534) gets a one-line permission error.
 */
#include "test_tool.h"

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>
#include <jumbo/stat.h>

#include <ctype.h>
#include <grp.h>

static char dir[] = "/tmp/jumbo-stat-test.XXXXXX";

static int seg_exists(pid_t pid)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/jumbo-stat.%d", dir, (int)pid);
	return access(path, F_OK) == 0;
}

static struct jumbo_pool *make_pool(const char *name, unsigned flags)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.name = name;
	pp.max_pages = 256;
	pp.flags = flags;
	return jumbo_pool_create(&pp);
}

/*
 * The child ("test_stat child FD", a program of its own: a fork would
 * publish only alpha): MBUFS mbufs out, alpha (JUMBO_POOL_STAT) with 7
 * pages out, beta (shared) with 3, gamma (neither, and no JUMBO_STAT) with
 * 5, which must not show.  Says "ready" on fd, then waits to be killed.
 */
#define MBUFS 5

static void child_pools(int fd)
{
	for (int i = 0; i < MBUFS; i++)
		if (!m_gethdr(M_NOWAIT, MT_DATA))
			_exit(6);
	struct jumbo_pool *a = make_pool("alpha", JUMBO_POOL_STAT);
	struct jumbo_pool *b = make_pool("beta", JUMBO_POOL_SHARED);
	struct jumbo_pool *g = make_pool("gamma", 0);

	if (!a || !b || !g)
		_exit(3);
	for (int i = 0; i < 7; i++)
		if (!jumbo_pool_alloc(a))
			_exit(4);
	for (int i = 0; i < 3; i++)
		if (!jumbo_pool_alloc(b))
			_exit(4);
	for (int i = 0; i < 5; i++)
		if (!jumbo_pool_alloc(g))
			_exit(4);
	if (write(fd, "r", 1) != 1)
		_exit(5);
	for (;;)
		pause();
}

/* The in_use member of the pool named name in a JSON text, or -1. */
static long long pool_in_use(const char *json, const char *name)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"name\":\"%s\"", name);
	const char *s = strstr(json, pat);
	return s ? json_num(s, NULL, "in_use") : -1;
}

static int run_stat(struct proc *p, const char *bin, pid_t pid, const char *opt)
{
	char spid[16];
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	char *argv[] = { (char *)bin, "stat", spid, (char *)opt, NULL };
	if (!opt)
		argv[3] = NULL;
	return proc_run(p, argv, PROC_HANG_MS);
}

/*
 * Every line is "# HELP name text", "# TYPE name gauge|counter", or
 * name{pid="N",comm="...",pool="..."} value (age and mbufs: no pool
 * label), with a TYPE line for name before its first sample.
 */
static int prom_ok(const char *text)
{
	char typed[64][64];
	unsigned ntyped = 0;
	int samples = 0;

	for (const char *l = text; *l;) {
		const char *e = strchr(l, '\n');
		char line[512], name[64];
		size_t len = e ? (size_t)(e - l) : strlen(l);

		if (len >= sizeof(line))
			return fprintf(stderr, "long line\n"), 0;
		memcpy(line, l, len);
		line[len] = '\0';
		l += len + (e != NULL);
		if (!strncmp(line, "# HELP ", 7)) {
			if (sscanf(line + 7, "%63s %*s", name) != 1)
				return fprintf(stderr, "bad HELP: %s\n", line), 0;
		} else if (!strncmp(line, "# TYPE ", 7)) {
			char type[16];
			if (sscanf(line + 7, "%63s %15s", name, type) != 2 ||
			    (strcmp(type, "gauge") && strcmp(type, "counter")) ||
			    ntyped == 64)
				return fprintf(stderr, "bad TYPE: %s\n", line), 0;
			if (!strcmp(type, "counter") &&
			    strcmp(name + strlen(name) - 6, "_total"))
				return fprintf(stderr, "counter without _total: %s\n",
					       line), 0;
			strcpy(typed[ntyped++], name);
		} else {
			const char *b = strchr(line, '{'), *c = strrchr(line, '}');
			char *end;
			if (!b || !c || c < b || c[1] != ' ')
				return fprintf(stderr, "bad sample: %s\n", line), 0;
			for (const char *q = line; q < b; q++)
				if (!isalnum((unsigned char)*q) && *q != '_')
					return fprintf(stderr, "bad name: %s\n", line), 0;
			snprintf(name, sizeof(name), "%.*s", (int)(b - line), line);
			unsigned i;
			for (i = 0; i < ntyped && strcmp(typed[i], name); i++)
				;
			if (i == ntyped)
				return fprintf(stderr, "no TYPE before: %s\n", line), 0;
			if (strncmp(b, "{pid=\"", 6) || !strstr(b, ",comm=\""))
				return fprintf(stderr, "labels: %s\n", line), 0;
			if (strcmp(name, "jumbo_stat_age_seconds") &&
			    strncmp(name, "jumbo_mbuf_", 11) &&
			    !strstr(b, ",pool=\""))
				return fprintf(stderr, "no pool label: %s\n", line), 0;
			strtod(c + 2, &end);
			if (end == c + 2 || *end)
				return fprintf(stderr, "bad value: %s\n", line), 0;
			samples++;
		}
	}
	return samples > 0;
}

/*
 * A segment for pid as a libjumbo writing format version would make it:
 * the head every format shares (magic "JSTG", version, size, pid, start
 * time 0: any process with that pid), then zeroes.
 */
static void forge(pid_t pid, uint32_t version, uint32_t magic)
{
	char path[128], buf[4096] = { 0 };
	uint32_t head[4] = { magic, version, sizeof(buf), (uint32_t)pid };

	memcpy(buf, head, sizeof(head));
	snprintf(path, sizeof(path), "%s/jumbo-stat.%d", dir, (int)pid);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	close(fd);
}

/*
 * Another format, either way (an older jumbo stat reads a newer segment,
 * or the reverse, which is the same check seen from the other side), and
 * a file that is no segment: jumbo_stat_read says -EPROTO and which
 * format; jumbo stat says so in one line on stderr, prints no process,
 * fails when the pid was named and not when listing all.
 */
static void other_formats(const char *bin, struct jumbo_stat_proc *sp)
{
	static const struct {
		uint32_t version, magic;
		const char *says;
	} c[] = {
		{ JUMBO_STAT_VERSION - 1, 0x4a535447u, "older" },
		{ JUMBO_STAT_VERSION + 1, 0x4a535447u, "newer" },
		{ JUMBO_STAT_VERSION, 0x12345678u, "not a statistics segment" },
	};
	pid_t me = getpid();
	struct proc p;

	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		forge(me, c[i].version, c[i].magic);
		CHECK_EQ(jumbo_stat_read(me, sp), -EPROTO);
		CHECK_EQ(sp->version, c[i].magic == 0x4a535447u ? c[i].version : 0);
		CHECK_EQ(run_stat(&p, bin, me, "--json"), 1);
		CHECK(strstr(p.ebuf, c[i].says) != NULL);
		CHECK(p.elen && strchr(p.ebuf, '\n') == p.ebuf + p.elen - 1);
		CHECK(strstr(p.obuf, "\"processes\":[]") != NULL);
		if (check_failures) {
			proc_dump(&p, "jumbo stat PID of another format");
			break;
		}
		char *all[] = { (char *)bin, "stat", NULL };
		CHECK_EQ(proc_run(&p, all, PROC_HANG_MS), 0);
		CHECK(strstr(p.ebuf, c[i].says) != NULL);
		CHECK(p.elen && strchr(p.ebuf, '\n') == p.ebuf + p.elen - 1);
		if (check_failures) {
			proc_dump(&p, "jumbo stat of another format");
			break;
		}
		/* A live process's segment of any format is not stale. */
		CHECK_EQ(jumbo_stat_remove(me), -EBUSY);
	}
	char path[128];
	snprintf(path, sizeof(path), "%s/jumbo-stat.%d", dir, (int)me);
	REQUIRE(unlink(path) == 0);
}

int main(int argc, char **argv)
{
	const char *bin = jumbo_bin();
	struct proc p;
	int fds[2];
	char c;

	if (argc == 3 && !strcmp(argv[1], "child"))
		child_pools(atoi(argv[2]));
	REQUIRE(mkdtemp(dir));
	REQUIRE(chmod(dir, 0755) == 0);
	setenv("JUMBO_STAT_DIR", dir, 1);
	setenv("JUMBO_STAT_MS", "20", 1);
	unsetenv("JUMBO_STAT");
	unsetenv("JUMBO_STAT_MODE");

	/* ---- a child with pools: jumbo stat PID --json sees them ---- */
	REQUIRE(pipe(fds) == 0);
	pid_t kid = fork();
	REQUIRE(kid >= 0);
	if (kid == 0) {
		char sfd[16];
		close(fds[0]);
		snprintf(sfd, sizeof(sfd), "%d", fds[1]);
		execl("/proc/self/exe", "test_stat", "child", sfd, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	REQUIRE(read(fds[0], &c, 1) == 1);
	close(fds[0]);
	CHECK(seg_exists(kid));

	/* The allocations show within a publication period: wait for one. */
	long long a = -1, b = -1, mb = -1;
	int rc = -1;
	for (int i = 0; i < 3000 && (rc || a != 7 || b != 3 || mb != MBUFS); i++) {
		rc = run_stat(&p, bin, kid, "--json");
		a = pool_in_use(p.obuf, "alpha");
		b = pool_in_use(p.obuf, "beta");
		mb = json_num(p.obuf, "mbufs", "in_use");
		if (a != 7 || b != 3 || mb != MBUFS)
			usleep(10000);
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(a, 7);
	CHECK_EQ(b, 3);
	CHECK_EQ(mb, MBUFS);
	CHECK(json_num(p.obuf, "mbufs", "slabs") >= 1);
	CHECK(json_num(p.obuf, "mbufs", "allocs") == MBUFS);
	CHECK(pool_in_use(p.obuf, "gamma") == -1);
	CHECK(strstr(p.obuf, "\"reserved\":256") != NULL);
	if (rc || a != 7 || b != 3 || mb != MBUFS)
		proc_dump(&p, "jumbo stat --json");

	/* The library's own reader agrees. */
	struct jumbo_stat_proc *sp = malloc(sizeof(*sp));
	REQUIRE(sp);
	CHECK_EQ(jumbo_stat_read(kid, sp), 0);
	CHECK_EQ(sp->npools, 2);
	CHECK_EQ(sp->pid, kid);
	CHECK_EQ(sp->version, JUMBO_STAT_VERSION);
	CHECK_EQ(sp->has_mbufs, 1);
	CHECK_EQ(sp->mbufs.in_use, MBUFS);
	CHECK_EQ(sp->mbufs.slab_bytes, 65536);
	pid_t pids[8];
	CHECK_EQ(jumbo_stat_list(pids, 8), 1);
	CHECK_EQ(pids[0], kid);

	/* Text: the bar; all processes: the child is among them. */
	CHECK_EQ(run_stat(&p, bin, kid, NULL), 0);
	CHECK(strstr(p.obuf, "[#") != NULL && strstr(p.obuf, "alpha") != NULL);
	CHECK(strstr(p.obuf, "  mbufs            in use 5  ") != NULL);
	char *argv_all[] = { (char *)bin, "stat", "--watch", "0.05", "--count",
			     "2", NULL };
	CHECK_EQ(proc_run(&p, argv_all, PROC_HANG_MS), 0);
	CHECK(strstr(p.obuf, "per second") != NULL);

	/* Prometheus: the format lines parse. */
	CHECK_EQ(run_stat(&p, bin, kid, "--prometheus"), 0);
	CHECK(prom_ok(p.obuf));
	CHECK(strstr(p.obuf, "jumbo_pool_in_use_pages{pid=") != NULL);
	char want[64];
	snprintf(want, sizeof(want), "jumbo_mbuf_in_use{pid=\"%d\",", (int)kid);
	const char *ml = strstr(p.obuf, want);
	CHECK(ml && strstr(ml, "} 5\n") == strchr(ml, '}'));
	if (check_failures)
		proc_dump(&p, "jumbo stat --prometheus");

	/* ---- another user: a one-line permission error ---- */
	if (geteuid() != 0) {
		printf("permission part skipped: needs root to become uid 65534\n");
	} else {
		char spid[16];
		snprintf(spid, sizeof(spid), "%d", (int)kid);
		char *av[] = { (char *)bin, "stat", spid, NULL };
		int o[2], e[2];
		REQUIRE(pipe(o) == 0 && pipe(e) == 0);
		memset(&p, 0, sizeof(p));
		fflush(NULL);
		p.pid = fork();
		REQUIRE(p.pid >= 0);
		if (p.pid == 0) {
			dup2(o[1], 1);
			dup2(e[1], 2);
			if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
				_exit(126);
			execv(bin, av);
			_exit(127);
		}
		close(o[1]);
		close(e[1]);
		p.out = o[0];
		p.err = e[0];
		proc_wait(&p, PROC_HANG_MS);
		if (p.status == 127) {
			printf("permission part skipped: uid 65534 cannot run %s\n",
			       bin);
		} else {
			CHECK_EQ(p.status, 1);
			CHECK(strstr(p.ebuf, "permission denied") != NULL);
			CHECK(strchr(p.ebuf, '\n') == p.ebuf + p.elen - 1);
			if (p.status != 1)
				proc_dump(&p, "jumbo stat as uid 65534");
		}
	}

	/* ---- segments of other formats: one line, no garbage ---- */
	other_formats(bin, sp);

	/*
	 * ---- a stopped process is read all the same: no lock, no signal,
	 * nothing it must do ----
	 */
	kill(kid, SIGSTOP);
	int wst;
	REQUIRE(waitpid(kid, &wst, WUNTRACED) == kid && WIFSTOPPED(wst));
	CHECK_EQ(run_stat(&p, bin, kid, "--json"), 0);
	CHECK_EQ(pool_in_use(p.obuf, "alpha"), 7);
	kill(kid, SIGCONT);

	/* ---- kill -9: the stale segment is removed and reported ---- */
	kill(kid, SIGKILL);
	REQUIRE(waitpid(kid, NULL, 0) == kid);
	CHECK(seg_exists(kid));
	CHECK_EQ(jumbo_stat_read(kid, sp), -ESRCH);
	char *argv_list[] = { (char *)bin, "stat", "--json", NULL };
	CHECK_EQ(proc_run(&p, argv_list, PROC_HANG_MS), 0);
	CHECK(strstr(p.ebuf, "is gone: removed its stale segment") != NULL);
	CHECK(!seg_exists(kid));
	CHECK(strstr(p.obuf, "\"processes\":[]") != NULL);
	if (check_failures)
		proc_dump(&p, "jumbo stat after kill -9");

	/* ---- a normal exit with a pool still published leaves nothing ---- */
	kid = fork();
	REQUIRE(kid >= 0);
	if (kid == 0) {
		struct jumbo_pool *q = make_pool("delta", JUMBO_POOL_STAT);
		_exit(!q || !seg_exists(getpid()) ? 3 : 0);
	}
	int st;
	REQUIRE(waitpid(kid, &st, 0) == kid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* _exit runs no destructor: a stale segment, as after kill -9. */
	CHECK(seg_exists(kid));
	CHECK_EQ(jumbo_stat_remove(kid), 0);
	CHECK(!seg_exists(kid));

	kid = fork();
	REQUIRE(kid >= 0);
	if (kid == 0) {
		if (!make_pool("epsilon", JUMBO_POOL_STAT) || !seg_exists(getpid()))
			exit(3);
		exit(0); /* the destructor removes the segment */
	}
	REQUIRE(waitpid(kid, &st, 0) == kid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!seg_exists(kid));

	/*
	 * A forked child that does not ask (a shared pool, an attached one
	 * alike, and JUMBO_STAT=1 from its parent) publishes nothing, so its
	 * _exit leaves nothing; the parent's segment stays its own.
	 */
	struct jumbo_pool *z = make_pool("theta", JUMBO_POOL_STAT);
	REQUIRE(z);
	setenv("JUMBO_STAT", "1", 1);
	kid = fork();
	REQUIRE(kid >= 0);
	if (kid == 0) {
		if (!make_pool("iota", JUMBO_POOL_SHARED) || !make_pool("kappa", 0))
			_exit(3);
		_exit(seg_exists(getpid()) ? 4 : 0);
	}
	REQUIRE(waitpid(kid, &st, 0) == kid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!seg_exists(kid));
	if (seg_exists(kid))
		jumbo_stat_remove(kid);
	unsetenv("JUMBO_STAT");
	CHECK_EQ(jumbo_stat_read(getpid(), sp), 0);
	CHECK(sp->npools == 1 && !strcmp(sp->pools[0].name, "theta"));
	CHECK_EQ(jumbo_pool_destroy(z), 0);

	/* Destroying the last published pool removes the segment at once. */
	z = make_pool("zeta", JUMBO_POOL_STAT);
	REQUIRE(z);
	CHECK(seg_exists(getpid()));
	CHECK_EQ(jumbo_pool_destroy(z), 0);
	CHECK(!seg_exists(getpid()));
	/* JUMBO_STAT=0 turns publishing off, shared pools included. */
	setenv("JUMBO_STAT", "0", 1);
	z = make_pool("eta", JUMBO_POOL_SHARED);
	REQUIRE(z);
	CHECK(!seg_exists(getpid()));
	CHECK_EQ(jumbo_pool_destroy(z), 0);

	free(sp);
	rmdir(dir);
	return check_done("stat");
}
