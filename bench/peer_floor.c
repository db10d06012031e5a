/*
 * The floor: a thread-local LIFO array of pages behind a function call, no
 * lock, no atomic, no sharing: what a pool's per-thread fast path could
 * cost at best.  Not a pool (pages cannot cross threads), so it has no S3
 * of its own: its S3 is the ring alone, the producer cycling through a
 * fixed set of pages: the cost of the ring and the page writes without an
 * allocator (DPDK has been seen above it, so not a strict ceiling).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>

#include "bench.h"

#define FLOOR_PAGES 2048u   /* per thread: S2's burst, twice S3's ring */
#define FLOOR_THREADS 16u   /* S4's eight, S3's two, the main thread */

static char *floor_base;
static pthread_mutex_t floor_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char floor_busy[FLOOR_THREADS];

static _Thread_local void *floor_stack[FLOOR_PAGES];
static _Thread_local unsigned floor_top;
static _Thread_local int floor_chunk = -1;

static int floor_start(size_t capacity, char *why, size_t whylen)
{
	floor_base = bench_map((size_t)FLOOR_THREADS * FLOOR_PAGES *
			       BENCH_PAGE);
	if (floor_base == NULL) {
		snprintf(why, whylen, "mmap failed");
		return -1;
	}
	return 0;
}

static void floor_stop(void)
{
	bench_unmap(floor_base, (size_t)FLOOR_THREADS * FLOOR_PAGES *
				BENCH_PAGE);
	floor_base = NULL;
}

/* Give the thread its own chunk of pages; the slow path, off the clock. */
static int floor_thread_enter(char *why, size_t whylen)
{
	pthread_mutex_lock(&floor_lock);
	for (unsigned c = 0; c < FLOOR_THREADS; c++) {
		if (!floor_busy[c]) {
			floor_busy[c] = 1;
			floor_chunk = (int)c;
			break;
		}
	}
	pthread_mutex_unlock(&floor_lock);
	floor_top = 0;
	if (floor_chunk < 0) {
		snprintf(why, whylen, "more than %u threads", FLOOR_THREADS);
		return -1;
	}
	for (unsigned i = 0; i < FLOOR_PAGES; i++)
		floor_stack[floor_top++] = floor_base +
			((size_t)floor_chunk * FLOOR_PAGES + i) * BENCH_PAGE;
	return 0;
}

static void floor_thread_leave(void)
{
	if (floor_chunk < 0)
		return;
	if (floor_top != FLOOR_PAGES)
		fprintf(stderr, "floor: a thread left with %u pages out\n",
			FLOOR_PAGES - floor_top);
	pthread_mutex_lock(&floor_lock);
	floor_busy[floor_chunk] = 0;
	pthread_mutex_unlock(&floor_lock);
	floor_chunk = -1;
}

/*
 * Out of line, as a library's entry points are (libjumbo's pool API is a
 * call into the library too): inlined, the compiler sees that S1 pops and
 * pushes the same slot and folds the loop away, which measures nothing.
 */
__attribute__((noinline)) static void *floor_alloc(void)
{
	return BENCH_LIKELY(floor_top) ? floor_stack[--floor_top] : NULL;
}

__attribute__((noinline)) static void floor_free(void *p)
{
	floor_stack[floor_top++] = p;
}

#define WL_FN(x) floor_##x
#define WL_ALLOC() floor_alloc()
#define WL_FREE(p) floor_free(p)
#define WL_NO_S3 1
#include "workloads.h"

/*
 * S3 for the floor: the ring with nothing behind it.  The producer posts
 * the pages of its own chunk round and round.  The ring holds at most
 * BENCH_RING_SLOTS, half of FLOOR_PAGES, so a page is written again only
 * after the consumer has read it and published the slot's release.
 */
static void floor_s3_ring_produce(struct spsc *q, uint64_t n,
				  struct wl_result *r)
{
	for (uint64_t i = 0; i < n; i++) {
		void *p = floor_stack[i % FLOOR_PAGES];

		WL_TOKEN_AT(p, i) = i;
		while (!spsc_push(q, p)) {
			/* Acquire: as in workloads.h, only a flag. */
			if (atomic_load_explicit(&q->failed,
						 memory_order_acquire))
				return;
			spsc_pause();
		}
	}
	spsc_flush_tail(q);
}

static void floor_s3_ring_consume(struct spsc *q, uint64_t n,
				  struct wl_result *r)
{
	uint64_t bad = 0;

	for (uint64_t k = 0; k < n; k++) {
		void *p;

		while ((p = spsc_pop(q)) == NULL) {
			if (atomic_load_explicit(&q->failed,
						 memory_order_acquire))
				return;
			spsc_pause();
		}
		bad += WL_TOKEN_AT(p, k) != k;
	}
	bench_check_pages(r, 0, bad);
}

const struct peer peer_floor = {
	.name = "floor",
	.what = "thread-local LIFO array (S3: the SPSC ring alone)",
	.start = floor_start,
	.stop = floor_stop,
	.thread_enter = floor_thread_enter,
	.thread_leave = floor_thread_leave,
	.s1 = floor_s1,
	.s2 = floor_s2,
	.s3_produce = floor_s3_ring_produce,
	.s3_consume = floor_s3_ring_consume,
	.s4 = floor_s4,
};
