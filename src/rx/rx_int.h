/*
 * Internals of the receive backends (rx*.c).  Installed headers never
 * include this.
 */
#ifndef JUMBO_RX_INT_H
#define JUMBO_RX_INT_H

#include <jumbo/mbuf.h>
#include <jumbo/rx.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "jumbo_common.h"
#include "jumbo_mbuf_rx.h"
#include "jumbo_pool_layer.h"

#define RX_MAX_BATCH 1024u
#define RX_MAX_RING 32768u
#define RX_MAX_FRAME_STREAM ((size_t)16 << 20)
#define RX_MAX_FRAME_DGRAM ((size_t)65535)
#define RX_TCP_MAX_IOV 1024u /* iovecs of one tcp readv */

struct jumbo_rx;

/* What each backend provides; open has filled the common part first. */
struct rx_ops {
	int (*recv)(struct jumbo_rx *rx, struct mbuf **pkts, unsigned n,
		    int timeout_ms);
	void (*close)(struct jumbo_rx *rx);
	/* NULL, or puts the counters the kernel keeps into a snapshot (any
	 * thread, so that the receive path makes no system call for them). */
	void (*stats)(struct jumbo_rx *rx, struct jumbo_rx_stats *st);
};

/*
 * A receiver.  One thread calls recv (the receive thread, as one interrupt
 * handler ran ti(4)'s ring); any thread may read the counters, so they are
 * written with relaxed atomic stores by that one writer (RX_ADD) and read
 * with relaxed loads: each counter is exact, a snapshot across counters is
 * not atomic (netstat's isn't either).
 */
struct jumbo_rx {
	const struct rx_ops *ops;
	enum jumbo_rx_backend backend;
	int fd;                 /* udp/uring: the socket; tcp: the listener */
	uint16_t port;
	size_t max_frame;
	unsigned batch;
	unsigned ring_entries;
	unsigned flags;
	struct jumbo_pool *pool;
	size_t page_size;       /* the pool's page size, in bytes */
	struct jumbo_rx_stats st;
	void *priv;             /* the backend's state */
};

#define RX_ADD(rx, field, n)                                                 \
	__atomic_store_n(&(rx)->st.field,                                    \
			 __atomic_load_n(&(rx)->st.field, __ATOMIC_RELAXED) + \
				 (uint64_t)(n),                              \
			 __ATOMIC_RELAXED)

/* Records why an open failed, for jumbo_rx_strerror; returns err. */
JUMBO_HIDDEN int _jumbo_rx_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Makes a nonblocking socket of type bound to p->addr:p->port with the
 * receive buffer asked for; fills rx->fd, rx->port, rx->family.  0 or
 * -errno (the reason recorded).
 */
JUMBO_HIDDEN int _jumbo_rx_socket(struct jumbo_rx *rx,
			       const struct jumbo_rx_params *p, int type);

/*
 * stats op of the socket backends: sets st->kernel_drops to what the
 * kernel dropped at rx->fd so far (SO_MEMINFO's SK_MEMINFO_DROPS).
 */
JUMBO_HIDDEN void _jumbo_rx_sock_drops(struct jumbo_rx *rx,
				    struct jumbo_rx_stats *st);

/* Waits until fd is readable: 1, 0 on timeout, or -errno (EINTR: 0). */
JUMBO_HIDDEN int _jumbo_rx_wait(int fd, int timeout_ms);

/*
 * Cuts the chain m (built for the maximum frame) to len bytes: m_len of the
 * mbufs that hold data, the rest freed (their pages back to the pool).
 * len 0 keeps one empty mbuf.  Returns the pages kept.
 */
JUMBO_HIDDEN unsigned _jumbo_rx_cut(struct mbuf *m, size_t len);

/* Whether the receiver asks the kernel for each datagram's time. */
static inline int _jumbo_rx_kernel_tstamp(const struct jumbo_rx *rx)
{
	return (rx->flags & (JUMBO_RX_TSTAMP | JUMBO_RX_NOTSTAMP)) ==
	       JUMBO_RX_TSTAMP;
}

/* Now, for rcv_tstmp: ns since the epoch (a vDSO call, once per batch). */
static inline uint64_t _jumbo_rx_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sets the packet's source (a sockaddr of len bytes, or NULL) and time. */
static inline void _jumbo_rx_info(struct mbuf *m, const void *src,
				  socklen_t len, uint64_t tstmp,
				  uint32_t flags)
{
	m->m_pkthdr.rcv_tstmp = tstmp;
	m->m_pkthdr.rcv_flags = flags;
	if (src && len) {
		if (len > sizeof(m->m_pkthdr.rcv_src))
			len = sizeof(m->m_pkthdr.rcv_src);
		memcpy(&m->m_pkthdr.rcv_src, src, len);
	}
}

/*
 * The chain of an empty datagram: one packet-header mbuf, no page, m_len
 * 0 (the same on every backend).  NULL when there is no mbuf: counted as a
 * no_buffer drop.
 */
JUMBO_HIDDEN struct mbuf *_jumbo_rx_empty(struct jumbo_rx *rx);

/*
 * A backend's batch slots (NULL while empty): moves the chains still in
 * slot[0..nslots) to the front and fills the rest up to want with chains
 * of size bytes from the pool, fewer when it runs dry.  Returns how many
 * of the first slots to post, at most want.
 */
JUMBO_HIDDEN unsigned _jumbo_rx_slots(struct jumbo_rx *rx, struct mbuf **slot,
				   unsigned nslots, unsigned want, size_t size);

/*
 * Runs (rx_run.c): buffers of k contiguous pool pages, one per frame,
 * posted whole and handed out as one mbuf per page; a run comes back to
 * its receiver, not to the pool, when the last of its pages is freed
 * (on any thread), and is reused newest first.
 */
struct rx_runs;

/*
 * Whether the n pages of a run from addr, whose mbufs are all freed, may
 * be posted again: each plain allocated.  A page held by its last user
 * (jumbo_pool_hold before the free: a zero-copy send still reading it, or
 * a program that hands pages to other processes) is still in use; the
 * pool defers its free to the last unhold, and so must the receiver: the
 * run goes back to the pool instead.  udp's and uring's runs both ask,
 * with one pass over the pages' state words (the pool layer's
 * _jumbo_pool_pages_idle), not a call per page.
 */
static inline int _jumbo_rx_pages_idle(struct jumbo_pool *pool,
				       const char *addr, unsigned n)
{
	return _jumbo_pool_pages_idle(pool, addr, n);
}

struct rx_run {
	struct jumbo_mb_run mr; /* first: its mbufs' ext_args (run_put) */
	char *addr;           /* k contiguous pages of the pool; NULL once
				 freed with a page held (gone to the pool) */
	unsigned refs;        /* atomic: its pages in mbufs, while out */
	struct rx_run *next;  /* on the idle list or the return stack */
	struct rx_runs *rs;
};

/*
 * idle, nidle and out are the receive thread's; ret is pushed by whichever
 * thread frees a run's last page.  out counts the runs in chains that
 * have not come back through ret: a run is out from _jumbo_rx_runs_out
 * until reclaim takes it off ret, so in use a freed run costs its freer
 * one push and nothing else.  The close marks ret RUNS_CLOSED and sets
 * live to the runs still out plus 1 of its own: from then on a run freed
 * releases itself to the pool and counts live down, and whoever brings
 * it to 0 (the close itself if nothing is out) frees this, so that chains
 * outlive their receiver.
 */
struct rx_runs {
	struct jumbo_pool *pool;
	size_t page_size;
	unsigned page_shift;  /* log2(page_size) */
	unsigned k;           /* pages per run */
	struct rx_run *idle;  /* newest first */
	unsigned nidle;
	unsigned out;         /* runs in chains, not yet back (see above) */
	struct rx_run *ret;   /* atomic: runs given back, newest on top;
				 RUNS_CLOSED once the receiver closed */
	unsigned live;        /* atomic: runs out after the close */
};

#define RUNS_CLOSED ((struct rx_run *)(uintptr_t)1)

/* NULL (no memory) or a receiver's runs of k pages each; none made yet. */
JUMBO_HIDDEN struct rx_runs *_jumbo_rx_runs_new(struct jumbo_pool *pool,
						size_t page_size, unsigned k);
/*
 * Receive thread: takes back the runs given back since the last call,
 * newest first, and keeps at most keep idle (the oldest of the rest go
 * back to the pool).
 */
JUMBO_HIDDEN void _jumbo_rx_runs_reclaim(struct rx_runs *rs, unsigned keep);
/* Receive thread: the newest idle run, else a new one; NULL if none. */
JUMBO_HIDDEN struct rx_run *_jumbo_rx_run_get(struct rx_runs *rs);
/* Receive thread: an unused run back on the idle list. */
JUMBO_HIDDEN void _jumbo_rx_run_keep(struct rx_runs *rs, struct rx_run *r);
/*
 * Receive thread: the frame of len bytes (> 0) at the start of run r as a
 * packet-header chain of one mbuf per page; the run is out until every
 * page is freed.  NULL when there are no mbufs: r is still the caller's.
 * The caller counts the runs it made chains of with _jumbo_rx_runs_out
 * before the chains leave the receive call.
 */
JUMBO_HIDDEN struct mbuf *_jumbo_rx_run_chain(struct rx_runs *rs,
					      struct rx_run *r, size_t len);
/* Receive thread: n runs went out in chains (a plain count). */
JUMBO_HIDDEN void _jumbo_rx_runs_out(struct rx_runs *rs, unsigned n);
/* The receiver closes: idle runs go back now, runs out when freed. */
JUMBO_HIDDEN void _jumbo_rx_runs_close(struct rx_runs *rs);

JUMBO_HIDDEN int _jumbo_rx_udp_open(struct jumbo_rx *rx,
				 const struct jumbo_rx_params *p);
JUMBO_HIDDEN int _jumbo_rx_tcp_open(struct jumbo_rx *rx,
				 const struct jumbo_rx_params *p);
JUMBO_HIDDEN int _jumbo_rx_uring_open(struct jumbo_rx *rx,
				   const struct jumbo_rx_params *p);
JUMBO_HIDDEN int _jumbo_rx_uring_supported(void);
JUMBO_HIDDEN int _jumbo_rx_xdp_open(struct jumbo_rx *rx,
				 const struct jumbo_rx_params *p);
JUMBO_HIDDEN int _jumbo_rx_xdp_supported(void);
/* Receive queues of ifname an AF_XDP socket may bind; 0: not known. */
JUMBO_HIDDEN unsigned _jumbo_rx_xdp_queues(const char *ifname);

#endif
