/*
 * The little the receive backends (src/rx) use of the mbuf layer beyond
 * <jumbo/mbuf.h>: a frame's chain made in one pass, for pages the backend
 * took from its pool itself, so that nothing needs checking per page.
 * Implemented in src/mbuf/mbuf.c; neither layer sees the other's
 * internals.
 */
#ifndef JUMBO_MBUF_RX_H
#define JUMBO_MBUF_RX_H

#include "jumbo_common.h"

#include <jumbo/mbuf.h>
#include <stddef.h>

/*
 * The chain of a frame of len bytes (> 0) on the contiguous pages of pool
 * from addr (each page_size bytes, the pool's page size): one mbuf per page
 * the frame touches, the first with M_PKTHDR and m_pkthdr.len = len (the
 * rest of its packet header zero), every mbuf full but the last, each page
 * attached as EXT_JUMBO storage of its own with free routine freef(page,
 * args), exactly what m_gethdr, m_get and m_extadd_jumbo would make.  The
 * mbufs come from the thread's cache in one operation when it holds
 * enough.  NULL (errno ENOMEM) when there are not enough mbufs: then
 * nothing was made and freef has not run.  The caller vouches that the
 * pages are pool's, page-aligned and its own to hand out; only the
 * packet header's fields are written that a packet header has (an mbuf
 * without M_PKTHDR has no valid m_pkthdr, as in FreeBSD).
 */
JUMBO_HIDDEN struct mbuf *_jumbo_mb_page_chain(struct jumbo_pool *pool,
					       char *addr, size_t page_size,
					       size_t len, m_ext_free_t freef,
					       void *args);

#endif
