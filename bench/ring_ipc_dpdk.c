/*
 * DPDK's rte_ring for jumbo-bench-ring, in a file of its own because the
 * DPDK headers force -march and a config header on what includes them.
 * The ring is made with rte_ring_init() in memory the caller maps shared
 * before fork(), with 16-byte elements like jumbo_ring's entries; the
 * enqueue and dequeue are DPDK's inline burst calls, which need no EAL.
 * Forked processes map the memory at the same address, which is what
 * rte_ring (and DPDK's secondaries) require; jumbo_ring does not.
 */
#include "ring_ipc_dpdk.h"

#ifdef BENCH_HAVE_DPDK
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
#endif
