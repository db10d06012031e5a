/*
 * libjumbo send backends: frames sent from pool pages without a copy in
 * user space, the other half of a relay built on <jumbo/rx.h>.
 *
 * A send takes a batch of mbuf chains (those jumbo_rx_recv returns, or any
 * the program built) and consumes them: the caller must not touch a chain
 * the send took.  The kernel reads the data straight from the pages
 * (iovecs over each chain):
 *
 *   udp    sendmmsg(2), one datagram per chain, on a connected socket;
 *   tcp    sendmsg(2) of the whole batch as one stream;
 *   uring  io_uring SENDMSG_ZC (plain SENDMSG where the kernel lacks it),
 *          one datagram per chain; its pages are held until the last CQE;
 *   xdp    the TX ring of an AF_XDP socket whose UMEM is the pool: one
 *          whole Ethernet frame per chain, one descriptor per page, the
 *          pages held until the completion ring gives them back.
 *
 * With zero copy (MSG_ZEROCOPY, SEND_ZC) the kernel reads the pages after
 * the call returns, so each page stays held (jumbo_pool_hold) until the
 * kernel's completion notification, and only then goes back to its pool:
 * the chain's mbufs are freed at once, the pages' frees wait for the
 * unhold.  Storage a hold cannot protect (an mbuf's internal data, a page
 * with a free routine of its own, such as the uring receiver's) is kept
 * by keeping the mbufs until the completion.  Without zero copy the
 * kernel copies during the call and the chains are freed on return.
 * See jumbo_tx(3).
 */
#ifndef JUMBO_TX_H
#define JUMBO_TX_H

#include <jumbo/jumbo.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mbuf;
struct jumbo_tx;

enum jumbo_tx_backend {
	JUMBO_TX_DEFAULT = 0, /* udp */
	JUMBO_TX_UDP = 1,
	JUMBO_TX_TCP = 2,
	JUMBO_TX_URING = 3,   /* UDP through io_uring */
	JUMBO_TX_XDP = 4      /* Ethernet frames through AF_XDP */
};

/* jumbo_tx_params.flags */
enum {
	/* Never ask the kernel for zero copy: it copies during the call. */
	JUMBO_TX_COPY = 1u << 0,
	/*
	 * Keep asking for zero copy even when every completion says the
	 * kernel copied (loopback, veth); by default the backend stops.
	 */
	JUMBO_TX_ZC_ALWAYS = 1u << 1,
	/* Use sndbuf as given; do not try SO_SNDBUFFORCE. */
	JUMBO_TX_NOFORCE = 1u << 2
};

/* jumbo_tx_send flags: what to do when the socket or ring is full. */
enum {
	/* Wait (up to the handle's wait_ms) for room for the whole batch. */
	JUMBO_TX_WAIT = 1u << 0,
	/* Free and count (dropped) what still has no room, instead of
	 * leaving it to the caller. */
	JUMBO_TX_DROP = 1u << 1
};

struct jumbo_tx_params {
	enum jumbo_tx_backend backend;
	const char *addr;       /* peer's numeric address; NULL: 127.0.0.1 */
	uint16_t port;          /* peer's port; required */
	unsigned batch;         /* chains per system call; 0: 32 */
	unsigned max_inflight;  /* zero copy: sends awaiting their
				   completion, at most; 0: 1024 */
	int sndbuf;             /* SO_SNDBUF in bytes; 0: 4 MiB */
	int wait_ms;            /* JUMBO_TX_WAIT's bound; 0: 1000; -1: none */
	int close_wait_ms;      /* close: wait this long for completions;
				   0: 2000 */
	unsigned flags;         /* JUMBO_TX_* */
	/* xdp: the interface and queue to send on (addr and port unused),
	 * and the pool whose memory becomes the UMEM: the xdp receiver's
	 * pool (jumbo_rx_pool) to send its frames without a copy; NULL: one
	 * of the backend's own, frames copied into it. */
	const char *ifname;
	unsigned queue;
	struct jumbo_pool *pool;
};

/*
 * Counters of one sender.  Every chain given to a send is, once taken,
 * exactly one of packets or dropped; pages_held is what the kernel may
 * still read: it returns to 0 when all completions have arrived.
 */
struct jumbo_tx_stats {
	uint64_t packets;       /* chains the kernel took */
	uint64_t bytes;         /* bytes in them */
	uint64_t syscalls;      /* send and completion calls into the kernel */
	uint64_t zc_sends;      /* sends made with zero copy asked for */
	uint64_t zc_done;       /* of those, completed */
	uint64_t zc_copied;     /* completed, but the kernel had copied */
	uint64_t zc_off;        /* 1 once zero copy was given up: it never paid */
	uint64_t full;          /* socket buffer or ring full: back-pressure */
	uint64_t dropped;       /* chains freed unsent (JUMBO_TX_DROP, errors) */
	uint64_t refused;       /* ICMP port unreachable: ECONNREFUSED */
	uint64_t unreachable;   /* no route, network or interface down */
	uint64_t resets;        /* tcp: the peer reset or closed the stream */
	uint64_t errors;        /* other send errors */
	uint64_t inflight;      /* now: sends awaiting their completion */
	uint64_t pages_held;    /* now: pages held for them */
	uint64_t too_long;      /* xdp: frames refused (and in dropped):
				   over the MTU, or over one page without
				   multi-buffer support */
	uint64_t copied;        /* xdp: frames copied into the UMEM first
				   (their pages were not in it) */
};

/* Fills *p with the defaults (udp, 127.0.0.1, no port, batch 32...). */
JUMBO_API void jumbo_tx_params_init(struct jumbo_tx_params *p);

/*
 * Opens a sender: makes the socket and connects it to addr:port (tcp:
 * waits up to 10 s for the connection).  NULL on failure with *err (if
 * err is not NULL) and errno set: -EINVAL, -EOPNOTSUPP (backend not built
 * in or not in this kernel: jumbo_tx_strerror says why), -ENOMEM, or what
 * the kernel said (-ECONNREFUSED...).
 */
JUMBO_API struct jumbo_tx *jumbo_tx_open(const struct jumbo_tx_params *p,
					 int *err);

/*
 * Sends the chains pkts[0..n) in order (each a packet header with
 * m_pkthdr.len = its length; udp: at most 65507 bytes).  Returns how many
 * of the first chains it took (sent, or dropped and counted), which the
 * caller must no longer touch; the rest are still the caller's.  Without
 * JUMBO_TX_WAIT it takes only what fits now; with it, it waits for room
 * up to wait_ms.  With JUMBO_TX_DROP it then drops what still did not
 * fit, and returns n.  A frame the network refuses (ECONNREFUSED,
 * ENETUNREACH...) is dropped and counted, and the send goes on.  Returns
 * -errno only when it took nothing: -EINVAL (bad arguments), -ECONNRESET
 * or -EPIPE (tcp: the stream is gone; every later send says so), or what
 * the kernel said.  Also reaps completions.
 */
JUMBO_API int jumbo_tx_send(struct jumbo_tx *tx, struct mbuf **pkts,
			    unsigned n, unsigned flags);

/*
 * Reaps completion notifications, releasing the pages of completed sends
 * (and, tcp, pushes out the rest of a frame the socket had no room for).
 * Waits up to timeout_ms (-1: forever, 0: not at all) while sends are
 * outstanding and none completed.  Returns the sends completed, or -errno.
 */
JUMBO_API int jumbo_tx_complete(struct jumbo_tx *tx, int timeout_ms);

/* A snapshot of the counters; 0 or -EINVAL. */
JUMBO_API int jumbo_tx_stats(struct jumbo_tx *tx, struct jumbo_tx_stats *st);

/* The socket; the backend. */
JUMBO_API int jumbo_tx_fd(const struct jumbo_tx *tx);
JUMBO_API enum jumbo_tx_backend jumbo_tx_backend_of(const struct jumbo_tx *tx);

/*
 * Waits up to close_wait_ms for the completions still outstanding, then
 * closes.  Returns 0, -EINVAL, or -EBUSY when some never came: their pages
 * then stay held for good (never reused while the kernel may still read
 * them; the pool's destroy will refuse) and final->pages_held says how
 * many.  final, if not NULL, gets the last counters.
 */
JUMBO_API int jumbo_tx_close(struct jumbo_tx *tx, struct jumbo_tx_stats *final);

/* "udp", "tcp", "uring", "xdp"; and back (-EINVAL for an unknown name). */
JUMBO_API const char *jumbo_tx_backend_name(enum jumbo_tx_backend b);
JUMBO_API int jumbo_tx_backend_parse(const char *name);

/* 1 if the backend can run here, else 0 and why in jumbo_tx_strerror. */
JUMBO_API int jumbo_tx_backend_supported(enum jumbo_tx_backend b);

/* The last open or support-check failure of this thread, in words. */
JUMBO_API const char *jumbo_tx_strerror(void);

#ifdef __cplusplus
}
#endif
#endif /* JUMBO_TX_H */
