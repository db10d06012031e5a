/*
 * Internals shared by the mbuf layer's files (mbuf.c, mbuf_ops.c, zcopy.c,
 * zcopy_calib.c).  Installed headers never include this.
 */
#ifndef JUMBO_MBUF_INT_H
#define JUMBO_MBUF_INT_H

#include <jumbo/mbuf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "jumbo_common.h"
#include "jumbo_pool_layer.h"

/*
 * Which 64 KiB-aligned blocks of the address space are mbuf slabs: a byte
 * per slab, in leaves of 2^16 bytes (one per 4 GiB of address space that
 * holds slabs, touched only where they are) hung from a root of 2^15
 * pointers (256 KiB of zeroed BSS), which covers the 47-bit user address
 * space.  Bytes are set when a slab is mapped, never cleared (slabs are
 * never unmapped), so a lookup needs no lock: two loads, a byte rather
 * than a bit to keep it short.  jemalloc's radix tree serves the same
 * purpose.
 */
#define MB_SLAB_SHIFT 16
#define MB_SLAB ((size_t)1 << MB_SLAB_SHIFT)
#define MB_LEAF_BITS 16
#define MB_ROOT_SHIFT (MB_SLAB_SHIFT + MB_LEAF_BITS)
#define MB_ROOT_BITS (47 - MB_ROOT_SHIFT)
JUMBO_HIDDEN extern unsigned char *_jumbo_mb_root[(size_t)1 << MB_ROOT_BITS];

/* Is p in one of the library's mbuf slabs?  Reads nothing at p. */
static inline bool mb_in_slab(const void *p)
{
	uintptr_t r = (uintptr_t)p >> MB_ROOT_SHIFT;

	if (unlikely(r >= ((uintptr_t)1 << MB_ROOT_BITS)))
		return false;
	/*
	 * Acquire pairs with the release that published the leaf (its
	 * zeroes before the pointer).  The byte itself is relaxed: an mbuf
	 * reaches a thread only through a hand-off that follows its slab's
	 * registration, and a foreign address reads 0 either way.
	 */
	unsigned char *leaf = __atomic_load_n(&_jumbo_mb_root[r], __ATOMIC_ACQUIRE);
	return leaf && __atomic_load_n(&leaf[((uintptr_t)p >> MB_SLAB_SHIFT) &
					     (((uintptr_t)1 << MB_LEAF_BITS) - 1)],
				       __ATOMIC_RELAXED);
}

/* An mbuf of the library, at its start, and allocated (not freed). */
static inline bool mb_live(const struct mbuf *m)
{
	return m && ((uintptr_t)m & (MSIZE - 1)) == 0 && mb_in_slab(m) &&
	       __atomic_load_n(&m->m_type, __ATOMIC_RELAXED) == MT_DATA;
}

/*
 * Reports a bad mbuf argument on stderr ("fn: not an mbuf 0x..." or
 * "fn: freed mbuf 0x..."), with write(2) only, so async-signal-safe.
 * Sets errno to EINVAL; returns -EINVAL.
 */
JUMBO_HIDDEN int _jumbo_mb_bad(const char *fn, const struct mbuf *m);
/*
 * Checks every mbuf of the chain m (not NULL) and sums m_len: 0, or
 * -EINVAL after _jumbo_mb_bad at the first bad one.
 */
JUMBO_HIDDEN int _jumbo_mb_chain(const char *fn, const struct mbuf *m,
			      size_t *len);

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
JUMBO_HIDDEN _Noreturn void _jumbo_mb_panic(const char *fn, const void *addr,
					 const char *what);
/*
 * Frees m whose external page has been moved away and stolen from its
 * pool (or whose free routine the caller has already run): drops the
 * reference without calling ext_free.  Returns m_next.
 */
JUMBO_HIDDEN struct mbuf *_jumbo_mb_free_noext(struct mbuf *m);
/* Shares m's external storage with n (n has none): a new reference. */
JUMBO_HIDDEN void _jumbo_mb_ext_share(struct mbuf *n, const struct mbuf *m);

/* mbuf.c: the depot lock around fork, and the missing threads' caches. */
JUMBO_HIDDEN void _jumbo_mb_atfork(int phase);
/* zcopy.c: the child drops the parent's /proc/self/maps fd. */
JUMBO_HIDDEN void _jumbo_zc_atfork_child(void);

/* zcopy_calib.c: the threshold for a run of this page size. */
JUMBO_HIDDEN size_t _jumbo_zc_threshold(size_t page_size, size_t run_bytes);

#endif
