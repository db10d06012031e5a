/*
 * glibc's malloc: aligned_alloc(4096, 4096) per page, as a program without
 * a pool would get page-aligned buffers.  (In a sanitized build this is the
 * sanitizer's allocator, which replaces malloc; the table says so.)  The
 * release step is malloc_trim(0), glibc's only way to give freed memory
 * back.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>

#include "bench.h"

static int glibc_start(size_t capacity, char *why, size_t whylen)
{
	return 0;
}

#define WL_FN(x) glibc_##x
#define WL_ALLOC() aligned_alloc(BENCH_PAGE, BENCH_PAGE)
#define WL_FREE(p) free(p)
#define WL_GROW_BEGIN(n) 0 /* no pool to make: it maps memory as it goes */
#define WL_GROW_END() ((void)0)
#define WL_RELEASE() ((void)malloc_trim(0))
#define WL_META(n) (-1.0)
#include "workloads.h"

const struct peer peer_glibc = {
	.name = "glibc",
#if BENCH_SANITIZED
	.what = "aligned_alloc(4096) -- the SANITIZER's malloc in this build",
#else
	.what = "glibc aligned_alloc(4096, 4096)",
#endif
	.start = glibc_start,
	.s1 = glibc_s1,
	.s2 = glibc_s2,
	.s3_produce = glibc_s3_produce,
	.s3_consume = glibc_s3_consume,
	.s4 = glibc_s4,
	.grow = glibc_grow,
};
