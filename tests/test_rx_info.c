/*
 * Who sent a packet and when: udp and uring carry each datagram's sender
 * (IPv4 and IPv6, the empty datagram too) and, with JUMBO_RX_TSTAMP, the
 * kernel's receive time; by default (and with JUMBO_RX_NOTSTAMP, which
 * wins over JUMBO_RX_TSTAMP) the library's time, as on tcp, which carries
 * the connection's peer.  With JUMBO_RX_NOSRC the sender is not asked
 * for: rcv_src reads unknown (sa_family 0) even in mbufs that carried an
 * address before, and the payload still lands whole (uring: its header
 * then has no room for a name).  The sender is checked against the
 * sending socket's own address; a time must lie between just before the send and
 * just after the receive (CLOCK_REALTIME, like the kernel's).  uring is
 * skipped (only) where io_uring is missing.
 */
#include "test_rx.h"

#include <arpa/inet.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The sockaddr of fd's own end, as the receiver should see it. */
static void self_addr(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	REQUIRE(getsockname(fd, (struct sockaddr *)ss, &len) == 0);
}

static void check_src(const struct mbuf *m, const struct sockaddr_storage *ss)
{
	const struct pkthdr *h = &m->m_pkthdr;

	CHECK_EQ(h->rcv_src.sa.sa_family, ss->ss_family);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		CHECK_EQ(h->rcv_src.sin.sin_port, a->sin_port);
		CHECK_EQ(h->rcv_src.sin.sin_addr.s_addr, a->sin_addr.s_addr);
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;
		CHECK_EQ(h->rcv_src.sin6.sin6_port, a->sin6_port);
		CHECK(memcmp(&h->rcv_src.sin6.sin6_addr, &a->sin6_addr, 16) ==
		      0);
	}
}

static void check_time(const struct mbuf *m, uint64_t t0, uint64_t t1,
		       uint32_t who)
{
	CHECK_EQ(m->m_pkthdr.rcv_flags, who);
	CHECK(m->m_pkthdr.rcv_tstmp >= t0);
	CHECK(m->m_pkthdr.rcv_tstmp <= t1);
}

/*
 * The receiver of backend b on pool at addr with flags, connected to by a
 * new datagram socket (*fd); NULL where IPv6 is not there (said, and the
 * pool destroyed: the caller returns).
 */
static struct jumbo_rx *open_dgram(enum jumbo_rx_backend b,
				   struct jumbo_pool *pool, const char *addr,
				   unsigned flags, const char *what, int *fd)
{
	struct jumbo_rx_params p;
	int err;

	jumbo_rx_params_init(&p);
	p.backend = b;
	p.pool = pool;
	p.addr = addr;
	p.flags = flags;
	struct jumbo_rx *rx = jumbo_rx_open(&p, &err);
	if (!rx && strchr(addr, ':')) {
		printf("%s %s%s: skipped: %s\n", jumbo_rx_backend_name(b),
		       addr, what, jumbo_rx_strerror());
		jumbo_pool_destroy(pool);
		return NULL;
	}
	REQUIRE(rx != NULL);
	*fd = jf_connect(addr, jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(*fd >= 0);
	return rx;
}

/* A datagram backend: lens[] from one socket, each checked. */
static void test_dgram(enum jumbo_rx_backend b, const char *addr)
{
	struct jumbo_pool *pool = rxt_pool(1024, 0);
	struct sockaddr_storage me;
	static const size_t lens[] = { 100, 0, 9000 };
	struct mbuf *pkts[3];
	struct jumbo_rx *rx;
	uint64_t t0, t1;
	int fd, n;

	rx = open_dgram(b, pool, addr, JUMBO_RX_TSTAMP, "", &fd);
	if (!rx)
		return;
	self_addr(fd, &me);
	t0 = now_ns();
	for (unsigned i = 0; i < 3; i++) {
		static char buf[9000];
		REQUIRE(send(fd, buf, lens[i], 0) == (ssize_t)lens[i]);
	}
	n = rxt_recv_some(rx, pkts, 3);
	t1 = now_ns();
	CHECK_EQ(n, 3);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(m_length(pkts[i], NULL), lens[i]);
		check_time(pkts[i], t0, t1, JUMBO_RCV_TS_KERNEL);
		check_src(pkts[i], &me);
		m_freem(pkts[i]);
	}
	printf("%s %s: %d datagrams: sender and time ok\n",
	       jumbo_rx_backend_name(b), addr, n);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* Without JUMBO_RX_TSTAMP: the sender still, the library's time. */
static void test_user_time(enum jumbo_rx_backend b, unsigned flags)
{
	struct jumbo_pool *pool = rxt_pool(1024, 0);
	struct jumbo_rx *rx = rxt_open(b, pool, 9000, flags);
	struct sockaddr_storage me;
	struct mbuf *pkts[1];
	uint64_t t0, t1;
	int fd, n;

	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	self_addr(fd, &me);
	t0 = now_ns();
	rxt_send_frame(fd, 100, 1);
	n = rxt_recv_some(rx, pkts, 1);
	t1 = now_ns();
	CHECK_EQ(n, 1);
	if (n == 1) {
		check_src(pkts[0], &me);
		check_time(pkts[0], t0, t1, JUMBO_RCV_TS_USER);
		m_freem(pkts[0]);
	}
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * JUMBO_RX_NOSRC: no sender, the rest as usual.  A first receiver with the
 * sender fills the thread's mbufs with addresses, so that the second's
 * headers would show a stale one if it did not clear it.
 */
static void test_nosrc(enum jumbo_rx_backend b, const char *addr)
{
	static const size_t lens[] = { 100, 0, 9000, 4096 };
	struct jumbo_pool *pool = rxt_pool(1024, 0);
	struct mbuf *pkts[4];
	struct jumbo_rx *rx;
	int fd, n;

	for (int pass = 0; pass < 2; pass++) {
		rx = open_dgram(b, pool, addr, pass ? JUMBO_RX_NOSRC : 0,
				" nosrc", &fd);
		if (!rx)
			return;
		for (unsigned i = 0; i < 4; i++) {
			static char buf[9000];
			for (size_t j = 0; j < lens[i]; j++)
				buf[j] = (char)(j * 7 + i);
			REQUIRE(send(fd, buf, lens[i], 0) ==
				(ssize_t)lens[i]);
		}
		n = rxt_recv_some(rx, pkts, 4);
		CHECK_EQ(n, 4);
		for (int i = 0; i < n; i++) {
			static char got[9000];
			int same = 1;

			CHECK_EQ(pkts[i]->m_pkthdr.len, lens[i]);
			CHECK_EQ(m_copydata(pkts[i], 0, lens[i], got), 0);
			for (size_t j = 0; j < lens[i]; j++)
				same &= got[j] == (char)(j * 7 + (unsigned)i);
			CHECK(same);
			CHECK_EQ(pkts[i]->m_pkthdr.rcv_flags,
				 JUMBO_RCV_TS_USER);
			if (pass)
				CHECK_EQ(pkts[i]->m_pkthdr.rcv_src.sa.sa_family,
					 0);
			else
				CHECK(pkts[i]->m_pkthdr.rcv_src.sa.sa_family !=
				      0);
			m_freem(pkts[i]);
		}
		close(fd);
		CHECK_EQ(jumbo_rx_close(rx), 0);
	}
	printf("%s %s: without the sender: unknown, payload whole\n",
	       jumbo_rx_backend_name(b), addr);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void test_tcp(void)
{
	struct jumbo_pool *pool = rxt_pool(1024, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_TCP, pool, 9000,
				       JUMBO_RX_LEN32);
	struct sockaddr_storage me;
	struct mbuf *pkts[2];
	uint64_t t0, t1;
	int fd, n;

	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_STREAM);
	REQUIRE(fd >= 0);
	self_addr(fd, &me);
	t0 = now_ns();
	rxt_send_frame(fd, 5000, 1);
	rxt_send_frame(fd, 100, 2);
	n = rxt_recv_some(rx, pkts, 2);
	t1 = now_ns();
	CHECK_EQ(n, 2);
	for (int i = 0; i < n; i++) {
		check_src(pkts[i], &me);
		check_time(pkts[i], t0, t1, JUMBO_RCV_TS_USER);
		m_freem(pkts[i]);
	}
	printf("tcp: %d frames: peer and time ok\n", n);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(void)
{
	test_dgram(JUMBO_RX_UDP, "127.0.0.1");
	test_dgram(JUMBO_RX_UDP, "::1");
	test_tcp();
	test_user_time(JUMBO_RX_UDP, 0);
	test_user_time(JUMBO_RX_UDP, JUMBO_RX_NOTSTAMP);
	test_user_time(JUMBO_RX_UDP, JUMBO_RX_NOTSTAMP | JUMBO_RX_TSTAMP);
	test_nosrc(JUMBO_RX_UDP, "127.0.0.1");
	test_nosrc(JUMBO_RX_UDP, "::1");
	if (jumbo_rx_backend_supported(JUMBO_RX_URING)) {
		test_dgram(JUMBO_RX_URING, "127.0.0.1");
		test_dgram(JUMBO_RX_URING, "::1");
		test_user_time(JUMBO_RX_URING, 0);
		test_user_time(JUMBO_RX_URING, JUMBO_RX_NOTSTAMP);
		test_user_time(JUMBO_RX_URING,
			       JUMBO_RX_NOTSTAMP | JUMBO_RX_TSTAMP);
		test_nosrc(JUMBO_RX_URING, "127.0.0.1");
		test_nosrc(JUMBO_RX_URING, "::1");
	} else
		printf("uring skipped: %s\n", jumbo_rx_strerror());
	return check_done("rx_info");
}
