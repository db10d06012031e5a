/*
 * Kernel drops add up: on every backend with a socket (udp, uring), a
 * burst sent into a small receive buffer before the receiver takes
 * anything loses datagrams in the kernel, and the counters must say so
 * as soon as they are read (not only when a later datagram brings
 * SO_RXQ_OVFL), and exactly: received + kernel_drops == sent.  uring is
 * tried twice: before its receive is armed, and with it armed and the
 * completions not reaped.  Skips uring (only) where io_uring is missing.
 */
#include "test_rx.h"

#define BURST 2000
#define LEN 1000

static void burst(struct jumbo_rx *rx, unsigned n)
{
	int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);

	REQUIRE(fd >= 0);
	for (unsigned i = 0; i < n; i++)
		rxt_send_frame(fd, LEN, i);
	close(fd);
}

/* Takes everything the socket holds: until two 200 ms waits are empty. */
static uint64_t drain(struct jumbo_rx *rx)
{
	struct mbuf *pkts[32];
	uint64_t got = 0;

	for (int idle = 0; idle < 2;) {
		int r = jumbo_rx_recv(rx, pkts, 32, 200);

		REQUIRE(r >= 0);
		idle = r == 0 ? idle + 1 : 0;
		for (int i = 0; i < r; i++) {
			CHECK_EQ(m_length(pkts[i], NULL), LEN);
			m_freem(pkts[i]);
		}
		got += (uint64_t)r;
	}
	return got;
}

static void test_backend(enum jumbo_rx_backend b, int armed)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx_stats st;
	struct jumbo_rx *rx;
	struct mbuf *pkts[1];
	uint64_t got;
	int err = 0;

	jumbo_rx_params_init(&p);
	p.backend = b;
	p.pool = pool;
	p.max_frame = LEN;
	p.rcvbuf = 16384; /* the kernel doubles it: some 30 datagrams */
	p.flags = JUMBO_RX_NOFORCE;
	rx = jumbo_rx_open(&p, &err);
	if (!rx)
		fprintf(stderr, "open %s: %s\n", jumbo_rx_backend_name(b),
			jumbo_rx_strerror());
	REQUIRE(rx != NULL);
	if (armed)
		CHECK_EQ(jumbo_rx_recv(rx, pkts, 1, 0), 0);
	burst(rx, BURST);
	/* Read before receiving: what was dropped is known already. */
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK(st.kernel_drops > 0);
	got = drain(rx);
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	printf("%s%s: sent %u, received %llu, kernel drops %llu, "
	       "no buffer %llu\n", jumbo_rx_backend_name(b),
	       armed ? " (armed)" : "", BURST, (unsigned long long)got,
	       (unsigned long long)st.kernel_drops,
	       (unsigned long long)st.no_buffer);
	CHECK_EQ(got, st.packets);
	CHECK_EQ(st.no_buffer, 0);
	CHECK_EQ(st.truncated, 0);
	CHECK_EQ(st.packets + st.kernel_drops, BURST);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(void)
{
	test_backend(JUMBO_RX_UDP, 0);
	if (jumbo_rx_backend_supported(JUMBO_RX_URING)) {
		test_backend(JUMBO_RX_URING, 0);
		test_backend(JUMBO_RX_URING, 1);
	} else {
		printf("uring skipped: %s\n", jumbo_rx_strerror());
	}
	return check_done("rx_drops");
}
