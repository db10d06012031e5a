/* DPDK's rte_ring behind plain C calls, for jumbo-bench-ring. */
#ifndef BENCH_RING_IPC_DPDK_H
#define BENCH_RING_IPC_DPDK_H

#include <stddef.h>

/* 0 when DPDK is not built in: the bench then prints our figures only. */
size_t bench_dpdk_ring_memsize(unsigned nslots);
void *bench_dpdk_ring_init(void *mem, unsigned nslots, int mpmc);
unsigned bench_dpdk_ring_enq(void *r, const void *ents, unsigned n);
unsigned bench_dpdk_ring_deq(void *r, void *ents, unsigned n);

#endif
