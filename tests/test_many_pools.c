/*
 * No fixed limit on live pools (issue 11: the registry had 4096 static
 * slots, and pool 4097 failed with EMFILE).  Makes more than that, uses
 * the last one and a reused id, and destroys them all.  Skips if the
 * kernel's mapping limit is too low for that many pools.
 */
#include "check.h"

#include <jumbo/jumbo.h>

#define NPOOLS 4500

int main(void)
{
	static struct jumbo_pool *v[NPOOLS];
	struct jumbo_pool_params pp;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long maps = 0;

	if (f) {
		if (fscanf(f, "%ld", &maps) != 1)
			maps = 0;
		fclose(f);
	}
	if (maps && maps < 8L * NPOOLS)
		skip("vm.max_map_count %ld is too low for %d pools", maps, NPOOLS);
	jumbo_pool_params_init(&pp);
	pp.max_pages = 8;
	pp.init_pages = 1;
	pp.flags = JUMBO_POOL_NOCACHE;
	for (int i = 0; i < NPOOLS; i++) {
		v[i] = jumbo_pool_create(&pp);
		if (!v[i]) {
			fprintf(stderr, "pool %d: %s\n", i + 1, strerror(errno));
			CHECK(v[i]);
			break;
		}
	}
	if (v[NPOOLS - 1]) {
		void *a = jumbo_pool_alloc(v[NPOOLS - 1]);
		CHECK(a);
		CHECK_EQ(jumbo_pool_free(v[NPOOLS - 1], a), 0);
	}
	/* A freed id is taken again. */
	CHECK_EQ(jumbo_pool_destroy(v[10]), 0);
	v[10] = jumbo_pool_create(&pp);
	CHECK(v[10]);
	for (int i = 0; i < NPOOLS; i++)
		if (v[i])
			CHECK_EQ(jumbo_pool_destroy(v[i]), 0);
	return check_done("many_pools");
}
