/*
 * Plumbing every layer of the library shares (pool, mbuf, rx, tx): symbol
 * visibility, branch hints, the cache-line size, and the kernel flags an
 * older C library may not define.  One copy, so that the layers cannot
 * drift apart.  Installed headers never include this.
 */
#ifndef JUMBO_COMMON_H
#define JUMBO_COMMON_H

#include <stdarg.h>
#include <sys/mman.h>

/* Cross-file functions are named _jumbo_* and kept out of the library's
 * dynamic symbol table (the version map also hides them). */
#define JUMBO_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define JUMBO_NOINLINE __attribute__((noinline))
#define JUMBO_CACHELINE 64
#define JUMBO_MIN(a, b) ((a) < (b) ? (a) : (b))

/* For C libraries older than the kernel flags (Linux 5.7 and 4.17). */
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
/*
 * log.c: every message the library prints goes through the hook a program
 * set with jumbo_set_log (default: a line on stderr); level is one of
 * JUMBO_LOG_ERROR, _WARNING, _INFO.  No newline at the end of fmt.
 */
JUMBO_HIDDEN void _jumbo_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
JUMBO_HIDDEN void _jumbo_vlog(int level, const char *fmt, va_list ap);
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
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
/*
 * log.c: every message the library prints goes through the hook a program
 * set with jumbo_set_log (default: a line on stderr); level is one of
 * JUMBO_LOG_ERROR, _WARNING, _INFO.  No newline at the end of fmt.
 */
JUMBO_HIDDEN void _jumbo_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
JUMBO_HIDDEN void _jumbo_vlog(int level, const char *fmt, va_list ap);
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
#ifndef MADV_POPULATE_WRITE /* Linux 5.14 */
#define MADV_POPULATE_WRITE 23
/*
 * log.c: every message the library prints goes through the hook a program
 * set with jumbo_set_log (default: a line on stderr); level is one of
 * JUMBO_LOG_ERROR, _WARNING, _INFO.  No newline at the end of fmt.
 */
JUMBO_HIDDEN void _jumbo_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
JUMBO_HIDDEN void _jumbo_vlog(int level, const char *fmt, va_list ap);
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

/*
 * log.c: every message the library prints goes through the hook a program
 * set with jumbo_set_log (default: a line on stderr); level is one of
 * JUMBO_LOG_ERROR, _WARNING, _INFO.  No newline at the end of fmt.
 */
JUMBO_HIDDEN void _jumbo_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
JUMBO_HIDDEN void _jumbo_vlog(int level, const char *fmt, va_list ap);
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
