/*
 * A single-producer single-consumer ring of pointers, for S3: the driver
 * thread allocates pages and posts them, the application thread takes them
 * and frees them.  One writer per index, so no read-modify-write is ever
 * needed: each side stores its own index with release and loads the other
 * side's with acquire.
 *
 * Layout: the producer's fields, the consumer's fields and the read-only
 * fields sit on separate 64-byte lines (the x86-64 line size), so neither
 * side's stores invalidate the other's line; and each side keeps a
 * private copy of the other's index so that it reads the other's line only
 * when its copy says the ring is full (producer) or empty (consumer).
 */
#ifndef JUMBO_BENCH_RING_H
#define JUMBO_BENCH_RING_H

#include <stdatomic.h>
#include <stdint.h>

#define SPSC_LINE 64

struct spsc {
	/* Written by the producer only. */
	_Alignas(SPSC_LINE) _Atomic uint64_t head; /* next slot to fill */
	uint64_t tail_seen;  /* producer's copy of tail */
	/* Written by the consumer only. */
	_Alignas(SPSC_LINE) _Atomic uint64_t tail; /* next slot to drain */
	uint64_t head_seen;  /* consumer's copy of head */
	/* Set once before the threads start; read-only afterwards. */
	_Alignas(SPSC_LINE) uint64_t mask;
	void **slot;
	/* Not part of the ring: the benchmark's producer raises it when it
	 * gives up, so that the consumer stops waiting. */
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
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->failed, 0);
	r->tail_seen = 0;
	r->head_seen = 0;
	r->mask = size - 1;
	r->slot = slots;
}

/* Producer: 1 if p went in, 0 if the ring is full. */
static inline int spsc_push(struct spsc *r, void *p)
{
	/* Relaxed: head is written by this thread only, so it reads its own
	 * last store; no other thread's data depends on this load. */
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (h - r->tail_seen > r->mask) {
		/* Acquire: pairs with the consumer's release store of tail, so
		 * the consumer's read of the slot we are about to overwrite has
		 * happened before our write to it. */
		r->tail_seen = atomic_load_explicit(&r->tail,
						    memory_order_acquire);
		if (h - r->tail_seen > r->mask)
			return 0;
	}
	r->slot[h & r->mask] = p;
	/* Release: publishes the slot store above (and the writes to the
	 * page p points at) before the consumer can see the new head. */
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return 1;
}

/* Consumer: the oldest pointer, or NULL if the ring is empty. */
static inline void *spsc_pop(struct spsc *r)
{
	/* Relaxed: tail is written by this thread only. */
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	void *p;

	if (t == r->head_seen) {
		/* Acquire: pairs with the producer's release store of head,
		 * so the slot and the page it names are visible to us. */
		r->head_seen = atomic_load_explicit(&r->head,
						    memory_order_acquire);
		if (t == r->head_seen)
			return NULL;
	}
	p = r->slot[t & r->mask];
	/* Release: our read of the slot is done before the producer may
	 * reuse it (it acquires tail before writing the slot again). */
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return p;
}

#endif /* JUMBO_BENCH_RING_H */
