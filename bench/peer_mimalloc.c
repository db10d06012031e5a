/*
 * mimalloc: mi_malloc_aligned(4096, 4096) and mi_free, from the library
 * opened beside glibc's malloc (dl.c).  The release step is
 * mi_collect(true), which frees what the calling thread's heap holds and
 * gives empty segments back to the system.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>

#include "bench.h"
#include "dl.h"

#ifndef BENCH_MIMALLOC_SO
#define BENCH_MIMALLOC_SO ""
#endif

static void *(*mi_aligned_fn)(size_t size, size_t align);
static void (*mi_free_fn)(void *p);
static void (*mi_collect_fn)(bool force);

static int mi_start(size_t capacity, char *why, size_t whylen)
{
	void *h = bench_dlopen(BENCH_MIMALLOC_SO, why, whylen);

	if (h == NULL ||
	    bench_dlsym(h, "mi_malloc_aligned", (void **)&mi_aligned_fn, why,
			whylen) ||
	    bench_dlsym(h, "mi_free", (void **)&mi_free_fn, why, whylen) ||
	    bench_dlsym(h, "mi_collect", (void **)&mi_collect_fn, why,
			whylen))
		return -1;
	return 0;
}

#define WL_FN(x) mi_##x
#define WL_ALLOC() mi_aligned_fn(BENCH_PAGE, BENCH_PAGE)
#define WL_FREE(p) mi_free_fn(p)
#define WL_UNINSTRUMENTED 1
#define WL_GROW_BEGIN(n) 0 /* no pool to make: it maps memory as it goes */
#define WL_GROW_END() ((void)0)
#define WL_RELEASE() mi_collect_fn(true)
#define WL_META(n) (-1.0)
#include "workloads.h"

const struct peer peer_mimalloc = {
	.name = "mimalloc",
	.what = "mimalloc mi_malloc_aligned(4096, 4096)",
	.start = mi_start,
	.s1 = mi_s1,
	.s2 = mi_s2,
	.s3_produce = mi_s3_produce,
	.s3_consume = mi_s3_consume,
	.s4 = mi_s4,
	.grow = mi_grow,
};
