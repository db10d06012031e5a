/*
 * What the tests of named shared pools share: the pool itself.  Header
 * only, like check.h.
 */
#ifndef JUMBO_TEST_NAMED_H
#define JUMBO_TEST_NAMED_H

#include "check.h"

#include <errno.h>
#include <jumbo/jumbo.h>
#include <stdbool.h>
#include <string.h>

/*
 * A named shared pool (mode 0600) called name, of max_pages pages grown
 * grow_pages at a time, cache_size pages a thread, and a cold reserve
 * of 32 MiB (JUMBO_RESERVE_AUTO) when cold is true, none when false
 * (pages come back in the order the tests expect).
 * Skips the test where there is no /dev/shm to make it in.
 */
static inline struct jumbo_pool *test_named_pool(const char *name,
						 size_t max_pages,
						 size_t grow_pages,
						 unsigned cache_size, bool cold)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	pp.max_pages = max_pages;
	pp.grow_pages = grow_pages;
	pp.cache_size = cache_size;
	pp.reserve_pages = cold ? JUMBO_RESERVE_AUTO : 0;
	pp.name = name;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	if (!p && (errno == ENOENT || errno == EACCES))
		skip("no /dev/shm to make a named pool in (%s)", strerror(errno));
	REQUIRE(p);
	return p;
}

/* jumbo_pool_stats of p, which must succeed. */
static inline struct jumbo_stats test_stats(struct jumbo_pool *p)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	return st;
}

/* Removes the object of the named pool name, if a test left it (atexit). */
static inline void test_named_unlink(const char *name)
{
	int r = jumbo_pool_unlink(name);

	if (r != 0 && r != -ENOENT)
		fprintf(stderr, "%s: jumbo_pool_unlink: %s\n", name,
			strerror(-r));
}

#endif
