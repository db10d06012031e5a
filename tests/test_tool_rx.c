/*
 * jumbo rx's own behaviour with jumbo tx as the sender: rates over the
 * time frames flowed when the sender starts late, the --csv lines, --idle
 * when no frame ever comes, a hint and exit 1 when every datagram was
 * longer than --frame, the pool's cap from --pages and JUMBO_MAX_PAGES,
 * and stdout for the data (--csv -, --write -).
 */
#include "test_tool.h"

static const char *bin;
static char csv[64];

#define ARGS(...) ((char *const[]){ __VA_ARGS__, NULL })

/* Starts jumbo rx with extra arguments; returns its port. */
static unsigned start_rx(struct proc *rx, char *const extra[])
{
	/* Runs end by --count or by proc_stop_drained(); --duration only
	 * bounds one that would not. */
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

static void send_frames(struct proc *tx, unsigned port, char *count,
			char *rate, char *frame)
{
	char p[16];

	snprintf(p, sizeof(p), "%u", port);
	proc_run(tx, ARGS((char *)bin, "tx", "--port", p, "--count", count,
			  "--rate", rate, "--frame", frame, "--json"), PROC_HANG_MS);
}

/* Seconds on the monotonic clock. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The sender starts 3 s after the receiver and sends for about 0.5 s.
 * The receiver's rate must be over the time frames flowed, which lies
 * within the time from the sender's start to the receiver's end as this
 * test sees it (t_end), not over its whole life (3 s more): exact however
 * slow the machine, where a comparison with the sender's own rate is not
 * (a receiver kept off the CPU takes the frames in one burst).  400
 * frames: their 7 MB of buffer fit the socket's however late the
 * receiver reads them (8 MB even without CAP_NET_ADMIN), so none is lost.
 * The CSV of the same run: its header, and its last line's counts are
 * the summary's.
 */
static void late_sender(void)
{
	struct proc rx, tx;
	struct timespec late = { 3, 0 };
	double tx_gbps, rx_gbps, rx_secs, tx_secs, t0, t_end, gbps_lo, gbps_hi;
	long long bytes;
	char line[512], last[512] = "";
	int lines = 0;
	FILE *f;

	snprintf(csv, sizeof(csv), "/tmp/jumbo-rx-csv-%d", (int)getpid());
	unsigned port = start_rx(&rx, ARGS("--count", "400", "--csv", csv));
	nanosleep(&late, NULL);
	t0 = now_s();
	send_frames(&tx, port, "400", "800", "9000");
	proc_wait(&rx, PROC_HANG_MS);
	t_end = now_s() - t0;
	tx_secs = json_dbl(tx.obuf, NULL, "seconds");
	tx_gbps = json_dbl(tx.obuf, NULL, "gbit_per_s");
	rx_gbps = json_dbl(rx.obuf, NULL, "gbit_per_s");
	rx_secs = json_dbl(rx.obuf, NULL, "seconds");
	bytes = json_num(rx.obuf, NULL, "bytes");
	printf("late sender: tx %.3f s %.3f Gbit/s; rx %.4f s %.3f Gbit/s, "
	       "first frame at %.3f s; %.3f s from the sender's start to the "
	       "receiver's end\n", tx_secs, tx_gbps, rx_secs, rx_gbps,
	       json_dbl(rx.obuf, NULL, "first_frame_s"), t_end);
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames"), 400);
	CHECK_EQ(bytes, 400 * 9000);
	CHECK(tx_gbps > 0);
	CHECK(rx_secs > 0 && rx_secs <= t_end);
	/* The rate is the bytes over those seconds (printed to 1e-4). */
	gbps_lo = (double)bytes * 8 / (rx_secs + 5e-5) / 1e9 - 5e-5;
	gbps_hi = (double)bytes * 8 / (rx_secs - 5e-5) / 1e9 + 5e-5;
	CHECK(rx_gbps >= gbps_lo && (rx_secs <= 5e-5 || rx_gbps <= gbps_hi));
	CHECK(json_dbl(rx.obuf, NULL, "first_frame_s") >= 2.5);
	CHECK(json_dbl(rx.obuf, NULL, "frames_per_s") > 0);

	f = fopen(csv, "r");
	REQUIRE(f != NULL);
	REQUIRE(fgets(line, sizeof(line), f) != NULL);
	CHECK(!strcmp(line, "time_s,frames,bytes,gbps,frames_per_s,"
			    "kernel_drops,nobuf_drops,truncated,pool_in_use\n"));
	while (fgets(line, sizeof(line), f)) {
		int commas = 0;
		for (char *c = line; *c; c++)
			commas += *c == ',';
		CHECK_EQ(commas, 8);
		/* Time runs from the first frame, not from the start. */
		CHECK(strtod(line, NULL) <= t_end);
		memcpy(last, line, sizeof(line));
		lines++;
	}
	fclose(f);
	unlink(csv);
	printf("csv: %d lines, the last: %s", lines, last);
	CHECK(lines >= 1);
	{
		/* frames and bytes of the last line are the totals */
		char *c = strchr(last, ',');
		CHECK(c && strtoll(c + 1, &c, 10) == 400);
		CHECK(c && *c == ',' &&
		      strtoll(c + 1, NULL, 10) == json_num(rx.obuf, NULL,
							   "bytes"));
	}
	if (check_failures) {
		proc_dump(&rx, "jumbo rx");
		proc_dump(&tx, "jumbo tx");
	}
}

/* --idle ends a run in which no frame ever came (it waited for one). */
static void idle_without_frames(void)
{
	struct proc rx;

	start_rx(&rx, ARGS("--idle", "0.5", "--duration", "600"));
	/* Long enough on any machine; a run that waits for a first frame
	 * is killed here instead, and fails. */
	proc_wait(&rx, PROC_HANG_MS);
	printf("idle without frames: status %d\n", rx.status);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames"), 0);
	if (check_failures)
		proc_dump(&rx, "jumbo rx --idle");
}

/* Every datagram over --frame: a hint on stderr, and exit 1. */
static void all_truncated(void)
{
	struct proc rx, tx;
	unsigned port = start_rx(&rx, ARGS("--quiet"));

	send_frames(&tx, port, "50", "2000", "20000");
	CHECK_EQ(proc_stop_drained(rx.pid, 0, port, 0, PROC_HANG_MS), 0);
	proc_wait(&rx, PROC_HANG_MS);
	printf("all truncated: status %d, truncated %lld\n", rx.status,
	       json_num(rx.obuf, "rx", "truncated"));
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 1);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames"), 0);
	CHECK_EQ(json_num(rx.obuf, "rx", "truncated"), 50);
	CHECK(strstr(rx.ebuf, "longer than --frame 9000") != NULL);
	if (check_failures)
		proc_dump(&rx, "jumbo rx");
}

/*
 * The pool's cap: --pages, else JUMBO_MAX_PAGES.  A cap of 8 pages holds
 * two 9000-byte datagrams at a time (3 pages each): the high-water mark
 * stays at or under it whatever the traffic.
 */
static void pool_cap(const char *how)
{
	struct proc rx, tx;
	unsigned port;

	if (!strcmp(how, "env")) {
		setenv("JUMBO_MAX_PAGES", "8", 1);
		port = start_rx(&rx, ARGS("--quiet"));
		unsetenv("JUMBO_MAX_PAGES");
	} else {
		port = start_rx(&rx, ARGS("--pages", "8"));
	}
	send_frames(&tx, port, "200", "2000", "9000");
	CHECK_EQ(proc_stop_drained(rx.pid, 0, port, 0, PROC_HANG_MS), 0);
	proc_wait(&rx, PROC_HANG_MS);
	printf("pool cap by %s: high water %lld, frames %lld, no buffer "
	       "%lld\n", how, json_num(rx.obuf, "pool", "high_water"),
	       json_num(rx.obuf, NULL, "frames"),
	       json_num(rx.obuf, "rx", "no_buffer"));
	CHECK_EQ(rx.status, 0);
	CHECK(json_num(rx.obuf, "pool", "high_water") > 0);
	CHECK(json_num(rx.obuf, "pool", "high_water") <= 8);
	CHECK(json_num(rx.obuf, NULL, "frames") > 0);
	if (check_failures)
		proc_dump(&rx, "jumbo rx");
}

/*
 * Standard output for the data: --csv - gets the CSV alone on stdout (the
 * summary goes to stderr), and --write - into a reader that goes away
 * (head) ends the run with a message and exit 1, not death by SIGPIPE.
 */
static void stdout_data(void)
{
	struct proc rx, tx;
	char cmd[256];
	unsigned port;

	port = start_rx(&rx, ARGS("--csv", "-", "--count", "100"));
	send_frames(&tx, port, "100", "2000", "9000");
	proc_wait(&rx, PROC_HANG_MS);
	printf("--csv -: status %d, stdout starts '%.20s'\n", rx.status,
	       rx.obuf);
	CHECK_EQ(rx.status, 0);
	CHECK(!strncmp(rx.obuf, "time_s,frames,", 14));
	CHECK(strchr(rx.obuf, '{') == NULL);
	CHECK_EQ(json_num(rx.ebuf, NULL, "frames"), 100);
	if (check_failures)
		proc_dump(&rx, "jumbo rx --csv -");

	snprintf(cmd, sizeof(cmd), "%s rx --port 0 --duration 600 --count 100 "
		 "--write - | head -c 1000 >/dev/null", bin);
	proc_start(&rx, ARGS("sh", "-c", cmd));
	port = proc_port(&rx, PROC_HANG_MS);
	REQUIRE(port != 0);
	send_frames(&tx, port, "100", "2000", "9000");
	proc_wait(&rx, PROC_HANG_MS);
	printf("--write - | head: %.30s\n", strstr(rx.ebuf, "--write:")
						     ? strstr(rx.ebuf, "--write:")
						     : "(no message)");
	CHECK(strstr(rx.ebuf, "jumbo rx: --write: Broken pipe") != NULL);
	if (check_failures)
		proc_dump(&rx, "jumbo rx --write - | head");
}

int main(void)
{
	bin = jumbo_bin();
	late_sender();
	idle_without_frames();
	all_truncated();
	pool_cap("--pages");
	pool_cap("env");
	stdout_data();
	return check_done("tool_rx");
}
