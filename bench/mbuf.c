/*
 * jumbo-bench-mbuf: what an mbuf costs, and where the time goes.
 *
 * One thread, hot caches, per alloc+free pair (median of the rounds, the
 * minimum beside it; rounds interleave the rows, so a disturbance spreads
 * over all of them rather than one):
 *
 *   m_get+m_free        the library's mbufs, one pair at a time
 *   m_get+m_free x32    32 allocations, then 32 frees (per mbuf)
 *   pool alloc+free     jumbo_pool_alloc + jumbo_pool_free (a page)
 *   pool x32            32 + 32 pages, one call per page (per page)
 *   dpdk pktmbuf        rte_pktmbuf_alloc + rte_pktmbuf_free
 *   dpdk pktmbuf x32    32 + 32 of them (per mbuf)
 *   dpdk mempool get+put  the same pool's rte_mempool_get/put: DPDK's
 *                       cache alone, without the mbuf's reset and checks
 *
 * and the mbuf pair taken apart with models of its pieces, built here on
 * MSIZE-aligned struct mbufs of a 64 KiB-aligned slab of our own (the
 * library's internals are not reachable from a program; each model does
 * what src/mbuf/mbuf.c does, store for store, so the real row beside them
 * says how close they are):
 *
 *   list                the cache alone: pop from the thread's LIFO list
 *                       through m_next, push back, the count, the
 *                       allocs/frees counters (the release store)
 *   list+init           + m_get's header initialisation
 *   list+init+checks    + m_free's checks: alignment, the slab radix
 *                       lookup, the exchange of m_type, the M_EXT test
 *   ... no xchg         the same with m_type checked by a load and
 *                       changed by a store instead of the exchange
 *   array               the page magazine's fast path on mbufs: a LIFO
 *                       array of 32-bit indexes, a state word per mbuf
 *                       checked and written on both sides, the index to
 *                       address shift and back with its bound
 *   array+init+checks   + the same initialisation and the checks that
 *                       would remain (alignment, bound, the exchange)
 *
 * Also, once per round, zero-copy delivery: a 16 KiB frame from
 * m_getjumbo delivered by jumbo_deliver(JUMBO_DELIVER_MOVE), us per frame.
 *
 * Usage: jumbo-bench-mbuf [-n pairs] [-r rounds] [-d deliveries]
 * Numbers only: nothing here passes or fails (ctest runs it with tiny
 * counts to check that it works).
 */
#define _GNU_SOURCE
#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mbuf_dpdk.h"

#define BURST 32
#define MAX_ROUNDS 64

/* Keeps a value (and what it points to) alive for the compiler. */
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the models ------------------------------------------------------- */

#define SLAB_SHIFT 16
#define SLAB ((size_t)1 << SLAB_SHIFT)
#define MODEL_SLABS 4
#define MODEL_N (MODEL_SLABS * SLAB / MSIZE)
#define LEAF_BITS 16

static char *model_mem;                  /* MODEL_SLABS slabs, aligned */
static unsigned char *model_root[1 << 15]; /* as _jumbo_mb_root */

/* The mbuf cache: a list through m_next (src/mbuf/mbuf.c, mb_cache). */
static __thread struct {
	struct mbuf *free;
	unsigned n;
	uint64_t allocs, frees;
} lc;

/* The page cache on mbufs (jumbo_cache): indexes, and a state word each. */
static __thread struct {
	unsigned len, cap;
	uint64_t allocs, frees;
	uint32_t objs[MODEL_N];
} ac;
static uint32_t *model_state;
enum { ST_FREE = 1, ST_ALLOC = 2 };

static inline struct mbuf *list_pop(void)
{
	struct mbuf *m = lc.free;

	if (__builtin_expect(!m, 0))
		return NULL;
	lc.free = m->m_next;
	lc.n--;
	__atomic_store_n(&lc.allocs, lc.allocs + 1, __ATOMIC_RELAXED);
	return m;
}

static inline void list_push(struct mbuf *m)
{
	m->m_next = lc.free;
	lc.free = m;
	__atomic_store_n(&lc.frees, lc.frees + 1, __ATOMIC_RELEASE);
	if (__builtin_expect(++lc.n >= 2 * 64, 0))
		abort(); /* the model never holds that many */
}

static inline struct mbuf *array_pop(void)
{
	unsigned len = ac.len;
	uint64_t n = ac.allocs;

	if (__builtin_expect(len == 0, 0))
		return NULL;
	uint32_t f = ac.objs[len - 1];
	if (__builtin_expect(__atomic_load_n(&model_state[f], __ATOMIC_RELAXED) !=
			     ST_FREE, 0))
		return NULL;
	ac.len = len - 1;
	__atomic_store_n(&model_state[f], ST_ALLOC, __ATOMIC_RELAXED);
	__atomic_store_n(&ac.allocs, n + 1, __ATOMIC_RELAXED);
	return (struct mbuf *)(model_mem + ((size_t)f << 8));
}

static inline bool array_push(struct mbuf *m)
{
	size_t off = (uintptr_t)m - (uintptr_t)model_mem;
	size_t f = off >> 8;
	unsigned len = ac.len;
	uint64_t n = ac.frees;

	if (__builtin_expect(f >= MODEL_N, 0))
		return false;
	if (__builtin_expect(__atomic_load_n(&model_state[f], __ATOMIC_RELAXED) !=
			     ST_ALLOC || len >= ac.cap, 0))
		return false;
	__atomic_store_n(&model_state[f], ST_FREE, __ATOMIC_RELAXED);
	ac.objs[len] = (uint32_t)f;
	ac.len = len + 1;
	__atomic_store_n(&ac.frees, n + 1, __ATOMIC_RELAXED);
	return true;
}

/* m_get's initialisation (mb_init). */
static inline struct mbuf *init(struct mbuf *m)
{
	m->m_next = NULL;
	m->m_nextpkt = NULL;
	m->m_data = m->m_dat;
	m->m_len = 0;
	m->m_flags = 0;
	memset(&m->m_pkthdr, 0, sizeof(m->m_pkthdr));
	memset(&m->m_ext, 0, sizeof(m->m_ext));
	__atomic_store_n(&m->m_type, MT_DATA, __ATOMIC_RELEASE);
	return m;
}

static inline bool in_slab(const void *p)
{
	uintptr_t r = (uintptr_t)p >> (SLAB_SHIFT + LEAF_BITS);
	unsigned char *leaf;

	if (r >= sizeof(model_root) / sizeof(model_root[0]))
		return false;
	leaf = __atomic_load_n(&model_root[r], __ATOMIC_ACQUIRE);
	return leaf && __atomic_load_n(&leaf[((uintptr_t)p >> SLAB_SHIFT) &
					     ((1u << LEAF_BITS) - 1)],
				       __ATOMIC_RELAXED);
}

/*
 * m_free's checks (mb_free), before the push; slab: the radix lookup;
 * xchg: m_type changes by an exchange, as in the library (which makes two
 * racing frees see each other), else by a load and a store (as the page
 * state word does).
 */
static inline void checks(struct mbuf *m, bool slab, bool xchg)
{
	if (((uintptr_t)m & (MSIZE - 1)) != 0 || (slab && !in_slab(m)))
		abort();
	if (xchg) {
		if (__atomic_exchange_n(&m->m_type, MT_NOTMBUF,
					__ATOMIC_ACQUIRE) != MT_DATA)
			abort();
	} else {
		if (__atomic_load_n(&m->m_type, __ATOMIC_ACQUIRE) != MT_DATA)
			abort();
		__atomic_store_n(&m->m_type, MT_NOTMBUF, __ATOMIC_RELAXED);
	}
	if (m->m_flags & M_EXT)
		abort(); /* never, here: m_get's mbufs have no storage */
}

static int model_init(void)
{
	size_t len = (MODEL_SLABS + 1) * SLAB;
	char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (raw == MAP_FAILED)
		return -errno;
	model_mem = (char *)(((uintptr_t)raw + SLAB - 1) & ~(SLAB - 1));
	memset(model_mem, 0, MODEL_SLABS * SLAB);
	model_state = calloc(MODEL_N, sizeof(*model_state));
	unsigned char *leaf = calloc((size_t)1 << LEAF_BITS, 1);
	if (!model_state || !leaf)
		return -ENOMEM;
	for (size_t s = 0; s < MODEL_SLABS; s++) {
		uintptr_t a = (uintptr_t)model_mem + s * SLAB;
		uintptr_t r = a >> (SLAB_SHIFT + LEAF_BITS);
		if (r >= sizeof(model_root) / sizeof(model_root[0]))
			return -ERANGE;
		if (!model_root[r])
			model_root[r] = leaf; /* one leaf is enough for a test */
		model_root[r][(a >> SLAB_SHIFT) & ((1u << LEAF_BITS) - 1)] = 1;
	}
	/* Both caches hold the first 64 mbufs, in the library's order. */
	for (unsigned i = 64; i-- > 0;) {
		struct mbuf *m = (struct mbuf *)(model_mem + (size_t)i * MSIZE);
		m->m_next = lc.free;
		lc.free = m;
		lc.n++;
	}
	ac.cap = 128;
	for (unsigned i = 64; i-- > 0;) {
		model_state[i] = ST_FREE;
		ac.objs[ac.len++] = i;
	}
	return 0;
}

/* ---- the timed loops: ns per pair ------------------------------------ */

static struct jumbo_pool *pool;

static __attribute__((noinline)) double t_list(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct mbuf *m = list_pop();
		ESCAPE(m);
		list_push(m);
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double t_list_init(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct mbuf *m = init(list_pop());
		ESCAPE(m);
		m->m_type = MT_NOTMBUF;
		list_push(m);
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double t_list_all(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct mbuf *m = init(list_pop());
		ESCAPE(m);
		checks(m, true, true);
		list_push(m);
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double t_list_noxchg(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct mbuf *m = init(list_pop());
		ESCAPE(m);
		checks(m, true, false);
		list_push(m);
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double t_array(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct mbuf *m = array_pop();
		ESCAPE(m);
		if (!array_push(m))
			abort();
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double t_array_all(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct mbuf *m = init(array_pop());
		ESCAPE(m);
		checks(m, false, true); /* the bound is array_push's */
		if (!array_push(m))
			abort();
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double t_mget(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct mbuf *m = m_get(M_NOWAIT, MT_DATA);
		ESCAPE(m);
		m_free(m);
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double t_mget_burst(long n)
{
	struct mbuf *v[BURST];
	long rounds = n / BURST;
	uint64_t t0 = now_ns();

	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < BURST; i++)
			v[i] = m_get(M_NOWAIT, MT_DATA);
		ESCAPE(v);
		for (int i = 0; i < BURST; i++)
			m_free(v[i]);
	}
	return (double)(now_ns() - t0) / (rounds * BURST);
}

static __attribute__((noinline)) double t_pool(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		void *p = jumbo_pool_alloc(pool);
		ESCAPE(p);
		jumbo_pool_free(pool, p);
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double t_pool_burst(long n)
{
	void *v[BURST];
	long rounds = n / BURST;
	uint64_t t0 = now_ns();

	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < BURST; i++)
			v[i] = jumbo_pool_alloc(pool);
		ESCAPE(v);
		for (int i = 0; i < BURST; i++)
			jumbo_pool_free(pool, v[i]);
	}
	return (double)(now_ns() - t0) / (rounds * BURST);
}

static double t_dpdk(long n)
{
	return bench_dpdk_mbuf_pairs(n, 1);
}

static double t_dpdk_burst(long n)
{
	return bench_dpdk_mbuf_pairs(n, BURST);
}

static double t_dpdk_mempool(long n)
{
	return bench_dpdk_mbuf_pairs(n, 0);
}

/* Zero-copy delivery, us per 16 KiB frame moved; < 0 on error. */
static char *dst;
#define FRAME (16 * 1024)

static double t_deliver(long n)
{
	uint64_t sum = 0;

	for (long i = 0; i < n; i++) {
		int err;
		struct mbuf *m = m_getjumbo(pool, FRAME, &err);
		if (!m)
			return -1;
		uint64_t t0 = now_ns();
		err = jumbo_deliver(m, dst, FRAME, JUMBO_DELIVER_MOVE, NULL);
		sum += now_ns() - t0;
		if (err) {
			m_freem(m);
			return -1;
		}
	}
	return (double)sum / n / 1000.0;
}

struct row {
	const char *name;
	double (*fn)(long);
	bool dpdk, deliver;
	double v[MAX_ROUNDS];
	double med, min;
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void usage(void)
{
	fprintf(stderr, "usage: jumbo-bench-mbuf [-n pairs] [-r rounds] "
			"[-d deliveries]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long n = 20000000, ndeliver = 2000;
	int rounds = 5, opt;

	while ((opt = getopt(argc, argv, "n:r:d:")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'd': ndeliver = atol(optarg); break;
		default: usage();
		}
	}
	if (n < BURST || rounds < 1 || rounds > MAX_ROUNDS || ndeliver < 1)
		usage();

	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 4096;
	pool = jumbo_pool_create(&pp);
	int err = model_init();
	dst = mmap(NULL, FRAME, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!pool || err || dst == MAP_FAILED) {
		fprintf(stderr, "jumbo-bench-mbuf: set-up failed: %s\n",
			strerror(err ? -err : errno));
		return 1;
	}
	char why[256] = "";
	bool dpdk = bench_dpdk_mbuf_start(why, sizeof(why)) == 0;
	if (!dpdk)
		fprintf(stderr, "jumbo-bench-mbuf: no dpdk rows: %s\n", why);

	struct row rows[] = {
		{ .name = "m_get+m_free", .fn = t_mget },
		{ .name = "m_get+m_free x32", .fn = t_mget_burst },
		{ .name = "model: list", .fn = t_list },
		{ .name = "model: list+init", .fn = t_list_init },
		{ .name = "model: list+init+checks", .fn = t_list_all },
		{ .name = "model: ... load/store, no xchg", .fn = t_list_noxchg },
		{ .name = "model: array", .fn = t_array },
		{ .name = "model: array+init+checks", .fn = t_array_all },
		{ .name = "jumbo_pool_alloc+free", .fn = t_pool },
		{ .name = "jumbo_pool_alloc+free x32", .fn = t_pool_burst },
		{ .name = "dpdk rte_pktmbuf_alloc+free", .fn = t_dpdk, .dpdk = true },
		{ .name = "dpdk rte_pktmbuf x32", .fn = t_dpdk_burst, .dpdk = true },
		{ .name = "dpdk rte_mempool_get+put", .fn = t_dpdk_mempool,
		  .dpdk = true },
		{ .name = "jumbo_deliver MOVE 16 KiB", .fn = t_deliver,
		  .deliver = true },
	};
	const size_t nrows = sizeof(rows) / sizeof(rows[0]);

	/* Warm every path once (first slabs, caches, the calibration). */
	for (size_t k = 0; k < nrows; k++)
		if (!rows[k].dpdk || dpdk)
			rows[k].fn(rows[k].deliver ? 4 : BURST * 64);
	for (int r = 0; r < rounds; r++) {
		for (size_t k = 0; k < nrows; k++) {
			if (rows[k].dpdk && !dpdk)
				continue;
			rows[k].v[r] = rows[k].fn(rows[k].deliver ? ndeliver : n);
			if (rows[k].v[r] < 0) {
				fprintf(stderr, "jumbo-bench-mbuf: %s failed\n",
					rows[k].name);
				return 1;
			}
		}
	}

	double mget = 0, page = 0, dpk = 0;
	for (size_t k = 0; k < nrows; k++) {
		qsort(rows[k].v, (size_t)rounds, sizeof(double), cmp_d);
		rows[k].med = rows[k].v[rounds / 2];
		rows[k].min = rows[k].v[0];
	}
	/* The rows the ratios divide by. */
	for (size_t k = 0; k < nrows; k++) {
		if (rows[k].fn == t_mget)
			mget = rows[k].med;
		else if (rows[k].fn == t_pool)
			page = rows[k].med;
		else if (rows[k].fn == t_dpdk && dpdk)
			dpk = rows[k].med;
	}

	FILE *la = fopen("/proc/loadavg", "r");
	char load[64] = "?";
	if (la) {
		if (!fgets(load, sizeof(load), la))
			strcpy(load, "?");
		load[strcspn(load, "\n")] = 0;
		fclose(la);
	}
	printf("jumbo-bench-mbuf: %ld pairs x %d rounds, one thread; "
	       "loadavg %s\n", n, rounds, load);
	printf("%-30s %9s %9s %9s %9s %9s\n", "ns per pair (per object)",
	       "median", "min", "/m_get", "/page", "/dpdk");
	for (size_t k = 0; k < nrows; k++) {
		const struct row *w = &rows[k];
		if (w->dpdk && !dpdk)
			continue;
		if (w->deliver) {
			printf("%-30s %9.2f %9.2f us per frame\n", w->name,
			       w->med, w->min);
			continue;
		}
		printf("%-30s %9.2f %9.2f %9.2f %9.2f", w->name, w->med,
		       w->min, w->med / mget, w->med / page);
		if (dpdk)
			printf(" %9.2f", w->med / dpk);
		printf("\n");
	}
	bench_dpdk_mbuf_stop();
	munmap(dst, FRAME);
	return jumbo_pool_destroy(pool) == 0 ? 0 : 1;
}
