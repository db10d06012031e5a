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
#include <string.h>
#include <unistd.h>

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

/*
 * Lines from signal handlers.  A handler may call neither the hook (it
 * may lock, allocate, or be the very code the signal interrupted) nor
 * vsnprintf.  _jumbo_log_signal joins the line's parts with strlen and
 * memcpy only.  With no hook set it writes the line to stderr with one
 * write(2), as the default hook would.  With a hook it parks the line in
 * a free slot, and the next library call that is not itself re-entered
 * delivers it through the hook (_jumbo_log_flush, from the pool's entry
 * check).  A line that finds every slot taken is counted and reported
 * as dropped at the next delivery.
 *
 * A slot's state word is the only thing shared: a handler claims a FREE
 * slot, the flush a READY one, each by compare-and-swap, so neither ever
 * reads a line the other is writing, even when the handler interrupts a
 * flush on the same thread.
 */
#define SIG_SLOTS 8
#define SIG_LINE 256

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY };

static struct sig_slot {
	int state;  /* SLOT_*: FREE -> BUSY (handler) -> READY -> BUSY (flush) -> FREE */
	int level;
	char line[SIG_LINE];
} sig_slots[SIG_SLOTS];

/* Lines dropped for want of a free slot, not yet reported. */
static unsigned sig_dropped;

/* Non-zero: lines parked or dropped since the last flush. */
unsigned _jumbo_log_pending;

void _jumbo_log_signal(int level, const char *const *parts)
{
	char line[SIG_LINE];
	size_t n = 0;

	/* Room for the newline of the write(2) and the NUL of a slot. */
	for (; *parts && n < sizeof(line) - 1; parts++) {
		size_t l = strlen(*parts);
		if (l > sizeof(line) - 1 - n)
			l = sizeof(line) - 1 - n;
		memcpy(line + n, *parts, l);
		n += l;
	}
	if (!_jumbo_log_routed()) {
		line[n++] = '\n';
		/* A failed write leaves nowhere else to say it. */
		ssize_t w = write(2, line, n);
		(void)w;
		return;
	}
	line[n] = 0;
	for (int i = 0; i < SIG_SLOTS; i++) {
		struct sig_slot *sl = &sig_slots[i];
		int st = SLOT_FREE;

		/* Acquire: the flush that freed the slot is done reading it
		 * before we write it. */
		if (!__atomic_compare_exchange_n(&sl->state, &st, SLOT_BUSY,
						 false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		memcpy(sl->line, line, n + 1);
		sl->level = level;
		/* Release: the line and level are written before a flush
		 * can claim the slot. */
		__atomic_store_n(&sl->state, SLOT_READY, __ATOMIC_RELEASE);
		/* Release: the slot is READY before a flush sees the flag. */
		__atomic_store_n(&_jumbo_log_pending, 1, __ATOMIC_RELEASE);
		return;
	}
	/* Relaxed: a count; the flag's release store orders it. */
	__atomic_fetch_add(&sig_dropped, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&_jumbo_log_pending, 1, __ATOMIC_RELEASE);
}

void _jumbo_log_flush(void)
{
	/* Acquire pairs with the handlers' release of the flag: the slots
	 * they made READY before it are seen READY below.  A line parked
	 * after this exchange sets the flag again for the next flush. */
	if (!__atomic_exchange_n(&_jumbo_log_pending, 0, __ATOMIC_ACQUIRE))
		return;
	for (int i = 0; i < SIG_SLOTS; i++) {
		struct sig_slot *sl = &sig_slots[i];
		int st = SLOT_READY, level;
		char line[SIG_LINE];

		/* Acquire pairs with the handler's release of READY. */
		if (!__atomic_compare_exchange_n(&sl->state, &st, SLOT_BUSY,
						 false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		memcpy(line, sl->line, sizeof(line));
		level = sl->level;
		/* Release: our copy is done before a handler reuses it. */
		__atomic_store_n(&sl->state, SLOT_FREE, __ATOMIC_RELEASE);
		_jumbo_log(level, "%s", line);
	}
	unsigned d = __atomic_exchange_n(&sig_dropped, 0, __ATOMIC_RELAXED);
	if (d)
		_jumbo_log(JUMBO_LOG_WARNING, "libjumbo: %u message%s from "
			   "signal handlers dropped (no free slot)", d,
			   d == 1 ? "" : "s");
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
