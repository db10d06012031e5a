/*
 * jumbo-bench-zcopy: when does moving pages (jumbo_deliver with
 * JUMBO_DELIVER_MOVE) beat copying them (JUMBO_DELIVER_COPY)?
 *
 * For 4 KiB pages (runs of 1..64 adjacent pages) and 2 MiB pages (1..2),
 * with the frame's data hot (just written by this CPU) or cold (flushed
 * out of the caches, as after a device's DMA), and with one thread or with
 * a second thread of the process running on another CPU (mremap then has
 * to shoot down its TLB), it times per frame, median of many:
 *
 *   deliver  the jumbo_deliver call: what the reader waits for;
 *   refill   writing the frame into its pages before the delivery: after
 *            a move those are fresh slots that fault in zeroed pages, so
 *            this is where moving pays the rest of its bill;
 *   auto     jumbo_deliver with no flag: the calibrated choice.
 *
 * It prints one table row per case and the crossover (shortest run from
 * which moving is faster, by deliver alone and by deliver + refill).
 * Numbers only: nothing here passes or fails.
 *
 * Usage: jumbo-bench-zcopy [-r reps] [-p 4k|2m|all] [-t 1|2|all]
 */
#include <jumbo/mbuf.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int reps = 200;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void flush(const char *p, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
	for (size_t i = 0; i < n; i += 64)
		__builtin_ia32_clflush(p + i);
	__builtin_ia32_mfence();
#else
	(void)p;
	(void)n; /* no portable flush: "cold" is then warm */
#endif
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double median_us(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return (double)v[n / 2] / 1000.0;
}

static volatile int spin_stop;

static void *spin(void *arg)
{
	volatile char *p = arg;
	while (!__atomic_load_n(&spin_stop, __ATOMIC_RELAXED))
		p[0]++;
	return NULL;
}

struct result {
	double deliver, refill, autod;
	double remaps; /* mremap calls per frame (move runs) */
};

/*
 * Times reps frames of len bytes through jumbo_deliver with flags into
 * dst.  Frames are built with m_getjumbo, filled (timed: refill), made
 * cold if asked, then delivered (timed).
 */
static int run(struct jumbo_pool *pool, size_t len, unsigned flags, int cold,
	       char *dst, double *deliver, double *refill, double *remaps)
{
	uint64_t *d = calloc((size_t)reps, sizeof(*d));
	uint64_t *f = calloc((size_t)reps, sizeof(*f));
	unsigned long nremap = 0;
	int err = 0;

	if (!d || !f)
		return -ENOMEM;
	for (int i = 0; i < reps; i++) {
		struct mbuf *m = m_getjumbo(pool, len, &err);
		if (!m)
			break;
		uint64_t t0 = now_ns();
		for (struct mbuf *x = m; x; x = x->m_next)
			memset(x->m_data, i, x->m_len);
		f[i] = now_ns() - t0;
		if (cold)
			for (struct mbuf *x = m; x; x = x->m_next)
				flush(x->m_data, x->m_len);
		struct jumbo_deliver_stats st;
		t0 = now_ns();
		err = jumbo_deliver(m, dst, len, flags, &st);
		d[i] = now_ns() - t0;
		if (err) {
			m_freem(m);
			break;
		}
		nremap += st.remaps;
	}
	if (!err) {
		*deliver = median_us(d, reps);
		*refill = median_us(f, reps);
		*remaps = (double)nremap / reps;
	}
	free(d);
	free(f);
	return err;
}

static void bench_size(struct jumbo_pool *pool, size_t ps, const size_t *runs,
		       int nruns, int threads)
{
	size_t maxlen = runs[nruns - 1] * ps;
	/* A destination aligned to the page size, reused frame after frame. */
	char *raw = mmap(NULL, maxlen + ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		return;
	}
	char *dst = (char *)(((uintptr_t)raw + ps - 1) & ~(uintptr_t)(ps - 1));
	memset(dst, 1, maxlen);
	pthread_t th;
	static char spinbuf[64];
	if (threads > 1) {
		__atomic_store_n(&spin_stop, 0, __ATOMIC_RELAXED);
		pthread_create(&th, NULL, spin, spinbuf);
	}
	for (int cold = 0; cold <= 1; cold++) {
		size_t cross_d = 0, cross_c = 0;
		for (int r = 0; r < nruns; r++) {
			size_t len = runs[r] * ps;
			struct result mv, cp;
			double dummy_f, dummy_r;
			if (run(pool, len, JUMBO_DELIVER_MOVE, cold, dst, &mv.deliver,
				&mv.refill, &mv.remaps) ||
			    run(pool, len, JUMBO_DELIVER_COPY, cold, dst, &cp.deliver,
				&cp.refill, &cp.remaps) ||
			    run(pool, len, 0, cold, dst, &mv.autod, &dummy_f,
				&dummy_r)) {
				printf("| %s | run failed: %s |\n", ps > 4096 ? "2M" : "4K",
				       strerror(errno));
				continue;
			}
			double tm = mv.deliver + mv.refill, tc = cp.deliver + cp.refill;
			printf("| %s | %s | %d | %7zu KiB | %8.2f | %8.2f | %5.2fx |"
			       " %8.2f | %8.2f | %5.2fx | %8.2f | %4.1f |\n",
			       ps > 4096 ? "2M" : "4K", cold ? "cold" : "hot ",
			       threads, len >> 10, cp.deliver, mv.deliver,
			       cp.deliver / mv.deliver, cp.refill + cp.deliver,
			       tm, tc / tm, mv.autod, mv.remaps);
			if (mv.deliver < cp.deliver && !cross_d)
				cross_d = len;
			if (mv.deliver >= cp.deliver)
				cross_d = 0;
			if (tm < tc && !cross_c)
				cross_c = len;
			if (tm >= tc)
				cross_c = 0;
		}
		printf("|   crossover %s %s, %d thread(s): deliver %s%zu KiB%s,"
		       " with refill %s%zu KiB%s |\n",
		       ps > 4096 ? "2M" : "4K", cold ? "cold" : "hot", threads,
		       cross_d ? "from " : "none (> ",
		       (cross_d ? cross_d : maxlen) >> 10, cross_d ? "" : ")",
		       cross_c ? "from " : "none (> ",
		       (cross_c ? cross_c : maxlen) >> 10, cross_c ? "" : ")");
	}
	if (threads > 1) {
		__atomic_store_n(&spin_stop, 1, __ATOMIC_RELAXED);
		pthread_join(th, NULL);
	}
	munmap(raw, maxlen + ps);
}

static void header(void)
{
	printf("| page | data | thr | frame | copy us | move us | move gain |"
	       " copy+refill | move+refill | gain | auto us | mremaps |\n"
	       "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

int main(int argc, char **argv)
{
	const char *pages = "all", *thr = "all";
	int opt;

	while ((opt = getopt(argc, argv, "r:p:t:")) != -1) {
		if (opt == 'r')
			reps = atoi(optarg) > 2 ? atoi(optarg) : 3;
		else if (opt == 'p')
			pages = optarg;
		else if (opt == 't')
			thr = optarg;
		else {
			fprintf(stderr, "usage: %s [-r reps] [-p 4k|2m|all]"
				" [-t 1|2|all]\n", argv[0]);
			return 2;
		}
	}
	int t_lo = strcmp(thr, "2") == 0 ? 2 : 1, t_hi = strcmp(thr, "1") == 0 ? 1 : 2;
	struct jumbo_deliver_tuning t4, t2;
	jumbo_deliver_calibrate(JUMBO_PAGE_4K, &t4);
	int r2 = jumbo_deliver_calibrate(JUMBO_PAGE_2M, &t2);
	printf("calibrated thresholds (bytes, -1 = never move): 4K %zd / %zd,"
	       " 2M %zd / %zd%s (1 thread / more)\n",
	       (ssize_t)t4.thresh_1thr, (ssize_t)t4.thresh_mthr,
	       (ssize_t)t2.thresh_1thr, (ssize_t)t2.thresh_mthr,
	       r2 ? " (no huge pages)" : "");
	printf("%d frames per case, median per frame; %ld CPUs\n\n", reps,
	       sysconf(_SC_NPROCESSORS_ONLN));
	header();

	if (strcmp(pages, "2m") != 0) {
		struct jumbo_pool_params p;
		jumbo_pool_params_init(&p);
		p.max_pages = 4096;
		p.name = "bench-zcopy-4k";
		struct jumbo_pool *pool = jumbo_pool_create(&p);
		static const size_t runs[] = { 1, 2, 4, 8, 16, 32, 64 };
		for (int t = t_lo; pool && t <= t_hi; t++)
			bench_size(pool, JUMBO_PAGE_4K, runs, 7, t);
		if (pool) {
			jumbo_pool_flush_cache(pool);
			jumbo_pool_destroy(pool);
		}
	}
	if (strcmp(pages, "4k") != 0) {
		struct jumbo_pool_params p;
		jumbo_pool_params_init(&p);
		p.page_size = JUMBO_PAGE_2M;
		p.max_pages = p.init_pages = p.grow_pages = 4;
		p.name = "bench-zcopy-2m";
		struct jumbo_pool *pool = jumbo_pool_create(&p);
		static const size_t runs[] = { 1, 2 };
		int saved = reps;
		reps = reps / 4 > 5 ? reps / 4 : 5;
		if (!pool)
			printf("| 2M | skipped: %s (as root: echo 12 > "
			       "/proc/sys/vm/nr_hugepages) |\n", strerror(errno));
		for (int t = t_lo; pool && t <= t_hi; t++)
			bench_size(pool, JUMBO_PAGE_2M, runs, 2, t);
		reps = saved;
		if (pool) {
			jumbo_pool_flush_cache(pool);
			jumbo_pool_destroy(pool);
		}
	}
	return 0;
}
