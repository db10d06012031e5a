/*
 * A white-box view of an MPMC ring in memory (the layout of
 * src/ring/ring.c, version 5), for the tests that make a process stop or
 * die at an exact point of a ring call and for the diagnosis of a ring
 * found stuck: the header (its size at byte 16), the positions on the
 * second and third lines, the handles' records from the fourth on, the
 * slots, then the sequence words.  Header only, like check.h.
 */
#ifndef JUMBO_TEST_RING_WB_H
#define JUMBO_TEST_RING_WB_H

#include "check.h"

#include <jumbo/ring.h>
#include <stdint.h>

/*
 * A handle's record: its intents, [ppos, ppos + pn) and [cpos, cpos + cn).
 * pid below 0 while a reclaim frees it: -(2 + i + 64 * gen), the freer
 * being the holder of record i by its claim gen (ring_freer).
 */
struct ring_rec_wb {
	int32_t pid;
	uint32_t pn, cn;
	uint32_t lock;  /* 1: its lock tells it alive, 0: its pid */
	uint64_t ppos, cpos;
	uint64_t pidns; /* the holder's pid namespace (inode), 0 unknown */
	uint32_t gen;   /* the record's claims */
};

static inline uint32_t ring_wb_size(void *m)
{
	return *(uint32_t *)(void *)((char *)m + 16);
}

static inline uint64_t *ring_tail(void *m)
{
	return (uint64_t *)(void *)((char *)m + 64);
}

static inline uint64_t *ring_head(void *m)
{
	return (uint64_t *)(void *)((char *)m + 128);
}

static inline struct ring_rec_wb *ring_rec(void *m, unsigned i)
{
	return (struct ring_rec_wb *)(void *)((char *)m + 192 + 64 * i);
}

/* The pid of a record being freed by the holder of record i, claim gen. */
static inline int32_t ring_freer(unsigned i, uint32_t gen)
{
	return -(int32_t)(2 + i + JUMBO_RING_MAX_HANDLES * (gen & 0xffffffu));
}

/* The sequence words, after the slots (16 bytes each: whole lines for
 * a ring of 4 slots or more). */
static inline uint32_t *ring_seq(void *m)
{
	return (uint32_t *)(void *)((char *)m + 192 +
				    64 * JUMBO_RING_MAX_HANDLES +
				    16 * (size_t)ring_wb_size(m));
}

/* This process's record in the ring at m, or NULL. */
static inline struct ring_rec_wb *ring_my_rec(void *m)
{
	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++)
		if (__atomic_load_n(&ring_rec(m, i)->pid, __ATOMIC_RELAXED) ==
		    (int32_t)getpid())
			return ring_rec(m, i);
	return NULL;
}

/* What slot p's sequence word says (ring.c: seq = 2 * lap position). */
static inline const char *ring_seq_says(void *m, uint32_t seq, uint64_t p,
					uint64_t head, uint64_t tail)
{
	if (seq == 2 * (uint32_t)p)
		return p < tail ? "reserved by a producer, not filled" : "free";
	if (seq == 2 * (uint32_t)(p + 1))
		return p < head ? "taken by a consumer, not released" :
				  "published";
	if (seq == (2 * (uint32_t)(p + 1) | 1))
		return "skipped by a repair";
	if (seq == 2 * (uint32_t)(p + ring_wb_size(m)))
		return "released";
	return "in another lap";
}

/*
 * Why a ring is stuck, on stderr: its positions, the slots about its head
 * and the records of the attached handles, with their intents.
 */
static inline void ring_dump(const char *what, void *m)
{
	uint64_t h = __atomic_load_n(ring_head(m), __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(ring_tail(m), __ATOMIC_ACQUIRE);
	const uint32_t *seq = ring_seq(m);
	uint32_t mask = ring_wb_size(m) - 1;

	fprintf(stderr, "%s: head %llu tail %llu\n", what,
		(unsigned long long)h, (unsigned long long)t);
	for (uint64_t p = h > 2 ? h - 2 : 0; p < h + 4 && p < t + 1; p++) {
		uint32_t sq = __atomic_load_n(&seq[p & mask], __ATOMIC_ACQUIRE);
		fprintf(stderr, "  slot of position %llu: seq %#x, %s\n",
			(unsigned long long)p, sq,
			ring_seq_says(m, sq, p, h, t));
	}
	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++) {
		const struct ring_rec_wb *rc = ring_rec(m, i);
		if (rc->pid == 0)
			continue;
		fprintf(stderr, "  record %u: pid %d (%s), producer intent "
			"[%llu, +%u), consumer intent [%llu, +%u)\n", i,
			rc->pid, kill(rc->pid, 0) == 0 ? "alive" : "gone",
			(unsigned long long)rc->ppos, rc->pn,
			(unsigned long long)rc->cpos, rc->cn);
	}
}

#endif
