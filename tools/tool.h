/*
 * The jumbo command's pieces: option parsing with errors that say what was
 * wrong, the report (text or JSON), and the plain receivers it compares
 * the pool with (support/plain.h, shared with bench/rx.c).
 * The command uses only the public API (the headers in include/jumbo).
 */
#ifndef JUMBO_TOOLS_TOOL_H
#define JUMBO_TOOLS_TOOL_H

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>
#include <jumbo/rx.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes: 0 fine, 1 the run failed, 2 bad usage. */
#define EX_FAIL 1
#define EX_USAGE 2

extern const char *tool_cmd; /* "jumbo rx", for messages */

/* Prints "jumbo <cmd>: <msg>" on stderr; returns code, for return. */
int tool_err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Parsers: 0, or -1 after printing which option and what was wrong.
 * Sizes take a k, m or g suffix (powers of 1024); seconds may have a
 * fraction.
 */
int opt_size(const char *opt, const char *arg, size_t min, size_t max,
	     size_t *out);
int opt_uint(const char *opt, const char *arg, unsigned long min,
	     unsigned long max, unsigned long *out);
int opt_seconds(const char *opt, const char *arg, double *out);
int opt_page(const char *opt, const char *arg, size_t *out);
int opt_deliver(const char *opt, const char *arg, unsigned *out);
int opt_port(const char *opt, const char *arg, unsigned *out);
int opt_loop_addr(const char *opt, const char *arg);

/*
 * The options of the commands that receive in a loop (rx, fwd), with the
 * same names, ranges and messages in each: RUN_OPTIONS goes into the
 * command's struct option table (with <getopt.h>), and opt_run() takes
 * what getopt_long returned for them.
 */
enum {
	OPT_FRAME = 0x100, OPT_BATCH, OPT_PAGE, OPT_DURATION, OPT_COUNT,
	OPT_IDLE, OPT_JSON, OPT_QUIET
};

#define RUN_OPTIONS                                                          \
	{ "frame", required_argument, 0, OPT_FRAME },                        \
	{ "batch", required_argument, 0, OPT_BATCH },                        \
	{ "page", required_argument, 0, OPT_PAGE },                          \
	{ "duration", required_argument, 0, OPT_DURATION },                  \
	{ "count", required_argument, 0, OPT_COUNT },                        \
	{ "idle", required_argument, 0, OPT_IDLE },                          \
	{ "json", no_argument, 0, OPT_JSON },                                \
	{ "quiet", no_argument, 0, OPT_QUIET }

struct run_opts {
	size_t frame;   /* --frame: the largest frame */
	size_t page;    /* --page: the pool's page size */
	unsigned batch; /* --batch: frames per call */
	double secs;    /* --duration: 0, no limit */
	double idle;    /* --idle: 0, none */
	uint64_t count; /* --count: 0, no limit */
	int json, quiet;
};

/* 9000-byte frames, 4 KiB pages, the library's batch for the frame size
 * (batch 0: see jumbo_rx(3)), for 10 s. */
#define RUN_OPTS_DEFAULT                                                     \
	{ .frame = 9000, .page = JUMBO_PAGE_4K, .batch = 0, .secs = 10.0 }

/*
 * --idle: 1 when the run should end: the receive that just returned n
 * frames at now found nothing, `since` (the last frame, or the start)
 * lies more than r->idle seconds back, and the receive before it found
 * nothing past the deadline either (*late counts them).  One empty
 * receive is not enough: a receiver that was stopped (SIGSTOP) or not
 * scheduled for longer than that comes back to a full socket, and its
 * first wait may return empty-handed (the uring backend's does:
 * test_tool_stopped).
 */
int run_idle_over(const struct run_opts *r, int n, uint64_t since,
		  uint64_t now, unsigned *late);

/* 1: o is one of RUN_OPTIONS, taken into r; 0: it is not; -1 after a
 * message saying what was wrong with arg. */
int opt_run(int o, const char *arg, struct run_opts *r);

/*
 * What getopt_long returned instead of an option (the optstring starts
 * with ':'): an unknown option, or one without its value.  Prints one line
 * and where the help is; returns EX_USAGE.
 */
int opt_bad(int o, char **argv);

/* "jumbo 1.1.0 (libjumbo)" on stdout; 0.  Every command takes --version. */
int tool_version(void);

/* A pool of pages of page_size for max_frame frames: NULL after a message. */
struct jumbo_pool *tool_pool(size_t page_size, size_t max_pages);

/*
 * The cap of the command's pool in pages: JUMBO_MAX_PAGES as the default
 * pool reads it, else dflt.  0 after a message when the variable is not a
 * number from 1 to 2^32 - 2.
 */
size_t tool_env_pages(size_t dflt);

/* ---- the report ---------------------------------------------------------- */

/*
 * Key-value output in one of two forms: "  key  value" lines, or one JSON
 * object (nested sections), so that scripts read what people read.
 */
struct report {
	FILE *f;
	int json;
	int depth;
	int first; /* no comma before the next JSON member */
};

void rep_begin(struct report *r, FILE *f, int json);
void rep_section(struct report *r, const char *name);
void rep_end_section(struct report *r);
void rep_u64(struct report *r, const char *key, uint64_t v);
void rep_f(struct report *r, const char *key, double v, const char *unit);
void rep_s(struct report *r, const char *key, const char *v);
void rep_end(struct report *r);
void rep_rx_stats(struct report *r, const struct jumbo_rx_stats *st);
struct jumbo_tx_stats;
void rep_tx_stats(struct report *r, const struct jumbo_tx_stats *st);
void rep_pool_stats(struct report *r, struct jumbo_pool *pool);
/* The process's mbuf statistics, keys mbuf_*; rep_pool_stats ends with them. */
void rep_mbuf_stats(struct report *r);

/*
 * The progress line on stderr of a command that receives: t seconds in,
 * frames so far, the rate; "\r" first and a space last, so that the
 * next one overwrites it (a command may add to it).
 */
void tool_progress(double t, uint64_t frames, double gbps);

#include "plain.h"

/* ---- commands ------------------------------------------------------------ */

int cmd_demo(int argc, char **argv);
int cmd_rx(int argc, char **argv);
int cmd_tx(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_fwd(int argc, char **argv);

#endif
