/*
 * src/xdp: what the AF_XDP receive and send backends (src/rx/rx_xdp.c,
 * src/tx/tx_xdp.c) share: whether this process can make an AF_XDP
 * socket, libbpf's and libxdp's printers routed to the log hook while a
 * backend calls them, and a pool checked and registered as a UMEM.  Each
 * function fills a message for the backend's own error report (the
 * layers keep their own jumbo_rx_strerror / jumbo_tx_strerror).
 * A layer of its own above the pool (it uses only the pool's public
 * API) and below rx and tx, the only layers that see it.  Installed
 * headers never include this.
 */
#ifndef JUMBO_XDP_H
#define JUMBO_XDP_H

#include "jumbo_common.h"

#include <stddef.h>

#define JUMBO_XDP_FRAME 4096u /* a UMEM chunk is a 4 KiB page */
#define JUMBO_XDP_WHY 192     /* room for a message */

/*
 * 0 if AF_XDP sockets can be made here; -EOPNOTSUPP and why (built
 * without libxdp, a kernel without XDP sockets, no CAP_NET_RAW).
 */
JUMBO_HIDDEN int _jumbo_xdp_probe(char *why, size_t len);

#ifdef JUMBO_HAVE_XDP
#include <linux/if_xdp.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

/* Linux 6.6 uapi, newer than some distributions' headers. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

struct jumbo_pool;

/*
 * libbpf and libxdp print to stderr by default; a library must not.
 * Their printers are process-wide: ours is installed only while a
 * backend calls them and the caller's put back after, so a program that
 * set its own keeps it.  With a jumbo_set_log hook their messages (debug
 * aside) reach it at JUMBO_LOG_INFO, prefixed with the library's name;
 * without one they are dropped.
 */
struct jumbo_xdp_quiet {
	libbpf_print_fn_t bpf;
	libxdp_print_fn_t xdp;
};

JUMBO_HIDDEN void _jumbo_xdp_quiet_begin(struct jumbo_xdp_quiet *q);
JUMBO_HIDDEN void _jumbo_xdp_quiet_end(struct jumbo_xdp_quiet *q);

/*
 * The pool as a UMEM: it must have 4 KiB pages and be committed whole
 * (a UMEM is registered once), checked on its last frame since
 * commitment grows from frame 0.  Registers it with fill and completion
 * rings of fill and comp entries: 0, *umem, *base (frame 0's address)
 * and *nframes; or -errno and why, *umem NULL.  The kernel pins the
 * pages of a UMEM: the pool is pinned (jumbo_pool_pin) until
 * _jumbo_xdp_umem_delete, so that no trim or page move takes a page's
 * memory from under the kernel's writes.
 */
JUMBO_HIDDEN int _jumbo_xdp_umem(struct jumbo_pool *pool, unsigned fill,
				 unsigned comp, struct xsk_umem **umem,
				 struct xsk_ring_prod *fq,
				 struct xsk_ring_cons *cq, char **base,
				 size_t *nframes, char *why, size_t len);
/* Deletes a UMEM _jumbo_xdp_umem made of pool, and unpins the pool. */
JUMBO_HIDDEN void _jumbo_xdp_umem_delete(struct jumbo_pool *pool,
					 struct xsk_umem *umem);
#endif

#endif
