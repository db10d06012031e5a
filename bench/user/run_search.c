/*
 * How fast a pool finds contiguous runs again (jumbo_pool_alloc_contig)
 * after they were freed whole, page by page in order, or page by page in
 * a shuffled order, on a private pool and on a named shared one, as a
 * user builds it: the installed header and libjumbo.so through
 * pkg-config.  The build makes it with the jumbo-user peers
 * (user-build.sh), as BUILD/bench/run_search; by hand:
 *
 *   cmake --install build-bench --prefix /tmp/inst
 *   export PKG_CONFIG_PATH=/tmp/inst/lib/pkgconfig
 *   cc -O2 bench/user/run_search.c -o run_search \
 *      $(pkg-config --cflags --libs jumbo) -Wl,-rpath,/tmp/inst/lib
 *   flock /tmp/jumbo-bench.lock taskset -c 1 ./run_search [seed [steps]]
 *
 * OUT runs of RUN pages stay allocated; each step frees a random one and
 * allocates a run in its place.  "shuffled" frees the pages of 8 runs at a
 * time in a random order, as workers finishing a receiver's frames out of
 * order do: the runs are then found in the state words, not in the queue
 * of free pages (jumbo_pool(3), alloc_contig).  Printed: ns per free and
 * allocation of a run, failed allocations (0 expected: the pool has room)
 * and the pages the pool committed, for each pool, and named/private.
 */
#include <jumbo/jumbo.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define OUT 1000u   /* runs outstanding */
#define RUN 3u      /* pages a run: a 9000-byte frame */
#define GROUP 8u    /* runs freed together, shuffled */

static uint64_t rng;
static unsigned steps = 200000; /* the second argument */

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static struct jumbo_pool *make(int named)
{
	static char name[64];
	struct jumbo_pool_params pp;
	struct jumbo_pool *p;

	jumbo_pool_params_init(&pp);
	pp.max_pages = 65536;
	pp.cache_size = 64;
	if (named) {
		snprintf(name, sizeof(name), "run-search-%d", (int)getpid());
		pp.name = name;
		pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	}
	if (!(p = jumbo_pool_create(&pp))) {
		perror("jumbo_pool_create");
		exit(1);
	}
	if (named)
		jumbo_pool_unlink(name);
	return p;
}

enum mode { WHOLE, IN_ORDER, SHUFFLED };
static const char *const mode_name[] = { "whole", "in order", "shuffled" };

struct result {
	double ns;
	unsigned fails;
	unsigned long long committed;
};

static void free_pages(struct jumbo_pool *p, char *run)
{
	for (unsigned k = 0; k < RUN; k++)
		if (jumbo_pool_free(p, run + (size_t)k * 4096))
			abort();
}

static struct result measure(int named, enum mode m, uint64_t seed)
{
	struct jumbo_pool *p = make(named);
	static char *run[OUT];
	char *group[GROUP * RUN];
	unsigned ng = 0;
	struct result r = { 0, 0, 0 };
	struct jumbo_stats st;

	rng = seed;
	for (unsigned i = 0; i < OUT; i++)
		if (!(run[i] = jumbo_pool_alloc_contig(p, RUN)))
			abort();
	double t = now();
	for (unsigned s = 0; s < steps; s++) {
		unsigned i = (unsigned)(next() % OUT);
		if (run[i]) {
			if (m == WHOLE) {
				if (jumbo_pool_free_contig(p, run[i], RUN))
					abort();
			} else if (m == IN_ORDER) {
				free_pages(p, run[i]);
			} else {
				for (unsigned k = 0; k < RUN; k++)
					group[ng++] = run[i] + (size_t)k * 4096;
				if (ng == GROUP * RUN) {
					for (unsigned a = ng - 1; a > 0; a--) {
						unsigned b = (unsigned)(next() % (a + 1));
						char *x = group[a];
						group[a] = group[b];
						group[b] = x;
					}
					for (unsigned a = 0; a < ng; a++)
						if (jumbo_pool_free(p, group[a]))
							abort();
					ng = 0;
				}
			}
		}
		run[i] = jumbo_pool_alloc_contig(p, RUN);
		r.fails += !run[i];
	}
	r.ns = (now() - t) / steps;
	jumbo_pool_stats(p, &st);
	r.committed = (unsigned long long)st.committed;
	/* Nothing left in use, so that destroy has nothing to say. */
	for (unsigned a = 0; a < ng; a++)
		jumbo_pool_free(p, group[a]);
	for (unsigned i = 0; i < OUT; i++)
		if (run[i])
			jumbo_pool_free_contig(p, run[i], RUN);
	jumbo_pool_destroy(p);
	return r;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0)
				 : (uint64_t)time(NULL) | 1;

	if (argc > 2)
		steps = (unsigned)strtoul(argv[2], NULL, 0);

	printf("run_search: seed %llu, %u runs of %u pages outstanding, "
	       "%u steps\n", (unsigned long long)seed, OUT, RUN, steps);
	for (int round = 0; round < 2; round++)
		for (enum mode m = WHOLE; m <= SHUFFLED; m++) {
			struct result a = measure(0, m, seed + round);
			struct result b = measure(1, m, seed + round);
			printf("%-9s private %6.0f ns (%u failed, %llu pages)  "
			       "named %6.0f ns (%u failed, %llu pages)  "
			       "named/private %.2f\n",
			       mode_name[m], a.ns, a.fails, a.committed, b.ns,
			       b.fails, b.committed, b.ns / a.ns);
		}
	return 0;
}
