/*
 * The udp backend: recvmmsg(2) into chains of pool pages.
 *
 * Like a NIC's receive ring, the backend keeps one chain per batch slot,
 * built for the largest frame (m_getjumbo(max_frame): two whole 4 KiB pages
 * and one of 808 bytes for 9000), and posts their pages as the iovecs of
 * one recvmmsg.  A datagram is scattered over its chain by the kernel: no
 * copy in user space.  The chain is then cut to the datagram's length (the
 * pages it did not need go back to the pool) and handed out; its slot is
 * refilled on the next call.
 *
 * The iovecs add up to exactly max_frame, so a longer datagram comes back
 * with MSG_TRUNC: it is counted and dropped, and its chain stays for the
 * next one.  What the socket itself dropped (a full receive buffer) is
 * read from the socket when the counters are taken (SO_MEMINFO).  Each
 * packet header carries its sender (msg_name) and the kernel's receive
 * time (SO_TIMESTAMPNS).
 */
#include "rx_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct rx_udp {
	unsigned nslots;
	unsigned ppf;            /* pages per frame: iovecs per slot */
	struct mbuf **slot;      /* nslots chains, NULL while empty */
	struct mmsghdr *msg;     /* nslots */
	struct iovec *iov;       /* nslots * ppf */
	char (*ctl)[CMSG_SPACE(sizeof(struct timespec))];
	struct sockaddr_in6 *name; /* nslots: each datagram's sender */
	char sink[64];           /* drops land here when there are no pages */
};

/*
 * No pages for even one slot: receive into a small sink with MSG_TRUNC so
 * the datagrams leave the socket, and count them as "no buffer" drops, as
 * a NIC with an empty ring does.  Returns 0 or -errno.
 */
static int udp_drop(struct jumbo_rx *rx, struct rx_udp *u, int timeout_ms)
{
	struct mmsghdr mm[32];
	struct iovec iov = { u->sink, sizeof(u->sink) };
	int r;

	if (timeout_ms != 0) {
		r = _jumbo_rx_wait(rx->fd, timeout_ms);
		if (r <= 0)
			return r;
	}
	memset(mm, 0, sizeof(mm));
	for (unsigned i = 0; i < 32; i++) {
		mm[i].msg_hdr.msg_iov = &iov;
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	r = recvmmsg(rx->fd, mm, 32, MSG_DONTWAIT | MSG_TRUNC, NULL);
	RX_ADD(rx, syscalls, 1);
	if (r > 0)
		RX_ADD(rx, no_buffer, r);
	return 0;
}

static void udp_post(struct rx_udp *u, unsigned i)
{
	struct msghdr *mh = &u->msg[i].msg_hdr;
	struct iovec *iov = &u->iov[(size_t)i * u->ppf];
	unsigned k = 0;

	for (struct mbuf *m = u->slot[i]; m && k < u->ppf; m = m->m_next) {
		iov[k].iov_base = m->m_data;
		iov[k].iov_len = m->m_len;
		k++;
	}
	memset(mh, 0, sizeof(*mh));
	mh->msg_iov = iov;
	mh->msg_iovlen = k;
	mh->msg_name = &u->name[i];
	mh->msg_namelen = sizeof(u->name[i]);
	mh->msg_control = u->ctl[i];
	mh->msg_controllen = sizeof(u->ctl[i]);
}

/* Sender and time of datagram i onto its packet header m. */
static void udp_info(struct rx_udp *u, unsigned i, struct mbuf *m,
		     uint64_t *now)
{
	struct msghdr *mh = &u->msg[i].msg_hdr;
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;

			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			_jumbo_rx_info(m, mh->msg_name, mh->msg_namelen,
				       (uint64_t)ts.tv_sec * 1000000000u +
					       (uint64_t)ts.tv_nsec,
				       JUMBO_RCV_TS_KERNEL);
			return;
		}
	/* No timestamp from the kernel (none asked for, or refused). */
	if (*now == 0)
		*now = _jumbo_rx_now();
	_jumbo_rx_info(m, mh->msg_name, mh->msg_namelen, *now,
		       JUMBO_RCV_TS_USER);
}

static int udp_recv(struct jumbo_rx *rx, struct mbuf **pkts, unsigned n,
		    int timeout_ms)
{
	struct rx_udp *u = rx->priv;
	unsigned want = n < u->nslots ? n : u->nslots, have, out = 0;
	uint64_t now = 0;
	int r;

	have = _jumbo_rx_slots(rx, u->slot, u->nslots, want, rx->max_frame);
	if (have == 0)
		return udp_drop(rx, u, timeout_ms);
	for (unsigned i = 0; i < have; i++)
		udp_post(u, i);
	/* At most two tries: now, and once more after waiting. */
	for (int tries = 0; tries < 2; tries++) {
		r = recvmmsg(rx->fd, u->msg, have, MSG_DONTWAIT, NULL);
		RX_ADD(rx, syscalls, 1);
		if (r >= 0)
			break;
		if (errno == EAGAIN && tries == 0 && timeout_ms != 0) {
			r = _jumbo_rx_wait(rx->fd, timeout_ms);
			if (r <= 0)
				return r;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		/* An ICMP error queued on the socket: count it, go on. */
		if (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
		    errno == ENETUNREACH) {
			RX_ADD(rx, errors, 1);
			return 0;
		}
		return -errno;
	}
	for (unsigned i = 0; i < (unsigned)r; i++) {
		struct msghdr *mh = &u->msg[i].msg_hdr;
		size_t len = u->msg[i].msg_len;

		if (mh->msg_flags & MSG_TRUNC) {
			/* Longer than max_frame: never delivered as whole. */
			RX_ADD(rx, truncated, 1);
			continue;
		}
		if (len == 0) {
			/* Empty: the slot's pages stay for the next one. */
			if ((pkts[out] = _jumbo_rx_empty(rx)))
				udp_info(u, i, pkts[out++], &now);
			continue;
		}
		udp_info(u, i, u->slot[i], &now);
		RX_ADD(rx, pages, _jumbo_rx_cut(u->slot[i], len));
		RX_ADD(rx, bytes, len);
		pkts[out++] = u->slot[i];
		u->slot[i] = NULL;
	}
	RX_ADD(rx, packets, out);
	return (int)out;
}

static void udp_close(struct jumbo_rx *rx)
{
	struct rx_udp *u = rx->priv;

	if (!u)
		return;
	for (unsigned i = 0; u->slot && i < u->nslots; i++)
		m_freem(u->slot[i]);
	free(u->slot);
	free(u->msg);
	free(u->iov);
	free(u->ctl);
	free(u->name);
	free(u);
	rx->priv = NULL;
}

static const struct rx_ops udp_ops = { udp_recv, udp_close,
					_jumbo_rx_sock_drops };

int _jumbo_rx_udp_open(struct jumbo_rx *rx, const struct jumbo_rx_params *p)
{
	struct rx_udp *u;
	int e;

	e = _jumbo_rx_socket(rx, p, SOCK_DGRAM);
	if (e)
		return e;
	/* The kernel's receive time on every datagram (else ours). */
	if (!(rx->flags & JUMBO_RX_NOTSTAMP))
		(void)setsockopt(rx->fd, SOL_SOCKET, SO_TIMESTAMPNS,
				 &(int){ 1 }, sizeof(int));
	u = calloc(1, sizeof(*u));
	if (!u)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	rx->priv = u;
	rx->ops = &udp_ops;
	u->nslots = rx->batch;
	u->ppf = (unsigned)((rx->max_frame + rx->page_size - 1) / rx->page_size);
	if (u->ppf > IOV_MAX)
		return _jumbo_rx_fail(-EINVAL, "max_frame %zu needs %u pages, "
				      "more than IOV_MAX", rx->max_frame, u->ppf);
	u->slot = calloc(u->nslots, sizeof(*u->slot));
	u->msg = calloc(u->nslots, sizeof(*u->msg));
	u->iov = calloc((size_t)u->nslots * u->ppf, sizeof(*u->iov));
	u->ctl = calloc(u->nslots, sizeof(*u->ctl));
	u->name = calloc(u->nslots, sizeof(*u->name));
	if (!u->slot || !u->msg || !u->iov || !u->ctl || !u->name)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	return 0;
}
