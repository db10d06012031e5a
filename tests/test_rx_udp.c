/*
 * The udp backend: a stream of mixed-size frames arrives intact in pool
 * pages; a datagram over max_frame is counted as truncated and never
 * delivered; with the pool capped at a few pages, datagrams are dropped and
 * counted as "no buffer", and receiving recovers once the pages are back.
 */
#include "test_rx.h"

static int udp_sock(unsigned port)
{
	int fd = jf_connect("127.0.0.1", port, SOCK_DGRAM);
	REQUIRE(fd >= 0);
	return fd;
}

/* 3000 mixed-size frames from a paced sender, every one intact. */
static void test_stream(uint64_t seed)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_UDP, pool, 9000, 0);
	struct jumbo_rx_stats st;

	rxt_stream(rx, pool, 9000, 3000, seed, &st);
	CHECK(st.pages >= st.packets);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void test_truncation(void)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_UDP, pool, 9000, 0);
	struct mbuf *pkts[8];
	struct jumbo_rx_stats st;
	int fd = udp_sock(jumbo_rx_port(rx)), n;

	rxt_send_frame(fd, 9000, 1);  /* exactly the maximum: kept */
	rxt_send_frame(fd, 9001, 2);  /* one byte over: truncated */
	rxt_send_frame(fd, 65000, 3); /* far over */
	rxt_send_frame(fd, 100, 4);
	n = rxt_recv_some(rx, pkts, 2);
	CHECK_EQ(n, 2);
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK_EQ(st.truncated, 2);
	CHECK_EQ(st.packets, 2);
	for (int i = 0; i < n; i++)
		rxt_check_frame(pkts[i], i ? 100 : 9000, i ? 4 : 1);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void test_exhaustion(void)
{
	/* 8 pages, no thread cache: two 9000-byte frames (3 pages each). */
	struct jumbo_pool *pool = rxt_pool(8, JUMBO_POOL_NOCACHE);
	struct jumbo_rx_params p;
	struct jumbo_rx *rx;
	struct mbuf *held[8], *pkts[8];
	struct jumbo_rx_stats st;
	int fd, n, held_n = 0, err;

	jumbo_rx_params_init(&p);
	p.pool = pool;
	p.batch = 4;
	rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	fd = udp_sock(jumbo_rx_port(rx));
	/* Hold what arrives until the pool runs dry. */
	for (int i = 0; i < 6; i++)
		rxt_send_frame(fd, 9000, (uint64_t)i);
	for (int tries = 0; tries < 10; tries++) {
		n = jumbo_rx_recv(rx, held + held_n, (unsigned)(8 - held_n), 50);
		REQUIRE(n >= 0);
		held_n += n;
		CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
		if (held_n + (int)st.no_buffer >= 6)
			break;
	}
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	printf("exhaustion: held %d, no_buffer %llu\n", held_n,
	       (unsigned long long)st.no_buffer);
	CHECK(held_n >= 1 && held_n <= 2);
	CHECK_EQ((uint64_t)held_n + st.no_buffer, 6);
	/* Nothing is delivered while the pages are out. */
	rxt_send_frame(fd, 9000, 100);
	n = rxt_recv_some(rx, pkts, 1);
	CHECK_EQ(n, 0);
	for (int i = 0; i < held_n; i++)
		m_freem(held[i]);
	/* Pages back: the receiver recovers. */
	for (int i = 0; i < 3; i++)
		rxt_send_frame(fd, 4000 + (size_t)i, 200 + (uint64_t)i);
	n = rxt_recv_some(rx, pkts, 3);
	CHECK_EQ(n, 3);
	for (int i = 0; i < n; i++)
		rxt_check_frame(pkts[i], 4000 + (size_t)i, 200 + (uint64_t)i);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void test_bad_params(void)
{
	struct jumbo_rx_params p;
	int err = 0;

	jumbo_rx_params_init(&p);
	p.addr = "not-an-address";
	CHECK(jumbo_rx_open(&p, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	CHECK(strstr(jumbo_rx_strerror(), "not-an-address") != NULL);
	jumbo_rx_params_init(&p);
	p.max_frame = 70000;
	CHECK(jumbo_rx_open(&p, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	/* A port already taken: the kernel's answer, and where. */
	{
		struct jumbo_rx *a = jumbo_rx_open(NULL, &err), *b;
		REQUIRE(a != NULL);
		jumbo_rx_params_init(&p);
		p.port = jumbo_rx_port(a);
		b = jumbo_rx_open(&p, &err);
		CHECK(b == NULL);
		CHECK_EQ(err, -EADDRINUSE);
		CHECK(strstr(jumbo_rx_strerror(), "bind 127.0.0.1 port") != NULL);
		jumbo_rx_close(b);
		CHECK_EQ(jumbo_rx_close(a), 0);
	}
	CHECK_EQ(jumbo_rx_recv(NULL, NULL, 1, 0), -EINVAL);
	CHECK_EQ(jumbo_rx_close(NULL), -EINVAL);
	CHECK_EQ(jumbo_rx_backend_parse("udp"), JUMBO_RX_UDP);
	CHECK_EQ(jumbo_rx_backend_parse("tcp"), JUMBO_RX_TCP);
	CHECK_EQ(jumbo_rx_backend_parse("uring"), JUMBO_RX_URING);
	CHECK_EQ(jumbo_rx_backend_parse("nope"), -EINVAL);
}

/* ::1 works as 127.0.0.1 does (skipped where IPv6 is off). */
static void test_ipv6(void)
{
	struct jumbo_pool *pool = rxt_pool(256, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx *rx;
	struct mbuf *pkts[2];
	int err = 0, fd, n;

	jumbo_rx_params_init(&p);
	p.addr = "::1";
	p.pool = pool;
	rx = jumbo_rx_open(&p, &err);
	if (!rx) {
		printf("ipv6: not run: %s\n", jumbo_rx_strerror());
		CHECK(err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT);
		CHECK_EQ(jumbo_pool_destroy(pool), 0);
		return;
	}
	fd = jf_connect("::1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	rxt_send_frame(fd, 9000, 7);
	n = rxt_recv_some(rx, pkts, 1);
	CHECK_EQ(n, 1);
	if (n == 1)
		rxt_check_frame(pkts[0], 9000, 7);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "test_rx_udp");

	test_bad_params();
	test_stream(seed);
	test_truncation();
	test_exhaustion();
	test_ipv6();
	return check_done("rx_udp");
}
