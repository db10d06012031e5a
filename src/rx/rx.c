/*
 * The receive interface: parameters, dispatch to a backend, counters, and
 * what the backends share (the socket, waiting, cutting a chain to size).
 */
#include "rx_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sock_diag.h>


static _Thread_local char rx_errbuf[256];

int _jumbo_rx_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rx_errbuf, sizeof(rx_errbuf), fmt, ap);
	va_end(ap);
	return err;
}

JUMBO_API const char *jumbo_rx_strerror(void)
{
	return rx_errbuf[0] ? rx_errbuf : "no error";
}

JUMBO_API void jumbo_rx_params_init(struct jumbo_rx_params *p)
{
	memset(p, 0, sizeof(*p));
	p->backend = JUMBO_RX_DEFAULT;
	p->addr = "127.0.0.1";
	p->max_frame = 9000;
	p->batch = 0; /* by frame size: rx_batch() */
	p->ring_entries = 256;
	p->rcvbuf = 16 << 20;
}

static const char *const rx_names[] = {
	[JUMBO_RX_DEFAULT] = "default",
	[JUMBO_RX_UDP] = "udp",
	[JUMBO_RX_TCP] = "tcp",
	[JUMBO_RX_URING] = "uring",
	[JUMBO_RX_XDP] = "xdp",
};

JUMBO_API const char *jumbo_rx_backend_name(enum jumbo_rx_backend b)
{
	if ((unsigned)b >= sizeof(rx_names) / sizeof(rx_names[0]))
		return "unknown";
	return rx_names[b];
}

JUMBO_API int jumbo_rx_backend_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(rx_names) / sizeof(rx_names[0]); i++)
		if (strcmp(name, rx_names[i]) == 0)
			return (int)i;
	if (strcmp(name, "io_uring") == 0)
		return JUMBO_RX_URING;
	return -EINVAL;
}

JUMBO_API int jumbo_rx_backend_supported(enum jumbo_rx_backend b)
{
	switch (b) {
	case JUMBO_RX_DEFAULT:
	case JUMBO_RX_UDP:
	case JUMBO_RX_TCP:
		return 1;
	case JUMBO_RX_URING:
		return _jumbo_rx_uring_supported();
	case JUMBO_RX_XDP:
		return _jumbo_rx_xdp_supported();
	}
	_jumbo_rx_fail(-EINVAL, "unknown backend %d", (int)b);
	return 0;
}

static unsigned rx_pow2(unsigned v)
{
	unsigned r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

/*
 * The batch a receiver uses when the caller leaves it 0.  A batch's
 * buffers are what the kernel copies into during one call, and the pages
 * come back to be written again: while a batch fits in the cache, the
 * copy writes lines still there; past it, every byte costs a miss.
 * jumbo-bench-rx (bench/RX.md) on this project's machines: batch 64
 * gave 0.72x of one reused buffer at 9000 bytes and 0.42x at 65000;
 * batches of about 128 KiB (10 at 9000, 2 at 65000) gave 0.99x and
 * 0.93x, and at 1500 and 4096 bytes the batch made no difference.  So:
 * as many frames (rounded to 4 KiB, what the copy touches) as fit
 * 128 KiB, from 2 to 32 (32 was the fixed default before).  tcp keeps
 * 32: its slots are chains per readv, not buffers written per call.
 */
static unsigned rx_batch(const struct jumbo_rx_params *p,
			 enum jumbo_rx_backend b, size_t frame)
{
	size_t touched = (frame + 4095) & ~(size_t)4095, n;

	if (p->batch)
		return p->batch;
	if (b == JUMBO_RX_TCP)
		return 32;
	n = (128u << 10) / touched;
	return n < 2 ? 2 : n > 32 ? 32 : (unsigned)n;
}

JUMBO_API int jumbo_rx_limits(const struct jumbo_rx_params *p,
			      struct jumbo_rx_limits *l)
{
	struct jumbo_rx_params d;
	enum jumbo_rx_backend b;
	size_t page, frame, ppf;
	unsigned batch, ring;

	if (!l)
		return -EINVAL;
	if (!p) {
		jumbo_rx_params_init(&d);
		p = &d;
	}
	if ((unsigned)p->backend > JUMBO_RX_XDP)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	b = p->backend == JUMBO_RX_DEFAULT ? JUMBO_RX_UDP : p->backend;
	/* What open will use: the pool's page (xdp: always 4 KiB). */
	page = b == JUMBO_RX_XDP ? 4096
	       : p->pool ? jumbo_pool_page_size(p->pool) : jumbo_page_size();
	frame = p->max_frame ? p->max_frame : 9000;
	batch = rx_batch(p, b, frame);
	ring = p->ring_entries ? p->ring_entries : 256;
	l->max_batch = RX_MAX_BATCH;
	l->batch = batch;
	l->max_ring_entries = RX_MAX_RING;
	l->max_frame = RX_MAX_FRAME_DGRAM;
	ppf = (frame + page - 1) / page;
	l->frame_pages = ppf;
	switch (b) {
	case JUMBO_RX_TCP:
		/* A frame's pages and the next prefix in one readv. */
		l->max_frame = (RX_TCP_MAX_IOV - 1) * page;
		if (l->max_frame > RX_MAX_FRAME_STREAM)
			l->max_frame = RX_MAX_FRAME_STREAM;
		if (p->flags & JUMBO_RX_LEN32)
			l->pages_kept = ppf; /* the frame being read, if any */
		else
			l->pages_kept = ppf * (batch * ppf > RX_TCP_MAX_IOV
						       ? RX_TCP_MAX_IOV / ppf
						       : batch);
		break;
	case JUMBO_RX_URING:
		/* A run per ring entry: a header page and the frame's. */
		l->pages_kept = (size_t)rx_pow2(ring) * (1 + ppf);
		break;
	case JUMBO_RX_XDP:
		/* The fill ring: a page per entry; a frame is link layer. */
		ring = rx_pow2(ring);
		l->pages_kept = ring < 64 ? 64 : ring;
		if (p->ifname && *p->ifname) {
			if (!if_nametoindex(p->ifname))
				return -ENODEV;
			l->queues = _jumbo_rx_xdp_queues(p->ifname);
		}
		break;
	default:
		l->pages_kept = (size_t)batch * ppf; /* a chain per slot */
		break;
	}
	return 0;
}

JUMBO_API struct jumbo_rx *jumbo_rx_open(const struct jumbo_rx_params *p,
					 int *err)
{
	struct jumbo_rx_params d;
	struct jumbo_rx *rx = NULL;
	size_t limit;
	int e;

	rx_errbuf[0] = 0;
	if (!p) {
		jumbo_rx_params_init(&d);
		p = &d;
	}
	if ((unsigned)p->backend > JUMBO_RX_XDP) {
		e = _jumbo_rx_fail(-EINVAL, "unknown backend %d",
				   (int)p->backend);
		goto fail;
	}
	limit = p->backend == JUMBO_RX_TCP ? RX_MAX_FRAME_STREAM
					   : RX_MAX_FRAME_DGRAM;
	if (p->max_frame > limit || p->batch > RX_MAX_BATCH ||
	    p->ring_entries > RX_MAX_RING || p->rcvbuf < 0) {
		e = _jumbo_rx_fail(-EINVAL,
				   "bad parameter: max_frame %zu (at most %zu), "
				   "batch %u (at most %u), ring_entries %u (at "
				   "most 32768), rcvbuf %d",
				   p->max_frame, limit, p->batch, RX_MAX_BATCH,
				   p->ring_entries, p->rcvbuf);
		goto fail;
	}
	rx = calloc(1, sizeof(*rx));
	if (!rx) {
		e = _jumbo_rx_fail(-ENOMEM, "out of memory");
		goto fail;
	}
	rx->fd = -1;
	rx->backend = p->backend == JUMBO_RX_DEFAULT ? JUMBO_RX_UDP
						     : p->backend;
	rx->max_frame = p->max_frame ? p->max_frame : 9000;
	rx->batch = rx_batch(p, rx->backend, rx->max_frame);
	rx->ring_entries = p->ring_entries ? p->ring_entries : 256;
	rx->flags = p->flags;
	rx->pool = p->pool;
	/* xdp makes a pool of its own when given none. */
	if (!rx->pool && rx->backend != JUMBO_RX_XDP) {
		if (!jumbo_vm_init() || !(rx->pool = jumbo_default_pool())) {
			e = _jumbo_rx_fail(-ENOMEM,
					   "the default pool could not be made");
			goto fail;
		}
	}
	rx->page_size = rx->pool ? jumbo_pool_page_size(rx->pool) : 0;
	switch (rx->backend) {
	case JUMBO_RX_TCP:
		e = _jumbo_rx_tcp_open(rx, p);
		break;
	case JUMBO_RX_URING:
		e = _jumbo_rx_uring_open(rx, p);
		break;
	case JUMBO_RX_XDP:
		e = _jumbo_rx_xdp_open(rx, p);
		break;
	default:
		e = _jumbo_rx_udp_open(rx, p);
		break;
	}
	if (e)
		goto fail;
	return rx;
fail:
	if (rx) {
		if (rx->ops)
			rx->ops->close(rx);
		if (rx->fd >= 0)
			close(rx->fd);
		free(rx);
	}
	/* Every failure has its words, even one a backend did not phrase. */
	if (!rx_errbuf[0])
		_jumbo_rx_fail(e, "%s", strerror(-e));
	if (err)
		*err = e;
	errno = -e;
	return NULL;
}

JUMBO_API int jumbo_rx_recv(struct jumbo_rx *rx, struct mbuf **pkts,
			    unsigned n, int timeout_ms)
{
	if (!rx || !pkts)
		return -EINVAL;
	if (n == 0)
		return 0;
	return rx->ops->recv(rx, pkts, n, timeout_ms);
}

JUMBO_API int jumbo_rx_stats(struct jumbo_rx *rx, struct jumbo_rx_stats *st)
{
	const uint64_t *src;
	uint64_t *dst;

	if (!rx || !st)
		return -EINVAL;
	/* Field by field: the struct is all uint64_t counters. */
	src = (const uint64_t *)&rx->st;
	dst = (uint64_t *)st;
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	if (rx->ops->stats)
		rx->ops->stats(rx, st);
	return 0;
}

JUMBO_API struct jumbo_pool *jumbo_rx_pool(const struct jumbo_rx *rx)
{
	return rx ? rx->pool : NULL;
}

JUMBO_API uint16_t jumbo_rx_port(const struct jumbo_rx *rx)
{
	return rx ? rx->port : 0;
}

JUMBO_API int jumbo_rx_fd(const struct jumbo_rx *rx)
{
	return rx ? rx->fd : -1;
}

JUMBO_API enum jumbo_rx_backend jumbo_rx_backend_of(const struct jumbo_rx *rx)
{
	return rx ? rx->backend : JUMBO_RX_DEFAULT;
}

JUMBO_API int jumbo_rx_close(struct jumbo_rx *rx)
{
	if (!rx)
		return -EINVAL;
	rx->ops->close(rx);
	if (rx->fd >= 0)
		close(rx->fd);
	free(rx);
	return 0;
}

/* ---- shared by the backends --------------------------------------------- */

int _jumbo_rx_socket(struct jumbo_rx *rx, const struct jumbo_rx_params *p,
		     int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, sz = p->rcvbuf ? p->rcvbuf : 16 << 20;

	const char *addr = p->addr ? p->addr : "127.0.0.1";

	if (_jumbo_sockaddr(addr, p->port, &ss, &len))
		return _jumbo_rx_fail(-EINVAL,
				      "'%s' is not a numeric IPv4 or IPv6 "
				      "address", addr);
	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return _jumbo_rx_fail(-errno, "socket: %s", strerror(errno));
	/*
	 * A burst of jumbo datagrams fills the default 208 KiB receive
	 * buffer in about twenty frames (each costs its truesize, not its
	 * length); FORCE passes rmem_max when we may, else the kernel caps.
	 */
	if ((p->flags & JUMBO_RX_NOFORCE) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (type == SOCK_STREAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		int e = -errno;
		close(fd);
		return _jumbo_rx_fail(e, "bind %s port %u: %s", addr,
				      p->port, strerror(-e));
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	rx->port = ntohs(ss.ss_family == AF_INET
				 ? ((struct sockaddr_in *)&ss)->sin_port
				 : ((struct sockaddr_in6 *)&ss)->sin6_port);
	rx->fd = fd;
	return 0;
}

void _jumbo_rx_sock_drops(struct jumbo_rx *rx, struct jumbo_rx_stats *st)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	/*
	 * The socket's own drop count (sk_drops: a full receive buffer, a
	 * bad checksum), read now rather than from SO_RXQ_OVFL, which only
	 * comes with the next datagram: a burst dropped while the receiver
	 * was stopped shows as soon as anyone asks.  The kernel keeps it in
	 * 32 bits; a socket of this receiver starts at 0.
	 */
	if (rx->fd >= 0 &&
	    getsockopt(rx->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
	    len > SK_MEMINFO_DROPS * sizeof(uint32_t))
		st->kernel_drops = mem[SK_MEMINFO_DROPS];
}

int _jumbo_rx_wait(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r = poll(&pfd, 1, timeout_ms);

	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r;
}

unsigned _jumbo_rx_cut(struct mbuf *m, size_t len)
{
	struct mbuf *n = m, *rest;
	unsigned pages = 0;
	size_t left = len;

	m->m_pkthdr.len = len;
	for (;;) {
		size_t cap = n->m_ext.ext_size - (size_t)(n->m_data -
							  n->m_ext.ext_buf);
		n->m_len = left < cap ? left : cap;
		left -= n->m_len;
		pages++;
		if (left == 0 || !n->m_next)
			break;
		n = n->m_next;
	}
	rest = n->m_next;
	n->m_next = NULL;
	m_freem(rest);
	return pages;
}

struct mbuf *_jumbo_rx_empty(struct jumbo_rx *rx)
{
	struct mbuf *m = m_gethdr(M_NOWAIT, MT_DATA);

	if (!m) {
		RX_ADD(rx, no_buffer, 1);
		return NULL;
	}
	m->m_pkthdr.len = 0;
	return m;
}

unsigned _jumbo_rx_slots(struct jumbo_rx *rx, struct mbuf **slot,
			 unsigned nslots, unsigned want, size_t size)
{
	unsigned have = 0;

	for (unsigned i = 0; i < nslots; i++)
		if (slot[i]) {
			struct mbuf *m = slot[i];
			slot[i] = NULL;
			slot[have++] = m;
		}
	while (have < want) {
		struct mbuf *m = m_getjumbo(rx->pool, size, NULL);
		if (!m)
			break; /* pool exhausted: receive into what there is */
		slot[have++] = m;
	}
	return have < want ? have : want;
}
