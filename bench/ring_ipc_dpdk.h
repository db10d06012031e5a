/* DPDK's rte_ring behind plain C calls, for jumbo-bench-ring. */
#ifndef BENCH_RING_IPC_DPDK_H
#define BENCH_RING_IPC_DPDK_H

#include <stddef.h>

/* 0 when DPDK is not built in: the bench then prints our figures only. */
size_t bench_dpdk_ring_memsize(unsigned nslots);
void *bench_dpdk_ring_init(void *mem, unsigned nslots, int mpmc);
unsigned bench_dpdk_ring_enq(void *r, const void *ents, unsigned n);
unsigned bench_dpdk_ring_deq(void *r, void *ents, unsigned n);

/*
 * Cross-process S3: rte_eal_init as primary (creates the mempool and the
 * ring) or secondary (looks them up), on lcore `cpu`; 0 or -1 with why.
 * Once per process, in a child of jumbo-bench-ring's.  The primary must
 * have returned before a secondary starts.
 */
int bench_dpdk_mp_start(int primary, const char *prefix, const char *hugedir,
			int cpu, unsigned nobj, unsigned slots, char *why,
			size_t whylen);
unsigned bench_dpdk_mp_alloc(void **v, unsigned n); /* n or 0 */
void bench_dpdk_mp_free(void *const *v, unsigned n);
unsigned bench_dpdk_mp_enq(void *const *v, unsigned n);
unsigned bench_dpdk_mp_deq(void **v, unsigned n);
/*
 * -O: a named pool's per-page owner words kept beside DPDK's pool
 * (ring_ipc_dpdk.c); each returns the number of objects whose word was
 * not what it should be.  The take marks objects got; the adopt makes
 * the dequeued ones the caller's (by compare-and-swap, or by a load and a
 * store); the free checks and clears (the caller's own if adopted, any
 * owner's if not).
 */
unsigned bench_dpdk_mp_own_take(void *const *v, unsigned n);
unsigned bench_dpdk_mp_own_adopt(void *const *v, unsigned n, int cas);
unsigned bench_dpdk_mp_own_free(void *const *v, unsigned n, int adopted);
void bench_dpdk_mp_stop(void);

#endif
