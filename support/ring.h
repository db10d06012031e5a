/*
 * A single-producer single-consumer ring of pointers, for S3: the driver
 * thread allocates pages and posts them, the application thread takes them
 * and frees them.  One writer per index, so no read-modify-write is ever
 * needed: each side stores its own index with release and loads the other
 * side's with acquire.
 *
 * The ring must not be what S3 measures.  One index store per page, read
 * by the other core, capped the ring alone at about 52 M pages/s on this
 * machine, which is what DPDK reached too; so each side publishes its
 * index once per SPSC_BATCH pages (and whenever it is about to wait), as a
 * driver posts descriptors in batches, and spsc_flush_tail() (producer)
 * and spsc_flush_head() (consumer) publish the rest.  Layout: the two
 * published indices, each side's private state and the read-only fields
 * sit on separate 64-byte lines (the x86-64 line size), so that a side's
 * private stores never invalidate a line the other side reads.  Each side keeps a copy of the other's index and reads the
 * shared one only when its copy says the ring is full (producer) or empty
 * (consumer).
 *
 * No deadlock from the batching: the producer waits only when the ring
 * looks full, and then at least size - 2 * SPSC_BATCH pages are published
 * and unread, so the consumer is not waiting; both flush before they wait.
 */
#ifndef JUMBO_BENCH_RING_H
#define JUMBO_BENCH_RING_H

#include <stdatomic.h>
#include <stdint.h>

#define SPSC_LINE 64
#define SPSC_BATCH 32u

/*
 * Names as in support/spsc.h, io_uring and AF_XDP: the producer advances
 * tail, the consumer advances head.
 */
struct spsc {
	/* Published by the producer: slots before it are filled. */
	_Alignas(SPSC_LINE) _Atomic uint64_t tail;
	/* The producer's own. */
	_Alignas(SPSC_LINE) uint64_t p_next; /* next slot to fill */
	uint64_t p_head;                      /* its copy of head */
	/* Published by the consumer: slots before it may be reused. */
	_Alignas(SPSC_LINE) _Atomic uint64_t head;
	/* The consumer's own. */
	_Alignas(SPSC_LINE) uint64_t c_next; /* next slot to drain */
	uint64_t c_tail;                      /* its copy of tail */
	/* Set once before the threads start; read-only afterwards. */
	_Alignas(SPSC_LINE) uint64_t mask;
	void **slot;
	/* Not part of the ring: the benchmark raises it when one side gives
	 * up, so that the other stops waiting. */
	_Alignas(SPSC_LINE) _Atomic int failed;
};

static inline void spsc_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Single-threaded set-up; the threads are started after it (pthread_create
 * orders these plain stores before everything the threads do). */
static inline void spsc_init(struct spsc *r, void **slots, uint64_t size)
{
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	atomic_init(&r->failed, 0);
	r->p_next = r->p_head = 0;
	r->c_next = r->c_tail = 0;
	r->mask = size - 1;
	r->slot = slots;
}

/* Producer: make every pushed slot visible to the consumer. */
static inline void spsc_flush_tail(struct spsc *r)
{
	/* Release: the slot stores (and the writes to the pages they point
	 * at) are visible before the consumer can see the new tail. */
	atomic_store_explicit(&r->tail, r->p_next, memory_order_release);
}

/* Consumer: give every drained slot back to the producer. */
static inline void spsc_flush_head(struct spsc *r)
{
	/* Release: our reads of the slots are done before the producer may
	 * overwrite them (it acquires head before writing a slot again). */
	atomic_store_explicit(&r->head, r->c_next, memory_order_release);
}

/* Producer: 1 if p went in, 0 if the ring is full. */
static inline int spsc_push(struct spsc *r, void *p)
{
	uint64_t t = r->p_next;

	if (t - r->p_head > r->mask) {
		spsc_flush_tail(r);
		/* Acquire: pairs with the consumer's release store of head,
		 * so its reads of the slots we are about to overwrite have
		 * happened before our writes. */
		r->p_head = atomic_load_explicit(&r->head,
						 memory_order_acquire);
		if (t - r->p_head > r->mask)
			return 0;
	}
	r->slot[t & r->mask] = p;
	r->p_next = t + 1;
	if ((r->p_next & (SPSC_BATCH - 1)) == 0)
		spsc_flush_tail(r);
	return 1;
}

/* Consumer: the oldest pointer, or NULL if the ring is empty. */
static inline void *spsc_pop(struct spsc *r)
{
	uint64_t h = r->c_next;
	void *p;

	if (h == r->c_tail) {
		spsc_flush_head(r);
		/* Acquire: pairs with the producer's release store of tail,
		 * so the slots and the pages they name are visible to us. */
		r->c_tail = atomic_load_explicit(&r->tail,
						 memory_order_acquire);
		if (h == r->c_tail)
			return NULL;
	}
	p = r->slot[h & r->mask];
	r->c_next = h + 1;
	if ((r->c_next & (SPSC_BATCH - 1)) == 0)
		spsc_flush_head(r);
	return p;
}

#endif /* JUMBO_BENCH_RING_H */
