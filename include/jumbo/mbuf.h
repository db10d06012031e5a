/*
 * libjumbo mbufs: packets made of jumbo pages, in FreeBSD's vocabulary, and
 * zero-copy delivery of their data by page flipping.  See jumbo_mbuf(3) and
 * jumbo_deliver(3).
 *
 * A packet is a chain of mbufs (m_next); packets queue on m_nextpkt.  The
 * first mbuf of a packet carries a packet header (M_PKTHDR, m_pkthdr.len =
 * the sum of m_len over the chain).  An mbuf holds its data either in its
 * own small buffer (at most MLEN bytes, MHLEN with a packet header) or in
 * external storage (M_EXT): typically one page of a jumbo pool, shared by
 * reference between the mbufs that m_copym made, and given back through
 * its free routine when the last of them is freed.
 *
 * Requires C11 (or C++11) and Linux.
 */
#ifndef JUMBO_MBUF_H
#define JUMBO_MBUF_H

#include <jumbo/jumbo.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MSIZE 256 /* bytes of one mbuf, header and internal buffer */

/* m_flags */
#define M_EXT 0x0001     /* data in external storage (m_ext) */
#define M_PKTHDR 0x0002  /* first mbuf of a packet: m_pkthdr is valid */
#define M_EOR 0x0004     /* end of record */
#define M_RDONLY 0x0008  /* the storage is shared: do not write through m_data */

/* ext_type: what the external storage is */
#define EXT_JUMBO 1  /* a whole page of a jumbo pool (ext_pool set) */
#define EXT_EXTREF 2 /* any other memory with a free routine; never moved */

/* m_type */
#define MT_NOTMBUF 0 /* a freed mbuf: what m_free checks for double frees */
#define MT_DATA 1

/* how: the allocation may not sleep (the only way here; kept for FreeBSD) */
#define M_NOWAIT 0x0001
#define M_WAITOK 0x0002

typedef void (*m_ext_free_t)(caddr_t buf, void *args);

/*
 * External storage of an mbuf.  Every mbuf that shares the storage has the
 * same ext_buf, ext_size, ext_free, ext_args and ext_pool, and ext_cnt
 * points at one counter: the number of mbufs that reference the storage.
 * The counter lives in the mbuf that attached the storage (ext_count);
 * that mbuf's memory is kept until the counter drops to 0, whichever mbuf
 * is freed first.  ext_free(ext_buf, ext_args) runs exactly once, when the
 * counter goes from 1 to 0.  The library changes the counter only with
 * atomic operations; a program reads it (*ext_cnt), never writes it.
 */
struct m_ext {
	caddr_t ext_buf;           /* start of the storage */
	size_t ext_size;           /* its size */
	m_ext_free_t ext_free;     /* called with (ext_buf, ext_args) at last free */
	void *ext_args;            /* second argument of ext_free */
	struct jumbo_pool *ext_pool; /* EXT_JUMBO: the pool of ext_buf, else NULL */
	volatile unsigned *ext_cnt;  /* shared reference count */
	unsigned ext_count;        /* the counter, in the attaching mbuf */
	int ext_type;              /* EXT_JUMBO or EXT_EXTREF */
};

/*
 * Packet header: len = the sum of m_len over the chain whenever the chain
 * is handed to a library function (the library keeps it so).
 */
struct pkthdr {
	size_t len;    /* bytes in the packet */
	int rcvif;     /* receiving interface or socket: the program's number */
	uint32_t flowid; /* a hash or queue number: the program's */
	/*
	 * Set by the receive backends (jumbo_rx(3)), zero in an mbuf from
	 * m_gethdr: when the packet was received (nanoseconds since the
	 * epoch, CLOCK_REALTIME; rcv_flags says who took the time) and who
	 * sent it (rcv_src.sa.sa_family 0: not known), ready for sendto(2).
	 */
	uint64_t rcv_tstmp;
	uint32_t rcv_flags; /* JUMBO_RCV_* */
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} rcv_src;
};

/* rcv_flags */
#define JUMBO_RCV_TS_KERNEL 0x1 /* rcv_tstmp: the kernel's (SO_TIMESTAMPNS) */
#define JUMBO_RCV_TS_USER 0x2   /* rcv_tstmp: the library's, on receipt */

/*
 * An mbuf: MSIZE bytes from the library's mbuf allocator (per-thread caches
 * in front of a shared depot); never allocate one another way.  m_data
 * points into the internal buffer (M_dat) or into the external storage
 * [ext_buf, ext_buf + ext_size); m_data + m_len never passes the end of the
 * buffer it points into.  m_type is MT_DATA while the mbuf is in use and
 * MT_NOTMBUF once freed.
 */
struct mbuf {
	struct mbuf *m_next;    /* next mbuf of this packet */
	struct mbuf *m_nextpkt; /* next packet in a queue */
	caddr_t m_data;         /* first byte of data */
	size_t m_len;           /* bytes of data in this mbuf */
	int m_flags;            /* M_* */
	int m_type;             /* MT_DATA, or MT_NOTMBUF once freed */
	struct pkthdr m_pkthdr; /* valid with M_PKTHDR */
	struct m_ext m_ext;     /* valid with M_EXT */
	char m_dat[];           /* internal buffer: up to the end of MSIZE */
};

#define MHDRSIZE (sizeof(struct mbuf))
#define MLEN ((size_t)MSIZE - MHDRSIZE)  /* internal buffer, plain mbuf */
#define MHLEN MLEN                       /* the same with a packet header */

#define mtod(m, t) ((t)((m)->m_data))

/* ---- allocation and chains ----------------------------------------------- */

/*
 * An mbuf with (m_gethdr) or without (m_get) a packet header, m_len 0,
 * m_data at its internal buffer.  NULL and errno ENOMEM on failure.
 */
JUMBO_API struct mbuf *m_get(int how, short type);
JUMBO_API struct mbuf *m_gethdr(int how, short type);

/*
 * Give back to the kernel the memory of the mbuf slabs (64 KiB each) whose
 * mbufs are all free in the shared depot; mbufs in threads' caches (up to
 * 255 a thread: the rest of a freshly carved slab) keep their slabs.  The slabs stay mapped and are used
 * again first.  Returns the bytes given back, or -ENOMEM.
 */
JUMBO_API long jumbo_mbuf_trim(void);

/*
 * Statistics of the mbuf allocator (all threads), as jumbo_pool_stats
 * gives them for pages: a snapshot in which no figure is impossible (in
 * use is never negative nor above what is out of the depot), exact when
 * no other thread allocates or frees.  in_use counts an mbuf from its
 * allocation until its memory is free again: a freed mbuf that holds the
 * reference count of storage other mbufs still share stays in use until
 * the last of them is freed.  After every mbuf is freed, in_use is 0,
 * whichever threads allocated, freed or have exited.
 */
struct jumbo_mbuf_stats {
	uint64_t in_use;        /* mbufs allocated and not yet free */
	uint64_t high_water;    /* most mbufs out of the depot at once
				 * (in use or in threads' caches) */
	uint64_t cached_free;   /* free mbufs in threads' caches */
	uint64_t depot_free;    /* free mbufs in the shared depot */
	uint64_t allocs;        /* mbufs allocated, ever */
	uint64_t frees;         /* mbufs freed, ever */
	uint64_t alloc_fails;   /* allocations refused (no memory) */
	uint64_t slabs;         /* slabs mapped, slab_bytes each */
	uint64_t trimmed_slabs; /* of those, given back by jumbo_mbuf_trim
				 * and not used since */
	uint64_t slab_bytes;    /* bytes of one slab (MSIZE-byte mbufs) */
	uint64_t bytes;         /* slab memory held: (slabs - trimmed_slabs)
				 * * slab_bytes */
};

/* Fills *st: 0, or -EINVAL if st is NULL. */
JUMBO_API int jumbo_mbuf_stats(struct jumbo_mbuf_stats *st);
/* Prints *st as "mbuf_<name> <value>" lines to stream (a FILE *; NULL:
 * stdout), the way jumbo_stats_print prints a pool's. */
JUMBO_API void jumbo_mbuf_stats_print(const struct jumbo_mbuf_stats *st,
				      void *stream);

/*
 * Attaches size bytes at buf as external storage of m (which must not have
 * any yet): m_data = buf, m_len = 0, reference count 1, M_EXT set.  freef
 * runs as freef(buf, args) when the last mbuf referring to it is freed.
 * type EXT_EXTREF: any memory; it is never moved.  type EXT_JUMBO: a whole
 * page of a pool, which jumbo_deliver may move: of the pool args if freef
 * is jumbo_ext_free and args is not NULL, else of the default pool (the
 * jumbo(9) idiom: MEXTADD(m, kva, PAGE_SIZE, jumbo_freem, NULL, 0,
 * EXT_JUMBO)); it needs a free routine.  0, or, with a line on stderr
 * saying what was wrong: -EINVAL (NULL, foreign or freed m, m already
 * with storage, NULL buf, size 0, unknown type, EXT_JUMBO without freef,
 * a size other than the pool's page size) or -EFAULT (EXT_JUMBO but buf
 * is not the start of a page of that pool).
 */
JUMBO_API int m_extadd(struct mbuf *m, caddr_t buf, size_t size,
		       m_ext_free_t freef, void *args, int flags, int type);
/*
 * FreeBSD's macro, as an expression: it evaluates to m_extadd's result, so
 * that "if (MEXTADD(...) != 0)" catches a bad attach (which m_extadd also
 * reports on stderr: it cannot fail unnoticed even as a statement).
 */
#define MEXTADD(m, buf, size, free, args, flags, type) \
	m_extadd((m), (caddr_t)(buf), (size), (free), (args), (flags), (type))

/*
 * Attaches a whole page of pool (page: its first byte, allocated by the
 * caller) to m as EXT_JUMBO storage.  With freef NULL the page goes back to
 * pool at the last free (or is stolen by a delivery that moved it); with
 * freef set, freef(page, args) runs instead (a receive backend's callback,
 * e.g. to give an io_uring buffer back), and after a delivery that moved the
 * page it still runs: the page then reads as zeroes.  0, -EINVAL (as
 * m_extadd, or pool NULL), -EFAULT (page not in pool or not the start of a
 * page).
 */
JUMBO_API int m_extadd_jumbo(struct mbuf *m, struct jumbo_pool *pool,
			     void *page, m_ext_free_t freef, void *args);

/*
 * The external free routine of pages attached with m_extadd_jumbo(freef
 * NULL): frees page to the pool args (the default pool if NULL).
 */
JUMBO_API void jumbo_ext_free(caddr_t page, void *pool);

/*
 * The chain of a frame of len bytes received into jumbo pages, as ti(4)
 * built it: ceil(len / page size) mbufs, the first with M_PKTHDR, each with
 * one page of pool (pages allocated in address order, so that adjacent
 * pages can move in one mremap), all full but the last; m_pkthdr.len = len.
 * The data is whatever the pages hold: the caller (a receive backend) fills
 * them, or lets the device do it.  pool NULL: the default pool.  NULL on
 * failure with *err (if err is not NULL) = -EINVAL (len 0) or -ENOMEM (also
 * for more pages than the pool's cap), and nothing leaked.
 */
JUMBO_API struct mbuf *m_getjumbo(struct jumbo_pool *pool, size_t len,
				  int *err);

/*
 * Frees one mbuf (dropping its reference to external storage) and returns
 * its m_next.  Freeing an mbuf twice, or something that is not an mbuf of
 * the library, prints the function and the address on stderr and aborts.
 * m_freem frees a whole chain (not m_nextpkt); both accept NULL.
 */
JUMBO_API struct mbuf *m_free(struct mbuf *m);
JUMBO_API void m_freem(struct mbuf *m);

/* Bytes in the chain (the sum of m_len); 0 for NULL. */
JUMBO_API size_t m_length(const struct mbuf *m, struct mbuf **last);

/*
 * A new chain referring to len bytes of m from off (len M_COPYALL: to the
 * end).  External storage is shared by reference, never copied; internal
 * data is copied.  The copy has a packet header if off is 0 and m has one.
 * NULL and errno: EINVAL (NULL m, off + len beyond the chain), ENOMEM.
 */
#define M_COPYALL ((size_t)-1)
JUMBO_API struct mbuf *m_copym(struct mbuf *m, size_t off, size_t len,
			       int how);

/*
 * Copies len bytes of the chain from off to cp.  0, or -EINVAL (NULL
 * argument, off + len beyond the chain: nothing copied).
 */
JUMBO_API int m_copydata(const struct mbuf *m, size_t off, size_t len,
			 void *cp);

/*
 * Trims req_len bytes from the head (req_len > 0) or tail (< 0) of the
 * chain, at most the whole chain; mbufs left empty stay in the chain with
 * m_len 0.  Keeps m_pkthdr.len.
 */
JUMBO_API void m_adj(struct mbuf *m, long req_len);

/*
 * Makes the first len bytes of the chain contiguous in its first mbuf, for
 * headers (len at most MHLEN).  Returns the new head, or NULL with errno
 * (EINVAL: len too big or longer than the chain; ENOMEM), in which case,
 * as in FreeBSD, the chain has been freed.
 */
JUMBO_API struct mbuf *m_pullup(struct mbuf *m, size_t len);

/* ---- zero-copy delivery ------------------------------------------------- */

/* flags of jumbo_deliver */
#define JUMBO_DELIVER_MOVE 0x1 /* move every part that can move, any size */
#define JUMBO_DELIVER_COPY 0x2 /* copy everything */

/* What a delivery did. */
struct jumbo_deliver_stats {
	size_t moved;      /* bytes moved by mremap */
	size_t copied;     /* bytes copied */
	unsigned pages;    /* pages moved */
	unsigned remaps;   /* mremap calls (one per run of adjacent pages) */
	unsigned fallbacks; /* runs that could move but were copied: dst not
			    * private writable memory, or mremap refused */
};

/*
 * Delivers the data of the packet m (m_length(m) bytes) into dst, the way
 * soreceive(9) with zero_copy(9) did.  A run of pages that are whole,
 * page-aligned in the chain and in dst, adjacent in the pool, referenced by
 * m alone, not held, and in a pool that can give memory away, is moved
 * into dst with mremap (dst's old memory there is released) and the pool
 * slots are stolen (refilled with zeroes); the rest is copied.  Pages move
 * only into private writable mappings (where a move looks exactly like a
 * copy); into shared or file memory they are copied.  Moving or
 * copying is decided per run from the calibrated threshold, unless flags
 * force it.  On success the chain is consumed (freed) and 0 is returned;
 * on error nothing has changed: -EINVAL (m or dst NULL, m not a live mbuf
 * of the library, both force flags),
 * -ENOBUFS (dstlen < m_length(m)).  out, if not NULL, says what was done.
 */
JUMBO_API int jumbo_deliver(struct mbuf *m, void *dst, size_t dstlen,
			    unsigned flags, struct jumbo_deliver_stats *out);

/*
 * Thresholds: the shortest run, in bytes, that moves rather than copies,
 * for the process with one thread and with several (mremap then shoots
 * down other CPUs' TLBs), for the given page size (4 KiB or 2 MiB).
 */
struct jumbo_deliver_tuning {
	size_t page_size;
	size_t thresh_1thr; /* SIZE_MAX: never move */
	size_t thresh_mthr;
};

/*
 * Measures mremap against memcpy of cold data on this machine (about 2 ms
 * for 4 KiB pages, 10 to 20 ms for 2 MiB, on a 2-CPU virtual machine) and sets the thresholds for
 * page_size; fills *out if not NULL.  Called by the first jumbo_deliver if
 * never called.  0, -EINVAL (page size), -ENOMEM, -EOPNOTSUPP (no 2 MiB
 * pages on this machine: moving them is never chosen).
 */
JUMBO_API int jumbo_deliver_calibrate(size_t page_size,
				      struct jumbo_deliver_tuning *out);
/*
 * Reads (for t->page_size) or sets the thresholds: 0, or -EINVAL for a page
 * size other than 4 KiB or 2 MiB.
 */
JUMBO_API int jumbo_deliver_get_tuning(struct jumbo_deliver_tuning *t);
JUMBO_API int jumbo_deliver_set_tuning(const struct jumbo_deliver_tuning *t);

#ifdef __cplusplus
}
#endif
#endif /* JUMBO_MBUF_H */
