/*
 * The tcp send backend: a stream of test frames from pool pages arrives
 * whole and in order, with zero copy and without; back-pressure from a
 * receiver that does not read (the send takes what fits and says so, or
 * drops the rest with JUMBO_TX_DROP, and nothing is queued beyond one
 * partly sent frame); a peer killed with SIGKILL mid-stream (the send
 * says -ECONNRESET or -EPIPE, counts it, and no page is lost); and a
 * close that cannot wait long enough (-EBUSY, the pages stay held).
 */
#include "test_tx.h"

#include <signal.h>

#define FRAME 8972

static void stream(unsigned flags, const char *what)
{
	struct jumbo_pool *pool = txt_pool(4096, JUMBO_POOL_DEBUG);
	unsigned port, nframes = 3000, got = 0;
	int lfd = txt_listen(SOCK_STREAM, &port, 0), cfd;
	struct jumbo_tx *tx = txt_open(JUMBO_TX_TCP, port, flags);
	struct jumbo_tx_stats st;
	static char buf[FRAME];
	pid_t pid;

	cfd = accept(lfd, NULL, NULL);
	REQUIRE(cfd >= 0);
	/* The reader, in a child: it checks every frame, exits 0 if all
	 * were right. */
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		for (unsigned i = 0; i < nframes; i++) {
			uint64_t seq;
			if (txt_read_all(cfd, buf, FRAME) ||
			    jf_check(buf, FRAME, &seq) || seq != i)
				_exit(1);
		}
		_exit(0);
	}
	close(cfd);
	for (unsigned sent = 0; sent < nframes;) {
		struct mbuf *pk[16];
		unsigned k = 0;
		int r;

		while (k < 16 && sent + k < nframes) {
			pk[k] = txt_frame(pool, FRAME, sent + k);
			REQUIRE(pk[k] != NULL);
			k++;
		}
		r = jumbo_tx_send(tx, pk, k, JUMBO_TX_WAIT);
		REQUIRE(r > 0);
		for (unsigned i = (unsigned)r; i < k; i++)
			m_freem(pk[i]);
		sent += (unsigned)r;
	}
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	got = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	CHECK(got);
	printf("%s: %llu frames, %llu bytes, zc_sends %llu, copied %llu, "
	       "full %llu\n", what, (unsigned long long)st.packets,
	       (unsigned long long)st.bytes, (unsigned long long)st.zc_sends,
	       (unsigned long long)st.zc_copied, (unsigned long long)st.full);
	CHECK_EQ(st.packets, nframes);
	CHECK_EQ(st.bytes, (uint64_t)nframes * FRAME);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(txt_in_use(pool), 0);
	close(lfd);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* A receiver that never reads: the send must stop taking, not queue. */
static void backpressure(void)
{
	struct jumbo_pool *pool = txt_pool(8192, JUMBO_POOL_DEBUG);
	unsigned port, taken = 0, dropped_here = 0;
	int lfd = txt_listen(SOCK_STREAM, &port, 65536), cfd;
	struct jumbo_tx_params p;
	struct jumbo_tx_stats st;
	struct jumbo_tx *tx;
	int r;

	jumbo_tx_params_init(&p);
	p.backend = JUMBO_TX_TCP;
	p.port = (uint16_t)port;
	p.sndbuf = 256 << 10;
	p.wait_ms = 200;
	p.flags = JUMBO_TX_ZC_ALWAYS | JUMBO_TX_NOFORCE;
	tx = jumbo_tx_open(&p, NULL);
	REQUIRE(tx != NULL);
	cfd = accept(lfd, NULL, NULL);
	REQUIRE(cfd >= 0);
	/* Without a flag: takes what fits, then 0, the chain stays ours. */
	for (int i = 0; i < 1000; i++) {
		struct mbuf *m = txt_frame(pool, FRAME, (uint64_t)i);
		REQUIRE(m != NULL);
		r = jumbo_tx_send(tx, &m, 1, 0);
		if (r == 0) {
			CHECK(m->m_type == MT_DATA); /* still ours */
			m_freem(m);
			break;
		}
		taken++;
	}
	CHECK(taken < 1000);
	/* WAIT bounded by wait_ms: once the window is shut too, it
	 * returns 0 after waiting, the chain still ours. */
	for (int i = 0; i < 1000; i++) {
		struct mbuf *m = txt_frame(pool, FRAME, 0);
		REQUIRE(m != NULL);
		r = jumbo_tx_send(tx, &m, 1, JUMBO_TX_WAIT);
		if (r == 0) {
			m_freem(m);
			break;
		}
		taken++;
	}
	CHECK_EQ(r, 0);
	/* DROP: every chain taken, the ones without room dropped. */
	for (int i = 0; i < 20; i++) {
		struct mbuf *m = txt_frame(pool, FRAME, (uint64_t)i);
		CHECK_EQ(jumbo_tx_send(tx, &m, 1, JUMBO_TX_DROP), 1);
		dropped_here++;
	}
	jumbo_tx_stats(tx, &st);
	printf("backpressure: %u taken, full %llu, dropped %llu, held %llu\n",
	       taken, (unsigned long long)st.full,
	       (unsigned long long)st.dropped,
	       (unsigned long long)st.pages_held);
	CHECK(st.full > 0);
	CHECK_EQ(st.dropped, dropped_here);
	/* Only frames the socket took are kept (held, or the one partly
	 * sent, or kept until the sends before them complete): the dropped
	 * and refused ones are back in the pool. */
	CHECK(txt_in_use(pool) <= 3 * (uint64_t)taken);
	CHECK(st.pages_held <= 3 * (uint64_t)taken);
	/* Reader gone without reading: the stream is reset. */
	close(cfd);
	r = jumbo_tx_close(tx, &st);
	CHECK(r == 0 || r == -EBUSY);
	printf("after reset: close %d, held %llu, in use %llu\n", r,
	       (unsigned long long)st.pages_held,
	       (unsigned long long)txt_in_use(pool));
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(txt_in_use(pool), 0);
	close(lfd);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/* The peer killed mid-stream with unread data: a reset. */
static void killed_peer(void)
{
	struct jumbo_pool *pool = txt_pool(4096, JUMBO_POOL_DEBUG);
	unsigned port;
	int lfd = txt_listen(SOCK_STREAM, &port, 0), r = 0, status;
	struct jumbo_tx *tx = txt_open(JUMBO_TX_TCP, port, JUMBO_TX_ZC_ALWAYS);
	struct jumbo_tx_stats st;
	pid_t pid = fork();

	REQUIRE(pid >= 0);
	if (pid == 0) {
		int cfd = accept(lfd, NULL, NULL);
		char b[4096];
		while (cfd >= 0 && read(cfd, b, sizeof(b)) > 0)
			usleep(100); /* a slow reader */
		_exit(0);
	}
	close(lfd);
	for (int i = 0; i < 200000; i++) {
		struct mbuf *m = txt_frame(pool, FRAME, (uint64_t)i);
		REQUIRE(m != NULL);
		if (i == 20)
			kill(pid, SIGKILL);
		r = jumbo_tx_send(tx, &m, 1, JUMBO_TX_WAIT);
		if (r != 1) {
			m_freem(m);
			if (r < 0)
				break;
		}
	}
	waitpid(pid, &status, 0);
	printf("killed peer: send said %d (%s)\n", r, strerror(-r));
	CHECK(r == -ECONNRESET || r == -EPIPE);
	/* Every later send says so too. */
	{
		struct mbuf *m = txt_frame(pool, FRAME, 0);
		CHECK_EQ(jumbo_tx_send(tx, &m, 1, JUMBO_TX_WAIT), r);
		m_freem(m);
	}
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	CHECK_EQ(st.resets, 1);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(txt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
}

/*
 * Closing with sends whose completion does not come in time (a receiver
 * that holds the window shut): close waits close_wait_ms, says -EBUSY,
 * and the pages stay held for good, so the pool's destroy refuses.
 */
/* A chain of more pieces than one call carries (IOV_MAX): dropped and
 * counted, not sent in a loop that never ends. */
static void fragmented(void)
{
	struct jumbo_pool *pool = txt_pool(4096, JUMBO_POOL_DEBUG);
	unsigned port;
	int lfd = txt_listen(SOCK_STREAM, &port, 0), cfd;
	struct jumbo_tx *tx = txt_open(JUMBO_TX_TCP, port, 0);
	struct jumbo_tx_stats st;
	struct mbuf *m = m_getjumbo(pool, (size_t)1100 * 4096, NULL);

	REQUIRE(m != NULL);
	cfd = accept(lfd, NULL, NULL);
	REQUIRE(cfd >= 0);
	CHECK_EQ(jumbo_tx_send(tx, &m, 1, JUMBO_TX_WAIT), 1);
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	CHECK_EQ(st.errors, 1);
	CHECK_EQ(st.dropped, 1);
	CHECK_EQ(txt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	close(cfd);
	close(lfd);
}

static struct jumbo_pool *busy_pool; /* kept: still reachable at exit */

static void close_busy(void)
{
	struct jumbo_pool *pool = txt_pool(4096, JUMBO_POOL_DEBUG);
	unsigned port;
	int lfd = txt_listen(SOCK_STREAM, &port, 65536), cfd;
	struct jumbo_tx_params p;
	struct jumbo_tx_stats st;
	struct jumbo_tx *tx;

	jumbo_tx_params_init(&p);
	p.backend = JUMBO_TX_TCP;
	p.port = (uint16_t)port;
	p.sndbuf = 256 << 10;
	p.close_wait_ms = 200;
	p.flags = JUMBO_TX_ZC_ALWAYS | JUMBO_TX_NOFORCE;
	tx = jumbo_tx_open(&p, NULL);
	REQUIRE(tx != NULL);
	cfd = accept(lfd, NULL, NULL);
	REQUIRE(cfd >= 0);
	for (int i = 0; i < 1000; i++) {
		struct mbuf *m = txt_frame(pool, FRAME, (uint64_t)i);
		REQUIRE(m != NULL);
		if (jumbo_tx_send(tx, &m, 1, 0) == 0) {
			m_freem(m);
			break;
		}
	}
	CHECK_EQ(jumbo_tx_close(tx, &st), -EBUSY);
	printf("close with the window shut: %llu pages still held\n",
	       (unsigned long long)st.pages_held);
	CHECK(st.pages_held > 0);
	CHECK(txt_in_use(pool) >= st.pages_held);
	CHECK_EQ(jumbo_pool_destroy(pool), -EBUSY);
	/* The pool stays: the kernel may still read its pages. */
	busy_pool = pool;
	close(cfd);
	close(lfd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	stream(JUMBO_TX_ZC_ALWAYS, "zero copy");
	stream(JUMBO_TX_COPY, "copy");
	backpressure();
	killed_peer();
	fragmented();
	close_busy();
	return check_failures ? 1 : 0;
}
