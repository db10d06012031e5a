/*
 * A page is not reused before the kernel is done with it.  A tcp sender
 * with MSG_ZEROCOPY to a receiver that does not read: what the receiver's
 * window does not take stays in the sender's socket, read from the pool
 * pages, after the chains were freed.  Those pages must be held: the test
 * then takes every free page of the pool (a debug pool, which poisons a
 * page when it is freed) and scribbles over it, lets the receiver read,
 * and checks every frame.  A page freed early would have been poisoned and
 * scribbled on while the kernel still had to send it.
 */
#include "test_tx.h"

#define POOL_PAGES 1024
#define FRAME 8972

int main(void)
{
	struct jumbo_pool *pool = txt_pool(POOL_PAGES, JUMBO_POOL_DEBUG);
	static void *pages[POOL_PAGES * 4], *grab[POOL_PAGES];
	static char buf[FRAME];
	struct jumbo_tx_params p;
	struct jumbo_tx_stats st;
	struct jumbo_tx *tx;
	unsigned port, npages = 0, held = 0, ngrab = 0, frames = 0;
	int lfd = txt_listen(SOCK_STREAM, &port, 65536), cfd, err = 0;

	jumbo_tx_params_init(&p);
	p.backend = JUMBO_TX_TCP;
	p.port = (uint16_t)port;
	p.sndbuf = 256 << 10;
	p.flags = JUMBO_TX_ZC_ALWAYS | JUMBO_TX_NOFORCE;
	tx = jumbo_tx_open(&p, &err);
	if (!tx)
		fprintf(stderr, "open: %s\n", jumbo_tx_strerror());
	REQUIRE(tx != NULL);
	cfd = accept(lfd, NULL, NULL);
	REQUIRE(cfd >= 0);

	/* Send until the socket is full; remember every page sent. */
	for (;;) {
		struct mbuf *m = txt_frame(pool, FRAME, frames);
		int r;

		REQUIRE(m != NULL);
		for (struct mbuf *n = m; n; n = n->m_next)
			pages[npages++] = n->m_ext.ext_buf;
		r = jumbo_tx_send(tx, &m, 1, 0);
		if (r == 0) {
			npages -= 3;
			m_freem(m);
			break;
		}
		REQUIRE(r == 1);
		frames++;
		REQUIRE(npages + 8 < POOL_PAGES * 4);
	}
	jumbo_tx_stats(tx, &st);
	/* Every page of the pool: the held ones, and only sent ones. */
	for (size_t i = 0; i < POOL_PAGES; i++) {
		void *a = jumbo_pool_iova_to_addr(pool, i * JUMBO_PAGE_4K);
		unsigned h = 0;
		int pending = 0, sent = 0;

		if (jumbo_page_state(jumbo_pool_page(pool, a), &h, &pending) !=
		    JUMBO_PG_HELD)
			continue;
		for (unsigned k = 0; k < npages && !sent; k++)
			sent = pages[k] == a;
		CHECK(sent);
		CHECK(pending); /* freed with its chain, waiting */
		held++;
	}
	printf("%u frames in flight, %u pages held (stats: %llu)\n", frames,
	       held, (unsigned long long)st.pages_held);
	CHECK(held > 0);
	CHECK_EQ(held, st.pages_held);

	/* Everything else the pool has, scribbled on (in use: the held
	 * pages and those of a frame the socket took only part of). */
	uint64_t in_use = txt_in_use(pool);
	CHECK(in_use >= held);
	while (ngrab < POOL_PAGES && (grab[ngrab] = jumbo_pool_alloc(pool))) {
		vm_page_t pg = jumbo_pool_page(pool, grab[ngrab]);
		CHECK(jumbo_page_state(pg, NULL, NULL) == JUMBO_PG_ALLOC);
		memset(grab[ngrab], 0xab, jumbo_pool_page_size(pool));
		ngrab++;
	}
	CHECK_EQ(ngrab + in_use, POOL_PAGES);
	for (unsigned i = 0; i < ngrab; i++)
		CHECK_EQ(jumbo_pool_free(pool, grab[i]), 0);

	/* Now the receiver reads, and every frame must be intact. */
	for (unsigned i = 0; i < frames; i++) {
		uint64_t seq;
		if (jumbo_tx_complete(tx, 0) < 0)
			break;
		REQUIRE(txt_read_all(cfd, buf, FRAME) == 0);
		if (jf_check(buf, FRAME, &seq) || seq != i) {
			fprintf(stderr, "frame %u damaged\n", i);
			check_failures++;
			break;
		}
	}
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(txt_in_use(pool), 0);
	close(cfd);
	close(lfd);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_failures ? 1 : 0;
}
