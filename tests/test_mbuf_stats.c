/*
 * Mbuf statistics catch leaks.  Worker threads attach storage, share it
 * with m_copym, free the mbuf that holds the reference count first (its
 * memory stays for the counter) and hand the copies to other workers to
 * free; a reader checks every snapshot for impossible figures meanwhile.
 * When every mbuf is freed and the workers have exited (their caches go
 * back with them), in_use must be 0 and every mbuf of every slab must be
 * free somewhere: an mbuf that holds a shared count and is never returned
 * (a planted leak) fails the test.  Seeded: pass the seed to rerun.
 */
#include "check.h"

#include <jumbo/mbuf.h>
#include <pthread.h>

#define WORKERS 4
#define ROUNDS 10000

static struct jumbo_pool *pool;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static struct mbuf *queue; /* chains, linked through m_nextpkt */
static int ext_frees, ext_allocs;
static int done;

static void ext_free(caddr_t buf, void *args)
{
	free(buf);
	__atomic_fetch_add(&ext_frees, 1, __ATOMIC_RELAXED);
}

static void enqueue(struct mbuf *m)
{
	pthread_mutex_lock(&qlock);
	m->m_nextpkt = queue;
	queue = m;
	pthread_mutex_unlock(&qlock);
}

static struct mbuf *dequeue(void)
{
	pthread_mutex_lock(&qlock);
	struct mbuf *m = queue;
	if (m)
		queue = m->m_nextpkt;
	pthread_mutex_unlock(&qlock);
	if (m)
		m->m_nextpkt = NULL;
	return m;
}

static void *worker(void *arg)
{
	uint64_t s = *(uint64_t *)arg;

	for (int i = 0; i < ROUNDS; i++) {
		struct mbuf *m;
		if (rnd(&s) % 2) {
			m = m_gethdr(M_NOWAIT, MT_DATA);
			REQUIRE(m);
			size_t len = 64 + rnd(&s) % 2000;
			char *buf = malloc(len);
			REQUIRE(buf);
			REQUIRE(m_extadd(m, buf, len, ext_free, NULL, 0,
					 EXT_EXTREF) == 0);
			__atomic_fetch_add(&ext_allocs, 1, __ATOMIC_RELAXED);
			m->m_len = m->m_pkthdr.len = len;
		} else {
			m = m_getjumbo(pool, 1 + rnd(&s) % 20000, NULL);
			REQUIRE(m);
		}
		unsigned copies = rnd(&s) % 4;
		for (unsigned k = 0; k < copies; k++) {
			struct mbuf *c = m_copym(m, rnd(&s) % 2 ? 0 : 1,
						 M_COPYALL, M_NOWAIT);
			REQUIRE(c);
			enqueue(c);
		}
		/* The holders go first: their memory must wait for the copies. */
		m_freem(m);
		if (rnd(&s) % 2)
			m_freem(dequeue());
	}
	return NULL;
}

/* Every snapshot must be possible. */
static void *reader(void *arg)
{
	unsigned long n = 0;

	while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE) || n == 0) {
		struct jumbo_mbuf_stats st;
		REQUIRE(jumbo_mbuf_stats(&st) == 0);
		uint64_t per = st.slab_bytes / MSIZE;
		CHECK(st.in_use <= st.high_water);
		CHECK(st.allocs >= st.frees);
		CHECK(st.in_use <= st.allocs - st.frees);
		CHECK(st.in_use + st.cached_free + st.depot_free <=
		      (st.slabs - st.trimmed_slabs) * per);
		CHECK(st.trimmed_slabs <= st.slabs);
		if (check_failures) {
			jumbo_mbuf_stats_print(&st, stderr);
			break;
		}
		n++;
	}
	return NULL;
}

/* Nothing lost: every mbuf of every slab in use is somewhere. */
static void check_balance(const char *when)
{
	struct jumbo_mbuf_stats st;
	REQUIRE(jumbo_mbuf_stats(&st) == 0);
	uint64_t per = st.slab_bytes / MSIZE;
	CHECK_EQ(st.in_use + st.cached_free + st.depot_free,
		 (st.slabs - st.trimmed_slabs) * per);
	CHECK_EQ(st.allocs - st.frees, st.in_use);
	CHECK_EQ(st.bytes, (st.slabs - st.trimmed_slabs) * st.slab_bytes);
	if (check_failures) {
		fprintf(stderr, "%s:\n", when);
		jumbo_mbuf_stats_print(&st, stderr);
	}
}

static uint64_t mbufs_in_use(void)
{
	struct jumbo_mbuf_stats st;
	REQUIRE(jumbo_mbuf_stats(&st) == 0);
	return st.in_use;
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "mbuf_stats");
	struct jumbo_pool_params pp;
	pthread_t w[WORKERS], r;
	uint64_t seeds[WORKERS];

	jumbo_pool_params_init(&pp);
	pp.max_pages = 1 << 16;
	pp.name = "mbuf_stats";
	REQUIRE((pool = jumbo_pool_create(&pp)));
	CHECK_EQ(jumbo_mbuf_stats(NULL), -EINVAL);
	CHECK_EQ(mbufs_in_use(), 0);

	/* One leak, seen and then mended. */
	struct mbuf *leak = m_get(M_NOWAIT, MT_DATA);
	REQUIRE(leak);
	CHECK_EQ(mbufs_in_use(), 1);
	m_free(leak);
	CHECK_EQ(mbufs_in_use(), 0);

	REQUIRE(pthread_create(&r, NULL, reader, NULL) == 0);
	for (int i = 0; i < WORKERS; i++) {
		seeds[i] = seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
		REQUIRE(pthread_create(&w[i], NULL, worker, &seeds[i]) == 0);
	}
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	pthread_join(r, NULL);

	/* The copies left behind, freed by a thread that made none. */
	CHECK(mbufs_in_use() > 0 || queue == NULL);
	for (struct mbuf *m; (m = dequeue());)
		m_freem(m);
	CHECK_EQ(mbufs_in_use(), 0);
	CHECK_EQ(ext_frees, ext_allocs);
	check_balance("after the workers");

	struct jumbo_stats ps;
	REQUIRE(jumbo_pool_stats(pool, &ps) == 0);
	CHECK_EQ(ps.in_use, 0);

	/* Trim keeps the balance. */
	CHECK(jumbo_mbuf_trim() >= 0);
	check_balance("after trim");
	CHECK_EQ(mbufs_in_use(), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("mbuf_stats");
}
