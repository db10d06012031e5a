/*
 * The udp backend: recvmmsg(2) into runs of pool pages.
 *
 * Like a NIC's receive ring, the backend keeps one buffer per batch slot,
 * built for the largest frame, and posts them all in one recvmmsg.  A
 * slot's buffer is a run (rx_run.c): ceil(max_frame / page) contiguous
 * pages (three for 9000 bytes), posted as ONE iovec, so the kernel copies
 * each datagram in one piece; the datagram is then handed out as a chain
 * of one mbuf per page it fills, page-aligned as before (jumbo_deliver
 * can move whole pages), and the slot is refilled on the next call.  The
 * run comes back to this receiver when the chain's last page is freed,
 * and the newest runs back are posted first: the kernel copies into lines
 * the consumer has just had in its cache, where pages cycled through the
 * pool land anywhere in it.  Only when the pool has no run of that many
 * contiguous pages is a slot a chain of loose pages (m_getjumbo: an
 * iovec per page, cut to the datagram), as every slot was before.
 *
 * The iovecs add up to exactly max_frame, so a longer datagram comes back
 * with MSG_TRUNC: it is counted and dropped, and its buffer stays for the
 * next one.  What the socket itself dropped (a full receive buffer) is
 * read from the socket when the counters are taken (SO_MEMINFO).  Each
 * packet header carries its sender (msg_name, unless JUMBO_RX_NOSRC: the
 * kernel's copy of it is a few percent of a small datagram's receive)
 * and the kernel's receive time (SO_TIMESTAMPNS) when JUMBO_RX_TSTAMP
 * asks for it, else the time of the receive call.
 */
#include "rx_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* A batch slot: a run, or a chain of loose pages, or (empty) neither. */
struct udp_slot {
	struct rx_run *run;
	struct mbuf *chain;
};

/*
 * The slots that hold a buffer are always slot[0..held): a call posts the
 * first of them, refilled up to what it wants, and moves what the kernel
 * left unused (and the rare buffer kept for a dropped datagram) to the
 * front again, so that neither end walks the empty slots.  Each msghdr's
 * iov, name and control pointers are its slot index's for good, set at
 * open; a call writes only what changes (the iovecs, and the lengths the
 * kernel overwrote).
 */
struct rx_udp {
	unsigned nslots;
	unsigned held;           /* slot[0..held) hold a buffer, the rest not */
	unsigned ppf;            /* pages per frame: iovecs of a chain slot */
	unsigned page_shift;     /* log2 of the pool's page size */
	struct rx_runs *runs;
	int short_of_runs;       /* the last fill found no run for a slot */
	unsigned runs_out;       /* runs made chains of in this call */
	struct udp_slot *slot;   /* nslots */
	struct mmsghdr *msg;     /* nslots */
	struct iovec *iov;       /* nslots * ppf */
	char (*ctl)[CMSG_SPACE(sizeof(struct timespec))];
	struct sockaddr_in6 *name; /* nslots: each datagram's sender */
	char sink[64];           /* drops land here when there are no pages */
};

/*
 * No pages for even one slot: receive into a small sink with MSG_TRUNC so
 * the datagrams leave the socket, and count them as "no buffer" drops, as
 * a NIC with an empty ring does.  Returns 0 or -errno.
 */
static int udp_drop(struct jumbo_rx *rx, struct rx_udp *u, int timeout_ms)
{
	struct mmsghdr mm[32];
	struct iovec iov = { u->sink, sizeof(u->sink) };
	int r;

	if (timeout_ms != 0) {
		r = _jumbo_rx_wait(rx->fd, timeout_ms);
		if (r <= 0)
			return r;
	}
	memset(mm, 0, sizeof(mm));
	for (unsigned i = 0; i < 32; i++) {
		mm[i].msg_hdr.msg_iov = &iov;
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	r = recvmmsg(rx->fd, mm, 32, MSG_DONTWAIT | MSG_TRUNC, NULL);
	RX_ADD(rx, syscalls, 1);
	if (r > 0)
		RX_ADD(rx, no_buffer, r);
	return 0;
}

/*
 * Fills the empty slots from held up to want: a run (the newest idle
 * one, else a new one), else a chain of loose pages, else none (the pool
 * is dry).  Returns how many of the first slots to post, at most want.
 */
static unsigned udp_fill(struct jumbo_rx *rx, struct rx_udp *u, unsigned want)
{
	unsigned have = u->held;

	u->short_of_runs = 0;
	for (; have < want; have++) {
		struct udp_slot *sl = &u->slot[have];

		sl->chain = NULL;
		if ((sl->run = _jumbo_rx_run_get(u->runs)))
			continue;
		u->short_of_runs = 1;
		if (!(sl->chain = m_getjumbo(rx->pool, rx->max_frame, NULL)))
			break; /* pool exhausted: receive into what there is */
	}
	u->held = have;
	return have < want ? have : want;
}

/* Slot i's buffer into its msghdr (whose pointers open has set). */
static void udp_post(struct jumbo_rx *rx, struct rx_udp *u, unsigned i)
{
	struct msghdr *mh = &u->msg[i].msg_hdr;
	struct iovec *iov = mh->msg_iov;
	unsigned k = 0;

	if (u->slot[i].run) {
		iov[0].iov_base = u->slot[i].run->addr;
		iov[0].iov_len = rx->max_frame;
		k = 1;
	}
	for (struct mbuf *m = u->slot[i].chain; m && k < u->ppf; m = m->m_next) {
		iov[k].iov_base = m->m_data;
		iov[k].iov_len = m->m_len;
		k++;
	}
	mh->msg_iovlen = k;
	/* In and out: the kernel wrote what it used in the last call. */
	if (mh->msg_name)
		mh->msg_namelen = sizeof(u->name[i]);
	if (mh->msg_control)
		mh->msg_controllen = sizeof(u->ctl[i]);
}

/*
 * After a call that took r datagrams into slot[0..r), of which kept left
 * their buffer in the slot (a datagram dropped, or copied out of a run
 * while the pool is short): what still holds a buffer moves to
 * the front, in order, so that slot[0..held) hold one again.  What lies
 * past the new held is stale, never read: udp_fill writes both fields.
 */
static void udp_compact(struct rx_udp *u, unsigned r, unsigned kept)
{
	unsigned to = 0;

	if (kept == 0) {
		/* The usual case: every datagram taken, the rest slides down. */
		to = u->held - r;
		if (r && to)
			memmove(u->slot, u->slot + r, to * sizeof(*u->slot));
		u->held = to;
		return;
	}
	for (unsigned i = 0; i < u->held; i++)
		if (u->slot[i].run || u->slot[i].chain)
			u->slot[to++] = u->slot[i];
	u->held = to;
}

/*
 * Datagram i of len (> 0) bytes as a chain, the slot emptied; NULL if
 * there was no mbuf for it (counted), the slot's buffer kept.
 */
static struct mbuf *udp_take(struct jumbo_rx *rx, struct rx_udp *u,
			     unsigned i, size_t len)
{
	struct udp_slot *sl = &u->slot[i];
	unsigned np = (unsigned)((len + rx->page_size - 1) >> u->page_shift);
	struct mbuf *m;

	if (sl->run && u->short_of_runs && np < u->ppf &&
	    (m = m_getjumbo(rx->pool, len, NULL))) {
		/*
		 * The pool is short and the frame fills fewer pages than its
		 * run: copied into pages of its own, so that a held frame
		 * holds what it needs (as the cut chains of loose pages do)
		 * and the run stays posted.
		 */
		size_t off = 0;

		for (struct mbuf *x = m; x; x = x->m_next) {
			memcpy(x->m_data, sl->run->addr + off, x->m_len);
			off += x->m_len;
		}
		RX_ADD(rx, pages, np);
		return m;
	}
	if (sl->run) {
		m = _jumbo_rx_run_chain(u->runs, sl->run, len);
		if (!m) {
			RX_ADD(rx, no_buffer, 1);
			return NULL;
		}
		sl->run = NULL;
		u->runs_out++;
		RX_ADD(rx, pages, np);
		return m;
	}
	m = sl->chain;
	sl->chain = NULL;
	RX_ADD(rx, pages, _jumbo_rx_cut(m, len));
	return m;
}

/* Sender and time of datagram i onto its packet header m. */
static void udp_info(struct rx_udp *u, unsigned i, struct mbuf *m,
		     uint64_t *now)
{
	struct msghdr *mh = &u->msg[i].msg_hdr;
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;

			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			_jumbo_rx_info(m, mh->msg_name, mh->msg_namelen,
				       (uint64_t)ts.tv_sec * 1000000000u +
					       (uint64_t)ts.tv_nsec,
				       JUMBO_RCV_TS_KERNEL);
			return;
		}
	/* No timestamp from the kernel (none asked for, or refused). */
	if (*now == 0)
		*now = _jumbo_rx_now();
	_jumbo_rx_info(m, mh->msg_name, mh->msg_namelen, *now,
		       JUMBO_RCV_TS_USER);
}

static int udp_recv(struct jumbo_rx *rx, struct mbuf **pkts, unsigned n,
		    int timeout_ms)
{
	struct rx_udp *u = rx->priv;
	unsigned want = n < u->nslots ? n : u->nslots, have, out = 0, kept = 0;
	/* Only the sender or the kernel's time need the per-datagram look. */
	int plain = !u->msg[0].msg_hdr.msg_name &&
		    !u->msg[0].msg_hdr.msg_control;
	uint64_t now = 0, bytes = 0;
	int r;

	/* Idle runs only for the empty slots: a run per slot at most. */
	_jumbo_rx_runs_reclaim(u->runs, u->nslots - u->held);
	have = udp_fill(rx, u, want);
	if (have == 0)
		return udp_drop(rx, u, timeout_ms);
	for (unsigned i = 0; i < have; i++)
		udp_post(rx, u, i);
	/* At most two tries: now, and once more after waiting. */
	for (int tries = 0; tries < 2; tries++) {
		r = recvmmsg(rx->fd, u->msg, have, MSG_DONTWAIT, NULL);
		RX_ADD(rx, syscalls, 1);
		if (r >= 0)
			break;
		if (errno == EAGAIN && tries == 0 && timeout_ms != 0) {
			r = _jumbo_rx_wait(rx->fd, timeout_ms);
			if (r <= 0)
				return r;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		/* An ICMP error queued on the socket: count it, go on. */
		if (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
		    errno == ENETUNREACH) {
			RX_ADD(rx, errors, 1);
			return 0;
		}
		return -errno;
	}
	if (plain && r > 0)
		now = _jumbo_rx_now();
	for (unsigned i = 0; i < (unsigned)r; i++) {
		struct msghdr *mh = &u->msg[i].msg_hdr;
		size_t len = u->msg[i].msg_len;
		struct mbuf *m = NULL;

		if (mh->msg_flags & MSG_TRUNC)
			/* Longer than max_frame: never delivered as whole. */
			RX_ADD(rx, truncated, 1);
		else if (len == 0)
			/* Empty: the slot's pages stay for the next one. */
			m = _jumbo_rx_empty(rx);
		else
			m = udp_take(rx, u, i, len);
		/* A slot still holding its buffer: a drop, or a copied frame. */
		kept += u->slot[i].run || u->slot[i].chain;
		if (!m)
			continue;
		if (plain) {
			/* What _jumbo_rx_info would write: no sender, our time. */
			m->m_pkthdr.rcv_tstmp = now;
			m->m_pkthdr.rcv_flags = JUMBO_RCV_TS_USER;
		} else {
			udp_info(u, i, m, &now);
		}
		pkts[out++] = m;
		bytes += len;
	}
	udp_compact(u, (unsigned)r, kept);
	_jumbo_rx_runs_out(u->runs, u->runs_out);
	u->runs_out = 0;
	RX_ADD(rx, bytes, bytes);
	RX_ADD(rx, packets, out);
	return (int)out;
}

static void udp_close(struct jumbo_rx *rx)
{
	struct rx_udp *u = rx->priv;

	if (!u)
		return;
	for (unsigned i = 0; u->slot && i < u->held; i++) {
		if (u->slot[i].run)
			_jumbo_rx_run_keep(u->runs, u->slot[i].run);
		m_freem(u->slot[i].chain);
	}
	_jumbo_rx_runs_close(u->runs);
	free(u->slot);
	free(u->msg);
	free(u->iov);
	free(u->ctl);
	free(u->name);
	free(u);
	rx->priv = NULL;
}

static const struct rx_ops udp_ops = { udp_recv, udp_close,
					_jumbo_rx_sock_drops };

int _jumbo_rx_udp_open(struct jumbo_rx *rx, const struct jumbo_rx_params *p)
{
	struct rx_udp *u;
	int e;

	e = _jumbo_rx_socket(rx, p, SOCK_DGRAM);
	if (e)
		return e;
	/* The kernel's receive time on every datagram if asked (else ours). */
	if (_jumbo_rx_kernel_tstamp(rx))
		(void)setsockopt(rx->fd, SOL_SOCKET, SO_TIMESTAMPNS,
				 &(int){ 1 }, sizeof(int));
	u = calloc(1, sizeof(*u));
	if (!u)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	rx->priv = u;
	rx->ops = &udp_ops;
	u->nslots = rx->batch;
	u->ppf = (unsigned)((rx->max_frame + rx->page_size - 1) / rx->page_size);
	if (u->ppf > IOV_MAX)
		return _jumbo_rx_fail(-EINVAL, "max_frame %zu needs %u pages, "
				      "more than IOV_MAX", rx->max_frame, u->ppf);
	u->runs = _jumbo_rx_runs_new(rx->pool, rx->page_size, u->ppf);
	u->slot = calloc(u->nslots, sizeof(*u->slot));
	u->msg = calloc(u->nslots, sizeof(*u->msg));
	u->iov = calloc((size_t)u->nslots * u->ppf, sizeof(*u->iov));
	u->ctl = calloc(u->nslots, sizeof(*u->ctl));
	u->name = calloc(u->nslots, sizeof(*u->name));
	if (!u->runs || !u->slot || !u->msg || !u->iov || !u->ctl || !u->name)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	/* A power of two, as every pool page size. */
	u->page_shift = (unsigned)__builtin_ctzl(rx->page_size);
	/* Each msghdr's pointers are its slot's for good (see rx_udp). */
	for (unsigned i = 0; i < u->nslots; i++) {
		struct msghdr *mh = &u->msg[i].msg_hdr;

		mh->msg_iov = &u->iov[(size_t)i * u->ppf];
		if (!(rx->flags & JUMBO_RX_NOSRC))
			mh->msg_name = &u->name[i];
		if (_jumbo_rx_kernel_tstamp(rx))
			mh->msg_control = u->ctl[i];
	}
	return 0;
}
