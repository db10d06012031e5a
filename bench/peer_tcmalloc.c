/*
 * tcmalloc (gperftools, the minimal library without the profiler):
 * tc_memalign(4096, 4096) and tc_free, from the library opened beside
 * glibc's malloc (dl.c).  The release step is
 * MallocExtension_ReleaseFreeMemory(), which returns free spans to the
 * system (thread caches keep theirs).
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "bench.h"
#include "dl.h"

#ifndef BENCH_TCMALLOC_SO
#define BENCH_TCMALLOC_SO ""
#endif

static void *(*tc_memalign_fn)(size_t align, size_t size);
static void (*tc_free_fn)(void *p);
static void (*tc_release_fn)(void);

static int tc_start(size_t capacity, char *why, size_t whylen)
{
	void *h = bench_dlopen(BENCH_TCMALLOC_SO, why, whylen);

	if (h == NULL ||
	    bench_dlsym(h, "tc_memalign", (void **)&tc_memalign_fn, why,
			whylen) ||
	    bench_dlsym(h, "tc_free", (void **)&tc_free_fn, why, whylen) ||
	    bench_dlsym(h, "MallocExtension_ReleaseFreeMemory",
			(void **)&tc_release_fn, why, whylen))
		return -1;
	return 0;
}

#define WL_FN(x) tc_##x
#define WL_ALLOC() tc_memalign_fn(BENCH_PAGE, BENCH_PAGE)
#define WL_FREE(p) tc_free_fn(p)
#define WL_UNINSTRUMENTED 1
#define WL_GROW_BEGIN(n) 0 /* no pool to make: it maps memory as it goes */
#define WL_GROW_END() ((void)0)
#define WL_RELEASE() tc_release_fn()
#define WL_META(n) (-1.0)
#include "workloads.h"

const struct peer peer_tcmalloc = {
	.name = "tcmalloc",
	.what = "gperftools tcmalloc_minimal tc_memalign(4096, 4096)",
	.start = tc_start,
	.s1 = tc_s1,
	.s2 = tc_s2,
	.s3_produce = tc_s3_produce,
	.s3_consume = tc_s3_consume,
	.s4 = tc_s4,
	.grow = tc_grow,
};
