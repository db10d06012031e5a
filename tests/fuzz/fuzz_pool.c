/*
 * Differential fuzzer: the pool and mbuf APIs against a model.
 *
 * libFuzzer feeds bytes; they are decoded into a sequence of calls on up
 * to three pools of the input's own shapes (small caps, tiny caches,
 * reserves, growth steps, debug, no-cache and shared pools, 4 KiB pages)
 * and on the default pool of the jumbo(9) functions: allocations and
 * frees one by one, in batches and in runs, holds, steals, trims, cache
 * flushes, statistics, page states, translation of good, bad and foreign
 * addresses, mbufs carrying pool pages (m_extadd_jumbo, MEXTADD with
 * jumbo_freem), shared by m_copym and freed chain by chain.  A model of
 * every page (allocated, holds, pending free, mbuf references, the token
 * written into it) predicts each return code, state and counter; any
 * difference is a crash with the call that went wrong.  Misuse that
 * aborts by design (the seed's void functions on a bad address, a page
 * freed behind its mbuf's back) is never generated; misuse that returns
 * an error is.  Single-threaded, so every result is exact.
 *
 * Every input ends with everything freed and its pools destroyed, so the
 * process can run millions of them.  See docs/TESTING.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>

#define PAGE 4096u
#define MAXCAP 64        /* pages of the fuzzed pools and the default one */
#define NPOOL 4          /* three of the input's, then the default pool */
#define DFLT (NPOOL - 1)
#define NPKT 12
#define MAXOPS 4000

/* A difference between library and model: say where and stop. */
#define FAIL(...)                                                            \
	do {                                                                 \
		fprintf(stderr, "fuzz_pool:%d: op %u: ", __LINE__, op_no);   \
		fprintf(stderr, __VA_ARGS__);                                \
		fputc('\n', stderr);                                         \
		abort();                                                     \
	} while (0)
#define EXPECT_EQ(got, want, what)                                           \
	do {                                                                 \
		long long g_ = (long long)(got), w_ = (long long)(want);     \
		if (g_ != w_)                                                \
			FAIL("%s: got %lld, model says %lld", what, g_, w_); \
	} while (0)

struct mpage {
	uint8_t alloc;   /* handed out (held or not, pending or not) */
	uint8_t pending; /* freed while held: the last unhold frees it */
	uint8_t seen;    /* handed out at least once: committed */
	uint8_t zero;    /* stolen: comes back zeroed */
	unsigned holds;
	unsigned mrefs;  /* mbufs referring to it: the mbufs own it */
	unsigned off;    /* where its token is */
	uint64_t token;
};

struct mpool {
	struct jumbo_pool *pool; /* NULL: slot empty */
	char *base;
	unsigned cap;
	int shared, debug;
	struct mpage pg[MAXCAP];
	unsigned in_use;
	uint64_t allocs, frees, steals, holds, deferred;
};

static struct mpool P[NPOOL];
static struct mbuf *pkt[NPKT];
static unsigned op_no;
static uint64_t tok = 0x9e3779b97f4a7c15ull;

/* ---- the input ----------------------------------------------------------- */

static const uint8_t *in;
static size_t in_len;

static unsigned byte(void)
{
	if (!in_len)
		return 0;
	in_len--;
	return *in++;
}

/* 0..n-1: one byte of the input, two when n needs them. */
static unsigned pick(unsigned n)
{
	unsigned v = byte();
	if (n > 256)
		v = v << 8 | byte();
	return n ? v % n : 0;
}

/* ---- the model ------------------------------------------------------------- */

static char *addr_of(struct mpool *mp, unsigned i)
{
	return mp->base + (size_t)i * PAGE;
}

/* A page in the wanted condition, from a start the input picks. */
enum want { OWNED, OWNED_UNHELD, HELD, FREE_SEEN, ANY_ALLOC, ANY };

static int fits(const struct mpage *q, enum want w)
{
	switch (w) {
	case OWNED: return q->alloc && !q->mrefs && !q->pending;
	case OWNED_UNHELD: return q->alloc && !q->mrefs && !q->pending && !q->holds;
	case HELD: return q->alloc && q->holds;
	case FREE_SEEN: return !q->alloc && q->seen;
	case ANY_ALLOC: return q->alloc;
	default: return 1;
	}
}

static unsigned find(struct mpool *mp, enum want w)
{
	unsigned start = pick(mp->cap);
	for (unsigned k = 0; k < mp->cap; k++) {
		unsigned i = (start + k) % mp->cap;
		if (fits(&mp->pg[i], w))
			return i;
	}
	return mp->cap;
}

static unsigned index_of(struct mpool *mp, const void *a)
{
	return (unsigned)(((const char *)a - mp->base) / PAGE);
}

/* A page came out of the pool: it must have been free; mark and fill it. */
static void got(struct mpool *mp, void *a, const char *fn)
{
	if (!a || (uintptr_t)a % PAGE || (char *)a < mp->base ||
	    index_of(mp, a) >= mp->cap)
		FAIL("%s returned %p, not a page of the pool", fn, a);
	unsigned i = index_of(mp, a);
	struct mpage *q = &mp->pg[i];
	if (q->alloc)
		FAIL("%s handed out page %u, which is already out", fn, i);
	if (q->zero && *(uint64_t *)(void *)(addr_of(mp, i) + q->off) != 0)
		FAIL("%s: stolen page %u came back with old data", fn, i);
	tok = tok * 6364136223846793005ull + 1442695040888963407ull;
	*q = (struct mpage){ .alloc = 1, .seen = 1, .off = pick(PAGE / 8) * 8,
			     .token = tok };
	*(uint64_t *)(void *)(addr_of(mp, i) + q->off) = q->token;
	mp->in_use++;
	mp->allocs++;
}

/* The model's free of page i: the expected return code, and its effect. */
static int model_free(struct mpool *mp, unsigned i)
{
	struct mpage *q = &mp->pg[i];
	if (!q->alloc)
		return q->seen ? -EALREADY : -EFAULT;
	if (q->pending)
		return -EALREADY;
	if (*(uint64_t *)(void *)(addr_of(mp, i) + q->off) != q->token)
		FAIL("page %u: its contents changed while it was out", i);
	if (q->holds) {
		q->pending = 1;
		mp->deferred++;
		return 0;
	}
	q->alloc = 0;
	mp->in_use--;
	mp->frees++;
	return 0;
}

/* ---- pool calls -------------------------------------------------------------- */

static void op_create(unsigned s)
{
	struct mpool *mp = &P[s];
	struct jumbo_pool_params pp;
	static const unsigned caches[] = { 0, 1, 2, 3, 8, 16 };
	static const size_t reserves[] = { 0, 0, 4, JUMBO_RESERVE_AUTO };

	if (mp->pool)
		return;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 1 + pick(MAXCAP);
	pp.init_pages = pick(4) ? 0 : pick((unsigned)pp.max_pages + 1);
	pp.grow_pages = pick(4) ? 1 + pick(9) : 0;
	pp.cache_size = caches[pick(6)];
	pp.reserve_pages = reserves[pick(4)];
	unsigned f = byte();
	pp.flags = (f & 1 ? JUMBO_POOL_NOCACHE : 0) | (f & 2 ? JUMBO_POOL_DEBUG : 0) |
		   ((f & 12) == 12 ? JUMBO_POOL_SHARED : 0);
	pp.name = "fuzz";

	/* Shapes the pool must refuse, changing nothing. */
	struct jumbo_pool_params bad = pp;
	switch (pick(8)) {
	case 0: bad.page_size = 8192; break;
	case 1: bad.max_pages = 0; break;
	case 2: bad.init_pages = bad.max_pages + 1; break;
	case 3: bad.flags |= 1u << 7; break;
	default: goto good;
	}
	errno = 0;
	if (jumbo_pool_create(&bad) != NULL || errno != EINVAL)
		FAIL("create accepted a bad shape (errno %d)", errno);
good:
	mp->pool = jumbo_pool_create(&pp);
	if (!mp->pool)
		FAIL("create of a %zu-page pool failed: errno %d", pp.max_pages, errno);
	memset(mp->pg, 0, sizeof(mp->pg));
	mp->base = jumbo_pool_iova_to_addr(mp->pool, 0);
	mp->cap = (unsigned)pp.max_pages;
	mp->shared = !!(pp.flags & JUMBO_POOL_SHARED);
	mp->debug = !!(pp.flags & JUMBO_POOL_DEBUG);
	mp->in_use = 0;
	mp->allocs = mp->frees = mp->steals = mp->holds = mp->deferred = 0;
	/* The initial pages are committed: their words exist. */
	for (size_t i = 0; i < pp.init_pages; i++)
		mp->pg[i].seen = 1;
}

static void op_alloc(struct mpool *mp)
{
	void *a;
	if (pick(2)) {
		a = jumbo_pool_alloc(mp->pool);
	} else {
		vm_page_t pg = jumbo_pool_alloc_page(mp->pool);
		a = pg ? jumbo_page_kva(pg) : NULL;
		if (pg && jumbo_pool_page(mp->pool, a) != pg)
			FAIL("alloc_page: descriptor and address disagree");
	}
	if (mp->in_use < mp->cap) {
		got(mp, a, "alloc");
	} else if (a || errno != ENOMEM) {
		FAIL("alloc at the cap: %p, errno %d", a, errno);
	}
}

static void op_alloc_bulk(struct mpool *mp)
{
	void *v[MAXCAP + 8];
	unsigned n = pick(MAXCAP + 8);
	unsigned want = mp->cap - mp->in_use < n ? mp->cap - mp->in_use : n;
	unsigned k = jumbo_pool_alloc_bulk(mp->pool, v, n);
	EXPECT_EQ(k, want, "alloc_bulk count");
	for (unsigned j = 0; j < k; j++)
		got(mp, v[j], "alloc_bulk");
}

static void op_alloc_contig(struct mpool *mp)
{
	unsigned n = pick(mp->cap + 2);
	char *a = jumbo_pool_alloc_contig(mp->pool, n);
	if (n == 0 || n > mp->cap) {
		if (a || errno != EINVAL)
			FAIL("alloc_contig(%u) with a cap of %u: %p, errno %d", n,
			     mp->cap, (void *)a, errno);
		return;
	}
	if (!a) {
		/*
		 * Where the pool may look is not modelled.  With nothing out
		 * and the caches flushed every page is free, so n of them are
		 * contiguous, wherever they lie: the depot, free runs, fresh
		 * frames, or a run straddling them.
		 */
		EXPECT_EQ(errno, ENOMEM, "alloc_contig errno");
		if (mp->in_use == 0) {
			jumbo_pool_flush_cache(mp->pool);
			if (!(a = jumbo_pool_alloc_contig(mp->pool, n)))
				FAIL("alloc_contig(%u): ENOMEM in a free pool of %u "
				     "pages", n, mp->cap);
			for (unsigned j = 0; j < n; j++)
				got(mp, a + (size_t)j * PAGE, "alloc_contig");
		}
		return;
	}
	for (unsigned j = 0; j < n; j++)
		got(mp, a + (size_t)j * PAGE, "alloc_contig");
}

static void op_free(struct mpool *mp)
{
	unsigned i = find(mp, pick(4) ? OWNED_UNHELD : OWNED);
	if (i == mp->cap)
		return;
	int want = model_free(mp, i);
	EXPECT_EQ(jumbo_pool_free(mp->pool, addr_of(mp, i)), want, "free");
}

/* Frees the pool must refuse, changing nothing. */
static void op_free_bad(struct mpool *mp, unsigned self)
{
	unsigned i;
	char stack_byte;
	switch (pick(6)) {
	case 0: /* double free, or a free while a free is pending */
		if ((i = find(mp, pick(2) ? FREE_SEEN : HELD)) != mp->cap) {
			struct mpage *q = &mp->pg[i];
			if (q->alloc && !q->pending)
				return;
			EXPECT_EQ(jumbo_pool_free(mp->pool, addr_of(mp, i)),
				  -EALREADY, "double free");
		}
		break;
	case 1: /* inside a page */
		i = pick(mp->cap);
		EXPECT_EQ(jumbo_pool_free(mp->pool, addr_of(mp, i) + 1 + pick(255) * 16),
			  -EINVAL, "free inside a page");
		break;
	case 2: /* at and beyond the cap, below the base */
		EXPECT_EQ(jumbo_pool_free(mp->pool, addr_of(mp, mp->cap + pick(4))),
			  -EFAULT, "free beyond the cap");
		EXPECT_EQ(jumbo_pool_free(mp->pool, mp->base - PAGE * (1 + pick(4))),
			  -EFAULT, "free below the base");
		break;
	case 3: /* a page of another pool */
		for (unsigned s = 0; s < NPOOL; s++)
			if (s != self && P[s].pool)
				EXPECT_EQ(jumbo_pool_free(mp->pool, P[s].base), -EFAULT,
					  "free of another pool's page");
		break;
	case 4: /* not pool memory at all */
		EXPECT_EQ(jumbo_pool_free(mp->pool, &stack_byte), -EFAULT,
			  "free of a stack address");
		EXPECT_EQ(jumbo_pool_free(mp->pool, NULL), -EFAULT, "free(NULL)");
		break;
	default: /* a page never handed out: free if committed, else unused */
		i = pick(mp->cap);
		if (!mp->pg[i].seen) {
			int r = jumbo_pool_free(mp->pool, addr_of(mp, i));
			if (r != -EFAULT && r != -EALREADY)
				FAIL("free of a fresh page: %d", r);
		}
	}
}

static void op_free_bulk(struct mpool *mp)
{
	void *v[MAXCAP];
	unsigned n = 0, want_n = 1 + pick(MAXCAP);
	int first = 0;

	while (n < want_n) {
		unsigned i;
		int r;
		if (pick(12) == 0) {
			v[n] = addr_of(mp, mp->cap) + pick(3) * PAGE;
			r = -EFAULT;
		} else if (pick(12) == 0 && (i = find(mp, FREE_SEEN)) != mp->cap) {
			v[n] = addr_of(mp, i);
			r = -EALREADY;
		} else if ((i = find(mp, pick(3) ? OWNED_UNHELD : OWNED)) != mp->cap) {
			v[n] = addr_of(mp, i);
			r = model_free(mp, i); /* in order, as the call does */
		} else {
			break;
		}
		if (r && !first)
			first = r;
		n++;
	}
	EXPECT_EQ(jumbo_pool_free_bulk(mp->pool, v, n), first, "free_bulk");
}

static void op_free_contig(struct mpool *mp)
{
	if (pick(8) == 0) {
		EXPECT_EQ(jumbo_pool_free_contig(mp->pool, mp->base, 0), -EINVAL,
			  "free_contig of 0 pages");
		unsigned i = pick(mp->cap);
		EXPECT_EQ(jumbo_pool_free_contig(mp->pool, addr_of(mp, i),
						 mp->cap - i + 1 + pick(3)),
			  -EFAULT, "free_contig past the cap");
		return;
	}
	unsigned i = find(mp, OWNED), n = 1, want_n = 1 + pick(8);
	if (i == mp->cap)
		return;
	/* Owned pages, now and then a free one (an error). */
	while (n < want_n && i + n < mp->cap &&
	       (fits(&mp->pg[i + n], OWNED) ||
		(fits(&mp->pg[i + n], FREE_SEEN) && pick(6) == 0)))
		n++;
	int first = 0;
	for (unsigned j = 0; j < n; j++) {
		int r = model_free(mp, i + j);
		if (r && !first)
			first = r;
	}
	EXPECT_EQ(jumbo_pool_free_contig(mp->pool, addr_of(mp, i), n), first,
		  "free_contig");
}

static void op_hold(struct mpool *mp)
{
	unsigned i = find(mp, pick(3) ? ANY_ALLOC : pick(2) ? FREE_SEEN : ANY);
	if (i == mp->cap)
		return;
	struct mpage *q = &mp->pg[i];
	int r = jumbo_pool_hold(mp->pool, addr_of(mp, i) + pick(PAGE / 16) * 16);
	if (!q->seen) { /* committed or not: not modelled */
		if (r != -EFAULT && r != -EALREADY)
			FAIL("hold of a fresh page: %d", r);
		return;
	}
	EXPECT_EQ(r, !q->alloc || q->pending ? -EALREADY : 0, "hold");
	if (!r) {
		q->holds++;
		mp->holds++;
	}
}

static void op_unhold(struct mpool *mp)
{
	unsigned i = find(mp, pick(4) ? HELD : FREE_SEEN);
	if (i == mp->cap)
		return;
	struct mpage *q = &mp->pg[i];
	EXPECT_EQ(jumbo_pool_unhold(mp->pool, addr_of(mp, i)),
		  q->holds ? 0 : -ENOENT, "unhold");
	if (q->holds && --q->holds == 0 && q->pending) {
		q->alloc = q->pending = 0;
		mp->in_use--;
		mp->frees++;
	}
}

static void op_steal(struct mpool *mp, int seed_fn)
{
	unsigned i = find(mp, pick(4) ? OWNED_UNHELD : pick(2) ? HELD : FREE_SEEN);
	if (i == mp->cap)
		return;
	struct mpage *q = &mp->pg[i];
	if (q->mrefs)
		return; /* the mbufs own it: only jumbo_deliver steals those */
	int want = !q->alloc ? -EALREADY
		   : q->holds ? (q->pending ? -EALREADY : -EBUSY)
		   : mp->shared ? -EOPNOTSUPP : 0;
	if (seed_fn) { /* void: only what cannot fail */
		if (want)
			return;
		jumbo_pg_steal(jumbo_pool_page(mp->pool, addr_of(mp, i)));
	} else {
		if (pick(8) == 0) {
			EXPECT_EQ(jumbo_pool_steal(mp->pool, addr_of(mp, i), 2),
				  -EINVAL, "steal with an unknown flag");
			EXPECT_EQ(jumbo_pool_steal(mp->pool, addr_of(mp, i) + 8, 0),
				  -EINVAL, "steal inside a page");
		}
		EXPECT_EQ(jumbo_pool_steal(mp->pool, addr_of(mp, i), 0), want,
			  "steal");
	}
	if (!want) {
		q->alloc = 0;
		q->zero = 1;
		mp->in_use--;
		mp->steals++;
	}
}

static void check_state(struct mpool *mp)
{
	unsigned i = pick(mp->cap), holds = 99;
	int pending = 99;
	struct mpage *q = &mp->pg[i];
	vm_page_t pg = jumbo_pool_page(mp->pool, addr_of(mp, i));
	enum jumbo_page_state s = jumbo_page_state(pg, &holds, &pending);

	if (!pg)
		FAIL("no descriptor for page %u", i);
	if (!q->seen) {
		if (s != JUMBO_PG_UNUSED && s != JUMBO_PG_FREE)
			FAIL("page %u never handed out is in state %d", i, s);
		return;
	}
	EXPECT_EQ(jumbo_page_index(pg), i, "descriptor index");
	if (jumbo_page_kva(pg) != addr_of(mp, i))
		FAIL("descriptor of page %u has address %p", i, (void *)jumbo_page_kva(pg));
	EXPECT_EQ(s, !q->alloc ? JUMBO_PG_FREE : q->holds ? JUMBO_PG_HELD
							  : JUMBO_PG_ALLOC,
		  "page state");
	if (q->alloc) {
		EXPECT_EQ(holds, q->holds, "holds");
		EXPECT_EQ(pending, q->pending, "free pending");
	}
}

/* O(1) translation both ways, at good, bad and foreign addresses. */
static void check_translate(struct mpool *mp, unsigned self)
{
	unsigned i = pick(mp->cap), k = pick(PAGE);
	char *a = addr_of(mp, i) + k;

	if (!jumbo_pool_page(mp->pool, a) ||
	    jumbo_pool_page(mp->pool, a) != jumbo_pool_page(mp->pool, addr_of(mp, i)))
		FAIL("page of byte %u of page %u", k, i);
	EXPECT_EQ(jumbo_pool_iova(mp->pool, a), (uint64_t)i * PAGE + k, "iova");
	if (jumbo_pool_iova_to_addr(mp->pool, (vm_paddr_t)i * PAGE + k) != a)
		FAIL("iova_to_addr of page %u", i);
	char *past = addr_of(mp, mp->cap) + pick(4) * PAGE + pick(PAGE);
	if (jumbo_pool_page(mp->pool, past) || jumbo_pool_page(mp->pool, mp->base - 1))
		FAIL("a descriptor for an address outside the pool");
	EXPECT_EQ(jumbo_pool_iova(mp->pool, past), (vm_paddr_t)-1, "iova past the cap");
	EXPECT_EQ(jumbo_pool_iova(mp->pool, mp->base - 1), (vm_paddr_t)-1,
		  "iova below the base");
	if (jumbo_pool_iova_to_addr(mp->pool, (vm_paddr_t)mp->cap * PAGE + pick(PAGE)) ||
	    jumbo_pool_iova_to_addr(mp->pool, (vm_paddr_t)-1 - pick(PAGE)))
		FAIL("iova_to_addr of an I/O address past the cap");
	for (unsigned s = 0; s < NPOOL; s++)
		if (s != self && P[s].pool && jumbo_pool_page(mp->pool, P[s].base))
			FAIL("pool %u translates pool %u's page", self, s);
	if (self == DFLT) {
		/* jumbo(9): committed frames translate, the rest give NULL. */
		if (mp->pg[i].seen &&
		    jumbo_phys_to_kva((vm_offset_t)i * PAGE + k) != a)
			FAIL("jumbo_phys_to_kva of page %u", i);
		if (jumbo_phys_to_kva((vm_offset_t)mp->cap * PAGE + pick(8) * PAGE))
			FAIL("jumbo_phys_to_kva past the cap");
	}
	/* Hold, unhold and steal of addresses outside: -EFAULT. */
	EXPECT_EQ(jumbo_pool_hold(mp->pool, past), -EFAULT, "hold past the cap");
	EXPECT_EQ(jumbo_pool_unhold(mp->pool, past), -EFAULT, "unhold past the cap");
	EXPECT_EQ(jumbo_pool_steal(mp->pool, past, 0), -EFAULT, "steal past the cap");
}

static void check_stats(struct mpool *mp, int flushed)
{
	struct jumbo_stats st;
	if (jumbo_pool_stats(mp->pool, &st) != 0)
		FAIL("stats failed");
	EXPECT_EQ(st.in_use, mp->in_use, "stats in_use");
	EXPECT_EQ(st.allocs, mp->allocs, "stats allocs");
	EXPECT_EQ(st.frees, mp->frees, "stats frees");
	EXPECT_EQ(st.steals, mp->steals, "stats steals");
	EXPECT_EQ(st.holds, mp->holds, "stats holds");
	EXPECT_EQ(st.deferred_frees, mp->deferred, "stats deferred_frees");
	EXPECT_EQ(st.double_frees, 0, "stats double_frees");
	EXPECT_EQ(st.lost, 0, "stats lost");
	EXPECT_EQ(st.reserved, mp->cap, "stats reserved");
	EXPECT_EQ(st.page_size, PAGE, "stats page_size");
	/* Every committed page is in use, cached or in the depot. */
	uint64_t all = st.in_use + st.cached_free + st.depot_free;
	if (st.committed > all || all > mp->cap || st.high_water > mp->cap ||
	    st.high_water < st.in_use || st.meta_bytes == 0)
		FAIL("stats out of balance: committed %llu, in use %llu, cached "
		     "%llu, depot %llu, high water %llu, cap %u",
		     (unsigned long long)st.committed, (unsigned long long)st.in_use,
		     (unsigned long long)st.cached_free,
		     (unsigned long long)st.depot_free,
		     (unsigned long long)st.high_water, mp->cap);
	if (flushed)
		EXPECT_EQ(st.cached_free, 0, "cached pages after a flush");
}

/* ---- mbufs ------------------------------------------------------------------- */

static struct mpool *pool_of_ext(const struct mbuf *m)
{
	for (unsigned s = 0; s < NPOOL; s++)
		if (P[s].pool && P[s].pool == m->m_ext.ext_pool)
			return &P[s];
	FAIL("an mbuf refers to no pool of ours");
}

/* Frees a chain; pages whose last reference goes are freed in the model. */
static void free_chain(struct mbuf *m)
{
	for (struct mbuf *n = m; n; n = n->m_next) {
		if (!(n->m_flags & M_EXT))
			continue;
		struct mpool *mp = pool_of_ext(n);
		struct mpage *q = &mp->pg[index_of(mp, n->m_ext.ext_buf)];
		if (!q->mrefs)
			FAIL("mbuf refers to a page the model gave back");
		if (--q->mrefs == 0 && model_free(mp, index_of(mp, n->m_ext.ext_buf)))
			FAIL("last mbuf of a page: the model refuses its free");
	}
	m_freem(m);
}

/* A packet of owned pages, attached one way or another; or a bad attach. */
static void op_mbuf_build(unsigned s)
{
	unsigned slot = pick(NPKT);
	if (pkt[slot])
		return;
	struct mbuf *head = NULL, **tail = &head;
	size_t len = 0;
	unsigned n = 1 + pick(4);

	for (unsigned k = 0; k < n; k++) {
		struct mbuf *m = k == 0 ? m_gethdr(M_NOWAIT, MT_DATA) : m_get(M_NOWAIT, MT_DATA);
		if (!m)
			FAIL("m_get: errno %d", errno);
		struct mpool *mp = &P[s];
		unsigned i = find(mp, OWNED);
		if (i == mp->cap || pick(5) == 0) {
			m->m_len = pick(MLEN + 1); /* internal data */
			memset(m->m_data, (int)k, m->m_len);
		} else {
			int r;
			switch (pick(s == DFLT ? 4 : 3)) {
			case 0: /* an address inside the page: refused */
				EXPECT_EQ(m_extadd_jumbo(m, mp->pool, addr_of(mp, i) + 64,
							 NULL, NULL), -EFAULT,
					  "m_extadd_jumbo inside a page");
				break;
			case 1: /* a type that does not exist */
				EXPECT_EQ(m_extadd(m, addr_of(mp, i), PAGE, jumbo_ext_free,
						   mp->pool, 0, 99), -EINVAL,
					  "m_extadd of an unknown type");
				break;
			default:
				break;
			}
			if (s == DFLT && pick(2))
				r = m_extadd(m, addr_of(mp, i), PAGE, jumbo_freem, NULL,
					     0, EXT_JUMBO); /* as ti(4) did */
			else
				r = m_extadd_jumbo(m, mp->pool, addr_of(mp, i), NULL, NULL);
			EXPECT_EQ(r, 0, "attach of an owned page");
			EXPECT_EQ(m_extadd_jumbo(m, mp->pool, addr_of(mp, i), NULL, NULL),
				  -EINVAL, "second attach to one mbuf");
			mp->pg[i].mrefs = 1;
			m->m_len = 1 + pick(PAGE);
		}
		len += m->m_len;
		*tail = m;
		tail = &m->m_next;
	}
	head->m_pkthdr.len = len;
	EXPECT_EQ(m_length(head, NULL), len, "m_length");
	pkt[slot] = head;
}

/* m_copym shares a range; its bytes must be the original's. */
static void op_mbuf_copy(void)
{
	unsigned slot = pick(NPKT), to = pick(NPKT);
	struct mbuf *m = pkt[slot];
	if (!m || pkt[to])
		return;
	size_t total = m_length(m, NULL);
	size_t off = pick(4) ? (size_t)byte() * byte() % (total + 1) : 0;
	size_t len = pick(4) ? (size_t)byte() * byte() % (total - off + 1) : M_COPYALL;

	if (pick(8) == 0) {
		errno = 0;
		if (m_copym(m, off, total - off + 1, M_NOWAIT) || errno != EINVAL)
			FAIL("m_copym past the end");
		char b;
		EXPECT_EQ(m_copydata(m, total, 1, &b), -EINVAL, "m_copydata past the end");
		return;
	}
	struct mbuf *c = m_copym(m, off, len, M_NOWAIT);
	if (!c)
		FAIL("m_copym(%zu, %zu) of %zu bytes: errno %d", off, len, total, errno);
	size_t want = len == M_COPYALL ? total - off : len;
	EXPECT_EQ(m_length(c, NULL), want, "m_copym length");
	for (struct mbuf *n = c; n; n = n->m_next)
		if (n->m_flags & M_EXT) {
			struct mpool *mp = pool_of_ext(n);
			struct mpage *q = &mp->pg[index_of(mp, n->m_ext.ext_buf)];
			if (!q->mrefs)
				FAIL("m_copym shares a page no mbuf holds");
			q->mrefs++;
		}
	if (want) {
		char *x = malloc(want), *y = malloc(want);
		if (!x || !y)
			abort();
		EXPECT_EQ(m_copydata(m, off, want, x), 0, "m_copydata");
		EXPECT_EQ(m_copydata(c, 0, want, y), 0, "m_copydata of the copy");
		if (memcmp(x, y, want))
			FAIL("m_copym's bytes differ from the original's");
		free(x);
		free(y);
	}
	pkt[to] = c;
}

static void op_mbuf_free(void)
{
	unsigned slot = pick(NPKT);
	if (pkt[slot]) {
		free_chain(pkt[slot]);
		pkt[slot] = NULL;
	}
}

/* ---- one input ------------------------------------------------------------- */

/* Everything back: packets, holds, pages; the input's pools destroyed. */
static void drain(void)
{
	for (unsigned k = 0; k < NPKT; k++)
		if (pkt[k]) {
			free_chain(pkt[k]);
			pkt[k] = NULL;
		}
	for (unsigned s = 0; s < NPOOL; s++) {
		struct mpool *mp = &P[s];
		if (!mp->pool)
			continue;
		if (s != DFLT && mp->in_use)
			EXPECT_EQ(jumbo_pool_destroy(mp->pool), -EBUSY,
				  "destroy with pages out");
		for (unsigned i = 0; i < mp->cap; i++) {
			struct mpage *q = &mp->pg[i];
			while (q->holds) {
				EXPECT_EQ(jumbo_pool_unhold(mp->pool, addr_of(mp, i)), 0,
					  "unhold at the end");
				if (--q->holds == 0 && q->pending) {
					q->alloc = q->pending = 0;
					mp->in_use--;
					mp->frees++;
				}
			}
			if (q->alloc) {
				int want = model_free(mp, i);
				EXPECT_EQ(jumbo_pool_free(mp->pool, addr_of(mp, i)), want,
					  "free at the end");
			}
		}
		EXPECT_EQ(mp->in_use, 0, "model pages out at the end");
		jumbo_pool_flush_cache(mp->pool);
		check_stats(mp, 1);
		/*
		 * Nothing is out: every page of the cap can be had, each once.
		 * (The default pool lives on into the next input, so its
		 * damage must show in the input that did it.)
		 */
		void *v[MAXCAP];
		EXPECT_EQ(jumbo_pool_alloc_bulk(mp->pool, v, mp->cap), mp->cap,
			  "the whole cap at the end");
		for (unsigned i = 0; i < mp->cap; i++)
			got(mp, v[i], "alloc_bulk at the end");
		for (unsigned i = 0; i < mp->cap; i++)
			model_free(mp, index_of(mp, v[i]));
		EXPECT_EQ(jumbo_pool_free_bulk(mp->pool, v, mp->cap), 0,
			  "free of the whole cap");
		check_stats(mp, 0);
		if (s != DFLT) {
			EXPECT_EQ(jumbo_pool_destroy(mp->pool), 0, "destroy");
			mp->pool = NULL;
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* A small default pool, 4 KiB pages, the same for every run. */
	setenv("JUMBO_MAX_PAGES", "64", 1);
	setenv("JUMBO_PAGE_SIZE", "4k", 1);
	unsetenv("JUMBO_DEBUG");
	unsetenv("JUMBO_TRIM_MS");
	if (jumbo_vm_init() != 1)
		FAIL("jumbo_vm_init failed");
	struct mpool *mp = &P[DFLT];
	mp->pool = jumbo_default_pool();
	mp->base = jumbo_pool_iova_to_addr(mp->pool, 0);
	mp->cap = (unsigned)JUMBO_HEAD(mp->pool)->ph_npages;
	if (mp->cap != MAXCAP)
		FAIL("default pool of %u pages, not %u", mp->cap, MAXCAP);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in = data;
	in_len = size;
	for (op_no = 0; in_len && op_no < MAXOPS; op_no++) {
		unsigned op = byte(), s = pick(NPOOL);
		struct mpool *mp = &P[s];
		if (op % 24 == 0) {
			if (s != DFLT)
				op_create(s);
			continue;
		}
		if (!mp->pool)
			continue;
		switch (op % 24) {
		case 1: case 2: case 3: op_alloc(mp); break;
		case 4: op_alloc_bulk(mp); break;
		case 5: op_alloc_contig(mp); break;
		case 6: case 7: case 8:
			if (s == DFLT) { /* the seed's frees: only good ones */
				unsigned i = find(mp, OWNED);
				if (i == mp->cap)
					break;
				EXPECT_EQ(model_free(mp, i), 0, "seed free");
				if (pick(2))
					jumbo_pg_free((vm_offset_t)addr_of(mp, i));
				else
					jumbo_freem(addr_of(mp, i), NULL);
			} else {
				op_free(mp);
			}
			break;
		case 9: op_free_bad(mp, s); break;
		case 10: op_free_bulk(mp); break;
		case 11: op_free_contig(mp); break;
		case 12: op_hold(mp); break;
		case 13: op_unhold(mp); break;
		case 14: op_steal(mp, s == DFLT && pick(2)); break;
		case 15:
			if (jumbo_pool_trim(mp->pool, 0) < 0)
				FAIL("trim failed");
			break;
		case 16:
			jumbo_pool_flush_cache(mp->pool);
			check_stats(mp, 1);
			break;
		case 17: check_stats(mp, 0); break;
		case 18: check_state(mp); break;
		case 19: check_translate(mp, s); break;
		case 20: op_mbuf_build(s); break;
		case 21: op_mbuf_copy(); break;
		case 22: op_mbuf_free(); break;
		default:
			if (s != DFLT && !mp->in_use) {
				EXPECT_EQ(jumbo_pool_destroy(mp->pool), 0, "destroy");
				mp->pool = NULL;
			} else if (s != DFLT && pick(8) == 0) {
				EXPECT_EQ(jumbo_pool_destroy(mp->pool), -EBUSY,
					  "destroy with pages out");
			}
			break;
		}
	}
	drain();
	return 0;
}
