/*
 * jumbo rx with senders the project did not write: socat sends a file of
 * test frames as UDP datagrams and as a TCP stream (every frame must arrive
 * and pass the check), and iperf 2 sends over TCP (every byte must arrive)
 * and over UDP (every datagram it says it sent must arrive).  Skips when
 * neither program is installed (scripts/install-deps.sh installs both).
 */
#include "test_tool.h"
#include "../tools/frame.h"

#define NFRAMES 300

static const char *bin;
static char file[64];
static long long file_bytes;

/* NFRAMES test frames of mixed sizes, back to back, as socat reads them. */
static void make_file(size_t frame)
{
	char *buf = malloc(frame);
	int fd;

	REQUIRE(buf != NULL);
	snprintf(file, sizeof(file), "/tmp/jumbo-peers-%d", (int)getpid());
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	file_bytes = 0;
	for (int i = 0; i < NFRAMES; i++) {
		jf_fill(buf, frame, (uint64_t)i, 0);
		REQUIRE(write(fd, buf, frame) == (ssize_t)frame);
		file_bytes += (long long)frame;
	}
	close(fd);
	free(buf);
}

/* Starts jumbo rx with extra arguments; returns its port. */
static unsigned start_rx(struct proc *rx, char *const extra[])
{
	char *argv[24] = { (char *)bin, "rx", "--port", "0", "--json",
			   "--duration", "20", "--idle", "1.5" };
	int n = 9;
	unsigned port;

	for (int i = 0; extra[i] && n < 22; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	proc_start(rx, argv);
	port = proc_port(rx, 10000);
	if (!port) {
		proc_wait(rx, 5000);
		proc_dump(rx, "jumbo rx");
	}
	REQUIRE(port != 0);
	return port;
}

#define ARGS(...) ((char *const[]){ __VA_ARGS__, NULL })

static void socat_udp(void)
{
	struct proc rx, tx;
	char dst[64], src[80];
	unsigned port;

	make_file(9000);
	port = start_rx(&rx, ARGS("--verify", "--count", "300"));
	snprintf(dst, sizeof(dst), "UDP-SENDTO:127.0.0.1:%u", port);
	snprintf(src, sizeof(src), "OPEN:%s", file);
	/* -b 9000: each read of the file, one frame, is one datagram. */
	proc_run(&tx, ARGS("socat", "-u", "-b", "9000", src, dst), 20000);
	proc_wait(&rx, 30000);
	printf("socat udp: rx frames %lld ok %lld bad %lld drops %lld\n",
	       json_num(rx.obuf, NULL, "frames"),
	       json_num(rx.obuf, NULL, "frames_ok"),
	       json_num(rx.obuf, NULL, "bad"),
	       json_num(rx.obuf, "rx", "kernel_drops"));
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames"), NFRAMES);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames_ok"), NFRAMES);
	CHECK_EQ(json_num(rx.obuf, NULL, "bytes"), file_bytes);
	CHECK_EQ(json_num(rx.obuf, NULL, "bad"), 0);
	if (check_failures) {
		proc_dump(&tx, "socat");
		proc_dump(&rx, "jumbo rx");
	}
}

static void socat_tcp(void)
{
	struct proc rx, tx;
	char dst[64], src[80];
	unsigned port;

	make_file(7777);
	port = start_rx(&rx, ARGS("--backend", "tcp", "--framing", "len32",
				  "--verify", "--count", "300"));
	snprintf(dst, sizeof(dst), "TCP:127.0.0.1:%u", port);
	snprintf(src, sizeof(src), "OPEN:%s", file);
	proc_run(&tx, ARGS("socat", "-u", src, dst), 20000);
	proc_wait(&rx, 30000);
	printf("socat tcp: rx frames %lld ok %lld\n",
	       json_num(rx.obuf, NULL, "frames"),
	       json_num(rx.obuf, NULL, "frames_ok"));
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames_ok"), NFRAMES);
	CHECK_EQ(json_num(rx.obuf, NULL, "bytes"), file_bytes);
	CHECK_EQ(json_num(rx.obuf, "rx", "short_frames"), 0);
	if (check_failures) {
		proc_dump(&tx, "socat");
		proc_dump(&rx, "jumbo rx");
	}
}

static void iperf_tcp(void)
{
	struct proc rx, tx;
	char port[16];

	snprintf(port, sizeof(port), "%u",
		 start_rx(&rx, ARGS("--backend", "tcp")));
	/* -n: exactly 10 MiB, then the client closes. */
	proc_run(&tx, ARGS("iperf", "-c", "127.0.0.1", "-p", port, "-n", "10M"),
		 30000);
	proc_wait(&rx, 30000);
	printf("iperf tcp: rx bytes %lld in %lld chains, %lld pages\n",
	       json_num(rx.obuf, NULL, "bytes"), json_num(rx.obuf, NULL,
							  "frames"),
	       json_num(rx.obuf, "rx", "pages"));
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(json_num(rx.obuf, NULL, "bytes"), 10 << 20);
	CHECK_EQ(json_num(rx.obuf, "rx", "connections"), 1);
	CHECK_EQ(json_num(rx.obuf, "rx", "closes"), 1);
	if (check_failures) {
		proc_dump(&tx, "iperf");
		proc_dump(&rx, "jumbo rx");
	}
}

static void iperf_udp(void)
{
	struct proc rx, tx;
	char port[16];
	const char *s;
	long long sent = -1, got;

	snprintf(port, sizeof(port), "%u", start_rx(&rx, ARGS("--quiet")));
	proc_run(&tx, ARGS("iperf", "-c", "127.0.0.1", "-u", "-p", port, "-l",
			   "8000", "-b", "40M", "-t", "1"), 30000);
	proc_wait(&rx, 30000);
	s = strstr(tx.obuf, "Sent ");
	if (s)
		sent = strtoll(s + 5, NULL, 10);
	got = json_num(rx.obuf, NULL, "frames");
	printf("iperf udp: iperf sent %lld datagrams, rx %lld (iperf also "
	       "sends its end-of-test datagram again and again, waiting for a "
	       "report jumbo rx does not send)\n", sent, got);
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK(sent > 0);
	CHECK(got >= sent);
	/* All datagrams are iperf's 8000 bytes: none cut, none merged. */
	CHECK_EQ(json_num(rx.obuf, NULL, "bytes"), got * 8000);
	CHECK_EQ(json_num(rx.obuf, "rx", "kernel_drops"), 0);
	CHECK_EQ(json_num(rx.obuf, "rx", "truncated"), 0);
	if (check_failures) {
		proc_dump(&tx, "iperf");
		proc_dump(&rx, "jumbo rx");
	}
}

int main(void)
{
	int socat = have_prog("socat"), iperf = have_prog("iperf");

	bin = jumbo_bin();
	if (!socat && !iperf)
		skip("neither socat nor iperf is installed "
		     "(scripts/install-deps.sh installs them)");
	if (socat) {
		socat_udp();
		socat_tcp();
		unlink(file);
	} else {
		printf("socat not installed: its cases not run\n");
	}
	if (iperf) {
		iperf_tcp();
		iperf_udp();
	} else {
		printf("iperf not installed: its cases not run\n");
	}
	return check_done("tool_peers");
}
