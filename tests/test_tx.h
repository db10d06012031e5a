/*
 * What the send tests share: a pool, chains of test frames in its pages,
 * and plain sockets to receive them on.
 */
#ifndef JUMBO_TEST_TX_H
#define JUMBO_TEST_TX_H

#include "check.h"
#include "test_net.h"
#include "frame.h"

#include <arpa/inet.h>
#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>
#include <jumbo/tx.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

/* No cold reserve: the tests count the pages out. */
static inline struct jumbo_pool *txt_pool(size_t max_pages, unsigned flags)
{
	return tn_pool("test_tx", max_pages, 0, 0, flags);
}

/* A test frame of len bytes (jumbo tx's format) in a chain of pool pages. */
static inline struct mbuf *txt_frame(struct jumbo_pool *pool, size_t len,
				     uint64_t seq)
{
	static char buf[65536];
	struct mbuf *m = m_getjumbo(pool, len, NULL);
	size_t off = 0;

	if (!m)
		return NULL;
	jf_fill(buf, len, seq, 0);
	for (struct mbuf *n = m; n; n = n->m_next) {
		memcpy(n->m_data, buf + off, n->m_len);
		off += n->m_len;
	}
	return m;
}

/* A bound socket of type on 127.0.0.1, any port; *port gets it. */
static inline int txt_listen(int type, unsigned *port, int rcvbuf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t l = sizeof(sa);
	int fd = socket(AF_INET, type, 0);

	REQUIRE(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rcvbuf)
		REQUIRE(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				   sizeof(rcvbuf)) == 0);
	else {
		int sz = 16 << 20;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	}
	REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &l) == 0);
	if (type == SOCK_STREAM)
		REQUIRE(listen(fd, 4) == 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static inline struct jumbo_tx *txt_open(enum jumbo_tx_backend b,
					unsigned port, unsigned flags)
{
	struct jumbo_tx_params p;
	struct jumbo_tx *tx;
	int err = 0;

	jumbo_tx_params_init(&p);
	p.backend = b;
	p.port = (uint16_t)port;
	p.flags = flags;
	tx = jumbo_tx_open(&p, &err);
	if (!tx)
		fprintf(stderr, "jumbo_tx_open(%s): %d %s\n",
			jumbo_tx_backend_name(b), err, jumbo_tx_strerror());
	REQUIRE(tx != NULL);
	return tx;
}

static inline uint64_t txt_in_use(struct jumbo_pool *pool)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	return st.in_use;
}

/* Reads exactly len bytes from a stream, waiting up to 10 s. */
static inline int txt_read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, 10000) <= 0)
			return -1;
		r = read(fd, buf + got, len - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* ---- datagram backends: what udp and uring must both do -------------- */

#define TXT_NFRAMES 2000

static inline void txt_run(enum jumbo_tx_backend b, unsigned flags, unsigned seed,
		    const char *what)
{
	struct jumbo_pool *pool = txt_pool(4096, JUMBO_POOL_DEBUG);
	unsigned port;
	int rfd = txt_listen(SOCK_DGRAM, &port, 0);
	struct jumbo_tx *tx = txt_open(b, port, flags);
	struct jumbo_tx_stats st;
	static char buf[65536];
	uint64_t sent_bytes = 0, got = 0, got_bytes = 0, bad = 0;
	unsigned sent = 0;

	srand(seed);
	while (sent < TXT_NFRAMES) {
		struct mbuf *pk[32];
		unsigned k = 0;
		int r;

		while (k < 32 && sent + k < TXT_NFRAMES) {
			size_t len = JF_HDR + (size_t)rand() % (9000 - JF_HDR + 1);
			if (sent + k == 0)
				len = 8972;
			pk[k] = txt_frame(pool, len, sent + k);
			REQUIRE(pk[k] != NULL);
			sent_bytes += len;
			k++;
		}
		r = jumbo_tx_send(tx, pk, k, JUMBO_TX_WAIT);
		CHECK_EQ(r, k);
		if (r != (int)k)
			break;
		sent += k;
		/* Drain the receiver as we go: the test is not about drops. */
		for (;;) {
			ssize_t n = recv(rfd, buf, sizeof(buf), MSG_DONTWAIT);
			uint64_t seq;
			if (n < 0)
				break;
			got++;
			got_bytes += (uint64_t)n;
			if (jf_check(buf, (size_t)n, &seq))
				bad++;
		}
	}
	while (got < sent) {
		struct pollfd pfd = { rfd, POLLIN, 0 };
		ssize_t n;
		uint64_t seq;
		if (poll(&pfd, 1, 2000) <= 0)
			break;
		n = recv(rfd, buf, sizeof(buf), 0);
		got++;
		got_bytes += (uint64_t)n;
		if (jf_check(buf, (size_t)n, &seq))
			bad++;
	}
	CHECK_EQ(got, sent);
	CHECK_EQ(got_bytes, sent_bytes);
	CHECK_EQ(bad, 0);
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	printf("%s: %llu sent, zc_sends %llu done %llu copied %llu off %llu, "
	       "syscalls %llu\n", what, (unsigned long long)st.packets,
	       (unsigned long long)st.zc_sends, (unsigned long long)st.zc_done,
	       (unsigned long long)st.zc_copied, (unsigned long long)st.zc_off,
	       (unsigned long long)st.syscalls);
	CHECK_EQ(st.packets, sent);
	CHECK_EQ(st.bytes, sent_bytes);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(st.inflight, 0);
	CHECK_EQ(st.zc_done, st.zc_sends);
	if (flags & JUMBO_TX_COPY)
		CHECK_EQ(st.zc_sends, 0);
	if (flags & JUMBO_TX_ZC_ALWAYS)
		CHECK_EQ(st.zc_sends, sent);
	CHECK_EQ(txt_in_use(pool), 0);
	close(rfd);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* A connected UDP socket whose peer is gone: the ICMP error comes back as
 * ECONNREFUSED on a later send; that frame is dropped and counted. */
static inline void txt_refused(enum jumbo_tx_backend b)
{
	struct jumbo_pool *pool = txt_pool(1024, JUMBO_POOL_DEBUG);
	unsigned port;
	int rfd = txt_listen(SOCK_DGRAM, &port, 0);
	struct jumbo_tx *tx = txt_open(b, port, JUMBO_TX_ZC_ALWAYS);
	struct jumbo_tx_stats st;

	close(rfd); /* the port now answers with ICMP port unreachable */
	for (int i = 0; i < 50; i++) {
		struct mbuf *m = txt_frame(pool, 8972, (uint64_t)i);
		REQUIRE(m != NULL);
		CHECK_EQ(jumbo_tx_send(tx, &m, 1, JUMBO_TX_WAIT), 1);
		usleep(1000);
	}
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	printf("refused: %llu sent, %llu refused, %llu dropped\n",
	       (unsigned long long)st.packets, (unsigned long long)st.refused,
	       (unsigned long long)st.dropped);
	CHECK(st.refused > 0);
	CHECK_EQ(st.packets + st.dropped, 50);
	CHECK_EQ(st.dropped, st.refused);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(txt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

#endif
