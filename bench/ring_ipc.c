/*
 * jumbo-bench-ring: entries per second through a jumbo_ring between
 * processes: one producer and one consumer (SPSC), then two of each
 * (MPMC), in batches of B entries, N entries per producer.  Each side is a
 * process of its own (fork), as receivers and workers are; the consumers
 * add up what they get and the sum is checked, so a fast wrong ring shows.
 * Beside each jumbo_ring case, DPDK's rte_ring with 16-byte elements in
 * the same run (when built with libdpdk), in shared memory mapped before
 * fork.  Figures only: nothing here passes or fails on a time.
 *
 * Then cross-process S3 (issue 12), in rounds that alternate the two:
 *
 *  - libjumbo: a producer process allocates pages from a named shared
 *    pool (jumbo_pool_alloc_bulk), writes a word in each and passes them
 *    by I/O address through a jumbo_ring; a consumer process reads the
 *    word and frees them (jumbo_pool_free_bulk).
 *  - DPDK's multi-process model: a primary process creates an rte_mempool
 *    (ring_mp_mc, cache 512) and an rte_ring on hugepages and produces the
 *    same way (rte_mempool_get_bulk, rte_ring_enqueue_burst of pointers);
 *    a secondary (--proc-type=secondary, same --file-prefix) looks them up
 *    and consumes (rte_ring_dequeue_burst, rte_mempool_put_bulk).  The
 *    hugepages are reserved for the run and given back (huge.c); without
 *    root or hugepages DPDK's rounds are skipped with the reason.
 *
 * Producers run on CPU 0 and consumers on CPU 1 (DPDK's EAL: -l 0, -l 1).
 * Before each run the two sides time the round trip of a cache line
 * between them, which says where the host placed the two vCPUs
 * (bench/README.md, S3).
 *
 * Usage: jumbo-bench-ring [-q] [-H] [-n entries] [-b batch] [-s slots]
 *                         [-r rounds] [-w ring|s3] [-o jumbo|dpdk]
 *                         [-O cas|store|free] [-t]
 *
 * -w runs the ring cases or S3 only; -o runs S3's rounds of one peer only
 * (to profile it; no ratio then).  -t runs S3 with the pages untouched: the
 * producer writes nothing in them and the consumer reads nothing, so the
 * figures are those of the pools, rings and hand-over alone (the cost a
 * program pays on top of its own work on the data); the consumers then
 * check the count of pages instead of their contents.  -O adds to DPDK's
 * S3 the owner words a named pool keeps for its pages (ring_ipc_dpdk.c):
 * what that bookkeeping costs DPDK, so that libjumbo can be compared with
 * a peer that knows, as it does, who holds each page (cas: as a bound
 * ring hands pages over; store: adopted by a plain store; free: taken and
 * freed with no hand-over, the least that catches a double free).  -H puts S3's named pool on 2 MiB pages
 * as a deployment would (jumbo_pool(3), Processes): a tmpfs mounted with
 * huge=advise on /dev/shm (the pool asks for huge pages, other files get
 * none), in a mount namespace of the bench's own that goes with its last
 * process (root only).
 */
#include <jumbo/ring.h>
#include "huge.h"
#include "ring_ipc_dpdk.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BENCH_TSAN 1
#endif
#endif
#ifdef __SANITIZE_THREAD__
#define BENCH_TSAN 1
#endif

#define MAX_SIDES 8
#define PROBE_TRIPS 2000
#define DPDK_OBJS 4096u  /* DPDK's mempool: the ring, both caches (768 +
			  * 544 at most) and the batches in flight are about
			  * 2400; a DPDK program sizes its pools so */
#define DPDK_HUGE 24     /* 2 MiB pages for them and the EAL's own */
#define GO 64

/* What a run's processes share: one page mapped before fork. */
struct ctl {
	_Alignas(64) uint64_t ready;   /* sides set up; GO: start */
	_Alignas(64) uint64_t consumed;
	_Alignas(64) uint64_t probe;   /* the round trip's line */
	_Alignas(64) uint64_t created; /* DPDK: the primary made its objects */
	_Alignas(64) uint64_t failed;  /* a side gave up: why says why */
	_Alignas(64) uint64_t warmed;  /* sides done with the warm-up */
	uint64_t sum[MAX_SIDES];
	double t0[MAX_SIDES], t1[MAX_SIDES];
	double waited[MAX_SIDES];      /* ns runnable but not running */
	double rtt;
	char why[256];
};

enum kind {
	K_RING,      /* jumbo_ring alone */
	K_DRING,     /* rte_ring alone */
	K_S3_JUMBO,  /* pages of a named pool through a jumbo_ring */
	K_S3_DPDK,   /* rte_mempool and rte_ring, primary and secondary */
};

static int pool_fd = -1;        /* K_S3_JUMBO: the named pool's object */
static bool only_jumbo, only_dpdk; /* -o: S3 rounds of one peer */
static bool huge_shm;               /* -H: the named pool on 2 MiB pages */
/* -O: DPDK's S3 keeps a named pool's owner words too (ring_ipc_dpdk.c). */
static enum { OWN_NONE, OWN_CAS, OWN_STORE, OWN_FREE } dpdk_own;
static bool no_touch;               /* -t: S3 pages neither written nor read */
static struct bench_huge huge;  /* K_S3_DPDK */
static char dpdk_prefix[32];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void pause_cpu(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* This process's time waiting for a CPU so far, ns (schedstat). */
static double cpu_wait(void)
{
	unsigned long long run, wait;
	FILE *f = fopen("/proc/self/schedstat", "r");
	int n = f ? fscanf(f, "%llu %llu", &run, &wait) : 0;

	if (f)
		fclose(f);
	return n == 2 ? (double)wait : 0;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* A side could not start: say why (the first one wins) and leave. */
static void side_fail(struct ctl *ctl, const char *what)
{
	/* Acq_rel: one side wins the right to write why; the parent reads
	 * it only after this process has exited. */
	if (__atomic_exchange_n(&ctl->failed, 1, __ATOMIC_ACQ_REL) == 0)
		snprintf(ctl->why, sizeof(ctl->why), "%s", what);
	_exit(2);
}

/*
 * The round trip of a line between the producer and the consumer, as
 * jumbo-bench's S3 probe (run.c): the producer returns the mean, in ns.
 * Release/acquire: a plain hand-off of the line; it orders nothing else.
 */
static double probe_rtt(struct ctl *ctl, bool producer)
{
	double t0 = now();

	for (uint64_t i = 0; i < PROBE_TRIPS; i++) {
		uint64_t want = producer ? 2 * i + 2 : 2 * i + 1;

		if (producer)
			__atomic_store_n(&ctl->probe, 2 * i + 1,
					 __ATOMIC_RELEASE);
		while (__atomic_load_n(&ctl->probe, __ATOMIC_ACQUIRE) != want)
			pause_cpu();
		if (!producer)
			__atomic_store_n(&ctl->probe, 2 * i + 2,
					 __ATOMIC_RELEASE);
	}
	return (now() - t0) / PROBE_TRIPS;
}

/* ---- the ring cases ---------------------------------------------------- */

struct ring_ops {
	struct jumbo_ring *j;
	void *d;
};

static unsigned enq(struct ring_ops *o, struct jumbo_ring_ent *b, unsigned n)
{
	return o->j ? jumbo_ring_enqueue(o->j, b, n)
		    : bench_dpdk_ring_enq(o->d, b, n);
}

static unsigned deq(struct ring_ops *o, struct jumbo_ring_ent *b, unsigned n)
{
	return o->j ? jumbo_ring_dequeue(o->j, b, n)
		    : bench_dpdk_ring_deq(o->d, b, n);
}

static void ring_produce(struct ring_ops *o, struct jumbo_ring_ent *b,
			 unsigned long n, unsigned batch)
{
	for (unsigned long i = 0; i < n;) {
		unsigned k = batch < n - i ? batch : (unsigned)(n - i);

		for (unsigned j = 0; j < k; j++)
			b[j] = (struct jumbo_ring_ent){.iova = (i + j) << 12,
						       .len = 4096};
		for (unsigned j = 0; j < k;)
			j += enq(o, b + j, k - j);
		i += k;
	}
}

static uint64_t ring_consume(struct ctl *ctl, struct ring_ops *o,
			     struct jumbo_ring_ent *b, uint64_t total,
			     unsigned batch)
{
	uint64_t sum = 0;

	/* Relaxed: a count of entries taken; the entries themselves are
	 * ordered by the ring. */
	while (__atomic_load_n(&ctl->consumed, __ATOMIC_RELAXED) < total) {
		unsigned k = deq(o, b, batch);

		for (unsigned j = 0; j < k; j++)
			sum += b[j].iova;
		if (k)
			__atomic_fetch_add(&ctl->consumed, k, __ATOMIC_RELAXED);
	}
	return sum;
}

/* ---- S3 across processes ------------------------------------------------ */

/*
 * The two S3 peers do the same per batch: the producer takes `batch` pages,
 * writes the page's number in its first word and posts them; the consumer
 * takes what is there, adds up the words and frees the pages.  The
 * consumers count through ctl->consumed alike.  With -t neither touches a
 * page and the consumer adds 1 per page instead.
 */
static void s3_jumbo_produce(struct jumbo_pool *pool, struct jumbo_ring *r,
			     void **v, struct jumbo_ring_ent *b,
			     unsigned long n, unsigned batch)
{
	for (unsigned long i = 0; i < n;) {
		unsigned k = batch < n - i ? batch : (unsigned)(n - i);

		k = jumbo_pool_alloc_bulk(pool, v, k);
		for (unsigned j = 0; j < k; j++) {
			if (!no_touch)
				*(uint64_t *)v[j] = i + j;
			b[j] = (struct jumbo_ring_ent){
				.iova = jumbo_pool_iova(pool, v[j]),
				.len = 4096};
		}
		for (unsigned j = 0; j < k;)
			j += jumbo_ring_enqueue(r, b + j, k - j);
		i += k;
	}
}

static uint64_t s3_jumbo_consume(struct ctl *ctl, struct jumbo_pool *pool,
				 struct jumbo_ring *r, void **v,
				 struct jumbo_ring_ent *b, uint64_t total,
				 unsigned batch)
{
	uint64_t sum = 0;

	/* Relaxed: as in ring_consume(). */
	while (__atomic_load_n(&ctl->consumed, __ATOMIC_RELAXED) < total) {
		unsigned k = jumbo_ring_dequeue(r, b, batch);

		for (unsigned j = 0; j < k; j++) {
			v[j] = jumbo_pool_iova_to_addr(pool, b[j].iova);
			sum += no_touch ? 1 : *(uint64_t *)v[j] << 12;
		}
		if (k && jumbo_pool_free_bulk(pool, v, k) != 0)
			side_fail(ctl, "jumbo_pool_free_bulk failed");
		if (k)
			__atomic_fetch_add(&ctl->consumed, k, __ATOMIC_RELAXED);
	}
	return sum;
}

static void s3_dpdk_produce(struct ctl *ctl, void **v, unsigned long n,
			    unsigned batch)
{
	for (unsigned long i = 0; i < n;) {
		unsigned k = batch < n - i ? batch : (unsigned)(n - i);

		k = bench_dpdk_mp_alloc(v, k);
		if (dpdk_own && bench_dpdk_mp_own_take(v, k) != 0)
			side_fail(ctl, "DPDK -O: a page got was not free");
		for (unsigned j = 0; j < k && !no_touch; j++)
			*(uint64_t *)v[j] = i + j;
		for (unsigned j = 0; j < k;)
			j += bench_dpdk_mp_enq(v + j, k - j);
		i += k;
	}
}

static uint64_t s3_dpdk_consume(struct ctl *ctl, void **v, uint64_t total,
				unsigned batch)
{
	uint64_t sum = 0;

	/* Relaxed: as in ring_consume(). */
	while (__atomic_load_n(&ctl->consumed, __ATOMIC_RELAXED) < total) {
		unsigned k = bench_dpdk_mp_deq(v, batch);

		if ((dpdk_own == OWN_CAS || dpdk_own == OWN_STORE) &&
		    bench_dpdk_mp_own_adopt(v, k, dpdk_own == OWN_CAS) != 0)
			side_fail(ctl, "DPDK -O: a page not the producer's");
		for (unsigned j = 0; j < k; j++)
			sum += no_touch ? 1 : *(uint64_t *)v[j] << 12;
		if (k) {
			if (dpdk_own &&
			    bench_dpdk_mp_own_free(v, k, dpdk_own != OWN_FREE))
				side_fail(ctl, "DPDK -O: a double free");
			bench_dpdk_mp_free(v, k);
			__atomic_fetch_add(&ctl->consumed, k, __ATOMIC_RELAXED);
		}
	}
	return sum;
}

/* DPDK: the primary (side 0) makes the objects before a secondary starts. */
static void dpdk_side_start(struct ctl *ctl, unsigned id, unsigned slots)
{
	char why[200];
	bool primary = id == 0;

	/* Acquire: pairs with the primary's release below (and with a failed
	 * side's exchange). */
	if (!primary)
		while (!__atomic_load_n(&ctl->created, __ATOMIC_ACQUIRE)) {
			if (__atomic_load_n(&ctl->failed, __ATOMIC_ACQUIRE))
				_exit(2);
			usleep(200);
		}
	if (bench_dpdk_mp_start(primary, dpdk_prefix, huge.dir, (int)id,
				DPDK_OBJS, slots, why, sizeof(why)) != 0)
		side_fail(ctl, why);
	/* Release: the secondary's lookup comes after the objects exist. */
	if (primary)
		__atomic_store_n(&ctl->created, 1, __ATOMIC_RELEASE);
}

/* ---- one process's side --------------------------------------------------- */

/* n entries (pages) produced, or consumed until ctl->consumed reaches
 * total; a consumer returns the sum of what it took. */
static uint64_t work(struct ctl *ctl, enum kind kind, struct ring_ops *o,
		     struct jumbo_pool *pool, void **v, struct jumbo_ring_ent *b,
		     bool producer, unsigned long n, uint64_t total,
		     unsigned batch)
{
	switch (kind) {
	case K_RING:
	case K_DRING:
		if (producer)
			ring_produce(o, b, n, batch);
		else
			return ring_consume(ctl, o, b, total, batch);
		break;
	case K_S3_JUMBO:
		if (producer)
			s3_jumbo_produce(pool, o->j, v, b, n, batch);
		else
			return s3_jumbo_consume(ctl, pool, o->j, v, b, total,
						batch);
		break;
	case K_S3_DPDK:
		if (producer)
			s3_dpdk_produce(ctl, v, n, batch);
		else
			return s3_dpdk_consume(ctl, v, total, batch);
		break;
	}
	return 0;
}

static void side(struct ctl *ctl, enum kind kind, int fd, void *dring,
		 unsigned id, unsigned p, unsigned c, unsigned long n,
		 unsigned long warm, unsigned batch, unsigned slots)
{
	struct ring_ops o = {.d = dring};
	struct jumbo_ring_ent *b = calloc(batch, sizeof(*b));
	void **v = calloc(batch, sizeof(*v));
	struct jumbo_pool *pool = NULL;
	bool producer = id < p, one_to_one = p == 1 && c == 1;
	uint64_t sum = 0;

	/* A side must not outlive the bench: it spins. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!b || !v)
		side_fail(ctl, "out of memory");
	if (one_to_one && kind != K_S3_DPDK) /* the EAL pins DPDK's own */
		pin(producer ? 0 : 1);
	if (kind == K_RING || kind == K_S3_JUMBO) {
		o.j = jumbo_ring_open_fd(fd);
		if (!o.j)
			side_fail(ctl, "jumbo_ring_open_fd failed");
	}
	if (kind == K_S3_JUMBO) {
		pool = jumbo_pool_attach_fd(pool_fd, -1, 0);
		if (!pool)
			side_fail(ctl, "jumbo_pool_attach_fd failed");
		/* Bound, a page changes owner as it leaves the ring
		 * (jumbo_ring(3)): a producer that detaches first would
		 * otherwise take back the pages still in flight, as pages
		 * it owns (jumbo_pool(3), Processes). */
		if (jumbo_ring_bind(o.j, pool) != 0)
			side_fail(ctl, "jumbo_ring_bind failed");
	}
	if (kind == K_S3_DPDK)
		dpdk_side_start(ctl, id, slots);

	/* Relaxed: a count the parent polls; what the sides set up is
	 * their own, and GO's release/acquire below starts them all. */
	__atomic_fetch_add(&ctl->ready, 1, __ATOMIC_RELAXED);
	/* Acquire: pairs with the parent's release of GO. */
	while (__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) < GO) {
		/* Relaxed: only a flag; why is read after the exits. */
		if (__atomic_load_n(&ctl->failed, __ATOMIC_RELAXED))
			_exit(2);
		pause_cpu();
	}
	/* Untimed: every page this run will cycle through gets mapped and
	 * cached in each process first (a named pool's 4 KiB pages fault in
	 * every process that touches them; DPDK's primary has populated its
	 * 2 MiB pages before). */
	sum = work(ctl, kind, &o, pool, v, b, producer, warm, p * warm, batch);
	/* Relaxed: a barrier of counts only; the pages and the ring
	 * entries are ordered by the ring. */
	__atomic_fetch_add(&ctl->warmed, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&ctl->warmed, __ATOMIC_RELAXED) < p + c)
		pause_cpu();
	if (one_to_one) {
		double rtt = probe_rtt(ctl, producer);

		if (producer)
			ctl->rtt = rtt;
	}
	ctl->waited[id] = cpu_wait();
	ctl->t0[id] = now();
	sum = work(ctl, kind, &o, pool, v, b, producer, n, p * (warm + n),
		   batch);
	ctl->t1[id] = now();
	ctl->waited[id] = cpu_wait() - ctl->waited[id];
	ctl->sum[id] = sum;
	if (pool) { /* detach: this process's cache goes back to the depot */
		/*
		 * A producer leaves as soon as it has sent all, with pages
		 * still in the ring: they stay allocated for the consumer
		 * (jumbo_pool(3), Processes).
		 */
		jumbo_ring_bind(o.j, NULL);
		jumbo_pool_destroy(pool);
	}
	if (kind == K_S3_DPDK)
		bench_dpdk_mp_stop();
	_exit(0);
}

/* ---- the parent ------------------------------------------------------------ */

/* Waits for every side to be ready; false (and the rest killed) if one
 * failed or died first. */
static bool wait_ready(struct ctl *ctl, pid_t *pid, unsigned sides)
{
	/* Relaxed and acquire: counts and flags; why is read after the
	 * sides are reaped, which orders their writes. */
	for (;;) {
		if (__atomic_load_n(&ctl->ready, __ATOMIC_RELAXED) == sides)
			return true;
		for (unsigned i = 0; i < sides; i++) {
			int st;

			if (pid[i] > 0 && waitpid(pid[i], &st, WNOHANG) == pid[i]) {
				pid[i] = 0;
				if (!__atomic_load_n(&ctl->failed,
						     __ATOMIC_RELAXED))
					snprintf(ctl->why, sizeof(ctl->why),
						 "a side exited with status %d",
						 st);
				__atomic_store_n(&ctl->failed, 1,
						 __ATOMIC_RELEASE);
			}
		}
		if (__atomic_load_n(&ctl->failed, __ATOMIC_ACQUIRE)) {
			for (unsigned i = 0; i < sides; i++)
				if (pid[i] > 0)
					kill(pid[i], SIGKILL);
			return false;
		}
		usleep(100);
	}
}

struct result {
	double rate;  /* M entries (pages) per second; 0 if it failed */
	double rtt;   /* ns; 0 if not probed */
	double lost;  /* the largest share of the run a side waited for a CPU */
	bool sum_ok;
	char why[256];
};

/*
 * One case: p producers and c consumers of n entries each, in batches.
 * The time runs from the first side's start to the last side's end, as
 * the sides stamp them (the processes' start-up and exit are not in it).
 */
static struct result run(enum kind kind, unsigned flags, unsigned p,
			 unsigned c, unsigned long n, unsigned batch,
			 unsigned slots)
{
	struct result res = {0};
	struct jumbo_ring *r = NULL;
	struct ctl *ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	size_t dlen = kind == K_DRING ? bench_dpdk_ring_memsize(slots) : 0;
	void *dmem = NULL, *d = NULL;
	uint64_t sum = 0, want = 0;
	double t0 = 0, t1 = 0;
	pid_t pid[MAX_SIDES];
	bool ok = true;
	/* A tenth of the run, and at least the pages in flight (the ring
	 * and two caches) several times over. */
	unsigned long warm = n < 20000 ? n : 20000 + n / 10;

	if (ctl == MAP_FAILED) {
		snprintf(res.why, sizeof(res.why), "mmap: %s", strerror(errno));
		return res;
	}
	if (kind == K_DRING) {
		dmem = mmap(NULL, dlen, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (dmem != MAP_FAILED)
			d = bench_dpdk_ring_init(dmem, slots,
						 flags == JUMBO_RING_MPMC);
		else
			dmem = NULL;
	} else if (kind != K_S3_DPDK) {
		r = jumbo_ring_create(NULL, slots, flags, 0);
	}
	if (kind != K_S3_DPDK && !r && !d) {
		snprintf(res.why, sizeof(res.why), "ring: %s", strerror(errno));
		goto out;
	}
	fflush(NULL); /* nothing buffered is written by a child too */
	for (unsigned i = 0; i < p + c; i++) {
		pid[i] = fork();
		if (pid[i] == 0)
			side(ctl, kind, r ? jumbo_ring_fd(r) : -1, d, i, p, c,
			     n, warm, batch, slots);
	}
	if (!wait_ready(ctl, pid, p + c))
		ok = false;
	else /* Release: pairs with the sides' acquire; they start now. */
		__atomic_store_n(&ctl->ready, GO, __ATOMIC_RELEASE);
	/*
	 * A side that fails mid-run (a page found wrong) leaves its peer
	 * spinning on the ring for ever: look every 10 ms, and kill the
	 * others once one has failed or died.  Not waitpid(-1): the huge
	 * pages' watchdog is a child too.
	 */
	for (unsigned left = p + c; left > 0;) {
		for (unsigned i = 0; i < p + c; i++) {
			int st = 0;
			pid_t w;

			if (pid[i] <= 0 ||
			    (w = waitpid(pid[i], &st, WNOHANG)) == 0)
				continue;
			if (w < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				ok = false;
			pid[i] = 0;
			left--;
		}
		for (unsigned i = 0; !ok && i < p + c; i++)
			if (pid[i] > 0)
				kill(pid[i], SIGKILL);
		if (left)
			nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	if (!ok) {
		snprintf(res.why, sizeof(res.why), "%s",
			 ctl->why[0] ? ctl->why : "a side failed");
		goto out;
	}
	for (unsigned i = 0; i < p + c; i++) {
		if (i == 0 || ctl->t0[i] < t0)
			t0 = ctl->t0[i];
		if (ctl->t1[i] > t1)
			t1 = ctl->t1[i];
	}
	for (unsigned i = p; i < p + c; i++)
		sum += ctl->sum[i];
	for (unsigned long i = 0; i < n; i++)
		want += (kind == K_S3_JUMBO || kind == K_S3_DPDK) && no_touch
				? 1 : (uint64_t)i << 12;
	want *= p;
	res.sum_ok = sum == want;
	res.rate = (double)p * n / (t1 - t0) * 1e3;
	res.rtt = ctl->rtt;
	for (unsigned i = 0; i < p + c; i++)
		if (ctl->waited[i] / (t1 - t0) > res.lost)
			res.lost = ctl->waited[i] / (t1 - t0);
out:
	if (r)
		jumbo_ring_close(r);
	if (dmem)
		munmap(dmem, dlen);
	munmap(ctl, sizeof(*ctl));
	return res;
}

static bool ring_case(bool dpdk, unsigned flags, unsigned p, unsigned c,
		      unsigned long n, unsigned batch, unsigned slots)
{
	struct result res;

	if (dpdk && !bench_dpdk_ring_memsize(slots))
		return true; /* not built with DPDK */
	res = run(dpdk ? K_DRING : K_RING, flags, p, c, n, batch, slots);
	if (res.rate == 0) {
		fprintf(stderr, "jumbo-bench-ring: %s: %s\n",
			dpdk ? "rte_ring" : "jumbo_ring", res.why);
		return false;
	}
	printf("%-8s %s %u producer(s) %u consumer(s) batch %3u: %8.2f M "
	       "entries/s %s\n", dpdk ? "rte_ring" : "jumbo",
	       flags ? "mpmc" : "spsc", p, c, batch, res.rate,
	       res.sum_ok ? "(sum ok)" : "(SUM WRONG)");
	return res.sum_ok;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_ROUNDS 32

/*
 * S3 across processes: rounds of libjumbo and DPDK, in alternating order,
 * each round's ratio from its two runs.  Returns false if a check failed
 * or libjumbo's side could not run; DPDK's that cannot start is skipped.
 */
static bool s3_rounds(unsigned rounds, unsigned long n, unsigned batch,
		      unsigned slots)
{
	double jr[MAX_ROUNDS], dr[MAX_ROUNDS], ratio[MAX_ROUNDS];
	char name[32], why[256] = "";
	struct jumbo_pool_params pp;
	struct jumbo_pool *pool;
	bool dpdk, ok = true;
	unsigned kept = 0;

	snprintf(name, sizeof(name), "bench-ring-%d", (int)getpid());
	/*
	 * -H: a /dev/shm of our own whose files get 2 MiB pages where a
	 * mapping asks for them (the pool's commit does, and every process's
	 * mapping then maps them whole).  Before the pool exists: unshare
	 * refuses a process with threads, and a named pool may start one.
	 */
	if (huge_shm &&
	    (unshare(CLONE_NEWNS) != 0 ||
	     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	     mount("jumbo-bench", "/dev/shm", "tmpfs", 0,
		   "huge=advise,mode=1777") != 0)) {
		fprintf(stderr, "jumbo-bench-ring: -H: a tmpfs with "
			"huge=advise on /dev/shm: %s\n", strerror(errno));
		return false;
	}
#ifdef BENCH_TSAN
	/* A shared pool publishes its statistics from a thread of the
	 * creating process (jumbo_stat(3)); ThreadSanitizer refuses forks of
	 * a process with threads, so the sanitized bench does without. */
	setenv("JUMBO_STAT", "0", 1);
#endif
	jumbo_pool_params_init(&pp);
	pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	pp.max_pages = 65536;
	pp.name = name;
	pool = jumbo_pool_create(&pp);
	if (!pool) {
		fprintf(stderr, "jumbo-bench-ring: named pool: %s\n",
			strerror(errno));
		return false;
	}
	/*
	 * The sides attach by the descriptor they inherit, so the name can
	 * go now: a bench killed mid-run leaves no object in /dev/shm.
	 */
	pool_fd = jumbo_pool_fd(pool);
	jumbo_pool_unlink(name);
	snprintf(dpdk_prefix, sizeof(dpdk_prefix), "jumbo-bench-%d",
		 (int)getpid());
	dpdk = !only_jumbo && bench_dpdk_ring_memsize(slots) != 0 &&
	       bench_huge_get(&huge, DPDK_HUGE, why, sizeof(why)) == 0;
	if (only_jumbo)
		snprintf(why, sizeof(why), "-o jumbo");
	else if (!bench_dpdk_ring_memsize(slots))
		snprintf(why, sizeof(why), "not built with libdpdk");
	printf("\nS3 across processes: %lu pages a run, batch %u, %u slots, "
	       "producer on CPU 0, consumer on CPU 1%s\n", n, batch, slots,
	       no_touch ? ";\n  -t: pages neither written nor read (the "
			  "pools, rings and hand-over alone)" : "");
	printf("  libjumbo: named shared pool (cache 512, %s) + jumbo_ring "
	       "SPSC of {iova, len}\n",
	       huge_shm ? "/dev/shm huge=advise: 2 MiB pages"
			: "/dev/shm as mounted");
	if (dpdk)
		printf("  DPDK: primary + secondary, rte_mempool ring_mp_mc "
		       "cache 512 (%u objects) + rte_ring SPSC of pointers, "
		       "2 MiB pages%s\n", DPDK_OBJS,
		       dpdk_own == OWN_CAS ? ",\n        with a named pool's owner "
					     "words (-O cas: taken, adopted by "
					     "compare-and-swap, freed)"
		       : dpdk_own == OWN_STORE ? ",\n        with owner words "
						 "(-O store: taken, adopted by "
						 "a store, freed)"
		       : dpdk_own == OWN_FREE ? ",\n        with owner words "
						"(-O free: taken and freed, "
						"never adopted)"
		       : "");
	else
		printf("  DPDK: skipped: %s\n", why);
	printf("(rtt: a line's round trip between the two sides before the "
	       "run; lost: the largest share of\n the run a side waited for "
	       "a CPU that other work had)\n");
	printf("round  jumbo Mpages/s (rtt ns, lost)   dpdk Mpages/s (rtt ns, "
	       "lost)   jumbo/dpdk\n");
	for (unsigned i = 0; i < rounds; i++) {
		struct result rj = {0}, rd = {0};

		/* Alternate who goes first, so that a trend in the load
		 * falls on both. */
		for (unsigned k = 0; k < 2; k++) {
			if ((k == 0) == (i % 2 == 0) && !only_dpdk)
				rj = run(K_S3_JUMBO, JUMBO_RING_SPSC, 1, 1, n,
					 batch, slots);
			else if (dpdk)
				rd = run(K_S3_DPDK, 0, 1, 1, n, batch, slots);
		}
		if (dpdk)
			bench_huge_clean(&huge);
		if (only_dpdk)
			rj = (struct result){.rate = rd.rate, .sum_ok = true};
		if (rj.rate == 0 || !rj.sum_ok) {
			fprintf(stderr, "jumbo-bench-ring: S3 libjumbo: %s\n",
				rj.rate ? "SUM WRONG" : rj.why);
			ok = false;
			break;
		}
		if (dpdk && (rd.rate == 0 || !rd.sum_ok)) {
			fprintf(stderr, "jumbo-bench-ring: S3 DPDK: %s\n",
				rd.rate ? "SUM WRONG" : rd.why);
			ok = false;
			break;
		}
		jr[kept] = rj.rate;
		dr[kept] = rd.rate;
		if (dpdk) {
			ratio[kept] = rj.rate / rd.rate;
			printf("%5u  %14.2f (%6.0f, %3.0f%%)   %13.2f (%6.0f, "
			       "%3.0f%%)   %10.2f\n", i + 1, rj.rate, rj.rtt,
			       rj.lost * 100, rd.rate, rd.rtt, rd.lost * 100,
			       ratio[kept]);
		} else {
			printf("%5u  %14.2f (%6.0f, %3.0f%%)\n", i + 1, rj.rate,
			       rj.rtt, rj.lost * 100);
		}
		kept++;
	}
	if (kept && dpdk)
		printf("median %14.2f                  %13.2f                  "
		       "%10.2f (median of the rounds' ratios)\n",
		       median(jr, kept), median(dr, kept),
		       median(ratio, kept));
	if (dpdk)
		bench_huge_put(&huge);
	pool_fd = -1;
	jumbo_pool_destroy(pool);
	return ok;
}

int main(int argc, char **argv)
{
	unsigned long n = 10000000;
	unsigned batch = 32, slots = 1024, rounds = 5;
	bool quick = false, do_ring = true, do_s3 = true, ok = true;
	int o;

	while ((o = getopt(argc, argv, "qHtn:b:s:r:w:o:O:")) != -1) {
		if (o == 'q')
			quick = true;
		else if (o == 'H')
			huge_shm = true;
		else if (o == 't')
			no_touch = true;
		else if (o == 'n')
			n = strtoul(optarg, NULL, 0);
		else if (o == 'b')
			batch = (unsigned)strtoul(optarg, NULL, 0);
		else if (o == 's')
			slots = (unsigned)strtoul(optarg, NULL, 0);
		else if (o == 'r')
			rounds = (unsigned)strtoul(optarg, NULL, 0);
		else if (o == 'w' && strcmp(optarg, "ring") == 0)
			do_s3 = false;
		else if (o == 'w' && strcmp(optarg, "s3") == 0)
			do_ring = false;
		else if (o == 'o' && strcmp(optarg, "jumbo") == 0)
			only_jumbo = true;
		else if (o == 'o' && strcmp(optarg, "dpdk") == 0)
			only_dpdk = true;
		else if (o == 'O' && strcmp(optarg, "cas") == 0)
			dpdk_own = OWN_CAS;
		else if (o == 'O' && strcmp(optarg, "store") == 0)
			dpdk_own = OWN_STORE;
		else if (o == 'O' && strcmp(optarg, "free") == 0)
			dpdk_own = OWN_FREE;
		else {
			fprintf(stderr, "usage: jumbo-bench-ring [-q] [-H] [-n entries] "
				"[-b batch] [-s slots] [-r rounds] [-w ring|s3] "
				"[-o jumbo|dpdk] [-O cas|store|free] [-t]\n");
			return 2;
		}
	}
	if (quick) {
		n = 100000;
		rounds = 1;
	}
	if (!batch || batch > JUMBO_RING_MAX_BATCH || !n || !rounds ||
	    rounds > MAX_ROUNDS) {
		fprintf(stderr, "jumbo-bench-ring: bad batch, count or rounds "
			"(at most %u)\n", MAX_ROUNDS);
		return 2;
	}
	printf("jumbo-bench-ring: %lu entries per producer, %u slots, "
	       "%ld CPUs%s\n", n, slots, sysconf(_SC_NPROCESSORS_ONLN),
	       quick ? " (--quick: the figures mean nothing)" : "");
	/* Each case on both rings back to back, so that a busy machine
	 * disturbs the pair rather than one side of the comparison. */
	for (int d = 0; do_ring && d < 2; d++)
		ok &= ring_case(d, JUMBO_RING_SPSC, 1, 1, n, 1, slots);
	for (int d = 0; do_ring && d < 2; d++)
		ok &= ring_case(d, JUMBO_RING_SPSC, 1, 1, n, batch, slots);
	for (int d = 0; do_ring && d < 2; d++)
		ok &= ring_case(d, JUMBO_RING_MPMC, 1, 1, n, 1, slots);
	for (int d = 0; do_ring && d < 2; d++)
		ok &= ring_case(d, JUMBO_RING_MPMC, 1, 1, n, batch, slots);
	for (int d = 0; do_ring && d < 2; d++)
		ok &= ring_case(d, JUMBO_RING_MPMC, 2, 2, n / 2, batch, slots);
	if (do_s3)
		ok &= s3_rounds(rounds, n, batch, slots);
	return ok ? 0 : 1;
}
