/*
 * Internals shared by the mbuf layer's files (mbuf.c, mbuf_ops.c, zcopy.c,
 * zcopy_calib.c).  Installed headers never include this.
 */
#ifndef JUMBO_MBUF_INT_H
#define JUMBO_MBUF_INT_H

#include <jumbo/mbuf.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>

/* For C libraries older than the kernel flags (Linux 5.7 and 4.17). */
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MB_HIDDEN __attribute__((visibility("hidden")))
#define mb_unlikely(x) __builtin_expect(!!(x), 0)

#define MB_MIN(a, b) ((a) < (b) ? (a) : (b))

/* The mbuf that holds the counter an external storage's mbufs share. */
static inline struct mbuf *mb_ext_holder(const struct mbuf *m)
{
	return (struct mbuf *)((char *)(uintptr_t)m->m_ext.ext_cnt -
			       offsetof(struct mbuf, m_ext.ext_count));
}

/* True if ext storage is a pool page that goes back to its pool when freed
 * (the library's own free routines), as opposed to a backend's callback. */
static inline bool mb_ext_pool_owned(const struct mbuf *m)
{
	return m->m_ext.ext_type == EXT_JUMBO &&
	       (m->m_ext.ext_free == jumbo_ext_free ||
		m->m_ext.ext_free == jumbo_freem);
}

/* mbuf.c */
/* Prints "fn: what mbuf addr" on stderr and aborts. */
MB_HIDDEN _Noreturn void _jumbo_mb_panic(const char *fn, const void *addr,
					 const char *what);
/*
 * Frees m whose external page has been moved away and stolen from its
 * pool (or whose free routine the caller has already run): drops the
 * reference without calling ext_free.  Returns m_next.
 */
MB_HIDDEN struct mbuf *_jumbo_mb_free_noext(struct mbuf *m);
/* Shares m's external storage with n (n has none): a new reference. */
MB_HIDDEN void _jumbo_mb_ext_share(struct mbuf *n, const struct mbuf *m);

/* zcopy_calib.c: the threshold for a run of this page size. */
MB_HIDDEN size_t _jumbo_zc_threshold(size_t page_size, size_t run_bytes);

#endif
