/*
 * A model of the original jumbo(9) (FreeBSD 5): one mutex over everything,
 * a fixed window of pages from one mapping, and a singly linked list of
 * free slot descriptors (the original's SLIST of struct jumbo_kmap).  The
 * descriptors live apart from the pages, as in the original, so that
 * building the list touches no page.  Freeing is by address: the slot is
 * (addr - base) / PAGE_SIZE, again as jumbo_pg_free found it.  The
 * original's window was a static 3072 pages; here it is sized to what the
 * workloads need, and the growth workload maps a fresh 1 GiB window.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>

#include "bench.h"

struct mx_slot {
	char *kva;
	struct mx_slot *next;
};

struct mx_pool {
	pthread_mutex_t lock;
	struct mx_slot *free;   /* free slots, LIFO */
	struct mx_slot *slots;  /* one per page of the window */
	char *base;
	size_t npages;
};

static struct mx_pool mx_main, mx_grown, *mx = &mx_main;

static void mx_unmake(struct mx_pool *p);

static int mx_make(struct mx_pool *p, size_t npages)
{
	pthread_mutex_init(&p->lock, NULL);
	p->npages = npages;
	p->base = bench_map(npages * BENCH_PAGE);
	p->slots = bench_map(npages * sizeof(*p->slots));
	if (p->base == NULL || p->slots == NULL) {
		mx_unmake(p);
		return -1;
	}
	p->free = NULL;
	for (size_t i = npages; i-- > 0;) {
		p->slots[i].kva = p->base + i * BENCH_PAGE;
		p->slots[i].next = p->free;
		p->free = &p->slots[i];
	}
	return 0;
}

static void mx_unmake(struct mx_pool *p)
{
	bench_unmap(p->base, p->npages * BENCH_PAGE);
	bench_unmap(p->slots, p->npages * sizeof(*p->slots));
	pthread_mutex_destroy(&p->lock);
	p->base = NULL;
	p->slots = NULL;
}

static inline void *mx_alloc(void)
{
	struct mx_slot *s;

	pthread_mutex_lock(&mx->lock);
	s = mx->free;
	if (s)
		mx->free = s->next;
	pthread_mutex_unlock(&mx->lock);
	return s ? s->kva : NULL;
}

static inline void mx_free(void *addr)
{
	struct mx_slot *s = &mx->slots[((char *)addr - mx->base) / BENCH_PAGE];

	pthread_mutex_lock(&mx->lock);
	s->next = mx->free;
	mx->free = s;
	pthread_mutex_unlock(&mx->lock);
}

static int mx_start(size_t capacity, char *why, size_t whylen)
{
	if (mx_make(&mx_main, capacity) != 0) {
		snprintf(why, whylen, "mmap of %zu pages failed", capacity);
		return -1;
	}
	return 0;
}

static void mx_stop(void)
{
	mx_unmake(&mx_main);
}

/* The growth workload swaps in a fresh window; it runs alone. */
static int mx_grow_begin(size_t n)
{
	if (mx_make(&mx_grown, n) != 0)
		return -1;
	mx = &mx_grown;
	return 0;
}

static void mx_grow_end(void)
{
	mx = &mx_main;
	mx_unmake(&mx_grown);
}

#define WL_FN(x) mx_##x
#define WL_ALLOC() mx_alloc()
#define WL_FREE(p) mx_free(p)
#define WL_GROW_BEGIN(n) mx_grow_begin(n)
#define WL_GROW_END() mx_grow_end()
#define WL_RELEASE() ((void)0) /* the original never gave memory back */
#define WL_META(n) ((double)sizeof(struct mx_slot))
#include "workloads.h"

const struct peer peer_mutex = {
	.name = "mutex+list",
	.what = "model of the original: one mutex, SLIST of free slots",
	.start = mx_start,
	.stop = mx_stop,
	.s1 = mx_s1,
	.s2 = mx_s2,
	.s3_produce = mx_s3_produce,
	.s3_consume = mx_s3_consume,
	.s4 = mx_s4,
	.grow = mx_grow,
};
