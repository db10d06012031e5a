/*
 * The AF_XDP send backend: whole Ethernet frames put on the TX ring of an
 * AF_XDP socket whose UMEM is a pool's memory, one descriptor per page (a
 * frame over several pages as a chain of descriptors flagged
 * XDP_PKT_CONTD: the socket is bound with XDP_USE_SG where the kernel has
 * it).  The completion ring gives the descriptors back in the order they
 * were sent; a frame's pages are held (or its mbufs kept, for the xdp
 * receiver's pages, which free themselves their own way) until the last of
 * its descriptors completes, so a page is never reused while the kernel may
 * still read it.
 *
 * The UMEM: a registration of the pool's memory made by this socket.  The
 * kernel lets the same memory be registered more than once (it pins the
 * pages once per registration), and a UMEM address is the pool's I/O
 * address in every registration, so a frame the xdp receiver wrote into
 * the pool goes out from the same page, without a copy, whatever device
 * and queue either socket is on.  Sharing the receiver's registration
 * (XDP_SHARED_UMEM) would save that second pinning, but it needs the
 * receiver's socket and rings here, across the rx and tx layers and across
 * threads (its fill and completion rings are single-producer and
 * single-consumer), and a socket on another device needs fill and
 * completion rings of its own anyway.  One limit follows: a device and
 * queue take one UMEM, so this socket cannot be on the receiver's own
 * queue (-EBUSY): reflect out of another queue or device.
 *
 * A frame whose pages are not in the UMEM (another pool, an mbuf's own
 * data) is copied into pages of the pool first and counted (copied).
 */
#include "tx_int.h"
#include "jumbo_xdp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int _jumbo_tx_xdp_supported(void)
{
	char why[JUMBO_XDP_WHY];
	int e = _jumbo_xdp_probe(why, sizeof(why));

	if (e)
		_jumbo_tx_fail(e, "%s", why);
	return !e;
}

#ifndef JUMBO_HAVE_XDP

int _jumbo_tx_xdp_open(struct jumbo_tx *tx, const struct jumbo_tx_params *p)
{
	(void)tx;
	(void)p;
	_jumbo_tx_xdp_supported();
	return -EOPNOTSUPP;
}

#else

#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#define XDP_FRAME JUMBO_XDP_FRAME
#define XT_RING 2048u
#define XDP_MAX_DESC 17u /* a frame's descriptors: MAX_SKB_FRAGS + 1 */
#define XDP_ETH_HLEN 14u
#define XDP_VLAN_HLEN 4u

/*
 * Balance: every descriptor on the TX ring or in the kernel belongs to one
 * frame between done_id and next_id; ndesc[id] is that frame's count, and
 * cq_credit the completions already counted toward the frame at done_id.
 * next_id - done_id = tx->rec_tail - tx->rec_head.
 */
struct tx_xdp {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, txr;
	struct xsk_ring_cons cq;
	char *base;             /* the UMEM: the pool's memory */
	size_t size;
	struct jumbo_pool *pool;
	int own_pool;
	size_t max_len;         /* MTU + Ethernet and VLAN headers */
	int sg;                 /* bound with XDP_USE_SG */
	int zerocopy;           /* bound in zero-copy mode */
	uint32_t next_id, done_id, cq_credit;
	uint32_t *ndesc;        /* tx->rec_cap entries, by id */
	uint64_t invalid;       /* the kernel's tx_invalid_descs, last read */
};

/* True if the chain's data all lies in the UMEM, each mbuf in one page. */
static bool xt_in_umem(const struct tx_xdp *x, const struct mbuf *m)
{
	for (; m; m = m->m_next) {
		size_t off = (size_t)(m->m_data - x->base);

		if (!m->m_len)
			continue;
		if (off >= x->size || off / XDP_FRAME !=
		    (off + (size_t)m->m_len - 1) / XDP_FRAME)
			return false;
	}
	return true;
}

/* The sendto that makes the kernel read the TX ring, when it asks for it. */
static void xt_kick(struct jumbo_tx *tx, struct tx_xdp *x)
{
	if (!xsk_ring_prod__needs_wakeup(&x->txr))
		return;
	TX_ADD(tx, syscalls, 1);
	if (sendto(xsk_socket__fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) ==
	    0)
		return;
	switch (errno) {
	case EAGAIN: case EBUSY: case ENOBUFS: case EINTR:
		return; /* the kernel is still at it: kick again later */
	case ENETDOWN: case ENXIO:
		TX_ADD(tx, unreachable, 1);
		return;
	default:
		TX_ADD(tx, errors, 1);
	}
}

/*
 * Counts n completed descriptors toward the frames in order, and releases
 * the frames they complete.  Returns the frames completed.
 */
static unsigned xt_credit(struct jumbo_tx *tx, struct tx_xdp *x, uint32_t n)
{
	uint32_t lo = x->done_id;

	x->cq_credit += n;
	while (x->done_id != x->next_id) {
		uint32_t need = x->ndesc[x->done_id & (tx->rec_cap - 1)];

		if (x->cq_credit < need)
			break;
		x->cq_credit -= need;
		x->done_id++;
	}
	if (x->done_id == lo)
		return 0;
	/* In copy mode the kernel copied each frame into a buffer of its
	 * own during the send: counted as zc_copied. */
	return _jumbo_tx_done(tx, lo, x->done_id - 1, !x->zerocopy);
}

/* Reaps the completion ring; the frames completed. */
static unsigned xt_reap(struct jumbo_tx *tx, struct tx_xdp *x)
{
	uint32_t idx, n = xsk_ring_cons__peek(&x->cq, XT_RING, &idx);

	if (!n)
		return 0;
	/* Only the count matters: a socket completes in order. */
	xsk_ring_cons__release(&x->cq, n);
	return xt_credit(tx, x, n);
}

/*
 * A descriptor the kernel found invalid is consumed without a completion:
 * credited here from its counter (a system call, so only while waiting),
 * as an error.  send never posts one (lengths are checked), so this is a
 * safety net that keeps close from waiting for what will never come.
 */
static unsigned xt_invalid(struct jumbo_tx *tx, struct tx_xdp *x)
{
	struct xdp_statistics s;
	socklen_t len = sizeof(s);
	uint64_t d;

	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS, &s,
		       &len) != 0 || s.tx_invalid_descs <= x->invalid)
		return 0;
	d = s.tx_invalid_descs - x->invalid;
	x->invalid = s.tx_invalid_descs;
	TX_ADD(tx, errors, d);
	return xt_credit(tx, x, (uint32_t)d);
}

static int xt_complete(struct jumbo_tx *tx, int timeout_ms)
{
	struct tx_xdp *x = tx->priv;
	uint64_t deadline = _jumbo_tx_deadline(timeout_ms);
	unsigned got;

	for (;;) {
		xt_kick(tx, x);
		got = xt_reap(tx, x);
		if (got || x->done_id == x->next_id)
			return (int)got;
		if ((got = xt_invalid(tx, x)) != 0)
			return (int)got;
		int left = _jumbo_tx_left(deadline);
		if (left == 0)
			return 0;
		/*
		 * Nothing signals the completion ring on the socket (poll
		 * reports the rx and TX rings only): look again in a
		 * millisecond.  Only a caller that asked to wait gets here.
		 */
		(void)poll(NULL, 0, 1);
	}
}

/*
 * The chain to put on the ring for m: m itself when its pages are in the
 * UMEM, else a copy in pages of the pool (m freed).  NULL (m untouched)
 * when the pool has no pages.
 */
static struct mbuf *xt_umem_chain(struct jumbo_tx *tx, struct tx_xdp *x,
				  struct mbuf *m)
{
	struct mbuf *c, *n;
	size_t off = 0;

	if (xt_in_umem(x, m))
		return m;
	c = m_getjumbo(x->pool, (size_t)m->m_pkthdr.len, NULL);
	if (!c)
		return NULL;
	for (n = c; n; n = n->m_next) {
		(void)m_copydata(m, off, (size_t)n->m_len, n->m_data);
		off += (size_t)n->m_len;
	}
	TX_ADD(tx, copied, 1);
	m_freem(m);
	return c;
}

/* Descriptors of the chain (its mbufs with data). */
static unsigned xt_ndesc(const struct tx_xdp *x, const struct mbuf *m)
{
	if (xt_in_umem(x, m))
		return (unsigned)_jumbo_tx_pages(m);
	return (unsigned)(((size_t)m->m_pkthdr.len + XDP_FRAME - 1) /
			  XDP_FRAME);
}

/* Frees m unsent, as dropped. */
static void xt_drop(struct jumbo_tx *tx, struct mbuf *m, bool too_long)
{
	m_freem(m);
	TX_ADD(tx, dropped, 1);
	if (too_long)
		TX_ADD(tx, too_long, 1);
}

/*
 * Puts the chain c (all in the UMEM, nd descriptors) on the TX ring;
 * false, c untouched, when the ring has no room.
 */
static bool xt_post(struct jumbo_tx *tx, struct tx_xdp *x, struct mbuf *c,
		    unsigned nd)
{
	uint32_t idx, k = 0, id;
	size_t len = (size_t)c->m_pkthdr.len;

	if (!tx_room(tx, nd) || xsk_ring_prod__reserve(&x->txr, nd, &idx) != nd)
		return false;
	for (struct mbuf *m = c; m; m = m->m_next) {
		struct xdp_desc *d;

		if (!m->m_len)
			continue;
		d = xsk_ring_prod__tx_desc(&x->txr, idx + k++);
		d->addr = (uint64_t)(m->m_data - x->base);
		d->len = (uint32_t)m->m_len;
		d->options = k < nd ? XDP_PKT_CONTD : 0;
	}
	id = x->next_id++;
	x->ndesc[id & (tx->rec_cap - 1)] = nd;
	/* The record before the submit: a completion may follow at once,
	 * but it is read only by this thread's next reap. */
	_jumbo_tx_rec_open(tx, id, true);
	_jumbo_tx_rec_add(tx, c);
	/* Release inside: the descriptors are visible before the producer
	 * index that hands them to the kernel. */
	xsk_ring_prod__submit(&x->txr, nd);
	TX_ADD(tx, packets, 1);
	TX_ADD(tx, bytes, len);
	return true;
}

static int xt_send(struct jumbo_tx *tx, struct mbuf **pkts, unsigned n,
		   unsigned flags)
{
	struct tx_xdp *x = tx->priv;
	uint64_t deadline = 0;
	unsigned i = 0, posted = 0;
	bool full = false;

	xt_reap(tx, x);
	while (i < n) {
		struct mbuf *m = pkts[i], *c;
		size_t len = (size_t)m->m_pkthdr.len;
		unsigned nd = xt_ndesc(x, m);

		if (len < XDP_ETH_HLEN || len > x->max_len || nd == 0 ||
		    nd > XDP_MAX_DESC || (nd > 1 && !x->sg)) {
			xt_drop(tx, m, len >= XDP_ETH_HLEN && nd != 0);
			i++;
			continue;
		}
		/* Room first, so that a frame copied is a frame posted. */
		if (tx_room(tx, nd) && xsk_prod_nb_free(&x->txr, nd) >= nd &&
		    (c = xt_umem_chain(tx, x, m)) != NULL) {
			(void)xt_post(tx, x, c, nd); /* room checked */
			i++;
			posted++;
			continue;
		}
		/* Back-pressure: no room on the ring (or no page). */
		if (!full) {
			TX_ADD(tx, full, 1);
			full = true;
		}
		xt_kick(tx, x);
		if (xt_reap(tx, x))
			continue;
		if (!(flags & JUMBO_TX_WAIT))
			break;
		if (!deadline)
			deadline = _jumbo_tx_deadline(tx->wait_ms);
		int left = _jumbo_tx_left(deadline);
		if (left == 0)
			break;
		(void)xt_complete(tx, 1);
	}
	if (posted)
		xt_kick(tx, x);
	if (i < n && (flags & JUMBO_TX_DROP)) {
		for (; i < n; i++)
			xt_drop(tx, pkts[i], false);
	}
	return (int)i;
}

static void xt_close(struct jumbo_tx *tx)
{
	struct tx_xdp *x = tx->priv;
	struct jumbo_xdp_quiet q;

	if (!x)
		return;
	_jumbo_xdp_quiet_begin(&q);
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		_jumbo_xdp_umem_delete(x->pool, x->umem);
	_jumbo_xdp_quiet_end(&q);
	tx->fd = -1; /* the socket's, closed above */
	/* Frames never completed keep their pages held (tx.c says why),
	 * and so a pool of our own, which would refuse to go. */
	if (x->own_pool && x->done_id == x->next_id)
		(void)jumbo_pool_destroy(x->pool);
	free(x->ndesc);
	free(x);
	tx->priv = NULL;
}

static const struct tx_ops xdp_tx_ops = { xt_send, xt_complete, xt_close };

/* The device's MTU, or 0. */
static unsigned xt_mtu(const char *ifname)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	r = ioctl(fd, SIOCGIFMTU, &ifr);
	close(fd);
	return r ? 0 : (unsigned)ifr.ifr_mtu;
}

/* The socket, TX ring only: no XDP program, nothing on the interface. */
static int xt_socket(struct tx_xdp *x, const struct jumbo_tx_params *p)
{
	struct xsk_socket_config sc = {
		.rx_size = 0, .tx_size = XT_RING,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = XDP_FLAGS_SKB_MODE,
		.bind_flags = XDP_USE_SG | XDP_USE_NEED_WAKEUP,
	};
	int e;

	/* Without multi-buffer (before Linux 6.6) a frame is one page. */
	for (int sg = 1; sg >= 0; sg--) {
		sc.bind_flags = (sg ? XDP_USE_SG : 0) | XDP_USE_NEED_WAKEUP;
		/* A closed socket's queue is let go in deferred work: a
		 * moment of EBUSY (rx_xdp.c waits the same way). */
		for (int tries = 0;; tries++) {
			e = xsk_socket__create(&x->xsk, p->ifname, p->queue,
					       x->umem, NULL, &x->txr, &sc);
			if (e != -EBUSY || tries == 10)
				break;
			usleep(20000);
		}
		if (e == 0) {
			x->sg = sg;
			return 0;
		}
		x->xsk = NULL;
		if (e != -EINVAL && e != -EOPNOTSUPP)
			break;
	}
	return _jumbo_tx_fail(e, "xdp backend: AF_XDP socket on %s queue %u: "
			      "%s%s", p->ifname, p->queue, strerror(-e),
			      e == -EBUSY ? " (the queue has an AF_XDP socket "
			      "of another UMEM, such as an xdp receiver's: "
			      "send on another queue or device)" : "");
}

static int xt_open(struct jumbo_tx *tx, const struct jumbo_tx_params *p)
{
	char why[JUMBO_XDP_WHY];
	struct jumbo_pool_params pp;
	struct tx_xdp *x;
	unsigned mtu;
	int e;

	if (!p->ifname || !*p->ifname)
		return _jumbo_tx_fail(-EINVAL, "xdp backend: no interface "
				      "(ifname) given");
	if (!if_nametoindex(p->ifname))
		return _jumbo_tx_fail(-ENODEV, "xdp backend: no interface %s",
				      p->ifname);
	if (!_jumbo_tx_xdp_supported())
		return -EOPNOTSUPP;
	mtu = xt_mtu(p->ifname);
	x = calloc(1, sizeof(*x));
	if (!x)
		return _jumbo_tx_fail(-ENOMEM, "out of memory");
	tx->priv = x;
	tx->ops = &xdp_tx_ops; /* from here on, a failure closes through it */
	/* Never switched to copies: there is no other path to fall back
	 * to, whatever the completions say. */
	tx->flags |= JUMBO_TX_ZC_ALWAYS;
	x->max_len = (mtu ? mtu : 1500) + XDP_ETH_HLEN + XDP_VLAN_HLEN;
	x->ndesc = calloc(tx->rec_cap, sizeof(*x->ndesc));
	if (!x->ndesc)
		return _jumbo_tx_fail(-ENOMEM, "out of memory");
	x->pool = p->pool;
	if (!x->pool) {
		jumbo_pool_params_init(&pp);
		pp.max_pages = pp.init_pages = XT_RING * 2;
		pp.name = "xdp-tx";
		x->pool = jumbo_pool_create(&pp);
		if (!x->pool)
			return _jumbo_tx_fail(-errno, "xdp backend: no pool of "
					      "its own: %s", strerror(errno));
		x->own_pool = 1;
	}
	struct jumbo_xdp_quiet q;
	size_t nframes;

	_jumbo_xdp_quiet_begin(&q);
	e = _jumbo_xdp_umem(x->pool, 64, XT_RING, &x->umem, &x->fq, &x->cq,
			    &x->base, &nframes, why, sizeof(why));
	if (e)
		e = _jumbo_tx_fail(e, "%s", why);
	else
		e = xt_socket(x, p);
	_jumbo_xdp_quiet_end(&q);
	if (e)
		return e;
	x->size = nframes * XDP_FRAME;
	tx->fd = xsk_socket__fd(x->xsk);
	struct xdp_options xo;
	socklen_t xol = sizeof(xo);
	x->zerocopy = getsockopt(tx->fd, SOL_XDP, XDP_OPTIONS, &xo, &xol) == 0 &&
		      (xo.flags & XDP_OPTIONS_ZEROCOPY);
	return 0;
}

int _jumbo_tx_xdp_open(struct jumbo_tx *tx, const struct jumbo_tx_params *p)
{
	return xt_open(tx, p);
}

#endif
