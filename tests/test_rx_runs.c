/*
 * Frames in runs of pages, and runs reused while hot:
 *
 *  - udp: in a pool whose loose pages are scattered, a datagram lands in
 *    one run of contiguous pages, still one full page-aligned mbuf per
 *    page (9000 bytes: 4096, 4096, 808), intact;
 *  - udp: a page held (jumbo_pool_hold) when its chain is freed is not
 *    written again until its last unhold (the hold defers the free, as in
 *    the pool), and every page comes back after it;
 *  - udp: chains outlive their receiver; freed after jumbo_rx_close, their
 *    runs go back to the pool;
 *  - udp: chains freed by another thread than the receiver's (the runs'
 *    return stack), every frame intact, no page lost;
 *  - udp, uring: the receiver closes while another thread frees its
 *    chains (some before, some racing the close, some after; one with a
 *    page held over the close): every run goes back to the pool exactly
 *    once, the receiver's state is freed by the last party (ASan and
 *    TSan runs check that no one touches it after), and the mbuf
 *    allocator's counts balance (chains made in one cache operation,
 *    freed in one);
 *  - udp, uring: the one chain out, nothing on the return stack, freed by
 *    another thread at a delay swept across the close: the receiver's
 *    state is freed once, after the close is done with it;
 *  - udp, uring: m_freem gives a run its pages back as one count per run
 *    (the sole holders of consecutive pages): a chain over two frames'
 *    runs, a chain whose pages are shared with a copy (m_copym: not the
 *    sole holders), a page freed alone (m_free) before the rest of its
 *    chain; every run comes back once, none early (the copy's frame is
 *    intact while the receiver reuses runs), no page lost;
 *  - uring: one frame at a time, received and freed, cycles through a
 *    couple of batches of runs, not through every run of the ring;
 *  - uring: a page held when its chain is freed is not written again while
 *    the ring cycles many times; the held page is freed by its unhold, and
 *    no page is lost.  With every run in the ring (batch 2 of 4 entries)
 *    the run's buffer id gets a fresh run at once; with batch 1 the ring
 *    needs no more and the id stays without one;
 *  - uring: in a pool with room for the ring's runs only, every run with a
 *    held page leaves the ring dry: datagrams are dropped and counted
 *    (no_buffer), the held pages stay intact, and after the unholds the
 *    ids get fresh runs, the receive is armed again and frames come in.
 *
 * Takes a seed (printed) for the scattering and the stream's sizes.
 */
#include "test_rx.h"

#include <sched.h>
#include <stdlib.h>

/* Allocates and frees pages in a shuffled order: loose pages scattered. */
static void scatter(struct jumbo_pool *pool, uint64_t seed)
{
	void *pg[256];
	unsigned n = jumbo_pool_alloc_bulk(pool, pg, 256);

	REQUIRE(n == 256);
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j;
		void *t;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		j = (unsigned)((seed >> 33) % (i + 1));
		t = pg[i];
		pg[i] = pg[j];
		pg[j] = t;
	}
	CHECK_EQ(jumbo_pool_free_bulk(pool, pg, n), 0);
}

/* The chain's pages follow each other; its shape is one mbuf per page. */
static void check_run(const struct mbuf *m, size_t len, size_t ps)
{
	size_t left = len;
	const char *first = m->m_data;
	unsigned i = 0;

	for (const struct mbuf *n = m; n; n = n->m_next, i++) {
		CHECK(n->m_flags & M_EXT);
		CHECK(n->m_data == first + (size_t)i * ps);
		CHECK(n->m_data == n->m_ext.ext_buf);
		CHECK_EQ(n->m_len, left < ps ? left : ps);
		left -= n->m_len;
	}
	CHECK_EQ(left, 0);
	CHECK_EQ(i, (len + ps - 1) / ps);
}

static void udp_one_run(uint64_t seed)
{
	static const size_t lens[] = { 9000, 5000, 100, 8192 };
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx;
	struct mbuf *pkts[4];
	size_t ps = jumbo_pool_page_size(pool);
	int fd, n;

	scatter(pool, seed);
	rx = rxt_open(JUMBO_RX_UDP, pool, 9000, 0);
	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	for (unsigned i = 0; i < 4; i++)
		rxt_send_frame(fd, lens[i], i);
	n = rxt_recv_some(rx, pkts, 4);
	CHECK_EQ(n, 4);
	for (int i = 0; i < n; i++) {
		check_run(pkts[i], lens[i], ps);
		rxt_check_frame(pkts[i], lens[i], (uint64_t)i);
	}
	printf("udp: %d frames, each in one run of pages\n", n);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void udp_hold(void)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx *rx;
	struct mbuf *pkts[1];
	static char before[4096];
	char *page;
	int fd, err;

	jumbo_rx_params_init(&p);
	p.pool = pool;
	p.batch = 1; /* one slot: the run freed last is posted next */
	rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	rxt_send_frame(fd, 9000, 1);
	REQUIRE(rxt_recv_some(rx, pkts, 1) == 1);
	page = pkts[0]->m_data;
	memcpy(before, page, sizeof(before));
	CHECK_EQ(jumbo_pool_hold(pool, page), 0);
	m_freem(pkts[0]);
	for (uint64_t i = 2; i < 50; i++) {
		rxt_send_frame(fd, 9000, i);
		REQUIRE(rxt_recv_some(rx, pkts, 1) == 1);
		CHECK(pkts[0]->m_data != page);
		rxt_check_frame(pkts[0], 9000, i);
	}
	CHECK(memcmp(before, page, sizeof(before)) == 0);
	CHECK_EQ(jumbo_pool_unhold(pool, page), 0);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(pool, page), NULL, NULL),
		 JUMBO_PG_FREE);
	printf("udp: a held page is left alone until its unhold\n");
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void udp_outlive(void)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_UDP, pool, 9000, 0);
	struct mbuf *pkts[3];
	int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM), n;

	REQUIRE(fd >= 0);
	for (unsigned i = 0; i < 3; i++)
		rxt_send_frame(fd, 9000 - i * 4000, i);
	n = rxt_recv_some(rx, pkts, 3);
	CHECK_EQ(n, 3);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK(rxt_in_use(pool) > 0);
	for (int i = 0; i < n; i++)
		rxt_check_frame(pkts[i], 9000 - (size_t)i * 4000, (uint64_t)i);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* A queue of chains from the receive thread to a consumer thread. */
struct q {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct mbuf *ent[256];
	unsigned head, tail;
	int done;
	struct rxt_seen v;
};

static void *consumer(void *arg)
{
	struct q *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->head == q->tail && !q->done)
			pthread_cond_wait(&q->cv, &q->lock);
		if (q->head == q->tail)
			break;
		struct mbuf *m = q->ent[q->head++ % 256];
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->lock);
		rxt_check(&q->v, m); /* frees it: the run goes back from here */
		/* release: the sender's window reads it. */
		__atomic_store_n(&q->v.acked, q->v.frames, __ATOMIC_RELEASE);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static void udp_threads(uint64_t seed)
{
	enum { N = 3000 };
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx *rx = rxt_open(JUMBO_RX_UDP, pool, 9000, 0);
	struct rxt_send t;
	struct jumbo_rx_stats st;
	struct mbuf *pkts[32];
	pthread_t th;
	uint64_t last = jf_now_ns(), got = 0;
	int stop = 0;
	static struct q q;

	memset(&q, 0, sizeof(q));
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.cv, NULL);
	q.v.pool = pool;
	q.v.buf = malloc(65536);
	REQUIRE(q.v.buf != NULL);
	memset(&t, 0, sizeof(t));
	t.port = jumbo_rx_port(rx);
	t.type = SOCK_DGRAM;
	t.s.min_len = JF_HDR;
	t.s.max_len = 9000;
	t.s.count = N;
	t.s.stop = &stop;
	t.s.window = 64;
	t.s.acked = &q.v.acked;
	t.s.seed = seed | 1;
	REQUIRE(pthread_create(&th, NULL, consumer, &q) == 0);
	REQUIRE(pthread_create(&t.th, NULL, rxt_send_main, &t) == 0);
	/* No deadline: see RXT_STALL_NS. */
	while (got < N) {
		int r = jumbo_rx_recv(rx, pkts, 32, 100);
		uint64_t now = jf_now_ns();
		REQUIRE(r >= 0);
		if (r > 0) {
			last = now;
		} else if (now - last > RXT_STALL_NS) {
			fprintf(stderr, "udp threads: no frame for %llu s, "
				"%llu of %u received: lost\n",
				RXT_STALL_NS / 1000000000ull,
				(unsigned long long)got, N);
			break;
		}
		pthread_mutex_lock(&q.lock);
		for (int i = 0; i < r; i++) {
			while (q.tail - q.head == 256)
				pthread_cond_wait(&q.cv, &q.lock);
			q.ent[q.tail++ % 256] = pkts[i];
		}
		pthread_cond_broadcast(&q.cv);
		pthread_mutex_unlock(&q.lock);
		got += (uint64_t)r;
	}
	/* Only the sender reads it, to end a stream given up. */
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&q.lock);
	q.done = 1;
	pthread_cond_broadcast(&q.cv);
	pthread_mutex_unlock(&q.lock);
	pthread_join(th, NULL);
	pthread_join(t.th, NULL);
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	printf("udp, freed by another thread: %llu frames, bad %llu, out of "
	       "order %llu\n", (unsigned long long)q.v.frames,
	       (unsigned long long)q.v.bad,
	       (unsigned long long)q.v.out_of_order);
	CHECK_EQ(t.s.sent, N);
	CHECK_EQ(q.v.frames, N);
	CHECK_EQ(q.v.bad, 0);
	CHECK_EQ(q.v.foreign_pages, 0);
	CHECK_EQ(q.v.out_of_order, 0);
	CHECK_EQ(st.no_buffer, 0);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	free(q.v.buf);
	pthread_mutex_destroy(&q.lock);
	pthread_cond_destroy(&q.cv);
}

/* Frees a shuffled half of the chains while the receiver closes. */
struct racer {
	struct mbuf **pkts;
	unsigned n;
	unsigned *go;  /* atomic: 1 once the main thread starts closing */
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	for (unsigned i = 0; i < r->n; i++) {
		/* The first few before the close has begun, the rest after. */
		if (i == r->n / 4)
			while (!__atomic_load_n(r->go, __ATOMIC_ACQUIRE))
				sched_yield();
		m_freem(r->pkts[i]);
	}
	return NULL;
}

static void close_race(enum jumbo_rx_backend b, uint64_t seed)
{
	enum { M = 48, ROUNDS = 40 };
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_mbuf_stats ms0, ms1;
	uint64_t x = seed | 1, pages = 0;

	REQUIRE(jumbo_mbuf_stats(&ms0) == 0);
	for (int round = 0; round < ROUNDS; round++) {
		struct jumbo_rx *rx = rxt_open(b, pool, 9000, JUMBO_RX_NOSRC);
		struct mbuf *pkts[M];
		struct racer r;
		unsigned go = 0;
		pthread_t th;
		void *held;
		int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx),
				    SOCK_DGRAM), n;

		REQUIRE(fd >= 0);
		for (unsigned i = 0; i < M; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			rxt_send_frame(fd, JF_HDR + x % (9000 - JF_HDR), i);
		}
		n = rxt_recv_some(rx, pkts, M);
		CHECK_EQ(n, M);
		close(fd);
		if (n != M)
			break;
		for (unsigned i = 0; i < M; i++)
			for (struct mbuf *m = pkts[i]; m; m = m->m_next)
				pages++;
		for (unsigned i = M - 1; i > 0; i--) {
			unsigned j;
			struct mbuf *t;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			j = (unsigned)(x % (i + 1));
			t = pkts[i], pkts[i] = pkts[j], pkts[j] = t;
		}
		/* pkts[0] stays with this thread, its first page held. */
		held = pkts[0]->m_data;
		CHECK_EQ(jumbo_pool_hold(pool, held), 0);
		r.pkts = pkts + M / 2;
		r.n = M / 2;
		r.go = &go;
		REQUIRE(pthread_create(&th, NULL, racer_main, &r) == 0);
		for (unsigned i = 1; i < M / 4; i++)
			m_freem(pkts[i]);
		/* release: the racer's frees after this see the close begun. */
		__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
		CHECK_EQ(jumbo_rx_close(rx), 0);
		for (unsigned i = M / 4; i < M / 2; i++)
			m_freem(pkts[i]);
		m_freem(pkts[0]);
		pthread_join(th, NULL);
		CHECK(rxt_in_use(pool) >= 1); /* the held page */
		CHECK_EQ(jumbo_pool_unhold(pool, held), 0);
		CHECK_EQ(rxt_in_use(pool), 0);
	}
	/* Every mbuf of every chain counted once made, once freed. */
	REQUIRE(jumbo_mbuf_stats(&ms1) == 0);
	CHECK_EQ(ms1.in_use, ms0.in_use);
	CHECK(ms1.allocs - ms0.allocs >= pages);
	CHECK_EQ(ms1.allocs - ms0.allocs, ms1.frees - ms0.frees);
	printf("%s: closed %d times while another thread freed its chains: "
	       "every page back, %llu mbufs made and freed\n",
	       jumbo_rx_backend_name(b), ROUNDS, (unsigned long long)pages);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* Frees one chain as soon as told to, after a spin of its own length. */
struct last_racer {
	struct mbuf *m;
	unsigned spin;
	unsigned *go;  /* atomic */
};

static void *last_racer_main(void *arg)
{
	struct last_racer *r = arg;

	while (!__atomic_load_n(r->go, __ATOMIC_ACQUIRE))
		;
	for (volatile unsigned i = 0; i < r->spin; i++)
		;
	m_freem(r->m);
	return NULL;
}

/*
 * The one chain out, with nothing on the return stack, freed by another
 * thread at a delay swept across the close (close_race always keeps a
 * chain out over the close): whether its free lands before or after the
 * close's mark, the receiver's state is freed once, by the last party.
 * The interleaving the close's own count guards against (the freer
 * done between the close's mark and its count, which used to free the
 * state twice) needs the closing thread preempted within a few
 * instructions; this test does not reach it on its own.
 */
static void close_last(enum jumbo_rx_backend b, uint64_t seed)
{
	enum { ROUNDS = 1000 };
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	uint64_t x = seed | 1, t0, close_ns = 0;
	double spin_ns;

	/* The delays span the close's own time, measured as it goes. */
	t0 = jf_now_ns();
	for (volatile unsigned i = 0; i < 1000000; i++)
		;
	spin_ns = (double)(jf_now_ns() - t0) / 1e6 + 1e-3;

	for (int round = 0; round < ROUNDS; round++) {
		struct jumbo_rx *rx = rxt_open(b, pool, 9000, JUMBO_RX_NOSRC);
		struct mbuf *m;
		struct last_racer r;
		unsigned go = 0;
		pthread_t th;
		int fd = jf_connect("127.0.0.1", jumbo_rx_port(rx),
				    SOCK_DGRAM);

		REQUIRE(fd >= 0);
		rxt_send_frame(fd, 9000, round);
		close(fd);
		REQUIRE(rxt_recv_some(rx, &m, 1) == 1);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		r.m = m;
		r.spin = (unsigned)(x % (uint64_t)(close_ns / spin_ns + 1));
		r.go = &go;
		REQUIRE(pthread_create(&th, NULL, last_racer_main, &r) == 0);
		/* release: nothing to order but the start. */
		__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
		t0 = jf_now_ns();
		CHECK_EQ(jumbo_rx_close(rx), 0);
		t0 = jf_now_ns() - t0;
		close_ns = close_ns ? (close_ns * 7 + t0) / 8 : t0;
		pthread_join(th, NULL);
		CHECK_EQ(rxt_in_use(pool), 0);
	}
	printf("%s: closed %d times while another thread freed the last "
	       "chain out\n", jumbo_rx_backend_name(b), ROUNDS);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return (x > y) - (x < y);
}

static void uring_hot(void)
{
	enum { FRAMES = 200, BATCH = 4 };
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx *rx;
	struct mbuf *pkts[1];
	uintptr_t first[FRAMES];
	unsigned distinct = 0;
	int fd, err;

	jumbo_rx_params_init(&p);
	p.backend = JUMBO_RX_URING;
	p.pool = pool;
	p.batch = BATCH;
	p.ring_entries = 64;
	rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	for (uint64_t i = 0; i < FRAMES; i++) {
		rxt_send_frame(fd, 9000, i);
		REQUIRE(rxt_recv_some(rx, pkts, 1) == 1);
		first[i] = (uintptr_t)pkts[0]->m_data;
		rxt_check_frame(pkts[0], 9000, i);
	}
	qsort(first, FRAMES, sizeof(first[0]), cmp_ptr);
	for (unsigned i = 0; i < FRAMES; i++)
		distinct += i == 0 || first[i] != first[i - 1];
	printf("uring: %u frames one at a time used %u of 64 runs\n", FRAMES,
	       distinct);
	/* The ring holds two batches; the run just freed joins it next. */
	CHECK(distinct <= 2 * BATCH + 1);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void uring_hold(unsigned batch)
{
	enum { ENTRIES = 4 };
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx *rx;
	struct mbuf *pkts[1];
	static char before[4096];
	uint64_t kept;
	char *page;
	int fd, err;

	jumbo_rx_params_init(&p);
	p.backend = JUMBO_RX_URING;
	p.pool = pool;
	p.batch = batch; /* the ring holds 2 * batch runs */
	p.ring_entries = ENTRIES;
	rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	kept = rxt_in_use(pool); /* the receiver's runs */
	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	rxt_send_frame(fd, 9000, 1);
	REQUIRE(rxt_recv_some(rx, pkts, 1) == 1);
	page = pkts[0]->m_data;
	memcpy(before, page, sizeof(before));
	CHECK_EQ(jumbo_pool_hold(pool, page), 0);
	m_freem(pkts[0]);
	/* Many times round a ring of ENTRIES runs. */
	for (uint64_t i = 2; i < 20 * ENTRIES; i++) {
		rxt_send_frame(fd, 9000, i);
		REQUIRE(rxt_recv_some(rx, pkts, 1) == 1);
		CHECK(pkts[0]->m_data != page);
		rxt_check_frame(pkts[0], 9000, i);
	}
	CHECK(memcmp(before, page, sizeof(before)) == 0);
	CHECK_EQ(jumbo_pool_unhold(pool, page), 0);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(pool, page), NULL, NULL),
		 JUMBO_PG_FREE);
	/* A fresh run for the id only when the ring needed every run. */
	CHECK_EQ(rxt_in_use(pool),
		 2 * batch >= ENTRIES ? kept : kept - kept / ENTRIES);
	printf("uring, batch %u: a held page is left alone until its unhold\n",
	       batch);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

static void uring_dry(void)
{
	enum { ENTRIES = 2 };
	/* 9000 bytes: a header page and 3 payload pages, 2 runs: 8 pages. */
	struct jumbo_pool *pool = rxt_pool(8, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx_stats st;
	struct jumbo_rx *rx;
	struct mbuf *pkts[1];
	static char before[ENTRIES][4096];
	char *page[ENTRIES];
	uint64_t kept;
	int fd, err;

	jumbo_rx_params_init(&p);
	p.backend = JUMBO_RX_URING;
	p.pool = pool;
	p.batch = 1;
	p.ring_entries = ENTRIES;
	rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	kept = rxt_in_use(pool);
	CHECK_EQ(kept, 8);
	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	for (unsigned i = 0; i < ENTRIES; i++) {
		rxt_send_frame(fd, 9000, i);
		REQUIRE(rxt_recv_some(rx, pkts, 1) == 1);
		page[i] = pkts[0]->m_data;
		memcpy(before[i], page[i], sizeof(before[i]));
		CHECK_EQ(jumbo_pool_hold(pool, page[i]), 0);
		rxt_check_frame(pkts[0], 9000, i); /* and frees it */
	}
	/* No run left: the pool cannot make one around the held pages. */
	rxt_send_frame(fd, 9000, 100);
	CHECK_EQ(rxt_recv_some(rx, pkts, 1), 0);
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK_EQ(st.no_buffer, 1);
	for (unsigned i = 0; i < ENTRIES; i++) {
		CHECK(memcmp(before[i], page[i], sizeof(before[i])) == 0);
		CHECK_EQ(jumbo_pool_unhold(pool, page[i]), 0);
	}
	/* The unholds' frees wait in this thread's cache; a run is made
	 * of pages in the depot. */
	jumbo_pool_flush_cache(pool);
	for (uint64_t i = 200; i < 210; i++) {
		rxt_send_frame(fd, 9000, i);
		REQUIRE(rxt_recv_some(rx, pkts, 1) == 1);
		rxt_check_frame(pkts[0], 9000, i);
	}
	CHECK_EQ(jumbo_rx_stats(rx, &st), 0);
	CHECK(st.ring_rearms >= 1);
	CHECK_EQ(rxt_in_use(pool), kept);
	printf("uring: held runs left the ring dry, %llu dropped, then "
	       "fresh runs\n", (unsigned long long)st.no_buffer);
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* Appends chain n to chain m (a test's m_cat: the packet header stays). */
static void chain_cat(struct mbuf *m, struct mbuf *n)
{
	while (m->m_next)
		m = m->m_next;
	m->m_next = n;
}

static void freem_runs(enum jumbo_rx_backend b)
{
	struct jumbo_pool *pool = rxt_pool(4096, 0);
	struct jumbo_rx_params p;
	struct jumbo_rx *rx;
	struct mbuf *pkts[4], *copy, *rest;
	int fd, err;

	/* Few runs posted, so that the one freed last is posted next. */
	jumbo_rx_params_init(&p);
	p.backend = b;
	p.pool = pool;
	p.max_frame = 9000;
	p.batch = b == JUMBO_RX_UDP ? 1 : 4; /* uring: 8 runs in the ring */
	p.ring_entries = 8;
	rx = jumbo_rx_open(&p, &err);
	REQUIRE(rx != NULL);
	fd = jf_connect("127.0.0.1", jumbo_rx_port(rx), SOCK_DGRAM);
	REQUIRE(fd >= 0);
	for (unsigned i = 0; i < 4; i++)
		rxt_send_frame(fd, 9000, i);
	REQUIRE(rxt_recv_some(rx, pkts, 4) == 4);
	copy = m_copym(pkts[2], 0, M_COPYALL, M_NOWAIT);
	REQUIRE(copy != NULL);
	/* Two runs, each of whose pages these mbufs hold alone. */
	chain_cat(pkts[0], pkts[1]);
	m_freem(pkts[0]);
	/* A page alone, then the run's other two, then shared pages. */
	chain_cat(pkts[3], pkts[2]);
	rest = m_free(pkts[3]);
	m_freem(rest);
	/* Runs come back newest first: one back early would be reused. */
	for (uint64_t i = 4; i < 40; i++) {
		struct mbuf *m[1];

		rxt_send_frame(fd, 9000, i);
		REQUIRE(rxt_recv_some(rx, m, 1) == 1);
		rxt_check_frame(m[0], 9000, i);
	}
	rxt_check_frame(copy, 9000, 2);
	printf("%s: m_freem gives runs their pages back, once each\n",
	       b == JUMBO_RX_UDP ? "udp" : "uring");
	close(fd);
	CHECK_EQ(jumbo_rx_close(rx), 0);
	CHECK_EQ(rxt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "test_rx_runs");

	udp_one_run(seed);
	udp_hold();
	udp_outlive();
	udp_threads(seed);
	close_race(JUMBO_RX_UDP, seed);
	close_last(JUMBO_RX_UDP, seed);
	freem_runs(JUMBO_RX_UDP);
	if (jumbo_rx_backend_supported(JUMBO_RX_URING)) {
		freem_runs(JUMBO_RX_URING);
		close_race(JUMBO_RX_URING, seed);
		close_last(JUMBO_RX_URING, seed);
		uring_hot();
		uring_hold(1);
		uring_hold(2);
		uring_dry();
	} else {
		printf("uring skipped: %s\n", jumbo_rx_strerror());
	}
	return check_done("rx_runs");
}
