/*
 * Receive paths under faults the peer or the kernel makes, the branches
 * the coverage run found untested (docs/COVERAGE.md):
 *
 *  - tcp: a peer that resets its connection (RST: SO_LINGER 0 and close)
 *    in the middle of a frame.  The receiver counts an error and a short
 *    frame, delivers nothing of it, keeps no page, and serves the next
 *    connection.
 *  - udp: a receive buffer that overflows while nobody reads.  The
 *    kernel's drops come back in kernel_drops (SO_RXQ_OVFL, which the
 *    kernel reports with the next datagram it queues), and on loopback
 *    every datagram sent is either received or counted there.
 */
#include "test_rx.h"

#include <netinet/in.h>

static void reset_mid_frame(void)
{
	static char buf[6000];
	struct jumbo_pool *pool = rxt_pool(256, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_TCP, pool, 9000, JUMBO_RX_LEN32);
	struct jumbo_rx_stats st;
	struct mbuf *pkts[8];
	struct linger lg = { 1, 0 }; /* close sends RST */
	int r, got = 0;

	int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_STREAM);
	REQUIRE(fd >= 0);
	jf_fill(buf, sizeof(buf), 1, 0);
	REQUIRE(jf_write_all(fd, buf, sizeof(buf) / 2) == 0);
	/* Let the receiver take the first half, so the frame is under way. */
	for (int i = 0; i < 50; i++) {
		r = jumbo_rx_recv(rx, pkts, 8, 20);
		REQUIRE(r >= 0);
		got += r;
		REQUIRE(jumbo_rx_stats(rx, &st) == 0);
		if (st.connections == 1 && st.bytes == 0 && st.syscalls > 1)
			break;
	}
	REQUIRE(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
	close(fd);
	for (int i = 0; i < 100; i++) {
		r = jumbo_rx_recv(rx, pkts, 8, 20);
		REQUIRE(r >= 0);
		got += r;
		REQUIRE(jumbo_rx_stats(rx, &st) == 0);
		if (st.short_frames)
			break;
	}
	CHECK_EQ(got, 0);
	CHECK_EQ(st.short_frames, 1);
	CHECK_EQ(st.errors + st.closes, 1); /* a reset: an error, not a close */
	CHECK_EQ(st.errors, 1);
	CHECK_EQ(rxt_in_use(pool), 0); /* the half frame's pages came back */

	/* The next connection is served. */
	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_STREAM);
	REQUIRE(fd >= 0);
	REQUIRE(jf_write_all(fd, buf, sizeof(buf)) == 0);
	close(fd);
	for (int i = 0; i < 100 && got == 0; i++) {
		r = jumbo_rx_recv(rx, pkts, 8, 20);
		REQUIRE(r >= 0);
		got += r;
	}
	CHECK_EQ(got, 1);
	if (got == 1) {
		CHECK_EQ(m_length(pkts[0], NULL), sizeof(buf));
		m_freem(pkts[0]);
	}
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void udp_overflow(void)
{
	enum { SENT = 400, LEN = 1400 };
	static char buf[LEN];
	struct jumbo_pool *pool = rxt_pool(1024, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx_stats st;
	struct mbuf *pkts[32];
	int err = 0;

	jumbo_rx_params_init(&p);
	p.backend = JUMBO_RX_UDP;
	p.pool = pool;
	p.rcvbuf = 4096; /* the kernel makes it a little more: far below SENT */
	struct jumbo_rx *rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	for (int i = 0; i < SENT; i++) {
		jf_fill(buf, LEN, (uint64_t)i, 0);
		REQUIRE(send(fd, buf, LEN, 0) == LEN);
	}
	uint64_t packets = 0;
	for (int round = 0; round < 2; round++) {
		for (int idle = 0; idle < 5;) {
			int r = jumbo_rx_recv(rx, pkts, 32, 20);
			REQUIRE(r >= 0);
			idle = r ? 0 : idle + 1;
			for (int i = 0; i < r; i++)
				m_freem(pkts[i]);
			packets += (uint64_t)r;
		}
		/* One more, read: it carries the count of the drops before it. */
		if (round == 0)
			REQUIRE(send(fd, buf, LEN, 0) == LEN);
	}
	close(fd);
	REQUIRE(jumbo_rx_stats(rx, &st) == 0);
	printf("rx_faults: udp: %llu of %d received, %llu dropped by the kernel\n",
	       (unsigned long long)packets, SENT + 1,
	       (unsigned long long)st.kernel_drops);
	CHECK(st.kernel_drops > 0);
	CHECK_EQ(packets + st.kernel_drops, SENT + 1);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(void)
{
	reset_mid_frame();
	udp_overflow();
	return check_done("rx_faults");
}
