/*
 * DPDK for jumbo-bench-ring, in a file of its own because the DPDK
 * headers force -march and a config header on what includes them.
 *
 * The ring cases: an rte_ring made with rte_ring_init() in memory the
 * caller maps shared before fork(), with 16-byte elements like
 * jumbo_ring's entries; the enqueue and dequeue are DPDK's inline burst
 * calls, which need no EAL.  Forked processes map the memory at the same
 * address, which is what rte_ring (and DPDK's secondaries) require;
 * jumbo_ring does not.
 *
 * Cross-process S3 (bench_dpdk_mp_*): the EAL as primary and secondary,
 * below.
 */
#include "ring_ipc_dpdk.h"

#include <stdio.h>

#ifdef BENCH_HAVE_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_memzone.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

size_t bench_dpdk_ring_memsize(unsigned nslots)
{
	ssize_t n = rte_ring_get_memsize_elem(16, nslots);
	return n < 0 ? 0 : (size_t)n;
}

void *bench_dpdk_ring_init(void *mem, unsigned nslots, int mpmc)
{
	struct rte_ring *r = mem;
	unsigned flags = mpmc ? 0 : RING_F_SP_ENQ | RING_F_SC_DEQ;

	/* The element size is not part of the ring: the memory was sized
	 * for 16-byte elements, and the _elem calls pass the size. */
	return rte_ring_init(r, "bench", nslots, flags) == 0 ? r : NULL;
}

unsigned bench_dpdk_ring_enq(void *r, const void *ents, unsigned n)
{
	return rte_ring_enqueue_burst_elem(r, ents, 16, n, NULL);
}

unsigned bench_dpdk_ring_deq(void *r, void *ents, unsigned n)
{
	return rte_ring_dequeue_burst_elem(r, ents, 16, n, NULL);
}

/*
 * Cross-process S3: DPDK's multi-process model.  The primary creates, in
 * hugepage memory, an rte_mempool (ring_mp_mc, cache 512) and an SPSC
 * rte_ring of object pointers; a secondary with the same --file-prefix
 * finds them by name.  Each process is one lcore (-l 0, -l 1), so each has
 * its own cache in the mempool.  Objects are 4 KiB page-aligned buffers at
 * an 8 KiB stride, as in jumbo-bench's DPDK peer (peer_dpdk.c says why):
 * populated from a memzone of our own at page - header.  No object is
 * used for DMA, so none needs to be IOVA-contiguous (without the flag,
 * DPDK skips those that cross a 2 MiB boundary).
 */
#define MP_POOL "jb-s3"
#define MP_MEM "jb-s3-mem"
#define MP_RING "jb-s3-ring"
#define MP_CACHE 512
#define MP_STRIDE 8192u

static struct rte_mempool *mp_pool;
static struct rte_ring *mp_ring;

static int mp_fail(char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "%s: %s", what, rte_strerror(rte_errno));
	return -1;
}

static int mp_create(unsigned nobj, unsigned slots, char *why, size_t whylen)
{
	const struct rte_memzone *mz;
	unsigned hdr;
	int got;

	mp_pool = rte_mempool_create_empty(MP_POOL, nobj, MP_STRIDE - 64,
					   MP_CACHE, 0, SOCKET_ID_ANY,
					   RTE_MEMPOOL_F_NO_SPREAD |
						   RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (mp_pool == NULL)
		return mp_fail(why, whylen, "rte_mempool_create_empty");
	hdr = mp_pool->header_size;
	if (hdr + mp_pool->elt_size + mp_pool->trailer_size != MP_STRIDE) {
		snprintf(why, whylen, "mempool object stride is not %u",
			 MP_STRIDE);
		return -1;
	}
	if (rte_mempool_set_ops_byname(mp_pool, "ring_mp_mc", NULL) != 0) {
		snprintf(why, whylen, "no ring_mp_mc mempool driver");
		return -1;
	}
	mz = rte_memzone_reserve_aligned(MP_MEM,
					 (size_t)nobj * MP_STRIDE + 4096,
					 SOCKET_ID_ANY, 0, 4096);
	if (mz == NULL)
		return mp_fail(why, whylen, "rte_memzone_reserve_aligned");
	got = rte_mempool_populate_iova(mp_pool,
					(char *)mz->addr + 4096 - hdr,
					mz->iova + 4096 - hdr,
					(size_t)nobj * MP_STRIDE, NULL, NULL);
	if (got < 0 || (unsigned)got != nobj) {
		snprintf(why, whylen, "populated %d objects of %u", got, nobj);
		return -1;
	}
	mp_ring = rte_ring_create(MP_RING, slots, SOCKET_ID_ANY,
				  RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (mp_ring == NULL)
		return mp_fail(why, whylen, "rte_ring_create");
	return 0;
}

int bench_dpdk_mp_start(int primary, const char *prefix, const char *hugedir,
			int cpu, unsigned nobj, unsigned slots, char *why,
			size_t whylen)
{
	char type[32], pfx[96], dir[96], lcore[16];
	char *argv[] = { "jumbo-bench-ring", type, pfx, dir, "-l", lcore,
			 "--no-pci", "--no-telemetry", "--log-level=error",
			 NULL };

	snprintf(type, sizeof(type), "--proc-type=%s",
		 primary ? "primary" : "secondary");
	snprintf(pfx, sizeof(pfx), "--file-prefix=%s", prefix);
	snprintf(dir, sizeof(dir), "--huge-dir=%s", hugedir);
	snprintf(lcore, sizeof(lcore), "%d", cpu);
	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0)
		return mp_fail(why, whylen, primary ? "rte_eal_init (primary)"
						    : "rte_eal_init (secondary)");
	if (primary)
		return mp_create(nobj, slots, why, whylen);
	mp_pool = rte_mempool_lookup(MP_POOL);
	mp_ring = rte_ring_lookup(MP_RING);
	if (mp_pool == NULL || mp_ring == NULL)
		return mp_fail(why, whylen, "secondary: lookup");
	return 0;
}

unsigned bench_dpdk_mp_alloc(void **v, unsigned n)
{
	return rte_mempool_get_bulk(mp_pool, v, n) == 0 ? n : 0;
}

void bench_dpdk_mp_free(void *const *v, unsigned n)
{
	rte_mempool_put_bulk(mp_pool, v, n);
}

unsigned bench_dpdk_mp_enq(void *const *v, unsigned n)
{
	return rte_ring_enqueue_burst(mp_ring, v, n, NULL);
}

unsigned bench_dpdk_mp_deq(void **v, unsigned n)
{
	return rte_ring_dequeue_burst(mp_ring, v, n, NULL);
}

void bench_dpdk_mp_stop(void)
{
	rte_eal_cleanup();
}
#else
size_t bench_dpdk_ring_memsize(unsigned nslots)
{
	(void)nslots;
	return 0;
}

void *bench_dpdk_ring_init(void *mem, unsigned nslots, int mpmc)
{
	(void)mem, (void)nslots, (void)mpmc;
	return NULL;
}

unsigned bench_dpdk_ring_enq(void *r, const void *ents, unsigned n)
{
	(void)r, (void)ents, (void)n;
	return 0;
}

unsigned bench_dpdk_ring_deq(void *r, void *ents, unsigned n)
{
	(void)r, (void)ents, (void)n;
	return 0;
}

int bench_dpdk_mp_start(int primary, const char *prefix, const char *hugedir,
			int cpu, unsigned nobj, unsigned slots, char *why,
			size_t whylen)
{
	(void)primary, (void)prefix, (void)hugedir, (void)cpu, (void)nobj;
	(void)slots;
	snprintf(why, whylen, "not built: libdpdk was not found by pkg-config "
		 "when the bench was configured");
	return -1;
}

unsigned bench_dpdk_mp_alloc(void **v, unsigned n)
{
	(void)v, (void)n;
	return 0;
}

void bench_dpdk_mp_free(void *const *v, unsigned n)
{
	(void)v, (void)n;
}

unsigned bench_dpdk_mp_enq(void *const *v, unsigned n)
{
	(void)v, (void)n;
	return 0;
}

unsigned bench_dpdk_mp_deq(void **v, unsigned n)
{
	(void)v, (void)n;
	return 0;
}

void bench_dpdk_mp_stop(void)
{
}
#endif
