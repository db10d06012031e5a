/*
 * Running programs from a test: the jumbo command (its path comes in
 * JUMBO_BIN, set by tests/<name>.cmake), socat, iperf.  Every run has a
 * deadline after which the child is killed, so no test can hang.
 */
#ifndef JUMBO_TEST_TOOL_H
#define JUMBO_TEST_TOOL_H

#include "check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

struct proc {
	pid_t pid;
	int out, err;        /* pipes from the child's stdout and stderr */
	char obuf[65536], ebuf[16384];
	size_t olen, elen;
	int status;          /* exit code, or 128 + signal */
};

/* The jumbo binary, or a skip when the tools were not built. */
static inline const char *jumbo_bin(void)
{
	const char *b = getenv("JUMBO_BIN");

	if (!b || access(b, X_OK))
		skip("the jumbo command was not built (JUMBO_BIN=%s)",
		     b ? b : "unset");
	return b;
}

/* 1 if prog is on PATH. */
static inline int have_prog(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static inline void proc_start(struct proc *p, char *const argv[])
{
	int o[2], e[2];

	memset(p, 0, sizeof(*p));
	REQUIRE(pipe(o) == 0 && pipe(e) == 0);
	fflush(stdout);
	fflush(stderr);
	p->pid = fork();
	REQUIRE(p->pid >= 0);
	if (p->pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		close(o[0]);
		close(e[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	p->out = o[0];
	p->err = e[0];
}

/* Reads what is there for up to ms; returns 0 once both pipes closed. */
static inline int proc_pump(struct proc *p, int ms)
{
	struct pollfd f[2] = { { p->out, POLLIN, 0 }, { p->err, POLLIN, 0 } };
	ssize_t r;

	if (p->out < 0 && p->err < 0)
		return 0;
	if (poll(f, 2, ms) <= 0)
		return 1;
	if (p->out >= 0 && (f[0].revents & (POLLIN | POLLHUP))) {
		r = read(p->out, p->obuf + p->olen, sizeof(p->obuf) - 1 - p->olen);
		if (r <= 0) {
			close(p->out);
			p->out = -1;
		} else {
			p->olen += (size_t)r;
		}
		p->obuf[p->olen] = 0;
	}
	if (p->err >= 0 && (f[1].revents & (POLLIN | POLLHUP))) {
		r = read(p->err, p->ebuf + p->elen, sizeof(p->ebuf) - 1 - p->elen);
		if (r <= 0) {
			close(p->err);
			p->err = -1;
		} else {
			p->elen += (size_t)r;
		}
		p->ebuf[p->elen] = 0;
	}
	return p->out >= 0 || p->err >= 0;
}

/* Waits for the child, killing it after timeout_ms; returns its status. */
static inline int proc_wait(struct proc *p, int timeout_ms)
{
	struct timespec t0, t;
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		proc_pump(p, 50);
		if (waitpid(p->pid, &st, WNOHANG) == p->pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
			    (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
			fprintf(stderr, "killing pid %d after %d ms\n",
				(int)p->pid, timeout_ms);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			break;
		}
	}
	for (int i = 0; i < 100 && proc_pump(p, 10); i++)
		;
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	p->out = p->err = -1;
	return p->status;
}

static inline int proc_run(struct proc *p, char *const argv[], int timeout_ms)
{
	proc_start(p, argv);
	return proc_wait(p, timeout_ms);
}

/* Waits until the child's stderr says "port N"; returns N or 0. */
static inline unsigned proc_port(struct proc *p, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		const char *s = strstr(p->ebuf, " port ");
		if (s && strchr(s, '('))
			return (unsigned)strtoul(s + 6, NULL, 10);
		proc_pump(p, 20);
	}
	return 0;
}

/*
 * The number after "key": in a JSON text, searched from the member
 * "section" when section is not NULL; -1 if absent.
 */
static inline long long json_num(const char *text, const char *section,
				 const char *key)
{
	char pat[128];
	const char *s = text;

	if (section) {
		snprintf(pat, sizeof(pat), "\"%s\":", section);
		s = strstr(s, pat);
		if (!s)
			return -1;
	}
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	s = strstr(s, pat);
	if (!s)
		return -1;
	return strtoll(s + strlen(pat), NULL, 10);
}

/* The same for a number with a fraction; -1 if absent. */
static inline double json_dbl(const char *text, const char *section,
			      const char *key)
{
	char pat[128];
	const char *s = text;

	if (section) {
		snprintf(pat, sizeof(pat), "\"%s\":", section);
		s = strstr(s, pat);
		if (!s)
			return -1;
	}
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	s = strstr(s, pat);
	if (!s)
		return -1;
	return strtod(s + strlen(pat), NULL);
}

/* Lines of text (newlines). */
static inline int count_lines(const char *text)
{
	int n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

static inline void proc_dump(const struct proc *p, const char *what)
{
	fprintf(stderr, "--- %s: status %d\n--- stdout:\n%s\n--- stderr:\n%s\n",
		what, p->status, p->obuf, p->ebuf);
}

#endif
