/*
 * DPDK's rte_mbuf for jumbo-bench-mbuf, in a file of its own because the
 * DPDK headers force -march and a config header on what includes them.
 * Without libdpdk the start fails with the reason.
 */
#ifndef BENCH_MBUF_DPDK_H
#define BENCH_MBUF_DPDK_H

#include <stddef.h>

/* The EAL and a pktmbuf pool: 0, or -1 with why. */
int bench_dpdk_mbuf_start(char *why, size_t whylen);
void bench_dpdk_mbuf_stop(void);
/*
 * ns per alloc+free pair over n pairs: burst 1, rte_pktmbuf_alloc and
 * rte_pktmbuf_free; burst k > 1, k of them then k frees; burst 0, the
 * same pool's rte_mempool_get and rte_mempool_put (its cache alone).
 */
double bench_dpdk_mbuf_pairs(long n, int burst);

#endif
