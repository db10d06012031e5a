/*
 * The udp and tcp backends: sendmmsg(2) and sendmsg(2) with iovecs over
 * the chains' pages, and MSG_ZEROCOPY.
 *
 * With SO_ZEROCOPY set, the kernel gives every successful send call with
 * MSG_ZEROCOPY the next 32-bit id of the socket (a call that fails takes
 * none: the kernel takes it back), and reports on the socket's error queue,
 * as ranges lo..hi, the ids whose data it no longer needs
 * (SO_EE_ORIGIN_ZEROCOPY; SO_EE_CODE_ZEROCOPY_COPIED when it copied after
 * all).  sendmmsg makes one call per datagram, so a datagram is one id;
 * a zero-length datagram takes no id, so it is sent without the flag.
 * The pages of a call stay held (tx.c) until its id is reported.
 *
 * Back-pressure: the socket is nonblocking; EAGAIN (buffer full) and
 * ENOBUFS (the socket's option memory, which the kernel charges for each
 * outstanding notification, is spent) are "full": the sender reaps
 * completions, waits if told to, and never queues more than one partly
 * sent tcp frame of its own.
 */
#include "tx_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif
#ifndef SO_EE_CODE_ZEROCOPY_COPIED
#define SO_EE_CODE_ZEROCOPY_COPIED 1
#endif

#define SOCK_IOV 1024u /* iovecs per system call */
#define TCP_CONNECT_MS 10000

struct tx_sock {
	struct mmsghdr *msg;   /* batch */
	struct iovec *iov;     /* SOCK_IOV */
	uint32_t next_id;      /* the id the next zero-copy call gets */
	struct mbuf *part;     /* tcp: a chain partly sent, ours now */
	size_t part_off;       /* bytes of it sent */
};

static bool tx_is_full(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS;
}

/* The peer or the way to it is gone: the frame is dropped, counted. */
static bool tx_is_unreachable(int e)
{
	return e == EHOSTUNREACH || e == ENETUNREACH || e == ENETDOWN ||
	       e == EHOSTDOWN || e == ENONET || e == EADDRNOTAVAIL;
}

/*
 * ENOBUFS with no zero-copy send outstanding: the socket's option memory
 * cannot track even one notification, so waiting for completions would
 * never end.  Zero copy is given up; true if so (send again).
 */
static bool sock_zc_spent(struct jumbo_tx *tx, int e)
{
	if (e != ENOBUFS || tx->rec_head != tx->rec_tail)
		return false;
	tx->zc = false;
	TX_SET(tx, zc_off, 1);
	return true;
}

/* Reads every notification queued; completions, or -errno. */
static int sock_reap(struct jumbo_tx *tx)
{
	int got = 0;

	while (tx->rec_head != tx->rec_tail) {
		char ctl[CMSG_SPACE(sizeof(struct sock_extended_err)) + 64];
		struct msghdr mh = { .msg_control = ctl,
				     .msg_controllen = sizeof(ctl) };
		struct cmsghdr *c;

		if (recvmsg(tx->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		TX_ADD(tx, syscalls, 1);
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			struct sock_extended_err ee;

			if (!((c->cmsg_level == SOL_IP &&
			       c->cmsg_type == IP_RECVERR) ||
			      (c->cmsg_level == SOL_IPV6 &&
			       c->cmsg_type == IPV6_RECVERR)))
				continue;
			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			if (ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY)
				continue;
			got += (int)_jumbo_tx_done(
				tx, ee.ee_info, ee.ee_data,
				ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED);
		}
	}
	return got;
}

/*
 * Waits up to ms for room to send (POLLOUT) or for a completion
 * (POLLERR, always reported), and reaps.  0 or -errno; a pending socket
 * error (ICMP) is left for the next send to report.
 */
static int sock_wait(struct jumbo_tx *tx, int ms, bool want_out)
{
	struct pollfd pfd = { .fd = tx->fd, .events = want_out ? POLLOUT : 0 };
	int r = poll(&pfd, 1, ms);

	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	r = sock_reap(tx);
	if (r == 0 && (pfd.revents & POLLERR) && !want_out) {
		/* Not a notification: an error the socket holds.  Take it,
		 * so that POLLERR does not make this a busy loop. */
		int e = 0;
		socklen_t l = sizeof(e);
		getsockopt(tx->fd, SOL_SOCKET, SO_ERROR, &e, &l);
		if (e == ECONNREFUSED)
			TX_ADD(tx, refused, 1);
		else if (e)
			TX_ADD(tx, errors, 1);
	}
	return r < 0 ? r : 0;
}

/*
 * The socket, or the table of sends in flight, is full: counts it, reaps,
 * and with JUMBO_TX_WAIT waits (up to the deadline, set on the first wait
 * of the call) for room (want_out: POLLOUT) or a completion.  1: try
 * again; 0: stop for this call; -errno.
 */
static int sock_full(struct jumbo_tx *tx, unsigned flags, uint64_t *deadline,
		     bool want_out)
{
	int left, r;

	TX_ADD(tx, full, 1);
	if (tx->rec_head != tx->rec_tail && sock_reap(tx) > 0)
		return 1;
	if (!(flags & JUMBO_TX_WAIT))
		return 0;
	if (!*deadline)
		*deadline = _jumbo_tx_deadline(tx->wait_ms);
	left = _jumbo_tx_left(*deadline);
	if (left == 0)
		return 0;
	r = sock_wait(tx, left, want_out);
	return r < 0 ? r : 1;
}

/* A chain the kernel took in full. */
static void sock_taken(struct jumbo_tx *tx, struct mbuf *m, bool zc)
{
	TX_ADD(tx, packets, 1);
	TX_ADD(tx, bytes, m->m_pkthdr.len);
	if (zc)
		_jumbo_tx_rec_add(tx, m);
	else
		m_freem(m);
}

static void sock_drop(struct jumbo_tx *tx, struct mbuf *m)
{
	TX_ADD(tx, dropped, 1);
	m_freem(m);
}

/*
 * Iovecs over the chain from byte off: how many (an empty chain is one
 * empty iovec, a zero-length datagram), or 0 if they need more than max.
 */
static unsigned sock_iov(struct iovec *iov, unsigned max, struct mbuf *m,
			 size_t off)
{
	unsigned k = 0;

	if (max == 0)
		return 0;
	iov[0].iov_base = NULL;
	iov[0].iov_len = 0;
	for (; m; m = m->m_next) {
		if (off >= m->m_len) {
			off -= m->m_len;
			continue;
		}
		if (k == max)
			return 0;
		iov[k].iov_base = m->m_data + off;
		iov[k++].iov_len = m->m_len - off;
		off = 0;
	}
	return k ? k : 1;
}

static int udp_send(struct jumbo_tx *tx, struct mbuf **pkts, unsigned n,
		    unsigned flags)
{
	struct tx_sock *s = tx->priv;
	uint64_t deadline = 0;
	unsigned taken = 0;
	int err = 0;

	if (tx->rec_head != tx->rec_tail)
		(void)sock_reap(tx);
	while (taken < n) {
		bool zc = tx->zc && pkts[taken]->m_pkthdr.len > 0, toobig = false;
		unsigned k = 0, used = 0, v;
		size_t need = 0;
		int r;

		/* The batch: chains while iovecs (and held pages) last;
		 * zero-copy and plain datagrams never share a call. */
		while (taken + k < n && k < tx->batch) {
			struct mbuf *m = pkts[taken + k];
			bool mzc = tx->zc && m->m_pkthdr.len > 0;
			size_t np = _jumbo_tx_pages(m);

			if (mzc != zc)
				break;
			if (zc && (tx->rec_tail - tx->rec_head + k >= tx->rec_cap ||
				   tx->pg_tail - tx->pg_head + need + np >
					   tx->pg_cap))
				break;
			v = sock_iov(s->iov + used, SOCK_IOV - used, m, 0);
			if (!v) {
				toobig = k == 0;
				break;
			}
			memset(&s->msg[k], 0, sizeof(s->msg[k]));
			s->msg[k].msg_hdr.msg_iov = s->iov + used;
			s->msg[k].msg_hdr.msg_iovlen = v;
			used += v;
			need += np;
			k++;
		}
		if (toobig) {
			/* More pieces than a call can carry. */
			TX_ADD(tx, errors, 1);
			sock_drop(tx, pkts[taken++]);
			continue;
		}
		if (k == 0) {
			/* The table of sends in flight is full. */
			r = sock_full(tx, flags, &deadline, false);
			if (r > 0)
				continue;
			err = r;
			break;
		}
		r = sendmmsg(tx->fd, s->msg, k,
			     MSG_DONTWAIT | MSG_NOSIGNAL | (zc ? MSG_ZEROCOPY : 0));
		TX_ADD(tx, syscalls, 1);
		if (r > 0) {
			for (int i = 0; i < r; i++) {
				if (zc)
					_jumbo_tx_rec_open(tx, s->next_id++, true);
				sock_taken(tx, pkts[taken + i], zc);
			}
			taken += (unsigned)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (zc && sock_zc_spent(tx, errno))
			continue;
		if (tx_is_full(errno)) {
			r = sock_full(tx, flags, &deadline, true);
			if (r > 0)
				continue;
			err = r;
			break;
		}
		/* The first datagram failed: count it, drop it, go on. */
		if (errno == ECONNREFUSED)
			TX_ADD(tx, refused, 1);
		else if (tx_is_unreachable(errno))
			TX_ADD(tx, unreachable, 1);
		else if (errno == EMSGSIZE || errno == EINVAL)
			TX_ADD(tx, errors, 1);
		else {
			err = -errno;
			break;
		}
		sock_drop(tx, pkts[taken++]);
	}
	if (taken < n && (flags & JUMBO_TX_DROP)) {
		while (taken < n)
			sock_drop(tx, pkts[taken++]);
	}
	return taken ? (int)taken : err;
}

/*
 * tcp: the partial chain (if any) then pkts, as one stream; each call
 * sends what fits.  Returns chains of pkts taken, or -errno.
 */
static int tcp_send(struct jumbo_tx *tx, struct mbuf **pkts, unsigned n,
		    unsigned flags)
{
	struct tx_sock *s = tx->priv;
	uint64_t deadline = 0;
	unsigned taken = 0;
	int err = 0;

	if (tx->rec_head != tx->rec_tail)
		(void)sock_reap(tx);
	while (!tx->dead && (s->part || taken < n)) {
		struct msghdr mh = { .msg_iov = s->iov };
		bool zc = tx->zc, toobig = false;
		unsigned used = 0, k = 0, v;
		size_t need = 0;
		ssize_t r;

		if (s->part) {
			used = sock_iov(s->iov, SOCK_IOV, s->part, s->part_off);
			need = _jumbo_tx_pages(s->part);
		}
		while (taken + k < n && k < tx->batch) {
			struct mbuf *m = pkts[taken + k];
			size_t np = _jumbo_tx_pages(m);

			if (zc && tx->pg_tail - tx->pg_head + need + np >
					  tx->pg_cap)
				break;
			v = sock_iov(s->iov + used, SOCK_IOV - used, m, 0);
			if (!v) {
				toobig = used == 0;
				break;
			}
			used += v;
			need += np;
			k++;
		}
		if (toobig) {
			/* More pieces than a call can carry. */
			TX_ADD(tx, errors, 1);
			sock_drop(tx, pkts[taken++]);
			continue;
		}
		if (zc && !tx_room(tx, need)) {
			/* Wait for completions, not for the socket. */
			r = sock_full(tx, flags, &deadline, false);
			if (r > 0)
				continue;
			err = (int)r;
			break;
		}
		mh.msg_iovlen = used;
		r = sendmsg(tx->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL |
					 (zc ? MSG_ZEROCOPY : 0));
		TX_ADD(tx, syscalls, 1);
		if (r > 0) {
			size_t left = (size_t)r;
			if (zc)
				_jumbo_tx_rec_open(tx, s->next_id++, true);
			if (s->part) {
				size_t rest = s->part->m_pkthdr.len - s->part_off;
				if (left < rest) {
					s->part_off += left;
					continue;
				}
				left -= rest;
				TX_ADD(tx, packets, 1);
				TX_ADD(tx, bytes, s->part->m_pkthdr.len);
				_jumbo_tx_retire(tx, s->part);
				s->part = NULL;
			}
			while (left > 0 || (taken < n && pkts[taken]->m_pkthdr.len == 0)) {
				struct mbuf *m = pkts[taken++];
				size_t len = m->m_pkthdr.len;
				if (left < len) {
					/* Partly sent: ours, finished later. */
					s->part = m;
					s->part_off = left;
					break;
				}
				left -= len;
				sock_taken(tx, m, zc);
			}
			continue;
		}
		if (r == 0) {
			/* Only empty chains: taken, nothing to send. */
			while (k--)
				sock_taken(tx, pkts[taken++], false);
			continue;
		}
		if (errno == EINTR)
			continue;
		if (zc && sock_zc_spent(tx, errno))
			continue;
		if (tx_is_full(errno)) {
			r = sock_full(tx, flags, &deadline, true);
			if (r > 0)
				continue;
			err = (int)r;
			break;
		}
		/* The stream is gone (reset, peer closed, timed out). */
		tx->dead = -errno;
		if (errno == ECONNRESET || errno == EPIPE)
			TX_ADD(tx, resets, 1);
		else if (tx_is_unreachable(errno) || errno == ETIMEDOUT)
			TX_ADD(tx, unreachable, 1);
		else
			TX_ADD(tx, errors, 1);
	}
	if (tx->dead && s->part) {
		TX_ADD(tx, dropped, 1);
		_jumbo_tx_retire(tx, s->part);
		s->part = NULL;
	}
	if (taken < n && (flags & JUMBO_TX_DROP) && !tx->dead) {
		while (taken < n)
			sock_drop(tx, pkts[taken++]);
	}
	if (taken)
		return (int)taken;
	return tx->dead ? tx->dead : err;
}

static int sock_complete(struct jumbo_tx *tx, int timeout_ms)
{
	struct tx_sock *s = tx->priv;
	uint64_t deadline = _jumbo_tx_deadline(timeout_ms);
	int got, r;

	/* tcp: push the rest of a partly sent frame first. */
	if (s->part && !tx->dead)
		(void)tcp_send(tx, NULL, 0, 0);
	got = sock_reap(tx);
	while (got == 0 && tx->rec_head != tx->rec_tail) {
		int left = _jumbo_tx_left(deadline);
		if (left == 0)
			break;
		r = sock_wait(tx, left, false);
		if (r < 0)
			return r;
		got = sock_reap(tx);
	}
	return got;
}

static void sock_close(struct jumbo_tx *tx)
{
	struct tx_sock *s = tx->priv;

	if (!s)
		return;
	if (s->part) {
		/* Never finished: the kernel may have read some of it. */
		TX_ADD(tx, dropped, 1);
		_jumbo_tx_retire(tx, s->part);
		s->part = NULL;
		(void)sock_reap(tx);
	}
	free(s->msg);
	free(s->iov);
	free(s);
	tx->priv = NULL;
}

static const struct tx_ops udp_ops = { udp_send, sock_complete, sock_close };
static const struct tx_ops tcp_ops = { tcp_send, sock_complete, sock_close };

/* Nonblocking connect, waited for: 0 or -errno. */
static int sock_connect(int fd, const struct sockaddr *sa, socklen_t len,
			int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t l = sizeof(int);
	int e = 0, r;

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l))
		return -errno;
	return -e;
}

int _jumbo_tx_socket(struct jumbo_tx *tx, const struct jumbo_tx_params *p,
		     int type)
{
	const char *addr = p->addr ? p->addr : "127.0.0.1";
	int sz = p->sndbuf ? p->sndbuf : 4 << 20, one = 1, e;
	struct sockaddr_storage ss;
	socklen_t len;

	if (_jumbo_sockaddr(addr, p->port, &ss, &len))
		return _jumbo_tx_fail(-EINVAL, "'%s' is not a numeric IPv4 or "
				      "IPv6 address", addr);
	tx->fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (tx->fd < 0)
		return _jumbo_tx_fail(-errno, "socket: %s", strerror(errno));
	if ((p->flags & JUMBO_TX_NOFORCE) ||
	    setsockopt(tx->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		(void)setsockopt(tx->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* Kernels before 4.14 (tcp) or 5.0 (udp) lack it: copy instead.
	 * (io_uring's zero copy does not need it.) */
	if (tx->zc && tx->backend != JUMBO_TX_URING &&
	    setsockopt(tx->fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)))
		tx->zc = false;
	e = sock_connect(tx->fd, (struct sockaddr *)&ss, len, TCP_CONNECT_MS);
	if (e)
		return _jumbo_tx_fail(e, "connect to %s port %u: %s", addr,
				      p->port, strerror(-e));
	return 0;
}

int _jumbo_tx_sock_open(struct jumbo_tx *tx, const struct jumbo_tx_params *p)
{
	int type = tx->backend == JUMBO_TX_TCP ? SOCK_STREAM : SOCK_DGRAM;
	struct tx_sock *s;
	int e = _jumbo_tx_socket(tx, p, type);

	if (e)
		return e;
	s = calloc(1, sizeof(*s));
	if (!s)
		return _jumbo_tx_fail(-ENOMEM, "out of memory");
	tx->priv = s;
	tx->ops = type == SOCK_STREAM ? &tcp_ops : &udp_ops;
	s->msg = calloc(tx->batch, sizeof(*s->msg));
	s->iov = calloc(SOCK_IOV, sizeof(*s->iov));
	if (!s->msg || !s->iov)
		return _jumbo_tx_fail(-ENOMEM, "out of memory");
	return 0;
}
