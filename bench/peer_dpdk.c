/*
 * DPDK's rte_mempool, ring_mp_mc behind a per-lcore cache of 512, as a
 * DPDK application sets up its buffer pools.  The EAL starts with
 * --no-huge --no-pci -l 0-1 so that it needs no set-up and no hugepages
 * (--in-memory is refused together with --no-huge, so --no-shconf keeps it
 * from writing run files instead).
 *
 * Page alignment: a mempool object is preceded by a 64-byte header
 * (struct rte_mempool_objhdr, cache-line padded), so with 4096-byte
 * elements the objects sit at a 4160-byte stride and are not
 * page-aligned.  Page-aligned 4 KiB buffers need an 8 KiB stride: elements
 * of 8192 - 64 bytes (RTE_MEMPOOL_F_NO_SPREAD, or DPDK pads the stride for
 * memory channels), populated from our own mapping at page + 4096 - 64 so
 * that every object starts a page.  The object's first 4 KiB is the
 * buffer; the fast path (get/put through the lcore cache) never looks at
 * the object, so the stride changes the memory figures (twice the virtual
 * memory, one header page touched per object), not the S1-S4 timings.
 *
 * The lcore cache exists only for EAL threads and threads registered with
 * rte_thread_register(); thread_enter() registers every other thread.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#ifdef BENCH_HAVE_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#define DPDK_CACHE 512
#define DPDK_STRIDE 8192u

struct dpdk_pool {
	struct rte_mempool *mp;
	char *mem;
	size_t len;
};

static struct dpdk_pool dpdk_main, dpdk_grown, *dpdk = &dpdk_main;
static int dpdk_eal_up;
static _Thread_local int dpdk_registered;

static void dpdk_unmake(struct dpdk_pool *p)
{
	if (p->mp)
		rte_mempool_free(p->mp);
	bench_unmap(p->mem, p->len);
	p->mp = NULL;
	p->mem = NULL;
}

static int dpdk_make(struct dpdk_pool *p, const char *name, size_t n,
		     char *why, size_t whylen)
{
	int got;

	memset(p, 0, sizeof(*p));
	p->mp = rte_mempool_create_empty(name, (unsigned)n,
					 DPDK_STRIDE - 64, DPDK_CACHE, 0,
					 SOCKET_ID_ANY,
					 RTE_MEMPOOL_F_NO_SPREAD);
	if (p->mp == NULL) {
		snprintf(why, whylen, "rte_mempool_create_empty: %s",
			 rte_strerror(rte_errno));
		return -1;
	}
	if (p->mp->header_size + p->mp->elt_size + p->mp->trailer_size !=
	    DPDK_STRIDE) {
		snprintf(why, whylen, "object stride %u, not %u",
			 p->mp->header_size + p->mp->elt_size +
				 p->mp->trailer_size, DPDK_STRIDE);
		goto fail;
	}
	if (rte_mempool_set_ops_byname(p->mp, "ring_mp_mc", NULL) != 0) {
		snprintf(why, whylen, "no ring_mp_mc mempool driver");
		goto fail;
	}
	p->len = n * DPDK_STRIDE + BENCH_PAGE;
	p->mem = bench_map(p->len);
	if (p->mem == NULL) {
		snprintf(why, whylen, "mmap of %zu bytes failed", p->len);
		goto fail;
	}
	got = rte_mempool_populate_iova(p->mp,
					p->mem + BENCH_PAGE -
						p->mp->header_size,
					RTE_BAD_IOVA, n * DPDK_STRIDE, NULL,
					NULL);
	if (got < 0 || (size_t)got != n) {
		snprintf(why, whylen, "populated %d objects of %zu", got, n);
		goto fail;
	}
	return 0;
fail:
	dpdk_unmake(p);
	return -1;
}

static int dpdk_start(size_t capacity, char *why, size_t whylen)
{
	char *argv[] = { "jumbo-bench", "--no-huge", "--no-pci", "-l", "0-1",
			 "--no-shconf", "--no-telemetry", "-m", "256",
			 "--log-level=error", NULL };
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;

	if (!dpdk_eal_up) {
		if (rte_eal_init(argc, argv) < 0) {
			snprintf(why, whylen, "rte_eal_init: %s",
				 rte_strerror(rte_errno));
			return -1;
		}
		dpdk_eal_up = 1;
	}
	return dpdk_make(&dpdk_main, "bench", capacity, why, whylen);
}

static void dpdk_stop(void)
{
	dpdk_unmake(&dpdk_main);
	/* The EAL stays up: it cannot be initialised twice in a process. */
}

/* Without an lcore id a thread has no cache and every call goes to the
 * ring: that would measure something else, so it fails the run. */
static int dpdk_thread_enter(char *why, size_t whylen)
{
	if (rte_lcore_id() != LCORE_ID_ANY)
		return 0;
	if (rte_thread_register() != 0) {
		snprintf(why, whylen, "rte_thread_register: %s",
			 rte_strerror(rte_errno));
		return -1;
	}
	dpdk_registered = 1;
	return 0;
}

static void dpdk_thread_leave(void)
{
	if (dpdk_registered) {
		rte_thread_unregister();
		dpdk_registered = 0;
	}
}

static inline void *dpdk_alloc(void)
{
	void *p;

	return rte_mempool_get(dpdk->mp, &p) == 0 ? p : NULL;
}

static inline unsigned dpdk_alloc_bulk(void **v, unsigned n)
{
	return rte_mempool_get_bulk(dpdk->mp, v, n) == 0 ? n : 0;
}

static int dpdk_grow_begin(size_t n)
{
	char why[160];

	if (dpdk_make(&dpdk_grown, "grown", n, why, sizeof(why)) != 0) {
		fprintf(stderr, "dpdk: %s\n", why);
		return -1;
	}
	dpdk = &dpdk_grown;
	return 0;
}

static void dpdk_grow_end(void)
{
	dpdk = &dpdk_main;
	dpdk_unmake(&dpdk_grown);
}

/* Per object: its header and trailer, and its slot in the ring. */
static double dpdk_meta(void)
{
	const struct rte_mempool *mp = dpdk->mp;

	return (double)(mp->header_size + mp->trailer_size + sizeof(void *));
}

#define WL_FN(x) dpdk_##x
#define WL_ALLOC() dpdk_alloc()
#define WL_FREE(p) rte_mempool_put(dpdk->mp, p)
#define WL_ALLOC_BULK(v, n) dpdk_alloc_bulk(v, n)
#define WL_FREE_BULK(v, n) (rte_mempool_put_bulk(dpdk->mp, v, n), 0)
#define WL_UNINSTRUMENTED 1
#define WL_GROW_BEGIN(n) dpdk_grow_begin(n)
#define WL_GROW_END() dpdk_grow_end()
#define WL_RELEASE() ((void)0) /* a mempool has no trim */
#define WL_META(n) dpdk_meta()
#include "workloads.h"

const struct peer peer_dpdk = {
	.name = "dpdk",
	.what = "DPDK rte_mempool, ring_mp_mc, lcore cache 512, 8 KiB stride",
	.start = dpdk_start,
	.stop = dpdk_stop,
	.thread_enter = dpdk_thread_enter,
	.thread_leave = dpdk_thread_leave,
	.s1 = dpdk_s1,
	.s2 = dpdk_s2,
	.s2b = dpdk_s2b,
	.s3_produce = dpdk_s3_produce,
	.s3_consume = dpdk_s3_consume,
	.s4 = dpdk_s4,
	.grow = dpdk_grow,
};
#else
static int dpdk_start(size_t capacity, char *why, size_t whylen)
{
	snprintf(why, whylen, "not built: libdpdk was not found by pkg-config "
		 "when the bench was configured (scripts/install-deps.sh "
		 "bench)");
	return -1;
}

const struct peer peer_dpdk = {
	.name = "dpdk",
	.what = "DPDK rte_mempool (not built)",
	.start = dpdk_start,
};
#endif
