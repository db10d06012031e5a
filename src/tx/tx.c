/*
 * The send interface: parameters, dispatch to a backend, counters, and the
 * bookkeeping of zero-copy sends that every backend shares: which pages are
 * held for which send, and their release when the kernel says it is done.
 */
#include "tx_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TX_MAX_BATCH 1024u
#define TX_MAX_INFLIGHT 65536u

static _Thread_local char tx_errbuf[256];

int _jumbo_tx_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tx_errbuf, sizeof(tx_errbuf), fmt, ap);
	va_end(ap);
	return err;
}

JUMBO_API const char *jumbo_tx_strerror(void)
{
	return tx_errbuf[0] ? tx_errbuf : "no error";
}

JUMBO_API void jumbo_tx_params_init(struct jumbo_tx_params *p)
{
	memset(p, 0, sizeof(*p));
	p->backend = JUMBO_TX_DEFAULT;
	p->addr = "127.0.0.1";
	p->batch = 32;
	p->max_inflight = 1024;
	p->sndbuf = 4 << 20;
	p->wait_ms = 1000;
	p->close_wait_ms = 2000;
}

static const char *const tx_names[] = {
	[JUMBO_TX_DEFAULT] = "default",
	[JUMBO_TX_UDP] = "udp",
	[JUMBO_TX_TCP] = "tcp",
	[JUMBO_TX_URING] = "uring",
	[JUMBO_TX_XDP] = "xdp",
};

JUMBO_API const char *jumbo_tx_backend_name(enum jumbo_tx_backend b)
{
	if ((unsigned)b >= sizeof(tx_names) / sizeof(tx_names[0]))
		return "unknown";
	return tx_names[b];
}

JUMBO_API int jumbo_tx_backend_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(tx_names) / sizeof(tx_names[0]); i++)
		if (strcmp(name, tx_names[i]) == 0)
			return (int)i;
	if (strcmp(name, "io_uring") == 0)
		return JUMBO_TX_URING;
	return -EINVAL;
}

JUMBO_API int jumbo_tx_backend_supported(enum jumbo_tx_backend b)
{
	switch (b) {
	case JUMBO_TX_DEFAULT:
	case JUMBO_TX_UDP:
	case JUMBO_TX_TCP:
		return 1;
	case JUMBO_TX_URING:
		return _jumbo_tx_uring_supported();
	case JUMBO_TX_XDP:
		return _jumbo_tx_xdp_supported();
	}
	_jumbo_tx_fail(-EINVAL, "unknown backend %d", (int)b);
	return 0;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t c = 1;

	while (c < n)
		c <<= 1;
	return c;
}

JUMBO_API struct jumbo_tx *jumbo_tx_open(const struct jumbo_tx_params *p,
					 int *err)
{
	struct jumbo_tx *tx = NULL;
	int e;

	tx_errbuf[0] = 0;
	if (!p || (unsigned)p->backend > JUMBO_TX_XDP ||
	    (p->port == 0 && p->backend != JUMBO_TX_XDP) ||
	    p->batch > TX_MAX_BATCH || p->max_inflight > TX_MAX_INFLIGHT ||
	    p->sndbuf < 0 || p->wait_ms < -1 || p->close_wait_ms < 0) {
		e = _jumbo_tx_fail(-EINVAL, "bad parameter: backend, port 0, "
				   "batch over %u, max_inflight over %u, or a "
				   "negative size or time", TX_MAX_BATCH,
				   TX_MAX_INFLIGHT);
		goto fail;
	}
	tx = calloc(1, sizeof(*tx));
	if (!tx) {
		e = _jumbo_tx_fail(-ENOMEM, "out of memory");
		goto fail;
	}
	tx->fd = -1;
	tx->backend = p->backend == JUMBO_TX_DEFAULT ? JUMBO_TX_UDP
						     : p->backend;
	tx->batch = p->batch ? p->batch : 32;
	tx->flags = p->flags;
	tx->wait_ms = p->wait_ms ? p->wait_ms : 1000;
	tx->close_wait_ms = p->close_wait_ms ? p->close_wait_ms : 2000;
	tx->zc = !(p->flags & JUMBO_TX_COPY);
	tx->rec_cap = pow2_at_least(p->max_inflight ? p->max_inflight : 1024);
	/* Room for every send in flight to be a full batch of 9000-byte
	 * frames in 4 KiB pages; a fuller ring is back-pressure. */
	tx->pg_cap = pow2_at_least(tx->rec_cap * 4 > tx->batch * 16
					   ? tx->rec_cap * 4 : tx->batch * 16);
	tx->rec = calloc(tx->rec_cap, sizeof(*tx->rec));
	tx->pg = calloc(tx->pg_cap, sizeof(*tx->pg));
	if (!tx->rec || !tx->pg) {
		e = _jumbo_tx_fail(-ENOMEM, "out of memory");
		goto fail;
	}
	switch (tx->backend) {
	case JUMBO_TX_URING: e = _jumbo_tx_uring_open(tx, p); break;
	case JUMBO_TX_XDP: e = _jumbo_tx_xdp_open(tx, p); break;
	default: e = _jumbo_tx_sock_open(tx, p); break;
	}
	if (e)
		goto fail;
	return tx;
fail:
	if (tx) {
		if (tx->ops)
			tx->ops->close(tx);
		if (tx->fd >= 0)
			close(tx->fd);
		free(tx->rec);
		free(tx->pg);
		free(tx);
	}
	if (err)
		*err = e;
	errno = -e;
	return NULL;
}

JUMBO_API int jumbo_tx_send(struct jumbo_tx *tx, struct mbuf **pkts,
			    unsigned n, unsigned flags)
{
	if (!tx || (!pkts && n) || (flags & ~(JUMBO_TX_WAIT | JUMBO_TX_DROP)))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!pkts[i] || !(pkts[i]->m_flags & M_PKTHDR))
			return -EINVAL;
	if (n == 0)
		return 0;
	return tx->ops->send(tx, pkts, n, flags);
}

JUMBO_API int jumbo_tx_complete(struct jumbo_tx *tx, int timeout_ms)
{
	if (!tx || timeout_ms < -1)
		return -EINVAL;
	return tx->ops->complete(tx, timeout_ms);
}

JUMBO_API int jumbo_tx_stats(struct jumbo_tx *tx, struct jumbo_tx_stats *st)
{
	const uint64_t *src;
	uint64_t *dst;

	if (!tx || !st)
		return -EINVAL;
	/* Field by field: the struct is all uint64_t counters. */
	src = (const uint64_t *)&tx->st;
	dst = (uint64_t *)st;
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	return 0;
}

JUMBO_API int jumbo_tx_fd(const struct jumbo_tx *tx)
{
	return tx ? tx->fd : -1;
}

JUMBO_API enum jumbo_tx_backend jumbo_tx_backend_of(const struct jumbo_tx *tx)
{
	return tx ? tx->backend : JUMBO_TX_DEFAULT;
}

JUMBO_API int jumbo_tx_close(struct jumbo_tx *tx, struct jumbo_tx_stats *final)
{
	uint64_t deadline;
	int r = 0;

	if (!tx)
		return -EINVAL;
	deadline = _jumbo_tx_deadline(tx->close_wait_ms);
	while (tx->rec_tail != tx->rec_head) {
		int left = _jumbo_tx_left(deadline);
		if (left == 0 || tx->ops->complete(tx, left) < 0)
			break;
	}
	tx->ops->close(tx);
	if (tx->rec_tail != tx->rec_head) {
		/*
		 * The kernel may still read these pages: they stay held and
		 * the kept chains stay allocated, for good.  Reusing them
		 * would put other data on the wire; the pool's destroy
		 * reports them.
		 */
		r = -EBUSY;
	}
	if (final)
		jumbo_tx_stats(tx, final);
	if (tx->fd >= 0)
		close(tx->fd);
	free(tx->rec);
	free(tx->pg);
	free(tx);
	return r;
}

/* ---- zero-copy bookkeeping ----------------------------------------------- */

uint64_t _jumbo_tx_deadline(int ms)
{
	if (ms < 0)
		return UINT64_MAX;
	return _jumbo_clock_ns(false) + (uint64_t)ms * 1000000u;
}

int _jumbo_tx_left(uint64_t deadline_ns)
{
	uint64_t now;

	if (deadline_ns == UINT64_MAX)
		return -1;
	now = _jumbo_clock_ns(false);
	if (now >= deadline_ns)
		return 0;
	return (int)((deadline_ns - now + 999999) / 1000000);
}

size_t _jumbo_tx_pages(const struct mbuf *m)
{
	size_t n = 0;

	for (; m; m = m->m_next)
		n += m->m_len != 0;
	return n;
}

static void tx_gauges(struct jumbo_tx *tx)
{
	TX_SET(tx, inflight, tx->rec_tail - tx->rec_head);
	TX_SET(tx, pages_held, tx->pg_tail - tx->pg_head);
}

void _jumbo_tx_rec_open(struct jumbo_tx *tx, uint32_t id, bool zc)
{
	struct tx_rec *r = &tx->rec[tx->rec_tail++ & (tx->rec_cap - 1)];

	r->id = id;
	r->npages = 0;
	r->keep = NULL;
	r->done = false;
	r->zc = zc;
	if (zc)
		TX_ADD(tx, zc_sends, 1);
	tx_gauges(tx);
}

void _jumbo_tx_rec_add(struct jumbo_tx *tx, struct mbuf *m)
{
	struct tx_rec *r = &tx->rec[(tx->rec_tail - 1) & (tx->rec_cap - 1)];
	struct mbuf *n;

	for (n = m; n; n = n->m_next)
		if (n->m_len && !tx_holdable(n))
			break;
	if (n) {
		/* Some storage frees itself its own way: keep the mbufs. */
		m->m_nextpkt = r->keep;
		r->keep = m;
		return;
	}
	for (n = m; n; n = n->m_next) {
		struct tx_page *p;

		if (!n->m_len)
			continue;
		p = &tx->pg[tx->pg_tail & (tx->pg_cap - 1)];
		p->pool = n->m_ext.ext_pool;
		p->page = n->m_ext.ext_buf;
		/*
		 * Taken while this mbuf still references the page, so the
		 * page cannot be free: only -EOVERFLOW (65535 holds) can
		 * fail, and then the chain is kept whole instead.
		 */
		if (jumbo_pool_hold(p->pool, p->page)) {
			/* Undo this chain's holds; keep it whole instead. */
			for (struct mbuf *k = m; k != n; k = k->m_next) {
				if (!k->m_len)
					continue;
				p = &tx->pg[--tx->pg_tail & (tx->pg_cap - 1)];
				(void)jumbo_pool_unhold(p->pool, p->page);
				r->npages--;
			}
			m->m_nextpkt = r->keep;
			r->keep = m;
			return;
		}
		tx->pg_tail++;
		r->npages++;
	}
	/* The pages' frees now wait for the unholds. */
	m_freem(m);
	tx_gauges(tx);
}

void _jumbo_tx_retire(struct jumbo_tx *tx, struct mbuf *m)
{
	struct tx_rec *r;

	if (tx->rec_tail == tx->rec_head) {
		m_freem(m);
		return;
	}
	r = &tx->rec[(tx->rec_tail - 1) & (tx->rec_cap - 1)];
	m->m_nextpkt = r->keep;
	r->keep = m;
}

/* Releases the done records at the head of the FIFO. */
static void tx_release(struct jumbo_tx *tx)
{
	while (tx->rec_head != tx->rec_tail) {
		struct tx_rec *r = &tx->rec[tx->rec_head & (tx->rec_cap - 1)];

		if (!r->done)
			break;
		for (uint32_t i = 0; i < r->npages; i++) {
			struct tx_page *p = &tx->pg[tx->pg_head++ &
						    (tx->pg_cap - 1)];
			/* The last unhold completes the page's free. */
			(void)jumbo_pool_unhold(p->pool, p->page);
		}
		while (r->keep) {
			struct mbuf *m = r->keep;
			r->keep = m->m_nextpkt;
			m->m_nextpkt = NULL;
			m_freem(m);
		}
		tx->rec_head++;
	}
	tx_gauges(tx);
}

/* Marks the k-th record from the head done; 1 if it was a zero-copy one
 * not done before. */
static unsigned tx_mark(struct jumbo_tx *tx, uint32_t k, unsigned *marked)
{
	struct tx_rec *r = &tx->rec[(tx->rec_head + k) & (tx->rec_cap - 1)];

	if (r->done)
		return 0;
	r->done = true;
	(*marked)++;
	return r->zc;
}

unsigned _jumbo_tx_done(struct jumbo_tx *tx, uint32_t lo, uint32_t hi,
			bool copied)
{
	uint32_t first, count;
	unsigned marked = 0, zc = 0;

	if (tx->rec_head == tx->rec_tail)
		return 0;
	first = tx->rec[tx->rec_head & (tx->rec_cap - 1)].id;
	count = tx->rec_tail - tx->rec_head;
	/*
	 * Ids are consecutive in the FIFO: the record of id is at head +
	 * (id - first); ids outside the window are not ours.  Walk the
	 * shorter of the range and the window.
	 */
	if (hi - lo < count) {
		for (uint32_t id = lo;; id++) {
			if (id - first < count)
				zc += tx_mark(tx, id - first, &marked);
			if (id == hi)
				break;
		}
	} else {
		for (uint32_t k = 0; k < count; k++)
			if (first + k - lo <= hi - lo)
				zc += tx_mark(tx, k, &marked);
	}
	TX_ADD(tx, zc_done, zc);
	if (copied)
		TX_ADD(tx, zc_copied, zc);
	tx_release(tx);
	/*
	 * Every completion so far says the kernel copied (loopback, veth,
	 * a device without scatter-gather): zero copy then costs the page
	 * pinning and the notifications on top of the copy.  Give it up.
	 */
	if (tx->zc && !(tx->flags & JUMBO_TX_ZC_ALWAYS) &&
	    tx->st.zc_done >= 256 && tx->st.zc_copied == tx->st.zc_done) {
		tx->zc = false;
		TX_SET(tx, zc_off, 1);
	}
	return marked;
}
