/*
 * libjumbo receive backends: real packet sources that deliver jumbo frames
 * into pool pages, the way ti(4) hung jumbo pages on its receive ring.
 *
 * One small interface over several backends:
 *
 *   udp    recvmmsg(2), each datagram scattered over the pages of a chain
 *          (9000 bytes land in two 4 KiB pages and a third partial one);
 *   tcp    a byte stream read into whole pages, optionally cut into frames
 *          by a 32-bit length prefix (JUMBO_RX_LEN32);
 *   uring  io_uring multishot recvmsg from a provided-buffer ring whose
 *          buffers are runs of contiguous pool pages; a run goes back to
 *          the ring when the last mbuf on it is freed;
 *   xdp    an AF_XDP socket on a network interface's queue whose UMEM is
 *          the pool: the kernel writes link-layer frames (of UDP to a
 *          port, by the library's XDP program) into pool pages, one page
 *          per descriptor, a jumbo frame over several.
 *
 * Every packet comes out as an mbuf chain (see <jumbo/mbuf.h>) whose
 * external buffers are pool pages; m_freem() gives them back.  When the
 * pool is exhausted a backend drops the frame and counts it ("no buffer",
 * like a NIC), and recovers when pages come back.  jumbo(1) uses all of
 * it (jumbo rx, jumbo demo).
 */
#ifndef JUMBO_RX_H
#define JUMBO_RX_H

#include <jumbo/jumbo.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mbuf;
struct jumbo_rx;

enum jumbo_rx_backend {
	JUMBO_RX_DEFAULT = 0, /* the best one for datagrams: udp */
	JUMBO_RX_UDP = 1,
	JUMBO_RX_TCP = 2,
	JUMBO_RX_URING = 3, /* UDP through io_uring */
	JUMBO_RX_XDP = 4    /* whole frames of an interface's queue, AF_XDP */
};

enum {
	/*
	 * tcp: each frame starts with its total length (prefix included) as a
	 * 32-bit big-endian number; one chain per frame.  Without it a chain
	 * is what one read put into max_frame bytes rounded up to whole
	 * pages: every page of it full but the last.
	 */
	JUMBO_RX_LEN32 = 1u << 0,
	/* Use rcvbuf as given; do not try SO_RCVBUFFORCE. */
	JUMBO_RX_NOFORCE = 1u << 1,
	/* xdp: the driver's native XDP (zero-copy where it has it) instead
	 * of generic XDP, which works on every interface and any MTU. */
	JUMBO_RX_XDP_NATIVE = 1u << 2,
	/* udp, uring: no kernel receive time.  The default since 1.1; kept
	 * for programs written to 1.0, and it wins over JUMBO_RX_TSTAMP. */
	JUMBO_RX_NOTSTAMP = 1u << 3,
	/* udp, uring: the kernel's receive time of each datagram
	 * (SO_TIMESTAMPNS, JUMBO_RCV_TS_KERNEL), which costs a clock read
	 * per packet and a control message per datagram; without it
	 * rcv_tstmp is the library's time of the receive call
	 * (JUMBO_RCV_TS_USER).  Opt-in since 1.1 (1.0 always asked). */
	JUMBO_RX_TSTAMP = 1u << 4,
	/* udp, uring: do not ask the kernel for each datagram's sender:
	 * rcv_src is left unknown (sa_family 0), and the kernel does not
	 * copy an address per datagram.  Since 1.1; without it the sender
	 * is there, as in 1.0. */
	JUMBO_RX_NOSRC = 1u << 5
};

struct jumbo_rx_params {
	enum jumbo_rx_backend backend;
	const char *addr;      /* numeric address to bind; NULL: 127.0.0.1 */
	uint16_t port;         /* 0: any free port (see jumbo_rx_port) */
	size_t max_frame;      /* largest frame kept; 0: 9000 */
	unsigned batch;        /* packets per system call; 0: by frame
				  size, 2 to 32 (jumbo_rx_limits says) */
	unsigned ring_entries; /* uring: runs it makes, at most 2 x batch in
				  the ring at once; 0: 256 */
	int rcvbuf;            /* SO_RCVBUF in bytes; 0: 16 MiB */
	unsigned flags;        /* JUMBO_RX_* */
	struct jumbo_pool *pool; /* NULL: the default pool (jumbo_vm_init);
				    xdp: a pool of 4 KiB pages committed
				    whole (init_pages = max_pages), or NULL
				    for one the receiver makes */
	const char *ifname;    /* xdp: the interface: frames of UDP to port
				  go to the pool, the rest to the kernel;
				  port 0: every frame of the queue */
	unsigned queue;        /* xdp: its receive queue */
};

/*
 * Counters of one receiver.  packets + no_buffer + truncated + too_long +
 * short_frames is every frame the backend saw end; kernel_drops is what the
 * kernel dropped before the backend saw it (udp, uring: the socket's own
 * drop count, read when the counters are taken; xdp: a full receive ring).
 * On udp and uring, once the socket is empty, packets + no_buffer +
 * truncated + kernel_drops is every datagram that reached the socket.
 */
struct jumbo_rx_stats {
	uint64_t packets;      /* chains delivered */
	uint64_t bytes;        /* bytes in them */
	uint64_t syscalls;     /* receive calls into the kernel */
	uint64_t no_buffer;    /* frames dropped: the pool had no pages */
	uint64_t truncated;    /* datagrams over max_frame (MSG_TRUNC) dropped */
	uint64_t too_long;     /* tcp: length prefix over max_frame or < 4 */
	uint64_t short_frames; /* tcp: peer closed in the middle of a frame */
	uint64_t kernel_drops; /* udp, uring, xdp: dropped by the kernel */
	uint64_t errors;       /* other errors (ICMP reports, resets) */
	uint64_t connections;  /* tcp: connections accepted */
	uint64_t closes;       /* tcp: connections the peer closed */
	uint64_t pages;        /* pool pages handed out in chains */
	uint64_t ring_rearms;  /* uring: multishot receives armed again */
};

/* Fills *p with the defaults (udp, 127.0.0.1, any port, 9000, 32). */
JUMBO_API void jumbo_rx_params_init(struct jumbo_rx_params *p);

/*
 * Opens a receiver: makes and binds the socket (tcp: listens, and accepts
 * one connection at a time inside jumbo_rx_recv).  On failure: NULL with
 * errno set, like any pointer function of the library: EINVAL (bad
 * parameter or address), EOPNOTSUPP (backend not built in, or the kernel
 * lacks what it needs), ENOMEM, or what the kernel said (EADDRINUSE...).
 * jumbo_rx_strerror() then says the same failure in words (which
 * parameter, which kernel feature).  err may be NULL; if not, *err gets
 * -errno too (kept for programs written to 1.0).
 */
JUMBO_API struct jumbo_rx *jumbo_rx_open(const struct jumbo_rx_params *p,
					 int *err);

/*
 * Receives up to n packets into pkts[] as mbuf chains (packet headers with
 * m_pkthdr.len set).  Waits at most timeout_ms (-1: forever, 0: not at all)
 * for the first one, then takes only what is ready (tcp without a
 * connection: one wait for the peer to connect, one for its data).  Returns how many, 0 on
 * timeout, or -errno (-EINVAL for bad arguments).  Frames dropped for lack
 * of pages or for size are counted, not returned as errors.
 */
JUMBO_API int jumbo_rx_recv(struct jumbo_rx *rx, struct mbuf **pkts,
			    unsigned n, int timeout_ms);

/* A snapshot of the counters; 0 or -EINVAL. */
JUMBO_API int jumbo_rx_stats(struct jumbo_rx *rx, struct jumbo_rx_stats *st);

/* The bound port (what port 0 became); the socket (tcp: the listener). */
JUMBO_API uint16_t jumbo_rx_port(const struct jumbo_rx *rx);
JUMBO_API int jumbo_rx_fd(const struct jumbo_rx *rx);
JUMBO_API enum jumbo_rx_backend jumbo_rx_backend_of(const struct jumbo_rx *rx);
/* The pool its chains' pages come from (xdp: perhaps one of its own). */
JUMBO_API struct jumbo_pool *jumbo_rx_pool(const struct jumbo_rx *rx);

/*
 * Closes the socket and gives back the pages the receiver keeps.  Chains
 * already delivered stay valid (uring: their runs go back to the pool when
 * they are freed).  0 or -EINVAL.
 */
JUMBO_API int jumbo_rx_close(struct jumbo_rx *rx);

/*
 * What a receiver with these parameters may be asked and what it costs,
 * known before opening it (so that a program can check its options).
 */
struct jumbo_rx_limits {
	size_t max_frame;          /* the largest max_frame open accepts
				      (tcp: bounded by pages per readv) */
	unsigned max_batch;        /* the largest batch */
	unsigned max_ring_entries; /* the largest ring_entries (uring, xdp) */
	unsigned queues;           /* xdp with ifname: its receive queues
				      (queue must be below); else 0 */
	size_t frame_pages;        /* pool pages one frame of max_frame takes */
	size_t pages_kept;         /* pool pages the receiver keeps posted
				      while open (in use, though idle) */
	unsigned batch;            /* the batch it will use (batch 0: by
				      frame size) */
};

/*
 * Fills *l for the parameters p (backend, max_frame, batch, ring_entries,
 * pool, ifname; NULL: the defaults).  0, -EINVAL (unknown backend, or
 * l NULL) or -ENODEV (xdp: no interface ifname).  Opens nothing.
 */
JUMBO_API int jumbo_rx_limits(const struct jumbo_rx_params *p,
			      struct jumbo_rx_limits *l);

/* "udp", "tcp", "uring", "xdp"; and back (-EINVAL for an unknown name). */
JUMBO_API const char *jumbo_rx_backend_name(enum jumbo_rx_backend b);
JUMBO_API int jumbo_rx_backend_parse(const char *name);

/*
 * 1 if the backend can run here, else 0 and why in jumbo_rx_strerror (the
 * uring backend needs liburing at build time and, at run time, a kernel
 * with provided-buffer rings and multishot receive: 6.0 or later; the xdp
 * backend libxdp at build time and, at run time, AF_XDP sockets and the
 * privileges to load an XDP program: CAP_NET_ADMIN and CAP_BPF, or root;
 * jumbo frames need XDP_USE_SG: 6.6 or later).
 */
JUMBO_API int jumbo_rx_backend_supported(enum jumbo_rx_backend b);

/* The last open or support-check failure of this thread, in words. */
JUMBO_API const char *jumbo_rx_strerror(void);

#ifdef __cplusplus
}
#endif
#endif /* JUMBO_RX_H */
