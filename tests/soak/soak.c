/*
 * Soak: minutes of the receive path and of thread and pool churn, with
 * the process's footprint sampled once a second.  After a warm-up (the
 * first third of the run, at least 10 s) nothing may keep growing: not the
 * pool's metadata (meta_bytes), not the resident set, not the number of
 * mappings or of open descriptors, here and in the receiver.  Growth past
 * the bounds below fails the test, with the samples that show it.
 *
 *   soak [seconds]        default: JUMBO_SOAK_MINUTES (3) minutes
 *
 * The receive path is the jumbo command (JUMBO_BIN): `jumbo rx --verify
 * --deliver auto` fed by `jumbo tx` over loopback, sampled in /proc from
 * outside.  The churn, in this process: rounds of short-lived threads that
 * allocate and free on one long-lived pool (each thread gets, and at its
 * exit gives back, a cache of it), and a pool made and destroyed each
 * round.  Not in the default run: ctest -L soak (JUMBO_LONG_TESTS=ON).
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>

#include <jumbo/jumbo.h>

/* Growth allowed after the warm-up. */
#define MAX_META_GROWTH (64u << 10) /* bytes of pool metadata */
#define MAX_RSS_GROWTH (32u << 20)  /* bytes resident */
#define MAX_MAPS_GROWTH 32          /* lines of /proc/PID/maps */
#define MAX_FDS_GROWTH 8

#define THREADS 4
#define PAGES_PER_THREAD 600

struct sample {
	uint64_t meta, rss;
	long maps, fds;
};

static long page_bytes;

static uint64_t rss_of(pid_t pid)
{
	char path[64];
	unsigned long size = 0, res = 0;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)page_bytes;
}

static long maps_of(pid_t pid)
{
	char path[64];
	long n = 0;
	int c;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static long fds_of(pid_t pid)
{
	char path[64];
	long n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

static struct jumbo_pool *pool;
static volatile int stop;

/* One short-lived thread: bursts of allocations and frees, then exit. */
static void *churn_thread(void *arg)
{
	void *v[PAGES_PER_THREAD];
	unsigned n = jumbo_pool_alloc_bulk(pool, v, PAGES_PER_THREAD);
	for (unsigned i = 0; i < n; i++)
		*(volatile char *)v[i] = (char)i;
	for (unsigned i = 0; i < n / 2; i++)
		jumbo_pool_free(pool, v[i]);
	for (unsigned i = 0; i < 64 && i < n / 2; i++)
		v[i] = jumbo_pool_alloc(pool);
	for (unsigned i = 0; i < n; i++)
		if (v[i])
			jumbo_pool_free(pool, v[i]);
	(void)arg;
	return NULL;
}

/* Rounds of threads on the long-lived pool, and a pool per round. */
static void *churn(void *arg)
{
	unsigned long *rounds = arg;
	while (!stop) {
		pthread_t t[THREADS];
		struct jumbo_pool_params pp;
		jumbo_pool_params_init(&pp);
		pp.max_pages = 256;
		pp.name = "soak-round";
		struct jumbo_pool *p = jumbo_pool_create(&pp);
		REQUIRE(p != NULL);
		void *a = jumbo_pool_alloc(p);
		REQUIRE(a != NULL);
		REQUIRE(jumbo_pool_free(p, a) == 0);
		for (int i = 0; i < THREADS; i++)
			REQUIRE(pthread_create(&t[i], NULL, churn_thread, NULL) == 0);
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		REQUIRE(jumbo_pool_destroy(p) == 0);
		if (++*rounds % 64 == 0)
			jumbo_pool_trim(pool, 0);
		usleep(1000); /* churn, not a CPU hog on a shared machine */
	}
	return NULL;
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The first sample after warm-up against the last; prints both. */
static void bound(const char *what, const char *who, long long base,
		  long long last, long long max)
{
	printf("soak: %-4s %-12s after warm-up %lld, at the end %lld (growth "
	       "%lld, bound %lld)\n", who, what, base, last, last - base, max);
	if (last - base > max) {
		fprintf(stderr, "soak: %s of %s grew by %lld after warm-up "
			"(bound %lld)\n", what, who, last - base, max);
		check_failures++;
	}
}

int main(int argc, char **argv)
{
	const char *env = getenv("JUMBO_SOAK_MINUTES");
	long secs = argc > 1 ? atol(argv[1]) : (env ? atol(env) : 3) * 60;
	long warm = secs / 3 > 10 ? secs / 3 : 10;
	const char *bin = getenv("JUMBO_BIN");
	pid_t rx = -1, tx = -1, self = getpid();
	char port[24], dur_rx[24], dur_tx[24];

	page_bytes = sysconf(_SC_PAGESIZE);
	if (secs <= warm)
		secs = warm + 10;
	printf("soak: %ld s, warm-up %ld s\n", secs, warm);
	fflush(stdout);

	if (bin && access(bin, X_OK) == 0) {
		snprintf(port, sizeof(port), "%d", 20000 + (int)(self % 20000));
		snprintf(dur_rx, sizeof(dur_rx), "%ld", secs + 5);
		snprintf(dur_tx, sizeof(dur_tx), "%ld", secs);
		char *rxv[] = { (char *)bin, "rx", "--port", port, "--verify",
				"--deliver", "auto", "--duration", dur_rx,
				"--quiet", NULL };
		char *txv[] = { (char *)bin, "tx", "--port", port, "--min", "64",
				"--max", "9000", "--rate", "2000", "--duration",
				dur_tx, NULL };
		rx = spawn(rxv);
		usleep(300000);
		tx = spawn(txv);
	} else {
		printf("soak: JUMBO_BIN not set: the receive path is left out\n");
	}

	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 8192;
	pp.name = "soak";
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool != NULL);
	unsigned long rounds = 0;
	pthread_t ct;
	REQUIRE(pthread_create(&ct, NULL, churn, &rounds) == 0);

	struct sample me0 = { 0 }, me = { 0 }, rx0 = { 0 }, rxs = { 0 };
	for (long t = 1; t <= secs; t++) {
		sleep(1);
		struct jumbo_stats st;
		REQUIRE(jumbo_pool_stats(pool, &st) == 0);
		me = (struct sample){ st.meta_bytes, rss_of(self), maps_of(self),
				      fds_of(self) };
		if (rx > 0)
			rxs = (struct sample){ 0, rss_of(rx), maps_of(rx), fds_of(rx) };
		if (t == warm) {
			me0 = me;
			rx0 = rxs;
		}
		if (t % 10 == 0 || t == warm)
			printf("soak: %4ld s: %lu rounds, meta %llu B, rss %llu KiB, "
			       "maps %ld, fds %ld; rx rss %llu KiB, maps %ld, fds %ld\n",
			       t, rounds, (unsigned long long)me.meta,
			       (unsigned long long)me.rss >> 10, me.maps, me.fds,
			       (unsigned long long)rxs.rss >> 10, rxs.maps, rxs.fds);
		fflush(stdout);
		/* Far past a bound already: the verdict is in, stop growing. */
		if (t > warm &&
		    ((int64_t)(me.meta - me0.meta) > 64 * (int64_t)MAX_META_GROWTH ||
		     (int64_t)(me.rss - me0.rss) > 4 * (int64_t)MAX_RSS_GROWTH)) {
			printf("soak: stopped at %ld s: far past a bound\n", t);
			break;
		}
	}
	stop = 1;
	pthread_join(ct, NULL);

	bound("meta_bytes", "pool", (long long)me0.meta, (long long)me.meta,
	      MAX_META_GROWTH);
	bound("rss", "self", (long long)me0.rss, (long long)me.rss, MAX_RSS_GROWTH);
	bound("maps", "self", me0.maps, me.maps, MAX_MAPS_GROWTH);
	bound("fds", "self", me0.fds, me.fds, MAX_FDS_GROWTH);
	if (rx > 0) {
		if (rxs.maps < 0)
			fprintf(stderr, "soak: the receiver was gone before the end\n"),
				check_failures++;
		bound("rss", "rx", (long long)rx0.rss, (long long)rxs.rss,
		      MAX_RSS_GROWTH);
		bound("maps", "rx", rx0.maps, rxs.maps, MAX_MAPS_GROWTH);
		bound("fds", "rx", rx0.fds, rxs.fds, MAX_FDS_GROWTH);
		int st;
		kill(tx, SIGTERM);
		kill(rx, SIGTERM);
		waitpid(tx, &st, 0);
		waitpid(rx, &st, 0);
	}
	jumbo_pool_flush_cache(pool);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("soak");
}
