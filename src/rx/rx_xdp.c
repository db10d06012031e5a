/*
 * The AF_XDP backend: frames from a network interface's receive queue
 * written by the kernel straight into pool pages.  The pool's memory is
 * the socket's UMEM, a page is a UMEM chunk, and a chunk's UMEM address is
 * the page's I/O address: what jumbo(9) called a physical address, carried
 * on the fill and receive rings as ti(4) carried it on its descriptors.
 *
 * The receive thread keeps the fill ring stocked with pages it allocates
 * from the pool; each frame comes back as one descriptor per page (a
 * jumbo frame over several, chained with XDP_PKT_CONTD: the socket is
 * bound with XDP_USE_SG), and becomes an mbuf chain whose pages are the
 * chunks.  The frames are whole link-layer frames.
 *
 * The UMEM registration pins the pool's pages for the kernel, which keeps
 * writing into them by physical page: a page delivered in a chain is
 * therefore held (jumbo_pool_hold) until its mbuf is freed, so that a
 * zero-copy delivery never moves it away and no steal re-backs it.
 *
 * The pool must be committed whole (init_pages = max_pages, 4 KiB pages):
 * UMEM memory is registered once.  With no pool given the backend makes
 * one of its own, destroyed after the receiver is closed and the last
 * page it handed out comes back.
 *
 * The XDP program, in generic (skb) mode unless JUMBO_RX_XDP_NATIVE, is
 * the library's own (src/bpf/xdp_port.bpf.c): with a port it sends the
 * queue's UDP frames to that port to the socket and every other frame on
 * to the kernel; with port 0 every frame of the queue to the socket.  It
 * is attached through a bpf_link, which the kernel lets go with the
 * process: a receiver killed by kill -9 leaves nothing on the interface.
 * (Built without clang, there is no filter: port 0 only, through libxdp's
 * default program.)
 */
#include "rx_int.h"
#include "jumbo_xdp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int _jumbo_rx_xdp_supported(void)
{
	char why[JUMBO_XDP_WHY];
	int e = _jumbo_xdp_probe(why, sizeof(why));

	if (e)
		_jumbo_rx_fail(e, "%s", why);
	return !e;
}

#ifndef JUMBO_HAVE_XDP

unsigned _jumbo_rx_xdp_queues(const char *ifname)
{
	(void)ifname;
	return 0;
}

int _jumbo_rx_xdp_open(struct jumbo_rx *rx, const struct jumbo_rx_params *p)
{
	(void)rx;
	(void)p;
	_jumbo_rx_xdp_supported();
	return -EOPNOTSUPP;
}

#else

#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#define XDP_FRAME JUMBO_XDP_FRAME

/*
 * live is 1 for the receiver plus 1 per page out in chains: whoever drops
 * it to 0 (jumbo_rx_close, or the free of the last page out) destroys the
 * pool the backend made and frees this struct.
 */
struct rx_xdp {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	unsigned ring;          /* fill and rx ring size, a power of two */
	unsigned in_fill;       /* pages the kernel holds */
	unsigned char *kernel;  /* per frame: 1 while the kernel holds it */
	size_t nframes;
	char *base;
	struct jumbo_pool *pool;
	int own_pool;
	unsigned live;          /* atomic, see above */
	int ifindex;
	unsigned xdp_flags;
	uint32_t prog_id;       /* libxdp's program attached for us, or 0 */
	struct bpf_object *obj; /* the port filter, when it is ours */
	int link_fd;            /* its bpf_link, or -1: see xdp_filter_attach */
	int zerocopy;           /* bound in zero-copy mode (XDP_OPTIONS) */
};

#ifdef JUMBO_HAVE_XDP_FILTER
/*
 * The interface has an XDP program already.  Whether a bpf_link (of a
 * live process, or a pin) holds it is asked of the kernel, for this
 * interface in this namespace: a netlink request on a program that a link
 * holds fails with EBUSY before anything else is looked at
 * (dev_xdp_attach).  Walking the system's links instead is wrong twice: a
 * link names its ifindex but not its namespace, so a receiver on the same
 * ifindex in another namespace looked like the holder; and each link
 * walked is referenced meanwhile, which keeps the link of a receiver that
 * just died on its interface for a moment.
 *
 * Ours (by name) attached by netlink is a stale one: a receiver of an
 * older libjumbo that died without detaching it.  The request for it is
 * its removal (replace-or-fail on its fd), and -EAGAIN says to attach
 * again.  For another program it is its replacement by itself, which
 * changes nothing.  -EAGAIN too if the program changed meanwhile (EEXIST).
 * Otherwise the failure says in one line what is attached and how to
 * remove it.
 */
static int xdp_busy(struct rx_xdp *x, const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info pi;
	uint32_t len = sizeof(pi), fl;
	const char *mode;
	int fd, ours, e;

	if (bpf_xdp_query(x->ifindex, 0, &q) || !q.prog_id)
		return -EAGAIN; /* gone meanwhile */
	mode = q.attach_mode == XDP_ATTACHED_DRV ? "xdpdrv"
	       : q.attach_mode == XDP_ATTACHED_HW ? "xdpoffload" : "xdpgeneric";
	fl = q.attach_mode == XDP_ATTACHED_DRV ? XDP_FLAGS_DRV_MODE
	     : q.attach_mode == XDP_ATTACHED_HW ? XDP_FLAGS_HW_MODE
						: XDP_FLAGS_SKB_MODE;
	memset(&pi, 0, sizeof(pi));
	fd = bpf_prog_get_fd_by_id(q.prog_id);
	if (fd < 0 && errno == ENOENT)
		return -EAGAIN; /* unloaded meanwhile */
	if (fd < 0)
		return _jumbo_rx_fail(-EBUSY, "xdp backend: %s has XDP program "
				      "id %u attached (%s); remove it with: ip "
				      "link set dev %s %s off", ifname,
				      q.prog_id, strerror(errno), ifname, mode);
	if (bpf_obj_get_info_by_fd(fd, &pi, &len) != 0)
		pi.name[0] = 0;
	ours = strcmp(pi.name, "jumbo_xdp_port") == 0;
	LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd);
	e = bpf_xdp_attach(x->ifindex, ours ? -1 : fd, fl | XDP_FLAGS_REPLACE,
			   &o);
	close(fd);
	if (e == -EEXIST || (ours && e == 0))
		return -EAGAIN;
	if (e == -EBUSY)
		return _jumbo_rx_fail(-EBUSY, "xdp backend: %s has XDP program "
				      "'%s' (id %u) held by a bpf_link of a "
				      "running process%s: stop it first",
				      ifname, pi.name, q.prog_id, ours
				      ? " (another libjumbo receiver)" : "");
	if (ours)
		return _jumbo_rx_fail(e, "xdp backend: %s has a stale libjumbo "
				      "XDP program (id %u) that could not be "
				      "removed: %s; remove it with: ip link set "
				      "dev %s %s off", ifname, q.prog_id,
				      strerror(-e), ifname, mode);
	return _jumbo_rx_fail(-EBUSY, "xdp backend: %s has XDP program '%s' "
			      "(id %u) attached; remove it with: ip link set "
			      "dev %s %s off", ifname, pi.name, q.prog_id,
			      ifname, mode);
}
#endif

#ifdef JUMBO_HAVE_XDP_FILTER
/* src/bpf/xdp_port.bpf.c, compiled (cmake/embed.cmake). */
extern const unsigned char _jumbo_xdp_port_obj[];
extern const unsigned long _jumbo_xdp_port_obj_len;

/*
 * Loads the port filter, its port set; 0, or -errno with the reason
 * recorded.  Its map of sockets is filled once the socket exists
 * (xdp_filter_bind), and it is attached to the interface last
 * (xdp_filter_attach), once the socket is in the map and the fill ring
 * stocked: a frame for the port that finds the filter on the interface
 * finds the receiver ready (before, it went to the kernel's stack, as the
 * filter's XDP_PASS sends what the map has no socket for, and a sender
 * that waited for the filter to show lost its first frames).
 */
static int xdp_filter_load(struct rx_xdp *x, uint16_t port)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "jumbo_xdp");
	uint32_t key = 0, val = htons(port);
	int e;

	x->obj = bpf_object__open_mem(_jumbo_xdp_port_obj,
				      _jumbo_xdp_port_obj_len, &oo);
	if (!x->obj) {
		e = -errno;
		return _jumbo_rx_fail(e, "xdp backend: opening the port filter: "
				      "%s", strerror(-e));
	}
	e = bpf_object__load(x->obj);
	if (e)
		return _jumbo_rx_fail(e, "xdp backend: loading the port filter: "
				      "%s (needs CAP_BPF and CAP_NET_ADMIN)",
				      strerror(-e));
	struct bpf_program *prog =
		bpf_object__find_program_by_name(x->obj, "jumbo_xdp_port");
	struct bpf_map *pm = bpf_object__find_map_by_name(x->obj, "jumbo_port");
	if (!prog || !pm)
		return _jumbo_rx_fail(-ENOENT, "xdp backend: the port filter "
				      "lacks its program or map");
	e = bpf_map_update_elem(bpf_map__fd(pm), &key, &val, BPF_ANY);
	if (e)
		return _jumbo_rx_fail(-errno, "xdp backend: setting the port: %s",
				      strerror(errno));
	return 0;
}

/* The loaded filter onto the interface: 0, or -errno with the reason. */
static int xdp_filter_attach(struct rx_xdp *x, const char *ifname)
{
	struct bpf_program *prog =
		bpf_object__find_program_by_name(x->obj, "jumbo_xdp_port");
	int e = -ENOENT;

	if (!prog)
		return _jumbo_rx_fail(e, "xdp backend: the port filter lacks "
				      "its program");
	/*
	 * Attached through a bpf_link, never by netlink: the link lives as
	 * long as its file descriptor, so the kernel detaches the filter
	 * when this process dies, however it dies (kill -9 included).  A
	 * link never replaces another program; xdp_busy says what is there.
	 */
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = x->xdp_flags);
	for (int tries = 0; tries < 2; tries++) {
		x->link_fd = bpf_link_create(bpf_program__fd(prog), x->ifindex,
					     BPF_XDP, &lo);
		if (x->link_fd >= 0)
			return 0;
		e = -errno;
		if (e != -EBUSY && e != -EEXIST)
			break;
		e = xdp_busy(x, ifname);
		if (e != -EAGAIN)
			return e;
	}
	return _jumbo_rx_fail(e, "xdp backend: attaching the port filter "
			      "to %s: %s%s", ifname, strerror(-e),
			      e == -EINVAL ? " (XDP links need Linux 5.9)"
					   : "");
}

/* The socket goes into the filter's map, at its queue. */
static int xdp_filter_bind(struct rx_xdp *x)
{
	struct bpf_map *m = bpf_object__find_map_by_name(x->obj, "jumbo_xsks");
	int e = m ? xsk_socket__update_xskmap(x->xsk, bpf_map__fd(m)) : -ENOENT;

	return e ? _jumbo_rx_fail(e, "xdp backend: adding the socket to the "
				  "filter's map: %s", strerror(-e)) : 0;
}
#endif

/*
 * Receive queues of ifname (what an AF_XDP socket may bind: the larger of
 * the rx and tx counts, or the combined channels), from the driver
 * (ETHTOOL_GCHANNELS: sysfs would show the namespace that mounted it);
 * 0 if the driver does not say.
 */
unsigned _jumbo_rx_xdp_queues(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	r = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	if (r)
		return 0;
	return (ch.rx_count > ch.tx_count ? ch.rx_count : ch.tx_count) +
	       ch.combined_count;
}

/* 0, or -EINVAL saying in one line that the queue does not exist. */
static int xdp_queue_check(const char *ifname, unsigned queue)
{
	unsigned n = _jumbo_rx_xdp_queues(ifname);

	if (n == 0 || queue < n)
		return 0;
	if (n == 1)
		return _jumbo_rx_fail(-EINVAL, "xdp backend: %s has one "
				      "receive queue (queue 0): there is no "
				      "queue %u", ifname, queue);
	return _jumbo_rx_fail(-EINVAL, "xdp backend: %s has %u receive "
			      "queues (0 to %u): there is no queue %u", ifname,
			      n, n - 1, queue);
}

static void xdp_unref(struct rx_xdp *x)
{
	/* acq_rel: the last one sees every other party's frees. */
	if (__atomic_sub_fetch(&x->live, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	/* -EBUSY (a page of it kept by its caller: reported) leaves it. */
	if (x->own_pool)
		(void)jumbo_pool_destroy(x->pool);
	free(x->kernel);
	free(x);
}

/* An mbuf's page comes back: it is unheld (see above), freed, counted. */
static void xdp_page_free(caddr_t page, void *arg)
{
	struct rx_xdp *x = arg;

	jumbo_pool_unhold(x->pool, page);
	jumbo_pool_free(x->pool, page);
	xdp_unref(x);
}

/* Tops up the fill ring with fresh pages; short of pages, with what there
 * is (the kernel counts the frames it then drops). */
static void xdp_refill(struct rx_xdp *x)
{
	void *v[64];
	unsigned want = x->ring - x->in_fill, idx;

	while (want) {
		unsigned n = want < 64 ? want : 64;
		n = jumbo_pool_alloc_bulk(x->pool, v, n);
		if (n == 0)
			return;
		unsigned got = xsk_ring_prod__reserve(&x->fq, n, &idx);
		for (unsigned i = 0; i < got; i++) {
			uint64_t a = (uint64_t)((char *)v[i] - x->base);
			*xsk_ring_prod__fill_addr(&x->fq, idx + i) = a;
			x->kernel[a / XDP_FRAME] = 1;
		}
		xsk_ring_prod__submit(&x->fq, got);
		for (unsigned i = got; i < n; i++)
			jumbo_pool_free(x->pool, v[i]);
		x->in_fill += got;
		want -= n;
		if (got < n)
			return;
	}
}

/*
 * The kernel's counters, read when a snapshot is taken rather than on every
 * receive (a system call): drops for a full rx ring, and for no pages.
 */
static void xdp_stats(struct jumbo_rx *rx, struct jumbo_rx_stats *st)
{
	struct rx_xdp *x = rx->priv;
	struct xdp_statistics s;
	socklen_t len = sizeof(s);

	if (!x || getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS,
			     &s, &len) != 0)
		return;
	st->kernel_drops = s.rx_dropped + s.rx_ring_full;
	if (len < sizeof(s))
		return;
	st->no_buffer = s.rx_fill_ring_empty_descs;
	/*
	 * In copy mode the kernel counts a frame it had no fill-ring page
	 * for twice: in rx_dropped and in the fill ring's empty count (a
	 * zero-copy driver only in the latter).  It is a no_buffer drop.
	 */
	if (!x->zerocopy)
		st->kernel_drops -= s.rx_dropped < st->no_buffer
					    ? s.rx_dropped
					    : st->no_buffer;
}

/* A descriptor's page the kernel gave back, straight to the pool. */
static void xdp_drop(struct rx_xdp *x, const struct xdp_desc *d)
{
	uint64_t chunk = d->addr & ~(uint64_t)(XDP_FRAME - 1);

	x->kernel[chunk / XDP_FRAME] = 0;
	x->in_fill--;
	jumbo_pool_free(x->pool, x->base + chunk);
}

/* One descriptor's page onto an mbuf, held while out (see above). */
static struct mbuf *xdp_mbuf(struct rx_xdp *x, const struct xdp_desc *d,
			     int hdr)
{
	uint64_t chunk = d->addr & ~(uint64_t)(XDP_FRAME - 1);
	char *page = x->base + chunk;
	struct mbuf *m = hdr ? m_gethdr(M_NOWAIT, MT_DATA)
			     : m_get(M_NOWAIT, MT_DATA);

	x->kernel[chunk / XDP_FRAME] = 0;
	x->in_fill--;
	if (!m || jumbo_pool_hold(x->pool, page) != 0) {
		if (m)
			m_free(m);
		jumbo_pool_free(x->pool, page);
		return NULL;
	}
	__atomic_add_fetch(&x->live, 1, __ATOMIC_RELAXED);
	if (m_extadd_jumbo(m, x->pool, page, xdp_page_free, x) != 0) {
		xdp_page_free(page, x);
		m_free(m);
		return NULL;
	}
	m->m_data = x->base + d->addr;
	m->m_len = (int)d->len;
	return m;
}

static int xdp_recv(struct jumbo_rx *rx, struct mbuf **pkts, unsigned n,
		    int timeout_ms)
{
	struct rx_xdp *x = rx->priv;
	unsigned got = 0, used = 0, avail, idx;

	xdp_refill(x);
	avail = xsk_ring_cons__peek(&x->rx, x->ring, &idx);
	if (avail == 0 && timeout_ms != 0) {
		RX_ADD(rx, syscalls, 1);
		int w = _jumbo_rx_wait(rx->fd, timeout_ms);
		if (w < 0)
			return w;
		avail = xsk_ring_cons__peek(&x->rx, x->ring, &idx);
	}
	while (used < avail && got < n) {
		/* One frame: descriptors up to the first without CONTD. */
		unsigned first = used, last = used;
		while (last < avail &&
		       (xsk_ring_cons__rx_desc(&x->rx, idx + last)->options &
			XDP_PKT_CONTD))
			last++;
		if (last == avail)
			break; /* its end is not in the ring yet */
		used = last + 1;
		size_t len = 0;
		struct mbuf *head = NULL, **tail = &head;
		int broken = 0;
		for (unsigned k = first; k <= last; k++) {
			const struct xdp_desc *d =
				xsk_ring_cons__rx_desc(&x->rx, idx + k);
			struct mbuf *m;
			if (broken) {
				xdp_drop(x, d);
				continue;
			}
			m = xdp_mbuf(x, d, k == first);
			if (!m) {
				broken = 1; /* its page went back */
				continue;
			}
			len += d->len;
			*tail = m;
			tail = &m->m_next;
		}
		if (broken || len > rx->max_frame) {
			/* No mbuf (no memory), or longer than asked for. */
			m_freem(head);
			if (broken)
				RX_ADD(rx, errors, 1);
			else
				RX_ADD(rx, truncated, 1);
			continue;
		}
		head->m_pkthdr.len = (int)len;
		pkts[got++] = head;
		RX_ADD(rx, packets, 1);
		RX_ADD(rx, bytes, len);
		RX_ADD(rx, pages, last + 1 - first);
	}
	/* The sender is in the frame's own headers; the time is ours. */
	if (got) {
		uint64_t now = _jumbo_rx_now();

		for (unsigned i = 0; i < got; i++)
			_jumbo_rx_info(pkts[i], NULL, 0, now,
				       JUMBO_RCV_TS_USER);
	}
	xsk_ring_cons__cancel(&x->rx, avail - used);
	xsk_ring_cons__release(&x->rx, used);
	xdp_refill(x);
	return (int)got;
}

/*
 * libxdp detaches the program it attached when the last socket goes, but
 * only with a BPF file system to keep its books in; without one it leaves
 * it attached, and the interface then sends every frame to a socket that
 * is gone.  So the program libxdp attached for this receiver is detached
 * here, if it is still the one attached (replace-or-fail on its fd).
 */
static void xdp_detach(struct rx_xdp *x)
{
	uint32_t now = 0;

	if (!x->prog_id || bpf_xdp_query_id(x->ifindex, (int)x->xdp_flags, &now) ||
	    now != x->prog_id)
		return;
	int fd = bpf_prog_get_fd_by_id(x->prog_id);
	if (fd < 0)
		return;
	struct bpf_xdp_attach_opts o = { .sz = sizeof(o), .old_prog_fd = fd };
	(void)bpf_xdp_detach(x->ifindex, x->xdp_flags | XDP_FLAGS_REPLACE, &o);
	close(fd);
	x->prog_id = 0;
}

static void xdp_close_quiet(struct jumbo_rx *rx)
{
	struct rx_xdp *x = rx->priv;

	if (!x)
		return;
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		_jumbo_xdp_umem_delete(x->pool, x->umem);
	if (x->link_fd >= 0)
		close(x->link_fd); /* the last reference: detaches */
	xdp_detach(x);
	if (x->obj)
		bpf_object__close(x->obj);
	rx->fd = -1; /* the socket's, closed above */
	/* The pages the kernel held are the receiver's again. */
	for (size_t f = 0; x->kernel && f < x->nframes; f++)
		if (x->kernel[f])
			jumbo_pool_free(x->pool, x->base + f * XDP_FRAME);
	rx->priv = NULL;
	xdp_unref(x);
}

static void xdp_close(struct jumbo_rx *rx)
{
	struct jumbo_xdp_quiet q;

	_jumbo_xdp_quiet_begin(&q);
	xdp_close_quiet(rx);
	_jumbo_xdp_quiet_end(&q);
}

static const struct rx_ops xdp_ops = { xdp_recv, xdp_close, xdp_stats };

/* A pool of the backend's own: room for the rings four times over. */
static struct jumbo_pool *xdp_pool(unsigned ring)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.max_pages = pp.init_pages = (size_t)ring * 4 < 4096 ? 4096 : (size_t)ring * 4;
	pp.name = "xdp";
	return jumbo_pool_create(&pp);
}

static int xdp_open(struct jumbo_rx *rx, const struct jumbo_rx_params *p)
{
	char why[JUMBO_XDP_WHY];
	struct rx_xdp *x;
	unsigned ring = 1;
	int e;

	if (!p->ifname || !*p->ifname)
		return _jumbo_rx_fail(-EINVAL, "xdp backend: no interface "
				      "(ifname) given");
	int ifindex = (int)if_nametoindex(p->ifname);
	if (!ifindex)
		return _jumbo_rx_fail(-ENODEV, "xdp backend: no interface %s",
				      p->ifname);
	if (!_jumbo_rx_xdp_supported())
		return -EOPNOTSUPP;
	uint32_t before = 0;
	unsigned xflags = (p->flags & JUMBO_RX_XDP_NATIVE) ? XDP_FLAGS_DRV_MODE
							   : XDP_FLAGS_SKB_MODE;
	(void)bpf_xdp_query_id(ifindex, (int)xflags, &before);
	while (ring < rx->ring_entries)
		ring <<= 1;
	x = calloc(1, sizeof(*x));
	if (!x)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	x->live = 1;
	x->link_fd = -1;
	x->ring = ring < 64 ? 64 : ring;
	x->own_pool = p->pool == NULL;
	x->pool = p->pool ? p->pool : xdp_pool(x->ring);
	if (!x->pool) {
		free(x);
		return _jumbo_rx_fail(-errno, "xdp backend: no pool of its "
				      "own: %s", strerror(errno));
	}
	rx->pool = x->pool;
	rx->page_size = jumbo_pool_page_size(x->pool);
	x->ifindex = ifindex;
	x->xdp_flags = xflags;
	rx->priv = x;
	rx->ops = &xdp_ops; /* from here on, a failure closes through it */
	e = _jumbo_xdp_umem(x->pool, x->ring, 64, &x->umem, &x->fq, &x->cq,
			    &x->base, &x->nframes, why, sizeof(why));
	if (e)
		return _jumbo_rx_fail(e, "%s", why);
	x->kernel = calloc(x->nframes, 1);
	if (!x->kernel)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	e = xdp_queue_check(p->ifname, p->queue);
	if (e)
		return e;
#ifdef JUMBO_HAVE_XDP_FILTER
	e = xdp_filter_load(x, p->port);
	if (e)
		return e;
	/*
	 * A program on the interface already: say what (or remove a stale
	 * one of ours) now, rather than fail on the busy queue's socket; the
	 * attach at the end sees to one that comes meanwhile.
	 */
	e = xdp_busy(x, p->ifname);
	if (e != -EAGAIN)
		return e;
#else
	if (p->port)
		return _jumbo_rx_fail(-EOPNOTSUPP, "xdp backend: libjumbo was "
				      "built without clang, so without its "
				      "port filter: use port 0 (the whole "
				      "queue)");
#endif
	struct xsk_socket_config sc = {
		.rx_size = x->ring, .tx_size = 64,
		.libxdp_flags = x->obj ? XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD : 0,
		.xdp_flags = xflags,
		.bind_flags = XDP_COPY | XDP_USE_SG,
	};
	if (p->flags & JUMBO_RX_XDP_NATIVE)
		sc.bind_flags = XDP_USE_SG;
	/*
	 * The kernel lets go of a closed socket's queue in deferred work: a
	 * receiver opened right after another closed may find it still
	 * taken (EBUSY) for a moment.
	 */
	for (int tries = 0;; tries++) {
		e = xsk_socket__create(&x->xsk, p->ifname, p->queue, x->umem,
				       &x->rx, &x->tx, &sc);
		if (e != -EBUSY || tries == 50)
			break;
		usleep(20000);
	}
	if (e) {
		x->xsk = NULL;
		return _jumbo_rx_fail(e, "xdp backend: AF_XDP socket on %s "
				      "queue %u: %s%s", p->ifname, p->queue,
				      strerror(-e), e == -ERANGE ?
				      " (the MTU is too large for native "
				      "XDP: try without JUMBO_RX_XDP_NATIVE)"
				      : "");
	}
	rx->fd = xsk_socket__fd(x->xsk);
	rx->port = p->port;
	struct xdp_options xo;
	socklen_t xol = sizeof(xo);
	x->zerocopy = getsockopt(rx->fd, SOL_XDP, XDP_OPTIONS, &xo, &xol) == 0 &&
		      (xo.flags & XDP_OPTIONS_ZEROCOPY);
#ifdef JUMBO_HAVE_XDP_FILTER
	if (x->obj && (e = xdp_filter_bind(x)) != 0)
		return e;
#endif
	/* libxdp's: none before, one now, ours to detach at close. */
	uint32_t after = 0;
	if (!x->obj && !before &&
	    !bpf_xdp_query_id(x->ifindex, (int)xflags, &after))
		x->prog_id = after;
	xdp_refill(x);
	if (x->in_fill == 0)
		return _jumbo_rx_fail(-ENOMEM, "xdp backend: no pages for the "
				      "fill ring");
#ifdef JUMBO_HAVE_XDP_FILTER
	/* Last: see xdp_filter_load. */
	if (x->obj && (e = xdp_filter_attach(x, p->ifname)) != 0)
		return e;
#endif
	return 0;
}

int _jumbo_rx_xdp_open(struct jumbo_rx *rx, const struct jumbo_rx_params *p)
{
	struct jumbo_xdp_quiet q;
	int e;

	_jumbo_xdp_quiet_begin(&q);
	e = xdp_open(rx, p);
	_jumbo_xdp_quiet_end(&q);
	return e;
}

#endif
