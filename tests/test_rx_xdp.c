/*
 * The xdp backend on a real interface: a veth pair with a 9000-byte MTU,
 * one end in a network namespace of its own where a child process sends
 * UDP datagrams of mixed sizes (up to jumbo), the other end read through
 * an AF_XDP socket whose UMEM is the pool.  Every frame must arrive whole
 * and intact (Ethernet, IPv4 and UDP headers, the payload's sequence
 * number and pattern), its pages must be pool pages, held while out;
 * a pool with a few pages runs dry (the kernel counts the drops, nothing
 * breaks) and recovers; closing detaches the XDP program.  Needs root and
 * AF_XDP; skips, saying why, without them.
 *
 *   test_rx_xdp [seed]
 */
#include "check.h"
#include "test_net.h"

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>
#include <jumbo/rx.h>

#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sched.h>
#include <net/if.h>

#define PORT 9999
#define NSENT 2000
#define MAXF 9000

/*
 * ns: the command prefix that runs in the peer's namespace; nspath: that
 * namespace.  Nothing here has a name in /var/run/netns: the test's own
 * end lives in a namespace of the test process (unshare at the start),
 * the peer's in one of a helper child that dies with the test
 * (PR_SET_PDEATHSIG), so a run killed by its timeout leaves nothing.
 */
static char ns[96], nspath[64], dev[IFNAMSIZ], peer[IFNAMSIZ];
static char me_ip[32], peer_ip[32], me_mac[32];
static pid_t helper;

static void teardown(void)
{
	if (helper > 0) {
		kill(helper, SIGKILL);
		waitpid(helper, NULL, 0);
		helper = 0;
	}
	/* The pair goes with the peer's namespace; this one goes too. */
	tn_sh("ip link del %s 2>/dev/null", dev);
}

/*
 * Older versions of this test named their namespace jxdp<pid> and left
 * it behind when killed: remove those whose process is gone.
 */
static void remove_stale(void)
{
	DIR *d = opendir("/var/run/netns");
	struct dirent *e;
	unsigned pid;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (sscanf(e->d_name, "jxdp%u", &pid) == 1 &&
		    kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			tn_sh("ip netns del %s 2>/dev/null", e->d_name);
	closedir(d);
}

/* The helper: a network namespace of its own until the test dies. */
static pid_t start_helper(void)
{
	int pfd[2];
	char c = 0;
	pid_t pid;

	REQUIRE(pipe(pfd) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1 || unshare(CLONE_NEWNET) != 0)
			_exit(1);
		c = 1;
		if (write(pfd[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1 || c != 1) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(pfd[0]);
	return pid;
}

static void setup(void)
{
	unsigned id = (unsigned)getpid() % 200 + 20;
	unsigned char mac[6];

	remove_stale();
	tn_netns("rx_xdp", "ip nsenter sysctl");
	if (!jumbo_rx_backend_supported(JUMBO_RX_XDP))
		skip("rx_xdp: %s", jumbo_rx_strerror());
	helper = start_helper();
	if (helper < 0)
		skip("rx_xdp: no network namespace for the peer");
	atexit(teardown);
	snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int)helper);
	snprintf(ns, sizeof(ns), "nsenter --net=%s", nspath);
	snprintf(dev, sizeof(dev), "jx%ua", (unsigned)getpid() % 100000);
	snprintf(peer, sizeof(peer), "jx%ub", (unsigned)getpid() % 100000);
	snprintf(me_ip, sizeof(me_ip), "10.78.%u.1", id);
	snprintf(peer_ip, sizeof(peer_ip), "10.78.%u.2", id);
	if (tn_sh("ip link set lo up") ||
	    tn_sh("ip link add %s type veth peer name %s", dev, peer) ||
	    tn_sh("ip link set %s netns %d", peer, (int)helper) ||
	    tn_sh("ip link set %s mtu 9000 up", dev) ||
	    /* Quiet: no IPv6 neighbour discovery on the pair. */
	    tn_sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", dev) ||
	    tn_sh("%s sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", ns, peer) ||
	    tn_sh("ip addr add %s/24 dev %s", me_ip, dev) ||
	    tn_sh("%s ip link set %s mtu 9000 up", ns, peer) ||
	    tn_sh("%s ip link set lo up", ns) ||
	    tn_sh("%s ip addr add %s/24 dev %s", ns, peer_ip, peer) ||
	    tn_mac(dev, mac))
		skip("rx_xdp: could not make the veth pair and namespaces");
	tn_mac_text(mac, me_mac, sizeof(me_mac));
	/* The socket takes every frame, ARP too: a fixed neighbour. */
	if (tn_sh("%s ip neigh add %s lladdr %s dev %s", ns, me_ip, me_mac,
		  peer))
		skip("rx_xdp: could not make the veth pair and namespaces");
}

/* The datagram k: its size, and byte j of its payload.  Those from
 * FRAG_FIRST on are too long for the MTU: IPv4 fragments them. */
#define FRAG_FIRST 7000u

static size_t dsize(uint64_t seed, unsigned k)
{
	if (k >= FRAG_FIRST)
		return 8990;
	static const size_t sizes[] = { 8, 100, 1400, 3000, 3830, 3840, 4096,
					7000, 8000, 8950 };
	return sizes[(seed + k * 7u) % (sizeof(sizes) / sizeof(sizes[0]))];
}

static unsigned char pat(unsigned k, size_t j)
{
	return (unsigned char)(k * 31u + j * 7u + 1);
}

/* In a child, inside the namespace: n datagrams from first, paced. */
/*
 * Sends datagrams first..first+n-1 from the peer's namespace.  pace: a
 * 2 ms pause after every pace datagrams (0: one burst).  ack >= 0: flow
 * control instead, for tests that count every frame: the sender stays at
 * most pace datagrams ahead of the one-byte acknowledgements the receiver
 * writes to its end of the pair (ack_frame()), so a receiver slowed by a
 * busy machine loses nothing, however long it stays off the CPU.  It
 * waits for the acknowledgements without a deadline: a receiver that
 * gives up (XDP_STALL_NS without a frame: one was lost) closes its end,
 * and the sender exits 4.  go >= 0: the first datagram waits for a byte
 * on go (test_ready's cue).
 */
static pid_t send_from_ns_go(uint64_t seed, unsigned first, unsigned n,
			     unsigned pace, unsigned port, int ack, int go)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid)
		return pid;
	int nfd = open(nspath, O_RDONLY);
	if (nfd < 0 || setns(nfd, CLONE_NEWNET) != 0)
		_exit(2);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, me_ip, &to.sin_addr);
	static unsigned char buf[MAXF];
	unsigned acked = 0;
	for (unsigned k = first; k < first + n; k++) {
		size_t len = dsize(seed, k);
		memcpy(buf, &k, sizeof(k));
		for (size_t j = sizeof(k); j < len; j++)
			buf[j] = pat(k, j);
		char c;
		if (k == first && go >= 0 && read(go, &c, 1) != 1)
			_exit(6);
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			_exit(3);
		if (ack >= 0) {
			unsigned sent = k + 1 - first;
			while (sent - acked >= pace) {
				struct pollfd pfd = { .fd = ack, .events = POLLIN };
				char b[64];
				ssize_t r;
				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					_exit(5);
				r = read(ack, b, sizeof(b));
				if (r <= 0)
					_exit(4);
				acked += (unsigned)r;
			}
		} else if (pace && k % pace == pace - 1) {
			usleep(2000);
		}
	}
	_exit(0);
}

static pid_t send_from_ns(uint64_t seed, unsigned first, unsigned n,
			  unsigned pace, unsigned port)
{
	return send_from_ns_go(seed, first, n, pace, port, -1, -1);
}

/* A flow-controlled sender (send_from_ns_go): *ack gets the
 * receiver's end, for ack_frame(); close it before wait_child() (a
 * sender still waiting then reads what is left, and the end). */
static pid_t send_acked(uint64_t seed, unsigned first, unsigned n,
			unsigned window, unsigned port, int *ack)
{
	int sv[2];

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid_t pid = send_from_ns_go(seed, first, n, window, port, sv[1], -1);
	close(sv[1]);
	*ack = sv[0];
	return pid;
}

/* Tells a flow-controlled sender one of its datagrams arrived. */
static void ack_frame(int ack)
{
	char c = 1;

	/* The sender may be gone already: no SIGPIPE. */
	(void)send(ack, &c, 1, MSG_NOSIGNAL);
}

/*
 * A receive loop fed by a flow-controlled sender gives up after this
 * long without a frame: only a lost frame stops such a stream, and no
 * pause of a busy machine comes near it.
 */
#define XDP_STALL_NS 120000000000ull

/* Nanoseconds on the monotonic clock. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 1 once the child has exited (*st: as wait_child() returns it). */
static int child_done(pid_t pid, int *st)
{
	int w;

	if (waitpid(pid, &w, WNOHANG) != pid)
		return 0;
	*st = WIFEXITED(w) ? WEXITSTATUS(w) : 128 + WTERMSIG(w);
	return 1;
}

static int wait_child(pid_t pid)
{
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static unsigned char frame[MAXF + 64];

/*
 * Checks one chain: pool pages, held; whole Ethernet/IPv4/UDP frame to
 * PORT with a payload that matches its sequence number.  Returns the
 * sequence number; -2 for a frame that is not one of ours (the socket
 * takes all the queue's traffic); -1 for a bad one.
 */
static long check_frame(struct jumbo_pool *pool, uint64_t seed, struct mbuf *m)
{
	size_t len = (size_t)m->m_pkthdr.len;

	for (struct mbuf *n = m; n; n = n->m_next) {
		vm_page_t pg = jumbo_pool_page(pool, n->m_data);
		if (!pg || jumbo_page_state(pg, NULL, NULL) != JUMBO_PG_HELD)
			return -1;
	}
	if (len > sizeof(frame) || m_copydata(m, 0, len, (caddr_t)frame) != 0)
		return -1;
	if (len < 14 + 20 + 8 + 4)
		return -2;
	const unsigned char *ip = frame + 14;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	const unsigned char *udp = ip + ihl;
	if (frame[12] != 0x08 || frame[13] != 0x00 || ip[9] != 17 ||
	    ((udp[2] << 8) | udp[3]) != PORT)
		return -2;
	size_t plen = (size_t)((udp[4] << 8) | udp[5]) - 8;
	const unsigned char *pl = udp + 8;
	unsigned k;
	if (pl + plen != frame + len) /* veth pads nothing above 60 bytes */
		if (len != 60 || pl + plen > frame + len)
			return -1;
	memcpy(&k, pl, sizeof(k));
	if (plen != dsize(seed, k))
		return -1;
	for (size_t j = sizeof(k); j < plen; j++)
		if (pl[j] != pat(k, j))
			return -1;
	return k;
}

static unsigned xdp_queue; /* what open_xdp asks for: 0 */

static struct jumbo_rx *open_xdp(struct jumbo_pool *pool, unsigned ring,
				  unsigned port)
{
	struct jumbo_rx_params p;
	int err = 0;

	jumbo_rx_params_init(&p);
	p.queue = xdp_queue;
	p.backend = JUMBO_RX_XDP;
	p.ifname = dev;
	p.pool = pool;
	p.ring_entries = ring;
	p.port = (uint16_t)port;
	p.max_frame = MAXF + 64;
	struct jumbo_rx *rx = jumbo_rx_open(&p, &err);
	if (!rx)
		fprintf(stderr, "rx_xdp: open: %d %s\n", err, jumbo_rx_strerror());
	return rx;
}

/*
 * stderr to a file while fn runs; returns how many bytes were written
 * there (libbpf and libxdp must say nothing of their own).
 */
static long quiet_stderr(int *saved)
{
	char path[64];
	int fd;

	if (*saved < 0) {
		snprintf(path, sizeof(path), "/tmp/rx_xdp.%d.stderr",
			 (int)getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		REQUIRE(fd >= 0);
		unlink(path);
		fflush(stderr);
		*saved = dup(2);
		dup2(fd, 2);
		close(fd);
		return 0;
	}
	fflush(stderr);
	long n = lseek(2, 0, SEEK_END);
	dup2(*saved, 2);
	close(*saved);
	*saved = -1;
	return n;
}

/*
 * A receiver of the port's frames in a child process, on ifname in the
 * namespace at netns (NULL: this one), until it is killed or the test
 * dies.  Returns its pid once it has opened; *opened says whether it
 * could.
 */
static pid_t receiver_child(const char *netns, const char *ifname,
			    int *opened)
{
	int pfd[2];
	char c = 0;

	REQUIRE(pipe(pfd) == 0);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct jumbo_rx_params p;
		int nfd = netns ? open(netns, O_RDONLY) : -1;

		close(pfd[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (netns && (nfd < 0 || setns(nfd, CLONE_NEWNET) != 0))
			_exit(1);
		jumbo_rx_params_init(&p);
		p.backend = JUMBO_RX_XDP;
		p.ifname = ifname;
		p.ring_entries = 64;
		p.port = PORT;
		p.max_frame = MAXF + 64;
		c = jumbo_rx_open(&p, NULL) ? 1 : 2;
		if (c != 1)
			fprintf(stderr, "rx_xdp: receiver on %s: %s\n", ifname,
				jumbo_rx_strerror());
		if (write(pfd[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	*opened = read(pfd[0], &c, 1) == 1 && c == 1;
	close(pfd[0]);
	return pid;
}

/*
 * A receiver killed by kill -9 leaves nothing on the interface: while it
 * lives (stopped), another open fails saying in one line who holds the
 * interface; once it is killed, a new receiver opens and receives.  A
 * stale filter of ours attached by netlink (as older versions did) is
 * replaced.  A queue the veth does not have is refused in one line.  No
 * line of libbpf's or libxdp's own reaches stderr.
 */
static void test_killed(uint64_t seed)
{
	struct mbuf *pkts[64];
	struct jumbo_rx *rx;
	int saved = -1, got = 0, opened;
	long said;

	pid_t pid = receiver_child(NULL, dev, &opened);
	CHECK(opened);
	kill(pid, SIGSTOP);

	quiet_stderr(&saved);
	errno = 0;
	struct jumbo_rx_params p;
	jumbo_rx_params_init(&p);
	p.backend = JUMBO_RX_XDP;
	p.ifname = dev;
	p.port = PORT;
	rx = jumbo_rx_open(&p, NULL);
	int busy_errno = errno;
	char busy[256];
	snprintf(busy, sizeof(busy), "%s", jumbo_rx_strerror());
	p.queue = 3;
	struct jumbo_rx *q3 = jumbo_rx_open(&p, NULL);
	int q3_errno = errno;
	char q3msg[256];
	snprintf(q3msg, sizeof(q3msg), "%s", jumbo_rx_strerror());
	said = quiet_stderr(&saved);
	printf("rx_xdp: while another lives: \"%s\"\n", busy);
	printf("rx_xdp: queue 3: \"%s\"\n", q3msg);
	CHECK(rx == NULL);
	CHECK_EQ(busy_errno, EBUSY);
	CHECK(strstr(busy, "another libjumbo receiver") != NULL);
	CHECK(strchr(busy, '\n') == NULL);
	CHECK(q3 == NULL);
	CHECK_EQ(q3_errno, EINVAL);
	CHECK(strstr(q3msg, "one receive queue") != NULL);
	struct jumbo_rx_limits lim;
	p.queue = 0;
	CHECK_EQ(jumbo_rx_limits(&p, &lim), 0);
	CHECK_EQ(lim.queues, 1); /* a veth */
	CHECK_EQ(said, 0);
	if (rx)
		jumbo_rx_close(rx);
	if (q3)
		jumbo_rx_close(q3);

	kill(pid, SIGKILL);
	CHECK_EQ(wait_child(pid), 128 + SIGKILL);

	quiet_stderr(&saved);
	rx = open_xdp(NULL, 64, PORT);
	said = quiet_stderr(&saved);
	CHECK_EQ(said, 0);
	REQUIRE(rx != NULL);
	CHECK_EQ(wait_child(send_from_ns(seed, 0, 20, 0, PORT)), 0);
	for (int idle = 0; got < 20 && idle < 10;) {
		int n = jumbo_rx_recv(rx, pkts, 64, 100);
		REQUIRE(n >= 0);
		idle = n ? 0 : idle + 1;
		for (int i = 0; i < n; i++) {
			got += check_frame(jumbo_rx_pool(rx), seed, pkts[i]) >= 0;
			m_freem(pkts[i]);
		}
	}
	printf("rx_xdp: after kill -9 of the last receiver: %d of 20 "
	       "received\n", got);
	CHECK_EQ(got, 20);
	CHECK_EQ(jumbo_rx_close(rx), 0);

	/*
	 * A stale filter attached by netlink: what older versions left.  It
	 * is replaced while a receiver in the peer's namespace holds its
	 * filter by a bpf_link on an interface with the same ifindex as
	 * ours (an ifindex is only unique within its namespace): as another
	 * test or program beside this one may, that receiver is not the
	 * holder of ours.
	 */
	const char *obj = getenv("JUMBO_XDP_OBJ");
	if (!obj || tn_sh("ip link set dev %s xdpgeneric obj %s sec xdp.frags "
			  "2>/dev/null", dev, obj) != 0) {
		printf("rx_xdp: no stale filter could be attached (%s): not "
		       "tried\n", obj ? "ip link refused it" : "JUMBO_XDP_OBJ "
		       "not set");
		return;
	}
	CHECK(tn_sh("ip link show dev %s | grep -q prog/xdp", dev) == 0);
	char twin[IFNAMSIZ];
	pid_t other = -1;
	snprintf(twin, sizeof(twin), "jx%uc", (unsigned)getpid() % 100000);
	unsigned idx = if_nametoindex(dev);
	/* A veth's peer is made first: it would take idx without its own. */
	if (tn_sh("%s ip link add %s index %u type veth peer name jx%ud index "
		  "%u", ns, twin, idx, (unsigned)getpid() % 100000,
		  idx + 1000) == 0) {
		CHECK(tn_sh("%s ip link set %s up", ns, twin) == 0);
		other = receiver_child(nspath, twin, &opened);
		CHECK(opened);
	} else {
		printf("rx_xdp: no interface with our ifindex in the peer's "
		       "namespace (ip link add ... index): not tried\n");
	}
	quiet_stderr(&saved);
	rx = open_xdp(NULL, 64, PORT);
	said = quiet_stderr(&saved);
	CHECK_EQ(said, 0);
	CHECK(rx != NULL);
	if (rx)
		CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK(tn_sh("ip link show dev %s | grep -q prog/xdp", dev) != 0);
	printf("rx_xdp: a stale filter attached by netlink was replaced%s\n",
	       other > 0 ? ", beside a receiver on the same ifindex in "
			   "another namespace" : "");
	if (other > 0) {
		kill(other, SIGKILL);
		CHECK_EQ(wait_child(other), 128 + SIGKILL);
		tn_sh("%s ip link del %s", ns, twin);
	}
}

/*
 * The counters add up exactly: a burst of datagrams sent before the
 * receiver takes any, into a 64-entry ring, is partly dropped by the
 * kernel; then received + kernel_drops + no_buffer == sent (an over- or
 * under-count fails).
 */
static void test_drops(uint64_t seed)
{
	struct mbuf *pkts[64];
	struct jumbo_rx_stats st;
	unsigned got = 0;

	struct jumbo_rx *rx = open_xdp(NULL, 64, PORT);
	REQUIRE(rx != NULL);
	CHECK_EQ(wait_child(send_from_ns(seed, 0, 1000, 0, PORT)), 0);
	for (int idle = 0; idle < 3;) {
		int n = jumbo_rx_recv(rx, pkts, 64, 100);
		REQUIRE(n >= 0);
		idle = n ? 0 : idle + 1;
		for (int i = 0; i < n; i++) {
			got += check_frame(jumbo_rx_pool(rx), seed, pkts[i]) >= 0;
			m_freem(pkts[i]);
		}
	}
	REQUIRE(jumbo_rx_stats(rx, &st) == 0);
	printf("rx_xdp: burst of 1000 into a 64-entry ring: received %u, "
	       "kernel drops %llu, no buffer %llu\n", got,
	       (unsigned long long)st.kernel_drops,
	       (unsigned long long)st.no_buffer);
	CHECK(st.kernel_drops + st.no_buffer > 0);
	CHECK_EQ(got + st.kernel_drops + st.no_buffer, 1000);
	CHECK_EQ(st.packets, got);
	CHECK_EQ(jumbo_rx_close(rx), 0);
}

/* What a stream of NSENT flow-controlled datagrams brought. */
struct stream {
	unsigned got, bad, dup, other;
};

/*
 * Receives a stream of NSENT datagrams from the peer, flow-controlled,
 * checking each frame; after each batch, between(arg) if given.
 */
static struct stream receive_stream(struct jumbo_rx *rx, uint64_t seed,
				    void (*between)(void *), void *arg)
{
	static unsigned char seen[NSENT];
	struct mbuf *pkts[64];
	struct stream r = {0, 0, 0, 0};
	int ack;

	memset(seen, 0, sizeof(seen));
	pid_t pid = send_acked(seed, 0, NSENT, 32, PORT, &ack);
	for (uint64_t last = now_ns();
	     r.got < NSENT && now_ns() - last < XDP_STALL_NS;) {
		int n = jumbo_rx_recv(rx, pkts, 64, 100);
		REQUIRE(n >= 0);
		if (n)
			last = now_ns();
		for (int i = 0; i < n; i++) {
			long k = check_frame(jumbo_rx_pool(rx), seed, pkts[i]);
			if (k == -2)
				r.other++;
			else if (k < 0 || k >= NSENT)
				r.bad++;
			else if (seen[k]++)
				r.dup++;
			else
				r.got++;
			if (k != -2)
				ack_frame(ack);
			m_freem(pkts[i]);
		}
		if (between)
			between(arg);
	}
	close(ack);
	CHECK_EQ(wait_child(pid), 0);
	return r;
}

static void test_stream(uint64_t seed)
{
	struct mbuf *pkts[64];

	struct jumbo_rx *rx = open_xdp(NULL, 1024, PORT);
	REQUIRE(rx != NULL);
	CHECK_EQ(jumbo_rx_backend_of(rx), JUMBO_RX_XDP);
	CHECK(tn_sh("ip link show dev %s | grep -q prog/xdp", dev) == 0);
	struct stream r = receive_stream(rx, seed, NULL, NULL);
	/*
	 * With a port, the filter sends the rest on to the kernel: with the
	 * fixed neighbour gone the peer must resolve our address by ARP, and
	 * a socket of the host's own gets UDP to another port.
	 */
	CHECK(tn_sh("%s ip neigh del %s dev %s", ns, me_ip, peer) == 0);
	int us = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT + 1) };
	inet_pton(AF_INET, me_ip, &a.sin_addr);
	REQUIRE(us >= 0 && bind(us, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK_EQ(wait_child(send_from_ns(seed, 5000, 1, 0, PORT + 1)), 0);
	unsigned char hb[MAXF];
	struct timeval tv = { 3, 0 };
	setsockopt(us, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t hl = recv(us, hb, sizeof(hb), 0);
	CHECK(hl == (ssize_t)dsize(seed, 5000) && hb[sizeof(unsigned)] ==
						       pat(5000, sizeof(unsigned)));
	close(us);
	CHECK(tn_sh("%s ip neigh replace %s lladdr %s dev %s", ns, me_ip,
		    me_mac, peer) == 0);
	/* Fragmented datagrams are the kernel's: no half frame arrives. */
	CHECK_EQ(wait_child(send_from_ns(seed, FRAG_FIRST, 20, 0, PORT)), 0);
	int nf = jumbo_rx_recv(rx, pkts, 64, 300);
	CHECK_EQ(nf, 0);
	for (int i = 0; i < nf; i++)
		m_freem(pkts[i]);
	struct jumbo_rx_stats st;
	REQUIRE(jumbo_rx_stats(rx, &st) == 0);
	printf("rx_xdp: sent %u, received %u intact (bad %u, twice %u, other "
	       "frames %u); kernel drops %llu, no buffer %llu, pages %llu\n",
	       NSENT, r.got, r.bad, r.dup, r.other,
	       (unsigned long long)st.kernel_drops,
	       (unsigned long long)st.no_buffer, (unsigned long long)st.pages);
	CHECK_EQ(r.bad, 0);
	CHECK_EQ(r.dup, 0);
	/* Flow-controlled, nothing is lost however busy the machine. */
	CHECK(r.got + st.kernel_drops + st.no_buffer >= NSENT);
	CHECK_EQ(r.got, NSENT);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK(tn_sh("ip link show dev %s | grep -q prog/xdp", dev) != 0);
}

/*
 * The pool is the UMEM: the kernel pinned its pages and writes frames
 * into those pages, whatever the process maps at their addresses later.
 * A trim that gave a free page's memory back (MADV_DONTNEED) would leave
 * the kernel writing into the old page and the receiver reading a new,
 * zeroed one.  So trim refuses (EBUSY) while the UMEM exists, and every
 * frame received after one arrives intact; after the close it trims.
 */
struct trims {
	struct jumbo_pool *pool;
	long refused, given;
};

/* Pages freed by the batch just received are in the depot: trim them. */
static void trim_between(void *arg)
{
	struct trims *t = arg;

	jumbo_pool_flush_cache(t->pool);
	long r = jumbo_pool_trim(t->pool, 0);
	if (r < 0)
		t->refused++;
	else
		t->given += r;
}

static void test_trim_pinned(uint64_t seed)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.max_pages = 4096;
	pp.init_pages = 4096;
	struct trims t = {jumbo_pool_create(&pp), 0, 0};
	REQUIRE(t.pool != NULL);
	struct jumbo_rx *rx = open_xdp(t.pool, 1024, PORT);
	REQUIRE(rx != NULL);
	struct stream r = receive_stream(rx, seed, trim_between, &t);
	printf("rx_xdp: trim while the pool is a UMEM: %u frames intact, %u "
	       "bad; trims refused %ld times, %ld pages given back\n", r.got,
	       r.bad + r.dup, t.refused, t.given);
	CHECK_EQ(r.bad + r.dup, 0);
	CHECK_EQ(r.got, NSENT);
	CHECK_EQ(t.given, 0);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK(jumbo_pool_trim(t.pool, 0) > 0); /* no UMEM now */
	CHECK_EQ(jumbo_pool_destroy(t.pool), 0);
}

/*
 * The filter shows on the interface only once the receiver is ready: a
 * watcher thread that sees it (bpf_xdp_query, microseconds after the
 * attach) has a datagram sent at once from the peer, and it must arrive.
 * The filter was attached first before, and the socket made, put in its
 * map and given pages after (milliseconds): such a datagram went to the
 * kernel's stack (the filter's XDP_PASS for a queue without a socket) and
 * was lost.  Rounds, since each open races the watcher anew.
 */
struct watch {
	int ifindex, fd;
};

static bool filter_on(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	return bpf_xdp_query(ifindex, 0, &q) == 0 && q.prog_id != 0;
}

static void *watch_filter(void *arg)
{
	struct watch *w = arg;
	char c = 1;

	while (!filter_on(w->ifindex))
		;
	if (write(w->fd, &c, 1) != 1)
		abort();
	return NULL;
}

static void test_ready(uint64_t seed)
{
	enum { ROUNDS = 5 };
	struct mbuf *pkts[64];
	unsigned arrived = 0;
	int ifindex = (int)if_nametoindex(dev);

	REQUIRE(ifindex > 0);
	for (unsigned r = 0; r < ROUNDS; r++) {
		unsigned k = 6000 + r; /* below FRAG_FIRST: one frame each */
		int go[2];
		pthread_t t;

		/* The last round's filter gone first. */
		while (filter_on(ifindex))
			usleep(1000);
		REQUIRE(pipe(go) == 0);
		pid_t pid = send_from_ns_go(seed, k, 1, 0, PORT, -1, go[0]);
		close(go[0]);
		struct watch w = { ifindex, go[1] };
		REQUIRE(pthread_create(&t, NULL, watch_filter, &w) == 0);
		struct jumbo_rx *rx = open_xdp(NULL, 256, PORT);
		REQUIRE(rx != NULL);
		pthread_join(t, NULL);
		close(go[1]);
		CHECK_EQ(wait_child(pid), 0);
		bool got = false;
		for (uint64_t t0 = now_ns(); !got && now_ns() - t0 < XDP_STALL_NS;) {
			int n = jumbo_rx_recv(rx, pkts, 64, 100);
			REQUIRE(n >= 0);
			for (int i = 0; i < n; i++) {
				got |= check_frame(jumbo_rx_pool(rx), seed,
						   pkts[i]) == (long)k;
				m_freem(pkts[i]);
			}
		}
		if (!got)
			fprintf(stderr, "rx_xdp: round %u: the datagram sent as "
				"the filter showed was lost\n", r);
		arrived += got;
		CHECK_EQ(jumbo_rx_close(rx), 0);
	}
	printf("rx_xdp: %u of %u datagrams sent as soon as the filter showed "
	       "arrived\n", arrived, ROUNDS);
	CHECK_EQ(arrived, ROUNDS);
}

/* A pool of 96 pages: chains kept, it runs dry; freed, it recovers. */
static void test_exhaustion(uint64_t seed)
{
	struct jumbo_pool_params pp;
	struct mbuf *keep[256], *pkts[64];
	unsigned nkeep = 0, after = 0;

	jumbo_pool_params_init(&pp);
	pp.max_pages = pp.init_pages = 96;
	pp.name = "xdp-small";
	struct jumbo_pool *pool = jumbo_pool_create(&pp);
	REQUIRE(pool != NULL);
	struct jumbo_rx *rx = open_xdp(pool, 64, 0); /* the whole queue */
	REQUIRE(rx != NULL);

	/* Until the sender has finished and nothing more comes: a sender
	 * that a busy machine starts late is waited for. */
	pid_t pid = send_from_ns(seed, 0, 200, 16, PORT);
	int sent_st = -1, sent_all = 0;
	for (int idle = 0; idle < 5;) {
		int n = jumbo_rx_recv(rx, pkts, 64, 100);
		REQUIRE(n >= 0);
		if (!sent_all)
			sent_all = child_done(pid, &sent_st);
		idle = n || !sent_all ? 0 : idle + 1;
		for (int i = 0; i < n; i++) {
			CHECK(check_frame(pool, seed, pkts[i]) != -1);
			if (nkeep < 256)
				keep[nkeep++] = pkts[i];
			else
				m_freem(pkts[i]);
		}
	}
	CHECK_EQ(sent_st, 0);
	struct jumbo_rx_stats st;
	REQUIRE(jumbo_rx_stats(rx, &st) == 0);
	printf("rx_xdp: 96-page pool, 200 sent: kept %u chains, no buffer "
	       "%llu\n", nkeep, (unsigned long long)st.no_buffer);
	CHECK(nkeep < 200);
	CHECK(st.no_buffer > 0);
	for (unsigned i = 0; i < nkeep; i++)
		m_freem(keep[i]);

	/*
	 * The fill ring ran dry: the receiver stocks it again on its next
	 * call, before the sender starts (a call that does not wait), and
	 * the sender stays 8 frames (24 pages at most) ahead of it.
	 */
	int n0 = jumbo_rx_recv(rx, pkts, 64, 0);
	REQUIRE(n0 >= 0);
	for (int i = 0; i < n0; i++)
		m_freem(pkts[i]); /* nothing of ours is in flight */
	int ack;
	pid = send_acked(seed, 1000, 100, 8, PORT, &ack);
	for (uint64_t last = now_ns();
	     after < 100 && now_ns() - last < XDP_STALL_NS;) {
		int n = jumbo_rx_recv(rx, pkts, 64, 100);
		REQUIRE(n >= 0);
		if (n)
			last = now_ns();
		for (int i = 0; i < n; i++) {
			long k = check_frame(pool, seed, pkts[i]);
			CHECK(k >= 1000 || k == -2);
			after += k >= 1000;
			if (k >= 1000)
				ack_frame(ack);
			m_freem(pkts[i]);
		}
	}
	close(ack);
	CHECK_EQ(wait_child(pid), 0);
	printf("rx_xdp: after the chains came back: %u of 100 received\n",
	       after);
	CHECK_EQ(after, 100);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	struct jumbo_stats ps;
	REQUIRE(jumbo_pool_stats(pool, &ps) == 0);
	CHECK_EQ(ps.in_use, 0); /* the fill ring's pages came back too */
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * The jumbo command end to end: jumbo tx in the namespace, jumbo rx
 * --backend xdp --verify here; rx must see every frame intact.
 */
/* The number after "key": in the JSON file path, or -1. */
static long json_num(const char *path, const char *key)
{
	static char buf[8192];
	char pat[64];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	const char *p;

	if (f)
		fclose(f);
	buf[n] = 0;
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(buf, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static void test_tool(void)
{
	const char *bin = getenv("JUMBO_BIN");
	char out[128], err[128];

	if (!bin) {
		printf("rx_xdp: JUMBO_BIN not set: the jumbo command is not "
		       "tried\n");
		return;
	}
	snprintf(out, sizeof(out), "/tmp/rx_xdp.%d.json", (int)getpid());
	snprintf(err, sizeof(err), "/tmp/rx_xdp.%d.err", (int)getpid());
	/*
	 * The sender starts once the receiver says it takes the frames (or
	 * is gone), however long a busy machine makes it take; --duration
	 * bounds only a run that lost frames and so never reaches --count.
	 */
	int rc = tn_sh("%s rx --backend xdp --dev %s --count 300 --verify --json "
		       "--duration 120 >%s 2>%s & rx=$!; "
		       "until grep -q 'taking the frames' %s; do "
		       "kill -0 $rx || break; sleep 0.1; done; "
		       "%s %s tx --addr %s --port 9000 --count 300 "
		       "--min 100 --max 8900 --rate 2000 >/dev/null || exit 9; "
		       "wait $rx", bin, dev, out, err, err, ns, bin, me_ip);
	/*
	 * Every frame intact; on a machine too busy to keep the fill ring
	 * stocked some may be lost (jumbo rx then exits 1, short of its
	 * --count), but each of those must be counted as the kernel's or a
	 * no-buffer drop.
	 */
	long ok = json_num(out, "frames_ok"), bad = json_num(out, "bad");
	long lost = json_num(out, "lost"), nobuf = json_num(out, "no_buffer");
	long kdrops = json_num(out, "kernel_drops");
	CHECK_EQ(bad, 0);
	CHECK(ok > 0);
	/*
	 * The library's counters account for every frame sent; the tool's
	 * "lost" (gaps in the sequence) cannot see frames lost at the tail
	 * of the run, so it is at most what the counters say.
	 */
	CHECK_EQ(ok + nobuf + kdrops, 300);
	CHECK(lost <= nobuf + kdrops);
	/* Exit 1 exactly when frames were lost (at the tail too, where
	 * "lost" does not see them). */
	CHECK(ok == 300 ? rc == 0 : rc == 256 && nobuf + kdrops > 0);
	if (bad || ok + nobuf + kdrops != 300 || lost > nobuf + kdrops)
		tn_sh("cat %s %s >&2", out, err);
	printf("rx_xdp: jumbo tx -> jumbo rx --backend xdp --verify: %ld of "
	       "300 frames intact, %ld lost and counted as drops\n", ok,
	       lost);
	tn_sh("rm -f %s %s", out, err);
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "rx_xdp");

	setup();
	/* A pool that is not committed whole cannot be a UMEM. */
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 1024;
	struct jumbo_pool *lazy = jumbo_pool_create(&pp);
	REQUIRE(lazy != NULL);
	errno = 0;
	CHECK(open_xdp(lazy, 64, 0) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(jumbo_pool_destroy(lazy), 0);

	test_stream(seed);
	test_trim_pinned(seed);
	test_ready(seed);
	test_exhaustion(seed);
	test_tool();
	test_killed(seed);
	test_drops(seed);
	teardown();
	return check_done("rx_xdp");
}
