/*
 * Running programs from a test: the jumbo command (its path comes in
 * JUMBO_BIN, set by tests/<name>.cmake), socat, iperf.  Every run has a
 * deadline after which the child is killed, so no test can hang.
 */
#ifndef JUMBO_TEST_TOOL_H
#define JUMBO_TEST_TOOL_H

#include "check.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

/*
 * How long a test waits for a program it started (to print its port, to
 * finish, to drain) before it kills it: one that takes this long hangs;
 * a busy machine and a sanitizer never make one this slow, and it is
 * well within CTest's TIMEOUT.
 */
#define PROC_HANG_MS 300000

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
 * Packets the kernel still holds in its per-CPU input queues (loopback
 * traffic waits there when the softirq that moves it into sockets runs
 * late, in ksoftirqd), summed over the CPUs: /proc/net/softnet_stat's
 * twelfth column.  0 where the kernel does not give it (before 5.10): the
 * socket's own queue is then all we can watch.
 */
static inline long long net_backlog(void)
{
	FILE *f = fopen("/proc/net/softnet_stat", "r");
	char line[512];
	long long sum = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long v[12];
		char *s = line, *end;
		int n = 0;

		for (; n < 12; n++, s = end) {
			v[n] = strtoul(s, &end, 16);
			if (end == s)
				break;
		}
		if (n == 12)
			sum += (long long)v[11];
	}
	fclose(f);
	return sum;
}

/*
 * What the kernel still holds for a receiver on port (any local address),
 * from /proc/net/udp or /proc/net/tcp: for UDP the bytes in the receive
 * queue; for TCP the connections it has not read to their end and closed
 * (SYN_RECV, ESTABLISHED, CLOSE_WAIT: a FIN still unread, or read and the
 * socket not yet closed).  -1 if the table cannot be read.
 */
static inline long long net_pending(int tcp, unsigned port)
{
	FILE *f = fopen(tcp ? "/proc/net/tcp" : "/proc/net/udp", "r");
	char line[512];
	long long pending = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned lport, rport, st;
		unsigned long laddr, raddr, txq, rxq;

		if (sscanf(line, " %*u: %lx:%x %lx:%x %x %lx:%lx", &laddr,
			   &lport, &raddr, &rport, &st, &txq, &rxq) != 7 ||
		    lport != port)
			continue;
		if (!tcp)
			pending += (long long)rxq;
		else if (st == 0x01 || st == 0x03 || st == 0x08)
			pending++;
	}
	fclose(f);
	return pending;
}

/*
 * Waits (up to timeout_ms) until a socket is bound to port on 127.0.0.1:
 * listening for TCP; 0 once it is, -1 if it never was.  A program started
 * as a peer is ready then, however long the machine took to start it.
 */
static inline int net_wait_bound(int tcp, unsigned port, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		FILE *f = fopen(tcp ? "/proc/net/tcp" : "/proc/net/udp", "r");
		char line[512];
		int found = 0;

		if (!f)
			return -1;
		while (!found && fgets(line, sizeof(line), f)) {
			unsigned lport, st;
			unsigned long laddr;

			found = sscanf(line, " %*u: %lx:%x %*x:%*x %x", &laddr,
				       &lport, &st) == 3 && lport == port &&
				(!tcp || st == 0x0a);
		}
		fclose(f);
		if (found)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "nothing bound to %s port %u after %d ms\n",
		tcp ? "tcp" : "udp", port, timeout_ms);
	return -1;
}

/*
 * 1 if pid sleeps in a wait for input (poll, ppoll, epoll_wait,
 * epoll_pwait, io_uring_enter: /proc/PID/syscall, x86-64 numbers), so
 * that it holds no frame it took and has not yet passed on; also 1 where
 * the kernel does not say (no such file, another architecture).
 */
static inline int proc_in_wait(pid_t pid)
{
	char path[64], buf[64];
	long nr;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 1;
	}
	fclose(f);
#if defined(__x86_64__)
	if (!strncmp(buf, "running", 7))
		return 0;
	nr = strtol(buf, NULL, 10);
	return nr == 7 || nr == 271 || nr == 232 || nr == 281 || nr == 441 ||
	       nr == 426;
#else
	(void)nr;
	return 1;
#endif
}

/* Milliseconds since *t0. */
static inline long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * Ends a receiver (pid: jumbo rx or fwd, which answer SIGTERM with their
 * summary) once it has taken and handled all that was sent to port, its
 * senders finished:
 *
 *   nothing left in the kernel's input queues (first: what leaves them
 *   goes into a socket), then none for the receiver (net_pending), then
 *   the receiver asleep in its wait for more, so holding no frame (fwd
 *   drops what it holds when the signal comes); and for a relay with a
 *   UDP output to out_port (0: none), the input queues once more, then
 *   nothing unread there (the relay's zero-copy pages come back once the
 *   peer has read them).
 *
 * Waits for that state, not for a time: an --idle deadline instead ends
 * a receiver before its first frame when a busy machine starts the
 * sender late, or in the middle when it stops the sender for longer.
 * Gives up after timeout_ms (a receiver that stopped reading) and says
 * so; returns 0, or -1 then.  SIGTERM in both cases.
 */
static inline int proc_stop_drained(pid_t pid, int tcp, unsigned port,
				    unsigned out_port, int timeout_ms)
{
	struct timespec t0;
	long long q = 0, left = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((q = net_backlog()) == 0 &&
		    (left = net_pending(tcp, port)) == 0 && proc_in_wait(pid) &&
		    (!out_port || ((q = net_backlog()) == 0 &&
				   (left = net_pending(0, out_port)) == 0)))
			break;
		if (ms_since(&t0) > timeout_ms) {
			fprintf(stderr, "the receiver on %s port %u is not done "
				"after %d ms: %lld left (input queues: %lld)\n",
				tcp ? "tcp" : "udp", port, timeout_ms, left, q);
			kill(pid, SIGTERM);
			return -1;
		}
		usleep(10000);
	}
	kill(pid, SIGTERM);
	return 0;
}

/* The pid of parent's child named comm (as /proc/PID/comm has it), or -1. */
static inline pid_t proc_child(pid_t parent, const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;

	if (!d)
		return -1;
	while (found < 0 && (e = readdir(d))) {
		char path[300], buf[512], *close_paren;
		int ppid;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) &&
		    (close_paren = strrchr(buf, ')')) &&
		    sscanf(close_paren + 1, " %*c %d", &ppid) == 1 &&
		    ppid == parent && strchr(buf, '(')) {
			char *name = strchr(buf, '(') + 1;
			*close_paren = 0;
			if (!strcmp(name, comm))
				found = (pid_t)atoi(e->d_name);
		}
		fclose(f);
	}
	closedir(d);
	return found;
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
