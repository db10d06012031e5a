/*
 * Option parsing and small helpers of the jumbo command.  Every parser
 * names the option and the text it could not use, and the valid range.
 */
#include "tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *tool_cmd = "jumbo";

int tool_err(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tool_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int opt_bad(int o, char **argv)
{
	const char *a = argv[optind - 1], *eq = strchr(a, '=');
	int len = eq ? (int)(eq - a) : (int)strlen(a);

	/* A short option's text is in optopt; a long one's in argv. */
	if (optopt && (a[0] != '-' || a[1] != '-')) {
		static char s[3] = "-";
		s[1] = (char)optopt;
		a = s;
		len = 2;
	}
	if (o == ':')
		return tool_err(EX_USAGE, "%.*s needs a value; see '%s --help'",
				len, a, tool_cmd);
	return tool_err(EX_USAGE, "unknown option %.*s; see '%s --help'", len,
			a, tool_cmd);
}

int tool_version(void)
{
	printf("jumbo %s (libjumbo)\n", JUMBO_TOOL_VERSION);
	return 0;
}

size_t tool_env_pages(size_t dflt)
{
	const char *s = getenv("JUMBO_MAX_PAGES");
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoull(s, &end, 10);
	/* Digits only: strtoull would take "-1" as a huge number. */
	if (errno || *end || *s < '0' || *s > '9' || v == 0 ||
	    v >= 0xffffffffull) {
		tool_err(EX_USAGE, "JUMBO_MAX_PAGES: '%s' is not a number of "
			 "pages from 1 to %u", s, 0xfffffffeu);
		return 0;
	}
	return (size_t)v;
}

int opt_size(const char *opt, const char *arg, size_t min, size_t max,
	     size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (end != arg && *end) {
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: shift = 64;
		}
		if (shift < 64 && end[1] && strcmp(end + 1, "iB") &&
		    strcmp(end + 1, "B"))
			shift = 64;
	}
	if (end == arg || *arg == '-' || errno || shift == 64 ||
	    (shift && v > (~0ull >> shift))) {
		tool_err(EX_USAGE, "%s: '%s' is not a size (bytes, or with a "
			 "k, m or g suffix)", opt, arg);
		return -1;
	}
	v <<= shift;
	if (v < min || v > max) {
		tool_err(EX_USAGE, "%s: %llu is out of range (%zu to %zu)",
			 opt, v, min, max);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

int opt_uint(const char *opt, const char *arg, unsigned long min,
	     unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (end == arg || *end || *arg == '-' || errno) {
		tool_err(EX_USAGE, "%s: '%s' is not a whole number", opt, arg);
		return -1;
	}
	if (v < min || v > max) {
		tool_err(EX_USAGE, "%s: %lu is out of range (%lu to %lu)", opt,
			 v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int opt_seconds(const char *opt, const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (end != arg && *end == 's' && !end[1])
		end++;
	if (end == arg || *end || errno || !isfinite(v) || v < 0 ||
	    v > 86400) {
		tool_err(EX_USAGE, "%s: '%s' is not a duration in seconds "
			 "(0 to 86400)", opt, arg);
		return -1;
	}
	*out = v;
	return 0;
}

/* --deliver MODE: auto (0: jumbo_deliver chooses), move or copy. */
int opt_deliver(const char *opt, const char *arg, unsigned *out)
{
	if (!strcmp(arg, "auto"))
		*out = 0;
	else if (!strcmp(arg, "move"))
		*out = JUMBO_DELIVER_MOVE;
	else if (!strcmp(arg, "copy"))
		*out = JUMBO_DELIVER_COPY;
	else {
		tool_err(EX_USAGE, "%s: '%s' is not auto, move or copy", opt,
			 arg);
		return -1;
	}
	return 0;
}

int run_idle_over(const struct run_opts *r, int n, uint64_t since,
		  uint64_t now, unsigned *late)
{
	if (r->idle <= 0 || n != 0 || now - since <= (uint64_t)(r->idle * 1e9)) {
		*late = 0;
		return 0;
	}
	return ++*late > 1;
}

int opt_run(int o, const char *arg, struct run_opts *r)
{
	unsigned long v;

	switch (o) {
	case OPT_FRAME:
		return opt_size("--frame", arg, 1, 16 << 20, &r->frame) ? -1 : 1;
	case OPT_BATCH:
		if (opt_uint("--batch", arg, 1, 256, &v))
			return -1;
		r->batch = (unsigned)v;
		return 1;
	case OPT_PAGE:
		return opt_page("--page", arg, &r->page) ? -1 : 1;
	case OPT_DURATION:
		return opt_seconds("--duration", arg, &r->secs) ? -1 : 1;
	case OPT_COUNT:
		if (opt_uint("--count", arg, 1, ~0ul, &v))
			return -1;
		r->count = v;
		return 1;
	case OPT_IDLE:
		return opt_seconds("--idle", arg, &r->idle) ? -1 : 1;
	case OPT_JSON:
		r->json = 1;
		return 1;
	case OPT_QUIET:
		r->quiet = 1;
		return 1;
	}
	return 0;
}

int opt_page(const char *opt, const char *arg, size_t *out)
{
	size_t v;

	if (opt_size(opt, arg, 1, (size_t)1 << 30, &v))
		return -1;
	if (v != JUMBO_PAGE_4K && v != JUMBO_PAGE_2M) {
		tool_err(EX_USAGE, "%s: '%s': the page size is 4k or 2m", opt,
			 arg);
		return -1;
	}
	*out = v;
	return 0;
}

int opt_port(const char *opt, const char *arg, unsigned *out)
{
	unsigned long v;

	if (opt_uint(opt, arg, 0, 65535, &v))
		return -1;
	*out = (unsigned)v;
	return 0;
}

int opt_loop_addr(const char *opt, const char *arg)
{
	unsigned char b[16];

	if (inet_pton(AF_INET, arg, b) == 1 || inet_pton(AF_INET6, arg, b) == 1)
		return 0;
	tool_err(EX_USAGE, "%s: '%s' is not a numeric IPv4 or IPv6 address",
		 opt, arg);
	return -1;
}

struct jumbo_pool *tool_pool(size_t page_size, size_t max_pages)
{
	struct jumbo_pool_params pp;
	struct jumbo_pool *pool;

	jumbo_pool_params_init(&pp);
	pp.page_size = page_size;
	pp.max_pages = max_pages;
	pp.name = "jumbo";
	pool = jumbo_pool_create(&pp);
	if (!pool)
		tool_err(EX_FAIL, "cannot make a pool of %zu pages of %zu "
			 "bytes: %s%s", max_pages, page_size, strerror(errno),
			 page_size == JUMBO_PAGE_2M
				 ? " (2 MiB pages need huge pages: "
				   "/proc/sys/vm/nr_hugepages)"
				 : "");
	return pool;
}
