/*
 * A single-producer single-consumer queue of (pointer, length) items: the
 * receive thread hands chains or buffers to the consumer thread.
 * Power-of-two size; head and tail on their own cache lines so the two
 * threads do not share one.  As in support/ring.h, io_uring and AF_XDP,
 * the producer advances tail and the consumer head.
 */
#ifndef JUMBO_TOOLS_SPSC_H
#define JUMBO_TOOLS_SPSC_H

#include <stdlib.h>

#define SPSC_SIZE 4096u

struct spsc {
	_Alignas(64) unsigned head; /* next to pop: the consumer's */
	_Alignas(64) unsigned tail; /* next to push: the producer's */
	_Alignas(64) struct spsc_item {
		void *p;
		size_t len;
	} slot[SPSC_SIZE];
};

static inline int spsc_push(struct spsc *q, void *p, size_t len)
{
	unsigned t = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
	/* acquire: the consumer is done with the slot it freed. */
	unsigned h = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);

	if (t - h == SPSC_SIZE)
		return 0;
	q->slot[t % SPSC_SIZE].p = p;
	q->slot[t % SPSC_SIZE].len = len;
	/* release: the slot is written before the consumer sees it. */
	__atomic_store_n(&q->tail, t + 1, __ATOMIC_RELEASE);
	return 1;
}

static inline void *spsc_pop(struct spsc *q, size_t *len)
{
	unsigned h = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
	/* acquire: pairs with the producer's release of tail. */
	unsigned t = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
	void *p;

	if (h == t)
		return NULL;
	p = q->slot[h % SPSC_SIZE].p;
	*len = q->slot[h % SPSC_SIZE].len;
	/* release: the slot is read before the producer may reuse it. */
	__atomic_store_n(&q->head, h + 1, __ATOMIC_RELEASE);
	return p;
}

#endif
