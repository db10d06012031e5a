/*
 * Plumbing every layer of the library shares (pool, mbuf, rx, tx): symbol
 * visibility, branch hints, the cache-line size, and the kernel flags an
 * older C library may not define.  One copy, so that the layers cannot
 * drift apart.  Installed headers never include this.
 */
#ifndef JUMBO_COMMON_H
#define JUMBO_COMMON_H

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
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_POPULATE_WRITE /* Linux 5.14 */
#define MADV_POPULATE_WRITE 23
#endif

#endif
