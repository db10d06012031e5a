/*
 * Internals of the send backends (tx*.c).  Installed headers never include
 * this.
 */
#ifndef JUMBO_TX_INT_H
#define JUMBO_TX_INT_H

#include <jumbo/mbuf.h>
#include <jumbo/tx.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "jumbo_common.h"

struct jumbo_tx;

struct tx_ops {
	int (*send)(struct jumbo_tx *tx, struct mbuf **pkts, unsigned n,
		    unsigned flags);
	/* Reaps what has completed; waits up to timeout_ms for the first
	 * while sends are outstanding.  Sends completed, or -errno. */
	int (*complete)(struct jumbo_tx *tx, int timeout_ms);
	void (*close)(struct jumbo_tx *tx);
};

/*
 * One zero-copy send awaiting its completion: the kernel may still read
 * the npages pages it held (the next npages of the page ring after those
 * of the records before it) and the chains on keep (linked by m_nextpkt).
 * Records sit in a FIFO in the order of their ids, which the kernel gives
 * out one per successful send call; a record is released only when it and
 * all before it are done, so a chain put on the newest record outlives
 * every send made so far.
 */
struct tx_rec {
	uint32_t id;
	uint32_t npages;
	struct mbuf *keep;
	bool done;
	bool zc;       /* counted in zc_sends: the kernel reads after the call */
};

/* A held page and its pool. */
struct tx_page {
	struct jumbo_pool *pool;
	void *page;
};

/*
 * A sender.  One thread calls send, complete and close; any thread may
 * read the counters (relaxed stores by the one writer, TX_ADD, and relaxed
 * loads, as struct jumbo_rx does).
 *
 * Balance: every page on the page ring between pg_head and pg_tail holds
 * one hold taken by this sender; pages_held = pg_tail - pg_head; inflight
 * = rec_tail - rec_head.
 */
struct jumbo_tx {
	const struct tx_ops *ops;
	enum jumbo_tx_backend backend;
	int fd;
	unsigned batch;
	unsigned flags;
	int wait_ms, close_wait_ms;
	bool zc;                 /* asking for zero copy now */
	int dead;                /* tcp: -errno once the stream is gone */
	struct tx_rec *rec;      /* rec_cap (a power of two) records */
	uint32_t rec_cap, rec_head, rec_tail;
	struct tx_page *pg;      /* pg_cap (a power of two) pages */
	size_t pg_cap, pg_head, pg_tail;
	struct jumbo_tx_stats st;
	void *priv;              /* the backend's state */
};

#define TX_ADD(tx, field, n)                                                 \
	__atomic_store_n(&(tx)->st.field,                                    \
			 __atomic_load_n(&(tx)->st.field, __ATOMIC_RELAXED) + \
				 (uint64_t)(n),                              \
			 __ATOMIC_RELAXED)
#define TX_SET(tx, field, v) \
	__atomic_store_n(&(tx)->st.field, (uint64_t)(v), __ATOMIC_RELAXED)


/* Records why an open failed, for jumbo_tx_strerror; returns err. */
JUMBO_HIDDEN int _jumbo_tx_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True if m's storage is a pool page a hold protects: its free goes
 * through jumbo_ext_free to the pool, which defers it while held. */
static inline bool tx_holdable(const struct mbuf *m)
{
	return (m->m_flags & M_EXT) && m->m_ext.ext_type == EXT_JUMBO &&
	       m->m_ext.ext_pool && m->m_ext.ext_free == jumbo_ext_free;
}

/* Room for one more record of npages pages. */
static inline bool tx_room(const struct jumbo_tx *tx, size_t npages)
{
	return tx->rec_tail - tx->rec_head < tx->rec_cap &&
	       tx->pg_tail - tx->pg_head + npages <= tx->pg_cap;
}

/*
 * A zero-copy send with this id took the chain m (the caller owns the
 * record being built: _jumbo_tx_rec_open first).  Holds its pool pages and
 * frees its mbufs, or keeps the whole chain when some storage cannot be
 * held.  The page ring must have room for every mbuf of m.
 */
JUMBO_HIDDEN void _jumbo_tx_rec_open(struct jumbo_tx *tx, uint32_t id, bool zc);
JUMBO_HIDDEN void _jumbo_tx_rec_add(struct jumbo_tx *tx, struct mbuf *m);
/* The kernel has done with the sends lo..hi (wrapping): release what the
 * FIFO allows.  Returns the records marked done. */
JUMBO_HIDDEN unsigned _jumbo_tx_done(struct jumbo_tx *tx, uint32_t lo,
				  uint32_t hi, bool copied);
/* A chain the kernel may have read, no longer needed: freed after every
 * outstanding send completes (on the newest record), or now. */
JUMBO_HIDDEN void _jumbo_tx_retire(struct jumbo_tx *tx, struct mbuf *m);
/* Pages of the chain that a record would hold (its mbufs with data). */
JUMBO_HIDDEN size_t _jumbo_tx_pages(const struct mbuf *m);
/* Milliseconds left to the deadline (-1: none), for poll. */
JUMBO_HIDDEN int _jumbo_tx_left(uint64_t deadline_ns);
JUMBO_HIDDEN uint64_t _jumbo_tx_deadline(int ms);

/* Makes tx->fd: a nonblocking socket of type connected to the peer, its
 * send buffer and SO_ZEROCOPY set.  0 or -errno (the reason recorded). */
JUMBO_HIDDEN int _jumbo_tx_socket(struct jumbo_tx *tx,
			       const struct jumbo_tx_params *p, int type);
JUMBO_HIDDEN int _jumbo_tx_sock_open(struct jumbo_tx *tx,
				  const struct jumbo_tx_params *p);
JUMBO_HIDDEN int _jumbo_tx_uring_open(struct jumbo_tx *tx,
				   const struct jumbo_tx_params *p);
JUMBO_HIDDEN int _jumbo_tx_uring_supported(void);
JUMBO_HIDDEN int _jumbo_tx_xdp_open(struct jumbo_tx *tx,
				 const struct jumbo_tx_params *p);
JUMBO_HIDDEN int _jumbo_tx_xdp_supported(void);

#endif
