/*
 * jumbo_rx_limits tells the truth before a receiver is opened: a
 * max_frame at the limit opens and one byte more is refused (-EINVAL), on
 * every backend with a socket; the pages a receiver keeps posted while
 * open are what the pool shows in use once it has armed its buffers (30
 * for udp's defaults after a receive of a whole batch, 1024 for uring's).
 * The batch left 0 is chosen by frame size (128 KiB of 4 KiB-rounded
 * frames, 2 to 32; tcp 32), and a batch given is kept.  uring is skipped (only) where
 * io_uring is missing; xdp's queue count is checked by test_rx_xdp.
 */
#include "test_rx.h"

static void test_backend(enum jumbo_rx_backend b, unsigned flags)
{
	struct jumbo_pool *pool = rxt_pool(16384, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx_limits l;
	struct jumbo_rx *rx;
	struct mbuf *pkts[32];
	int err = 0;

	jumbo_rx_params_init(&p);
	p.backend = b;
	p.pool = pool;
	p.flags = flags;
	CHECK_EQ(jumbo_rx_limits(&p, &l), 0);
	printf("%s: max_frame %zu, frame_pages %zu, pages_kept %zu\n",
	       jumbo_rx_backend_name(b), l.max_frame, l.frame_pages,
	       l.pages_kept);
	CHECK_EQ(l.frame_pages, 3);
	CHECK_EQ(l.queues, 0);

	/* The defaults: the pages kept show in the pool, once armed. */
	rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	CHECK_EQ(jumbo_rx_recv(rx, pkts, 32, 0), 0);
	/* tcp posts pages once a peer is connected: at most pages_kept */
	if (b == JUMBO_RX_TCP)
		CHECK(rxt_in_use(pool) <= l.pages_kept);
	else
		CHECK_EQ(rxt_in_use(pool), l.pages_kept);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);

	/* max_frame: the limit opens, one more does not. */
	p.max_frame = l.max_frame;
	p.batch = 1;
	p.ring_entries = 1;
	rx = jumbo_rx_open(&p, &err);
	if (!rx)
		fprintf(stderr, "%s at max_frame %zu: %s\n",
			jumbo_rx_backend_name(b), l.max_frame,
			jumbo_rx_strerror());
	CHECK(rx != NULL);
	if (rx)
		CHECK_EQ(jumbo_rx_close(rx), 0);
	p.max_frame = l.max_frame + 1;
	errno = 0;
	CHECK(jumbo_rx_open(&p, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(void)
{
	struct jumbo_rx_params p;
	struct jumbo_rx_limits l;

	CHECK_EQ(jumbo_rx_limits(NULL, NULL), -EINVAL);
	CHECK_EQ(jumbo_rx_limits(NULL, &l), 0);
	CHECK_EQ(l.batch, 10);      /* 128 KiB / 12 KiB */
	CHECK_EQ(l.pages_kept, 30); /* udp, 10 slots of 9000 bytes */
	jumbo_rx_params_init(&p);
	static const struct { size_t frame; unsigned batch; } by_size[] = {
		{1, 32}, {1500, 32}, {4096, 32}, {4097, 16}, {9000, 10},
		{16384, 8}, {65000, 2}, {65535, 2},
	};
	for (unsigned i = 0; i < sizeof(by_size) / sizeof(by_size[0]); i++) {
		p.max_frame = by_size[i].frame;
		CHECK_EQ(jumbo_rx_limits(&p, &l), 0);
		CHECK_EQ(l.batch, by_size[i].batch);
	}
	p.max_frame = 65000;
	p.backend = JUMBO_RX_TCP;
	CHECK_EQ(jumbo_rx_limits(&p, &l), 0);
	CHECK_EQ(l.batch, 32);
	p.backend = JUMBO_RX_UDP;
	p.batch = 7;
	CHECK_EQ(jumbo_rx_limits(&p, &l), 0);
	CHECK_EQ(l.batch, 7);
	CHECK_EQ(l.pages_kept, 7 * 16);
	jumbo_rx_params_init(&p);
	p.backend = JUMBO_RX_XDP;
	p.ifname = "no-such-if0";
	CHECK_EQ(jumbo_rx_limits(&p, &l), -ENODEV);
	p.backend = (enum jumbo_rx_backend)99;
	CHECK_EQ(jumbo_rx_limits(&p, &l), -EINVAL);

	test_backend(JUMBO_RX_UDP, 0);
	test_backend(JUMBO_RX_TCP, 0);
	test_backend(JUMBO_RX_TCP, JUMBO_RX_LEN32);
	if (jumbo_rx_backend_supported(JUMBO_RX_URING)) {
		jumbo_rx_params_init(&p);
		p.backend = JUMBO_RX_URING;
		CHECK_EQ(jumbo_rx_limits(&p, &l), 0);
		CHECK_EQ(l.pages_kept, 1024);
		test_backend(JUMBO_RX_URING, 0);
	} else {
		printf("uring skipped: %s\n", jumbo_rx_strerror());
	}
	return check_done("rx_limits");
}
