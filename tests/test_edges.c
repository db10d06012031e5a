/*
 * The edges of a pool, where off-by-one faults hide (issue 17):
 *
 *   the default pool with JUMBO_MAX_PAGES=N takes exactly N pages and
 *   reports reserved == N (a cap of N + 1 passed every other test);
 *
 *   jumbo_phys_to_kva(committed * page_size) is NULL and
 *   jumbo_phys_to_kva(committed * page_size - 1) translates (accepting the
 *   first uncommitted page passed every other test); the same edge for
 *   every entry point that takes an address: those bounded by the
 *   committed pages (hold, unhold, steal, free, free_contig, page state)
 *   and those bounded by the cap (page, iova, iova_to_addr); the first
 *   frame past the cap, at its start or inside it, is EFAULT ("not a page
 *   of the pool" for the jumbo(9) functions) and never EINVAL, and
 *   jumbo_pg_steal of the descriptor past the last committed one says it
 *   is not a descriptor, whether past the cap or inside it;
 *
 *   a shared pool's page that a peer wrote through the memfd while it was
 *   not committed reads as zeros once committed;
 *
 *   a 2 MiB default pool with no huge page free fails at jumbo_vm_init,
 *   saying what to reserve (only where none is free).
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <sys/mman.h>

#define N 300 /* not a multiple of a growth step */

static void default_cap(void)
{
	static void *v[N + 1];
	struct jumbo_stats st;
	size_t got = 0;
	vm_page_t pg;

	while (got <= N && (pg = jumbo_pg_alloc()))
		v[got++] = jumbo_page_kva(pg);
	CHECK_EQ(got, N);
	REQUIRE(jumbo_pool_stats(jumbo_default_pool(), &st) == 0);
	CHECK_EQ(st.reserved, N);
	CHECK_EQ(st.in_use, N);
	CHECK_EQ(st.committed, N);
	for (size_t i = 0; i < got; i++)
		jumbo_pg_free((vm_offset_t)v[i]);
}

static void default_edge(void)
{
	struct jumbo_pool *p = jumbo_default_pool();
	struct jumbo_stats st;
	size_t ps = jumbo_page_size();

	vm_page_t pg = jumbo_pg_alloc(); /* commits one growth step */
	REQUIRE(pg);
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	/* After default_cap every page is committed: give it less. */
	size_t c = st.committed;
	char *base = jumbo_pool_iova_to_addr(p, 0);
	CHECK(jumbo_phys_to_kva(c * ps) == NULL);
	CHECK(jumbo_phys_to_kva(c * ps - 1) == base + c * ps - 1);
	CHECK(jumbo_phys_to_kva(0) == base);
	jumbo_pg_free((vm_offset_t)jumbo_page_kva(pg));
}

/* A pool of its own, committed short of its cap. */
static void pool_edges(void)
{
	struct jumbo_pool_params pp;
	struct jumbo_stats st;
	unsigned holds;
	int pend;

	jumbo_pool_params_init(&pp);
	pp.max_pages = 4096;
	pp.grow_pages = 100;
	pp.reserve_pages = 0; /* a freed page is reused at once */
	pp.flags = JUMBO_POOL_NOCACHE;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	char *base = jumbo_pool_iova_to_addr(p, 0);
	/* Allocate every committed page: the last one is at the edge. */
	static void *v[100];
	for (int i = 0; i < 100; i++)
		REQUIRE((v[i] = jumbo_pool_alloc(p)));
	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	REQUIRE(st.committed == 100);
	char *last = base + 99 * 4096, *beyond = base + 100 * 4096;

	/* Bounded by the committed pages. */
	CHECK_EQ(jumbo_pool_hold(p, last + 4095), 0);
	CHECK_EQ(jumbo_pool_hold(p, beyond), -EFAULT);
	CHECK_EQ(jumbo_pool_unhold(p, last + 4095), 0);
	CHECK_EQ(jumbo_pool_unhold(p, beyond), -EFAULT);
	CHECK_EQ(jumbo_pool_free(p, beyond), -EFAULT);
	CHECK_EQ(jumbo_pool_free_contig(p, beyond, 1), -EFAULT);
	CHECK_EQ(jumbo_pool_steal(p, beyond, 0), -EFAULT);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, beyond), &holds, &pend),
		 JUMBO_PG_UNUSED);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, last), &holds, &pend),
		 JUMBO_PG_ALLOC);
	CHECK_EQ(jumbo_pool_steal(p, last, 0), 0);
	CHECK_EQ(jumbo_pool_free(p, last), -EALREADY);
	v[99] = jumbo_pool_alloc(p);
	CHECK(v[99] == last);

	/* Bounded by the cap. */
	char *end = base + 4096 * 4096;
	CHECK(jumbo_pool_page(p, end) == NULL);
	CHECK(jumbo_pool_page(p, end - 1) == jumbo_pool_page(p, end - 4096));
	CHECK(jumbo_pool_page(p, end - 1) != NULL);
	CHECK(jumbo_pool_page(p, base - 1) == NULL);
	CHECK(jumbo_pool_iova(p, end) == (vm_paddr_t)-1);
	CHECK_EQ(jumbo_pool_iova(p, end - 1), 4096 * 4096 - 1);
	CHECK(jumbo_pool_iova_to_addr(p, 4096 * 4096) == NULL);
	CHECK(jumbo_pool_iova_to_addr(p, 4096 * 4096 - 1) == end - 1);
	CHECK_EQ(jumbo_pool_free(p, end), -EFAULT);
	CHECK_EQ(jumbo_pool_free_contig(p, end - 4096, 2), -EFAULT);

	/*
	 * The first frame past the cap, at its start and inside it, is
	 * foreign to every call that takes an address: EFAULT, never
	 * "not the start of a page" (the frame is not the pool's at all).
	 */
	for (size_t off = 0; off < 4096; off += 4095) {
		char *e = end + off;
		void *one[1] = { e };
		CHECK_EQ(jumbo_pool_free(p, e), -EFAULT);
		CHECK_EQ(jumbo_pool_free_bulk(p, one, 1), -EFAULT);
		CHECK_EQ(jumbo_pool_free_contig(p, e, 1), -EFAULT);
		CHECK_EQ(jumbo_pool_hold(p, e), -EFAULT);
		CHECK_EQ(jumbo_pool_unhold(p, e), -EFAULT);
		CHECK_EQ(jumbo_pool_steal(p, e, 0), -EFAULT);
		CHECK(jumbo_pool_page(p, e) == NULL);
		CHECK(jumbo_pool_iova(p, e) == (vm_paddr_t)-1);
	}
	/* The first frame past the committed ones: EFAULT likewise. */
	{
		void *one[1] = { beyond };
		CHECK_EQ(jumbo_pool_free_bulk(p, one, 1), -EFAULT);
		CHECK_EQ(jumbo_pool_hold(p, beyond + 4095), -EFAULT);
		CHECK_EQ(jumbo_pool_unhold(p, beyond + 4095), -EFAULT);
		CHECK_EQ(jumbo_pool_steal(p, beyond + 4095, 0), -EFAULT);
		REQUIRE(jumbo_pool_stats(p, &st) == 0);
		CHECK_EQ(st.in_use, 100); /* none of the above changed a thing */
	}

	CHECK_EQ(jumbo_pool_free_bulk(p, v, 100), 0);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

static void shared_zero(void)
{
	struct jumbo_pool_params pp;

	jumbo_pool_params_init(&pp);
	pp.max_pages = 1024;
	pp.grow_pages = 16;
	pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NOCACHE;
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	REQUIRE(p);
	/* A peer maps the whole memfd and writes page 20: uncommitted. */
	char *peer = mmap(NULL, 1024 * 4096, PROT_READ | PROT_WRITE,
			  MAP_SHARED, jumbo_pool_fd(p), 0);
	REQUIRE(peer != MAP_FAILED);
	memset(peer + 20 * 4096, 0x5a, 4096);
	static void *v[32];
	for (int i = 0; i < 32; i++)
		REQUIRE((v[i] = jumbo_pool_alloc(p)));
	char *pg = jumbo_pool_iova_to_addr(p, 20 * 4096);
	int dirty = 0;
	for (int i = 0; i < 4096; i++)
		dirty |= pg[i];
	CHECK_EQ(dirty, 0);
	CHECK_EQ(jumbo_pool_free_bulk(p, v, 32), 0);
	munmap(peer, 1024 * 4096);
	CHECK_EQ(jumbo_pool_destroy(p), 0);
}

static void huge_init(void *arg)
{
	(void)arg;
	setenv("JUMBO_PAGE_SIZE", "2m", 1);
	if (jumbo_vm_init() == 0 && errno == ENOMEM)
		abort();
}

static int free_hugepages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	int n = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/*
 * The jumbo(9) functions at the same edges, on the default pool (every
 * page committed: the cap is also the end of the committed frames).  Each
 * aborts in a child, naming the function, the address and the reason.
 */
static void pg_free_at(void *arg)
{
	jumbo_pg_free((vm_offset_t)arg);
}

static void freem_at(void *arg)
{
	jumbo_freem(arg, NULL);
}

static void pg_steal_at(void *arg)
{
	jumbo_pg_steal(arg);
}

/*
 * In a child, before the parent's default pool exists: a default pool of
 * a large cap with one page allocated (so most of the cap is not yet
 * committed), and jumbo_pg_steal of the descriptor of its last frame.
 */
static void pg_steal_uncommitted(void *arg)
{
	(void)arg;
	setenv("JUMBO_MAX_PAGES", "100000", 1);
	setenv("JUMBO_PAGE_SIZE", "4k", 1);
	if (jumbo_vm_init() != 1 || jumbo_pg_alloc() == NULL)
		_exit(3);
	struct jumbo_pool *p = jumbo_default_pool();
	struct jumbo_stats st;
	if (jumbo_pool_stats(p, &st) || st.committed >= 100000)
		_exit(4);
	char *last = (char *)jumbo_pool_iova_to_addr(p, 0) + 99999 * 4096;
	jumbo_pg_steal(jumbo_pool_page(p, last));
}

static void default_uncommitted(void)
{
	const char *want[] = { "jumbo_pg_steal: ", "not a jumbo page descriptor",
			       NULL };
	expect_abort("jumbo_pg_steal of a descriptor inside the cap, not "
		     "committed", pg_steal_uncommitted, NULL, want);
}

static void default_past_end(void)
{
	struct jumbo_pool *p = jumbo_default_pool();
	struct jumbo_stats st;
	size_t ps = jumbo_page_size();
	char a0[32], a1[32], d[32], *dflt_end;

	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	REQUIRE(st.committed == N && st.reserved == N);
	dflt_end = (char *)jumbo_pool_iova_to_addr(p, 0) + N * ps;
	vm_page_t past = jumbo_pool_page(p, dflt_end - ps) + 1;
	snprintf(a0, sizeof(a0), "%p: ", (void *)dflt_end);
	snprintf(a1, sizeof(a1), "%p: ", (void *)(dflt_end + 1));
	snprintf(d, sizeof(d), "%p: ", (void *)past);
	const char *w_free0[] = { "jumbo_pg_free: ", a0, "not a page of the pool", NULL };
	const char *w_free1[] = { "jumbo_pg_free: ", a1, "not a page of the pool", NULL };
	const char *w_freem[] = { "jumbo_freem: ", a1, "not a page of the pool", NULL };
	const char *w_steal[] = { "jumbo_pg_steal: ", d, "not a jumbo page descriptor", NULL };
	expect_abort("jumbo_pg_free past the cap", pg_free_at, dflt_end, w_free0);
	expect_abort("jumbo_pg_free inside the frame past the cap", pg_free_at,
		     dflt_end + 1, w_free1);
	expect_abort("jumbo_freem inside the frame past the cap", freem_at,
		     dflt_end + 1, w_freem);
	expect_abort("jumbo_pg_steal of the descriptor past the cap",
		     pg_steal_at, past, w_steal);
}

int main(void)
{
	char num[16];

	if (free_hugepages() == 0) {
		const char *want[] = { "jumbo_vm_init", "vm.nr_hugepages", NULL };
		expect_abort("2 MiB default pool without huge pages", huge_init,
			     NULL, want);
	} else {
		printf("edges: huge pages free: the 2 MiB init check is not "
		       "run\n");
	}
	default_uncommitted();
	snprintf(num, sizeof(num), "%d", N);
	setenv("JUMBO_MAX_PAGES", num, 1);
	setenv("JUMBO_PAGE_SIZE", "4k", 1);
	REQUIRE(jumbo_vm_init() == 1);
	default_cap();
	default_edge();
	default_past_end();
	pool_edges();
	shared_zero();
	return check_done("edges");
}
