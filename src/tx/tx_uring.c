/*
 * The uring backend: one datagram per chain through io_uring, as
 * IORING_OP_SENDMSG_ZC (kernel 6.1; the copy report needs 6.2), or plain
 * IORING_OP_SENDMSG where the kernel lacks it (a probe decides at open).
 *
 * Every send, zero copy or not, may run after io_uring_submit returns (the
 * kernel queues it when the socket is full), so every send is a record
 * (tx.c) whose pages stay held until its last CQE: the result CQE for a
 * plain send, the notification CQE (IORING_CQE_F_NOTIF) that follows a
 * zero-copy one whose result had IORING_CQE_F_MORE.  The record's id is
 * the CQE's user_data, and picks the slot that keeps its msghdr and
 * iovecs alive until then.  Packets are counted from the result CQEs, so
 * a send the kernel failed (ECONNREFUSED...) counts as dropped.
 */
#include "tx_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef JUMBO_HAVE_URING

int _jumbo_tx_uring_supported(void)
{
	_jumbo_tx_fail(-EOPNOTSUPP, "the uring backend needs liburing at "
		       "build time");
	return 0;
}

int _jumbo_tx_uring_open(struct jumbo_tx *tx, const struct jumbo_tx_params *p)
{
	return _jumbo_tx_fail(-EOPNOTSUPP, "the uring backend needs liburing "
			      "at build time");
}

#else

#include <liburing.h>

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

#define UR_IOV 32 /* pieces of one chain */

struct ur_slot {
	struct msghdr mh;
	struct iovec iov[UR_IOV];
};

struct tx_uring {
	struct io_uring ring;
	bool ring_ok;
	bool have_zc;         /* the kernel has SENDMSG_ZC */
	uint32_t next_id;
	unsigned unsubmitted; /* SQEs prepared, not yet submitted */
	struct ur_slot *slot; /* rec_cap, by id */
};

/* 1 if the kernel has op, 0 if not, -errno if io_uring cannot start. */
static int ur_probe(int op, char *why, size_t len)
{
	struct io_uring ring;
	struct io_uring_probe *pr;
	int r = io_uring_queue_init(2, &ring, 0), have;

	if (r) {
		snprintf(why, len, "io_uring_setup: %s", strerror(-r));
		return r;
	}
	pr = io_uring_get_probe_ring(&ring);
	have = pr && io_uring_opcode_supported(pr, op);
	if (pr)
		io_uring_free_probe(pr);
	io_uring_queue_exit(&ring);
	return have;
}

int _jumbo_tx_uring_supported(void)
{
	char why[128];
	int r = ur_probe(IORING_OP_SENDMSG, why, sizeof(why));

	if (r < 0)
		_jumbo_tx_fail(r, "uring: %s", why);
	else if (r == 0)
		_jumbo_tx_fail(-EOPNOTSUPP, "uring: the kernel has no "
			       "IORING_OP_SENDMSG (5.3 or later needed)");
	return r > 0;
}

static void ur_result(struct jumbo_tx *tx, const struct io_uring_cqe *c)
{
	int e = -c->res;

	if (c->res >= 0) {
		TX_ADD(tx, packets, 1);
		TX_ADD(tx, bytes, (uint64_t)c->res);
		return;
	}
	TX_ADD(tx, dropped, 1);
	if (e == ECONNREFUSED)
		TX_ADD(tx, refused, 1);
	else if (e == EHOSTUNREACH || e == ENETUNREACH || e == ENETDOWN ||
		 e == EHOSTDOWN || e == EADDRNOTAVAIL)
		TX_ADD(tx, unreachable, 1);
	else
		TX_ADD(tx, errors, 1);
}

/* Takes every CQE there is, without a system call; sends completed. */
static int ur_reap(struct jumbo_tx *tx)
{
	struct tx_uring *u = tx->priv;
	struct io_uring_cqe *c;
	unsigned head, seen = 0;
	int done = 0;

	io_uring_for_each_cqe(&u->ring, head, c) {
		uint32_t id = (uint32_t)c->user_data;

		seen++;
		if (c->flags & IORING_CQE_F_NOTIF) {
			done += (int)_jumbo_tx_done(
				tx, id, id,
				(uint32_t)c->res & IORING_NOTIF_USAGE_ZC_COPIED);
			continue;
		}
		ur_result(tx, c);
		/* No notification follows: the kernel is done already. */
		if (!(c->flags & IORING_CQE_F_MORE))
			done += (int)_jumbo_tx_done(tx, id, id, false);
	}
	io_uring_cq_advance(&u->ring, seen);
	return done;
}

static int ur_submit(struct jumbo_tx *tx)
{
	struct tx_uring *u = tx->priv;
	int r;

	if (!u->unsubmitted)
		return 0;
	r = io_uring_submit(&u->ring);
	TX_ADD(tx, syscalls, 1);
	if (r < 0)
		return r;
	u->unsubmitted -= (unsigned)r < u->unsubmitted ? (unsigned)r
						       : u->unsubmitted;
	return 0;
}

/* Waits up to ms for a CQE (submitting what is prepared); 0 or -errno. */
static int ur_wait(struct jumbo_tx *tx, int ms)
{
	struct tx_uring *u = tx->priv;
	struct __kernel_timespec ts = { ms / 1000, (long long)(ms % 1000) * 1000000 };
	struct io_uring_cqe *c;
	int r;

	r = ur_submit(tx);
	if (r < 0)
		return r;
	r = io_uring_wait_cqe_timeout(&u->ring, &c, ms < 0 ? NULL : &ts);
	TX_ADD(tx, syscalls, 1);
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN)
		return r;
	return 0;
}

static int ur_send(struct jumbo_tx *tx, struct mbuf **pkts, unsigned n,
		   unsigned flags)
{
	struct tx_uring *u = tx->priv;
	uint64_t deadline = 0;
	unsigned taken = 0;
	int err = 0;

	(void)ur_reap(tx);
	while (taken < n) {
		struct mbuf *m = pkts[taken];
		size_t np = _jumbo_tx_pages(m);
		struct io_uring_sqe *sqe = NULL;
		struct ur_slot *sl;
		bool zc;
		int k = 0;

		if (np > UR_IOV) {
			/* More pieces than a slot carries. */
			TX_ADD(tx, errors, 1);
			TX_ADD(tx, dropped, 1);
			m_freem(m);
			taken++;
			continue;
		}
		if (tx_room(tx, np))
			sqe = io_uring_get_sqe(&u->ring);
		if (!sqe) {
			TX_ADD(tx, full, 1);
			if ((err = ur_submit(tx)) < 0)
				break;
			if (ur_reap(tx) > 0)
				continue;
			if (!(flags & JUMBO_TX_WAIT))
				break;
			if (!deadline)
				deadline = _jumbo_tx_deadline(tx->wait_ms);
			if (_jumbo_tx_left(deadline) == 0)
				break;
			if ((err = ur_wait(tx, _jumbo_tx_left(deadline))) < 0)
				break;
			(void)ur_reap(tx);
			continue;
		}
		sl = &u->slot[u->next_id & (tx->rec_cap - 1)];
		for (struct mbuf *p = m; p; p = p->m_next) {
			if (!p->m_len)
				continue;
			sl->iov[k].iov_base = p->m_data;
			sl->iov[k++].iov_len = p->m_len;
		}
		memset(&sl->mh, 0, sizeof(sl->mh));
		sl->mh.msg_iov = sl->iov;
		sl->mh.msg_iovlen = (size_t)k;
		zc = tx->zc && u->have_zc && m->m_pkthdr.len > 0;
		if (zc) {
			io_uring_prep_sendmsg_zc(sqe, tx->fd, &sl->mh,
						 MSG_NOSIGNAL);
			sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
		} else {
			io_uring_prep_sendmsg(sqe, tx->fd, &sl->mh, MSG_NOSIGNAL);
		}
		io_uring_sqe_set_data64(sqe, (uint64_t)u->next_id);
		_jumbo_tx_rec_open(tx, u->next_id++, zc);
		/* Holds the pages and frees the mbufs: the iovecs point
		 * into held pages from here on. */
		_jumbo_tx_rec_add(tx, m);
		u->unsubmitted++;
		taken++;
	}
	if (ur_submit(tx) < 0 && !err)
		err = -EIO;
	if (taken < n && (flags & JUMBO_TX_DROP)) {
		while (taken < n) {
			TX_ADD(tx, dropped, 1);
			m_freem(pkts[taken++]);
		}
	}
	return taken ? (int)taken : err;
}

static int ur_complete(struct jumbo_tx *tx, int timeout_ms)
{
	uint64_t deadline = _jumbo_tx_deadline(timeout_ms);
	int got, r;

	if ((r = ur_submit(tx)) < 0)
		return r;
	got = ur_reap(tx);
	while (got == 0 && tx->rec_head != tx->rec_tail) {
		int left = _jumbo_tx_left(deadline);
		if (left == 0)
			break;
		if ((r = ur_wait(tx, left)) < 0)
			return r;
		got = ur_reap(tx);
	}
	return got;
}

static void ur_close(struct jumbo_tx *tx)
{
	struct tx_uring *u = tx->priv;

	if (!u)
		return;
	if (u->ring_ok)
		io_uring_queue_exit(&u->ring);
	/*
	 * Sends still outstanding keep their pages held (jumbo_tx_close);
	 * their slots go, which is safe once the ring is gone: the kernel
	 * copied each msghdr when it took the request.
	 */
	free(u->slot);
	free(u);
	tx->priv = NULL;
}

static const struct tx_ops uring_ops = { ur_send, ur_complete, ur_close };

int _jumbo_tx_uring_open(struct jumbo_tx *tx, const struct jumbo_tx_params *p)
{
	struct io_uring_params ip;
	struct tx_uring *u;
	char why[128];
	int e, have;

	have = ur_probe(IORING_OP_SENDMSG_ZC, why, sizeof(why));
	if (have < 0)
		return _jumbo_tx_fail(have, "uring: %s", why);
	e = _jumbo_tx_socket(tx, p, SOCK_DGRAM);
	if (e)
		return e;
	u = calloc(1, sizeof(*u));
	if (!u)
		return _jumbo_tx_fail(-ENOMEM, "out of memory");
	tx->priv = u;
	tx->ops = &uring_ops;
	u->have_zc = have > 0;
	u->slot = calloc(tx->rec_cap, sizeof(*u->slot));
	if (!u->slot)
		return _jumbo_tx_fail(-ENOMEM, "out of memory");
	memset(&ip, 0, sizeof(ip));
	/* Two CQEs per zero-copy send in flight, at most (clamped to the
	 * kernel's limit: the CQ overflow list takes any excess). */
	ip.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
	ip.cq_entries = 2 * tx->rec_cap;
	e = io_uring_queue_init_params(tx->rec_cap < 4096 ? tx->rec_cap : 4096,
				       &u->ring, &ip);
	if (e)
		return _jumbo_tx_fail(e, "io_uring_queue_init: %s",
				      strerror(-e));
	u->ring_ok = true;
	return 0;
}

#endif
