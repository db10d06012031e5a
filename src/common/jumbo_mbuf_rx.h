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
 * A receiver's buffer of contiguous pages whose pages go out in the mbufs
 * of _jumbo_mb_page_chain: put(run, n) is told that n of its pages came
 * back (their mbufs freed, on any thread).  The backend embeds this at
 * the start of its own run and counts the pages itself.
 */
struct jumbo_mb_run {
	void (*put)(struct jumbo_mb_run *run, unsigned n);
};

/*
 * The free routine of every page of a run in an mbuf (ext_args: the run):
 * put(run, 1).  m_freem knows it by its address and, for consecutive
 * mbufs of a chain that are each the sole holder of a page of one run,
 * makes one put(run, n) instead of n calls (each mbuf is still checked and
 * killed on its own), so a frame of n pages costs its run one count
 * update, not n locked ones.
 */
JUMBO_HIDDEN void _jumbo_mb_run_free(caddr_t page, void *args);

/*
 * The chain of a frame of len bytes (> 0) on the contiguous pages of pool
 * from addr (each 1 << page_shift bytes, the pool's page size): one mbuf
 * per page the frame touches, the first with M_PKTHDR and m_pkthdr.len =
 * len (the rest of its packet header zero), every mbuf full but the last,
 * each page attached as EXT_JUMBO storage of its own with free routine
 * _jumbo_mb_run_free(page, run), exactly what m_gethdr, m_get and
 * m_extadd_jumbo would make.  The mbufs come from the thread's cache in
 * one operation when it holds enough.  NULL (errno ENOMEM) when there are
 * not enough mbufs: then nothing was made and run->put has not run.  The
 * caller vouches that the pages are pool's, page-aligned and its own to
 * hand out; only the packet header's fields are written that a packet
 * header has (an mbuf without M_PKTHDR has no valid m_pkthdr, as in
 * FreeBSD).
 */
JUMBO_HIDDEN struct mbuf *_jumbo_mb_page_chain(struct jumbo_pool *pool,
					       char *addr, unsigned page_shift,
					       size_t len,
					       struct jumbo_mb_run *run);

#endif
