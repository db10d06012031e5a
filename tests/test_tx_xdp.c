/*
 * The xdp send backend on real interfaces: two veth pairs (a0-a1, b0-b1,
 * 9000-byte MTU) in a network namespace of the test process's own, which
 * the kernel removes with the pairs when the process ends, however it
 * ends.  A raw (AF_PACKET) socket on b1 is the receiver we did not write.
 *
 *   sent:      frames built in pool pages, sent out of b0, arrive intact
 *              on b1 (one page and several: multi-buffer);
 *   forwarded: UDP datagrams sent by the kernel out of a0, received on a1
 *              by the xdp receiver, sent on out of b0 from the same pages
 *              (its pool is the sender's UMEM: nothing copied), arrive
 *              intact on b1;
 *   held:      with b0 down nothing completes: the pages stay held, a
 *              small debug pool (poisoning frees) never hands them out
 *              and their data stays; b0 up again, the frames go out
 *              intact and every page comes back;
 *   tool:      jumbo fwd --from xdp:a1 --to xdp:b0 (with JUMBO_BIN);
 *   full:      with b0 down the ring fills: the full counter, then
 *              JUMBO_TX_DROP's dropped; a close with frames in flight
 *              reports -EBUSY and the pages held (a close right after
 *              a send, in the other tests, waits for the completions).
 *
 * Needs root and AF_XDP; skips, saying why, without them.
 *
 *   test_tx_xdp [seed]
 */
#include "check.h"
#include "test_net.h"

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>
#include <jumbo/rx.h>
#include <jumbo/tx.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#define ETYPE 0x88b5 /* IEEE local experimental: nothing else sends it */
#define UPORT 9998

static unsigned char mac_b0[6], mac_b1[6], mac_a1[6];
static uint64_t seed;

static void setup(void)
{
	char m[32];

	/* Ours alone: it and the pairs in it go with this process. */
	tn_netns("tx_xdp", "ip sysctl");
	if (!jumbo_tx_backend_supported(JUMBO_TX_XDP))
		skip("tx_xdp: %s", jumbo_tx_strerror());
	if (!jumbo_rx_backend_supported(JUMBO_RX_XDP))
		skip("tx_xdp: %s", jumbo_rx_strerror());
	if (tn_sh("ip link set lo up") ||
	    tn_sh("ip link add a0 type veth peer name a1") ||
	    tn_sh("ip link add b0 type veth peer name b1") ||
	    tn_sh("for d in a0 a1 b0 b1; do sysctl -qw net.ipv6.conf.$d."
		  "disable_ipv6=1 && ip link set $d mtu 9000 up || exit 1; done") ||
	    tn_sh("ip addr add 10.79.0.1/24 dev a0") ||
	    tn_mac("a1", mac_a1) || tn_mac("b0", mac_b0) ||
	    tn_mac("b1", mac_b1))
		skip("tx_xdp: could not make the veth pairs");
	tn_mac_text(mac_a1, m, sizeof(m));
	/* Datagrams to .2 go out of a0 to a1's address: no ARP. */
	REQUIRE(tn_sh("ip neigh add 10.79.0.2 lladdr %s dev a0", m) == 0);
}

/* The raw receiver on b1, for frames of type proto. */
static int raw_open(int proto)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(proto) };
	int fd = socket(AF_PACKET, SOCK_RAW, htons(proto)), big = 16 << 20;

	REQUIRE(fd >= 0);
	sll.sll_ifindex = (int)if_nametoindex("b1");
	REQUIRE(bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	return fd;
}

/*
 * A wait for a frame that must come: one that takes this long was lost,
 * not delayed by a busy machine.
 */
#define FRAME_WAIT_MS 120000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The next frame on fd (within FRAME_WAIT_MS): its length, or -1. */
static ssize_t raw_recv(int fd, unsigned char *buf, size_t size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, FRAME_WAIT_MS) != 1)
		return -1;
	return recv(fd, buf, size, 0);
}

/* Frame k's length and byte j (after the Ethernet header). */
static size_t flen(unsigned k)
{
	static const size_t sizes[] = { 60, 1514, 4096, 4097, 8000, 9014 };

	return sizes[(k + seed) % 6];
}

static unsigned char fbyte(unsigned k, size_t j)
{
	return (unsigned char)(k * 131 + j * 7 + seed);
}

/* Frame k of type ETYPE from b0 to b1, in pages of pool. */
static struct mbuf *frame(struct jumbo_pool *pool, unsigned k)
{
	size_t len = flen(k), off = 0;
	struct mbuf *m = m_getjumbo(pool, len, NULL), *n;

	if (!m)
		return NULL;
	for (n = m; n; n = n->m_next)
		for (size_t i = 0; i < (size_t)n->m_len; i++, off++) {
			unsigned char *p = (unsigned char *)n->m_data + i;
			*p = off < 6 ? mac_b1[off] : off < 12 ? mac_b0[off - 6]
			     : off == 12 ? ETYPE >> 8 : off == 13 ? ETYPE & 0xff
			     : fbyte(k, off);
		}
	return m;
}

static int frame_ok(const unsigned char *b, size_t len, unsigned k)
{
	if (len != flen(k) || memcmp(b, mac_b1, 6) || memcmp(b + 6, mac_b0, 6))
		return 0;
	for (size_t j = 14; j < len; j++)
		if (b[j] != fbyte(k, j))
			return 0;
	return 1;
}

/* A UMEM: committed whole. */
static struct jumbo_pool *pool_new(size_t pages, unsigned flags)
{
	return tn_pool(NULL, pages, pages, JUMBO_RESERVE_AUTO, flags);
}

static struct jumbo_tx *tx_new(struct jumbo_pool *pool, int close_ms)
{
	struct jumbo_tx_params tp;
	struct jumbo_tx *tx;
	int err = 0;

	jumbo_tx_params_init(&tp);
	tp.backend = JUMBO_TX_XDP;
	tp.ifname = "b0";
	tp.pool = pool;
	tp.close_wait_ms = close_ms;
	tx = jumbo_tx_open(&tp, &err);
	if (!tx)
		fprintf(stderr, "jumbo_tx_open: %s\n", jumbo_tx_strerror());
	REQUIRE(tx);
	return tx;
}

static unsigned char buf[16384];

/* Frames sent out of b0 (from a pool that is the UMEM, and from one that
 * is not: copied) arrive intact on b1. */
static void test_sent(void)
{
	struct jumbo_pool *pool = pool_new(1024, 0), *other = pool_new(64, 0);
	struct jumbo_tx *tx = tx_new(pool, 0);
	struct jumbo_tx_stats st;
	int fd = raw_open(ETYPE);
	enum { N = 60 };

	for (unsigned k = 0; k < N; k++) {
		struct mbuf *m = frame(k % 3 ? pool : other, k);
		REQUIRE(m);
		CHECK_EQ(jumbo_tx_send(tx, &m, 1, JUMBO_TX_WAIT), 1);
	}
	for (unsigned k = 0; k < N; k++) {
		ssize_t r = raw_recv(fd, buf, sizeof(buf));
		if (!frame_ok(buf, r < 0 ? 0 : (size_t)r, k)) {
			fprintf(stderr, "sent: frame %u: %zd bytes, not "
				"intact\n", k, r);
			CHECK(0);
			break;
		}
	}
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	CHECK_EQ(st.packets, N);
	CHECK_EQ(st.copied, N / 3);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(st.dropped, 0);
	close(fd);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(other), 0);
}

/* a0 -> a1 (xdp receiver) -> b0 (xdp sender, the same pool) -> b1. */
static void test_forwarded(void)
{
	struct jumbo_pool *pool = pool_new(4096, 0);
	struct jumbo_rx_params rp;
	struct jumbo_rx *rx;
	struct jumbo_tx *tx;
	struct jumbo_tx_stats st;
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(UPORT) };
	struct mbuf *pkts[32];
	int fd = raw_open(ETH_P_IP), s, err = 0;
	unsigned sent = 0, fwd = 0, got = 0;
	enum { N = 200 };

	jumbo_rx_params_init(&rp);
	rp.backend = JUMBO_RX_XDP;
	rp.ifname = "a1";
	rp.pool = pool;
	rp.port = UPORT;
	rp.max_frame = 9014;
	rx = jumbo_rx_open(&rp, &err);
	if (!rx)
		fprintf(stderr, "jumbo_rx_open: %s\n", jumbo_rx_strerror());
	REQUIRE(rx);
	tx = tx_new(pool, 0);
	inet_pton(AF_INET, "10.79.0.2", &to.sin_addr);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	REQUIRE(s >= 0);
	while (fwd < N) {
		if (sent < N) {
			size_t len = flen(sent) > 8972 ? 8972 : flen(sent);
			for (size_t j = 0; j < len; j++)
				buf[j] = fbyte(sent, j);
			memcpy(buf, &sent, sizeof(sent));
			REQUIRE(sendto(s, buf, len, 0, (struct sockaddr *)&to,
				       sizeof(to)) == (ssize_t)len);
			sent++;
		}
		int n = jumbo_rx_recv(rx, pkts, 32,
				      sent < N ? 0 : FRAME_WAIT_MS);
		REQUIRE(n >= 0);
		if (n == 0 && sent == N)
			break;
		CHECK_EQ(jumbo_tx_send(tx, pkts, (unsigned)n, JUMBO_TX_WAIT), n);
		fwd += (unsigned)n;
	}
	CHECK_EQ(fwd, N);
	/* On b1: Ethernet (14), IPv4 (20), UDP (8), then the payload. */
	for (ssize_t r; got < N && (r = raw_recv(fd, buf, sizeof(buf))) > 0;) {
		unsigned k;
		if (r < 42 || buf[23] != IPPROTO_UDP ||
		    ntohs(*(uint16_t *)(buf + 36)) != UPORT)
			continue;
		memcpy(&k, buf + 42, sizeof(k));
		size_t len = flen(k) > 8972 ? 8972 : flen(k);
		int ok = k == got && (size_t)r == len + 42 &&
			 memcmp(buf, mac_a1, 6) == 0;
		for (size_t j = sizeof(k); ok && j < len; j++)
			ok = buf[42 + j] == fbyte(k, j);
		if (!ok) {
			fprintf(stderr, "forwarded: frame %u (expected %u), "
				"%zd bytes, not intact\n", k, got, r);
			CHECK(0);
			break;
		}
		got++;
	}
	CHECK_EQ(got, N);
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	CHECK_EQ(st.packets, N);
	CHECK_EQ(st.copied, 0); /* the receiver's pages, sent as they are */
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	close(s);
	close(fd);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * b0 down: sends queue on the TX ring and never complete.  The pages must
 * stay out of the pool's hands (a debug pool poisons what is freed) until
 * the completions come after b0 is up again.
 */
static void test_held(void)
{
	enum { NPOOL = 64, N = 8 };
	struct jumbo_pool *pool = pool_new(NPOOL, JUMBO_POOL_DEBUG);
	struct jumbo_tx *tx = tx_new(pool, 200);
	struct jumbo_tx_stats st;
	struct mbuf *sent[N];
	void *page[N], *v[NPOOL];
	size_t npages = 0;
	unsigned got, k;
	int fd = raw_open(ETYPE);

	REQUIRE(tn_sh("ip link set b0 down") == 0);
	for (k = 0; k < N; k++) {
		sent[k] = frame(pool, k);
		REQUIRE(sent[k]);
		page[k] = sent[k]->m_data;
		for (struct mbuf *m = sent[k]; m; m = m->m_next)
			npages++;
	}
	CHECK_EQ(jumbo_tx_send(tx, sent, N, 0), N); /* the chains are gone */
	CHECK_EQ(jumbo_tx_complete(tx, 50), 0);
	jumbo_tx_stats(tx, &st);
	CHECK_EQ(st.pages_held, npages);
	CHECK_EQ(st.inflight, N);
	/* Every free page of the pool: none of those in flight, whose data
	 * stays (a free would have poisoned it). */
	got = jumbo_pool_alloc_bulk(pool, v, NPOOL);
	CHECK_EQ(got, NPOOL - npages);
	for (unsigned i = 0; i < got; i++)
		for (k = 0; k < N; k++)
			CHECK(v[i] != page[k]);
	for (k = 0; k < N; k++)
		CHECK(((unsigned char *)page[k])[20] == fbyte(k, 20));
	jumbo_pool_free_bulk(pool, v, got);
	/* b0 up: the next kick sends them, and they complete. */
	REQUIRE(tn_sh("ip link set b0 up") == 0);
	for (uint64_t t0 = now_ms(); (jumbo_tx_stats(tx, &st), st.inflight) &&
				     now_ms() - t0 < FRAME_WAIT_MS;)
		(void)jumbo_tx_complete(tx, 10);
	CHECK_EQ(st.inflight, 0);
	CHECK_EQ(st.pages_held, 0);
	for (k = 0; k < N; k++) {
		ssize_t r = raw_recv(fd, buf, sizeof(buf));
		if (!frame_ok(buf, r < 0 ? 0 : (size_t)r, k)) {
			fprintf(stderr, "held: frame %u: %zd bytes, not "
				"intact\n", k, r);
			CHECK(0);
			break;
		}
	}
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	close(fd);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * b0 down again: the ring fills (max_inflight frames), the next send
 * takes nothing and counts full; with JUMBO_TX_DROP it drops.  A close
 * then cannot get the completions: -EBUSY, the pages held for good (the
 * pool refuses to go: this is the last test).
 */
static void test_full(void)
{
	enum { INFL = 256, N = INFL + 40 };
	struct jumbo_pool *pool = pool_new(1024, 0);
	struct jumbo_tx_params tp;
	struct jumbo_tx_stats st;
	struct jumbo_tx *tx;
	struct mbuf *m[N];
	int r;

	jumbo_tx_params_init(&tp);
	tp.backend = JUMBO_TX_XDP;
	tp.ifname = "b0";
	tp.pool = pool;
	tp.max_inflight = INFL;
	tp.close_wait_ms = 100;
	tx = jumbo_tx_open(&tp, NULL);
	REQUIRE(tx);
	REQUIRE(tn_sh("ip link set b0 down") == 0);
	for (unsigned k = 0; k < N; k++) {
		m[k] = m_getjumbo(pool, 60, NULL);
		REQUIRE(m[k]);
		memset(m[k]->m_data, 0, 60);
	}
	CHECK_EQ(jumbo_tx_send(tx, m, N, 0), INFL);
	jumbo_tx_stats(tx, &st);
	CHECK_EQ(st.full, 1);
	CHECK_EQ(jumbo_tx_send(tx, m + INFL, N - INFL, JUMBO_TX_WAIT), 0);
	r = jumbo_tx_send(tx, m + INFL, N - INFL, JUMBO_TX_DROP);
	CHECK_EQ(r, N - INFL);
	jumbo_tx_stats(tx, &st);
	CHECK_EQ(st.full, 3);
	CHECK_EQ(st.dropped, N - INFL);
	CHECK_EQ(st.inflight, INFL);
	CHECK_EQ(jumbo_tx_close(tx, &st), -EBUSY);
	CHECK_EQ(st.pages_held, INFL);
	CHECK_EQ(jumbo_pool_destroy(pool), -EBUSY);
}

/*
 * jumbo fwd --from xdp:a1 --to xdp:b0: datagrams sent out of a0 come out
 * of b1 intact, one at a time (the next sent once the last arrived, so a
 * slow machine drops nothing); the command exits 0 after --count frames
 * (its pool has no page left in use).
 */
static void test_tool(void)
{
	const char *bin = getenv("JUMBO_BIN");
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(UPORT) };
	enum { N = 30 };
	int fd, s, st = 0, t;
	pid_t pid;

	if (!bin) {
		printf("tool: skipped (JUMBO_BIN not set)\n");
		return;
	}
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(bin, bin, "fwd", "--from", "xdp:a1", "--to", "xdp:b0",
		      "--count", "30", "--duration", "600", "--quiet",
		      (char *)NULL);
		_exit(127);
	}
	/* Its filter on a1 says it is receiving (or it is gone: then the
	 * frames are not forwarded, and its status says why). */
	while ((t = tn_sh("ip link show dev a1 | grep -q prog/xdp")) != 0 &&
	       waitpid(pid, &st, WNOHANG) == 0)
		usleep(20000);
	if (t != 0) {
		fprintf(stderr, "tool: jumbo fwd ended (wait status %#x) before "
			"its filter showed\n", (unsigned)st);
		CHECK(0);
		return;
	}
	fd = raw_open(ETH_P_IP);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	REQUIRE(s >= 0);
	inet_pton(AF_INET, "10.79.0.2", &to.sin_addr);
	for (unsigned k = 0; k < N; k++) {
		size_t len = flen(k) > 8972 ? 8972 : flen(k);
		ssize_t r = 0;
		unsigned got = ~0u;

		for (size_t j = 0; j < len; j++)
			buf[j] = fbyte(k, j);
		memcpy(buf, &k, sizeof(k));
		REQUIRE(sendto(s, buf, len, 0, (struct sockaddr *)&to,
			       sizeof(to)) == (ssize_t)len);
		for (int w = 0; w < 5 && got != k; w++) {
			r = raw_recv(fd, buf, sizeof(buf));
			if (r >= 46 && buf[23] == IPPROTO_UDP)
				memcpy(&got, buf + 42, sizeof(got));
		}
		int ok = got == k && (size_t)r == len + 42;
		for (size_t j = sizeof(k); ok && j < len; j++)
			ok = buf[42 + j] == fbyte(k, j);
		if (!ok) {
			fprintf(stderr, "tool: frame %u not forwarded intact "
				"(%zd bytes)\n", k, r);
			CHECK(0);
			kill(pid, SIGTERM);
			break;
		}
	}
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(s);
	close(fd);
}

int main(int argc, char **argv)
{
	seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	printf("seed %llu\n", (unsigned long long)seed);
	setup();
	test_sent();
	test_forwarded();
	test_held();
	test_tool();
	test_full();
	return check_done("tx_xdp");
}
