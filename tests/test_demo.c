/*
 * jumbo demo --quick, as the README shows it, for each backend: it must
 * finish in a few seconds with frames checked and delivered, no corrupt
 * one, none lost (the sender keeps a window under the socket buffer), the
 * pool back to zero pages in use, and the malloc + recv figures beside.
 */
#include "test_tool.h"

#include <jumbo/rx.h>

static void demo(const char *bin, const char *backend, int baseline)
{
	char *argv[] = { (char *)bin, "demo", "--quick", "--json",
			 "--backend", (char *)backend,
			 baseline ? NULL : "--no-baseline", NULL };
	struct proc p;
	struct timespec t0, t1;
	double secs;
	long long sent, ok;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	proc_run(&p, argv, PROC_HANG_MS);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	sent = json_num(p.obuf, "pool_receiver", "frames_sent");
	ok = json_num(p.obuf, "pool_receiver", "frames_ok");
	printf("demo %s: %.1f s, pool receiver %lld of %lld frames, %lld "
	       "Gbit/s (whole part)\n", backend, secs, ok, sent,
	       json_num(p.obuf, "pool_receiver", "gbit_per_s"));
	CHECK_EQ(p.status, 0);
	CHECK(ok > 0);
	CHECK_EQ(ok, sent);
	CHECK_EQ(json_num(p.obuf, "pool_receiver", "bad"), 0);
	CHECK_EQ(json_num(p.obuf, "pool_receiver", "lost"), 0);
	CHECK_EQ(json_num(p.obuf, "pool_receiver", "out_of_order"), 0);
	CHECK_EQ(json_num(p.obuf, "pool", "in_use"), 0);
	CHECK(json_num(p.obuf, "pool", "high_water") > 0);
	/* Every byte of every frame was either moved or copied, once. */
	CHECK_EQ(json_num(p.obuf, "pool_receiver", "bytes_moved") +
			 json_num(p.obuf, "pool_receiver", "bytes_copied"),
		 ok * 9000);
	if (baseline) {
		CHECK(json_num(p.obuf, "malloc_recv_receiver", "frames_ok") > 0);
		CHECK_EQ(json_num(p.obuf, "malloc_recv_receiver", "bad"), 0);
	} else {
		CHECK(strstr(p.obuf, "malloc_recv_receiver") == NULL);
	}
	if (check_failures)
		proc_dump(&p, "jumbo demo");
}

/*
 * --workers: frames pass by I/O address through a named shared pool to
 * worker processes that check them in place and free their pages: every
 * frame checked, nothing copied, the shared pool back to zero in use.
 */
static void workers(const char *bin)
{
	char *argv[] = { (char *)bin, "demo", "--quick", "--json",
			 "--no-baseline", "--workers", "3", NULL };
	struct proc p;
	long long sent, ok;

	proc_run(&p, argv, PROC_HANG_MS);
	sent = json_num(p.obuf, "workers_receiver", "frames_sent");
	ok = json_num(p.obuf, "workers_receiver", "frames_ok");
	printf("demo --workers 3: %lld of %lld frames checked in 3 processes\n",
	       ok, sent);
	CHECK_EQ(p.status, 0);
	CHECK_EQ(json_num(p.obuf, "workers_receiver", "workers"), 3);
	CHECK(ok > 0);
	CHECK_EQ(ok, sent);
	CHECK_EQ(json_num(p.obuf, "workers_receiver", "lost"), 0);
	CHECK_EQ(json_num(p.obuf, "workers_receiver", "bad"), 0);
	CHECK_EQ(json_num(p.obuf, "workers_receiver", "bytes_copied"), 0);
	/* The sender's window whole again at the end. */
	CHECK_EQ(json_num(p.obuf, "workers_receiver", "in_flight_at_end"), 0);
	/* The receiver's own pool section comes first: find the workers'. */
	const char *w = strstr(p.obuf, "\"workers_receiver\"");
	CHECK(w && json_num(w, "pool", "in_use") == 0);
	/*
	 * The receiver's 9000-byte frames go into runs of three pages, which
	 * come back page by page from the workers: found again, the pool
	 * never runs short of runs (they came from fresh frames only, and
	 * the pool grew to its 65536 pages, then every run failed).
	 */
	CHECK(w && json_num(w, "pool", "alloc_fails") == 0);
	CHECK(w && json_num(w, "pool", "committed") < 65536);
	if (check_failures)
		proc_dump(&p, "jumbo demo --workers");
}

/*
 * --workers with one worker killed (SIGKILL) a second into its run: the
 * receiver sees it go and goes on with the others; the frames it had not
 * finished are the only ones lost, the pages it had taken come back with
 * jumbo_pool_reclaim(), nothing stays in use, and the run says so (exit
 * 1).  (The sender's window waited for that worker's frames for ever, the
 * run stopped there, and its pages stayed held.)
 */
static void workers_killed(const char *bin)
{
	char *argv[] = { (char *)bin, "demo", "--json", "--duration", "3",
			 "--no-baseline", "--workers", "3", NULL };
	struct proc p;
	pid_t w = -1;

	proc_start(&p, argv);
	/* The workers are its only child processes, forked for their run,
	 * which comes after the single-process one. */
	for (int i = 0; i < 600 && w < 0; i++) {
		proc_pump(&p, 50);
		w = proc_child(p.pid, "jumbo");
	}
	for (int i = 0; i < 20; i++)
		proc_pump(&p, 50);
	CHECK(w > 0);
	if (w > 0)
		kill(w, SIGKILL);
	proc_wait(&p, PROC_HANG_MS);
	const char *s = strstr(p.obuf, "\"workers_receiver\"");
	long long died = s ? json_num(s, NULL, "workers_died") : -1;
	long long lost = s ? json_num(s, NULL, "lost") : -1;
	long long unfinished = s ? json_num(s, NULL, "died_unfinished") : -1;
	long long after = s ? json_num(s, NULL, "frames_after_death") : -1;
	printf("demo --workers 3, one killed: %lld frames lost with it, %lld "
	       "checked after by the others, %lld pages reclaimed\n",
	       unfinished, after,
	       s ? json_num(s, NULL, "pages_reclaimed") : -1);
	CHECK_EQ(p.status, 1);
	CHECK_EQ(died, 1);
	/*
	 * Its unfinished frames are lost, none other.  (Taking back its
	 * ring's entries through the receiver's handle read past the ring's
	 * tail, whose cache was from before the worker's dequeues: the
	 * receiver unheld the pages of frames long gone, now others' in
	 * flight, whose entries the live workers then dropped, now and then:
	 * frames lost beyond the dead one's.)
	 */
	CHECK_EQ(lost, unfinished);
	/*
	 * And none is bad.  (A chain freed after its pages went on a ring
	 * brought its run back to the receiver, now and then, while the
	 * pages still named the worker that had dropped its holds: its
	 * death gave them to the depot under the receiver's next frames,
	 * whose hold was then refused.)
	 */
	CHECK_EQ(s ? json_num(s, NULL, "bad") : -1, 0);
	/* The sender's window whole again at the end (demo_ack). */
	CHECK_EQ(s ? json_num(s, NULL, "in_flight_at_end") : -1, 0);
	CHECK(after > 0);
	CHECK(s && json_num(s, "pool", "in_use") == 0);
	CHECK(strstr(p.ebuf, "killed by signal 9") != NULL);
	if (check_failures)
		proc_dump(&p, "jumbo demo --workers, one killed");
}

/*
 * --workers with a worker killed (it sends itself SIGKILL, through the
 * test hook JUMBO_TEST_DEMO_DIE) right after it has counted a frame good,
 * before anything else has seen it finished: the frame is good, not lost,
 * and the sender's window comes back whole: at the end nothing is in
 * flight.  (The window stayed one frame smaller for the rest of the run.)
 */
static void workers_die_counted(const char *bin)
{
	char *argv[] = { (char *)bin, "demo", "--json", "--quick",
			 "--no-baseline", "--workers", "3", NULL };
	struct proc p;

	setenv("JUMBO_TEST_DEMO_DIE", "200", 1);
	proc_run(&p, argv, PROC_HANG_MS);
	unsetenv("JUMBO_TEST_DEMO_DIE");
	const char *s = strstr(p.obuf, "\"workers_receiver\"");
	long long lost = s ? json_num(s, NULL, "lost") : -1;
	long long unfinished = s ? json_num(s, NULL, "died_unfinished") : -1;
	long long in_flight = s ? json_num(s, NULL, "in_flight_at_end") : -1;
	printf("demo --workers 3, one killed after a frame counted: %lld "
	       "frames lost with it, %lld in flight at the end\n", unfinished,
	       in_flight);
	CHECK_EQ(p.status, 1);
	CHECK_EQ(s ? json_num(s, NULL, "workers_died") : -1, 1);
	CHECK_EQ(lost, unfinished);
	CHECK_EQ(s ? json_num(s, NULL, "bad") : -1, 0);
	CHECK_EQ(in_flight, 0);
	CHECK(s && json_num(s, "pool", "in_use") == 0);
	if (check_failures)
		proc_dump(&p, "jumbo demo --workers, one killed after a count");
}

/*
 * The progress line a terminal sees (script(1) gives the run one): in the
 * workers' run it counted the single-process receiver's frames, which
 * stay 0 there.  Its last count is every frame finished: those the
 * summary line says were checked in place (none bad).
 */
static void workers_progress(const char *bin)
{
	char cmd[512];
	struct proc p;
	unsigned long long last = 0, checked = 0;

	if (!have_prog("script")) {
		printf("demo progress: not run: no script(1)\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s demo --quick --no-baseline --workers 2",
		 bin);
	char *argv[] = { "script", "-qec", cmd, "/dev/null", NULL };
	proc_run(&p, argv, PROC_HANG_MS);
	for (const char *q = p.obuf; (q = strstr(q, "\rworkers")) != NULL;
	     q++)
		sscanf(q + 8, " %*f s %llu frames", &last);
	const char *sum = strstr(p.obuf, "frames checked in place");
	while (sum && sum > p.obuf && sum[-1] == ' ')
		sum--;
	while (sum && sum > p.obuf && sum[-1] >= '0' && sum[-1] <= '9')
		sum--;
	if (sum)
		sscanf(sum, "%llu", &checked);
	printf("demo progress: the workers' line ends at %llu frames, %llu "
	       "checked in place\n", last, checked);
	CHECK_EQ(p.status, 0);
	CHECK(last > 0);
	CHECK_EQ(last, checked);
	if (check_failures)
		proc_dump(&p, "jumbo demo --workers on a terminal");
}

int main(void)
{
	const char *bin = jumbo_bin();

	demo(bin, "udp", 1);
	demo(bin, "tcp", 0);
	if (jumbo_rx_backend_supported(JUMBO_RX_URING))
		demo(bin, "uring", 0);
	else
		printf("uring: not run: %s\n", jumbo_rx_strerror());
	workers(bin);
	workers_killed(bin);
	workers_die_counted(bin);
	workers_progress(bin);
	return check_done("demo");
}
