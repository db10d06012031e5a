/*
 * The uring backend: UDP through io_uring, with a provided-buffer ring
 * whose buffers are runs of contiguous pool pages, and one multishot
 * recvmsg that keeps taking datagrams until the ring runs dry.
 *
 * This is the closest thing to ti(4)'s receive ring a process has: the
 * buffers are posted once, the kernel picks one per datagram and says which
 * (the buffer id in the completion), and a buffer comes back to the ring
 * when the program is done with it.  A buffer is a run of k pages: the
 * end of the first holds what recvmsg writes before the payload (the
 * sender's address and, if asked, the kernel's receive time), the
 * payload lies on the k - 1 = ceil(max_frame / page) pages after it, from
 * their start; a datagram longer than max_frame is counted (truncated)
 * and dropped.
 *
 * Each page of a datagram's run goes on its own mbuf with a free routine
 * (m_extadd_jumbo) that counts the run's pages back; the last one pushes
 * the run on a lock-free stack, since it may run on any thread, and the
 * receive thread puts the runs on the stack back into the ring at its next
 * call.  A run with a page still held (a zero-copy send reading it) must
 * not be written again: its pages go back to the pool, which frees the
 * held ones at their last unhold, and its buffer id gets a fresh run (a
 * ring entry carries its own address) when the ring needs it, or stays
 * out of the ring until the pool has one.  When the ring is empty the
 * kernel ends the multishot receive with ENOBUFS: counted as no_buffer,
 * and armed again when runs come back.
 *
 * Needs liburing (build) and provided-buffer rings and multishot receive
 * (Linux 6.0, run time); liburing 2.3 has no io_uring_setup_buf_ring, so
 * the ring is mapped and registered here.
 */
#include "jumbo_mbuf_rx.h"
#include "rx_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef JUMBO_HAVE_URING

int _jumbo_rx_uring_supported(void)
{
	_jumbo_rx_fail(-EOPNOTSUPP, "uring backend: libjumbo was built "
		       "without liburing (install liburing-dev and rebuild)");
	return 0;
}

int _jumbo_rx_uring_open(struct jumbo_rx *rx, const struct jumbo_rx_params *p)
{
	_jumbo_rx_uring_supported();
	return -EOPNOTSUPP;
}

#else

#include <liburing.h>
#include <sys/mman.h>

#define URING_BGID 7
#define URING_NONE (-1)
#define URING_CLOSED (-2) /* ret_head once the receiver has closed */
#define URING_RECV 1   /* user_data of the multishot receive */
#define URING_CANCEL 2 /* and of its cancel, at close */

struct rx_uring;

/*
 * One ring buffer: k contiguous pages; refs counts its pages in mbufs.
 * addr is NULL while the buffer id has no run (its last one went back to
 * the pool with a page held); the receive thread gives it a new one.
 */
struct uring_run {
	struct jumbo_mb_run mr; /* first: its mbufs' ext_args */
	char *addr;
	unsigned refs;        /* atomic */
	int next;             /* link on the return stack or the idle one */
	struct rx_uring *u;
};

/*
 * out counts the runs in chains that have not come back through
 * ret_head (the receive thread's, plain): in use a run freed costs its
 * freer one push and nothing else.  The close marks ret_head URING_CLOSED
 * and sets live to the runs still out plus 1 of its own: from then on a
 * run freed counts live down instead, and whoever brings it to 0 (the
 * close itself if nothing is out) frees the runs' pages and this struct,
 * so that chains outlive their receiver.
 */
struct rx_uring {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	unsigned entries;     /* ring size, a power of two */
	unsigned nruns;       /* runs built, at most entries */
	unsigned k;           /* pages per run: a header page, then payload */
	struct msghdr mh;     /* the recvmsg template: name and control sizes */
	unsigned hdr;         /* bytes before the payload: out, name, control */
	unsigned in_ring;     /* runs the kernel holds now */
	unsigned target;      /* runs to keep in the ring, at most nruns */
	int idle_head;        /* runs back, not in the ring: newest on top */
	int bare_head;        /* buffer ids without a run (addr NULL) */
	int armed;            /* a multishot receive is in flight */
	int ret_head;         /* atomic: stack of runs freed by consumers */
	unsigned out;         /* runs in chains, not yet back (see above) */
	unsigned live;        /* atomic: runs out after the close */
	struct jumbo_pool *pool;
	size_t page_size;
	unsigned page_shift;  /* log2(page_size): no division per frame */
	struct uring_run *run;
	char sink[64];
};

static _Thread_local int uring_ok = -1; /* cached support check */

int _jumbo_rx_uring_supported(void)
{
	struct io_uring ring;
	struct io_uring_probe *pr;
	int ok;

	if (uring_ok >= 0)
		return uring_ok;
	if (io_uring_queue_init(4, &ring, 0)) {
		_jumbo_rx_fail(-EOPNOTSUPP, "uring backend: io_uring_setup "
			       "failed (kernel without io_uring, or disabled "
			       "by kernel.io_uring_disabled or seccomp)");
		return uring_ok = 0;
	}
	/*
	 * Multishot receive came in 6.0 with IORING_OP_SEND_ZC; there is no
	 * probe for a flag, so the opcode stands for the release.
	 */
	pr = io_uring_get_probe_ring(&ring);
	ok = pr && io_uring_opcode_supported(pr, IORING_OP_SEND_ZC);
	if (pr)
		io_uring_free_probe(pr);
	io_uring_queue_exit(&ring);
	if (!ok)
		_jumbo_rx_fail(-EOPNOTSUPP, "uring backend: the kernel lacks "
			       "multishot receive with provided-buffer rings "
			       "(Linux 6.0 or later); use udp");
	return uring_ok = ok;
}

/*
 * What the kernel writes before the payload in each buffer: struct
 * io_uring_recvmsg_out, the sender's address (none with JUMBO_RX_NOSRC)
 * and the control messages; u->hdr bytes in all.
 */
#define URING_NAME sizeof(struct sockaddr_in6)
#define URING_CTL CMSG_SPACE(sizeof(struct timespec))

static void uring_destroy(struct rx_uring *u)
{
	for (unsigned i = 0; i < u->nruns; i++)
		if (u->run[i].addr)
			jumbo_pool_free_contig(u->pool, u->run[i].addr, u->k);
	free(u->run);
	free(u);
}

/* After the close: n runs out fewer; the last one frees everything. */
static void uring_unref(struct rx_uring *u, unsigned n)
{
	/* acq_rel: the last one sees every other party's writes to runs. */
	if (__atomic_sub_fetch(&u->live, n, __ATOMIC_ACQ_REL) == 0)
		uring_destroy(u);
}

/* Drops cnt pages of run r; the last one sends the run back. */
static void uring_run_put(struct uring_run *r, unsigned cnt)
{
	struct rx_uring *u = r->u;
	int bid = (int)(r - u->run), old;

	/*
	 * Whoever holds the last cnt pages is alone with the run: a load
	 * says it without a locked operation (one thread frees the whole
	 * chain).  acquire / acq_rel: the last dropper sees the other
	 * pages' users done with them.
	 */
	if (__atomic_load_n(&r->refs, __ATOMIC_ACQUIRE) != cnt &&
	    __atomic_sub_fetch(&r->refs, cnt, __ATOMIC_ACQ_REL) != 0)
		return;
	/*
	 * The header page never goes out in an mbuf, so only the payload
	 * pages can be held.  A held one goes back to the pool with the run
	 * (freed at its last unhold); the buffer id comes back bare.
	 */
	if (unlikely(!_jumbo_rx_pages_idle(u->pool, r->addr + u->page_size,
					   u->k - 1))) {
		jumbo_pool_free_contig(u->pool, r->addr, u->k);
		r->addr = NULL;
	}
	/* acquire: a closed receiver stored live before its mark. */
	old = __atomic_load_n(&u->ret_head, __ATOMIC_ACQUIRE);
	do {
		if (unlikely(old == URING_CLOSED)) {
			uring_unref(u, 1);
			return;
		}
		r->next = old;
		/*
		 * release: the receiver that pops it sees next; acquire on
		 * failure, as the load above.
		 */
	} while (!__atomic_compare_exchange_n(&u->ret_head, &old, bid, 1,
					      __ATOMIC_RELEASE,
					      __ATOMIC_ACQUIRE));
}

/* The put of every run: its pages come back from their mbufs. */
static void uring_page_put(struct jumbo_mb_run *mr, unsigned n)
{
	uring_run_put((struct uring_run *)mr, n);
}

/* Buffer id r gets the run of k pages at addr. */
static void uring_run_set(struct rx_uring *u, struct uring_run *r, char *addr)
{
	r->addr = addr;
}

/*
 * A run's buffer starts u->hdr bytes before the end of its first page,
 * so that the header ends where the second page begins and the payload
 * lies on whole pages from their start, as on the other backends (and
 * jumbo_deliver can move them).
 */
static void uring_add(struct rx_uring *u, int bid, int off)
{
	io_uring_buf_ring_add(u->br, u->run[bid].addr + u->page_size - u->hdr,
			      (unsigned)(u->hdr + (u->k - 1) * u->page_size),
			      (unsigned short)bid,
			      io_uring_buf_ring_mask(u->entries), off);
}

/*
 * Takes back the runs consumers gave back, newest on top of the idle
 * ones, and tops the ring up to its target from the top.  The kernel
 * takes buffers in ring order, so a ring holding every run would cycle
 * through all of them, each cold by the time it came round again (at
 * 9000 bytes 256 runs are 4 MiB); a ring kept at a couple of batches,
 * refilled with the runs just freed, writes into memory still in the
 * cache.  The socket's buffer, not the ring, absorbs a burst: a ring
 * that runs dry only ends the multishot receive (ENOBUFS), which the
 * next call arms again.
 */
static void uring_reclaim(struct rx_uring *u)
{
	/* acquire: pairs with the release of the pushes. */
	int top = __atomic_exchange_n(&u->ret_head, URING_NONE,
				      __ATOMIC_ACQUIRE);
	int n = 0, *tail = &top;

	/* Bare ids (rare) aside; the runs, in order, on top of the idle. */
	while (*tail != URING_NONE) {
		int bid = *tail;
		struct uring_run *r = &u->run[bid];

		u->out--;
		if (likely(r->addr)) {
			tail = &r->next;
			continue;
		}
		*tail = r->next;
		r->next = u->bare_head;
		u->bare_head = bid;
	}
	*tail = u->idle_head;
	u->idle_head = top;
	while (u->in_ring + (unsigned)n < u->target &&
	       u->idle_head != URING_NONE) {
		int bid = u->idle_head;

		u->idle_head = u->run[bid].next;
		uring_add(u, bid, n++);
	}
	/*
	 * Still short: bare ids get fresh runs from the pool.  One it cannot
	 * give stays bare until a later call; meanwhile the ring holds fewer
	 * runs, and once empty ends the receive (ENOBUFS, no_buffer), armed
	 * again when a run is back.
	 */
	while (u->in_ring + (unsigned)n < u->target &&
	       u->bare_head != URING_NONE) {
		int bid = u->bare_head;
		char *a = jumbo_pool_alloc_contig(u->pool, u->k);

		if (!a)
			break;
		u->bare_head = u->run[bid].next;
		uring_run_set(u, &u->run[bid], a);
		uring_add(u, bid, n++);
	}
	if (n) {
		io_uring_buf_ring_advance(u->br, n);
		u->in_ring += (unsigned)n;
	}
}

static int uring_arm(struct jumbo_rx *rx, struct rx_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	int r;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, rx->fd, &u->mh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data64(sqe, URING_RECV);
	r = io_uring_submit(&u->ring);
	if (r < 0)
		return r;
	u->armed = 1;
	return 0;
}

/* A datagram of len bytes in run bid: its chain, or NULL (counted). */
static struct mbuf *uring_chain(struct jumbo_rx *rx, struct rx_uring *u,
				int bid, size_t len)
{
	struct uring_run *r = &u->run[bid];
	unsigned np = (unsigned)((len + u->page_size - 1) >> u->page_shift);
	struct mbuf *m;

	/*
	 * The run is this thread's until the chain leaves the receive call:
	 * a plain store of its count.  The chain is made whole or not at
	 * all, so no page can be dropped before it is.
	 */
	__atomic_store_n(&r->refs, np, __ATOMIC_RELAXED);
	u->out++;
	m = _jumbo_mb_page_chain(u->pool, r->addr + u->page_size,
				 u->page_shift, len, &r->mr);
	if (!m) {
		/* No mbufs: the run goes back, the datagram is dropped. */
		uring_run_put(r, np);
		RX_ADD(rx, no_buffer, 1);
		return NULL;
	}
	RX_ADD(rx, pages, np);
	return m;
}

/*
 * A completion with run bid: its datagram as a chain, or NULL (counted:
 * truncated, no mbuf, or a completion too short to hold the header).  The
 * sender and the kernel's time go into the packet header; a run that
 * becomes no chain goes straight back to the ring (its refs are 0).
 */
static struct mbuf *uring_datagram(struct jumbo_rx *rx, struct rx_uring *u,
				   int bid, int res, uint64_t *now)
{
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(
		u->run[bid].addr + u->page_size - u->hdr, res, &u->mh);
	struct mbuf *m = NULL;
	struct cmsghdr *c;
	uint64_t ts = 0;
	size_t len;

	if (!o || (o->flags & MSG_TRUNC) ||
	    (size_t)res - u->hdr > rx->max_frame) {
		if (o)
			RX_ADD(rx, truncated, 1);
		else
			RX_ADD(rx, errors, 1);
		goto back;
	}
	len = (size_t)res - u->hdr;
	for (c = io_uring_recvmsg_cmsg_firsthdr(o, &u->mh); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, &u->mh, c))
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec t;

			memcpy(&t, CMSG_DATA(c), sizeof(t));
			ts = (uint64_t)t.tv_sec * 1000000000u +
			     (uint64_t)t.tv_nsec;
		}
	if (len == 0) {
		m = _jumbo_rx_empty(rx);
	} else {
		u->in_ring--;
		m = uring_chain(rx, u, bid, len);
		if (m)
			RX_ADD(rx, bytes, len);
	}
	if (m) {
		if (!ts && *now == 0)
			*now = _jumbo_rx_now();
		_jumbo_rx_info(m, u->mh.msg_namelen ? io_uring_recvmsg_name(o)
						     : NULL,
			       o->namelen < u->mh.msg_namelen ? o->namelen
							      : u->mh.msg_namelen,
			       ts ? ts : *now,
			       ts ? JUMBO_RCV_TS_KERNEL : JUMBO_RCV_TS_USER);
	}
	if (len > 0)
		return m; /* the chain holds the run (or gave it back) */
back:
	uring_add(u, bid, 0);
	io_uring_buf_ring_advance(u->br, 1);
	return m;
}

/* No buffers and no receive armed: drain the socket and count drops. */
static int uring_drop(struct jumbo_rx *rx, struct rx_uring *u, int timeout_ms)
{
	int r, cnt = 0;

	if (timeout_ms != 0) {
		r = _jumbo_rx_wait(rx->fd, timeout_ms);
		if (r <= 0)
			return r;
	}
	while (cnt < 64 && recv(rx->fd, u->sink, sizeof(u->sink),
				MSG_DONTWAIT | MSG_TRUNC) >= 0)
		cnt++;
	RX_ADD(rx, syscalls, cnt + 1);
	RX_ADD(rx, no_buffer, cnt);
	return 0;
}

static int uring_recv(struct jumbo_rx *rx, struct mbuf **pkts, unsigned n,
		      int timeout_ms)
{
	struct rx_uring *u = rx->priv;
	struct io_uring_cqe *cqe;
	unsigned out = 0;
	uint64_t now = 0;
	int r;

	uring_reclaim(u);
	if (!u->armed && u->in_ring) {
		r = uring_arm(rx, u);
		if (r)
			return r;
		RX_ADD(rx, ring_rearms, 1);
	}
	if (!u->armed)
		return uring_drop(rx, u, timeout_ms);
	if (io_uring_peek_cqe(&u->ring, &cqe) != 0) {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ms / 1000,
			.tv_nsec = (long long)(timeout_ms % 1000) * 1000000
		};
		if (timeout_ms == 0)
			return 0;
		RX_ADD(rx, syscalls, 1);
		r = io_uring_wait_cqe_timeout(&u->ring, &cqe,
					      timeout_ms < 0 ? NULL : &ts);
		if (r == -ETIME || r == -EINTR || r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
	}
	while (out < n && io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		int res = cqe->res;
		unsigned fl = cqe->flags;

		io_uring_cqe_seen(&u->ring, cqe);
		if (!(fl & IORING_CQE_F_MORE))
			u->armed = 0;
		if (fl & IORING_CQE_F_BUFFER) {
			int bid = (int)(fl >> IORING_CQE_BUFFER_SHIFT);
			struct mbuf *m = uring_datagram(rx, u, bid, res,
							&now);

			if (m)
				pkts[out++] = m;
			continue;
		}
		/*
		 * -ENOBUFS: the ring ran dry and the receive ended; the
		 * datagram is still in the socket, and is counted when
		 * uring_drop takes it (or received once runs come back).
		 */
		if (res < 0 && res != -ENOBUFS)
			RX_ADD(rx, errors, 1);
		if (res == -EINVAL && !rx->st.packets)
			return _jumbo_rx_fail(-EOPNOTSUPP, "uring backend: "
					      "the kernel refused multishot "
					      "receive");
	}
	RX_ADD(rx, packets, out);
	return (int)out;
}

/*
 * Ends the armed multishot receive and reaps every completion it still
 * posts, the last one (without F_MORE) included.  Until then the request
 * holds the socket: io_uring_queue_exit alone leaves it to a kernel worker
 * that runs later, and the port stays bound for a while after close.
 * Datagrams in those completions are dropped with the receiver.
 */
static void uring_cancel(struct jumbo_rx *rx, struct rx_uring *u)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int cancel_done = 0;

	if (!u->armed)
		return;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel_fd(sqe, rx->fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, URING_CANCEL);
	if (io_uring_submit(&u->ring) < 0)
		return;
	/* A cancel always completes at once; the bound is for a broken
	 * kernel only, never a wait for traffic. */
	while ((u->armed || !cancel_done) &&
	       io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts) == 0) {
		if (cqe->user_data == URING_CANCEL)
			cancel_done = 1;
		else if (!(cqe->flags & IORING_CQE_F_MORE))
			u->armed = 0;
		io_uring_cqe_seen(&u->ring, cqe);
	}
}

static void uring_close(struct jumbo_rx *rx)
{
	struct rx_uring *u = rx->priv;

	if (!u)
		return;
	/*
	 * End the receive first, so that no datagram can be written into a
	 * run once the ring goes away; jumbo_rx_close then closes the socket,
	 * which nothing in the kernel holds any more.
	 */
	if (u->ring.ring_fd >= 0) {
		uring_cancel(rx, u);
		io_uring_queue_exit(&u->ring);
	}
	if (u->br)
		munmap(u->br, u->br_bytes);
	rx->priv = NULL;
	/*
	 * From here the runs still out count live down, the last one
	 * freeing everything.  live is set first to every run out, those
	 * already back on the stack included, plus 1 for this close, so
	 * that no freer can free u while the close still reads it (with
	 * nothing on the stack, the last freer would otherwise reach 0
	 * between the exchange and this thread's decrement).  release on
	 * the exchange: a freer that finds the mark sees live.  acquire:
	 * the runs pushed until now, which are back.
	 */
	__atomic_store_n(&u->live, u->out + 1, __ATOMIC_RELAXED);
	int top = __atomic_exchange_n(&u->ret_head, URING_CLOSED,
				      __ATOMIC_ACQ_REL);
	unsigned back = 0;

	for (; top != URING_NONE; top = u->run[top].next)
		back++;
	uring_unref(u, back + 1);
}

/* Builds up to u->entries runs of k contiguous pages from the pool. */
static int uring_runs(struct rx_uring *u)
{
	while (u->nruns < u->entries) {
		char *a = jumbo_pool_alloc_contig(u->pool, u->k);
		if (!a)
			break;
		u->run[u->nruns].mr.put = uring_page_put;
		u->run[u->nruns].u = u;
		uring_run_set(u, &u->run[u->nruns], a);
		u->nruns++;
	}
	return u->nruns ? 0 : -ENOMEM;
}

static const struct rx_ops uring_ops = { uring_recv, uring_close,
					  _jumbo_rx_sock_drops };

int _jumbo_rx_uring_open(struct jumbo_rx *rx, const struct jumbo_rx_params *p)
{
	struct io_uring_buf_reg reg;
	struct rx_uring *u;
	unsigned ent = 1;
	int e;

	if (!_jumbo_rx_uring_supported())
		return -EOPNOTSUPP;
	e = _jumbo_rx_socket(rx, p, SOCK_DGRAM);
	if (e)
		return e;
	/* The kernel's receive time with every datagram if asked (else ours). */
	if (_jumbo_rx_kernel_tstamp(rx))
		(void)setsockopt(rx->fd, SOL_SOCKET, SO_TIMESTAMPNS,
				 &(int){ 1 }, sizeof(int));
	while (ent < rx->ring_entries)
		ent <<= 1;
	u = calloc(1, sizeof(*u));
	if (!u)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	u->ring.ring_fd = -1;
	u->ret_head = URING_NONE;
	u->idle_head = URING_NONE;
	u->bare_head = URING_NONE;
	u->entries = ent;
	u->pool = rx->pool;
	u->page_size = rx->page_size;
	/* A power of two, as every pool page size. */
	u->page_shift = (unsigned)__builtin_ctzl(rx->page_size);
	/* A header page, then max_frame on whole pages (MSG_TRUNC says when
	 * a datagram was longer). */
	u->k = 1 + (unsigned)((rx->max_frame + rx->page_size - 1) / rx->page_size);
	/* The sender's room only if asked: the kernel copies what fits. */
	u->mh.msg_namelen = rx->flags & JUMBO_RX_NOSRC ? 0 : URING_NAME;
	u->mh.msg_controllen = URING_CTL;
	u->hdr = (unsigned)(sizeof(struct io_uring_recvmsg_out) +
			    u->mh.msg_namelen + u->mh.msg_controllen);
	rx->priv = u;
	rx->ops = &uring_ops;
	u->run = calloc(ent, sizeof(*u->run));
	if (!u->run)
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	/*
	 * The completion queue holds a completion per datagram: as many as
	 * the ring has buffers, so that a full ring cannot overflow it (an
	 * overflow would end the multishot receive).
	 */
	struct io_uring_params up;

	memset(&up, 0, sizeof(up));
	up.flags = IORING_SETUP_CQSIZE;
	up.cq_entries = ent < 128 ? 128 : ent;
	e = io_uring_queue_init_params(64, &u->ring, &up);
	if (e) {
		u->ring.ring_fd = -1;
		return _jumbo_rx_fail(e, "io_uring_queue_init: %s",
				      strerror(-e));
	}
	if (uring_runs(u))
		return _jumbo_rx_fail(-ENOMEM, "uring backend: the pool has "
				      "no run of %u contiguous pages", u->k);
	u->br_bytes = (ent * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
	u->br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE,
		     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (u->br == MAP_FAILED) {
		u->br = NULL;
		return _jumbo_rx_fail(-ENOMEM, "out of memory");
	}
	io_uring_buf_ring_init(u->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)u->br;
	reg.ring_entries = ent;
	reg.bgid = URING_BGID;
	e = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (e)
		return _jumbo_rx_fail(e == -EINVAL ? -EOPNOTSUPP : e,
				      "uring backend: registering the buffer "
				      "ring failed: %s (provided-buffer rings "
				      "need Linux 5.19)", strerror(-e));
	/* Every run idle, then as many in the ring as its target. */
	for (unsigned i = u->nruns; i-- > 0;) {
		u->run[i].next = u->idle_head;
		u->idle_head = (int)i;
	}
	u->target = 2 * rx->batch < u->nruns ? 2 * rx->batch : u->nruns;
	uring_reclaim(u);
	return 0;
}

#endif
