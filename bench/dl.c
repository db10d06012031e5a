/*
 * Loading a malloc replacement beside glibc's malloc.  jemalloc, mimalloc
 * and tcmalloc each define malloc and free; linked into one program, the
 * first of them on the link line would become every library's malloc
 * (glibc's peer, DPDK, the harness) and the others would be reachable only
 * through their prefixed entry points, sharing state with the winner.  So
 * mimalloc and tcmalloc are opened here with RTLD_LOCAL, which keeps their
 * malloc out of the global scope, and RTLD_DEEPBIND, which makes their own
 * calls to malloc resolve inside themselves.  The sanitizers refuse
 * RTLD_DEEPBIND (their malloc must stay first), so sanitized builds open
 * without it: the library's internal malloc calls then reach the
 * sanitizer, which is harmless for what is measured (the prefixed calls).
 * jemalloc cannot be opened this way at all (its TLS is initial-exec:
 * "cannot allocate memory in static TLS block"); see je_shim.c.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

#include "bench.h"
#include "dl.h"

void *bench_dlopen(const char *path, char *why, size_t whylen)
{
	int flags = RTLD_NOW | RTLD_LOCAL;
	void *h;

#if !BENCH_SANITIZED
	flags |= RTLD_DEEPBIND;
#endif
	if (path == NULL || path[0] == '\0') {
		snprintf(why, whylen, "library not found when the bench was "
			 "configured (scripts/install-deps.sh bench)");
		return NULL;
	}
	h = dlopen(path, flags);
	if (h == NULL)
		snprintf(why, whylen, "dlopen: %s", dlerror());
	return h;
}

int bench_dlsym(void *h, const char *name, void **fn, char *why,
		size_t whylen)
{
	*fn = dlsym(h, name);
	if (*fn == NULL) {
		snprintf(why, whylen, "dlsym %s: %s", name, dlerror());
		return -1;
	}
	return 0;
}

#ifdef __SANITIZE_ADDRESS__
/*
 * Opened without RTLD_DEEPBIND under the sanitizer, tcmalloc registers its
 * MallocExtension singleton with the sanitizer's operator new and never
 * frees it, by design; that one object is not ours to fix.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:MallocExtension::Register\n";
}
#endif

#ifdef __SANITIZE_THREAD__
/*
 * The malloc replacements are not instrumented, but their calls to memset
 * and memcpy reach the sanitizer's interceptors, which then see a thread
 * reuse memory that another thread's heap gave up through the library's
 * own (invisible) synchronisation: mimalloc claiming an abandoned segment,
 * for one.  Ignore what those libraries do inside themselves; the pages
 * they hand to the workloads are covered by BENCH_HB_* (bench.h).
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "called_from_lib:libmimalloc.so\n"
	       "called_from_lib:libtcmalloc_minimal.so\n"
	       "called_from_lib:libjb_jemalloc.so\n";
}
#endif
