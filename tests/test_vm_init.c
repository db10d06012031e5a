/*
 * jumbo_vm_init and the default pool: before, at and after initialisation,
 * from many threads at once; the contract of jumbo_pg_alloc, jumbo_pg_free,
 * jumbo_freem and jumbo_phys_to_kva.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <pthread.h>

#define NTHREADS 8

static pthread_barrier_t go;

/*
 * In a fresh process: environment values that are not numbers or sizes
 * are reported and ignored; the pool is made with the defaults.
 */
static void bad_env(void *arg)
{
	struct jumbo_stats st;

	(void)arg;
	setenv("JUMBO_MAX_PAGES", "-5", 1);
	setenv("JUMBO_PAGE_SIZE", "8k", 1);
	setenv("JUMBO_TRIM_MS", "soon", 1);
	if (jumbo_vm_init() != 1 ||
	    jumbo_pool_stats(jumbo_default_pool(), &st) != 0 ||
	    st.page_size != 4096 || st.reserved >= (uint64_t)-5 / 2)
		_exit(1);
	_exit(0);
}

static void *init_thread(void *arg)
{
	pthread_barrier_wait(&go);
	*(int *)arg = jumbo_vm_init();
	return NULL;
}

int main(void)
{
	pthread_t t[NTHREADS];
	int rc[NTHREADS];

	/* First, before this process has a default pool to hand down. */
	char err[2048];
	int status = run_child(bad_env, NULL, err, sizeof(err));
	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(strstr(err, "ignoring JUMBO_MAX_PAGES=\"-5\"") != NULL);
	CHECK(strstr(err, "ignoring JUMBO_PAGE_SIZE=\"8k\"") != NULL);
	CHECK(strstr(err, "ignoring JUMBO_TRIM_MS=\"soon\"") != NULL);

	/* Before: nothing to allocate from, nothing translates. */
	errno = 0;
	CHECK(jumbo_pg_alloc() == NULL);
	CHECK_EQ(errno, ENXIO);
	CHECK(jumbo_phys_to_kva(0) == NULL);
	CHECK(jumbo_default_pool() == NULL);
	CHECK_EQ(jumbo_page_size(), 4096);

	/* Many threads at once: all succeed, one pool is made. */
	pthread_barrier_init(&go, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++)
		REQUIRE(pthread_create(&t[i], NULL, init_thread, &rc[i]) == 0);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(rc[i], 1);
	}
	struct jumbo_pool *pool = jumbo_default_pool();
	REQUIRE(pool != NULL);
	CHECK_EQ(jumbo_vm_init(), 1);
	CHECK(jumbo_default_pool() == pool);

	/* A page: aligned, page-sized, writable, translatable both ways. */
	vm_page_t pg = jumbo_pg_alloc();
	REQUIRE(pg != NULL);
	caddr_t kva = jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg));
	CHECK(kva != NULL);
	CHECK(kva == jumbo_page_kva(pg));
	CHECK_EQ((uintptr_t)kva % jumbo_page_size(), 0);
	memset(kva, 0xa5, jumbo_page_size());
	CHECK_EQ((unsigned char)kva[jumbo_page_size() - 1], 0xa5);
	/* An address inside the page maps to the same offset. */
	CHECK(jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg) + 100) == kva + 100);
	CHECK(jumbo_pool_page(pool, kva + 100) == pg);
	CHECK(jumbo_pool_iova(pool, kva + 7) == VM_PAGE_TO_PHYS(pg) + 7);
	CHECK(jumbo_pool_iova_to_addr(pool, VM_PAGE_TO_PHYS(pg)) == kva);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_ALLOC);

	/* Outside the pool: NULL. */
	struct jumbo_stats st;
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	CHECK(jumbo_phys_to_kva((vm_offset_t)st.reserved * 4096) == NULL);
	CHECK(jumbo_phys_to_kva((vm_offset_t)-1) == NULL);
	CHECK(jumbo_pool_page(pool, &st) == NULL);
	CHECK(jumbo_pool_iova(pool, &st) == (vm_paddr_t)-1);
	/* The default cap is a sensible share of memory, not a constant. */
	long phys = sysconf(_SC_PHYS_PAGES);
	CHECK(st.reserved > 0 && (long)st.reserved <= phys);

	/* No two live pages alike; both free routines return them. */
	vm_page_t pg2 = jumbo_pg_alloc();
	REQUIRE(pg2 != NULL);
	CHECK(pg2 != pg);
	CHECK(jumbo_page_kva(pg2) != kva);
	jumbo_pg_free((vm_offset_t)kva);
	jumbo_freem(jumbo_page_kva(pg2), (void *)0x1234 /* ignored */);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
	CHECK_EQ(jumbo_page_state(pg2, NULL, NULL), JUMBO_PG_FREE);
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	CHECK_EQ(st.allocs, 2);
	CHECK_EQ(st.frees, 2);
	CHECK_EQ(st.in_use, 0);
	return check_done("vm_init");
}
