/*
 * The udp send backend: chains of pool pages go out as datagrams (zero
 * copy asked for and kept, zero copy given up, plain copy), every one
 * arrives whole and right, and once the completions are in, every page is
 * back in the pool.  Faults: a peer that is gone (ICMP port unreachable:
 * ECONNREFUSED, counted, no page lost or freed twice).  Argument: a seed
 * for the frame sizes.
 */
#include "test_tx.h"

#define NFRAMES 2000

static void run(unsigned flags, unsigned seed, const char *what)
{
	struct jumbo_pool *pool = txt_pool(4096, JUMBO_POOL_DEBUG);
	unsigned port;
	int rfd = txt_listen(SOCK_DGRAM, &port, 0);
	struct jumbo_tx *tx = txt_open(JUMBO_TX_UDP, port, flags);
	struct jumbo_tx_stats st;
	static char buf[65536];
	uint64_t sent_bytes = 0, got = 0, got_bytes = 0, bad = 0;
	unsigned sent = 0;

	srand(seed);
	while (sent < NFRAMES) {
		struct mbuf *pk[32];
		unsigned k = 0;
		int r;

		while (k < 32 && sent + k < NFRAMES) {
			size_t len = JF_HDR + (size_t)rand() % (9000 - JF_HDR + 1);
			if (sent + k == 0)
				len = 8972;
			pk[k] = txt_frame(pool, len, sent + k);
			REQUIRE(pk[k] != NULL);
			sent_bytes += len;
			k++;
		}
		r = jumbo_tx_send(tx, pk, k, JUMBO_TX_WAIT);
		CHECK_EQ(r, k);
		if (r != (int)k)
			break;
		sent += k;
		/* Drain the receiver as we go: the test is not about drops. */
		for (;;) {
			ssize_t n = recv(rfd, buf, sizeof(buf), MSG_DONTWAIT);
			uint64_t seq;
			if (n < 0)
				break;
			got++;
			got_bytes += (uint64_t)n;
			if (jf_check(buf, (size_t)n, &seq))
				bad++;
		}
	}
	while (got < sent) {
		struct pollfd pfd = { rfd, POLLIN, 0 };
		ssize_t n;
		uint64_t seq;
		if (poll(&pfd, 1, 2000) <= 0)
			break;
		n = recv(rfd, buf, sizeof(buf), 0);
		got++;
		got_bytes += (uint64_t)n;
		if (jf_check(buf, (size_t)n, &seq))
			bad++;
	}
	CHECK_EQ(got, sent);
	CHECK_EQ(got_bytes, sent_bytes);
	CHECK_EQ(bad, 0);
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	printf("%s: %llu sent, zc_sends %llu done %llu copied %llu off %llu, "
	       "syscalls %llu\n", what, (unsigned long long)st.packets,
	       (unsigned long long)st.zc_sends, (unsigned long long)st.zc_done,
	       (unsigned long long)st.zc_copied, (unsigned long long)st.zc_off,
	       (unsigned long long)st.syscalls);
	CHECK_EQ(st.packets, sent);
	CHECK_EQ(st.bytes, sent_bytes);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(st.inflight, 0);
	CHECK_EQ(st.zc_done, st.zc_sends);
	if (flags & JUMBO_TX_COPY)
		CHECK_EQ(st.zc_sends, 0);
	if (flags & JUMBO_TX_ZC_ALWAYS)
		CHECK_EQ(st.zc_sends, sent);
	CHECK_EQ(txt_in_use(pool), 0);
	close(rfd);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* A connected UDP socket whose peer is gone: the ICMP error comes back as
 * ECONNREFUSED on a later send; that frame is dropped and counted. */
static void refused(void)
{
	struct jumbo_pool *pool = txt_pool(1024, JUMBO_POOL_DEBUG);
	unsigned port;
	int rfd = txt_listen(SOCK_DGRAM, &port, 0);
	struct jumbo_tx *tx = txt_open(JUMBO_TX_UDP, port, JUMBO_TX_ZC_ALWAYS);
	struct jumbo_tx_stats st;

	close(rfd); /* the port now answers with ICMP port unreachable */
	for (int i = 0; i < 50; i++) {
		struct mbuf *m = txt_frame(pool, 8972, (uint64_t)i);
		REQUIRE(m != NULL);
		CHECK_EQ(jumbo_tx_send(tx, &m, 1, JUMBO_TX_WAIT), 1);
		usleep(1000);
	}
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	printf("refused: %llu sent, %llu refused, %llu dropped\n",
	       (unsigned long long)st.packets, (unsigned long long)st.refused,
	       (unsigned long long)st.dropped);
	CHECK(st.refused > 0);
	CHECK_EQ(st.packets + st.dropped, 50);
	CHECK_EQ(st.dropped, st.refused);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(txt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(int argc, char **argv)
{
	unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0)
				 : (unsigned)time(NULL);

	printf("seed %u\n", seed);
	run(JUMBO_TX_ZC_ALWAYS, seed, "zero copy kept");
	run(0, seed, "zero copy, given up when it never pays");
	run(JUMBO_TX_COPY, seed, "copy");
	refused();
	return check_failures ? 1 : 0;
}
