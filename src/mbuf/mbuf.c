/*
 * The mbuf allocator and the life of an mbuf: allocation, external
 * storage and its shared reference count, and the free that gives a page
 * back to its pool exactly once.
 *
 * Mbufs come from 64 KiB slabs, 64 KiB-aligned, carved into MSIZE-byte,
 * MSIZE-aligned mbufs.  Each thread keeps a LIFO list of free mbufs;
 * beyond 2 * MB_BATCH it sends MB_BATCH of them to a shared depot, and
 * when empty it takes a batch back (Bonwick's magazines, with lists
 * instead of arrays since a free mbuf can hold its own link).  An mbuf
 * allocated by one thread may be freed by any other.
 *
 * Slabs stay mapped, so a freed mbuf can still be read: m_free checks
 * m_type and aborts on a double free instead of corrupting the lists.
 * jumbo_mbuf_trim() gives back the memory of slabs whose mbufs are all
 * in the depot with MADV_DONTNEED, which keeps the mapping: their mbufs
 * then read as zeros, MT_NOTMBUF, so a late double free is still caught;
 * such slabs are carved again before new ones are mapped.
 */
#include "jumbo_mbuf_rx.h"
#include "jumbo_pool_layer.h"
#include "mbuf_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MB_PER_SLAB (MB_SLAB / MSIZE)
#define MB_BATCH 64u

_Static_assert(sizeof(struct mbuf) + 64 <= MSIZE, "mbuf header too big");
_Static_assert((MSIZE & (MSIZE - 1)) == 0, "MSIZE must be a power of two");

/*
 * A thread's cache: free mbufs linked through m_next, n of them.  Only its
 * thread changes it; at thread exit the destructor moves the list to the
 * depot.  registered: the destructor key is set for this thread and the
 * cache is on the depot's list (next, pprev), where statistics read its
 * counters and a fork child finds the caches of threads it lacks.
 * allocs - frees is the thread's net effect on mbufs in use (negative
 * when it frees what others allocated); only its thread writes them.
 */
struct mb_cache {
	struct mbuf *free;
	unsigned n;
	bool registered;
	uint64_t allocs, frees;
	struct mb_cache *next, **pprev;
};

/*
 * The depot, behind lock: batches of free mbufs.  A batch is a list
 * through m_next; batches are linked through their first mbuf's m_nextpkt,
 * and the first mbuf's m_len holds the batch's length.  slab[0..nslab)
 * are the slabs ever mapped (never unmapped), room for cap of them;
 * spare[0..nspare) those whose memory trim gave back, to be carved first.
 * Balance: mapped * MB_PER_SLAB = nfree (in batches) + out (allocated or
 * in a thread's cache) + nspare * MB_PER_SLAB, but for what a fork child
 * could not recover (see _jumbo_mb_atfork_child).  caches: the registered
 * thread caches; retired_*: the counters of those gone.
 */
static struct {
	pthread_mutex_t lock;
	struct mbuf *batches;
	char **slab, **spare;
	size_t nslab, nspare, cap;
	size_t mapped, nfree, out, high_water;
	struct mb_cache *caches;
	uint64_t retired_allocs, retired_frees;
	uint64_t alloc_fails; /* atomic */
} depot = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * initial-exec, as the pool's _jumbo_tls: a plain %fs-relative access even
 * in libjumbo.so, where the default (general-dynamic) model calls
 * __tls_get_addr through the PLT at every use, twice in m_get.  glibc
 * keeps static TLS room for such libraries, dlopen'ed ones included.
 */
static __thread struct mb_cache mb_tcache __attribute__((tls_model("initial-exec")));
static pthread_key_t mb_key;
static pthread_once_t mb_key_once = PTHREAD_ONCE_INIT;

unsigned char *_jumbo_mb_root[(size_t)1 << MB_ROOT_BITS];

/* Depot lock held: records s as a slab.  0, or -ENOMEM (no leaf). */
static int slab_mark(const char *s)
{
	uintptr_t r = (uintptr_t)s >> MB_ROOT_SHIFT;
	size_t i = ((uintptr_t)s >> MB_SLAB_SHIFT) & (((size_t)1 << MB_LEAF_BITS) - 1);

	if (r >= ((uintptr_t)1 << MB_ROOT_BITS))
		return -ENOMEM; /* above 47 bits: mmap(NULL) never goes there */
	unsigned char *leaf = _jumbo_mb_root[r];
	if (!leaf) {
		/* 64 KiB, zero pages until slabs are there: untouched mostly. */
		leaf = mmap(NULL, (size_t)1 << MB_LEAF_BITS, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (leaf == MAP_FAILED)
			return -ENOMEM;
		/* Release: the zeroed leaf before the pointer (mb_in_slab). */
		__atomic_store_n(&_jumbo_mb_root[r], leaf, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&leaf[i], 1, __ATOMIC_RELAXED);
	return 0;
}

/* Appends "0x" and the hex digits of v to p; returns the new end. */
static char *put_hex(char *p, uintptr_t v)
{
	int sh = (int)sizeof(v) * 8 - 4;

	*p++ = '0';
	*p++ = 'x';
	while (sh > 0 && !(v >> sh & 0xf))
		sh -= 4;
	for (; sh >= 0; sh -= 4)
		*p++ = "0123456789abcdef"[v >> sh & 0xf];
	return p;
}

static char *put_str(char *p, const char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

int _jumbo_mb_bad(const char *fn, const struct mbuf *m)
{
	char buf[160], *p = buf, *end = buf + sizeof(buf) - 20;
	bool ours = m && ((uintptr_t)m & (MSIZE - 1)) == 0 && mb_in_slab(m);

	p = put_str(p, end, fn);
	p = put_str(p, end, ours ? ": freed mbuf " : ": not an mbuf ");
	p = put_hex(p, (uintptr_t)m);
	*p++ = '\n';
	/* stdio is not async-signal-safe; one write(2) is, and is atomic. */
	ssize_t r = write(2, buf, (size_t)(p - buf));
	(void)r;
	errno = EINVAL;
	return -EINVAL;
}

void _jumbo_mb_panic(const char *fn, const void *addr, const char *what)
{
	_jumbo_abort("%s: %s mbuf %p", fn, what, addr);
}

/* Depot lock held: adds the batch list of n mbufs. */
static void depot_link(struct mbuf *list, unsigned n)
{
	list->m_len = n;
	list->m_nextpkt = depot.batches;
	depot.batches = list;
}

/* Depot lock held: n mbufs come back from a thread. */
static void depot_return(struct mbuf *list, unsigned n)
{
	depot_link(list, n);
	depot.nfree += n;
	depot.out -= n;
}

/* Depot lock held: n more mbufs are out. */
static void note_out(size_t n)
{
	depot.out += n;
	if (depot.out > depot.high_water)
		depot.high_water = depot.out;
}

static void depot_push(struct mbuf *list, unsigned n)
{
	pthread_mutex_lock(&depot.lock);
	depot_return(list, n);
	pthread_mutex_unlock(&depot.lock);
}

/*
 * Depot lock held: the cache leaves the list, its mbufs go to the depot
 * as one batch and its counters to the retired ones.
 */
static void cache_retire(struct mb_cache *c)
{
	if (c->free)
		depot_return(c->free, c->n);
	c->free = NULL;
	c->n = 0;
	depot.retired_allocs += c->allocs;
	depot.retired_frees += c->frees;
	c->allocs = c->frees = 0;
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	c->registered = false;
}

/* Thread exit.  A later destructor that frees mbufs registers it again. */
static void mb_cache_dtor(void *arg)
{
	pthread_mutex_lock(&depot.lock);
	cache_retire(arg);
	pthread_mutex_unlock(&depot.lock);
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(char *const *)a, y = (uintptr_t)*(char *const *)b;
	return (x > y) - (x < y);
}

/* Depot lock held, slab[] sorted: the index of m's slab, or nslab. */
static size_t slab_of(const struct mbuf *m)
{
	char *s = (char *)((uintptr_t)m & ~(MB_SLAB - 1));
	char **hit = bsearch(&s, depot.slab, depot.nslab, sizeof(s), cmp_ptr);
	return hit ? (size_t)(hit - depot.slab) : depot.nslab;
}

long jumbo_mbuf_trim(void)
{
	long bytes = 0;

	pthread_mutex_lock(&depot.lock);
	unsigned *nfree = calloc(depot.nslab + 1, sizeof(*nfree));
	if (!nfree) {
		pthread_mutex_unlock(&depot.lock);
		return -ENOMEM;
	}
	qsort(depot.slab, depot.nslab, sizeof(*depot.slab), cmp_ptr);
	/* Count each slab's mbufs in the depot (unregistered: the last). */
	for (struct mbuf *b = depot.batches; b; b = b->m_nextpkt)
		for (struct mbuf *m = b; m; m = m->m_next)
			nfree[slab_of(m)]++;
	/* Re-batch the mbufs of the slabs that stay. */
	struct mbuf *old = depot.batches, *head = NULL, *tail = NULL;
	unsigned n = 0;
	depot.batches = NULL;
	while (old) {
		struct mbuf *next_batch = old->m_nextpkt, *m = old;
		while (m) {
			struct mbuf *next = m->m_next;
			size_t k = slab_of(m);
			if (k == depot.nslab || nfree[k] < MB_PER_SLAB) {
				m->m_next = NULL;
				if (tail)
					tail->m_next = m;
				else
					head = m;
				tail = m;
				if (++n == MB_BATCH) {
					depot_link(head, n);
					head = tail = NULL;
					n = 0;
				}
			}
			m = next;
		}
		old = next_batch;
	}
	if (head)
		depot_link(head, n);
	/* Every mbuf of these slabs is free and out of the lists now. */
	for (size_t k = 0; k < depot.nslab; k++) {
		if (nfree[k] != MB_PER_SLAB)
			continue;
		if (madvise(depot.slab[k], MB_SLAB, MADV_DONTNEED) == 0)
			bytes += (long)MB_SLAB;
		/* Given back or not, it is carved afresh before a new one. */
		depot.spare[depot.nspare++] = depot.slab[k];
		depot.nfree -= MB_PER_SLAB;
	}
	pthread_mutex_unlock(&depot.lock);
	free(nfree);
	return bytes;
}

/*
 * A snapshot taken under the depot lock, so that no batch moves and no
 * cache comes or goes meanwhile; the threads' counters keep moving.  Frees
 * are summed before allocations (see mb_put), so in use is never negative,
 * and it is capped by the mbufs out of the depot, which the lock freezes:
 * every figure is one that could have been true.  Exact when no other
 * thread allocates or frees.
 */
int jumbo_mbuf_stats(struct jumbo_mbuf_stats *st)
{
	uint64_t a, f;

	if (!st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&depot.lock);
	f = depot.retired_frees;
	for (struct mb_cache *c = depot.caches; c; c = c->next)
		f += __atomic_load_n(&c->frees, __ATOMIC_ACQUIRE);
	a = depot.retired_allocs;
	for (struct mb_cache *c = depot.caches; c; c = c->next)
		a += __atomic_load_n(&c->allocs, __ATOMIC_ACQUIRE);
	st->in_use = a > f ? a - f : 0;
	if (st->in_use > depot.out)
		st->in_use = depot.out;
	st->cached_free = depot.out - st->in_use;
	st->depot_free = depot.nfree;
	st->high_water = depot.high_water;
	st->slabs = depot.mapped;
	st->trimmed_slabs = depot.nspare;
	pthread_mutex_unlock(&depot.lock);
	st->allocs = a;
	st->frees = f;
	st->alloc_fails = __atomic_load_n(&depot.alloc_fails, __ATOMIC_RELAXED);
	st->slab_bytes = MB_SLAB;
	st->bytes = (st->slabs - st->trimmed_slabs) * MB_SLAB;
	return 0;
}

void jumbo_mbuf_stats_print(const struct jumbo_mbuf_stats *st, void *stream)
{
	FILE *out = stream ? stream : stdout;
	const struct {
		const char *name;
		uint64_t v;
	} rows[] = {
		{ "in_use", st->in_use },	    { "high_water", st->high_water },
		{ "cached_free", st->cached_free }, { "depot_free", st->depot_free },
		{ "allocs", st->allocs },	    { "frees", st->frees },
		{ "alloc_fails", st->alloc_fails }, { "slabs", st->slabs },
		{ "trimmed_slabs", st->trimmed_slabs }, { "slab_bytes", st->slab_bytes },
		{ "bytes", st->bytes },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(out, "mbuf_%-14s %llu\n", rows[i].name,
			(unsigned long long)rows[i].v);
}

/*
 * A list a thread the fork left behind was keeping: its mbufs, checked
 * one by one (in a slab, at an mbuf's start, free), up to the first that
 * is not; the counted rest is appended to the depot.  The thread may have
 * been stopped between two stores of mb_put: a list cut short loses a
 * few mbufs, never takes a live one.
 */
static void child_reclaim(struct mbuf *m)
{
	struct mbuf *head = m, *last = NULL;
	size_t n = 0, cap = depot.mapped * MB_PER_SLAB;

	while (m && n < cap && ((uintptr_t)m & (MSIZE - 1)) == 0 &&
	       mb_in_slab(m) && m->m_type == MT_NOTMBUF) {
		last = m;
		m = m->m_next;
		n++;
	}
	if (!n)
		return;
	last->m_next = NULL;
	depot_return(head, (unsigned)n);
}

void _jumbo_mb_atfork(int phase)
{
	struct mb_cache *c, *next;

	if (phase == JUMBO_FORK_PREPARE) {
		pthread_mutex_lock(&depot.lock);
		return;
	}
	if (phase == JUMBO_FORK_PARENT) {
		pthread_mutex_unlock(&depot.lock);
		return;
	}
	/* The child, its only thread: the lock is its own. */
	for (c = depot.caches; c; c = next) {
		next = c->next;
		if (c == &mb_tcache)
			continue;
		struct mbuf *list = c->free;
		c->free = NULL;
		c->n = 0;
		cache_retire(c);
		child_reclaim(list);
	}
	pthread_mutex_unlock(&depot.lock);
}

static void mb_key_init(void)
{
	pthread_key_create(&mb_key, mb_cache_dtor);
}

static __attribute__((noinline)) void mb_cache_register(struct mb_cache *c)
{
	pthread_once(&mb_key_once, mb_key_init);
	pthread_setspecific(mb_key, c);
	pthread_mutex_lock(&depot.lock);
	c->next = depot.caches;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &depot.caches;
	depot.caches = c;
	c->registered = true;
	pthread_mutex_unlock(&depot.lock);
}

/*
 * A new slab, aligned to its size so that an mbuf's slab is its address
 * rounded down, and registered for trim (an unregistered one, if the
 * registry cannot grow, is simply never trimmed).
 */
static char *slab_new(void)
{
	_jumbo_atfork_init(); /* before the first mbuf, the first lock */
	_jumbo_statseg_mbufs(jumbo_mbuf_stats); /* jumbo stat shows them */
	char *raw = mmap(NULL, 2 * MB_SLAB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	char *s = (char *)(((uintptr_t)raw + MB_SLAB - 1) & ~(MB_SLAB - 1));
	if (s > raw)
		munmap(raw, (size_t)(s - raw));
	munmap(s + MB_SLAB, (size_t)(raw + MB_SLAB - s));
	pthread_mutex_lock(&depot.lock);
	if (depot.nslab == depot.cap) {
		size_t cap = depot.cap ? 2 * depot.cap : 64;
		char **v = realloc(depot.slab, cap * sizeof(*v));
		char **w = v ? realloc(depot.spare, cap * sizeof(*w)) : NULL;
		if (v)
			depot.slab = v;
		if (w) {
			depot.spare = w;
			depot.cap = cap;
		}
	}
	int err = slab_mark(s);
	if (!err && depot.nslab < depot.cap)
		depot.slab[depot.nslab++] = s;
	if (!err) {
		depot.mapped++;
		note_out(MB_PER_SLAB); /* the caller carves it into its cache */
	}
	pthread_mutex_unlock(&depot.lock);
	if (err) {
		/* Its mbufs would be refused as foreign: don't use it. */
		munmap(s, MB_SLAB);
		return NULL;
	}
	return s;
}

/* Slow path: the cache is empty.  Refill from the depot or a slab. */
static __attribute__((noinline)) struct mbuf *mb_refill(struct mb_cache *c)
{
	struct mbuf *b;

	if (!c->registered)
		mb_cache_register(c);
	pthread_mutex_lock(&depot.lock);
	b = depot.batches;
	if (b) {
		depot.batches = b->m_nextpkt;
		depot.nfree -= (size_t)b->m_len;
		note_out((size_t)b->m_len);
	}
	char *s = !b && depot.nspare ? depot.spare[--depot.nspare] : NULL;
	if (s)
		note_out(MB_PER_SLAB);
	pthread_mutex_unlock(&depot.lock);
	if (b) {
		c->free = b;
		c->n = (unsigned)b->m_len;
		return b;
	}
	if (!s && !(s = slab_new()))
		return NULL;
	/* Fresh (or trimmed) memory is zero: every mbuf is MT_NOTMBUF. */
	for (size_t i = 0; i < MB_PER_SLAB; i++) {
		struct mbuf *m = (struct mbuf *)(s + i * MSIZE);
		m->m_next = i + 1 < MB_PER_SLAB ?
				    (struct mbuf *)(s + (i + 1) * MSIZE) :
				    NULL;
	}
	c->free = (struct mbuf *)s;
	c->n = MB_PER_SLAB;
	return c->free;
}

/* Inlined into m_get and m_gethdr: a call would cost a third of it. */
static inline __attribute__((always_inline)) struct mbuf *mb_alloc(void)
{
	struct mb_cache *c = &mb_tcache;
	struct mbuf *m = c->free;

	if (unlikely(!m) && !(m = mb_refill(c))) {
		__atomic_fetch_add(&depot.alloc_fails, 1, __ATOMIC_RELAXED);
		errno = ENOMEM;
		return NULL;
	}
	c->free = m->m_next;
	c->n--;
	/* One writer: a load and a store, no read-modify-write. */
	__atomic_store_n(&c->allocs, c->allocs + 1, __ATOMIC_RELAXED);
	return m;
}

/* Slow path of mb_put: the cache holds 2 * MB_BATCH; the first MB_BATCH
 * of its list (the most recently freed) go to the depot as one batch. */
static __attribute__((noinline)) void mb_flush(struct mb_cache *c)
{
	struct mbuf *head = c->free, *t = head;

	for (unsigned i = 1; i < MB_BATCH; i++)
		t = t->m_next;
	c->free = t->m_next;
	t->m_next = NULL;
	c->n -= MB_BATCH;
	depot_push(head, MB_BATCH);
}

/*
 * Gives a dead mbuf (m_type already MT_NOTMBUF) back to this thread.
 * Inlined into mb_free: a call would cost as much as the push.
 */
static inline __attribute__((always_inline)) void mb_put(struct mbuf *m)
{
	struct mb_cache *c = &mb_tcache;

	if (unlikely(!c->registered))
		mb_cache_register(c); /* else statistics miss its frees */
	m->m_next = c->free;
	c->free = m;
	/*
	 * Release: whoever reads this count (jumbo_mbuf_stats, acquire)
	 * also sees the allocation of the mbuf, which happened before its
	 * free on whatever thread made it: in use never reads negative.
	 */
	__atomic_store_n(&c->frees, c->frees + 1, __ATOMIC_RELEASE);
	if (unlikely(++c->n >= 2 * MB_BATCH))
		mb_flush(c);
}

/*
 * mb_put for the n dead mbufs of the list head..tail (linked through
 * m_next): one update of the cache for all of them.
 */
static inline void mb_put_list(struct mbuf *head, struct mbuf *tail,
			       unsigned n)
{
	struct mb_cache *c = &mb_tcache;

	if (unlikely(!c->registered))
		mb_cache_register(c);
	tail->m_next = c->free;
	c->free = head;
	/* Release, as in mb_put: the allocations before the frees. */
	__atomic_store_n(&c->frees, c->frees + n, __ATOMIC_RELEASE);
	c->n += n;
	while (unlikely(c->n >= 2 * MB_BATCH))
		mb_flush(c);
}

static struct mbuf *mb_init(struct mbuf *m, int flags)
{
	m->m_next = NULL;
	m->m_nextpkt = NULL;
	m->m_data = m->m_dat;
	m->m_len = 0;
	m->m_flags = flags;
	memset(&m->m_pkthdr, 0, sizeof(m->m_pkthdr));
	memset(&m->m_ext, 0, sizeof(m->m_ext));
	/*
	 * Release pairs with the acquire exchange in m_free: the fields
	 * above are written before the mbuf can be seen as live.
	 */
	__atomic_store_n(&m->m_type, MT_DATA, __ATOMIC_RELEASE);
	return m;
}

struct mbuf *m_get(int how, short type)
{
	struct mbuf *m = mb_alloc();
	return m ? mb_init(m, 0) : NULL;
}

struct mbuf *m_gethdr(int how, short type)
{
	struct mbuf *m = mb_alloc();
	return m ? mb_init(m, M_PKTHDR) : NULL;
}

/*
 * Slow path of _jumbo_mb_page_chain: the cache holds fewer than n mbufs.
 * Takes them one by one (refilling), linked through m_next; all or none.
 */
static __attribute__((noinline)) struct mbuf *mb_alloc_list(unsigned n)
{
	struct mbuf *head = NULL, *m;

	for (unsigned i = 0; i < n; i++) {
		if (!(m = mb_alloc())) {
			while (head) {
				m = head->m_next;
				mb_put(head); /* never live: MT_NOTMBUF still */
				head = m;
			}
			return NULL;
		}
		m->m_next = head;
		head = m;
	}
	return head;
}

void _jumbo_mb_run_free(caddr_t page, void *args)
{
	struct jumbo_mb_run *run = args;

	(void)page;
	run->put(run, 1);
}

struct mbuf *_jumbo_mb_page_chain(struct jumbo_pool *pool, char *addr,
				  unsigned page_shift, size_t len,
				  struct jumbo_mb_run *run)
{
	size_t page_size = (size_t)1 << page_shift;
	unsigned n = (unsigned)((len + page_size - 1) >> page_shift);
	struct mb_cache *c = &mb_tcache;
	struct mbuf *head = c->free, *m;
	size_t left = len;

	/*
	 * The cache's list is linked through m_next already: its first n
	 * mbufs are the chain, cut off in one go and counted once.
	 */
	if (likely(c->n >= n)) {
		m = head;
		for (unsigned i = 1; i < n; i++)
			m = m->m_next;
		c->free = m->m_next;
		c->n -= n;
		__atomic_store_n(&c->allocs, c->allocs + n, __ATOMIC_RELAXED);
	} else if (!(head = mb_alloc_list(n))) {
		return NULL;
	}
	memset(&head->m_pkthdr, 0, sizeof(head->m_pkthdr));
	head->m_pkthdr.len = len;
	m = head;
	for (unsigned i = 0; i < n; i++) {
		struct mbuf *next = i + 1 < n ? m->m_next : NULL;

		m->m_next = next;
		m->m_nextpkt = NULL;
		m->m_data = addr;
		m->m_len = left < page_size ? left : page_size;
		m->m_flags = i ? M_EXT : M_EXT | M_PKTHDR;
		m->m_ext.ext_buf = addr;
		m->m_ext.ext_size = page_size;
		m->m_ext.ext_free = _jumbo_mb_run_free;
		m->m_ext.ext_args = run;
		m->m_ext.ext_pool = pool;
		m->m_ext.ext_cnt = &m->m_ext.ext_count;
		m->m_ext.ext_count = 1;
		m->m_ext.ext_type = EXT_JUMBO;
		/*
		 * Release, as in mb_init: the fields above before the mbuf
		 * can be seen live (m_free's acquire exchange).
		 */
		__atomic_store_n(&m->m_type, MT_DATA, __ATOMIC_RELEASE);
		addr += page_size;
		left -= m->m_len;
		m = next;
	}
	return head;
}

/*
 * Prints "fn: mbuf 0x...: why" on stderr and returns err: a bad attach is
 * a driver's mistake that would otherwise leak a page per frame, and
 * FreeBSD code calls MEXTADD as a statement.
 */
static int ext_refuse(const char *fn, const struct mbuf *m, int err,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int ext_refuse(const char *fn, const struct mbuf *m, int err,
		      const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	_jumbo_log(JUMBO_LOG_ERROR, "%s: mbuf %p: %s", fn, (const void *)m, why);
	return err;
}

/* m_extadd and m_extadd_jumbo: fn names the caller in reports. */
static int ext_attach(const char *fn, struct mbuf *m, caddr_t buf, size_t size,
		      m_ext_free_t freef, void *args, int flags, int type)
{
	struct jumbo_pool *pool = NULL;

	if (!mb_live(m))
		return m ? _jumbo_mb_bad(fn, m)
			 : ext_refuse(fn, m, -EINVAL, "no mbuf");
	/* A freed mbuf would keep the storage, and leak it, until reused. */
	if (m->m_flags & M_EXT)
		return ext_refuse(fn, m, -EINVAL, "already has external storage");
	if (!buf || !size)
		return ext_refuse(fn, m, -EINVAL, "no storage (buffer %p, size %zu)",
				  (void *)buf, size);
	if (type != EXT_JUMBO && type != EXT_EXTREF)
		return ext_refuse(fn, m, -EINVAL, "type %d is neither EXT_JUMBO "
				  "nor EXT_EXTREF", type);
	if (type == EXT_JUMBO) {
		if (!freef)
			return ext_refuse(fn, m, -EINVAL, "EXT_JUMBO without a "
					  "free routine: the page would never "
					  "go back");
		pool = freef == jumbo_ext_free && args ? args
						       : jumbo_default_pool();
		if (!pool)
			return ext_refuse(fn, m, -EFAULT, "EXT_JUMBO storage %p "
					  "but no pool (jumbo_vm_init has not "
					  "run)", (void *)buf);
		vm_page_t pg = jumbo_pool_page(pool, buf);
		if (!pg || jumbo_page_kva(pg) != buf)
			return ext_refuse(fn, m, -EFAULT, "%p is not the start of "
					  "a page of pool %p", (void *)buf,
					  (void *)pool);
		if (size != jumbo_pool_page_size(pool))
			return ext_refuse(fn, m, -EINVAL, "size %zu is not the "
					  "page size of pool %p (%zu)", size,
					  (void *)pool,
					  jumbo_pool_page_size(pool));
	}
	m->m_ext.ext_buf = buf;
	m->m_ext.ext_size = size;
	m->m_ext.ext_free = freef;
	m->m_ext.ext_args = args;
	m->m_ext.ext_pool = pool;
	m->m_ext.ext_type = type;
	m->m_ext.ext_count = 1;
	m->m_ext.ext_cnt = &m->m_ext.ext_count;
	m->m_data = buf;
	m->m_len = 0;
	m->m_flags |= M_EXT | (flags & (M_EOR | M_RDONLY));
	return 0;
}

int m_extadd(struct mbuf *m, caddr_t buf, size_t size, m_ext_free_t freef,
	     void *args, int flags, int type)
{
	return ext_attach("m_extadd", m, buf, size, freef, args, flags, type);
}

int m_extadd_jumbo(struct mbuf *m, struct jumbo_pool *pool, void *page,
		   m_ext_free_t freef, void *args)
{
	if (!pool)
		return ext_refuse("m_extadd_jumbo", m, -EINVAL, "no pool");
	/* ext_attach checks m and that page starts a page of pool. */
	int r = ext_attach("m_extadd_jumbo", m, page,
			   jumbo_pool_page_size(pool), jumbo_ext_free, pool, 0,
			   EXT_JUMBO);
	if (r == 0 && freef) {
		m->m_ext.ext_free = freef;
		m->m_ext.ext_args = args;
	}
	return r;
}

void jumbo_ext_free(caddr_t page, void *pool)
{
	struct jumbo_pool *p = pool ? pool : jumbo_default_pool();
	int r = p ? jumbo_pool_free(p, page) : -EFAULT;

	if (r != 0) {
		/* The page was freed behind the mbuf's back: corruption. */
		_jumbo_abort("jumbo_ext_free: page %p of pool %p: %s",
			     (void *)page, (void *)p, strerror(-r));
	}
}

void _jumbo_mb_ext_share(struct mbuf *n, const struct mbuf *m)
{
	const struct m_ext *e = &m->m_ext;

	/*
	 * Field by field, never a struct copy: ext_count, when m holds it, is
	 * the shared counter that other threads change atomically, and n's
	 * own ext_count is unused (its ext_cnt points at the holder's).
	 */
	n->m_ext.ext_buf = e->ext_buf;
	n->m_ext.ext_size = e->ext_size;
	n->m_ext.ext_free = e->ext_free;
	n->m_ext.ext_args = e->ext_args;
	n->m_ext.ext_pool = e->ext_pool;
	n->m_ext.ext_cnt = e->ext_cnt;
	n->m_ext.ext_count = 0;
	n->m_ext.ext_type = e->ext_type;
	n->m_flags |= M_EXT;
	/*
	 * Relaxed: the caller already owns a reference through m, so the
	 * count cannot reach 0 meanwhile; only the final drop orders.
	 */
	__atomic_fetch_add(m->m_ext.ext_cnt, 1, __ATOMIC_RELAXED);
}

/*
 * Drops m's reference to its external storage; runs the free routine if it
 * was the last one (unless run_free is false).  Returns true if m itself
 * must stay allocated because it holds the counter others still use.
 */
static bool mb_ext_drop(struct mbuf *m, bool run_free)
{
	volatile unsigned *cnt = m->m_ext.ext_cnt;
	struct mbuf *holder = mb_ext_holder(m);
	bool last;

	/*
	 * Acquire on the load and acq_rel on the decrement: every other
	 * holder's use of the buffer happens before the free routine runs.
	 * A count of 1 seen here is ours alone: no one else can make a new
	 * reference without holding one, so no RMW is needed.
	 */
	if (__atomic_load_n(cnt, __ATOMIC_ACQUIRE) == 1)
		last = true;
	else
		last = __atomic_sub_fetch(cnt, 1, __ATOMIC_ACQ_REL) == 0;
	if (!last)
		return holder == m;
	if (run_free && m->m_ext.ext_free)
		m->m_ext.ext_free(m->m_ext.ext_buf, m->m_ext.ext_args);
	if (holder != m)
		mb_put(holder); /* freed earlier, kept for the counter */
	return false;
}

/*
 * The rest of a free with external storage, out of line: it calls the
 * free routine anyway, and kept inline its registers would be saved and
 * restored on every free, with storage or without.
 */
static __attribute__((noinline)) void mb_free_ext(struct mbuf *m, bool run_free)
{
	if (!mb_ext_drop(m, run_free))
		mb_put(m);
}

/* mb_ext_drop(m, true) out of line, for m_freem: true if m stays. */
static __attribute__((noinline)) bool mb_ext_drop_out(struct mbuf *m)
{
	return mb_ext_drop(m, true);
}

/*
 * m_free's checks: m must be an mbuf of the library and live.  Marks it
 * dead and returns its m_next; aborts (with fn and the address) if not.
 */
static inline __attribute__((always_inline)) struct mbuf *
mb_kill(struct mbuf *m, const char *fn)
{
	/* Before any field is read: a forged block could look live. */
	if (unlikely(((uintptr_t)m & (MSIZE - 1)) != 0 || !mb_in_slab(m)))
		_jumbo_mb_panic(fn, m, "not an mbuf:");
	/*
	 * The exchange makes two racing frees of one mbuf see each other:
	 * exactly one gets MT_DATA back.  Acquire pairs with mb_init.
	 */
	int t = __atomic_exchange_n(&m->m_type, MT_NOTMBUF, __ATOMIC_ACQUIRE);
	if (unlikely(t != MT_DATA))
		_jumbo_mb_panic(fn, m, t == MT_NOTMBUF ? "double free of"
						       : "not an mbuf:");
	return m->m_next;
}

static struct mbuf *mb_free(struct mbuf *m, bool run_free, const char *fn)
{
	struct mbuf *n = mb_kill(m, fn);

	if (m->m_flags & M_EXT)
		mb_free_ext(m, run_free);
	else
		mb_put(m);
	return n;
}

struct mbuf *m_free(struct mbuf *m)
{
	return m ? mb_free(m, true, "m_free") : NULL;
}

struct mbuf *_jumbo_mb_free_noext(struct mbuf *m)
{
	return mb_free(m, false, "jumbo_deliver");
}

/*
 * Whether m (killed by this thread, with external storage) is the sole
 * holder of a run's page: its own counter, at 1.  Then dropping it is the
 * last drop, with no holder elsewhere to put, and only its run's count
 * is left to update.  Acquire, as mb_ext_drop's load: the page's other
 * users (none now, but those before a shared reference's drop) done.
 */
static inline bool mb_run_sole(const struct mbuf *m)
{
	return m->m_ext.ext_free == _jumbo_mb_run_free &&
	       m->m_ext.ext_cnt == &m->m_ext.ext_count &&
	       __atomic_load_n(&m->m_ext.ext_count, __ATOMIC_ACQUIRE) == 1;
}

/*
 * One pass over the chain: each mbuf checked and killed as m_free does
 * (the exchange on m_type stays per mbuf: two threads freeing one chain
 * still abort), its storage dropped, and the dead mbufs handed to the
 * thread's cache at the end in one update, not one each.  Pages of a
 * receive run of which these mbufs were the sole holders go back to the
 * run as one count per run rather than one call per page (see
 * _jumbo_mb_run_free), after the pass.
 */
void m_freem(struct mbuf *m)
{
	struct mbuf *head = NULL, *tail = NULL;
	struct jumbo_mb_run *run = NULL;
	unsigned n = 0, nrun = 0;

	while (m) {
		struct mbuf *next = mb_kill(m, "m_freem");

		if (m->m_flags & M_EXT) {
			if (mb_run_sole(m)) {
				struct jumbo_mb_run *r = m->m_ext.ext_args;

				if (r != run) {
					if (nrun)
						run->put(run, nrun);
					run = r;
					nrun = 0;
				}
				nrun++;
			} else if (mb_ext_drop_out(m)) {
				/* It holds others' storage count: stays. */
				m = next;
				continue;
			}
		}
		m->m_next = head;
		head = m;
		if (!tail)
			tail = m;
		n++;
		m = next;
	}
	if (nrun)
		run->put(run, nrun);
	if (n)
		mb_put_list(head, tail, n);
}
