/*
 * jemalloc 5: mallocx(4096, MALLOCX_ALIGN(4096)) and dallocx, its own
 * non-standard API, reached through je_shim.c so that jemalloc does not
 * replace the process's malloc.  The release step purges every arena
 * ("arena.<MALLCTL_ARENAS_ALL>.purge") after flushing the thread cache.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "bench.h"

#ifdef BENCH_HAVE_JEMALLOC
void *jb_je_mallocx(size_t size, int flags);
void jb_je_dallocx(void *ptr, int flags);
int jb_je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		  size_t newlen);

#define JE_ALIGN_4K 12 /* MALLOCX_LG_ALIGN(12): log2 of the alignment */

static int je_start(size_t capacity, char *why, size_t whylen)
{
	void *p = jb_je_mallocx(BENCH_PAGE, JE_ALIGN_4K);

	if (p == NULL) {
		snprintf(why, whylen, "mallocx returned NULL");
		return -1;
	}
	jb_je_dallocx(p, 0);
	return 0;
}

/* 4096 is MALLCTL_ARENAS_ALL.  Reported if it fails: RSS would then show
 * memory that jemalloc was never asked to give back. */
static void je_release(void)
{
	static const char *const ctl[] = { "thread.tcache.flush",
					   "arena.4096.purge" };

	for (unsigned k = 0; k < 2; k++) {
		int err = jb_je_mallctl(ctl[k], NULL, NULL, NULL, 0);

		if (err)
			fprintf(stderr, "jemalloc: mallctl %s: %s\n", ctl[k],
				strerror(err));
	}
}

#define WL_FN(x) je_##x
#define WL_ALLOC() jb_je_mallocx(BENCH_PAGE, JE_ALIGN_4K)
#define WL_FREE(p) jb_je_dallocx(p, 0)
#define WL_UNINSTRUMENTED 1
#define WL_GROW_BEGIN(n) 0 /* no pool to make: it maps memory as it goes */
#define WL_GROW_END() ((void)0)
#define WL_RELEASE() je_release()
#define WL_META(n) (-1.0)
#include "workloads.h"

const struct peer peer_jemalloc = {
	.name = "jemalloc",
	.what = "jemalloc mallocx(4096, MALLOCX_LG_ALIGN(12)), private copy",
	.start = je_start,
	.s1 = je_s1,
	.s2 = je_s2,
	.s3_produce = je_s3_produce,
	.s3_consume = je_s3_consume,
	.s4 = je_s4,
	.grow = je_grow,
};
#else
static int je_start(size_t capacity, char *why, size_t whylen)
{
	snprintf(why, whylen, "not built: libjemalloc_pic.a was not found "
		 "when the bench was configured (scripts/install-deps.sh "
		 "bench)");
	return -1;
}

const struct peer peer_jemalloc = {
	.name = "jemalloc",
	.what = "jemalloc (not built)",
	.start = je_start,
};
#endif
