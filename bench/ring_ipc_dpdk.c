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

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
#define MP_OWN "jb-s3-own"
#define MP_CACHE 512
#define MP_STRIDE 8192u

static struct rte_mempool *mp_pool;
static struct rte_ring *mp_ring;

/*
 * -O: the bookkeeping a named pool keeps for its pages (jumbo_pool(3),
 * Processes), added to DPDK's S3 to measure what it costs there.  One
 * 4-byte word per object in shared memory: 0 free, 0x100|me allocated by
 * process me (1 the primary, 2 the secondary).  The producer checks and
 * marks each object it gets (a load and a store, as a named pool's cache
 * does); the consumer, unless the mode skips it, takes each object it
 * dequeues from the producer (as a bound ring's dequeue adopts), then
 * frees it by compare-and-swap (the check that catches a double free).
 * The words are prefetched a batch at a time, and four objects of
 * consecutive numbers whose words share an aligned 16-byte block change
 * in one compare-and-swap, as libjumbo does for its pages.
 */
static uint32_t *mp_own;
static char *mp_base;
static uint32_t mp_me;

static uint32_t *own_word(void *obj)
{
	return mp_own + ((char *)obj - mp_base) / MP_STRIDE;
}

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
	mp_base = (char *)mz->addr + 4096;
	mz = rte_memzone_reserve_aligned(MP_OWN, (size_t)nobj * 4,
					 SOCKET_ID_ANY, 0, 64);
	if (mz == NULL)
		return mp_fail(why, whylen, "rte_memzone_reserve_aligned");
	mp_own = mz->addr;
	memset(mp_own, 0, (size_t)nobj * 4);
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
	const struct rte_memzone *mem, *own;
	char type[32], pfx[96], dir[96], lcore[16];
	char *argv[] = { "jumbo-bench-ring", type, pfx, dir, "-l", lcore,
			 "--no-pci", "--no-telemetry", "--log-level=error",
			 NULL };

	snprintf(type, sizeof(type), "--proc-type=%s",
		 primary ? "primary" : "secondary");
	snprintf(pfx, sizeof(pfx), "--file-prefix=%s", prefix);
	snprintf(dir, sizeof(dir), "--huge-dir=%s", hugedir);
	snprintf(lcore, sizeof(lcore), "%d", cpu);
	mp_me = primary ? 1 : 2;
	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0)
		return mp_fail(why, whylen, primary ? "rte_eal_init (primary)"
						    : "rte_eal_init (secondary)");
	if (primary)
		return mp_create(nobj, slots, why, whylen);
	mp_pool = rte_mempool_lookup(MP_POOL);
	mp_ring = rte_ring_lookup(MP_RING);
	mem = rte_memzone_lookup(MP_MEM);
	own = rte_memzone_lookup(MP_OWN);
	if (mp_pool == NULL || mp_ring == NULL || mem == NULL || own == NULL)
		return mp_fail(why, whylen, "secondary: lookup");
	mp_base = (char *)mem->addr + 4096;
	mp_own = own->addr;
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

unsigned bench_dpdk_mp_own_take(void *const *v, unsigned n)
{
	unsigned bad = 0;

	for (unsigned j = 0; j < n; j++)
		__builtin_prefetch(own_word(v[j]), 1);
	for (unsigned j = 0; j < n; j++) {
		uint32_t *w = own_word(v[j]);

		/* Relaxed: a free object's word has no writer but its
		 * taker; the mempool ordered its free before this get. */
		bad += __atomic_load_n(w, __ATOMIC_RELAXED) != 0;
		__atomic_store_n(w, 0x100 | mp_me, __ATOMIC_RELAXED);
	}
	return bad;
}

/*
 * Objects v[j..j+4) of consecutive numbers, up or down, whose words are
 * one aligned 16-byte block: all four words from `from` to `to` in one
 * compare-and-swap, as libjumbo's adoption and batch free take runs of
 * four pages.  1 done, 0 not a run (nothing changed), -1 a run whose
 * words were not all `from`.
 */
static int own_quad(void *const *v, unsigned j, unsigned n, uint32_t from,
		    uint32_t to)
{
	if (n - j < 4)
		return 0;
	size_t i0 = (size_t)((char *)v[j] - mp_base) / MP_STRIDE;
	ptrdiff_t d = ((char *)v[j + 1] - (char *)v[j]) / (ptrdiff_t)MP_STRIDE;
	if ((d != 1 && d != -1) ||
	    (char *)v[j + 2] != (char *)v[j] + 2 * d * (ptrdiff_t)MP_STRIDE ||
	    (char *)v[j + 3] != (char *)v[j] + 3 * d * (ptrdiff_t)MP_STRIDE)
		return 0;
	size_t lo = d == 1 ? i0 : i0 - 3;
	if (lo % 4)
		return 0;
	unsigned __int128 o = 0, nw = 0;
	for (unsigned q = 0; q < 4; q++) {
		o |= (unsigned __int128)from << (32 * q);
		nw |= (unsigned __int128)to << (32 * q);
	}
	return __sync_bool_compare_and_swap(
		       (unsigned __int128 *)(void *)(mp_own + lo), o, nw) ? 1 : -1;
}

unsigned bench_dpdk_mp_own_adopt(void *const *v, unsigned n, int cas)
{
	uint32_t from = 0x100 | (3 - mp_me), to = 0x100 | mp_me;
	unsigned bad = 0;

	for (unsigned j = 0; j < n; j++)
		__builtin_prefetch(own_word(v[j]), 1);
	for (unsigned j = 0; j < n; j++) {
		uint32_t *w = own_word(v[j]), was = from;
		int q = cas ? own_quad(v, j, n, from, to) : 0;

		if (q) {
			bad += q < 0;
			j += 3;
			continue;
		}

		/* Relaxed: the ring ordered the producer's mark before
		 * the dequeue; the object itself is not read here. */
		if (cas) {
			bad += !__atomic_compare_exchange_n(w, &was, to, false,
							    __ATOMIC_RELAXED,
							    __ATOMIC_RELAXED);
		} else {
			bad += __atomic_load_n(w, __ATOMIC_RELAXED) != from;
			__atomic_store_n(w, to, __ATOMIC_RELAXED);
		}
	}
	return bad;
}

unsigned bench_dpdk_mp_own_free(void *const *v, unsigned n, int adopted)
{
	unsigned bad = 0;

	for (unsigned j = 0; j < n; j++) {
		uint32_t *w = own_word(v[j]);
		/* Not adopted, the run is still the producer's. */
		int q = own_quad(v, j, n, 0x100 | (adopted ? mp_me : 3 - mp_me),
				 0);

		if (q) {
			bad += q < 0;
			j += 3;
			continue;
		}
		uint32_t was = adopted ? 0x100 | mp_me
				       : __atomic_load_n(w, __ATOMIC_RELAXED);

		/* Release: the consumer's read of the object before its
		 * word says free. */
		bad += was == 0 ||
		       !__atomic_compare_exchange_n(w, &was, 0, false,
						    __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED);
	}
	return bad;
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

unsigned bench_dpdk_mp_own_take(void *const *v, unsigned n)
{
	(void)v, (void)n;
	return 0;
}

unsigned bench_dpdk_mp_own_adopt(void *const *v, unsigned n, int cas)
{
	(void)v, (void)n, (void)cas;
	return 0;
}

unsigned bench_dpdk_mp_own_free(void *const *v, unsigned n, int adopted)
{
	(void)v, (void)n, (void)adopted;
	return 0;
}

void bench_dpdk_mp_stop(void)
{
}
#endif
