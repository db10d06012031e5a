/*
 * The mbuf layer: chains of jumbo pages for frames of every awkward size,
 * m_copym sharing pages by reference with exactly one return to the pool,
 * m_copydata, m_adj, m_pullup, backend free callbacks, frees from other
 * threads, and the misuse that must abort or fail cleanly.
 */
#include "check.h"

#include <jumbo/mbuf.h>
#include <pthread.h>
#include <sys/mman.h>

static struct jumbo_pool *pool;
static size_t ps;

static uint64_t in_use(void)
{
	struct jumbo_stats st;
	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	return st.in_use;
}

static enum jumbo_page_state state_of(const void *addr)
{
	return jumbo_page_state(jumbo_pool_page(pool, addr), NULL, NULL);
}

/* Fills the chain's bytes with a pattern of off and seed. */
static void fill(struct mbuf *m, unsigned seed)
{
	size_t off = 0;
	for (; m; m = m->m_next)
		for (size_t i = 0; i < m->m_len; i++, off++)
			m->m_data[i] = (char)(off * 7 + seed);
}

static int pattern_ok(const char *p, size_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (char)((off + i) * 7 + seed))
			return 0;
	return 1;
}

static void test_chains(void)
{
	size_t sizes[] = { 1, ps - 1, ps, ps + 1, 9000, 65536 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i], n = (len + ps - 1) / ps, k = 0, sum = 0;
		int err = 1;
		uint64_t before = in_use();
		struct mbuf *m = m_getjumbo(pool, len, &err), *t;
		REQUIRE(m);
		CHECK_EQ(err, 0);
		CHECK(m->m_flags & M_PKTHDR);
		CHECK_EQ(m->m_pkthdr.len, len);
		for (t = m; t; t = t->m_next, k++) {
			CHECK(t->m_flags & M_EXT);
			CHECK_EQ(t->m_ext.ext_type, EXT_JUMBO);
			CHECK(t->m_ext.ext_pool == pool);
			CHECK(t->m_data == t->m_ext.ext_buf);
			CHECK_EQ(t->m_ext.ext_size, ps);
			CHECK_EQ(*t->m_ext.ext_cnt, 1);
			CHECK_EQ(state_of(t->m_data), JUMBO_PG_ALLOC);
			CHECK_EQ(t->m_len, t->m_next ? ps : len - (n - 1) * ps);
			CHECK(k == 0 || !(t->m_flags & M_PKTHDR));
			sum += t->m_len;
		}
		CHECK_EQ(k, n);
		CHECK_EQ(sum, len);
		CHECK_EQ(m_length(m, &t), len);
		CHECK_EQ(in_use(), before + n);
		fill(m, (unsigned)i);
		char *buf = malloc(len);
		CHECK_EQ(m_copydata(m, 0, len, buf), 0);
		CHECK(pattern_ok(buf, 0, len, (unsigned)i));
		free(buf);
		m_freem(m);
		CHECK_EQ(in_use(), before);
	}
	int err = 0;
	CHECK(m_getjumbo(pool, 0, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	/* Beyond the pool's cap, up to a length whose page count wraps. */
	uint64_t before = in_use();
	size_t big[] = { 4097 * ps, SIZE_MAX - ps + 2, SIZE_MAX };
	for (unsigned i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		err = 0;
		CHECK(m_getjumbo(pool, big[i], &err) == NULL);
		CHECK_EQ(err, -ENOMEM);
	}
	CHECK_EQ(in_use(), before);
}

/* A frame's pages come out adjacent, in address order, reused or fresh. */
static void test_adjacent(void)
{
	struct jumbo_pool_params p;
	jumbo_pool_params_init(&p);
	p.max_pages = 256;
	struct jumbo_pool *fp = jumbo_pool_create(&p);
	REQUIRE(fp);
	for (int round = 0; round < 3; round++) {
		struct mbuf *m = m_getjumbo(fp, 16 * ps, NULL);
		REQUIRE(m);
		int adjacent = 1;
		for (struct mbuf *t = m; t->m_next; t = t->m_next)
			if (t->m_next->m_data != t->m_data + ps)
				adjacent = 0;
		CHECK(adjacent);
		m_freem(m); /* back to the cache, last page on top */
	}
	jumbo_pool_flush_cache(fp);
	CHECK_EQ(jumbo_pool_destroy(fp), 0);
}

/* m_copym shares the pages; the pool gets each back once, at the last free. */
static void test_copym(uint64_t *seed)
{
	size_t len = 9000;
	struct mbuf *m = m_getjumbo(pool, len, NULL);
	REQUIRE(m);
	fill(m, 3);
	uint64_t base = in_use();
	char *p0 = m->m_data, *p2 = m->m_next->m_next->m_data;

	struct mbuf *c = m_copym(m, 0, M_COPYALL, M_NOWAIT);
	REQUIRE(c);
	CHECK(c->m_flags & M_PKTHDR);
	CHECK_EQ(c->m_pkthdr.len, len);
	CHECK(c->m_data == p0); /* same page, no copy */
	CHECK_EQ(*m->m_ext.ext_cnt, 2);
	CHECK(c->m_ext.ext_cnt == m->m_ext.ext_cnt);
	CHECK_EQ(in_use(), base);

	/* A middle slice, and a third reference to the pages it spans. */
	size_t off = 100 + rnd(seed) % (len - 200), sl = 1 + rnd(seed) % (len - off);
	struct mbuf *s = m_copym(m, off, sl, M_NOWAIT);
	REQUIRE(s);
	CHECK(!(s->m_flags & M_PKTHDR));
	CHECK_EQ(m_length(s, NULL), sl);
	char *buf = malloc(sl);
	CHECK_EQ(m_copydata(s, 0, sl, buf), 0);
	CHECK(pattern_ok(buf, off, sl, 3));
	free(buf);

	/* Free the original first: its mbuf holds the counters. */
	m_freem(m);
	CHECK_EQ(in_use(), base);
	CHECK_EQ(state_of(p0), JUMBO_PG_ALLOC);
	m_freem(c);
	m_freem(s);
	CHECK_EQ(in_use(), base - 3);
	CHECK_EQ(state_of(p0), JUMBO_PG_FREE);
	CHECK_EQ(state_of(p2), JUMBO_PG_FREE);

	/* Out of range. */
	m = m_getjumbo(pool, 100, NULL);
	errno = 0;
	CHECK(m_copym(m, 50, 51, M_NOWAIT) == NULL && errno == EINVAL);
	CHECK(m_copym(NULL, 0, 1, M_NOWAIT) == NULL);
	CHECK_EQ(m_copydata(m, 99, 2, (char[2]){ 0 }), -EINVAL);
	m_freem(m);
}

static void test_adj(uint64_t *seed)
{
	for (int it = 0; it < 200; it++) {
		size_t len = 1 + rnd(seed) % (3 * ps);
		struct mbuf *m = m_getjumbo(pool, len, NULL);
		REQUIRE(m);
		fill(m, 5);
		long cut = (long)(rnd(seed) % (len + 2)) * (rnd(seed) & 1 ? 1 : -1);
		size_t keep = (size_t)labs(cut) >= len ? 0 : len - (size_t)labs(cut);
		m_adj(m, cut);
		CHECK_EQ(m_length(m, NULL), keep);
		CHECK_EQ(m->m_pkthdr.len, keep);
		char *buf = malloc(keep + 1);
		CHECK_EQ(m_copydata(m, 0, keep, buf), 0);
		CHECK(pattern_ok(buf, cut > 0 ? (size_t)cut : 0, keep, 5));
		free(buf);
		m_freem(m);
	}
}

static void test_pullup(void)
{
	/* Headers split across two pages: 20 bytes at the end of page 0. */
	struct mbuf *m = m_getjumbo(pool, 2 * ps, NULL);
	REQUIRE(m);
	fill(m, 9);
	m_adj(m, (long)ps - 20);
	CHECK_EQ(m->m_len, 20);
	struct mbuf *h = m_pullup(m, 60);
	REQUIRE(h);
	CHECK_EQ(h->m_len, 60);
	CHECK(h->m_flags & M_PKTHDR);
	CHECK(pattern_ok(mtod(h, char *), ps - 20, 60, 9));
	CHECK_EQ(m_length(h, NULL), ps + 20);
	CHECK_EQ(h->m_pkthdr.len, ps + 20);
	char *buf = malloc(ps + 20);
	CHECK_EQ(m_copydata(h, 0, ps + 20, buf), 0);
	CHECK(pattern_ok(buf, ps - 20, ps + 20, 9));
	free(buf);
	/* Already contiguous: the same head comes back. */
	CHECK(m_pullup(h, 10) == h);
	/* Internal-storage head: gathered in place. */
	struct mbuf *i = m_gethdr(M_NOWAIT, MT_DATA);
	REQUIRE(i);
	memcpy(i->m_data, "ab", 2);
	i->m_len = 2;
	i->m_next = h;
	struct mbuf *g = m_pullup(i, 50);
	CHECK(g == i);
	CHECK_EQ(g->m_len, 50);
	CHECK(memcmp(g->m_data, "ab", 2) == 0);
	CHECK(pattern_ok(g->m_data + 2, ps - 20, 48, 9));
	/* Too long: the chain is freed and NULL comes back. */
	uint64_t before = in_use();
	errno = 0;
	CHECK(m_pullup(g, MHLEN + 1) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(in_use(), before - 1);
}

static int cb_calls;
static void *cb_addr;
static void backend_free(caddr_t buf, void *arg)
{
	cb_calls++;
	cb_addr = buf;
	CHECK(arg == (void *)&cb_calls);
	CHECK_EQ(jumbo_pool_free(pool, buf), 0);
}

/* A backend's free routine runs once, at the last reference. */
static void test_callback(void)
{
	void *pg = jumbo_pool_alloc(pool);
	REQUIRE(pg);
	struct mbuf *m = m_gethdr(M_NOWAIT, MT_DATA);
	REQUIRE(m);
	CHECK_EQ(m_extadd_jumbo(m, pool, (char *)pg + 1, NULL, NULL), -EFAULT);
	CHECK_EQ(m_extadd_jumbo(m, pool, pg, backend_free, &cb_calls), 0);
	CHECK_EQ(m_extadd_jumbo(m, pool, pg, backend_free, &cb_calls), -EINVAL);
	m->m_len = m->m_pkthdr.len = 100;
	struct mbuf *c = m_copym(m, 10, 20, M_NOWAIT);
	REQUIRE(c);
	m_freem(c);
	CHECK_EQ(cb_calls, 0);
	m_freem(m);
	CHECK_EQ(cb_calls, 1);
	CHECK(cb_addr == pg);

	/* Generic external storage. */
	static char ext[1000];
	m = m_get(M_NOWAIT, MT_DATA);
	CHECK_EQ(m_extadd(m, ext, sizeof(ext), backend_free, &cb_calls, 0,
			  EXT_JUMBO), -EFAULT);
	CHECK_EQ(m_extadd(m, NULL, 1, NULL, NULL, 0, EXT_EXTREF), -EINVAL);
	CHECK_EQ(m_extadd(m, ext, sizeof(ext), NULL, NULL, 0, EXT_EXTREF), 0);
	m_free(m);
	/* A freed mbuf (still mapped, never had storage) takes none. */
	m = m_get(M_NOWAIT, MT_DATA);
	REQUIRE(m);
	CHECK_EQ(m_extadd_jumbo(m, NULL, pg, NULL, NULL), -EINVAL);
	m_free(m);
	CHECK_EQ(m_extadd(m, ext, sizeof(ext), NULL, NULL, 0, EXT_EXTREF),
		 -EINVAL);
	CHECK(!(m->m_flags & M_EXT));
}

struct xfer {
	struct mbuf *chains[64];
};

static void *free_all(void *arg)
{
	struct xfer *x = arg;
	for (int i = 0; i < 64; i++)
		m_freem(x->chains[i]);
	return NULL;
}

/* Allocate here, free on another thread: pages and mbufs come back. */
static void test_threads(void)
{
	for (int round = 0; round < 20; round++) {
		struct xfer x;
		uint64_t before = in_use();
		for (int i = 0; i < 64; i++)
			REQUIRE((x.chains[i] = m_getjumbo(pool, 9000, NULL)));
		pthread_t t;
		REQUIRE(pthread_create(&t, NULL, free_all, &x) == 0);
		pthread_join(t, NULL);
		CHECK_EQ(in_use(), before);
	}
}

/*
 * Trim: a thread takes TRIM_N mbufs (the later ones from slabs it carves
 * whole), frees them and exits, so its cache goes to the depot too; the
 * slabs' memory goes back (mincore says so), the mbufs still read as
 * freed, and the slabs are carved again before any new one is mapped.
 */
#define TRIM_N 20000
static struct mbuf *trim_v[TRIM_N];

static void *trim_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < TRIM_N; i++) {
		REQUIRE((trim_v[i] = m_get(M_NOWAIT, MT_DATA)));
		memset(mtod(trim_v[i], char *), 0x5a, MLEN);
	}
	for (int i = 0; i < TRIM_N; i++)
		m_free(trim_v[i]);
	return NULL;
}

/* Whether the page an mbuf lies in has memory. */
static int resident(const void *m)
{
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char v;
	void *page = (void *)((uintptr_t)m & ~(uintptr_t)(pg - 1));
	REQUIRE(mincore(page, (size_t)pg, &v) == 0);
	return v & 1;
}

/* Pages of the second half's mbufs still resident. */
static int trim_resident(void)
{
	int n = 0;
	for (int i = TRIM_N / 2; i < TRIM_N; i++)
		n += resident(trim_v[i]);
	return n;
}

static void trim_double_free(void *arg)
{
	pthread_t t;
	(void)arg;
	if (pthread_create(&t, NULL, trim_thread, NULL) != 0)
		_exit(3);
	pthread_join(t, NULL);
	/* One of them whose memory went back (a slab the thread had whole). */
	int k = 0;
	if (jumbo_mbuf_trim() <= 0)
		_exit(4);
	while (k < TRIM_N && resident(trim_v[k]))
		k++;
	if (k == TRIM_N)
		_exit(4); /* not the case this is about */
	m_free(trim_v[k]);
}

static void test_trim(void)
{
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, trim_thread, NULL) == 0);
	pthread_join(t, NULL);
	CHECK_EQ(trim_resident(), TRIM_N / 2);
	long bytes = jumbo_mbuf_trim();
	printf("mbuf: trim gave back %ld KiB of %d mbufs' %d KiB\n",
	       bytes / 1024, TRIM_N, TRIM_N * MSIZE / 1024);
	/* The later half were carved from fresh slabs: all of those. */
	CHECK(bytes >= (long)(TRIM_N / 2) * MSIZE);
	CHECK_EQ(trim_resident(), 0);
	CHECK_EQ(jumbo_mbuf_trim(), 0); /* nothing left to give */
	for (int i = 0; i < TRIM_N; i++)
		CHECK_EQ(trim_v[i]->m_type, MT_NOTMBUF); /* still reads freed */

	/* Allocations take the trimmed slabs before mapping new ones. */
	static struct mbuf *again[TRIM_N];
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = TRIM_N / 2; i < TRIM_N; i++) {
		uintptr_t a = (uintptr_t)trim_v[i];
		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
	}
	int reused = 0;
	for (int i = 0; i < TRIM_N; i++) {
		REQUIRE((again[i] = m_get(M_NOWAIT, MT_DATA)));
		CHECK_EQ(again[i]->m_len, 0);
		memset(mtod(again[i], char *), 0xa5, MLEN);
		reused += (uintptr_t)again[i] >= lo && (uintptr_t)again[i] <= hi;
	}
	CHECK(reused >= TRIM_N / 2);
	for (int i = 0; i < TRIM_N; i++)
		m_free(again[i]);

	const char *w[] = { "m_free", "double free", NULL };
	expect_abort("double free of an mbuf in a trimmed slab", trim_double_free,
		     NULL, w);
}

/*
 * Trim beside mbufs in use: a thread takes TRIM_N mbufs, keeps every 97th
 * of the first half (so most of those slabs are free but not wholly) and
 * frees the rest, then exits.  Trim gives back the wholly free slabs of
 * the later half and nothing under a kept mbuf, whose fields and data
 * read as they were written.
 */
#define KEEP_EVERY 97
static struct mbuf *kept[TRIM_N / KEEP_EVERY + 1];
static int nkept;

static void kept_fill(struct mbuf *m, int i)
{
	m->m_len = MLEN - (size_t)i % 64;
	m->m_flags |= M_EOR;
	for (size_t b = 0; b < MLEN; b++)
		mtod(m, unsigned char *)[b] = (unsigned char)(i * 7 + b);
}

static int kept_ok(const struct mbuf *m, int i)
{
	if (m->m_type != MT_DATA || m->m_data != m->m_dat ||
	    m->m_len != MLEN - (size_t)i % 64 || !(m->m_flags & M_EOR))
		return 0;
	for (size_t b = 0; b < MLEN; b++)
		if (mtod(m, const unsigned char *)[b] != (unsigned char)(i * 7 + b))
			return 0;
	return 1;
}

static void *keep_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < TRIM_N; i++)
		REQUIRE((trim_v[i] = m_get(M_NOWAIT, MT_DATA)));
	for (int i = 0; i < TRIM_N; i++) {
		if (i < TRIM_N / 2 && i % KEEP_EVERY == 0) {
			kept_fill(trim_v[i], nkept);
			kept[nkept++] = trim_v[i];
		} else {
			m_free(trim_v[i]);
		}
	}
	return NULL;
}

static void test_trim_in_use(void)
{
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, keep_thread, NULL) == 0);
	pthread_join(t, NULL);
	long bytes = jumbo_mbuf_trim();
	int bad = 0, gone = 0;
	for (int i = 0; i < nkept; i++) {
		bad += !kept_ok(kept[i], i);
		gone += !resident(kept[i]);
	}
	printf("mbuf: trim beside %d mbufs in use gave back %ld KiB\n", nkept,
	       bytes / 1024);
	CHECK_EQ(bad, 0);
	CHECK_EQ(gone, 0);
	/* The later half's slabs were wholly free, but for the two at its
	 * edges: their memory went back. */
	struct jumbo_mbuf_stats st;
	REQUIRE(jumbo_mbuf_stats(&st) == 0);
	CHECK(bytes >= (long)(TRIM_N / 2 * MSIZE) - 2 * (long)st.slab_bytes);
	for (int i = 0; i < nkept; i++)
		m_free(kept[i]);
}

static void double_free(void *arg)
{
	struct mbuf *m = m_get(M_NOWAIT, MT_DATA);
	m_free(m);
	m_free(m);
}

static void double_freem(void *arg)
{
	struct mbuf *m = m_getjumbo(pool, 9000, NULL);
	struct mbuf *c = m_copym(m, 0, M_COPYALL, M_NOWAIT);
	m_freem(m);
	m_freem(c);
	m_freem(m); /* its head was freed while shared, then for real */
}

static void not_an_mbuf(void *arg)
{
	static char junk[2 * MSIZE];
	m_free((struct mbuf *)(void *)(junk + 8));
}

static void page_freed_behind(void *arg)
{
	struct mbuf *m = m_getjumbo(pool, 100, NULL);
	jumbo_pool_free(pool, m->m_data);
	m_freem(m);
}

static void test_misuse(void)
{
	const char *w1[] = { "m_free", "double free", NULL };
	expect_abort("double m_free", double_free, NULL, w1);
	const char *w2[] = { "m_freem", "double free", NULL };
	expect_abort("double m_freem of a shared chain", double_freem, NULL, w2);
	const char *w3[] = { "m_free", "not an mbuf", NULL };
	expect_abort("m_free of junk", not_an_mbuf, NULL, w3);
	const char *w4[] = { "jumbo_ext_free", NULL };
	expect_abort("page freed behind the mbuf", page_freed_behind, NULL, w4);
	/* NULL is harmless where FreeBSD allows it. */
	m_freem(NULL);
	CHECK(m_free(NULL) == NULL);
	CHECK_EQ(m_length(NULL, NULL), 0);
	m_adj(NULL, 5);
	CHECK(m_pullup(NULL, 1) == NULL);
	CHECK_EQ(m_copydata(NULL, 0, 0, NULL), -EINVAL);
	CHECK_EQ(m_extadd(NULL, (caddr_t)"x", 1, NULL, NULL, 0, EXT_EXTREF),
		 -EINVAL);
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "mbuf");
	struct jumbo_pool_params p;

	jumbo_pool_params_init(&p);
	p.max_pages = 4096;
	p.name = "test_mbuf";
	pool = jumbo_pool_create(&p);
	REQUIRE(pool);
	ps = jumbo_pool_page_size(pool);

	test_chains();
	test_adjacent();
	test_copym(&seed);
	test_adj(&seed);
	test_pullup();
	test_callback();
	test_threads();
	test_trim();
	test_trim_in_use();
	test_misuse();
	/* The jumbo(9) idiom: a default-pool page with jumbo_freem. */
	REQUIRE(jumbo_vm_init() == 1);
	vm_page_t pg = jumbo_pg_alloc();
	REQUIRE(pg);
	caddr_t kva = jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg));
	struct mbuf *fm = m_gethdr(M_NOWAIT, MT_DATA);
	REQUIRE(fm);
	MEXTADD(fm, kva, jumbo_page_size(), jumbo_freem, NULL, 0, EXT_JUMBO);
	CHECK(fm->m_flags & M_EXT);
	CHECK(fm->m_ext.ext_pool == jumbo_default_pool());
	struct mbuf *fc = m_copym(fm, 0, M_COPYALL, M_NOWAIT);
	m_freem(fm);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_ALLOC);
	m_freem(fc);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
	/* The default pool works too (jumbo_freem's own pool). */
	struct mbuf *m = m_getjumbo(NULL, 9000, NULL);
	CHECK(m && m->m_ext.ext_pool == jumbo_default_pool());
	m_freem(m);

	CHECK_EQ(in_use(), 0);
	jumbo_pool_flush_cache(pool);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("mbuf");
}
