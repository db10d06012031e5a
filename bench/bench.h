/*
 * jumbo-bench: libjumbo against the page allocators a user would pick
 * instead.  Internal header shared by the harness (main.c, stats.c,
 * output.c, sys.c), the workload template (workloads.h) and the peer
 * adapters (peer_*.c).
 */
#ifndef JUMBO_BENCH_H
#define JUMBO_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_PAGE 4096u
#define BENCH_BURST 512u    /* S2: allocs, then as many frees */
#define BENCH_RING_SLOTS 1024u /* S3's ring */
#define BENCH_S4_THREADS 8u /* S4: threads, on the two cores */
#define BENCH_S4_SLOTS 64u  /* S4: pages a thread may hold at once */
#define BENCH_GROW_BYTES ((size_t)1 << 30)
#define BENCH_MAX_PEERS 16
#define BENCH_MAX_RUNS 64

/*
 * Sanitized builds.  Under ThreadSanitizer the allocators that are not
 * instrumented (DPDK, jemalloc, mimalloc, tcmalloc; libjumbo and the two
 * models are, and TSan intercepts glibc's malloc) pass a page from one
 * thread to the next through synchronisation TSan cannot see.
 * BENCH_HB_* tell it that a free happens-before the next allocation of the
 * same page, which is what those allocators guarantee.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_SANITIZED 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#undef BENCH_SANITIZED
#define BENCH_SANITIZED 1
#endif
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif
#ifndef BENCH_SANITIZED
#define BENCH_SANITIZED 0
#endif

#ifdef __SANITIZE_THREAD__
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define BENCH_HB_ALLOC(p) __tsan_acquire(p)
#define BENCH_HB_FREE(p) __tsan_release(p)
#else
#define BENCH_HB_ALLOC(p) ((void)0)
#define BENCH_HB_FREE(p) ((void)0)
#endif

#define BENCH_LIKELY(x) __builtin_expect(!!(x), 1)
#define BENCH_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * The figures, in the order the table prints them.  GROW, FAULTS, META and
 * RSS all come from one call of a peer's grow().
 */
enum wl {
	WL_S1,     /* alloc, touch, free one page: ns per pair */
	WL_S2,     /* 512 allocs then 512 frees, one call per page: ns/page */
	WL_S2B,    /* the same burst through batch calls, where there are */
	WL_S3,     /* producer allocates, consumer frees via a ring: M/s */
	WL_S4,     /* 8 threads on 2 cores, random alloc/free: ns per pair */
	WL_GROW,   /* alloc and write 1 GiB of pages from a fresh pool: ms */
	WL_FAULTS, /* minor faults per page during GROW */
	WL_META,   /* metadata bytes per page */
	WL_RSS,    /* resident MiB left after freeing all and trimming */
	WL_COUNT
};

/*
 * What one run of a workload yields.  value is the figure the table shows
 * (ns per page or pair, or M pages/s for S3); the others are extra figures
 * of the growth and memory workloads.  errors counts pages that were not
 * page-aligned, allocations that returned NULL, and pages whose written
 * token did not read back: any of them fails the run.
 */
struct wl_result {
	double value;
	double minflt;    /* grow(): minor faults per page */
	double rss_mib;   /* grow(): resident MiB after release, over baseline */
	double meta;      /* grow(): metadata bytes per page, -1 unknown */
	uint64_t errors;
	char why[160];    /* first error, for the report */
};

struct wl_params {
	uint64_t iters;    /* S1: pairs; S2: bursts; S3: pages; S4: steps/thread */
	size_t grow_pages; /* grow(): pages in 1 GiB (fewer in --quick) */
};

struct spsc;

/*
 * A peer: one allocator behind one adapter file.  start() runs once before
 * its workloads and must fail (return -1 with why filled) rather than let
 * a run print zeros; thread_enter()/thread_leave() bracket every thread
 * that calls the peer (DPDK registers the thread so it has an lcore
 * cache, the floor hands the thread its pages), and a failed enter fails
 * the run.  The workload functions
 * come from workloads.h, instantiated in each adapter so that the
 * allocator's calls are inlined into the loops where the allocator allows
 * it.  A NULL workload function means "not meaningful for this peer".
 */
struct peer {
	const char *name;
	const char *what;
	int (*start)(size_t capacity, char *why, size_t whylen);
	void (*stop)(void);
	int (*thread_enter)(char *why, size_t whylen);
	void (*thread_leave)(void);
	/* After each run: -1 and why if the allocator reported errors that
	 * the workload could not see (a free that returned an error code). */
	int (*check)(char *why, size_t whylen);
	void (*s1)(const struct wl_params *, struct wl_result *);
	void (*s2)(const struct wl_params *, struct wl_result *);
	void (*s2b)(const struct wl_params *, struct wl_result *);
	void (*s3_produce)(struct spsc *, uint64_t n, struct wl_result *);
	void (*s3_consume)(struct spsc *, uint64_t n, struct wl_result *);
	void (*s4)(uint64_t steps, uint64_t seed, struct wl_result *);
	/* GROW, FAULTS (in *grow), META and RSS (in *mem): a fresh pool. */
	void (*grow)(const struct wl_params *, struct wl_result *grow,
		     struct wl_result *mem);
};

extern const struct peer peer_jumbo_seed, peer_jumbo_pool, peer_jumbo_shpool,
	peer_jumbo_user, peer_jumbo_user_static, peer_dpdk,
	peer_glibc, peer_jemalloc, peer_mimalloc, peer_tcmalloc, peer_mutex,
	peer_floor;

/*
 * The results: one cell per peer and figure, holding every run's value.
 * A cell is CELL_NA when the figure means nothing for that peer (the floor
 * cannot grow), CELL_FAILED with why when a run failed or the peer did not
 * start: the run as a whole then exits non-zero.
 */
enum cell_state { CELL_SKIP, CELL_OK, CELL_NA, CELL_FAILED };

struct cell {
	enum cell_state state;
	unsigned n;
	unsigned discarded; /* runs repeated because the CPUs were taken */
	double v[BENCH_MAX_RUNS];
	double median, min, max; /* filled by stats_summarise() */
	char why[160];
};

struct report {
	const struct peer *peer[BENCH_MAX_PEERS];
	unsigned npeers;
	unsigned wl_mask;  /* 1 << enum wl of the figures asked for */
	unsigned runs;
	int quick;
	uint64_t seed;
	struct cell cell[BENCH_MAX_PEERS][WL_COUNT];
	char peer_why[BENCH_MAX_PEERS][192]; /* start() failures */
	/* S3: the probe's round trip between the two CPUs, ns: the best
	 * seen, and that of every run kept. */
	double best_rtt;
	unsigned nrtt;
	double rtt[BENCH_MAX_PEERS * BENCH_MAX_RUNS];
};

/* run.c: measures every figure the report asks for */
void run_all(struct report *rep);

/* stats.c */
void stats_summarise(struct cell *c);
/* libjumbo's figure over peer's: below 1 libjumbo is better for times,
 * above 1 for rates (S3); 0 when either is missing (jumbo < 0: not run). */
double stats_ratio(const struct report *rep, int jumbo, unsigned peer,
		   enum wl w);
int peer_index(const struct report *rep, const char *name);

/* output.c */
void output_table(const struct report *rep, FILE *f);
int output_targets(const struct report *rep, FILE *f);
int output_csv(const struct report *rep, const char *path);
int output_markdown(const struct report *rep, const char *path);
int output_plots(const struct report *rep, const char *dir);

/* sys.c */
double bench_now_ns(void);
void bench_schedstat(double *run_ns, double *wait_ns);
long bench_minflt(void);
double bench_rss_mib(void);
int bench_pin_self(int cpu); /* cpu < 0: both cores */
void bench_error(struct wl_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bench_check_pages(struct wl_result *r, uintptr_t misaligned,
		       uint64_t bad);
void *bench_map(size_t bytes); /* anonymous, page-aligned, NULL on failure */
void bench_unmap(void *p, size_t bytes);
double bench_loadavg(void);

/* splitmix64: a seeded stream for S4's slot choices.  Inline: it runs in
 * S4's timed loop, where a call would add to every peer's figure. */
static inline uint64_t bench_mix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The workload names as the options and the table spell them. */
extern const char *const wl_names[WL_COUNT];
extern const char *const wl_units[WL_COUNT];

#endif /* JUMBO_BENCH_H */
