/*
 * Plumbing every layer of the library shares (pool, mbuf, rx, tx): symbol
 * visibility, branch hints, the cache-line size, the kernel flags an
 * older C library may not define, the clock, and the message hook.  One
 * copy, so that the layers cannot drift apart.  Installed headers never
 * include this.
 */
#ifndef JUMBO_COMMON_H
#define JUMBO_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

/* Cross-file functions are named _jumbo_* and kept out of the library's
 * dynamic symbol table (the version map also hides them). */
#define JUMBO_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define JUMBO_NOINLINE __attribute__((noinline))
#define JUMBO_CACHELINE 64
#define JUMBO_MIN(a, b) ((a) < (b) ? (a) : (b))

/* For C libraries older than the kernel flags (Linux 5.7, 4.17, 5.14). */
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * The library's one clock, CLOCK_MONOTONIC in nanoseconds.  coarse: the
 * kernel's last tick (a few ms of resolution, no hardware counter read),
 * for stamps that only age things; fine for measurements.
 */
static inline uint64_t _jumbo_clock_ns(bool coarse)
{
	struct timespec ts;

	clock_gettime(coarse ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The coarse clock in ms, wrapping at 2^32 (compare differences only). */
static inline uint32_t _jumbo_clock_ms(void)
{
	return (uint32_t)(_jumbo_clock_ns(true) / 1000000u);
}

/*
 * log.c: every message the library prints goes through the hook a program
 * set with jumbo_set_log (default: a line on stderr); level is one of
 * JUMBO_LOG_ERROR, _WARNING, _INFO.  No newline at the end of fmt.
 */
/* An IPv4 or IPv6 literal and a port: 0, or -EINVAL (net.c). */
struct sockaddr_storage;
JUMBO_HIDDEN int _jumbo_sockaddr(const char *addr, uint16_t port,
				 struct sockaddr_storage *ss, socklen_t *len);

JUMBO_HIDDEN void _jumbo_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
JUMBO_HIDDEN void _jumbo_vlog(int level, const char *fmt, va_list ap);
/* Whether a program set a hook with jumbo_set_log. */
JUMBO_HIDDEN bool _jumbo_log_routed(void);
/*
 * A line from a signal handler, async-signal-safe: the NULL-terminated
 * parts joined (at most 255 bytes).  No hook set: written to stderr now
 * with write(2).  A hook: parked, and delivered through it by the next
 * _jumbo_log_deliver() outside a handler (a re-entered call never
 * delivers).
 */
JUMBO_HIDDEN void _jumbo_log_signal(int level, const char *const *parts);
JUMBO_HIDDEN void _jumbo_log_flush(void);
/* Non-zero while parked lines wait (log.c). */
JUMBO_HIDDEN extern unsigned _jumbo_log_pending;

/* Delivers parked lines, if any: one load when there are none. */
static inline void _jumbo_log_deliver(void)
{
	/* Relaxed: only a hint; the flush's exchange is the acquire. */
	if (unlikely(__atomic_load_n(&_jumbo_log_pending, __ATOMIC_RELAXED)))
		_jumbo_log_flush();
}

/*
 * The caller's pid namespace (the inode of /proc/self/ns/pid), 0 if it
 * cannot be told (proc.c).  A pid names a process only in its namespace:
 * peers sharing a pool or a ring compare these before they judge each
 * other by pid.
 */
JUMBO_HIDDEN uint64_t _jumbo_pidns(void);

/*
 * Liveness by lock (proc.c), for peers that must tell each other dead in
 * any pid namespace and under pid reuse: each holds an open-file-
 * description lock (F_OFD_SETLK) on one byte, JUMBO_LOCK_OFF(its record),
 * of the shared object, through a description of the object it opened
 * itself; the kernel drops it when the last reference to that description
 * goes, however the process dies.  The byte lies far past anything the
 * object holds (a lock may lie past a file's end).
 */
#define JUMBO_LOCK_OFF(i) ((off_t)((1ull << 62) + (i)))
/*
 * A description of fd's file of the caller's own, opened anew through
 * /proc/self/fd (never a dup(), which shares fd's description and with it
 * whatever holds that), close-on-exec: the descriptor, or -errno.
 */
JUMBO_HIDDEN int _jumbo_reopen(int fd);
/* Do descriptors a and b name the same file? */
JUMBO_HIDDEN bool _jumbo_same_file(int a, int b);
/*
 * Record i's lock, taken through fd: 0, -EAGAIN if another description
 * holds it, or another -errno (no such locks here).
 */
JUMBO_HIDDEN int _jumbo_lock_take(int fd, uint64_t i);
/*
 * Is record i's lock free, as seen through fd?  fd's description must hold
 * no lock but (maybe) another record's: a description never conflicts with
 * its own locks.  An error of the question says nothing: false.
 */
JUMBO_HIDDEN bool _jumbo_lock_free(int fd, uint64_t i);

/*
 * The one abort path, for the corruption the library cannot survive:
 * reports at JUMBO_LOG_ERROR through the hook, then abort().  Callers keep
 * the documented shape "function: address: why".
 */
JUMBO_HIDDEN _Noreturn void _jumbo_abort(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* "fn: addr: why", then abort. */
JUMBO_HIDDEN _Noreturn void _jumbo_panic(const char *fn, const void *addr,
					 const char *why);

#endif
