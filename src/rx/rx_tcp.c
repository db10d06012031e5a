/*
 * The tcp backend: a byte stream read into whole pool pages.
 *
 * It listens, and accepts one connection at a time from inside recv (a
 * peer that closes is counted and the next one is accepted).  Two ways to
 * cut the stream into packets:
 *
 *   raw     each chain is what one readv(2) put into up to max_frame bytes
 *           of whole pages; every page but the last of a read is full and
 *           page-aligned, the case where jumbo_deliver can move pages.
 *           With no pages left it does not read: TCP's own flow control
 *           holds the sender back, nothing is lost, no_buffer counts the
 *           stalls.
 *   LEN32   each frame starts with its length (32 bits, big-endian, the
 *           prefix included) and becomes one chain.  One readv takes the
 *           rest of a frame into its pages and the next frame's prefix into
 *           a 4-byte buffer, so a frame costs one system call and its bytes
 *           land in place; the prefix is then copied into the new chain's
 *           first page (4 bytes).  Without pages a frame is read into a
 *           sink and counted as no_buffer; a prefix that cannot be a frame
 *           (too_long) ends the connection, since the stream can no longer
 *           be cut; a peer that closes inside a frame counts short_frames.
 */
#include "rx_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define TCP_MAX_IOV RX_TCP_MAX_IOV
#define TCP_MAX_READS 64 /* system calls per recv call, at most */

struct rx_tcp {
	int conn;              /* the accepted connection, -1 while none */
	unsigned ppf;          /* pages per chain (raw) */
	unsigned nslots;       /* raw: chains posted per readv */
	struct mbuf **slot;    /* raw: nslots chains, NULL while empty */
	struct iovec *iov;     /* TCP_MAX_IOV */
	/* LEN32 */
	unsigned char hdr[4];  /* the next frame's prefix, hdr_have bytes */
	unsigned hdr_have;
	struct mbuf *cur;      /* the frame being read; NULL: sinking it */
	size_t need, have;     /* frame length, bytes of it read; need 0: none */
	char *sink;            /* one page, where dropped frames are read */
	struct sockaddr_in6 peer; /* the connection's peer: every packet's */
	socklen_t peer_len;
};

static void tcp_drop_conn(struct jumbo_rx *rx, struct rx_tcp *t)
{
	close(t->conn);
	t->conn = -1;
	m_freem(t->cur);
	t->cur = NULL;
	t->need = t->have = 0;
	t->hdr_have = 0;
}

/* 1 with a connection, 0 if none came within timeout_ms, or -errno. */
static int tcp_conn(struct jumbo_rx *rx, struct rx_tcp *t, int timeout_ms)
{
	int r;

	if (t->conn >= 0)
		return 1;
	for (int tries = 0; tries < 2; tries++) {
		t->peer_len = sizeof(t->peer);
		t->conn = accept4(rx->fd, (struct sockaddr *)&t->peer,
				  &t->peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (t->conn >= 0) {
			RX_ADD(rx, connections, 1);
			return 1;
		}
		if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
			return -errno;
		if (tries || timeout_ms == 0)
			break;
		r = _jumbo_rx_wait(rx->fd, timeout_ms);
		if (r <= 0)
			return r;
	}
	return 0;
}

/*
 * readv with one wait: >0 bytes, 0 when nothing came (or the connection
 * ended and was counted), -errno for errors that are not the peer's.
 */
static ssize_t tcp_read(struct jumbo_rx *rx, struct rx_tcp *t,
			struct iovec *iov, int cnt, int timeout_ms, int *eof)
{
	ssize_t r;

	*eof = 0;
	for (int tries = 0; tries < 2; tries++) {
		r = readv(t->conn, iov, cnt);
		RX_ADD(rx, syscalls, 1);
		if (r > 0)
			return r;
		if (r == 0) {
			*eof = 1;
			RX_ADD(rx, closes, 1);
			return 0;
		}
		if (errno == ECONNRESET || errno == EPIPE || errno == ETIMEDOUT) {
			*eof = 1;
			RX_ADD(rx, errors, 1);
			return 0;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (tries || timeout_ms == 0)
			break;
		r = _jumbo_rx_wait(t->conn, timeout_ms);
		if (r <= 0)
			return r;
	}
	return 0;
}

static void tcp_stall(int timeout_ms)
{
	/* Out of pages: let the consumer free some, without spinning. */
	struct timespec ts = { 0, 1000000 };

	if (timeout_ms != 0)
		nanosleep(&ts, NULL);
}

static int tcp_recv_raw(struct jumbo_rx *rx, struct rx_tcp *t,
			struct mbuf **pkts, unsigned n, int timeout_ms)
{
	size_t chunk = (size_t)t->ppf * rx->page_size;
	unsigned want = n < t->nslots ? n : t->nslots, have, out = 0;
	int k = 0, eof;
	ssize_t r;

	have = _jumbo_rx_slots(rx, t->slot, t->nslots, want, chunk);
	if (have == 0) {
		RX_ADD(rx, no_buffer, 1);
		tcp_stall(timeout_ms);
		return 0;
	}
	for (unsigned i = 0; i < have; i++)
		for (struct mbuf *m = t->slot[i]; m; m = m->m_next) {
			t->iov[k].iov_base = m->m_data;
			t->iov[k++].iov_len = m->m_len;
		}
	r = tcp_read(rx, t, t->iov, k, timeout_ms, &eof);
	if (eof)
		tcp_drop_conn(rx, t);
	if (r <= 0)
		return (int)r;
	for (unsigned i = 0; i < have && r > 0; i++) {
		size_t len = (size_t)r < chunk ? (size_t)r : chunk;

		RX_ADD(rx, pages, _jumbo_rx_cut(t->slot[i], len));
		RX_ADD(rx, bytes, len);
		pkts[out++] = t->slot[i];
		t->slot[i] = NULL;
		r -= (ssize_t)len;
	}
	RX_ADD(rx, packets, out);
	return (int)out;
}

/*
 * A whole prefix is in hdr: start the frame.  0, or -1 when the prefix
 * cannot be a frame (counted; the caller ends the connection).
 */
static int tcp_start(struct jumbo_rx *rx, struct rx_tcp *t)
{
	uint32_t be;
	size_t len;

	memcpy(&be, t->hdr, 4);
	len = ntohl(be);
	t->hdr_have = 0;
	if (len < 4 || len > rx->max_frame) {
		RX_ADD(rx, too_long, 1);
		return -1;
	}
	t->need = len;
	t->have = 4;
	t->cur = m_getjumbo(rx->pool, len, NULL);
	if (t->cur)
		memcpy(mtod(t->cur, char *), t->hdr, 4);
	return 0;
}

/* Iovecs for the rest of the current frame, then the next prefix. */
static int tcp_post_frame(struct jumbo_rx *rx, struct rx_tcp *t)
{
	size_t skip = t->have, left = t->need - t->have;
	int k = 0;

	if (!t->cur) {
		t->iov[k].iov_base = t->sink;
		t->iov[k++].iov_len = left < rx->page_size ? left : rx->page_size;
	} else {
		for (struct mbuf *m = t->cur; m && left; m = m->m_next) {
			if (skip >= m->m_len) {
				skip -= m->m_len;
				continue;
			}
			t->iov[k].iov_base = m->m_data + skip;
			t->iov[k].iov_len = m->m_len - skip;
			left -= t->iov[k++].iov_len;
			skip = 0;
		}
	}
	t->iov[k].iov_base = t->hdr;
	t->iov[k++].iov_len = 4;
	return k;
}

static int tcp_recv_len32(struct jumbo_rx *rx, struct rx_tcp *t,
			  struct mbuf **pkts, unsigned n, int timeout_ms)
{
	unsigned out = 0;
	int eof, k;
	ssize_t r;

	for (int reads = 0; out < n && reads < TCP_MAX_READS; reads++) {
		if (t->need == 0) {
			t->iov[0].iov_base = t->hdr + t->hdr_have;
			t->iov[0].iov_len = 4 - t->hdr_have;
			k = 1;
		} else {
			k = tcp_post_frame(rx, t);
		}
		/* Wait only while nothing has been received in this call. */
		r = tcp_read(rx, t, t->iov, k, out ? 0 : timeout_ms, &eof);
		if (eof) {
			if (t->need || t->hdr_have)
				RX_ADD(rx, short_frames, 1);
			tcp_drop_conn(rx, t);
			break;
		}
		if (r < 0) {
			if (out)
				break;
			return (int)r;
		}
		if (r == 0)
			break;
		if (t->need) {
			size_t body = t->need - t->have;

			body = (size_t)r < body ? (size_t)r : body;
			t->have += body;
			r -= (ssize_t)body;
			if (t->have == t->need) {
				if (t->cur) {
					RX_ADD(rx, pages,
					       _jumbo_rx_cut(t->cur, t->need));
					RX_ADD(rx, bytes, t->need);
					RX_ADD(rx, packets, 1);
					pkts[out++] = t->cur;
				} else {
					RX_ADD(rx, no_buffer, 1);
				}
				t->cur = NULL;
				t->need = t->have = 0;
			}
		}
		t->hdr_have += (unsigned)r;
		if (t->hdr_have == 4 && tcp_start(rx, t)) {
			tcp_drop_conn(rx, t);
			break;
		}
		/* A frame of just a prefix is complete already. */
		if (t->need == 4) {
			if (t->cur && out < n) {
				_jumbo_rx_cut(t->cur, 4);
				RX_ADD(rx, pages, 1);
				RX_ADD(rx, bytes, 4);
				RX_ADD(rx, packets, 1);
				pkts[out++] = t->cur;
				t->cur = NULL;
				t->need = t->have = 0;
			} else if (!t->cur) {
				RX_ADD(rx, no_buffer, 1);
				t->need = t->have = 0;
			}
		}
	}
	return (int)out;
}

static int tcp_recv(struct jumbo_rx *rx, struct mbuf **pkts, unsigned n,
		    int timeout_ms)
{
	struct rx_tcp *t = rx->priv;
	int r = tcp_conn(rx, t, timeout_ms);

	if (r <= 0)
		return r;
	if (rx->flags & JUMBO_RX_LEN32)
		r = tcp_recv_len32(rx, t, pkts, n, timeout_ms);
	else
		r = tcp_recv_raw(rx, t, pkts, n, timeout_ms);
	/*
	 * One peer per connection, and no per-segment time from readv: the
	 * time is ours, when the read returned.
	 */
	if (r > 0) {
		uint64_t now = _jumbo_rx_now();

		for (int i = 0; i < r; i++)
			_jumbo_rx_info(pkts[i], &t->peer, t->peer_len, now,
				       JUMBO_RCV_TS_USER);
	}
	return r;
}

static void tcp_close(struct jumbo_rx *rx)
{
	struct rx_tcp *t = rx->priv;

	if (!t)
		return;
	if (t->conn >= 0)
		close(t->conn);
	m_freem(t->cur);
	for (unsigned i = 0; t->slot && i < t->nslots; i++)
		m_freem(t->slot[i]);
	free(t->slot);
	free(t->iov);
	free(t->sink);
	free(t);
	rx->priv = NULL;
}

static const struct rx_ops tcp_ops = { tcp_recv, tcp_close, NULL };

int _jumbo_rx_tcp_open(struct jumbo_rx *rx, const struct jumbo_rx_params *p)
{
	struct rx_tcp *t;
	int e;

	e = _jumbo_rx_socket(rx, p, SOCK_STREAM);
	if (e)
		return e;
	if (listen(rx->fd, 16))
		return _jumbo_rx_fail(-errno, "listen: %s", strerror(errno));
	t = calloc(1, sizeof(*t));
	if (!t)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	rx->priv = t;
	rx->ops = &tcp_ops;
	t->conn = -1;
	t->ppf = (unsigned)((rx->max_frame + rx->page_size - 1) / rx->page_size);
	if (t->ppf > TCP_MAX_IOV - 1)
		return _jumbo_rx_fail(-EINVAL, "max_frame %zu needs %u pages, "
				      "more than %u", rx->max_frame, t->ppf,
				      TCP_MAX_IOV - 1);
	t->nslots = rx->batch;
	if ((size_t)t->nslots * t->ppf > TCP_MAX_IOV)
		t->nslots = TCP_MAX_IOV / t->ppf;
	t->slot = calloc(t->nslots, sizeof(*t->slot));
	t->iov = calloc(TCP_MAX_IOV, sizeof(*t->iov));
	t->sink = malloc(rx->page_size);
	if (!t->slot || !t->iov || !t->sink)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	return 0;
}
