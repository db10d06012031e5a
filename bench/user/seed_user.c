/*
 * The seed's path as a program builds it: this file is compiled outside
 * the project's build, against the INSTALLED <jumbo/jumbo.h>, with the
 * flags "pkg-config --cflags --libs jumbo" gives (user-build.sh), and
 * linked either with libjumbo.so (what -ljumbo picks) or with libjumbo.a.
 * It makes exactly the manual page's three calls:
 *
 *	pg = jumbo_pg_alloc();
 *	kva = jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg));
 *	...
 *	jumbo_pg_free((vm_offset_t)kva);
 *
 * jumbo-bench opens the result (peer_user.c) and runs the same workloads
 * on it as on every other peer; the harness's helpers the template calls
 * (sys.c) are compiled in beside it, hidden.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jumbo/jumbo.h>

#include "bench.h"

static int user_start(size_t capacity, char *why, size_t whylen)
{
	(void)capacity;
	if (jumbo_vm_init() != 1) {
		snprintf(why, whylen, "jumbo_vm_init() returned 0 (%s)",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static inline void *user_alloc(void)
{
	vm_page_t pg = jumbo_pg_alloc();

	return pg ? jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg)) : NULL;
}

#define WL_FN(x) user_##x
#define WL_ALLOC() user_alloc()
#define WL_FREE(p) jumbo_pg_free((vm_offset_t)(p))
#include "workloads.h"

__attribute__((visibility("default"))) const struct peer jb_user_peer = {
	.start = user_start,
	.s1 = user_s1,
	.s2 = user_s2,
	.s3_produce = user_s3_produce,
	.s3_consume = user_s3_consume,
	.s4 = user_s4,
};
