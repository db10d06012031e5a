/*
 * Deliveries from several threads at once, into one shared pool: pages
 * move (mremap, steal) on one thread while others allocate, share and free
 * pages of the same pool, and frames built on one thread are delivered on
 * another.  Every delivery is checked against a reference copy.
 * Usage: test_zcopy_threads [seed [threads [iterations]]]
 */
#include "check.h"

#include <jumbo/mbuf.h>
#include <pthread.h>
#include <sys/mman.h>

static struct jumbo_pool *pool;
static size_t ps;
static int iters = 200;

struct worker {
	pthread_t th;
	uint64_t seed;
	size_t moved, copied;
	int failures;
	struct mbuf *handoff; /* a frame the main thread built */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	size_t cap = 64 * ps;
	char *dst = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *ref = malloc(cap);
	if (dst == MAP_FAILED || !ref) {
		w->failures++;
		return NULL;
	}
	for (int i = 0; i < iters; i++) {
		size_t len = 1 + rnd(&w->seed) % (32 * ps);
		if (rnd(&w->seed) & 1)
			len = (len + ps - 1) & ~(ps - 1);
		struct mbuf *m = m_getjumbo(pool, len, NULL);
		if (!m) {
			w->failures++;
			break;
		}
		for (struct mbuf *x = m; x; x = x->m_next)
			for (size_t k = 0; k < x->m_len; k += 64)
				x->m_data[k] = (char)rnd(&w->seed);
		/* Sometimes keep a shared copy alive across the delivery. */
		struct mbuf *keep = rnd(&w->seed) % 4 ? NULL
				: m_copym(m, 0, M_COPYALL, M_NOWAIT);
		m_copydata(m, 0, len, ref);
		size_t off = (rnd(&w->seed) % (cap - len + 1)) & ~(ps - 1);
		unsigned fl = (unsigned[]){ 0, JUMBO_DELIVER_MOVE,
					    JUMBO_DELIVER_COPY }[rnd(&w->seed) % 3];
		struct jumbo_deliver_stats st;
		if (jumbo_deliver(m, dst + off, cap - off, fl, &st) != 0 ||
		    memcmp(dst + off, ref, len) != 0 ||
		    st.moved + st.copied != len)
			w->failures++;
		/* The copy still reads the data the delivery took. */
		if (keep && (m_copydata(keep, 0, len, dst) != 0 ||
			     m_length(keep, NULL) != len ||
			     memcmp(dst, ref, len) != 0))
			w->failures++;
		m_freem(keep);
		w->moved += st.moved;
		w->copied += st.copied;
	}
	/* The frame another thread built: deliver it here. */
	if (w->handoff) {
		struct jumbo_deliver_stats st;
		if (jumbo_deliver(w->handoff, dst, cap, JUMBO_DELIVER_MOVE,
				  &st) != 0 || dst[0] != 42)
			w->failures++;
	}
	munmap(dst, cap);
	free(ref);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "zcopy_threads");
	int nthr = argc > 2 ? atoi(argv[2]) : 4;
	struct jumbo_pool_params p;
	struct worker w[16];

	if (argc > 3)
		iters = atoi(argv[3]);
	if (nthr < 1 || nthr > 16)
		nthr = 4;
	jumbo_pool_params_init(&p);
	p.max_pages = 16384;
	p.name = "test_zcopy_threads";
	pool = jumbo_pool_create(&p);
	REQUIRE(pool);
	ps = jumbo_pool_page_size(pool);

	for (int i = 0; i < nthr; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].seed = seed + (uint64_t)i * 0x9e3779b97f4a7c15ull;
		REQUIRE((w[i].handoff = m_getjumbo(pool, 3 * ps, NULL)));
		w[i].handoff->m_data[0] = 42;
	}
	for (int i = 0; i < nthr; i++)
		REQUIRE(pthread_create(&w[i].th, NULL, work, &w[i]) == 0);
	size_t moved = 0, copied = 0;
	for (int i = 0; i < nthr; i++) {
		pthread_join(w[i].th, NULL);
		CHECK_EQ(w[i].failures, 0);
		moved += w[i].moved;
		copied += w[i].copied;
	}
	printf("%d threads: %zu bytes moved, %zu copied\n", nthr, moved, copied);
	CHECK(moved > 0 && copied > 0);
	struct jumbo_stats st;
	jumbo_pool_stats(pool, &st);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.lost, 0);
	jumbo_pool_flush_cache(pool);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("zcopy_threads");
}
