/*
 * S1 and S2B on a private and on a named shared pool, as a user builds
 * them: against the installed headers and libjumbo.so through pkg-config.
 * Not one of jumbo-bench's peers (its jumbo-pool and jumbo-shpool peers
 * link libjumbo.a); the ratio named/private of the two, alternated in one
 * run, is what a program linking the shared library gets.  The build
 * makes it with the jumbo-user peers (user-build.sh), as
 * BUILD/bench/named_pair; by hand:
 *
 *   cmake --install build-bench --prefix /tmp/inst
 *   export PKG_CONFIG_PATH=/tmp/inst/lib/pkgconfig
 *   cc -O2 bench/user/named_pair.c -o named_pair \
 *      $(pkg-config --cflags --libs jumbo) -Wl,-rpath,/tmp/inst/lib
 *   flock /tmp/jumbo-bench.lock taskset -c 1 ./named_pair
 */
#include <jumbo/jumbo.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct jumbo_pool *make(int named)
{
	static char name[64];
	struct jumbo_pool_params pp;
	struct jumbo_pool *p;

	jumbo_pool_params_init(&pp);
	pp.max_pages = 16384;
	if (named) {
		snprintf(name, sizeof(name), "named-pair-%d", (int)getpid());
		pp.name = name;
		pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	}
	if (!(p = jumbo_pool_create(&pp))) {
		perror("jumbo_pool_create");
		exit(1);
	}
	return p;
}

/* S1: alloc, touch, free; ns a pair. */
static double s1(struct jumbo_pool *p, long n)
{
	double t = now();

	for (long i = 0; i < n; i++) {
		void *a = jumbo_pool_alloc(p);
		if (!a)
			abort();
		*(volatile char *)a = 1;
		if (jumbo_pool_free(p, a))
			abort();
	}
	return (now() - t) / (double)n * 1e9;
}

/* S2B: 512 by the batch calls, each touched; ns a page. */
static double s2b(struct jumbo_pool *p, long rounds)
{
	static void *v[512];
	double t = now();

	for (long k = 0; k < rounds; k++) {
		if (jumbo_pool_alloc_bulk(p, v, 512) != 512)
			abort();
		for (int i = 0; i < 512; i++)
			*(volatile char *)v[i] = 1;
		if (jumbo_pool_free_bulk(p, v, 512))
			abort();
	}
	return (now() - t) / (double)rounds / 512 * 1e9;
}

int main(void)
{
	struct jumbo_pool *priv = make(0), *named = make(1);

	/* Warm: both pools grown, both caches made. */
	s1(priv, 1000000);
	s1(named, 1000000);
	s2b(priv, 1000);
	s2b(named, 1000);
	for (int r = 0; r < 3; r++) {
		double a = s1(priv, 20000000), b = s1(named, 20000000);
		double c = s2b(priv, 20000), d = s2b(named, 20000);
		printf("round %d: S1 private %.2f named %.2f ns/pair (%.2fx); "
		       "S2B private %.2f named %.2f ns/page (%.2fx)\n",
		       r, a, b, b / a, c, d, d / c);
	}
	jumbo_pool_destroy(named);
	jumbo_pool_destroy(priv);
	return 0;
}
