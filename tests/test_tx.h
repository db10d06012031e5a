/*
 * What the send tests share: a pool, chains of test frames in its pages,
 * and plain sockets to receive them on.
 */
#ifndef JUMBO_TEST_TX_H
#define JUMBO_TEST_TX_H

#include "check.h"
#include "../tools/frame.h"

#include <arpa/inet.h>
#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>
#include <jumbo/tx.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

static inline struct jumbo_pool *txt_pool(size_t max_pages, unsigned flags)
{
	struct jumbo_pool_params pp;
	struct jumbo_pool *pool;

	jumbo_pool_params_init(&pp);
	pp.max_pages = max_pages;
	pp.reserve_pages = 0;
	pp.flags = flags;
	pp.name = "test_tx";
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool != NULL);
	return pool;
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

#endif
