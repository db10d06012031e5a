/*
 * Every example of every manual page compiles and runs, so that none can
 * rot.  The marker is mdoc's own: in a page's EXAMPLES section, each
 * ".Bd -literal" display is C.  What a reader need not see (the includes,
 * main(), variables the text takes as given, checks of the outcome) is
 * written in roff comment lines that start with .\"+ and which mandoc and
 * man never show: those before a display, inside it and right after it
 * belong to its program.  A display whose only line is the elision \&...
 * stands for /\* ... *\/.  Each program is built against the build tree's
 * headers and static library, with the flags the library was built with
 * (sanitizers too), and must exit 0 (77: skipped, with a reason).
 *
 *   test_man_examples [MANDIR]      environment (from man_examples.cmake):
 *   JUMBO_CC, JUMBO_CFLAGS, JUMBO_LIBS, JUMBO_MANDIR
 */
#include "check.h"

#include <dirent.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUN_SECONDS TEST_HANG_SECONDS

struct prog {
	char name[256];  /* page:line of the display */
	char *src;
	size_t len, cap;
};

static void add(struct prog *p, const char *s)
{
	size_t n = strlen(s);
	if (p->len + n + 2 > p->cap) {
		p->cap = (p->len + n + 2) * 2;
		REQUIRE((p->src = realloc(p->src, p->cap)));
	}
	memcpy(p->src + p->len, s, n);
	p->len += n;
	p->src[p->len++] = '\n';
	p->src[p->len] = 0;
}

/* The C text of a line of a literal display: roff escapes undone. */
static void unescape(const char *in, char *out, size_t size)
{
	static const struct { const char *esc, *text; } map[] = {
		{ "\\e", "\\" }, { "\\&", "" }, { "\\-", "-" },
		{ "\\(aq", "'" }, { "\\(dq", "\"" }, { "\\(ti", "~" },
		{ "\\(ha", "^" }, { "\\(ga", "`" }, { "\\(rs", "\\" },
	};
	const char *t = in;
	size_t o = 0;

	while (*t == ' ' || *t == '\t')
		t++;
	if (strcmp(t, "\\&...") == 0) { /* the elision */
		snprintf(out, size, "%.*s/* ... */", (int)(t - in), in);
		return;
	}
	while (*in && o + 8 < size) {
		size_t k, n = sizeof(map) / sizeof(map[0]);
		for (k = 0; k < n; k++)
			if (!strncmp(in, map[k].esc, strlen(map[k].esc)))
				break;
		if (k < n) {
			o += (size_t)snprintf(out + o, size - o, "%s", map[k].text);
			in += strlen(map[k].esc);
		} else {
			out[o++] = *in++;
		}
	}
	out[o] = 0;
}

/*
 * Examples bind fixed ports (9000, 9001) as a reader would write them; the
 * suite runs tests side by side (ctest -j), and other programs may hold
 * those ports.  As root, each example runs in a network namespace of its
 * own, with only loopback up, which dies with it.  Without root it runs
 * in the host's, where a busy port fails it with a clear message.
 */
static void isolate_net(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
		return;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		(void)ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (s >= 0)
		close(s);
}

static int run_cmd(char *const argv[], int seconds, bool own_net)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (own_net)
			isolate_net();
		alarm(seconds); /* survives exec: a hang dies of SIGALRM */
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFSIGNALED(st)) {
		fprintf(stderr, "%s: killed by signal %d%s\n", argv[0],
			WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (hung)" : "");
		return -1;
	}
	return WEXITSTATUS(st);
}

static int nprogs, nskipped;

/* Splits a string of words into argv (no quoting: paths without spaces). */
static int split(char *s, char **argv, int max)
{
	int n = 0;
	for (char *w = strtok(s, " "); w && n < max; w = strtok(NULL, " "))
		argv[n++] = w;
	return n;
}

static void build_and_run(struct prog *p, const char *dir)
{
	char src[512], exe[512], cmd[8192];
	const char *cc = getenv("JUMBO_CC"), *cflags = getenv("JUMBO_CFLAGS"),
		   *libs = getenv("JUMBO_LIBS");
	char *argv[256];
	int n = 0;

	nprogs++;
	snprintf(src, sizeof(src), "%s/ex%d.c", dir, nprogs);
	snprintf(exe, sizeof(exe), "%s/ex%d", dir, nprogs);
	FILE *f = fopen(src, "w");
	REQUIRE(f);
	fprintf(f, "#line 1 \"%s\"\n%s", p->name, p->src);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s %s -o %s %s %s", cc ? cc : "cc",
		 cflags ? cflags : "", exe, src, libs ? libs : "");
	n = split(cmd, argv, 255);
	argv[n] = NULL;
	int r = run_cmd(argv, RUN_SECONDS, false);
	if (r != 0) {
		fprintf(stderr, "%s: the example does not compile; its "
			"program:\n%s\n", p->name, p->src);
		check_failures++;
		return;
	}
	char *run[] = { exe, NULL };
	r = run_cmd(run, RUN_SECONDS, true);
	if (r == 77) {
		nskipped++;
		printf("%s: skipped\n", p->name);
	} else if (r != 0) {
		fprintf(stderr, "%s: the example exits %d; its program:\n%s\n",
			p->name, r, p->src);
		check_failures++;
	} else {
		printf("%s: ok\n", p->name);
	}
}

/* The programs of one page's EXAMPLES section. */
static void page(const char *path, const char *base, const char *dir)
{
	FILE *f = fopen(path, "r");
	char line[4096], text[8192];
	struct prog p = { 0 };
	int in_examples = 0, in_block = 0, have_block = 0, lineno = 0;

	REQUIRE(f);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, ".Sh ", 4)) {
			if (in_examples && have_block)
				build_and_run(&p, dir);
			p.len = 0;
			have_block = in_block = 0;
			in_examples = !strcmp(line, ".Sh EXAMPLES");
			continue;
		}
		if (!in_examples)
			continue;
		if (!strncmp(line, ".\\\"+", 4)) {
			add(&p, line[4] == ' ' ? line + 5 : line + 4);
			continue;
		}
		if (in_block) {
			if (!strcmp(line, ".Ed")) {
				in_block = 0;
				have_block = 1;
			} else if (strncmp(line, ".\\\"", 3) != 0) {
				unescape(line, text, sizeof(text));
				add(&p, text);
			}
			continue;
		}
		if (!strncmp(line, ".Bd -literal", 12)) {
			if (!have_block) {
				snprintf(p.name, sizeof(p.name), "%s:%d", base,
					 lineno);
				if (!p.src)
					add(&p, "");
			}
			in_block = 1;
			continue;
		}
		if (have_block) { /* prose: the program is complete */
			build_and_run(&p, dir);
			p.len = 0;
			p.src[0] = 0;
			have_block = 0;
		}
	}
	if (in_examples && have_block)
		build_and_run(&p, dir);
	free(p.src);
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *mandir = argc > 1 ? argv[1] : getenv("JUMBO_MANDIR");
	char dir[] = "/tmp/jumbo-man-examples-XXXXXX";

	if (!mandir || !getenv("JUMBO_CC"))
		skip("JUMBO_MANDIR and JUMBO_CC are not set (see "
		     "tests/man_examples.cmake)");
	REQUIRE(mkdtemp(dir));
	/* The examples are fragments: they do not free everything. */
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[1024];
	snprintf(opts, sizeof(opts), "%s%sdetect_leaks=0", asan ? asan : "",
		 asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);

	DIR *d = opendir(mandir);
	REQUIRE(d);
	char *names[64];
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) && n < 64;) {
		size_t l = strlen(e->d_name);
		if (l > 2 && e->d_name[l - 2] == '.' &&
		    (e->d_name[l - 1] == '1' || e->d_name[l - 1] == '3'))
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", mandir, names[i]);
		page(path, names[i], dir);
		free(names[i]);
	}
	/* Leave nothing behind. */
	for (int i = 1; i <= nprogs; i++) {
		char path[600];
		snprintf(path, sizeof(path), "%s/ex%d.c", dir, i);
		unlink(path);
		snprintf(path, sizeof(path), "%s/ex%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	printf("man_examples: %d example(s), %d skipped\n", nprogs, nskipped);
	/* A marker that no longer matches would pass vacuously. */
	CHECK(nprogs >= 5);
	return check_done("man_examples");
}
