/*
 * jumbo-bench-ring: entries per second through a jumbo_ring between
 * processes: one producer and one consumer (SPSC), then two of each
 * (MPMC), in batches of B entries, N entries per producer.  Each side is a
 * process of its own (fork), as receivers and workers are; the consumers
 * add up what they get and the sum is checked, so a fast wrong ring shows.
 * Beside each jumbo_ring case, DPDK's rte_ring with 16-byte elements in
 * the same run (when built with libdpdk), in shared memory mapped before
 * fork.  Figures only: nothing here passes or fails on a time.
 *
 * Last, cross-process S3 (issue 12): a producer process allocates pages
 * from a named shared pool, writes a word in each and passes them by I/O
 * address through the ring; a consumer process reads the word and frees
 * them (pages per second; DPDK's rte_mempool across processes is not run
 * here: it needs its EAL as primary and secondary on hugepages).
 *
 * Usage: jumbo-bench-ring [-n entries] [-b batch] [-s slots]
 */
#include <jumbo/ring.h>
#include "ring_ipc_dpdk.h"

#include <stdbool.h>
#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One process's side; p producers and c consumers in all. */
/* The ring under test: ours (a handle of the process's own) or DPDK's. */
struct ring_ops {
	struct jumbo_ring *j;
	void *d;
};

static unsigned enq(struct ring_ops *o, struct jumbo_ring_ent *b, unsigned n)
{
	return o->j ? jumbo_ring_enqueue(o->j, b, n)
		    : bench_dpdk_ring_enq(o->d, b, n);
}

static unsigned deq(struct ring_ops *o, struct jumbo_ring_ent *b, unsigned n)
{
	return o->j ? jumbo_ring_dequeue(o->j, b, n)
		    : bench_dpdk_ring_deq(o->d, b, n);
}

static const char *pool_name; /* the S3 case: pages from this pool */

static void side(int fd, void *dpdk, unsigned id, unsigned p, unsigned long n,
		 unsigned batch, uint64_t *shared)
{
	struct ring_ops o = {.j = dpdk ? NULL : jumbo_ring_open_fd(fd),
			     .d = dpdk};
	struct jumbo_ring_ent *b = calloc(batch, sizeof(*b));
	void **v = calloc(batch, sizeof(*v));
	struct jumbo_pool *pool = pool_name ? jumbo_pool_attach(pool_name, 0)
					    : NULL;
	uint64_t sum = 0;

	if ((!o.j && !o.d) || !b || !v || (pool_name && !pool))
		_exit(2);
	/* shared[0]: processes ready; shared[1]: consumed; shared[2+]: sums */
	__atomic_fetch_add(&shared[0], 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&shared[0], __ATOMIC_ACQUIRE) < 64)
		;
	if (pool && id < p) {
		for (unsigned long i = 0; i < n;) {
			unsigned k = batch < n - i ? batch : (unsigned)(n - i);
			k = jumbo_pool_alloc_bulk(pool, v, k);
			for (unsigned j = 0; j < k; j++) {
				*(uint64_t *)v[j] = i + j; /* one line touched */
				b[j] = (struct jumbo_ring_ent){
					.iova = jumbo_pool_iova(pool, v[j]),
					.len = 4096};
			}
			for (unsigned j = 0; j < k;)
				j += enq(&o, b + j, k - j);
			i += k;
		}
	} else if (pool) {
		while (__atomic_load_n(&shared[1], __ATOMIC_RELAXED) < p * n) {
			unsigned k = deq(&o, b, batch);
			for (unsigned j = 0; j < k; j++) {
				v[j] = jumbo_pool_iova_to_addr(pool, b[j].iova);
				sum += *(uint64_t *)v[j] << 12;
			}
			if (k && jumbo_pool_free_bulk(pool, v, k) != 0)
				_exit(3);
			if (k)
				__atomic_fetch_add(&shared[1], k, __ATOMIC_RELAXED);
		}
		shared[2 + id] = sum;
		/* Detach: this process's cache goes back to the depot. */
		jumbo_pool_destroy(pool);
	} else if (id < p) {
		for (unsigned long i = 0; i < n;) {
			unsigned k = batch < n - i ? batch : (unsigned)(n - i);
			for (unsigned j = 0; j < k; j++)
				b[j] = (struct jumbo_ring_ent){
					.iova = (i + j) << 12, .len = 4096};
			for (unsigned j = 0; j < k;)
				j += enq(&o, b + j, k - j);
			i += k;
		}
	} else {
		while (__atomic_load_n(&shared[1], __ATOMIC_RELAXED) < p * n) {
			unsigned k = deq(&o, b, batch);
			for (unsigned j = 0; j < k; j++)
				sum += b[j].iova;
			if (k)
				__atomic_fetch_add(&shared[1], k, __ATOMIC_RELAXED);
		}
		shared[2 + id] = sum;
	}
	_exit(0);
}

/* One case: dpdk false for jumbo_ring, true for rte_ring. */
static void run(bool dpdk, unsigned flags, unsigned p, unsigned c,
		unsigned long n, unsigned batch, unsigned slots)
{
	struct jumbo_ring *r = NULL;
	uint64_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	size_t dlen = bench_dpdk_ring_memsize(slots);
	void *dmem = NULL, *d = NULL;
	uint64_t sum = 0, want = 0;
	double t0, t1;
	pid_t pid[16];

	if (dpdk) {
		if (!dlen)
			return; /* not built with DPDK */
		dmem = mmap(NULL, dlen, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (dmem != MAP_FAILED)
			d = bench_dpdk_ring_init(dmem, slots,
						 flags == JUMBO_RING_MPMC);
	} else {
		r = jumbo_ring_create(NULL, slots, flags, 0);
	}
	if ((!r && !d) || shared == MAP_FAILED) {
		perror("jumbo-bench-ring");
		exit(1);
	}
	for (unsigned i = 0; i < p + c; i++) {
		pid[i] = fork();
		if (pid[i] == 0)
			side(r ? jumbo_ring_fd(r) : -1, d, i, p, n, batch,
			     shared);
	}
	while (__atomic_load_n(&shared[0], __ATOMIC_RELAXED) < p + c)
		usleep(100);
	t0 = now();
	/* Go: release the spinning sides all at once. */
	__atomic_store_n(&shared[0], 64, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < p + c; i++)
		waitpid(pid[i], NULL, 0);
	t1 = now();
	for (unsigned i = p; i < p + c; i++)
		sum += shared[2 + i];
	for (unsigned long i = 0; i < n; i++)
		want += (uint64_t)i << 12;
	want *= p;
	printf("%-8s %s %u producer(s) %u consumer(s) batch %3u: %8.2f M "
	       "%s/s %s\n", dpdk ? "rte_ring" : pool_name ? "S3 pool" : "jumbo",
	       flags ? "mpmc" : "spsc", p, c, batch, p * n / (t1 - t0) / 1e6,
	       pool_name ? "pages" : "entries", sum == want ? "(sum ok)" : "(SUM WRONG)");
	if (r)
		jumbo_ring_close(r);
	if (dmem)
		munmap(dmem, dlen);
	munmap(shared, 4096);
}

int main(int argc, char **argv)
{
	unsigned long n = 10000000;
	unsigned batch = 32, slots = 1024;
	int o;

	while ((o = getopt(argc, argv, "n:b:s:")) != -1) {
		if (o == 'n')
			n = strtoul(optarg, NULL, 0);
		else if (o == 'b')
			batch = (unsigned)strtoul(optarg, NULL, 0);
		else if (o == 's')
			slots = (unsigned)strtoul(optarg, NULL, 0);
		else {
			fprintf(stderr, "usage: jumbo-bench-ring [-n entries] "
				"[-b batch] [-s slots]\n");
			return 2;
		}
	}
	if (!batch || batch > JUMBO_RING_MAX_BATCH) {
		fprintf(stderr, "jumbo-bench-ring: bad batch\n");
		return 2;
	}
	printf("jumbo-bench-ring: %lu entries per producer, %u slots, "
	       "%ld CPUs\n", n, slots, sysconf(_SC_NPROCESSORS_ONLN));
	/* Each case on both rings back to back, so that a busy machine
	 * disturbs the pair rather than one side of the comparison. */
	for (int d = 0; d < 2; d++)
		run(d, JUMBO_RING_SPSC, 1, 1, n, 1, slots);
	for (int d = 0; d < 2; d++)
		run(d, JUMBO_RING_SPSC, 1, 1, n, batch, slots);
	for (int d = 0; d < 2; d++)
		run(d, JUMBO_RING_MPMC, 1, 1, n, 1, slots);
	for (int d = 0; d < 2; d++)
		run(d, JUMBO_RING_MPMC, 1, 1, n, batch, slots);
	for (int d = 0; d < 2; d++)
		run(d, JUMBO_RING_MPMC, 2, 2, n / 2, batch, slots);

	/* S3 across processes, on a named shared pool. */
	char name[32];
	struct jumbo_pool_params pp;
	snprintf(name, sizeof(name), "bench-ring-%d", (int)getpid());
	jumbo_pool_params_init(&pp);
	pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	pp.max_pages = 65536;
	pp.name = name;
	struct jumbo_pool *pool = jumbo_pool_create(&pp);
	if (!pool) {
		fprintf(stderr, "jumbo-bench-ring: named pool: %s\n",
			strerror(errno));
		return 1;
	}
	pool_name = name;
	run(false, JUMBO_RING_SPSC, 1, 1, n, batch, slots);
	run(false, JUMBO_RING_SPSC, 1, 1, n, 1, slots);
	pool_name = NULL;
	jumbo_pool_destroy(pool);
	return 0;
}
