/*
 * Every message the library prints, and the one way it aborts.
 *
 * A program routes the messages with jumbo_set_log: the hook is published
 * as one immutable {fn, arg} pair, so a message being formatted on another
 * thread meanwhile sees either the old pair or the new one, never the new
 * function with the old argument.  Replaced pairs are kept (a program sets
 * its hook a handful of times) and freed when the library is unloaded; no
 * lock is taken to print, so that the abort path works in a fork child or a
 * signal handler whose thread was holding one.
 *
 * Replaced pairs are never freed: another thread may still be calling the
 * old function with its argument, and the library cannot know when it has
 * returned.  They stay reachable from "retired" (no leak report) and cost
 * 24 bytes per jumbo_set_log call with a function.
 */
#include "jumbo_common.h"

#include <jumbo/jumbo.h>

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct log_hook {
	jumbo_log_fn fn;
	void *arg;
	struct log_hook *old; /* the next older retired pair */
};

/* NULL: the default, a line on stderr. */
static struct log_hook *hook;
/* The pairs replaced so far, newest first. */
static struct log_hook *retired;

int jumbo_set_log(jumbo_log_fn fn, void *arg)
{
	struct log_hook *h = NULL;

	if (fn) {
		h = malloc(sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->fn = fn;
		h->arg = arg;
		h->old = NULL;
	}
	/*
	 * Release: a thread that loads the new pointer (acquire in _jumbo_vlog)
	 * sees fn and arg written.  Acquire: the pair we retire is complete.
	 */
	struct log_hook *prev = __atomic_exchange_n(&hook, h, __ATOMIC_ACQ_REL);
	if (prev) {
		/* Orders nothing but the list itself: a CAS push. */
		prev->old = __atomic_load_n(&retired, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&retired, &prev->old, prev,
						    true, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
	}
	return 0;
}

void _jumbo_vlog(int level, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Acquire pairs with the release in jumbo_set_log: fn and arg. */
	struct log_hook *h = __atomic_load_n(&hook, __ATOMIC_ACQUIRE);
	if (h)
		h->fn(level, msg, h->arg);
	else
		fprintf(stderr, "%s\n", msg);
}

/* Whether a program set a hook (the default is a line on stderr). */
bool _jumbo_log_routed(void)
{
	/* Relaxed: a hint for whether to format at all; _jumbo_vlog loads
	 * the hook again with acquire before it calls it. */
	return __atomic_load_n(&hook, __ATOMIC_RELAXED) != NULL;
}

void _jumbo_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	_jumbo_vlog(level, fmt, ap);
	va_end(ap);
}

_Noreturn void _jumbo_abort(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	_jumbo_vlog(JUMBO_LOG_ERROR, fmt, ap);
	va_end(ap);
	fflush(stderr);
	abort();
}

_Noreturn void _jumbo_panic(const char *fn, const void *addr, const char *why)
{
	_jumbo_abort("%s: %p: %s", fn, addr, why);
}

_Noreturn void _jumbo_assert_fail(const char *expr, const char *file, int line)
{
	_jumbo_abort("libjumbo: assertion failed: %s (%s:%d)", expr, file, line);
}
