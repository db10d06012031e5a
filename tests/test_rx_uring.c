/*
 * The uring backend: a stream of mixed-size frames arrives intact in runs
 * of pool pages; a datagram over max_frame is counted as truncated; when
 * the program holds every buffer the ring runs dry, datagrams are dropped
 * and counted, and once the chains are freed their runs go back to the
 * ring and receiving recovers.  Chains may outlive their receiver.
 * Skips (77) where the kernel or the build lacks io_uring.
 */
#include "test_rx.h"

#include <sys/mman.h>

static void test_stream(uint64_t seed)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_URING, pool, 9000, 0);
	struct jumbo_rx_stats st;

	rxt_stream(rx, pool, 9000, 3000, seed, &st);
	CHECK_EQ(st.errors, 0);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void test_truncation_and_lifetime(void)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_URING, pool, 9000, 0);
	struct mbuf *pkts[4];
	struct jumbo_rx_stats st;
	int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM), n;

	REQUIRE(fd >= 0);
	rxt_send_frame(fd, 9000, 1);
	rxt_send_frame(fd, 9001, 2);
	rxt_send_frame(fd, 65000, 3);
	rxt_send_frame(fd, 100, 4);
	n = rxt_recv_some(rx, pkts, 2);
	CHECK_EQ(n, 2);
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK_EQ(st.truncated, 2);
	close(fd);
	/* Close first: the chains stay valid, their pages return later. */
	CHECK_EQ(jumbo_rx_close(rx), 0);
	if (n == 2) {
		rxt_check_frame(pkts[0], 9000, 1);
		rxt_check_frame(pkts[1], 100, 4);
	}
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void test_exhaustion(void)
{
	/* 8 pages: two runs of three pages for 9000-byte frames. */
	struct jumbo_pool *pool = rxt_pool(8, JUMBO_POOL_NOCACHE);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_URING, pool, 9000, 0);
	struct mbuf *held[8], *pkts[8];
	struct jumbo_rx_stats st;
	int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	int n, held_n = 0;

	REQUIRE(fd >= 0);
	for (int i = 0; i < 5; i++)
		rxt_send_frame(fd, 9000, (uint64_t)i);
	for (int tries = 0; tries < 20; tries++) {
		n = jumbo_rx_recv(rx, held + held_n, (unsigned)(8 - held_n),
				  50);
		REQUIRE(n >= 0);
		held_n += n;
		CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
		if (held_n + (int)st.no_buffer >= 5)
			break;
	}
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	printf("uring exhaustion: held %d, no_buffer %llu, rearms %llu\n",
	       held_n, (unsigned long long)st.no_buffer,
	       (unsigned long long)st.ring_rearms);
	CHECK_EQ(held_n, 2);
	CHECK_EQ(st.no_buffer, 3);
	for (int i = 0; i < held_n; i++)
		rxt_check_frame(held[i], 9000, (uint64_t)i);
	/*
	 * Runs back in the ring: receiving starts again.  A frame at a time,
	 * each freed before the next, so that two runs are always enough.
	 */
	for (int i = 0; i < 6; i++) {
		rxt_send_frame(fd, 5000, 10 + (uint64_t)i);
		n = rxt_recv_some(rx, pkts, 1);
		CHECK_EQ(n, 1);
		if (n == 1)
			rxt_check_frame(pkts[0], 5000, 10 + (uint64_t)i);
	}
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK(st.ring_rearms >= 1);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * Frames handed to a reader by moving their pages: a run of the ring is
 * contiguous, so the two whole pages of a 9000-byte frame move in one
 * mremap; the run then comes back to the ring (its slots re-backed) and
 * takes later datagrams intact, many times over.
 */
static void test_move(void)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx *rx;
	struct mbuf *pkts[16];
	size_t page = jumbo_pool_page_size(pool);
	char *map = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *dst = map;
	uint64_t seq, got = 0, moved = 0, remaps = 0, bad = 0;
	int err = 0, fd;

	REQUIRE(map != MAP_FAILED);
	jumbo_rx_params_init(&p);
	p.backend = JUMBO_RX_URING;
	p.pool = pool;
	p.ring_entries = 16; /* each run is used again and again */
	rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	for (uint64_t i = 0; i < 200; i++) {
		int n;
		rxt_send_frame(fd, 9000, i);
		n = rxt_recv_some(rx, pkts, 1);
		CHECK_EQ(n, 1);
		if (n != 1)
			break;
		struct jumbo_deliver_stats ds;
		CHECK_EQ(jumbo_deliver(pkts[0], dst, 3 * page,
				       JUMBO_DELIVER_MOVE, &ds), 0);
		moved += ds.moved;
		remaps += ds.remaps;
		if (jf_check(dst, 9000, &seq) || seq != i)
			bad++;
		got++;
	}
	printf("uring move: %llu frames, %llu bytes moved in %llu mremaps, "
	       "%llu bad\n", (unsigned long long)got,
	       (unsigned long long)moved, (unsigned long long)remaps,
	       (unsigned long long)bad);
	CHECK_EQ(got, 200);
	CHECK_EQ(bad, 0);
	CHECK_EQ(moved, got * 2 * page);
	CHECK_EQ(remaps, got);
	close(fd);
	munmap(map, 4 * page);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * Close leaves nothing behind: with the multishot receive armed (and a
 * datagram or two in flight), close and open again on the same port, 200
 * times; every open must bind.  io_uring_queue_exit alone tears the ring
 * down in a kernel worker, and the armed receive holds the socket until
 * then: the port stayed taken for a few ms.
 */
static void test_reopen(void)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx_params p;
	struct mbuf *pkts[4];
	uint16_t port;
	int fails = 0, err;

	jumbo_rx_params_init(&p);
	p.backend = JUMBO_RX_URING;
	p.pool = pool;
	p.ring_entries = 16;
	for (int i = 0; i < 200; i++) {
		struct jumbo_rx *rx = jumbo_rx_open(&p, &err);
		int fd, n;

		if (!rx) {
			if (fails++ < 3)
				fprintf(stderr, "reopen %d on port %u: %s\n", i,
					p.port, jumbo_rx_strerror());
			continue;
		}
		port = jumbo_rx_port(rx);
		p.port = port;
		fd = jf_connect("127.0.0.1", port, SOCK_DGRAM);
		REQUIRE(fd >= 0);
		rxt_send_frame(fd, 100, (uint64_t)i);
		n = rxt_recv_some(rx, pkts, 1);
		CHECK_EQ(n, 1);
		if (n == 1)
			rxt_check_frame(pkts[0], 100, (uint64_t)i);
		/* Armed again by that receive; one more in flight. */
		CHECK_EQ(jumbo_rx_recv(rx, pkts, 1, 0) >= 0, 1);
		rxt_send_frame(fd, 100, 1000);
		close(fd);
		CHECK_EQ(jumbo_rx_close(rx), 0);
	}
	printf("uring reopen: 200 opens on one port, %d failed\n", fails);
	CHECK_EQ(fails, 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(int argc, char **argv)
{
	uint64_t seed;

	if (!jumbo_rx_backend_supported(JUMBO_RX_URING))
		skip("%s", jumbo_rx_strerror());
	seed = test_seed(argc, argv, "test_rx_uring");
	test_stream(seed);
	test_truncation_and_lifetime();
	test_exhaustion();
	test_move();
	test_reopen();
	return check_done("rx_uring");
}
