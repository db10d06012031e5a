/*
 * libjumbo: a bounded ring of (I/O address, length) entries between threads
 * or processes.  See jumbo_ring(3).
 *
 * The ring lives in memory apart from the pages it indexes and holds no
 * pointer: an entry carries an I/O address (jumbo_pool_iova()), which every
 * process translates with its own base, so the ring works whatever address
 * each process maps it, and the pool, at.  Ownership of the page passes
 * with the entry: the enqueuer gives it up, the dequeuer takes it.
 *
 * Two kinds: JUMBO_RING_SPSC (one enqueuer and one dequeuer at a time) and
 * JUMBO_RING_MPMC (any number of each, by sequence numbered slots).  Both
 * take batches and return how many entries moved.  Neither ever waits: a
 * full ring enqueues fewer, an empty one dequeues fewer.  A process that
 * dies inside a call leaves at most a reserved slot behind, which
 * jumbo_ring_reclaim() repairs so that the others go on.
 */
#ifndef JUMBO_RING_H
#define JUMBO_RING_H

#include <jumbo/jumbo.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JUMBO_RING_SPSC 0u
#define JUMBO_RING_MPMC 1u

#define JUMBO_RING_MAX_HANDLES 64 /* handles attached to one ring at once */
#define JUMBO_RING_MAX_SLOTS (1u << 28)
#define JUMBO_RING_MAX_BATCH 65536u /* entries one call moves at most */

/*
 * An entry: 16 bytes, which a slot holds whole.  len UINT32_MAX is
 * reserved (a repaired slot).
 */
struct jumbo_ring_ent {
	uint64_t iova; /* I/O address of the page (or any 64-bit value) */
	uint32_t len;  /* bytes of data in it */
	uint32_t tag;  /* the caller's, carried unchanged: a port, a flow, a
			* sequence number */
};

struct jumbo_ring; /* a process's handle on a ring: its own, not shared */

/* Bytes of memory a ring of nslots (a power of two) needs. */
JUMBO_API size_t jumbo_ring_memsize(unsigned nslots);

/*
 * Format len bytes at mem (64-byte aligned, at least jumbo_ring_memsize)
 * as an empty ring and attach to it.  The memory may be private or shared;
 * other processes that map it attach with jumbo_ring_attach_mem.  NULL and
 * errno EINVAL on bad arguments.
 */
JUMBO_API struct jumbo_ring *jumbo_ring_init(void *mem, size_t len,
					     unsigned nslots, unsigned flags);
/* Attach to a ring that jumbo_ring_init formatted. */
JUMBO_API struct jumbo_ring *jumbo_ring_attach_mem(void *mem, size_t len);

/*
 * A ring in a segment of its own: name for shm_open (created with O_EXCL,
 * mode & 0666, e.g. 0600 or 0660 for a group), or NULL for an anonymous
 * memfd to pass by jumbo_ring_fd() over a UNIX socket.
 */
JUMBO_API struct jumbo_ring *jumbo_ring_create(const char *name,
					       unsigned nslots, unsigned flags,
					       mode_t mode);
/* Attach by name, or by an fd (which the call duplicates). */
JUMBO_API struct jumbo_ring *jumbo_ring_open(const char *name);
JUMBO_API struct jumbo_ring *jumbo_ring_open_fd(int fd);
/* Remove a named segment (those attached keep it): 0 or -errno. */
JUMBO_API int jumbo_ring_unlink(const char *name);
/* The segment's fd, or -1 for caller memory. */
JUMBO_API int jumbo_ring_fd(const struct jumbo_ring *r);
/* Detach: give back the handle's record and unmap what the library mapped. */
JUMBO_API void jumbo_ring_close(struct jumbo_ring *r);

/*
 * Move up to n entries (n <= JUMBO_RING_MAX_BATCH); return how many moved,
 * in order, from the front of ents.  A handle is used by one thread at a
 * time; threads of one process open a handle each.
 */
JUMBO_API unsigned jumbo_ring_enqueue(struct jumbo_ring *r,
				      const struct jumbo_ring_ent *ents,
				      unsigned n);
JUMBO_API unsigned jumbo_ring_dequeue(struct jumbo_ring *r,
				      struct jumbo_ring_ent *ents, unsigned n);

/* Entries in the ring now (a snapshot); slots in all. */
JUMBO_API unsigned jumbo_ring_count(const struct jumbo_ring *r);
JUMBO_API unsigned jumbo_ring_size(const struct jumbo_ring *r);

/*
 * Repair what dead handles left: pid > 0 is a process the caller knows to
 * be dead (reaped by waitpid, or its pidfd readable); pid 0 tests every
 * attached process with kill(pid, 0) (a zombie counts as alive).  Slots a
 * dead enqueuer reserved and never filled are skipped; slots a dead
 * dequeuer took and never released are freed (their entries were its own);
 * its handles' records are given back.  Returns the slots repaired, or
 * -errno.  Safe to call at any time from any attached process.
 */
JUMBO_API int jumbo_ring_reclaim(struct jumbo_ring *r, pid_t pid);

/*
 * Bind this handle to a named shared pool whose pages the ring carries
 * (NULL unbinds): a dequeue through it makes each page the calling
 * process's before it releases the slot (an entry whose page is no
 * longer allocated is dropped), jumbo_ring_reclaim returns the pages of
 * entries it frees to the pool, and the pool's jumbo_pool_reclaim knows
 * the pages in flight in it.  Every process that uses the ring binds its
 * own handle; close the ring, or unbind it, before destroying the pool.
 * 0 or -errno.
 */
JUMBO_API int jumbo_ring_bind(struct jumbo_ring *r, struct jumbo_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
