/*
 * What the receive tests share: a pool, a paced sender thread of test
 * frames, and a receive loop that checks every chain (pool pages, lengths,
 * contents against the frame's checksum and sequence number).
 */
#ifndef JUMBO_TEST_RX_H
#define JUMBO_TEST_RX_H

#include "check.h"
#include "test_net.h"
#include "send.h"

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>
#include <jumbo/rx.h>
#include <pthread.h>

static inline struct jumbo_pool *rxt_pool(size_t max_pages, unsigned flags)
{
	return tn_pool("test_rx", max_pages, 0, JUMBO_RESERVE_AUTO, flags);
}

static inline struct jumbo_rx *rxt_open(enum jumbo_rx_backend b,
					struct jumbo_pool *pool,
					size_t max_frame, unsigned flags)
{
	struct jumbo_rx_params p;
	struct jumbo_rx *rx;
	int err = 0;

	jumbo_rx_params_init(&p);
	p.backend = b;
	p.pool = pool;
	p.max_frame = max_frame;
	p.flags = flags;
	rx = jumbo_rx_open(&p, &err);
	if (!rx)
		fprintf(stderr, "jumbo_rx_open(%s): %d %s\n",
			jumbo_rx_backend_name(b), err, jumbo_rx_strerror());
	REQUIRE(rx != NULL);
	return rx;
}

/* The sender thread: a jf_sender with its socket made from port. */
struct rxt_send {
	struct jf_sender s;
	unsigned port;
	int type;
	pthread_t th;
};

static void *rxt_send_main(void *arg)
{
	struct rxt_send *t = arg;

	t->s.fd = jf_connect("127.0.0.1", t->port, t->type);
	if (t->s.fd < 0) {
		t->s.err = t->s.fd;
		return NULL;
	}
	jf_send_run(&t->s);
	close(t->s.fd);
	return NULL;
}

/* What rxt_check found in the chains it was given. */
struct rxt_seen {
	uint64_t frames, bytes, bad, out_of_order, foreign_pages;
	uint64_t next_seq;
	uint64_t acked;     /* frames, for the sender's window (atomic) */
	size_t page;
	struct jumbo_pool *pool;
	unsigned char *buf; /* 64 KiB */
};

/*
 * Checks one chain and frees it: every mbuf is external storage on a page
 * of the pool, the lengths add up, and the frame is intact.
 */
static inline void rxt_check(struct rxt_seen *v, struct mbuf *m)
{
	size_t len = m_length(m, NULL);
	uint64_t seq = 0;
	int r;

	CHECK(m->m_flags & M_PKTHDR);
	CHECK_EQ(m->m_pkthdr.len, len);
	for (struct mbuf *n = m; n; n = n->m_next)
		if (!(n->m_flags & M_EXT) ||
		    jumbo_pool_page(v->pool, n->m_data) == NULL)
			v->foreign_pages++;
	if (len > 65536) {
		v->bad++;
		m_freem(m);
		return;
	}
	CHECK_EQ(m_copydata(m, 0, len, v->buf), 0);
	r = jf_check(v->buf, len, &seq);
	if (r) {
		if (v->bad++ < 5)
			fprintf(stderr, "bad frame: len %zu seq %llu code %d\n",
				len, (unsigned long long)seq, r);
	} else {
		if (seq != v->next_seq)
			v->out_of_order++;
		v->next_seq = seq + 1;
		v->frames++;
		v->bytes += len;
	}
	m_freem(m);
}

/*
 * A receive loop gives up after this long without a frame: with a
 * windowed sender only a lost frame stops the stream for good, and no
 * pause of a busy machine comes near it.  (No deadline for the whole
 * run: a slow machine takes longer, and must pass.)
 */
#define RXT_STALL_NS 120000000000ull

/*
 * Receives n frames of mixed sizes (32 .. max_frame) from a paced sender
 * thread and checks them all; returns what the receiver counted.  The
 * window keeps at most 64 frames in the socket, well under its buffer, so
 * a datagram backend has no reason to lose any: none may be lost.
 */
static inline void rxt_stream(struct jumbo_rx *rx, struct jumbo_pool *pool,
			      size_t max_frame, uint64_t n, uint64_t seed,
			      struct jumbo_rx_stats *st)
{
	struct rxt_send t;
	struct rxt_seen v;
	struct mbuf *pkts[32];
	uint64_t last = jf_now_ns();
	int stop = 0;
	const char *name = jumbo_rx_backend_name(jumbo_rx_backend_of(rx));

	memset(&t, 0, sizeof(t));
	memset(&v, 0, sizeof(v));
	v.pool = pool;
	v.buf = malloc(65536);
	REQUIRE(v.buf != NULL);
	t.port = jumbo_rx_port(rx);
	t.type = jumbo_rx_backend_of(rx) == JUMBO_RX_TCP ? SOCK_STREAM
							  : SOCK_DGRAM;
	t.s.stream = t.type == SOCK_STREAM;
	t.s.min_len = JF_HDR;
	t.s.max_len = max_frame;
	t.s.count = n;
	t.s.stop = &stop;
	/*
	 * 64 frames, or what fits in half the receive buffer where it is
	 * small (no CAP_NET_ADMIN and a low rmem_max): 16 KiB of truesize
	 * and more per jumbo datagram.
	 */
	{
		int rcv = 0;
		socklen_t sl = sizeof(rcv);
		t.s.window = 64;
		if (!getsockopt(jumbo_rx_fd(rx), SOL_SOCKET, SO_RCVBUF, &rcv,
				&sl) && rcv / 2 / 17408 < 64)
			t.s.window = rcv / 2 / 17408 > 4 ? rcv / 2 / 17408 : 4;
	}
	t.s.acked = &v.acked;
	t.s.seed = seed | 1;
	REQUIRE(pthread_create(&t.th, NULL, rxt_send_main, &t) == 0);
	while (v.frames < n) {
		int r = jumbo_rx_recv(rx, pkts, 32, 100);
		uint64_t now = jf_now_ns();
		CHECK(r >= 0);
		if (r < 0)
			break;
		if (r > 0) {
			last = now;
		} else if (now - last > RXT_STALL_NS) {
			fprintf(stderr, "%s: no frame for %llu s, %llu of %llu "
				"received: lost\n", name,
				RXT_STALL_NS / 1000000000ull,
				(unsigned long long)v.frames,
				(unsigned long long)n);
			break;
		}
		for (int i = 0; i < r; i++) {
			rxt_check(&v, pkts[i]);
			/* release: the sender's window reads it. */
			__atomic_store_n(&v.acked, v.frames, __ATOMIC_RELEASE);
		}
	}
	/* Only the sender reads it, to end a stream given up. */
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(t.th, NULL);
	CHECK_EQ(t.s.err, 0);
	CHECK_EQ(t.s.sent, n);
	CHECK_EQ(jumbo_rx_stats(rx, st), 0);
	printf("%s: sent %llu, received %llu frames (%llu bytes), bad %llu, "
	       "out of order %llu, kernel drops %llu, syscalls %llu\n", name,
	       (unsigned long long)t.s.sent, (unsigned long long)v.frames,
	       (unsigned long long)v.bytes, (unsigned long long)v.bad,
	       (unsigned long long)v.out_of_order,
	       (unsigned long long)st->kernel_drops,
	       (unsigned long long)st->syscalls);
	CHECK_EQ(v.frames, n);
	CHECK_EQ(v.bad, 0);
	CHECK_EQ(v.foreign_pages, 0);
	CHECK_EQ(v.out_of_order, 0);
	CHECK_EQ(v.bytes, t.s.bytes);
	CHECK_EQ(st->packets, n);
	CHECK_EQ(st->bytes, t.s.bytes);
	CHECK_EQ(st->no_buffer, 0);
	CHECK_EQ(st->truncated, 0);
	free(v.buf);
}

/* Pages of the pool still out (allocated, held or cached by nobody). */
static inline uint64_t rxt_in_use(struct jumbo_pool *pool)
{
	struct jumbo_stats ps;

	jumbo_pool_flush_cache(pool);
	REQUIRE(jumbo_pool_stats(pool, &ps) == 0);
	return ps.in_use;
}

/* Up to want packets, in at most 20 waits of 50 ms. */
static inline int rxt_recv_some(struct jumbo_rx *rx, struct mbuf **pkts,
				int want)
{
	int got = 0;

	for (int tries = 0; tries < 20 && got < want; tries++) {
		int r = jumbo_rx_recv(rx, pkts + got, (unsigned)(want - got),
				      50);
		REQUIRE(r >= 0);
		got += r;
	}
	return got;
}

/* The chain holds the test frame of len bytes with sequence want_seq. */
static inline void rxt_check_frame(struct mbuf *m, size_t len,
				   uint64_t want_seq)
{
	static char buf[65536];
	uint64_t seq = ~0ull;

	CHECK_EQ(m_length(m, NULL), len);
	CHECK_EQ(m_copydata(m, 0, len, buf), 0);
	CHECK_EQ(jf_check(buf, len, &seq), 0);
	CHECK_EQ(seq, want_seq);
	m_freem(m);
}

/* One test frame of len bytes, sequence seq, in one send on fd. */
static inline void rxt_send_frame(int fd, size_t len, uint64_t seq)
{
	static char buf[65536];

	jf_fill(buf, len, seq, 0);
	REQUIRE(send(fd, buf, len, 0) == (ssize_t)len);
}

#endif
