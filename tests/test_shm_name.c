/*
 * A named pool's creator removes its name at destroy only if the name is
 * still its object's: after jumbo_pool_unlink() and a new pool under the
 * same name, the first creator's destroy leaves the second pool's name
 * (it removed it before, and the second pool could no longer be attached).
 */
#include "test_named.h"

#include <jumbo/jumbo.h>

#include <stdio.h>
#include <unistd.h>

static char name[40], path[96];

static void cleanup(void)
{
	test_named_unlink(name);
}

int main(void)
{
	setenv("JUMBO_STAT", "0", 1);
	snprintf(name, sizeof(name), "test-shm-name-%d", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm/jumbo-pool.%s", name);
	atexit(cleanup);

	struct jumbo_pool *a = test_named_pool(name, 64, 64, 0, false);
	CHECK_EQ(jumbo_pool_unlink(name), 0);
	CHECK(access(path, F_OK) != 0);
	struct jumbo_pool *b = test_named_pool(name, 64, 64, 0, false);
	CHECK_EQ(jumbo_pool_destroy(a), 0);
	CHECK(access(path, F_OK) == 0); /* b's name stays */
	struct jumbo_pool *c = jumbo_pool_attach(name, 0);
	CHECK(c != NULL);
	if (c)
		CHECK_EQ(jumbo_pool_destroy(c), 0);
	CHECK_EQ(jumbo_pool_destroy(b), 0);
	CHECK(access(path, F_OK) != 0); /* b's own destroy removes it */
	printf("name: a creator's destroy leaves a name given to another "
	       "pool since\n");
	return check_done("shm_name");
}
