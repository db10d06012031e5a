/*
 * The datagram backends agree on every kind of input: an empty datagram,
 * 1 byte, a page less one, a page, a page and one, max_frame, and
 * max_frame + 1 (counted as truncated, never delivered) go to udp and to
 * uring; each backend's chains must have the documented shape (one mbuf
 * per page, every page full but the last; an empty datagram is one
 * packet-header mbuf without a page) and both backends' counters must be
 * the same.  Sent with socat, a sender we did not write, where it is
 * installed, else with a plain socket.  uring is skipped (only) where
 * io_uring is missing.
 */
#include "test_rx.h"

#define MAXF 9000

static size_t lens[8];
static unsigned nlens;

/*
 * socat reads a regular file in one read of up to -b bytes and sends
 * that as one datagram (from a pipe it could send a frame in pieces).
 */
static int socat_send(const char *buf, size_t len, unsigned port)
{
	char path[64], cmd[256];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "/tmp/test_rx_inputs.%d", (int)getpid());
	f = fopen(path, "w");
	REQUIRE(f != NULL);
	REQUIRE(fwrite(buf, 1, len, f) == len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "socat -u -b 65536 OPEN:%s "
		 "UDP-SENDTO:127.0.0.1:%u", path, port);
	r = system(cmd);
	unlink(path);
	return r;
}

static void send_all(struct jumbo_rx *rx)
{
	static char buf[MAXF + 1];
	int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	int socat = system("command -v socat >/dev/null") == 0;

	REQUIRE(fd >= 0);
	for (unsigned i = 0; i < nlens; i++) {
		memset(buf, (int)i + 1, lens[i]);
		/* socat sends nothing for empty input: the empty one is ours */
		if (socat && lens[i] > 0)
			REQUIRE(socat_send(buf, lens[i],
					   jumbo_rx_port(rx)) == 0);
		else
			REQUIRE(send(fd, buf, lens[i], 0) ==
				(ssize_t)lens[i]);
	}
	close(fd);
}

static void run(enum jumbo_rx_backend b, struct jumbo_rx_stats *st)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(b, pool, MAXF, 0);
	struct mbuf *pkts[16];
	size_t page = jumbo_pool_page_size(pool);
	int n;

	send_all(rx);
	n = rxt_recv_some(rx, pkts, (int)nlens - 1);
	/* Anything further would be the truncated one, delivered: wrong. */
	if (n == (int)nlens - 1)
		n += jumbo_rx_recv(rx, pkts + n, 1, 100);
	CHECK_EQ(n, nlens - 1);
	for (int i = 0; i < n; i++) {
		struct mbuf *m = pkts[i];
		size_t left = lens[i];

		CHECK(m->m_flags & M_PKTHDR);
		CHECK_EQ(m->m_pkthdr.len, lens[i]);
		CHECK_EQ(m_length(m, NULL), lens[i]);
		if (lens[i] == 0) {
			CHECK(m->m_next == NULL);
			CHECK(!(m->m_flags & M_EXT));
		}
		for (struct mbuf *k = m; lens[i] && k; k = k->m_next) {
			CHECK_EQ(k->m_len, left < page ? left : page);
			CHECK(jumbo_pool_page(pool, k->m_data) != NULL);
			CHECK_EQ((uintptr_t)k->m_data % page, 0);
			left -= k->m_len;
		}
		m_freem(m);
	}
	CHECK_EQ(jumbo_rx_stats(rx, st), 0);
	printf("%s: packets %llu bytes %llu pages %llu truncated %llu "
	       "no_buffer %llu kernel_drops %llu errors %llu\n",
	       jumbo_rx_backend_name(b), (unsigned long long)st->packets,
	       (unsigned long long)st->bytes, (unsigned long long)st->pages,
	       (unsigned long long)st->truncated,
	       (unsigned long long)st->no_buffer,
	       (unsigned long long)st->kernel_drops,
	       (unsigned long long)st->errors);
	CHECK_EQ(st->packets, nlens - 1);
	CHECK_EQ(st->truncated, 1);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(void)
{
	struct jumbo_rx_stats a, b;
	size_t page = 4096; /* the test pool's page */

	/* In this order: the truncated one last. */
	lens[nlens++] = 0;
	lens[nlens++] = 1;
	lens[nlens++] = page - 1;
	lens[nlens++] = page;
	lens[nlens++] = page + 1;
	lens[nlens++] = MAXF;
	lens[nlens++] = MAXF + 1;
	run(JUMBO_RX_UDP, &a);
	if (!jumbo_rx_backend_supported(JUMBO_RX_URING)) {
		printf("uring skipped: %s\n", jumbo_rx_strerror());
		return check_done("rx_inputs");
	}
	run(JUMBO_RX_URING, &b);
	CHECK_EQ(a.packets, b.packets);
	CHECK_EQ(a.bytes, b.bytes);
	CHECK_EQ(a.pages, b.pages);
	CHECK_EQ(a.truncated, b.truncated);
	CHECK_EQ(a.no_buffer, b.no_buffer);
	CHECK_EQ(a.kernel_drops, b.kernel_drops);
	CHECK_EQ(a.errors, b.errors);
	return check_done("rx_inputs");
}
