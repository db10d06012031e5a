/*
 * Per-thread caches: the allocation and free slow paths, and the caches'
 * lives.  The fast paths are inline in jumbo_int.h.
 *
 * Each thread keeps, per pool, a LIFO array of free pages (the allocating
 * end of Bonwick's magazine layer, DPDK's per-lcore cache).  When it runs
 * dry, half a cache of pages comes from the depot in one locked exchange;
 * when it overflows, half goes back.  The depot keeps them as magazines.
 *
 * A thread finds its cache of the pool it used last in two TLS words, and
 * of any other pool at tls.v[pool->id].  Pool ids are reused after a pool
 * is destroyed, so a cache also names its pool, and destroy clears that
 * name: a thread that finds a cache naming another pool (or none) frees it
 * and makes a new one.  The registry lock orders cache creation, thread
 * exit and pool destruction against each other.
 */
#include "jumbo_int.h"
#include "shm_int.h" /* a named pool's inline paths */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

__thread struct jumbo_tls _jumbo_tls __attribute__((tls_model("initial-exec")));
#define tls _jumbo_tls
/* The inline fast paths' way in (<jumbo/jumbo.h>): see cache_publish. */
__thread JUMBO_TLS_IE struct jumbo_fast *jumbo_fast_seed;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * The live pools by id, under reg_lock; grown (doubled) when every slot is
 * taken, never shrunk: ids are reused, so its size is the most pools that
 * were ever alive at once.  The fork handlers walk it with the lock held.
 */
static struct jumbo_pool **reg_pools;
static unsigned reg_cap;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/*
 * Expensive check: every page a cache holds is a committed frame.  Each
 * is plain FREE too, unless it is the second copy of a page two threads
 * freed at once (a twin, see _jumbo_twin(), caught when it is taken out),
 * which only a debug pool rules out, and debug pools have no caches.
 */
static inline bool cache_all_committed(const struct jumbo_pool *p,
				       const struct jumbo_cache *c)
{
	size_t committed = __atomic_load_n(&p->committed, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < c->f.len; i++)
		if (c->objs[i] >= committed ||
		    (fr_load(p, c->objs[i]) & PGS_MASK) == JUMBO_PG_UNUSED)
			return false;
	return true;
}

/*
 * Publishing the default pool's cache to the inline fast paths of
 * programs (<jumbo/jumbo.h>), which check nothing of the pool's or the
 * cache's but what struct jumbo_fast holds: jumbo_fast_seed points at the
 * cache only while it belongs to a live default pool and no drain request
 * is pending.  The owner sets it on its slow paths, which every first
 * call, drain request and refill or flush passes through; it is cleared by
 * the owner when the cache goes (thread exit, fork), and by another
 * thread, under the registry lock (which keeps the owner, and so its TLS,
 * alive), when it tags the cache for a drain or destroy detaches it.
 * Relaxed: the owner acts on a cleared pointer at its next call, as on the
 * tag; nothing else is ordered by it.
 */
static inline void cache_publish(struct jumbo_pool *p, struct jumbo_cache *c)
{
	if (unlikely(p->seed)) {
		c->publish = &jumbo_fast_seed;
		__atomic_store_n(&jumbo_fast_seed, &c->f, __ATOMIC_RELAXED);
	}
}

static inline void cache_unpublish(struct jumbo_cache *c)
{
	if (c->publish)
		__atomic_store_n(c->publish, NULL, __ATOMIC_RELAXED);
}

/*
 * Drain requests.  An allocation that fails at the cap while other threads'
 * caches may hold free pages asks those threads to give them back, as
 * UMA's cache drain and mimalloc's delayed frees do: it tags their caches'
 * pool word (the pool's address with the low bit set).  The fast paths
 * compare that word with the pool anyway, so a tagged cache fails the
 * comparison and its owner's next call takes the slow path, which empties
 * the cache into the depot and clears the tag: the request costs the fast
 * path nothing.  Only the owner touches its cache's pages, so nothing
 * races: the requester writes one word, by compare-and-swap so as never to
 * overwrite destroy's NULL, and only under the registry lock, which keeps
 * the cache alive.
 */
#define DRAIN_TAG ((uintptr_t)1)

static inline struct jumbo_pool *drain_tagged(const struct jumbo_pool *p)
{
	return (struct jumbo_pool *)((uintptr_t)p | DRAIN_TAG);
}

static inline struct jumbo_pool *cache_pool(const struct jumbo_cache *c)
{
	uintptr_t v = (uintptr_t)__atomic_load_n(&c->pool, __ATOMIC_RELAXED);
	return (struct jumbo_pool *)(v & ~DRAIN_TAG);
}

/* Ask every cache of p but mine to go back to the depot (see above). */
static void drain_request(struct jumbo_pool *p, struct jumbo_cache *mine)
{
	pthread_mutex_lock(&reg_lock);
	for (struct jumbo_cache *c = p->caches; c; c = c->pool_next) {
		struct jumbo_pool *want = p;
		/* Relaxed: the owner acts on the tag alone, and takes the
		 * depot lock to hand the pages over. */
		if (c != mine &&
		    __atomic_compare_exchange_n(&c->pool, &want,
						drain_tagged(p), false,
						__ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			cache_unpublish(c);
	}
	pthread_mutex_unlock(&reg_lock);
}

/* The owner honours a drain request: its pages go, the tag goes. */
static void drain_honour(struct jumbo_pool *p, struct jumbo_cache *c)
{
	_jumbo_depot_put(p, c->objs, c->f.len);
	c->f.len = 0;
	trim_if_idle(p);
	struct jumbo_pool *want = drain_tagged(p);
	__atomic_compare_exchange_n(&c->pool, &want, p, false,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/*
 * This thread's cache of p, or NULL if it has none (or only one a
 * destroyed pool left behind); a pending drain request is honoured.
 */
static struct jumbo_cache *cache_lookup(struct jumbo_pool *p)
{
	struct jumbo_cache *c = _jumbo_tls_cache(p);

	if (c)
		return c;
	if (p->id >= tls.n || !(c = tls.v[p->id]))
		return NULL;
	struct jumbo_pool *cp = __atomic_load_n(&c->pool, __ATOMIC_RELAXED);
	if (cp == drain_tagged(p))
		drain_honour(p, c);
	else if (cp != p)
		return NULL;
	return c;
}

/* ---- registry ----------------------------------------------------------- */

/* A free id for p: 0, or -ENOMEM if the registry cannot grow. */
int _jumbo_registry_add(struct jumbo_pool *p)
{
	unsigned i;
	int err = 0;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < reg_cap && reg_pools[i]; i++)
		;
	if (i == reg_cap) {
		unsigned n = reg_cap ? 2 * reg_cap : 16;
		struct jumbo_pool **v = n > reg_cap ? realloc(reg_pools, n * sizeof(*v))
						    : NULL;
		if (v) {
			memset(v + reg_cap, 0, (n - reg_cap) * sizeof(*v));
			reg_pools = v;
			reg_cap = n;
		} else {
			err = -ENOMEM;
		}
	}
	if (!err) {
		reg_pools[i] = p;
		p->id = i;
	}
	pthread_mutex_unlock(&reg_lock);
	return err;
}

/*
 * Registry lock held: the allocations and frees counted so far.  Every
 * free is counted after its page's allocation, so all the free counts are
 * read first and all the allocation counts after them, each with acquire
 * (a counter that shows a free shows the allocation before it, on x86 at
 * least, where the owners' plain stores are ordered): the sums never have
 * more frees than allocations.  Each counter is read at its own moment,
 * though, so the difference is off by what the pool did meanwhile; the
 * callers bound it.
 */
static void sum_locked(struct jumbo_pool *p, uint64_t *allocs, uint64_t *frees)
{
	uint64_t a, f = __atomic_load_n(&p->ctr.frees, __ATOMIC_ACQUIRE);

	pthread_mutex_lock(&p->lock);
	f += p->retired_frees;
	pthread_mutex_unlock(&p->lock);
	for (struct jumbo_cache *c = p->caches; c; c = c->pool_next)
		f += __atomic_load_n(&c->f.frees, __ATOMIC_ACQUIRE);
	a = __atomic_load_n(&p->ctr.allocs, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&p->lock);
	a += p->retired_allocs;
	pthread_mutex_unlock(&p->lock);
	for (struct jumbo_cache *c = p->caches; c; c = c->pool_next)
		a += __atomic_load_n(&c->f.allocs, __ATOMIC_ACQUIRE);
	*allocs = a;
	*frees = f;
}

void _jumbo_counters_sum(struct jumbo_pool *p, uint64_t *allocs, uint64_t *frees)
{
	pthread_mutex_lock(&reg_lock);
	sum_locked(p, allocs, frees);
	pthread_mutex_unlock(&reg_lock);
}

/* A cache's pages and its spare magazine go back to the depot. */
static void cache_empty(struct jumbo_pool *p, struct jumbo_cache *c)
{
	jumbo_assert(c->f.len <= c->f.cap);
	jumbo_assert_expensive(cache_all_committed(p, c));
	_jumbo_depot_put(p, c->objs, c->f.len);
	c->f.len = 0;
	_jumbo_depot_keep_empty(p, c->spare);
	c->spare = NULL;
	trim_if_idle(p);
}

/*
 * Destroy's first half: if no page is in use, detach every thread's cache
 * (their magazines go back to the depot, to be freed with it) and give up
 * the id; else change nothing and return the count in use.
 */
uint64_t _jumbo_registry_remove(struct jumbo_pool *p)
{
	uint64_t a, f, in_use;

	pthread_mutex_lock(&reg_lock);
	sum_locked(p, &a, &f);
	/* A named pool's pages move between processes: each one's counts
	 * say nothing of the pool's (and leaving is a detach). */
	in_use = p->shm ? 0 : pool_in_use(p, a, f);
	if (in_use != 0) {
		pthread_mutex_unlock(&reg_lock);
		return in_use;
	}
	for (struct jumbo_cache *c = p->caches; c; c = c->pool_next) {
		cache_empty(p, c);
		/* The owner sees this on its next look and frees the cache. */
		__atomic_store_n(&c->pool, NULL, __ATOMIC_RELAXED);
		cache_unpublish(c);
	}
	p->caches = NULL;
	reg_pools[p->id] = NULL;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

/* Registry lock held: a cache leaves its pool; its pages go to the depot. */
static void cache_retire(struct jumbo_pool *p, struct jumbo_cache *c)
{
	cache_empty(p, c);
	pthread_mutex_lock(&p->lock);
	p->retired_allocs += c->f.allocs;
	p->retired_frees += c->f.frees;
	pthread_mutex_unlock(&p->lock);
	*c->pool_pprev = c->pool_next;
	if (c->pool_next)
		c->pool_next->pool_pprev = c->pool_pprev;
}

/*
 * fork().  Hooks for whoever registers the library's pthread_atfork
 * handlers (the mbuf layer does, for the whole library): prepare takes the
 * registry lock and then every pool's lock, in id order, after waiting for
 * any trim to put its pages back (a trim running on another thread would
 * never finish in the child); parent and child release them.  Then
 * _jumbo_pools_atfork_settle (below) gives the child the pages that the
 * parent's other threads had cached, and detaches shared pools.
 */
void _jumbo_pools_atfork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < reg_cap; i++) {
		struct jumbo_pool *p = reg_pools[i];
		if (!p)
			continue;
		pthread_mutex_lock(&p->lock);
		while (p->trim_pages)
			pthread_cond_wait(&p->trim_cv, &p->lock);
	}
}

void _jumbo_pools_atfork_parent(void)
{
	for (unsigned i = reg_cap; i-- > 0;)
		if (reg_pools[i])
			pthread_mutex_unlock(&reg_pools[i]->lock);
	pthread_mutex_unlock(&reg_lock);
}

void _jumbo_pools_atfork_child(void)
{
	/*
	 * The child's one thread is the one that took the locks in prepare:
	 * it releases them, which also keeps ThreadSanitizer's record of
	 * them true (made anew, they would still be held in its eyes).
	 * trim's condition is made anew: its waiters did not follow.
	 */
	for (unsigned i = reg_cap; i-- > 0;) {
		struct jumbo_pool *p = reg_pools[i];
		if (!p)
			continue;
		pthread_cond_init(&p->trim_cv, NULL);
		p->trimming = 0; /* their threads did not follow */
		/*
		 * A device pinned the parent's pages, not the child's: fork
		 * gives a private pool's child copies of pinned pages, and a
		 * shared pool's child is detached (it can neither pin nor
		 * trim).  Nothing in the child holds its pages.
		 */
		p->pins = 0;
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_unlock(&reg_lock);
}

/* Thread exit: every cache of the thread goes back to its pool. */
static void tls_destructor(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&reg_lock);
	__atomic_store_n(&jumbo_fast_seed, NULL, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < tls.n; i++) {
		struct jumbo_cache *c = tls.v[i];
		if (!c)
			continue;
		struct jumbo_pool *p = cache_pool(c);
		if (p)
			cache_retire(p, c);
		free(c);
	}
	pthread_mutex_unlock(&reg_lock);
	free(tls.v);
	tls.v = NULL;
	tls.n = 0;
	tls.keyed = false;
	tls.last = NULL;
	tls.last_pool = NULL;
	tls.shm_last = NULL;
	tls.shm_pool = NULL;
}

static bool key_ok;

/*
 * Without a key a thread's cache could not go back at its exit, so if the
 * key cannot be made there are no thread caches: every call takes the
 * depot's lock, and still works.
 */
static void make_key(void)
{
	key_ok = pthread_key_create(&tls_key, tls_destructor) == 0;
}

/*
 * A cache for p, zeroed, at a cache line's start (its public part is one
 * line), with the pool's constants copied in for the inline fast paths.
 */
static struct jumbo_cache *cache_new(struct jumbo_pool *p)
{
	size_t len = sizeof(struct jumbo_cache) + p->cache_size * sizeof(frame_t);
	struct jumbo_cache *c;

	len = (len + JUMBO_CACHELINE - 1) & ~(size_t)(JUMBO_CACHELINE - 1);
	c = aligned_alloc(JUMBO_CACHELINE, len);
	if (!c)
		return NULL;
	memset(c, 0, len);
	c->f.cap = p->cache_size;
	c->f.shift = p->head.ph_shift;
	c->f.npages = (uint32_t)p->head.ph_npages;
	c->f.objs = c->objs;
	c->f.state = p->state;
	c->f.base = p->head.ph_base;
	c->f.pages = p->head.ph_pages;
	return c;
}

/* This thread's cache of p, made on first use.  NULL if out of memory. */
struct jumbo_cache *_jumbo_cache_get(struct jumbo_pool *p)
{
	struct jumbo_cache *c = cache_lookup(p);
	if (c)
		goto found;
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
		if (tls.last == tls.v[p->id])
			tls.last = NULL, tls.last_pool = NULL;
		if (tls.shm_last == tls.v[p->id])
			tls.shm_last = NULL, tls.shm_pool = NULL;
		free(tls.v[p->id]);
		tls.v[p->id] = NULL;
	}
	pthread_once(&tls_once, make_key);
	if (!key_ok)
		return NULL;
	if (!tls.keyed) {
		if (pthread_setspecific(tls_key, &tls) != 0)
			return NULL;
		tls.keyed = true;
	}
	c = cache_new(p);
	if (!c)
		return NULL;
	c->spare = _jumbo_depot_take_empty(p);
	pthread_mutex_lock(&reg_lock);
	c->pool_next = p->caches;
	if (p->caches)
		p->caches->pool_pprev = &c->pool_next;
	c->pool_pprev = &p->caches;
	p->caches = c;
	__atomic_store_n(&c->pool, p, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	tls.v[p->id] = c;
found:
	/* A named pool's words carry owners, which the inline paths do not
	 * know: its caches stay off their short cut and take shm.c's. */
	if (!p->shm) {
		tls.last = c;
		tls.last_pool = p;
	} else {
		tls.shm_last = c;
		tls.shm_pool = p;
	}
	cache_publish(p, c);
	return c;
}

/* ---- fork ---------------------------------------------------------------- */

/*
 * This thread's own cache of p, or NULL.  In a fork child this is the
 * only thread; every other cache on p's list belonged to a thread that
 * did not follow.
 */
static struct jumbo_cache *own_cache(struct jumbo_pool *p)
{
	struct jumbo_cache *c = p->id < tls.n ? tls.v[p->id] : NULL;

	return c && cache_pool(c) == p ? c : NULL;
}

/*
 * The child, only thread, locks free: a cache that leaves for good (its
 * thread is gone, or its pool is detached) gives its free pages to the
 * depot and its counters to the pool, as at a thread's exit.  Pages a
 * gone thread had allocated stay in use.  A thread the fork stopped in
 * the middle of a fast path or an exchange with the depot may leave a
 * page or a magazine's worth in neither its cache nor the depot (lost to
 * the child), or in both (a twin, caught and dropped when next taken):
 * never handed out twice.
 */
static void child_settle(struct jumbo_pool *p)
{
	struct jumbo_cache *own = own_cache(p), *c, *next;
	bool shared = (p->head.ph_flags & JUMBO_POOL_SHARED) != 0;

	if (shared) {
		/* No cache may refill: every page would go out twice. */
		p->nocache = true;
		p->detached = true;
		if (p->shm)
			_jumbo_shm_forked(p);
	}
	for (c = p->caches; c; c = next) {
		next = c->pool_next;
		if (c == own && !shared)
			continue;
		/*
		 * A bulk allocation marks its pages ALLOC before it shortens
		 * the cache: pages still inside it that read ALLOC are ones a
		 * gone thread never got to use.  Free again, not twins.
		 */
		for (unsigned k = 0; c != own && !p->shm && k < c->f.len; k++)
			if (fr_load(p, c->objs[k]) == JUMBO_PG_ALLOC)
				fr_store(p, c->objs[k], JUMBO_PG_FREE);
		/*
		 * A gone thread's spare magazine may already be the depot's:
		 * an exchange hands it over under the lock and takes the
		 * new spare after.  Given back twice it would loop a depot
		 * list, so it stays out (a few hundred bytes; still counted).
		 */
		if (c != own)
			c->spare = NULL;
		/*
		 * A named pool's depot is the parent's too: the pages cached
		 * here are the parent's cache, which it keeps using.
		 */
		if (p->shm)
			c->f.len = 0;
		cache_retire(p, c);
		if (c == own) {
			cache_unpublish(c);
			tls.v[p->id] = NULL;
			if (tls.last == c)
				tls.last = NULL, tls.last_pool = NULL;
			if (tls.shm_last == c)
				tls.shm_last = NULL, tls.shm_pool = NULL;
		}
		free(c);
	}
}

void _jumbo_pools_atfork_settle(void)
{
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < reg_cap; i++)
		if (reg_pools[i])
			child_settle(reg_pools[i]);
	pthread_mutex_unlock(&reg_lock);
}

void jumbo_pool_flush_cache(struct jumbo_pool *p)
{
	if (!p || !_jumbo_enter(p, "jumbo_pool_flush_cache"))
		return;
	struct jumbo_cache *c = cache_lookup(p);
	if (c) {
		_jumbo_depot_put(p, c->objs, c->f.len);
		c->f.len = 0;
		trim_if_idle(p);
	}
	_jumbo_leave(p);
}

/* ---- allocation ---------------------------------------------------------- */

/*
 * The cache is empty: a full magazine from the depot, emptied into the
 * array outside the lock; else pages from the depot's loose ones, fresh
 * frames or growth.
 */
static bool refill(struct jumbo_pool *p, struct jumbo_cache *c)
{
	jumbo_assert(c->f.len == 0);
	struct jumbo_mag *m = _jumbo_depot_take_full(p, c->spare);

	if (m) {
		memcpy(c->objs, m->pages, m->count * sizeof(frame_t));
		c->f.len = m->count;
		m->count = 0;
		c->spare = m;
	} else {
		c->f.len = _jumbo_depot_get(p, c->objs, p->mag_size);
	}
	trim_if_idle(p);
	return c->f.len != 0;
}

/* The cache is full: its older half leaves, in a magazine if one can be had. */
static void flush(struct jumbo_pool *p, struct jumbo_cache *c)
{
	unsigned m = p->mag_size;
	struct jumbo_mag *e = c->spare;

	jumbo_assert(c->f.len == c->f.cap && m <= c->f.len);
	jumbo_assert_expensive(cache_all_committed(p, c));

	if (!e)
		e = _jumbo_mag_new(p);
	if (e) {
		memcpy(e->pages, c->objs, m * sizeof(frame_t));
		e->count = m;
		c->spare = _jumbo_depot_give_full(p, e);
	} else {
		_jumbo_depot_put(p, c->objs, m); /* no memory: the spill list */
	}
	trim_if_idle(p);
	/* The recent, cache-hot half stays. */
	memmove(c->objs, c->objs + m, (c->f.len - m) * sizeof(frame_t));
	c->f.len -= m;
}

/*
 * Called with no cache yet, an empty one, or none at all (a NOCACHE or
 * debug pool: every page comes from the depot under its lock).
 */
static frame_t alloc_slow(struct jumbo_pool *p);

static JUMBO_NOINLINE frame_t alloc_entered(struct jumbo_pool *p)
{
	if (!_jumbo_enter(p, p->seed ? "jumbo_pg_alloc" : "jumbo_pool_alloc"))
		return NO_FRAME;
	frame_t f = p->shm ? _jumbo_shm_alloc_slow(p) : alloc_slow(p);
	_jumbo_leave(p);
	return f;
}

/*
 * A named pool's short cut first (shm_int.h): the inline paths of the
 * private pool land here for every one of its calls.  It marks nothing,
 * as they do not: it takes no lock and changes only the thread's cache.
 */
frame_t _jumbo_alloc_slow(struct jumbo_pool *p)
{
	frame_t f;

	if (likely(_jumbo_shm_alloc_fast(p, &f)))
		return f;
	return alloc_entered(p);
}

static frame_t alloc_slow(struct jumbo_pool *p)
{
	struct jumbo_cache *c = p->nocache ? NULL : _jumbo_cache_get(p);
	frame_t f;

	if (unlikely(p->detached)) {
		errno = -_jumbo_detached(p, "jumbo_pool_alloc", true);
		return NO_FRAME;
	}
	while (c && (c->f.len || refill(p, c))) {
		f = c->objs[--c->f.len];
		if (unlikely(fr_load(p, f) != JUMBO_PG_FREE)) {
			_jumbo_twin(p, f, NULL, false);
			continue;
		}
		ctr_bump(&c->f.allocs);
		fr_store(p, f, JUMBO_PG_ALLOC);
		return f;
	}
	while (!c && _jumbo_depot_get(p, &f, 1) == 1) {
		trim_if_idle(p);
		if (!_jumbo_alloc_check(p, f))
			continue;
		ctr_add(&p->ctr.allocs, 1);
		fr_store(p, f, JUMBO_PG_ALLOC);
		return f;
	}
	if (!c)
		trim_if_idle(p);
	/* The pool is out of pages but for those other threads cache. */
	if (!p->nocache)
		drain_request(p, c);
	ctr_add(&p->ctr.alloc_fails, 1);
	errno = ENOMEM;
	return NO_FRAME;
}

/*
 * The batch calls.  Every page's state word is checked and changed, one
 * page after the other as jumbo_pool_alloc/free would (a page twice in one
 * batch, a twin or a double free, meets the change its first copy made),
 * but a batch usually holds runs of consecutive frames: pages carved or
 * freed together come back together.  So the calls follow runs CHUNK
 * pages at a time: a chunk whose frames (or addresses) continue the run
 * one page apart has its state words side by side, checked all at once
 * and only then changed all at once, with no branch per page.  The run
 * ends at the first chunk that leaves it or fails its check; from there a
 * chunk goes page by page, which says exactly where a bad entry is, and a
 * run is looked for again after it.  Chunks are checked and changed in
 * order and the frames of one chunk are distinct, so nothing the
 * page-by-page order catches is missed.
 */
#define CHUNK 32
_Static_assert(CHUNK == SHM_RUN, "shm.c's batch free goes a chunk at a time");

/*
 * The runs' vectors: GCC's generic vectors of VB bytes, frame numbers and
 * state words 8 to a vector, addresses 4.  The kernels below are compiled
 * for the baseline (where a vector is two SSE2 or NEON registers) and, on
 * x86-64, again for AVX2, chosen once at load (run_probe): the per-page
 * work is a few vector operations, so the vector width is most of the
 * calls' time.  Frame numbers and addresses are the caller's or this
 * thread's cache's, never shared: plain loads and stores (memcpy, since
 * they are read as vectors of another type).
 *
 * State words are loaded and stored as vectors where no sanitizer
 * watches: nothing is ordered by these accesses (the per-page path uses
 * relaxed atomics for the same words), only each word's value matters,
 * and an aligned 4-byte element of a vector access is read and written
 * whole (single-copy atomic) on x86-64 and arm64 alike.  The words belong
 * to pages this thread owns (its cache's, or the caller's to free), so no
 * other thread writes them, but for statistics readers and the second
 * copy of a twin, which see the old or the new word, as with the relaxed
 * stores.  (A named pool uses them on the words of this process's own
 * pages, FREE|me to ALLOC|me and back, which have the one writer the
 * single calls' plain stores assume too: shm.c; another process's pages
 * are freed by compare-and-swap, never here.)
 * ThreadSanitizer, which cannot see that, gets relaxed atomics.
 */
#if defined(__SANITIZE_THREAD__)
#define RUN_WIDE 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RUN_WIDE 0
#endif
#endif
#ifndef RUN_WIDE
#define RUN_WIDE 1
#endif

#define VB 32
typedef uint32_t v32 __attribute__((vector_size(VB)));
typedef uint64_t v64 __attribute__((vector_size(VB)));
#define L32 ((unsigned)(VB / sizeof(uint32_t)))
#define L64 ((unsigned)(VB / sizeof(uint64_t)))
_Static_assert(CHUNK % L32 == 0 && CHUNK % L64 == 0, "a chunk's vectors");

/* Everything the kernels use is inlined into each of their builds. */
#define KERNEL_INLINE static inline __attribute__((always_inline))

/* The L32 state words from w, into *s. */
KERNEL_INLINE void st_load(v32 *s, const uint32_t *w)
{
	if (RUN_WIDE) {
		memcpy(s, w, sizeof(*s));
		return;
	}
	for (unsigned q = 0; q < L32; q++)
		(*s)[q] = __atomic_load_n(&w[q], __ATOMIC_RELAXED);
}

/*
 * The L32 state words from w become v; *x is v in every lane.  Stored
 * through a vector type of the words' alignment, not memcpy: with v a
 * variable, GCC 12 made memcpy's store 32 byte stores (the bytes of v,
 * merged as a memset would be), four times a named pool's batch free.
 */
typedef uint32_t v32_store
	__attribute__((vector_size(VB), aligned(4), may_alias));

KERNEL_INLINE void st_fill_v(uint32_t *w, const v32 *x, uint32_t v)
{
	if (RUN_WIDE) {
		*(v32_store *)(void *)w = *x;
		return;
	}
	for (unsigned q = 0; q < L32; q++)
		__atomic_store_n(&w[q], v, __ATOMIC_RELAXED);
}

KERNEL_INLINE void st_fill(uint32_t *w, uint32_t v)
{
	v32 x = (v32){ 0 } + v;

	st_fill_v(w, &x, v);
}

#if RUN_WIDE && defined(__x86_64__) && !defined(__AVX2__)
#define RUN_AVX2 1 /* the kernels are built twice: see run_probe */
#include <immintrin.h>

/* v_any in one instruction, for the AVX2 build (inlined there only). */
__attribute__((target("avx2"))) static inline bool v_any_avx2(const v64 *x)
{
	__m256i m;

	memcpy(&m, x, sizeof(m));
	return !_mm256_testz_si256(m, m);
}
#else
#define RUN_AVX2 0
#endif

/*
 * Any bit set in *x (vectors go by address: no vector crosses a call).
 * avx2: a constant, true only in the AVX2 build of a kernel.
 */
KERNEL_INLINE bool v_any(const v64 *x, bool avx2)
{
	uint64_t r = 0;

#if RUN_AVX2
	if (avx2)
		return v_any_avx2(x);
#endif
	for (unsigned q = 0; q < L64; q++)
		r |= (*x)[q];
	return r != 0;
}

/*
 * The frame of an address, as the inline free finds it: the offset
 * rotated right by the page shift (12 or 21, never 0), so that an address
 * inside a page brings its low bits to the top and the one compare with
 * the cap rejects it as it rejects one outside the pool (one below the
 * base wraps to a huge offset).
 */
static inline size_t rot_frame(uintptr_t a, uintptr_t base, unsigned shift)
{
	size_t off = a - base;

	return off >> shift | off << (sizeof(size_t) * CHAR_BIT - shift);
}

/*
 * Allocation: the pages of the run at the top of the cache (t[0], t[-1],
 * ... one frame apart, the same way), at most k of them (k >= CHUNK),
 * into out[0..), while their words read from: how many, a multiple of
 * CHUNK, each now to.  0 if the top is not on a run or its first chunk
 * fails.  from and to are FREE and ALLOC, with the owner in a named pool
 * (one writer, this thread, as in a private pool: shm.c).
 */
KERNEL_INLINE unsigned take_run_body(uint32_t *state, const frame_t *t,
				     void **out, unsigned k, uintptr_t base,
				     size_t npages, unsigned shift,
				     uint32_t from, uint32_t to, bool avx2)
{
	frame_t f0 = t[0], d = t[-1] - f0;
	uintptr_t step = (uintptr_t)1 << shift;
	v32 want[CHUNK / L32], x, s, bad;
	v64 a, any;
	unsigned j;

	if (d != 1 && d != (frame_t)-1)
		return 0;
	/* The run stops at either end of the pool: its state words do. */
	size_t room = d == 1 ? npages - f0 : (size_t)f0 + 1;
	if (k > room)
		k = (unsigned)room;
	if (d != 1)
		step = -step;
	/* A chunk is t[-j - CHUNK + 1 .. -j], lowest first: lane q of its
	 * vector b holds frame f0 + (j + CHUNK - 1 - b L32 - q) d. */
	for (unsigned b = 0; b < CHUNK / L32; b++)
		for (unsigned q = 0; q < L32; q++)
			want[b][q] = f0 + (frame_t)(CHUNK - 1 - b * L32 - q) * d;
	for (unsigned q = 0; q < L64; q++)
		a[q] = base + ((uintptr_t)f0 << shift) + q * step;
	for (j = 0; j + CHUNK <= k; j += CHUNK) {
		const frame_t *lo = t - j - (CHUNK - 1);
		uint32_t *w = state + (d == 1 ? f0 + j : f0 - j - (CHUNK - 1));

		bad = (v32){ 0 };
		for (unsigned b = 0; b < CHUNK / L32; b++) {
			memcpy(&x, lo + b * L32, sizeof(x));
			st_load(&s, w + b * L32);
			bad |= (x ^ want[b]) | (s ^ from);
		}
		memcpy(&any, &bad, sizeof(any));
		if (v_any(&any, avx2))
			break;
		for (unsigned b = 0; b < CHUNK / L32; b++)
			st_fill(w + b * L32, to);
		for (unsigned b = 0; b < CHUNK; b += L64) {
			memcpy(out + j + b, &a, sizeof(a));
			a += L64 * step;
		}
		for (unsigned b = 0; b < CHUNK / L32; b++)
			want[b] += CHUNK * d;
	}
	return j;
}

/*
 * Free: the addresses a[0..), at most k of them (k >= CHUNK), while they
 * are a run of page starts of the pool, one page apart, each reading
 * from: how many, a multiple of CHUNK, each now to with its frame in
 * o[0..).  The first address is checked as a single free's is; the
 * others, one page apart each and bounded by the pool's ends, can only be
 * page starts inside the pool too.  from and to are ALLOC and FREE, with
 * the owner in a named pool (its own pages: one writer, shm.c).
 */
KERNEL_INLINE unsigned give_run_body(uint32_t *state, void *const *a,
				     frame_t *o, unsigned k, uintptr_t base,
				     size_t npages, unsigned shift,
				     uint32_t from, uint32_t to, bool avx2)
{
	uintptr_t a0 = (uintptr_t)a[0], step = (uintptr_t)a[1] - a0;
	uintptr_t page = (uintptr_t)1 << shift;
	v64 want[CHUNK / L64], y, bad;
	v32 f, s, sb, tov = (v32){ 0 } + to;
	unsigned i;

	if (step != page && step != -page)
		return 0;
	size_t x = rot_frame(a0, base, shift);
	if (x >= npages)
		return 0;
	frame_t d = step == page ? 1 : (frame_t)-1;
	size_t room = d == 1 ? npages - x : x + 1;
	if (k > room)
		k = (unsigned)room;
	for (unsigned b = 0; b < CHUNK / L64; b++)
		for (unsigned q = 0; q < L64; q++)
			want[b][q] = a0 + (b * L64 + q) * step;
	for (unsigned q = 0; q < L32; q++)
		f[q] = (frame_t)x + (frame_t)q * d;
	for (i = 0; i + CHUNK <= k; i += CHUNK) {
		uint32_t *w = state + (d == 1 ? x + i : x - i - (CHUNK - 1));

		bad = (v64){ 0 };
		for (unsigned b = 0; b < CHUNK / L64; b++) {
			memcpy(&y, a + i + b * L64, sizeof(y));
			bad |= y ^ want[b];
		}
		sb = (v32){ 0 };
		for (unsigned b = 0; b < CHUNK / L32; b++) {
			st_load(&s, w + b * L32);
			sb |= s ^ from;
		}
		memcpy(&y, &sb, sizeof(y));
		bad |= y;
		if (v_any(&bad, avx2))
			break;
		for (unsigned b = 0; b < CHUNK / L32; b++) {
			st_fill_v(w + b * L32, &tov, to);
			memcpy(o + i + b * L32, &f, sizeof(f));
			f += L32 * d;
		}
		for (unsigned b = 0; b < CHUNK / L64; b++)
			want[b] += CHUNK * step;
	}
	return i;
}

#define RUN_ARGS_TAKE                                                        \
	uint32_t *state, const frame_t *t, void **out, unsigned k,           \
		uintptr_t base, size_t npages, unsigned shift, uint32_t from, \
		uint32_t to
#define RUN_ARGS_GIVE                                                        \
	uint32_t *state, void *const *a, frame_t *o, unsigned k,             \
		uintptr_t base, size_t npages, unsigned shift

static inline unsigned take_run_base(RUN_ARGS_TAKE)
{
	return take_run_body(state, t, out, k, base, npages, shift, from, to,
			     false);
}

static inline unsigned give_run_base(RUN_ARGS_GIVE)
{
	return give_run_body(state, a, o, k, base, npages, shift,
			     JUMBO_PG_ALLOC, JUMBO_PG_FREE, false);
}

/* The same with the words as arguments, for a named pool's. */
static inline unsigned give_words_base(RUN_ARGS_GIVE, uint32_t from,
				       uint32_t to)
{
	return give_run_body(state, a, o, k, base, npages, shift, from, to,
			     false);
}

#if RUN_AVX2
/*
 * The AVX2 build of the kernels, for the processors that have it (chosen
 * once, before main: a plain flag that is only ever read after).
 */
static bool run_avx2;

__attribute__((constructor)) static void run_probe(void)
{
	__builtin_cpu_init();
	run_avx2 = __builtin_cpu_supports("avx2");
}

__attribute__((target("avx2"), noinline)) static unsigned
take_run_avx2(RUN_ARGS_TAKE)
{
	return take_run_body(state, t, out, k, base, npages, shift, from, to,
			     true);
}

__attribute__((target("avx2"), noinline)) static unsigned
give_run_avx2(RUN_ARGS_GIVE)
{
	return give_run_body(state, a, o, k, base, npages, shift,
			     JUMBO_PG_ALLOC, JUMBO_PG_FREE, true);
}

__attribute__((target("avx2"), noinline)) static unsigned
give_words_avx2(RUN_ARGS_GIVE, uint32_t from, uint32_t to)
{
	return give_run_body(state, a, o, k, base, npages, shift, from, to,
			     true);
}

#define take_run(...) \
	(run_avx2 ? take_run_avx2(__VA_ARGS__) : take_run_base(__VA_ARGS__))
#define give_run(...) \
	(run_avx2 ? give_run_avx2(__VA_ARGS__) : give_run_base(__VA_ARGS__))
#define give_words(...) \
	(run_avx2 ? give_words_avx2(__VA_ARGS__) : give_words_base(__VA_ARGS__))
#else
#define take_run take_run_base
#define give_run give_run_base
#define give_words give_words_base
#endif

/*
 * Pages from the top of this thread's cache c into out[0..k) (k at most
 * its length) while their words read from, each changed to to, a run's
 * chunk at a time where it can: how many.  Fewer than k: the cache's top
 * page, now c->objs[c->f.len - 1], read otherwise, and the caller decides
 * what it is (a twin; in a named pool, a page no longer ours).
 */
static inline unsigned cache_take(struct jumbo_pool *p, struct jumbo_cache *c,
				  void **out, unsigned k, uint32_t from,
				  uint32_t to)
{
	/* Locals: nothing is kept in registers across atomics.  One count,
	 * j, walks the cache down from its top and the output up. */
	unsigned len = c->f.len;
	const frame_t *top = c->objs + len - 1;
	uint32_t *state = p->state;
	uintptr_t base = (uintptr_t)p->head.ph_base;
	size_t npages = p->head.ph_npages;
	unsigned shift = p->head.ph_shift;
	uint64_t allocs = c->f.allocs;
	unsigned j = 0, end, m;
	bool stop = false;

	while (j < k && !stop) {
		if (k - j >= CHUNK &&
		    (m = take_run(state, top - j, out + j, k - j, base, npages,
				  shift, from, to)) != 0) {
			j += m;
			continue;
		}
		/* Not on a run: a chunk page by page. */
		end = k - j > CHUNK ? j + CHUNK : k;
		for (; j < end; j++) {
			frame_t f = *(top - j);
			if (unlikely(__atomic_load_n(&state[f], __ATOMIC_RELAXED) !=
				     from)) {
				stop = true;
				break;
			}
			__atomic_store_n(&state[f], to, __ATOMIC_RELAXED);
			out[j] = (void *)(base + ((uintptr_t)f << shift));
		}
	}
	c->f.len = len - j;
	__atomic_store_n(&c->f.allocs, allocs + j, __ATOMIC_RELAXED);
	return j;
}

unsigned _jumbo_cache_take(struct jumbo_pool *p, struct jumbo_cache *c,
			   void **out, unsigned k, uint32_t from, uint32_t to)
{
	return cache_take(p, c, out, k, from, to);
}

unsigned _jumbo_give_run(struct jumbo_pool *p, void *const *a, frame_t *o,
			 unsigned k, uint32_t from, uint32_t to)
{
	if (k < CHUNK)
		return 0;
	return give_words(p->state, a, o, k, (uintptr_t)p->head.ph_base,
			  p->head.ph_npages, p->head.ph_shift, from, to);
}

unsigned jumbo_pool_alloc_bulk(struct jumbo_pool *p, void **addrs, unsigned n)
{
	unsigned got = 0;

	while (got < n) {
		struct jumbo_cache *c = _jumbo_tls_cache(p);
		if (c && c->f.len) {
			unsigned k = c->f.len < n - got ? c->f.len : n - got;
			unsigned j = cache_take(p, c, addrs + got, k,
						JUMBO_PG_FREE, JUMBO_PG_ALLOC);
			got += j;
			if (unlikely(j < k)) { /* stopped at a twin */
				frame_t f = c->objs[--c->f.len];
				_jumbo_twin(p, f, NULL, false);
			}
			continue;
		}
		/* A named pool's caches are never the short cut above. */
		if (p->shm)
			return got + _jumbo_shm_alloc_bulk(p, addrs + got, n - got);
		frame_t f = _jumbo_alloc_slow(p);
		if (f == NO_FRAME)
			break;
		addrs[got++] = fr_addr(p, f);
	}
	return got;
}

/*
 * Each address is freed as jumbo_pool_free would; the first error is
 * returned, the bad entries left alone.  While the cache has room, the
 * loop is the inline free with the cache looked up once, a run at a time
 * where there are runs.
 */
int jumbo_pool_free_bulk(struct jumbo_pool *p, void *const *addrs, unsigned n)
{
	struct jumbo_cache *c = _jumbo_tls_cache(p);
	int first = 0;
	unsigned i = 0;

	if (c) {
		/*
		 * Locals for everything the loop reads: the compiler does not
		 * keep values in registers across the atomic stores.
		 */
		unsigned start = c->f.len, room = c->f.cap - start;
		unsigned m = n < room ? n : room, end, r;
		frame_t *o = c->objs + start;
		uintptr_t base = (uintptr_t)p->head.ph_base;
		size_t npages = p->head.ph_npages;
		unsigned shift = p->head.ph_shift;
		uint32_t *state = p->state;
		bool stop = false;

		while (i < m && !stop) {
			if (m - i >= CHUNK &&
			    (r = give_run(state, addrs + i, o + i, m - i, base,
					  npages, shift)) != 0) {
				i += r;
				continue;
			}
			end = m - i > CHUNK ? i + CHUNK : m;
			for (; i < end; i++) {
				size_t x = rot_frame((uintptr_t)addrs[i], base, shift);
				if (unlikely(x >= npages ||
					     __atomic_load_n(&state[x], __ATOMIC_RELAXED) !=
						     JUMBO_PG_ALLOC)) {
					stop = true; /* the checked path says why */
					break;
				}
				__atomic_store_n(&state[x], JUMBO_PG_FREE,
						 __ATOMIC_RELAXED);
				o[i] = (frame_t)x;
			}
		}
		c->f.len = start + i;
		__atomic_store_n(&c->f.frees, c->f.frees + i, __ATOMIC_RELAXED);
	} else if (p->shm) {
		return _jumbo_shm_free_bulk(p, addrs, n);
	}
	for (; i < n; i++) {
		int err = _jumbo_free_addr(p, addrs[i]);
		if (err && !first)
			first = err;
	}
	return first;
}

/* ---- free ---------------------------------------------------------------- */

/* A free page goes into this thread's cache, or to the depot. */
void _jumbo_cache_put(struct jumbo_pool *p, frame_t f)
{
	if (p->shm) {
		_jumbo_shm_cache_put(p, f);
		return;
	}
	struct jumbo_cache *c = p->nocache ? NULL : _jumbo_cache_get(p);

	if (!c) {
		_jumbo_depot_put(p, &f, 1);
		ctr_add(&p->ctr.frees, 1);
		trim_if_idle(p);
		return;
	}
	if (c->f.len == c->f.cap)
		flush(p, c);
	c->objs[c->f.len++] = f;
	ctr_bump(&c->f.frees);
}

/*
 * Everything the inline free does not handle: no cache yet or a full one,
 * a held page, a bad state, a debug pool.
 */
static JUMBO_NOINLINE int free_entered(struct jumbo_pool *p, frame_t f)
{
	if (!_jumbo_enter(p, p->seed ? "jumbo_pg_free" : "jumbo_pool_free"))
		return -EDEADLK;
	if (p->shm) {
		int r = _jumbo_shm_free_slow(p, f);
		_jumbo_leave(p);
		return r;
	}
	int r = _jumbo_free_state(p, f);
	if (r > 0)
		_jumbo_cache_put(p, f);
	_jumbo_leave(p);
	return r > 0 ? 0 : r;
}

/* A named pool's short cut first, as in _jumbo_alloc_slow. */
int _jumbo_free_slow(struct jumbo_pool *p, frame_t f)
{
	if (likely(_jumbo_shm_free_fast(p, f)))
		return 0;
	return free_entered(p, f);
}
