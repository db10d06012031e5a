/*
 * When moving pays: a calibration of mremap against memcpy of cold data on
 * the running machine, and the thresholds jumbo_deliver decides with.
 *
 * What is timed is what jumbo_deliver itself pays.  Moving: the mremap of
 * a run (4 KiB pages: MREMAP_DONTUNMAP; 2 MiB: plain mremap, the spare
 * huge-page mapping and the re-mapping of the slot that jumbo_pool_steal
 * does).  Copying: memcpy from memory flushed out of the caches, as a
 * frame written by a device or another CPU usually is.  Not timed: the
 * first write to a stolen slot, which faults in a zeroed page later, on
 * the receive path (bench/ZEROCOPY.md gives that cost too).
 *
 * With other threads running, mremap must shoot down their TLBs and costs
 * more, so there are two thresholds; deliver picks the second when the
 * process has more than one thread, which it looks up (stat of
 * /proc/self/task) at most every 100 ms, and only for a run between them.
 */
#include "mbuf_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZC_MAXRUN 64 /* 4 KiB pages: runs measured up to 256 KiB */
#define ZC_TRIALS 9

enum { ZC_UNCAL, ZC_BUSY, ZC_DONE };

/*
 * Tuning of one page size.  state goes UNCAL -> BUSY -> DONE once, by
 * compare-and-swap (the calibration runs once, on the first delivery or an
 * explicit call); an explicit set makes it DONE.  t1 and tm are read
 * without a lock: a reader that sees an old value only decides one run
 * with the previous threshold.
 */
struct zc_tune {
	int state;
	size_t t1, tm;
};

/* Until calibrated: the figures (4 KiB: from 16 pages on). */
static struct zc_tune zc_tune[2] = {
	{ ZC_UNCAL, (size_t)64 << 10, (size_t)256 << 10 },
	{ ZC_UNCAL, JUMBO_PAGE_2M, JUMBO_PAGE_2M },
};

static int zc_idx(size_t ps)
{
	return ps == JUMBO_PAGE_4K ? 0 : ps == JUMBO_PAGE_2M ? 1 : -1;
}

/*
 * Cold caches for each measurement.  x86 flushes the lines themselves;
 * elsewhere the measurement reads a region larger than any last-level
 * cache, mapped for one calibration and unmapped after it (no buffer
 * outlives its use).  -DJUMBO_ZC_EVICT_READ builds that path on x86 too.
 */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(JUMBO_ZC_EVICT_READ)
#define ZC_CLFLUSH 1
#define ZC_EVICT_BYTES ((size_t)0)
#else
#define ZC_CLFLUSH 0
#define ZC_EVICT_BYTES ((size_t)64 << 20)
#endif

/* The eviction region for one calibration: NULL where none is needed (or
 * none could be had: the figures are then warmer, not wrong). */
static char *zc_evict_map(void)
{
	if (!ZC_EVICT_BYTES)
		return NULL;
	char *ev = mmap(NULL, ZC_EVICT_BYTES, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return ev == MAP_FAILED ? NULL : ev;
}

static void zc_evict_unmap(char *ev)
{
	if (ev)
		munmap(ev, ZC_EVICT_BYTES);
}

/* Pushes [p, p + n) out of the data caches (ev: see zc_evict_map). */
static void zc_flush(const char *p, size_t n, const char *ev)
{
#if ZC_CLFLUSH
	(void)ev;
	for (size_t i = 0; i < n; i += 64)
		__builtin_ia32_clflush(p + i);
	__builtin_ia32_mfence();
#else
	volatile char sink = 0;

	for (size_t i = 0; ev && i < ZC_EVICT_BYTES; i += 64)
		sink += ev[i];
	(void)p;
	(void)n;
#endif
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/*
 * Median ns to move and to copy (cold) len bytes from src to dst; both
 * regions are mapped, written, and len long (2 MiB: hugetlb; the move maps
 * and unmaps a spare region and re-maps src, as zc_remap and the steal do).
 */
static int zc_measure(char *src, char *dst, size_t len, size_t ps,
		      const char *ev, uint64_t *move, uint64_t *copy)
{
	uint64_t mv[ZC_TRIALS], cp[ZC_TRIALS];
	const int hflags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;

	for (int i = 0; i < ZC_TRIALS; i++) {
		memset(src, i + 1, len);
		zc_flush(src, len, ev);
		uint64_t t0 = _jumbo_clock_ns(false);
		if (ps == JUMBO_PAGE_4K) {
			if (mremap(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED |
				   MREMAP_DONTUNMAP, dst) == MAP_FAILED)
				return -errno;
		} else {
			void *sp = mmap(NULL, len, PROT_READ | PROT_WRITE,
					hflags, -1, 0);
			if (sp == MAP_FAILED)
				return -errno;
			void *r = mremap(src, len, len,
					 MREMAP_MAYMOVE | MREMAP_FIXED, dst);
			munmap(sp, len);
			if (r == MAP_FAILED)
				return -errno;
			if (mmap(src, len, PROT_READ | PROT_WRITE,
				 hflags | MAP_FIXED_NOREPLACE, -1, 0) != src)
				return -ENOMEM;
		}
		mv[i] = _jumbo_clock_ns(false) - t0;
		memset(src, i + 1, len);
		zc_flush(src, len, ev);
		t0 = _jumbo_clock_ns(false);
		memcpy(dst, src, len);
		cp[i] = _jumbo_clock_ns(false) - t0;
	}
	*move = median(mv, ZC_TRIALS);
	*copy = median(cp, ZC_TRIALS);
	return 0;
}

/*
 * The shortest run (bytes) from which on moving is faster than copying
 * by a tenth at least, for every longer run measured; SIZE_MAX if none.
 */
static int zc_threshold(char *src, char *dst, size_t ps, size_t maxpages,
			const char *ev, size_t *thresh)
{
	size_t best = SIZE_MAX;

	for (size_t k = maxpages; k >= 1; k /= 2) {
		uint64_t mv = 0, cp = 0; /* set on success; quiets -Wmaybe-uninitialized */
		int r = zc_measure(src, dst, k * ps, ps, ev, &mv, &cp);
		if (r)
			return r;
		if (mv * 11 > cp * 10)
			break;
		best = k * ps;
	}
	*thresh = best;
	return 0;
}

static volatile int zc_stop;

/* Another thread of the process, running: what makes mremap shoot down. */
static void *zc_spin(void *arg)
{
	volatile char *p = arg;
	while (!__atomic_load_n(&zc_stop, __ATOMIC_RELAXED))
		p[0]++;
	return NULL;
}

static int zc_calibrate(size_t ps, size_t *t1, size_t *tm)
{
	size_t maxpages = ps == JUMBO_PAGE_4K ? ZC_MAXRUN : 1;
	size_t len = maxpages * ps;
	int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
	char *src, *dst, *ev = NULL;
	char spinbuf[64];
	pthread_t th;
	int r;

	if (ps != JUMBO_PAGE_4K)
		fl |= MAP_HUGETLB;
	src = mmap(NULL, len, PROT_READ | PROT_WRITE, fl, -1, 0);
	dst = mmap(NULL, len, PROT_READ | PROT_WRITE, fl, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED) {
		r = ps == JUMBO_PAGE_4K ? -ENOMEM : -EOPNOTSUPP;
		goto out;
	}
	ev = zc_evict_map();
	if ((r = zc_threshold(src, dst, ps, maxpages, ev, t1)) != 0)
		goto out;
	*tm = *t1;
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1 && *t1 != SIZE_MAX) {
		__atomic_store_n(&zc_stop, 0, __ATOMIC_RELAXED);
		if (pthread_create(&th, NULL, zc_spin, spinbuf) == 0) {
			r = zc_threshold(src, dst, ps, maxpages, ev, tm);
			/* Relaxed: the join orders everything after it. */
			__atomic_store_n(&zc_stop, 1, __ATOMIC_RELAXED);
			pthread_join(th, NULL);
		}
	}
out:
	if (r == -EOPNOTSUPP || r == -ENOMEM)
		*t1 = *tm = SIZE_MAX;
	if (src != MAP_FAILED)
		munmap(src, len);
	if (dst != MAP_FAILED)
		munmap(dst, len);
	zc_evict_unmap(ev);
	return r;
}

int jumbo_deliver_calibrate(size_t page_size, struct jumbo_deliver_tuning *out)
{
	int i = zc_idx(page_size), r;
	size_t t1 = SIZE_MAX, tm = SIZE_MAX;

	if (i < 0)
		return -EINVAL;
	r = zc_calibrate(page_size, &t1, &tm);
	if (r != 0)
		t1 = tm = SIZE_MAX; /* moving never chosen unless forced */
	if (tm < t1)
		tm = t1; /* noise: more threads never make mremap cheaper */
	__atomic_store_n(&zc_tune[i].t1, t1, __ATOMIC_RELAXED);
	__atomic_store_n(&zc_tune[i].tm, tm, __ATOMIC_RELAXED);
	/* Release: pairs with the acquire in _jumbo_zc_threshold. */
	__atomic_store_n(&zc_tune[i].state, ZC_DONE, __ATOMIC_RELEASE);
	if (out) {
		out->page_size = page_size;
		out->thresh_1thr = t1;
		out->thresh_mthr = tm;
	}
	return r;
}

int jumbo_deliver_get_tuning(struct jumbo_deliver_tuning *t)
{
	int i = t ? zc_idx(t->page_size) : -1;

	if (i < 0)
		return -EINVAL;
	t->thresh_1thr = __atomic_load_n(&zc_tune[i].t1, __ATOMIC_RELAXED);
	t->thresh_mthr = __atomic_load_n(&zc_tune[i].tm, __ATOMIC_RELAXED);
	return 0;
}

int jumbo_deliver_set_tuning(const struct jumbo_deliver_tuning *t)
{
	int i = t ? zc_idx(t->page_size) : -1;

	if (i < 0)
		return -EINVAL;
	__atomic_store_n(&zc_tune[i].t1, t->thresh_1thr, __ATOMIC_RELAXED);
	__atomic_store_n(&zc_tune[i].tm, t->thresh_mthr, __ATOMIC_RELAXED);
	/* Release: a later calibration check sees DONE and leaves these. */
	__atomic_store_n(&zc_tune[i].state, ZC_DONE, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Threads in the process, looked up at most every 100 ms: the count and
 * when it was taken.  Process state that needs no care at fork: a child's
 * stale count is replaced within 100 ms and only picks a threshold.
 */
static struct {
	uint64_t when;
	unsigned n;
} zc_threads = { 0, 1 };

static unsigned zc_nthreads(void)
{
	uint64_t *when = &zc_threads.when;
	unsigned *n = &zc_threads.n;
	uint64_t now = _jumbo_clock_ns(true);
	struct stat st;

	/* Relaxed: a stale count only picks the other threshold once. */
	if (now - __atomic_load_n(when, __ATOMIC_RELAXED) < 100000000u)
		return __atomic_load_n(n, __ATOMIC_RELAXED);
	if (stat("/proc/self/task", &st) == 0 && st.st_nlink > 2)
		__atomic_store_n(n, (unsigned)st.st_nlink - 2, __ATOMIC_RELAXED);
	__atomic_store_n(when, now, __ATOMIC_RELAXED);
	return __atomic_load_n(n, __ATOMIC_RELAXED);
}

size_t _jumbo_zc_threshold(size_t page_size, size_t run_bytes)
{
	int i = zc_idx(page_size);
	int expect = ZC_UNCAL;

	if (i < 0)
		return SIZE_MAX;
	/*
	 * Acquire pairs with the release that published DONE; the CAS lets
	 * one caller calibrate while the others use the current values.
	 */
	if (__atomic_load_n(&zc_tune[i].state, __ATOMIC_ACQUIRE) == ZC_UNCAL &&
	    __atomic_compare_exchange_n(&zc_tune[i].state, &expect, ZC_BUSY,
					false, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED))
		jumbo_deliver_calibrate(page_size, NULL);
	size_t t1 = __atomic_load_n(&zc_tune[i].t1, __ATOMIC_RELAXED);
	size_t tm = __atomic_load_n(&zc_tune[i].tm, __ATOMIC_RELAXED);
	/* Only a run between the two needs the thread count. */
	if (run_bytes >= t1 && run_bytes < tm && zc_nthreads() > 1)
		return tm;
	return t1;
}
