/*
 * DPDK's mbufs for jumbo-bench-mbuf: a pktmbuf pool as an application
 * makes one (rte_pktmbuf_pool_create, per-lcore cache 256), on the EAL
 * started as bench/peer_dpdk.c starts it (no hugepages, no PCI, no
 * shared config), so that it needs no set-up.  The calling thread is the
 * EAL's main lcore, so its cache is used.  Data room 128 bytes: with its
 * 128-byte header, a DPDK mbuf is the size of ours (MSIZE 256).
 */
#include "mbuf_dpdk.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#ifdef BENCH_HAVE_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

static struct rte_mempool *mp;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_dpdk_mbuf_start(char *why, size_t whylen)
{
	char *argv[] = { "jumbo-bench-mbuf", "--no-huge", "--no-pci", "-l", "0",
			 "--no-shconf", "--no-telemetry", "-m", "128",
			 "--log-level=error", NULL };
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;

	if (rte_eal_init(argc, argv) < 0) {
		snprintf(why, whylen, "rte_eal_init: %s", rte_strerror(rte_errno));
		return -1;
	}
	mp = rte_pktmbuf_pool_create("bench_mbuf", 8191, 256, 0, 128,
				     SOCKET_ID_ANY);
	if (!mp) {
		snprintf(why, whylen, "rte_pktmbuf_pool_create: %s",
			 rte_strerror(rte_errno));
		rte_eal_cleanup();
		return -1;
	}
	return 0;
}

void bench_dpdk_mbuf_stop(void)
{
	if (!mp)
		return;
	rte_mempool_free(mp);
	mp = NULL;
	rte_eal_cleanup();
}

static __attribute__((noinline)) double pairs_1(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		ESCAPE(m);
		rte_pktmbuf_free(m);
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double pairs_mempool(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		void *o;
		if (rte_mempool_get(mp, &o) != 0)
			return -1;
		ESCAPE(o);
		rte_mempool_put(mp, o);
	}
	return (double)(now_ns() - t0) / n;
}

static __attribute__((noinline)) double pairs_burst(long n, int k)
{
	struct rte_mbuf *v[64];
	long rounds = n / k;
	uint64_t t0 = now_ns();

	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < k; i++)
			v[i] = rte_pktmbuf_alloc(mp);
		ESCAPE(v);
		for (int i = 0; i < k; i++)
			rte_pktmbuf_free(v[i]);
	}
	return (double)(now_ns() - t0) / (rounds * k);
}

double bench_dpdk_mbuf_pairs(long n, int burst)
{
	if (burst == 0)
		return pairs_mempool(n);
	if (burst == 1)
		return pairs_1(n);
	return pairs_burst(n, burst > 64 ? 64 : burst);
}
#else
int bench_dpdk_mbuf_start(char *why, size_t whylen)
{
	snprintf(why, whylen, "not built: libdpdk was not found by pkg-config "
		 "when the bench was configured");
	return -1;
}

void bench_dpdk_mbuf_stop(void)
{
}

double bench_dpdk_mbuf_pairs(long n, int burst)
{
	(void)n, (void)burst;
	return -1;
}
#endif
