/*
 * Per-thread caches: the allocation and free fast paths.
 *
 * Each thread keeps, per pool, two magazines of free pages (Bonwick's
 * "loaded" and "previous"; FreeBSD UMA's alloc and free buckets).  The fast
 * paths touch only the thread's own magazine and the page's descriptor: no
 * lock and no atomic read-modify-write.  When the loaded magazine runs dry
 * or overflows, the two are swapped; when both are, one is exchanged with
 * the depot under the pool lock, a whole magazine at a time.
 *
 * A thread finds its cache of a pool at tls.v[pool->id].  Pool ids are
 * reused after a pool is destroyed, so a cache also names its pool, and
 * destroy clears that name: a thread that finds a cache naming another
 * pool (or none) frees it and makes a new one.  The registry lock orders
 * cache creation, thread exit and pool destruction against each other.
 */
#include "jumbo_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JUMBO_MAX_POOLS 4096

struct jumbo_tls {
	struct jumbo_cache **v; /* indexed by pool id */
	unsigned n;
	bool keyed;             /* thread-exit destructor armed */
};

/*
 * initial-exec: a plain %fs-relative access even from the shared library
 * (the general-dynamic default calls __tls_get_addr on every use).  The
 * cost is a little static TLS, which glibc reserves for such libraries.
 */
static __thread struct jumbo_tls tls __attribute__((tls_model("initial-exec")));

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jumbo_pool *reg_pools[JUMBO_MAX_POOLS];
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static inline struct jumbo_cache *tls_cache(const struct jumbo_pool *p)
{
	struct jumbo_cache *c;

	if (likely(p->id < tls.n) && likely((c = tls.v[p->id]) != NULL) &&
	    likely(__atomic_load_n(&c->pool, __ATOMIC_RELAXED) == p))
		return c;
	return NULL;
}

/* ---- registry ----------------------------------------------------------- */

int _jumbo_registry_add(struct jumbo_pool *p)
{
	int err = -EMFILE;

	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < JUMBO_MAX_POOLS; i++) {
		if (!reg_pools[i]) {
			reg_pools[i] = p;
			p->id = i;
			err = 0;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return err;
}

/* Registry lock held: the allocations and frees counted so far. */
static void sum_locked(struct jumbo_pool *p, uint64_t *allocs, uint64_t *frees)
{
	uint64_t a = __atomic_load_n(&p->ctr.allocs, __ATOMIC_RELAXED);
	uint64_t f = __atomic_load_n(&p->ctr.frees, __ATOMIC_RELAXED);

	pthread_mutex_lock(&p->lock);
	a += p->retired_allocs;
	f += p->retired_frees;
	pthread_mutex_unlock(&p->lock);
	for (struct jumbo_cache *c = p->caches; c; c = c->pool_next) {
		a += __atomic_load_n(&c->allocs, __ATOMIC_RELAXED);
		f += __atomic_load_n(&c->frees, __ATOMIC_RELAXED);
	}
	*allocs = a;
	*frees = f;
}

void _jumbo_counters_sum(struct jumbo_pool *p, uint64_t *allocs, uint64_t *frees)
{
	pthread_mutex_lock(&reg_lock);
	sum_locked(p, allocs, frees);
	pthread_mutex_unlock(&reg_lock);
}

/*
 * Destroy's first half: if no page is in use, detach every thread's cache
 * (their magazines go back to the depot, to be freed with it) and give up
 * the id; else change nothing and return the count in use.
 */
uint64_t _jumbo_registry_remove(struct jumbo_pool *p)
{
	uint64_t a, f, lost;

	pthread_mutex_lock(&reg_lock);
	sum_locked(p, &a, &f);
	lost = __atomic_load_n(&p->ctr.lost, __ATOMIC_RELAXED);
	if (a - f - lost != 0) {
		pthread_mutex_unlock(&reg_lock);
		return a - f - lost;
	}
	for (struct jumbo_cache *c = p->caches; c; c = c->pool_next) {
		_jumbo_depot_return_mag(p, c->loaded);
		_jumbo_depot_return_mag(p, c->prev);
		c->loaded = c->prev = NULL;
		/* The owner sees this on its next look and frees the cache. */
		__atomic_store_n(&c->pool, NULL, __ATOMIC_RELAXED);
	}
	p->caches = NULL;
	reg_pools[p->id] = NULL;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

/* Registry lock held: a cache leaves its pool; its pages go to the depot. */
static void cache_retire(struct jumbo_pool *p, struct jumbo_cache *c)
{
	_jumbo_depot_return_mag(p, c->loaded);
	_jumbo_depot_return_mag(p, c->prev);
	pthread_mutex_lock(&p->lock);
	p->retired_allocs += c->allocs;
	p->retired_frees += c->frees;
	pthread_mutex_unlock(&p->lock);
	*c->pool_pprev = c->pool_next;
	if (c->pool_next)
		c->pool_next->pool_pprev = c->pool_pprev;
}

/* Thread exit: every cache of the thread goes back to its pool. */
static void tls_destructor(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < tls.n; i++) {
		struct jumbo_cache *c = tls.v[i];
		if (!c)
			continue;
		struct jumbo_pool *p = __atomic_load_n(&c->pool, __ATOMIC_RELAXED);
		if (p)
			cache_retire(p, c);
		free(c);
	}
	pthread_mutex_unlock(&reg_lock);
	free(tls.v);
	tls.v = NULL;
	tls.n = 0;
	tls.keyed = false;
}

static void make_key(void)
{
	if (pthread_key_create(&tls_key, tls_destructor) != 0)
		abort(); /* only at the first pool use, with no memory at all */
}

/* This thread's cache of p, made on first use.  NULL if out of memory. */
struct jumbo_cache *_jumbo_cache_get(struct jumbo_pool *p)
{
	struct jumbo_cache *c = tls_cache(p);
	if (c)
		return c;
	if (p->id >= tls.n) {
		unsigned n = p->id < 8 ? 16 : 2 * (p->id + 1);
		struct jumbo_cache **v = realloc(tls.v, n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + tls.n, 0, (n - tls.n) * sizeof(*v));
		tls.v = v;
		tls.n = n;
	}
	if (tls.v[p->id]) { /* left behind by a destroyed pool */
		free(tls.v[p->id]);
		tls.v[p->id] = NULL;
	}
	pthread_once(&tls_once, make_key);
	if (!tls.keyed) {
		if (pthread_setspecific(tls_key, &tls) != 0)
			return NULL;
		tls.keyed = true;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loaded = _jumbo_mag_new(p);
	c->prev = _jumbo_mag_new(p);
	if (!c->loaded || !c->prev) {
		free(c->loaded);
		free(c->prev);
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&reg_lock);
	c->pool_next = p->caches;
	if (p->caches)
		p->caches->pool_pprev = &c->pool_next;
	c->pool_pprev = &p->caches;
	p->caches = c;
	__atomic_store_n(&c->pool, p, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	tls.v[p->id] = c;
	return c;
}

void jumbo_pool_flush_cache(struct jumbo_pool *p)
{
	struct jumbo_cache *c = tls_cache(p);
	if (!c)
		return;
	struct jumbo_mag *a = _jumbo_mag_new(p), *b = _jumbo_mag_new(p);
	if (!a || !b) {
		free(a);
		free(b);
		return;
	}
	_jumbo_depot_return_mag(p, c->loaded);
	_jumbo_depot_return_mag(p, c->prev);
	c->loaded = a;
	c->prev = b;
}

/* ---- allocation ---------------------------------------------------------- */

/*
 * The loaded magazine is empty.  Swap in the previous one if it has pages,
 * else trade an empty magazine for a full one at the depot, else fill the
 * loaded one from the depot's loose pages, fresh frames and growth.
 * Returns false when no page can be had.
 */
static bool refill(struct jumbo_pool *p, struct jumbo_cache *c)
{
	struct jumbo_mag *m;

	if (c->prev->count) {
		m = c->loaded;
		c->loaded = c->prev;
		c->prev = m;
		return true;
	}
	m = _jumbo_depot_exchange_full(p, c->prev);
	if (m) {
		c->prev = c->loaded;
		c->loaded = m;
		return true;
	}
	c->loaded->count = _jumbo_depot_get(p, c->loaded->pages, p->mag_size);
	return c->loaded->count != 0;
}

static inline vm_page_t take_page(struct jumbo_pool *p, vm_page_t pg)
{
	uint32_t s = pg_load(pg);

	if (likely(s == JUMBO_PG_FREE)) {
		pg_store(pg, JUMBO_PG_ALLOC);
		return pg;
	}
	return _jumbo_alloc_fixup(p, pg, s);
}

static JUMBO_NOINLINE vm_page_t alloc_slow(struct jumbo_pool *p)
{
	struct jumbo_cache *c = p->nocache ? NULL : _jumbo_cache_get(p);
	vm_page_t pg;

	if (c && refill(p, c)) {
		pg = c->loaded->pages[--c->loaded->count];
		ctr_bump(&c->allocs);
		return take_page(p, pg);
	}
	if (!c && _jumbo_depot_get(p, &pg, 1) == 1) {
		ctr_add(&p->ctr.allocs, 1);
		return take_page(p, pg);
	}
	ctr_add(&p->ctr.alloc_fails, 1);
	errno = ENOMEM;
	return NULL;
}

vm_page_t _jumbo_alloc(struct jumbo_pool *p)
{
	struct jumbo_cache *c = tls_cache(p);

	if (likely(c != NULL)) {
		struct jumbo_mag *m = c->loaded;
		if (likely(m->count != 0)) {
			ctr_bump(&c->allocs);
			return take_page(p, m->pages[--m->count]);
		}
	}
	return alloc_slow(p);
}

unsigned jumbo_pool_alloc_bulk(struct jumbo_pool *p, void **addrs, unsigned n)
{
	unsigned got = 0;

	while (got < n) {
		struct jumbo_cache *c = tls_cache(p);
		struct jumbo_mag *m = c ? c->loaded : NULL;
		if (m && m->count) {
			unsigned k = m->count < n - got ? m->count : n - got;
			for (unsigned i = 0; i < k; i++)
				addrs[got++] = pg_addr(p, take_page(p, m->pages[--m->count]));
			__atomic_store_n(&c->allocs, c->allocs + k, __ATOMIC_RELAXED);
			continue;
		}
		vm_page_t pg = alloc_slow(p);
		if (!pg)
			break;
		addrs[got++] = pg_addr(p, pg);
	}
	return got;
}

/* ---- free ---------------------------------------------------------------- */

/* The loaded magazine is full (or there is no cache). */
static JUMBO_NOINLINE void put_slow(struct jumbo_pool *p, vm_page_t pg)
{
	struct jumbo_cache *c = p->nocache ? NULL : _jumbo_cache_get(p);
	struct jumbo_mag *m;

	if (!c) {
		_jumbo_depot_put(p, &pg, 1);
		ctr_add(&p->ctr.frees, 1);
		return;
	}
	if (c->loaded->count == p->mag_size) {
		if (c->prev->count == 0) {
			m = c->loaded;
			c->loaded = c->prev;
			c->prev = m;
		} else if ((m = _jumbo_depot_exchange_empty(p, c->prev))) {
			c->prev = c->loaded;
			c->loaded = m;
		} else { /* no magazine to be had: the spill list takes it */
			_jumbo_depot_put(p, &pg, 1);
			ctr_bump(&c->frees);
			return;
		}
	}
	c->loaded->pages[c->loaded->count++] = pg;
	ctr_bump(&c->frees);
}

/* A free page goes into this thread's cache (or the depot). */
void _jumbo_cache_put(struct jumbo_pool *p, vm_page_t pg)
{
	struct jumbo_cache *c = tls_cache(p);

	if (likely(c != NULL)) {
		struct jumbo_mag *m = c->loaded;
		if (likely(m->count < p->mag_size)) {
			m->pages[m->count++] = pg;
			ctr_bump(&c->frees);
			return;
		}
	}
	put_slow(p, pg);
}

/*
 * Free a page of p.  Fast path: an allocated page without holds becomes
 * free with a plain store.  Everything else (a held page, a bad state,
 * debug poisoning) goes to _jumbo_free_slow, which returns an error, 0 when
 * the free is deferred to the last unhold, or 1 to go on.
 */
int _jumbo_free(struct jumbo_pool *p, vm_page_t pg)
{
	uint32_t s = pg_load(pg);

	if (unlikely(s != JUMBO_PG_ALLOC || p->debug)) {
		int r = _jumbo_free_slow(p, pg, s);
		if (r <= 0)
			return r;
	} else {
		pg_store(pg, JUMBO_PG_FREE);
	}
	_jumbo_cache_put(p, pg);
	return 0;
}
