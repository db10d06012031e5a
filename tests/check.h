/*
 * The tests' few helpers: checks that print where they failed, a seed that
 * is printed and can be given back, death tests in a forked child, and the
 * skip convention (exit 77, as liburing's tests do).
 */
#ifndef JUMBO_TEST_CHECK_H
#define JUMBO_TEST_CHECK_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int check_failures;

/*
 * A child's alarm(): one that runs this long is hung (a deadlock), not
 * slow.  Far beyond what a busy machine or a sanitizer makes of a test's
 * child, and well within CTest's TIMEOUT (JUMBO_TEST_TIMEOUT), so that a
 * hang fails with its own message and leaves no process behind.
 */
#define TEST_HANG_SECONDS 600

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",         \
				__FILE__, __LINE__, #cond);                  \
			check_failures++;                                    \
		}                                                            \
	} while (0)

/* Integer compare that prints both values. */
#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);          \
		if (_a != _b) {                                              \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, "  \
				"%s = %lld\n", __FILE__, __LINE__, #a, _a,   \
				#b, _b);                                     \
			check_failures++;                                    \
		}                                                            \
	} while (0)

/* Fatal: the rest of the test cannot go on. */
#define REQUIRE(cond)                                                        \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: REQUIRE failed: %s (errno "  \
				"%d: %s)\n", __FILE__, __LINE__, #cond,      \
				errno, strerror(errno));                     \
			exit(1);                                             \
		}                                                            \
	} while (0)

static inline void skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("SKIP: ", stdout);
	vprintf(fmt, ap);
	fputs("\n", stdout);
	va_end(ap);
	exit(77);
}

static inline int check_done(const char *name)
{
	if (check_failures) {
		printf("%s: %d check(s) FAILED\n", name, check_failures);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

/* The seed: argv[1] if given, else from the clock; always printed. */
static inline uint64_t test_seed(int argc, char **argv, const char *name)
{
	uint64_t s;
	if (argc > 1)
		s = strtoull(argv[1], NULL, 0);
	else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
	}
	printf("%s: seed %llu (rerun: %s %llu)\n", name, (unsigned long long)s,
	       name, (unsigned long long)s);
	fflush(stdout);
	return s;
}

/* xorshift64*: small, fast, and the same everywhere for a given seed. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/*
 * Runs fn(arg) in a forked child (which _exits 0 if fn returns) with its
 * stderr captured in buf (NUL-terminated).  Returns the wait status, or -1
 * if the child could not be made.
 */
static inline int run_child(void (*fn)(void *), void *arg, char *buf,
			    size_t size)
{
	int p[2], st;
	size_t len = 0;
	ssize_t r;

	fflush(stdout);
	fflush(stderr);
	buf[0] = 0;
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 2);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	while (len < size - 1 &&
	       (r = read(p[0], buf + len, size - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = 0;
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

/*
 * Runs fn(arg) in a forked child with stderr captured.  Passes when the
 * child dies by SIGABRT and its stderr contains every string of want[]
 * (NULL-terminated).  Prints what it saw when it fails.
 */
static inline int expect_abort(const char *what, void (*fn)(void *), void *arg,
			       const char *const *want)
{
	char buf[4096];
	int ok = 1;
	int st = run_child(fn, arg, buf, sizeof(buf));

	if (st == -1 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
		ok = 0; /* survived (exit 0), or no child */
	for (const char *const *w = want; *w; w++)
		if (!strstr(buf, *w))
			ok = 0;
	if (!ok) {
		fprintf(stderr, "%s: expected an abort with", what);
		for (const char *const *w = want; *w; w++)
			fprintf(stderr, " \"%s\"", *w);
		fprintf(stderr, "; child %s %d, stderr: %s\n",
			st != -1 && WIFSIGNALED(st) ? "signal" : "exit",
			st == -1 ? -1 : WIFSIGNALED(st) ? WTERMSIG(st)
							 : WEXITSTATUS(st), buf);
		check_failures++;
	}
	return ok;
}

#endif
