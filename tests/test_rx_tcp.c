/*
 * The tcp backend: mixed-size frames cut by their length prefix arrive
 * intact, one chain each; the raw stream arrives in whole pages, in order;
 * a peer that closes inside a frame is counted (short_frames) and the next
 * connection is served; a prefix over max_frame is counted (too_long) and
 * ends that connection; with no pages, framed data is dropped whole and
 * counted, and receiving recovers.
 */
#include "test_rx.h"

#include <netinet/tcp.h>

static int tcp_sock(unsigned port)
{
	int fd = jf_connect("127.0.0.1", port, SOCK_STREAM);
	REQUIRE(fd >= 0);
	return fd;
}

static void put_frame(int fd, size_t len, uint64_t seq)
{
	static char buf[65536];

	jf_fill(buf, len, seq, 0);
	REQUIRE(jf_write_all(fd, buf, len) == 0);
}

/* 3000 mixed-size LEN32 frames on one connection, one chain each. */
static void test_framed(uint64_t seed)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_TCP, pool, 9000,
				       JUMBO_RX_LEN32);
	struct jumbo_rx_stats st;

	rxt_stream(rx, pool, 9000, 3000, seed, &st);
	CHECK_EQ(st.connections, 1);
	CHECK_EQ(st.short_frames, 0);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

struct writer {
	int fd;
	const char *p;
	size_t len;
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	w->err = jf_write_all(w->fd, w->p, w->len);
	close(w->fd);
	return NULL;
}

/* A thread that writes len bytes of p to the receiver's port and closes. */
static void writer_start(struct writer *w, pthread_t *th,
			 struct jumbo_rx *rx, const unsigned char *p, size_t len)
{
	w->fd = tcp_sock(jumbo_rx_port(rx));
	w->p = (const char *)p;
	w->len = len;
	w->err = 0;
	REQUIRE(pthread_create(th, NULL, writer_main, w) == 0);
}

/* Appends the r chains' bytes at dst + got and frees them; the new got. */
static size_t take(struct mbuf **pkts, int r, unsigned char *dst, size_t got,
		   size_t total)
{
	for (int i = 0; i < r; i++) {
		size_t len = m_length(pkts[i], NULL);
		REQUIRE(got + len <= total);
		CHECK_EQ(m_copydata(pkts[i], 0, len, dst + got), 0);
		got += len;
		m_freem(pkts[i]);
	}
	return got;
}

/* Raw: the stream's bytes in order, every page but a read's last full. */
static void test_raw(void)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_TCP, pool, 9000, 0);
	struct mbuf *pkts[32];
	size_t total = 3 << 20, got = 0, page = jumbo_pool_page_size(pool);
	unsigned char *src = malloc(total), *dst = malloc(total);
	struct writer w;
	pthread_t th;
	int full_pages_ok = 1;

	REQUIRE(src && dst);
	for (size_t i = 0; i < total; i++)
		src[i] = (unsigned char)(i * 7 + (i >> 12));
	writer_start(&w, &th, rx, src, total);
	for (int loops = 0; loops < 2000 && got < total; loops++) {
		int r = jumbo_rx_recv(rx, pkts, 32, 100);
		REQUIRE(r >= 0);
		for (int i = 0; i < r; i++)
			for (struct mbuf *m = pkts[i]; m; m = m->m_next)
				if (m->m_next && (m->m_len != page ||
				    ((uintptr_t)m->m_data & (page - 1))))
					full_pages_ok = 0;
		got = take(pkts, r, dst, got, total);
	}
	pthread_join(th, NULL);
	CHECK_EQ(w.err, 0);
	CHECK_EQ(got, total);
	CHECK(memcmp(src, dst, total) == 0);
	CHECK(full_pages_ok);
	free(src);
	free(dst);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void test_peer_close_and_too_long(void)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_TCP, pool, 9000,
				       JUMBO_RX_LEN32);
	struct mbuf *pkts[4];
	struct jumbo_rx_stats st;
	char buf[9000];
	int fd, n;

	/* A whole frame, then half of one, then the peer goes away. */
	fd = tcp_sock(jumbo_rx_port(rx));
	put_frame(fd, 5000, 1);
	jf_fill(buf, 9000, 2, 0);
	REQUIRE(jf_write_all(fd, buf, 4500) == 0);
	close(fd);
	n = rxt_recv_some(rx, pkts, 2);
	CHECK_EQ(n, 1);
	if (n == 1)
		rxt_check_frame(pkts[0], 5000, 1);
	for (int i = 0; i < 5; i++)
		CHECK(jumbo_rx_recv(rx, pkts, 4, 20) == 0);
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK_EQ(st.short_frames, 1);
	CHECK_EQ(st.closes, 1);

	/* The next connection is served. */
	fd = tcp_sock(jumbo_rx_port(rx));
	put_frame(fd, 9000, 3);
	/* A frame that is only its prefix. */
	uint32_t four = htonl(4);
	REQUIRE(jf_write_all(fd, (char *)&four, 4) == 0);
	put_frame(fd, 33, 5);
	n = rxt_recv_some(rx, pkts, 3);
	CHECK_EQ(n, 3);
	if (n == 3) {
		rxt_check_frame(pkts[0], 9000, 3);
		CHECK_EQ(m_length(pkts[1], NULL), 4);
		m_freem(pkts[1]);
		rxt_check_frame(pkts[2], 33, 5);
	}
	/* A prefix of 100000 bytes: more than max_frame. */
	uint32_t be = htonl(100000);
	REQUIRE(jf_write_all(fd, (char *)&be, 4) == 0);
	for (int i = 0; i < 5; i++)
		CHECK(jumbo_rx_recv(rx, pkts, 4, 20) == 0);
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK_EQ(st.too_long, 1);
	CHECK_EQ(st.connections, 2);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void test_exhaustion(void)
{
	struct jumbo_pool *pool = rxt_pool(8, JUMBO_POOL_NOCACHE);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_TCP, pool, 20000,
				       JUMBO_RX_LEN32);
	struct mbuf *held[4], *pkts[4];
	struct jumbo_rx_stats st;
	int fd = tcp_sock(jumbo_rx_port(rx)), n;

	/* Two 16 KiB frames take all 8 pages; the third is dropped. */
	put_frame(fd, 16384, 0);
	put_frame(fd, 16384, 1);
	put_frame(fd, 9000, 2);
	put_frame(fd, 9000, 3);
	n = rxt_recv_some(rx, held, 2);
	CHECK_EQ(n, 2);
	for (int i = 0; i < 5; i++)
		CHECK(jumbo_rx_recv(rx, pkts, 4, 20) == 0);
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK_EQ(st.no_buffer, 2);
	for (int i = 0; i < n; i++)
		rxt_check_frame(held[i], 16384, (uint64_t)i);
	put_frame(fd, 9000, 4);
	n = rxt_recv_some(rx, pkts, 1);
	CHECK_EQ(n, 1);
	if (n == 1)
		rxt_check_frame(pkts[0], 9000, 4);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * Raw stream, pool of 8 pages: while the program holds every page the
 * receiver stops reading (TCP holds the sender back) and counts the
 * stalls; once the pages come back the stream goes on, not a byte lost.
 */
static void test_raw_exhaustion(void)
{
	struct jumbo_pool *pool = rxt_pool(8, JUMBO_POOL_NOCACHE);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_TCP, pool, 8192, 0);
	struct mbuf *held[8], *pkts[8];
	struct jumbo_rx_stats st;
	size_t total = 256 << 10, got = 0;
	unsigned char *src = malloc(total), *dst = malloc(total);
	struct writer w;
	pthread_t th;
	int nheld = 0;

	REQUIRE(src && dst);
	for (size_t i = 0; i < total; i++)
		src[i] = (unsigned char)(i * 13 + (i >> 9));
	writer_start(&w, &th, rx, src, total);
	/* Hold chains until the pool is dry and a stall is counted: as
	 * long as the writer thread takes to be run (RXT_STALL_NS). */
	for (uint64_t t0 = jf_now_ns(); jf_now_ns() - t0 < RXT_STALL_NS;) {
		int r = jumbo_rx_recv(rx, held + nheld, (unsigned)(8 - nheld),
				      20);
		REQUIRE(r >= 0);
		nheld += r;
		CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
		if (st.no_buffer >= 3)
			break;
	}
	CHECK(st.no_buffer >= 3);
	CHECK(nheld >= 1);
	got = take(held, nheld, dst, got, total);
	/* Pages back: the rest of the stream, in order. */
	for (int loops = 0; loops < 5000 && got < total; loops++) {
		int r = jumbo_rx_recv(rx, pkts, 8, 20);
		REQUIRE(r >= 0);
		got = take(pkts, r, dst, got, total);
	}
	pthread_join(th, NULL);
	printf("raw exhaustion: held %d chains, %llu stalls, %zu bytes\n",
	       nheld, (unsigned long long)st.no_buffer, got);
	CHECK_EQ(w.err, 0);
	CHECK_EQ(got, total);
	CHECK(memcmp(src, dst, total) == 0);
	free(src);
	free(dst);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * Frames that arrive in pieces, from a real TCP socket with TCP_NODELAY
 * and a receive between the pieces (so that each piece is read on its
 * own): a length prefix split after two bytes, a frame body split right
 * after its first page (and one byte past it), a prefix that comes alone.
 * A wrong resume offset (in the prefix or in the body) garbles the frame
 * or the stream after it.
 */
static void test_split(void)
{
	static char buf[65536];
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_TCP, pool, 9000,
				       JUMBO_RX_LEN32);
	size_t page = jumbo_pool_page_size(pool);
	/* frame length, then where to cut it (0-terminated) */
	static const size_t plan[][4] = {
		{ 9000, 2, 0, 0 },        /* prefix: 2 bytes, then the rest */
		{ 9000, 2, 4096, 0 },     /* and after the first page */
		{ 5000, 4, 4096, 0 },     /* the prefix alone; a page */
		{ 5000, 4097, 0, 0 },     /* one byte past the first page */
		{ 100, 0, 0, 0 },         /* whole */
	};
	struct mbuf *pkts[4];
	int fd, one = 1, got = 0;

	CHECK_EQ(page, 4096);
	fd = tcp_sock(jumbo_rx_port(rx));
	REQUIRE(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one)) == 0);
	for (unsigned f = 0; f < sizeof(plan) / sizeof(plan[0]); f++) {
		size_t len = plan[f][0], at = 0;

		jf_fill(buf, len, f, 0);
		for (unsigned c = 1; c <= 3; c++) {
			size_t end = c < 3 && plan[f][c] ? plan[f][c] : len;
			int r;

			REQUIRE(jf_write_all(fd, buf + at, end - at) == 0);
			at = end;
			usleep(10000);
			/* Read what came: nothing whole until the last piece. */
			r = jumbo_rx_recv(rx, pkts, 4, 200);
			REQUIRE(r >= 0);
			CHECK_EQ(r, at == len ? 1 : 0);
			if (r == 1) {
				rxt_check_frame(pkts[0], len, f);
				got++;
			}
			if (at == len)
				break;
		}
	}
	CHECK_EQ(got, 5);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "test_rx_tcp");

	test_framed(seed);
	test_raw();
	test_peer_close_and_too_long();
	test_exhaustion();
	test_raw_exhaustion();
	test_split();
	return check_done("rx_tcp");
}
