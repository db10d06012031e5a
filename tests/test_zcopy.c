/*
 * Zero-copy delivery: every path (moved, copied, mixed) against a reference
 * copy with random offsets and lengths; moved slots come back to the pool
 * empty; held, shared and memfd-pool pages are copied, never moved; a
 * backend's free callback still runs after a move; 2 MiB pages move when
 * the machine has huge pages; misuse fails cleanly and changes nothing;
 * a destination one byte short is refused and never written past.
 * Usage: test_zcopy [seed]
 */
#include "check.h"

#include <jumbo/mbuf.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>

static struct jumbo_pool *pool;
static size_t ps;

static enum jumbo_page_state state_of(struct jumbo_pool *p, const void *a)
{
	return jumbo_page_state(jumbo_pool_page(p, a), NULL, NULL);
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void fill_rnd(struct mbuf *m, uint64_t *seed)
{
	for (; m; m = m->m_next)
		for (size_t i = 0; i < m->m_len; i++)
			m->m_data[i] = (char)rnd(seed);
}

/* Appends chain b to chain a; the packet header stays a's. */
static struct mbuf *cat(struct mbuf *a, struct mbuf *b)
{
	struct mbuf *last;
	if (!a)
		return b;
	m_length(a, &last);
	last->m_next = b;
	if (b)
		b->m_flags &= ~M_PKTHDR;
	a->m_pkthdr.len = m_length(a, NULL);
	return a;
}

/*
 * A random packet: segments of whole-page frames (movable), frames
 * trimmed at the head (unaligned), small internal mbufs, and pages shared
 * with a copy kept in *keep (never movable while the copy lives).
 */
static struct mbuf *random_packet(uint64_t *seed, struct mbuf **keep)
{
	struct mbuf *m = NULL;
	int nseg = 1 + (int)(rnd(seed) % 5);

	for (int s = 0; s < nseg; s++) {
		struct mbuf *x;
		switch (rnd(seed) % 5) {
		case 0:
		case 1: /* whole pages */
			x = m_getjumbo(pool, ps * (1 + rnd(seed) % 20), NULL);
			REQUIRE(x);
			fill_rnd(x, seed);
			break;
		case 2: /* a frame with a header trimmed off */
			x = m_getjumbo(pool, 1 + rnd(seed) % (3 * ps), NULL);
			REQUIRE(x);
			fill_rnd(x, seed);
			m_adj(x, (long)(rnd(seed) % (x->m_len + 1)));
			break;
		case 3: /* internal data */
			x = m_gethdr(M_NOWAIT, MT_DATA);
			REQUIRE(x);
			x->m_len = rnd(seed) % (MHLEN + 1);
			fill_rnd(x, seed);
			break;
		default: /* pages shared with another chain */
			x = m_getjumbo(pool, ps * (1 + rnd(seed) % 4), NULL);
			REQUIRE(x);
			fill_rnd(x, seed);
			*keep = cat(*keep, m_copym(x, 0, M_COPYALL, M_NOWAIT));
			break;
		}
		m = cat(m, x);
	}
	return m;
}

/* Data integrity of random deliveries into random places of a buffer. */
static void test_integrity(uint64_t *seed)
{
	size_t cap = 256 * ps;
	char *dst = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *ref = malloc(cap);
	REQUIRE(dst != MAP_FAILED && ref);
	size_t moved = 0, copied = 0;

	for (int it = 0; it < 300; it++) {
		struct mbuf *keep = NULL;
		struct mbuf *m = random_packet(seed, &keep);
		size_t len = m_length(m, NULL);
		REQUIRE(len <= cap - 2 * ps);
		/* Half the time page-aligned, else anywhere. */
		size_t off = rnd(seed) % (cap - len);
		if (rnd(seed) & 1)
			off &= ~(ps - 1);
		unsigned fl = (unsigned[]){ 0, JUMBO_DELIVER_MOVE,
					    JUMBO_DELIVER_COPY }[rnd(seed) % 3];
		memset(dst, 0x5a, cap);
		REQUIRE(m_copydata(m, 0, len, ref) == 0);
		struct jumbo_deliver_stats st;
		int r = jumbo_deliver(m, dst + off, cap - off, fl, &st);
		CHECK_EQ(r, 0);
		CHECK_EQ(st.moved + st.copied, len);
		CHECK(memcmp(dst + off, ref, len) == 0);
		/* Nothing written outside [off, off + len). */
		CHECK(off == 0 || (dst[off - 1] == 0x5a && dst[0] == 0x5a));
		CHECK(off + len == cap ||
		      (dst[off + len] == 0x5a && dst[cap - 1] == 0x5a));
		if (fl == JUMBO_DELIVER_COPY)
			CHECK_EQ(st.moved, 0);
		moved += st.moved;
		copied += st.copied;
		/* The shared copies still read the data they had. */
		m_freem(keep);
	}
	printf("integrity: %zu bytes moved, %zu copied\n", moved, copied);
	CHECK(moved > 0 && copied > 0); /* every path was taken */
	munmap(dst, cap);
	free(ref);
}

/* After a move the reader has the bytes and the slot comes back empty. */
static void test_slot_reuse(uint64_t *seed)
{
	size_t n = 8;
	char *dst = mmap(NULL, n * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(dst != MAP_FAILED);
	struct mbuf *m = m_getjumbo(pool, n * ps, NULL);
	REQUIRE(m);
	fill_rnd(m, seed);
	char *ref = malloc(n * ps);
	void *slots[8];
	size_t i = 0;
	for (struct mbuf *t = m; t; t = t->m_next)
		slots[i++] = t->m_data;
	m_copydata(m, 0, n * ps, ref);
	struct jumbo_stats before, after;
	jumbo_pool_stats(pool, &before);

	struct jumbo_deliver_stats st;
	CHECK_EQ(jumbo_deliver(m, dst, n * ps, JUMBO_DELIVER_MOVE, &st), 0);
	CHECK_EQ(st.moved, n * ps);
	CHECK_EQ(st.pages, n);
	CHECK(st.remaps >= 1 && st.remaps <= n);
	CHECK(memcmp(dst, ref, n * ps) == 0);
	jumbo_pool_stats(pool, &after);
	CHECK_EQ(after.steals - before.steals, n);
	CHECK_EQ(after.in_use, before.in_use - n);
	for (i = 0; i < n; i++) {
		CHECK_EQ(state_of(pool, slots[i]), JUMBO_PG_FREE);
		CHECK(all_zero(slots[i], ps)); /* none of the old data */
	}
	/* Allocate until each slot is handed out again: still empty. */
	size_t found = 0, got = 0;
	void **all = malloc(4096 * sizeof(void *));
	while (found < n && got < 4096 && (all[got] = jumbo_pool_alloc(pool))) {
		for (i = 0; i < n; i++)
			if (all[got] == slots[i]) {
				found++;
				CHECK(all_zero(all[got], ps));
				memset(all[got], 1, ps); /* writable */
			}
		got++;
	}
	CHECK_EQ(found, n);
	CHECK_EQ(jumbo_pool_free_bulk(pool, all, (unsigned)got), 0);
	/* The reader's pages are its own: writable, and gone with munmap. */
	memset(dst, 2, n * ps);
	munmap(dst, n * ps);
	free(all);
	free(ref);
}

/* Held, shared and memfd-pool pages are copied, never moved. */
static void test_not_movable(uint64_t *seed)
{
	char *dst = mmap(NULL, 16 * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(dst != MAP_FAILED);
	struct jumbo_deliver_stats st;

	/* Held: page 1 of 3 has I/O in flight. */
	struct mbuf *m = m_getjumbo(pool, 3 * ps, NULL);
	fill_rnd(m, seed);
	char *held = m->m_next->m_data, ref[64];
	memcpy(ref, held, sizeof(ref));
	CHECK_EQ(jumbo_pool_hold(pool, held), 0);
	CHECK_EQ(jumbo_deliver(m, dst, 16 * ps, JUMBO_DELIVER_MOVE, &st), 0);
	CHECK_EQ(st.moved, 2 * ps);
	CHECK_EQ(st.copied, ps);
	CHECK(memcmp(dst + ps, ref, sizeof(ref)) == 0);
	CHECK(memcmp(held, ref, sizeof(ref)) == 0); /* I/O still sees it */
	int pending = 0;
	unsigned holds = 0;
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(pool, held), &holds, &pending),
		 JUMBO_PG_HELD);
	CHECK(pending);
	CHECK_EQ(jumbo_pool_unhold(pool, held), 0);
	CHECK_EQ(state_of(pool, held), JUMBO_PG_FREE);

	/* Shared with a copy: copied, and the copy still reads the data. */
	m = m_getjumbo(pool, 2 * ps, NULL);
	fill_rnd(m, seed);
	struct mbuf *c = m_copym(m, 0, M_COPYALL, M_NOWAIT);
	CHECK_EQ(jumbo_deliver(m, dst, 16 * ps, JUMBO_DELIVER_MOVE, &st), 0);
	CHECK_EQ(st.moved, 0);
	CHECK(memcmp(dst, c->m_data, ps) == 0);
	m_freem(c);

	/* A memfd pool cannot give pages away. */
	struct jumbo_pool_params p;
	jumbo_pool_params_init(&p);
	p.max_pages = 64;
	p.flags = JUMBO_POOL_SHARED;
	struct jumbo_pool *sp = jumbo_pool_create(&p);
	if (!sp) {
		printf("shared pool: %s, part skipped\n", strerror(errno));
	} else {
		m = m_getjumbo(sp, 4 * ps, NULL);
		REQUIRE(m);
		fill_rnd(m, seed);
		char r2[128];
		m_copydata(m, ps, sizeof(r2), r2);
		CHECK_EQ(jumbo_deliver(m, dst, 16 * ps, JUMBO_DELIVER_MOVE, &st), 0);
		CHECK_EQ(st.moved, 0);
		CHECK_EQ(st.copied, 4 * ps);
		CHECK(memcmp(dst + ps, r2, sizeof(r2)) == 0);
		void *pg = jumbo_pool_alloc(sp);
		CHECK_EQ(jumbo_pool_steal(sp, pg, JUMBO_STEAL_MOVED), -EOPNOTSUPP);
		jumbo_pool_free(sp, pg);
		jumbo_pool_flush_cache(sp);
		CHECK_EQ(jumbo_pool_destroy(sp), 0);
	}
	/* Shared memory: a move would cut dst off from its other mapping. */
	int fd = memfd_create("zcopy-dst", 0);
	REQUIRE(fd >= 0 && ftruncate(fd, (off_t)(4 * ps)) == 0);
	char *a = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, 4 * ps, PROT_READ, MAP_SHARED, fd, 0);
	REQUIRE(a != MAP_FAILED && b != MAP_FAILED);
	m = m_getjumbo(pool, 4 * ps, NULL);
	fill_rnd(m, seed);
	char *r3 = malloc(4 * ps);
	m_copydata(m, 0, 4 * ps, r3);
	CHECK_EQ(jumbo_deliver(m, a, 4 * ps, JUMBO_DELIVER_MOVE, &st), 0);
	CHECK_EQ(st.moved, 0);
	CHECK(st.fallbacks >= 1);
	CHECK(memcmp(b, r3, 4 * ps) == 0); /* the other mapping sees it */
	munmap(a, 4 * ps);
	munmap(b, 4 * ps);
	close(fd);
	free(r3);
	munmap(dst, 16 * ps);
}

static int cb_calls;
static void backend_free(caddr_t buf, void *arg)
{
	cb_calls++;
	CHECK(all_zero(buf, ps)); /* moved away: the slot reads zeroes */
	CHECK_EQ(jumbo_pool_free(pool, buf), 0);
}

/* The jumbo(9) idiom moves too: a default-pool page with jumbo_freem. */
static void test_jumbo9_move(void)
{
	REQUIRE(jumbo_vm_init() == 1);
	size_t dps = jumbo_page_size();
	char *dst = mmap(NULL, dps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	vm_page_t pg = jumbo_pg_alloc();
	struct mbuf *m = m_gethdr(M_NOWAIT, MT_DATA);
	REQUIRE(dst != MAP_FAILED && pg && m);
	caddr_t kva = jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg));
	MEXTADD(m, kva, dps, jumbo_freem, NULL, 0, EXT_JUMBO);
	memset(kva, 0x42, dps);
	m->m_len = m->m_pkthdr.len = dps;
	struct jumbo_deliver_stats st;
	CHECK_EQ(jumbo_deliver(m, dst, dps, JUMBO_DELIVER_MOVE, &st), 0);
	CHECK_EQ(st.moved, dps);
	CHECK(dst[0] == 0x42 && dst[dps - 1] == 0x42);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
	CHECK(all_zero(kva, dps));
	munmap(dst, dps);
}

/* A backend's callback runs after a move too, on an emptied page. */
static void test_backend_move(void)
{
	char *dst = mmap(NULL, ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *pg = jumbo_pool_alloc(pool);
	struct mbuf *m = m_gethdr(M_NOWAIT, MT_DATA);
	REQUIRE(dst != MAP_FAILED && pg && m);
	CHECK_EQ(m_extadd_jumbo(m, pool, pg, backend_free, NULL), 0);
	memset(pg, 0x77, ps);
	m->m_len = m->m_pkthdr.len = ps;
	struct jumbo_deliver_stats st;
	CHECK_EQ(jumbo_deliver(m, dst, ps, JUMBO_DELIVER_MOVE, &st), 0);
	CHECK_EQ(st.moved, ps);
	CHECK_EQ(cb_calls, 1);
	CHECK(dst[0] == 0x77 && dst[ps - 1] == 0x77);
	munmap(dst, ps);
}

static void test_misuse(void)
{
	char small[100];
	struct jumbo_deliver_stats st;
	struct mbuf *m = m_getjumbo(pool, 9000, NULL);
	REQUIRE(m);
	memset(m->m_data, 3, 10);
	CHECK_EQ(jumbo_deliver(NULL, small, sizeof(small), 0, &st), -EINVAL);
	CHECK_EQ(jumbo_deliver(m, NULL, 9000, 0, &st), -EINVAL);
	CHECK_EQ(jumbo_deliver(m, small, sizeof(small), 0, &st), -ENOBUFS);
	CHECK_EQ(jumbo_deliver(m, small, sizeof(small),
			       JUMBO_DELIVER_MOVE | JUMBO_DELIVER_COPY, &st),
		 -EINVAL);
	CHECK_EQ(jumbo_deliver(m, small, sizeof(small), 0x100, &st), -EINVAL);
	/* The chain is untouched and still ours. */
	CHECK_EQ(m_length(m, NULL), 9000);
	CHECK(m->m_data[9] == 3);
	m_freem(m);
}

/*
 * The bound: dst is exactly the packet's length, or one byte short, and
 * ends where a PROT_NONE guard page begins, so that a byte written past it
 * faults.  Shapes: a page and a small mbuf (copied), two whole adjacent
 * pages (moved when the flags let them); every flag setting.  Exact: 0 and
 * the data.  One short: -ENOBUFS, nothing written, the chain still ours,
 * in a child, so that a write into the guard shows as its SIGSEGV.
 */
static char *bound_end;   /* the guard page */
static struct mbuf *bound_m;
static size_t bound_total;
static unsigned bound_fl;

static struct mbuf *bound_packet(int shape, uint64_t *seed)
{
	struct mbuf *m;
	if (shape == 0) {
		m = m_getjumbo(pool, 1000, NULL);
		struct mbuf *s = m_get(M_NOWAIT, MT_DATA);
		REQUIRE(m && s);
		s->m_len = 50;
		m = cat(m, s);
	} else {
		m = m_getjumbo(pool, 2 * ps, NULL);
		REQUIRE(m);
	}
	fill_rnd(m, seed);
	return m;
}

static void bound_short(void *arg)
{
	char *d = bound_end - (bound_total - 1);
	(void)arg;
	memset(d, 0xee, bound_total - 1);
	int r = jumbo_deliver(bound_m, d, bound_total - 1, bound_fl, NULL);
	if (r != -ENOBUFS) {
		fprintf(stderr, "jumbo_deliver one byte short: %d\n", r);
		_exit(1);
	}
	for (size_t i = 0; i < bound_total - 1; i++)
		if ((unsigned char)d[i] != 0xee) {
			fprintf(stderr, "jumbo_deliver one byte short wrote "
				"byte %zu\n", i);
			_exit(1);
		}
	if (m_length(bound_m, NULL) != bound_total) {
		fprintf(stderr, "jumbo_deliver one byte short: the chain "
			"changed\n");
		_exit(1);
	}
	m_freem(bound_m);
}

static void test_bound(uint64_t *seed)
{
	static const unsigned fls[] = { 0, JUMBO_DELIVER_COPY,
					JUMBO_DELIVER_MOVE };
	size_t len = 4 * ps;
	char *buf = mmap(NULL, len + ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(buf != MAP_FAILED);
	REQUIRE(mprotect(buf + len, ps, PROT_NONE) == 0);
	bound_end = buf + len;
	char *ref = malloc(len);
	REQUIRE(ref);

	for (int shape = 0; shape < 2; shape++) {
		for (size_t k = 0; k < sizeof(fls) / sizeof(fls[0]); k++) {
			char out[8192];
			bound_fl = fls[k];
			bound_m = bound_packet(shape, seed);
			bound_total = m_length(bound_m, NULL);
			int st = run_child(bound_short, NULL, out, sizeof(out));
			if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "zcopy: bound: shape %d flags %#x, "
					"%zu bytes one short: status %#x (signal "
					"%d) %s\n", shape, bound_fl, bound_total,
					st, WIFSIGNALED(st) ? WTERMSIG(st) : 0, out);
				check_failures++;
			}
			/* The parent's chain is as it was: deliver it exactly. */
			struct jumbo_deliver_stats ds;
			char *d = bound_end - bound_total;
			REQUIRE(m_copydata(bound_m, 0, bound_total, ref) == 0);
			CHECK_EQ(jumbo_deliver(bound_m, d, bound_total, bound_fl,
					       &ds), 0);
			CHECK(memcmp(d, ref, bound_total) == 0);
			CHECK_EQ(ds.moved + ds.copied, bound_total);
			if (shape == 1 && bound_fl == JUMBO_DELIVER_MOVE)
				CHECK_EQ(ds.moved, 2 * ps);
		}
	}
	free(ref);
	munmap(buf, len + ps);
}

/* A second thread that waits until its pipe is closed. */
static void *wait_pipe(void *arg)
{
	char c;
	while (read(*(int *)arg, &c, 1) > 0)
		;
	return NULL;
}

static void test_tuning(void)
{
	struct jumbo_deliver_tuning t = { .page_size = ps }, g, old;
	int r = jumbo_deliver_calibrate(ps, &t);
	CHECK_EQ(r, 0);
	CHECK(t.thresh_1thr <= t.thresh_mthr);
	printf("calibrated %zu: move from %zd bytes (1 thread), %zd (more)\n",
	       ps, (ssize_t)t.thresh_1thr, (ssize_t)t.thresh_mthr);
	g.page_size = ps;
	CHECK_EQ(jumbo_deliver_get_tuning(&g), 0);
	CHECK_EQ(g.thresh_1thr, t.thresh_1thr);
	old = g;
	g.page_size = 12345;
	CHECK_EQ(jumbo_deliver_get_tuning(&g), -EINVAL);
	CHECK_EQ(jumbo_deliver_calibrate(12345, NULL), -EINVAL);

	/* The threshold decides when no flag does. */
	char *dst = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct jumbo_deliver_tuning lo = { ps, ps, ps }, hi = { ps, SIZE_MAX,
							       SIZE_MAX };
	struct jumbo_deliver_stats st;
	CHECK_EQ(jumbo_deliver_set_tuning(&lo), 0);
	CHECK_EQ(jumbo_deliver(m_getjumbo(pool, 4 * ps, NULL), dst, 4 * ps, 0,
			       &st), 0);
	CHECK_EQ(st.moved, 4 * ps);
	CHECK_EQ(jumbo_deliver_set_tuning(&hi), 0);
	CHECK_EQ(jumbo_deliver(m_getjumbo(pool, 4 * ps, NULL), dst, 4 * ps, 0,
			       &st), 0);
	CHECK_EQ(st.moved, 0);
	/* A part smaller than a page is always copied, whatever is forced. */
	CHECK_EQ(jumbo_deliver(m_getjumbo(pool, ps - 1, NULL), dst, 4 * ps,
			       JUMBO_DELIVER_MOVE, &st), 0);
	CHECK_EQ(st.moved, 0);
	CHECK_EQ(st.copied, ps - 1);
	/* Between the two thresholds the number of threads decides. */
	struct jumbo_deliver_tuning mid = { ps, ps, SIZE_MAX };
	CHECK_EQ(jumbo_deliver_set_tuning(&mid), 0);
	usleep(150 * 1000); /* the thread count is looked up every 100 ms */
	CHECK_EQ(jumbo_deliver(m_getjumbo(pool, 4 * ps, NULL), dst, 4 * ps, 0,
			       &st), 0);
	struct stat tst; /* sanitizers may run a thread of their own */
	if (stat("/proc/self/task", &tst) == 0 && tst.st_nlink == 3)
		CHECK_EQ(st.moved, 4 * ps); /* one thread: the first one */
	else
		printf("tuning: not one thread, one-thread case not checked\n");
	int pfd[2];
	pthread_t th;
	REQUIRE(pipe(pfd) == 0);
	REQUIRE(pthread_create(&th, NULL, wait_pipe, &pfd[0]) == 0);
	usleep(150 * 1000);
	CHECK_EQ(jumbo_deliver(m_getjumbo(pool, 4 * ps, NULL), dst, 4 * ps, 0,
			       &st), 0);
	CHECK_EQ(st.moved, 0); /* two threads: the second threshold */
	close(pfd[1]);
	pthread_join(th, NULL);
	close(pfd[0]);
	CHECK_EQ(jumbo_deliver_set_tuning(&old), 0);
	munmap(dst, 4 * ps);
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "zcopy");
	struct jumbo_pool_params p;

	jumbo_pool_params_init(&p);
	p.max_pages = 8192;
	p.name = "test_zcopy";
	pool = jumbo_pool_create(&p);
	REQUIRE(pool);
	ps = jumbo_pool_page_size(pool);

	test_misuse();
	test_bound(&seed);
	test_tuning();
	test_integrity(&seed);
	test_slot_reuse(&seed);
	test_not_movable(&seed);
	test_backend_move();
	test_jumbo9_move();

	struct jumbo_stats st;
	jumbo_pool_stats(pool, &st);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.lost, 0);
	jumbo_pool_flush_cache(pool);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("zcopy");
}
