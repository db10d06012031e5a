/*
 * jumbo rx with senders the project did not write: socat sends a file of
 * test frames as UDP datagrams and as a TCP stream (every frame must arrive
 * and pass the check, and --write must give the file back byte for byte),
 * netcat sends it over TCP into 'jumbo rx --write - | cmp - file', and
 * iperf 2 sends over TCP (every byte must arrive) and over UDP (every
 * datagram it sent arrives and is counted, its closing one included).
 * Skips when none of them is installed (scripts/install-deps.sh installs
 * them all).
 */
#include "test_tool.h"
#include "frame.h"

#define NFRAMES 300

#define ARGS(...) ((char *const[]){ __VA_ARGS__, NULL })

static const char *bin;
static char file[64], got_file[64];
static long long file_bytes;

/* 1 if the files at a and b are the same bytes (cmp(1) says so). */
static int same_file(const char *a, const char *b)
{
	struct proc p;

	proc_run(&p, ARGS("cmp", (char *)a, (char *)b), PROC_HANG_MS);
	if (p.status)
		proc_dump(&p, "cmp");
	return p.status == 0;
}

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

/*
 * Starts jumbo rx with extra arguments; returns its port.  A run ends by
 * --count or by proc_stop_drained(), never by --idle, which ends it
 * before the first frame when a busy machine starts the sender late;
 * --duration only bounds a run that would not end.
 */
static unsigned start_rx(struct proc *rx, char *const extra[])
{
	char *argv[24] = { (char *)bin, "rx", "--port", "0", "--json",
			   "--duration", "600" };
	int n = 7;
	unsigned port;

	for (int i = 0; extra[i] && n < 22; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	proc_start(rx, argv);
	port = proc_port(rx, PROC_HANG_MS);
	if (!port) {
		proc_wait(rx, PROC_HANG_MS);
		proc_dump(rx, "jumbo rx");
	}
	REQUIRE(port != 0);
	return port;
}

static void socat_udp(void)
{
	struct proc rx, tx;
	char dst[64], src[80];
	unsigned port;

	make_file(9000);
	port = start_rx(&rx, ARGS("--verify", "--count", "300", "--write",
				  got_file));
	snprintf(dst, sizeof(dst), "UDP-SENDTO:127.0.0.1:%u", port);
	snprintf(src, sizeof(src), "OPEN:%s", file);
	/* -b 9000: each read of the file, one frame, is one datagram. */
	proc_run(&tx, ARGS("socat", "-u", "-b", "9000", src, dst), PROC_HANG_MS);
	proc_wait(&rx, PROC_HANG_MS);
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
	/* One datagram after another: the file that was sent. */
	CHECK(same_file(file, got_file));
	unlink(got_file);
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
				  "--verify", "--count", "300", "--write",
				  got_file));
	snprintf(dst, sizeof(dst), "TCP:127.0.0.1:%u", port);
	snprintf(src, sizeof(src), "OPEN:%s", file);
	proc_run(&tx, ARGS("socat", "-u", src, dst), PROC_HANG_MS);
	proc_wait(&rx, PROC_HANG_MS);
	printf("socat tcp: rx frames %lld ok %lld\n",
	       json_num(rx.obuf, NULL, "frames"),
	       json_num(rx.obuf, NULL, "frames_ok"));
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames_ok"), NFRAMES);
	CHECK_EQ(json_num(rx.obuf, NULL, "bytes"), file_bytes);
	CHECK_EQ(json_num(rx.obuf, "rx", "short_frames"), 0);
	CHECK(same_file(file, got_file));
	unlink(got_file);
	if (check_failures) {
		proc_dump(&tx, "socat");
		proc_dump(&rx, "jumbo rx");
	}
}

static void iperf_tcp(void)
{
	struct proc rx, tx;
	char port[16];
	unsigned p = start_rx(&rx, ARGS("--backend", "tcp"));

	snprintf(port, sizeof(port), "%u", p);
	/* -n: exactly 10 MiB, then the client closes. */
	proc_run(&tx, ARGS("iperf", "-c", "127.0.0.1", "-p", port, "-n", "10M"),
		 PROC_HANG_MS);
	CHECK_EQ(proc_stop_drained(rx.pid, 1, p, 0, PROC_HANG_MS), 0);
	proc_wait(&rx, PROC_HANG_MS);
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

/*
 * netcat sends the file over TCP into the pipeline of the manual page,
 * 'jumbo rx --backend tcp --write - | cmp - FILE': the stream, raw, comes
 * out as it went in (cmp's status is the pipeline's), and the summary
 * goes to stderr, out of the data's way.
 */
static void netcat_tcp_pipe(void)
{
	struct proc rx, tx;
	char cmd[512];
	unsigned port;
	pid_t jumbo;

	make_file(8191);
	snprintf(cmd, sizeof(cmd), "%s rx --backend tcp --port 0 --json "
		 "--duration 600 --write - | cmp - %s", bin, file);
	proc_start(&rx, ARGS("sh", "-c", cmd));
	port = proc_port(&rx, PROC_HANG_MS);
	REQUIRE(port != 0);
	jumbo = proc_child(rx.pid, "jumbo");
	REQUIRE(jumbo > 0);
	/* -N: shut the socket down at the file's end, so the peer sees it. */
	snprintf(cmd, sizeof(cmd), "nc -N 127.0.0.1 %u < %s", port, file);
	proc_run(&tx, ARGS("sh", "-c", cmd), PROC_HANG_MS);
	CHECK_EQ(proc_stop_drained(jumbo, 1, port, 0, PROC_HANG_MS), 0);
	proc_wait(&rx, PROC_HANG_MS);
	printf("netcat tcp | cmp: status %d, rx bytes %lld of %lld\n",
	       rx.status, json_num(rx.ebuf, NULL, "bytes"), file_bytes);
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(json_num(rx.ebuf, NULL, "bytes"), file_bytes);
	CHECK_EQ(rx.olen, 0);
	if (check_failures) {
		proc_dump(&tx, "nc");
		proc_dump(&rx, "jumbo rx | cmp");
	}
}

/*
 * iperf 2 over UDP with --no-udp-fin (as jumbo(1) suggests): its data
 * datagrams carry sequence numbers 1, 2, ... n and its one closing
 * datagram -(n + 1).  jumbo rx counts every datagram as a frame, the
 * closing one too, and --write keeps them in order to read the numbers
 * back: n + 1 frames, which is iperf's "Sent" figure or one less (iperf
 * 2.1 reports one more than it sent).  Without --no-udp-fin iperf sends
 * its closing datagram again and again waiting for a server report.
 */
static void iperf_udp(void)
{
	struct proc rx, tx;
	char port[16];
	const char *s;
	long long sent = -1, got, pos = 0, neg = 0, order = 1, last = 0;
	unsigned char id[4];
	FILE *f;

	unsigned p = start_rx(&rx, ARGS("--quiet", "--write", got_file));

	snprintf(port, sizeof(port), "%u", p);
	proc_run(&tx, ARGS("iperf", "-c", "127.0.0.1", "-u", "-p", port, "-l",
			   "8000", "-b", "40M", "-t", "1", "--no-udp-fin"),
		 PROC_HANG_MS);
	CHECK_EQ(proc_stop_drained(rx.pid, 0, p, 0, PROC_HANG_MS), 0);
	proc_wait(&rx, PROC_HANG_MS);
	s = strstr(tx.obuf, "Sent ");
	if (s)
		sent = strtoll(s + 5, NULL, 10);
	got = json_num(rx.obuf, NULL, "frames");
	f = fopen(got_file, "r");
	REQUIRE(f != NULL);
	for (long long i = 0; fread(id, 1, 4, f) == 4; i++) {
		long v = (int32_t)((uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 |
				   (uint32_t)id[2] << 8 | id[3]);
		if (v > 0) {
			order &= v == last + 1;
			last = v;
			pos++;
		} else {
			order &= v == -(last + 1);
			neg++;
		}
		REQUIRE(fseek(f, (i + 1) * 8000, SEEK_SET) == 0);
	}
	fclose(f);
	unlink(got_file);
	printf("iperf udp: iperf says it sent %lld datagrams; rx %lld frames: "
	       "%lld data 1..%lld in order %s, %lld closing\n", sent, got,
	       pos, last, order ? "yes" : "no", neg);
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK(strstr(tx.obuf, "WARNING") == NULL &&
	      strstr(tx.ebuf, "WARNING") == NULL);
	CHECK(sent > 0);
	CHECK(got == sent || got == sent - 1);
	CHECK_EQ(pos, last);
	CHECK_EQ(neg, 1);
	CHECK(order);
	CHECK_EQ(got, pos + neg);
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
	int nc = have_prog("nc") && have_prog("cmp");

	bin = jumbo_bin();
	if (!socat && !iperf && !nc)
		skip("none of socat, iperf, nc is installed "
		     "(scripts/install-deps.sh installs them)");
	snprintf(got_file, sizeof(got_file), "/tmp/jumbo-peers-got-%d",
		 (int)getpid());
	if (socat) {
		socat_udp();
		socat_tcp();
	} else {
		printf("socat not installed: its cases not run\n");
	}
	if (nc)
		netcat_tcp_pipe();
	else
		printf("nc (netcat-openbsd) not installed: its case not run\n");
	unlink(file);
	if (iperf) {
		iperf_tcp();
		iperf_udp();
	} else {
		printf("iperf not installed: its cases not run\n");
	}
	return check_done("tool_peers");
}
