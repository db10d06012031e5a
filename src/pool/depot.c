/*
 * The shared depot: magazines of free pages behind the pool lock, the spill
 * list, the fresh (committed, never used) frames, and growth.
 *
 * Every function here takes the pool lock itself and is called from a slow
 * path: a thread cache that ran dry or overflowed, a bulk call, a thread
 * exit, trim.  Growth (a system call) runs under the lock: it is rare, and a
 * thread that needs pages while another grows the pool would wait anyway.
 */
#include "jumbo_int.h"

#include <errno.h>
#include <stdlib.h>

struct jumbo_mag *_jumbo_mag_new(struct jumbo_pool *p)
{
	struct jumbo_mag *m = malloc(sizeof(*m) + p->mag_size * sizeof(frame_t));
	if (!m)
		return NULL;
	m->next = NULL;
	m->count = 0;
	m->stamp = 0;
	m->trimmed = false;
	__atomic_fetch_add(&p->nmags, 1, __ATOMIC_RELAXED);
	return m;
}

static void mag_push(struct jumbo_mag **list, struct jumbo_mag *m)
{
	m->next = *list;
	*list = m;
}

static struct jumbo_mag *mag_pop(struct jumbo_mag **list)
{
	struct jumbo_mag *m = *list;
	if (m)
		*list = m->next;
	return m;
}

/* The empty list, counted so that it can be kept bounded.  Lock held. */
static void empty_push(struct jumbo_pool *p, struct jumbo_mag *m)
{
	mag_push(&p->empty, m);
	p->nempty++;
}

static struct jumbo_mag *empty_pop(struct jumbo_pool *p)
{
	struct jumbo_mag *m = mag_pop(&p->empty);
	if (m)
		p->nempty--;
	return m;
}

static void mag_free(struct jumbo_pool *p, struct jumbo_mag *m)
{
	__atomic_fetch_sub(&p->nmags, 1, __ATOMIC_RELAXED);
	free(m);
}

/*
 * The full magazines are a queue: they join at the tail and leave from the
 * head, so a cache that runs dry gets the pages that have been free the
 * longest, as DPDK's ring does.  Measured with one thread allocating and
 * another freeing (support/ring.h, same run): 50 M pages/s taking the newest
 * magazine, 79 M taking the oldest, since the newest one's page and
 * descriptor lines are still in the other core's cache.  Lock held.
 */
static void full_append(struct jumbo_pool *p, struct jumbo_mag *m)
{
	m->next = NULL;
	if (p->full_tail)
		p->full_tail->next = m;
	else
		p->full = m;
	p->full_tail = m;
}

static struct jumbo_mag *full_pop(struct jumbo_pool *p)
{
	struct jumbo_mag *m = p->full;
	if (m) {
		p->full = m->next;
		if (!p->full)
			p->full_tail = NULL;
	}
	return m;
}

/* Called with the lock held whenever pages leave the depot. */
static void note_out(struct jumbo_pool *p, size_t n)
{
	p->out += (long)n;
	if (p->out > 0 && (size_t)p->out > p->high_water)
		p->high_water = (size_t)p->out;
}

/*
 * Commit at least want more frames, in whole growth steps, fewer only at
 * the cap.  Lock held.  0, or -ENOMEM at the cap, or what the kernel said.
 * The new frames' descriptors are written here: the descriptor array is
 * reserved for the cap but only touched as it grows.
 */
static int grow(struct jumbo_pool *p, size_t want)
{
	size_t first = p->committed, step = p->grow_pages;

	if (first >= p->head.ph_npages)
		return -ENOMEM;
	if (want > step)
		step = (want + p->grow_pages - 1) / p->grow_pages * p->grow_pages;
	if (step > p->head.ph_npages - first)
		step = p->head.ph_npages - first;
	int err = _jumbo_commit(p, first, step);
	if (err) {
		ctr_add(&p->ctr.grow_fails, 1);
		return err;
	}
	for (size_t i = first; i < first + step; i++)
		fr_init(p, i);
	/* Release: the descriptors above are written before anyone who
	 * reads committed (jumbo_phys_to_kva, stats) can see the frames. */
	__atomic_store_n(&p->committed, first + step, __ATOMIC_RELEASE);
	/* The same for the public head, read by the inline translation. */
	__atomic_store_n(&p->head.ph_committed, first + step, __ATOMIC_RELEASE);
	/* Counted in steps, as jumbo_pool(3) says, however many one call made. */
	ctr_add(&p->ctr.grows, (step + p->grow_pages - 1) / p->grow_pages);
	return 0;
}

/*
 * Lock held.  Fresh frames into out[*got..n), committing more first if
 * none are left; false if growth was refused.
 */
static bool carve(struct jumbo_pool *p, frame_t *out, unsigned *got, unsigned n)
{
	if (p->carved == p->committed && grow(p, n - *got) != 0)
		return false;
	while (*got < n && p->carved < p->committed)
		out[(*got)++] = (frame_t)p->carved++;
	return true;
}

/*
 * The cold reserve.  A page freed on one core should come back to an
 * allocating core only after its lines have left the other core's cache:
 * so while the depot holds no more free pages than the reserve, fresh
 * frames are handed out before any of its pages, and the depot's pages
 * age behind them (figures at DEFAULT_RESERVE_BYTES, pool.c).  Pages trim
 * holds count as free here: they come back.
 *
 * The pool grows for the reserve only to keep it on top of the most pages
 * ever out of the depot at once (its working set): to that high water,
 * counting the n pages now asked for, plus the reserve, plus a magazine,
 * the spread of what the thread caches hold from one burst to the next
 * of the same size.  Growing whenever the depot held no more than the
 * reserve, as it once did, grew the pool by a step at every refill of an
 * empty cache while the whole pool was smaller than the reserve (each new
 * thread, each burst after a flush), up to the working set plus the
 * reserve: a page-fault storm each time, at no time of the caller's
 * choosing.  Now the pool grows for the reserve only when its working set
 * rises, in one call, and a later burst of the same size, or a new thread
 * doing what the last one did, finds its pages (tests/test_reserve.c).
 */
/*
 * Lock held.  Whether the reserve wants fresh frames for a take of n pages
 * (the depot holds no more than it) and has them, after growing the pool
 * to the reserve's goal if it is below it.  A refused growth (the cap, or
 * the kernel) drops the reserve for good: the pool cannot hold more.
 */
static bool reserve_fresh(struct jumbo_pool *p, unsigned n)
{
	if (!p->reserve ||
	    p->depot_pages + p->loose_pages + p->trim_pages > p->reserve)
		return false;
	size_t goal = _jumbo_reserve_goal(p, p->out, p->high_water,
					  p->reserve, n);
	if (p->committed < goal && grow(p, goal - p->committed) != 0)
		p->reserve = 0;
	return p->reserve && p->carved < p->committed;
}

/* Lock held: k pages leave run r, which stays in the list or not. */
static void run_pages_sub(struct jumbo_pool *p, const struct jumbo_run *r,
			  size_t k)
{
	p->run_pages -= k;
	if (r->loose)
		p->loose_pages -= k;
}

/* Lock held: run r joins the list. */
static void run_add(struct jumbo_pool *p, const struct jumbo_run *r)
{
	p->runs[p->nruns++] = *r;
	p->run_pages += r->n;
	if (r->loose)
		p->loose_pages += r->n;
}

/* Lock held: one page off the end of run k (which goes when empty). */
static frame_t run_pop(struct jumbo_pool *p, size_t k)
{
	struct jumbo_run *r = &p->runs[k];
	frame_t f = r->first + --r->n;

	if (r->trimmed)
		fr_untrim(p, f);
	run_pages_sub(p, r, 1);
	if (r->n == 0)
		*r = p->runs[--p->nruns];
	return f;
}

/* Lock held.  Take up to n free pages from wherever the depot has them. */
static unsigned take(struct jumbo_pool *p, frame_t *out, unsigned n)
{
	unsigned got = 0;

again:
	while (got < n && p->spill != SPILL_END) {
		frame_t f = p->spill;
		vm_page_t pg = fr_page(p, f);
		p->spill = pg->pg_link;
		pg->pg_link = SPILL_END;
		p->nspill--;
		out[got++] = f;
	}
	while (got < n && reserve_fresh(p, n))
		while (got < n && p->carved < p->committed)
			out[got++] = (frame_t)p->carved++;
	while (got < n && p->full) {
		struct jumbo_mag *m = p->full;
		while (got < n && m->count) {
			frame_t f = m->pages[--m->count];
			/* FREE, or a twin that its taker will catch. */
			jumbo_assert_internal((fr_load(p, f) & PGS_MASK) != JUMBO_PG_UNUSED);
			if (m->trimmed)
				fr_untrim(p, f);
			out[got++] = f;
			p->depot_pages--;
		}
		if (m->count == 0) {
			m->trimmed = false;
			full_pop(p);
			empty_push(p, m);
		}
	}
	/*
	 * Loose runs (runs_coalesce) were the magazines' pages: they go back
	 * to single allocations before the pool grows for them, so that runs
	 * made for alloc_contig do not make the pool grow for pages.  Runs
	 * freed whole stay runs until the cap.
	 */
	for (size_t k = p->nruns; got < n && p->loose_pages && k-- > 0;)
		while (got < n && k < p->nruns && p->runs[k].loose)
			out[got++] = run_pop(p, k);
	/*
	 * Before growing (or failing at the cap), wait for a trim that holds
	 * free pages out of the depot: an allocation must not fail, nor the
	 * pool grow, while the pool has free pages.  Trim holds them for its
	 * system calls only.
	 */
	while (got < n) {
		if (p->carved == p->committed && p->trim_pages) {
			pthread_cond_wait(&p->trim_cv, &p->lock);
			goto again;
		}
		if (!carve(p, out, &got, n))
			break;
	}
	/* Last, at the cap: free runs give up their pages, from the end. */
	while (got < n && p->nruns)
		out[got++] = run_pop(p, p->nruns - 1);
	note_out(p, got);
	return got;
}

unsigned _jumbo_depot_get(struct jumbo_pool *p, frame_t *out, unsigned n)
{
	if (p->shm)
		return _jumbo_shm_get(p, out, n, true);
	pthread_mutex_lock(&p->lock);
	unsigned got = take(p, out, n);
	pthread_mutex_unlock(&p->lock);
	return got;
}

/*
 * Whole-magazine exchanges, the thread caches' usual traffic: the pointer
 * copies happen outside the lock, which is held for a few list operations
 * only, so that the receive thread and the freeing thread rarely meet on
 * it (and when they do, an adaptive mutex spins instead of sleeping).
 */

/* Undo trim on the pages of a magazine leaving the depot (lock held). */
static void untrim(struct jumbo_pool *p, struct jumbo_mag *m)
{
	for (unsigned i = 0; i < m->count; i++)
		fr_untrim(p, m->pages[i]);
	m->trimmed = false;
}

/*
 * A cache ran dry: a full magazine for its spare (empty) one, or NULL if
 * the depot has none.  The caller copies the pages out and keeps the
 * magazine as its new spare.
 */
struct jumbo_mag *_jumbo_depot_take_full(struct jumbo_pool *p,
					 struct jumbo_mag *spare)
{
	if (p->shm) { /* the named pool's depot is shared: copy pages in */
		struct jumbo_mag *m = spare ? spare : _jumbo_mag_new(p);
		if (!m)
			return NULL;
		m->count = _jumbo_shm_get(p, m->pages, p->mag_size, false);
		if (m->count)
			return m;
		if (!spare)
			mag_free(p, m);
		return NULL;
	}
	pthread_mutex_lock(&p->lock);
	/*
	 * Within the reserve, fresh frames come first (see reserve_fresh):
	 * the caller takes them from _jumbo_depot_get.  Once none are left
	 * and the pool holds its working set and the reserve, the depot's
	 * pages are all there is.
	 */
	struct jumbo_mag *m = p->full;
	if (m && p->reserve &&
	    p->depot_pages + p->trim_pages - m->count < p->reserve &&
	    (p->carved < p->committed ||
	     p->committed < _jumbo_reserve_goal(p, p->out, p->high_water,
						p->reserve, m->count)))
		m = NULL;
	if (m) {
		full_pop(p);
		p->depot_pages -= m->count;
		note_out(p, m->count);
		if (spare)
			empty_push(p, spare);
		/* Under the lock, so that statistics never count a page both
		 * out of the depot and trimmed. */
		if (m->trimmed)
			untrim(p, m);
	}
	pthread_mutex_unlock(&p->lock);
	return m;
}

/*
 * A cache overflowed and filled its spare magazine: the depot takes it and
 * gives back an empty one (NULL if it has none: the cache makes one when
 * it next needs it).
 */
struct jumbo_mag *_jumbo_depot_give_full(struct jumbo_pool *p,
					 struct jumbo_mag *m)
{
	if (p->shm) { /* the pages are copied out; m stays the spare */
		_jumbo_shm_put(p, m->pages, m->count);
		m->count = 0;
		return m;
	}
	/* A local: once in the depot, m is other threads' to write. */
	uint32_t now = _jumbo_clock_ms();

	jumbo_assert(m->count > 0 && m->count <= p->mag_size);
	m->stamp = now;
	m->trimmed = false;
	pthread_mutex_lock(&p->lock);
	full_append(p, m);
	p->depot_pages += m->count;
	p->out -= (long)m->count;
	struct jumbo_mag *e = empty_pop(p);
	pthread_mutex_unlock(&p->lock);
	return e;
}

/*
 * Return n free pages to the depot: into the magazine on top while it has
 * room, else into an empty one, else onto the spill list, which needs no
 * memory (it links through the descriptors).  A free never fails.
 */
void _jumbo_depot_put(struct jumbo_pool *p, const frame_t *fs, unsigned n)
{
	if (p->shm) {
		_jumbo_shm_put(p, fs, n);
		return;
	}
	uint32_t now = _jumbo_clock_ms();

	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < n; i++) {
		struct jumbo_mag *m = p->full_tail; /* the one being filled */
		if (!m || m->count == p->mag_size) {
			m = empty_pop(p);
			if (!m) {
				pthread_mutex_unlock(&p->lock);
				m = _jumbo_mag_new(p);
				pthread_mutex_lock(&p->lock);
			}
			if (m) {
				m->trimmed = false;
				full_append(p, m);
			}
		}
		if (m) {
			m->stamp = now; /* the age of its youngest page */
			m->pages[m->count++] = fs[i];
			p->depot_pages++;
		} else {
			fr_page(p, fs[i])->pg_link = p->spill;
			p->spill = fs[i];
			p->nspill++;
		}
	}
	p->out -= (long)n;
	pthread_mutex_unlock(&p->lock);
}

/*
 * An empty magazine for a new cache: one the depot keeps if it has one,
 * else a new one (NULL is fine: the cache makes one when it needs it).
 */
struct jumbo_mag *_jumbo_depot_take_empty(struct jumbo_pool *p)
{
	pthread_mutex_lock(&p->lock);
	struct jumbo_mag *m = empty_pop(p);
	pthread_mutex_unlock(&p->lock);
	return m ? m : _jumbo_mag_new(p);
}

/*
 * An empty magazine a cache no longer needs (its thread exited, or the
 * pool is going).  The depot keeps a few for the next caches and frees
 * the rest: else every thread that ever touched the pool would leave one
 * behind, and a program that makes short-lived threads would grow its
 * metadata without bound.  The empties that the depot itself makes, as
 * caches drain its full magazines, are bounded by the pages it holds.
 */
#define EMPTY_KEEP 16

void _jumbo_depot_keep_empty(struct jumbo_pool *p, struct jumbo_mag *m)
{
	if (!m)
		return;
	m->count = 0;
	pthread_mutex_lock(&p->lock);
	bool keep = p->nempty < EMPTY_KEEP;
	if (keep)
		empty_push(p, m);
	pthread_mutex_unlock(&p->lock);
	if (!keep)
		mag_free(p, m);
}

/*
 * Trim's first half: detach the magazines that have been in the depot at
 * least min_age_ms, so that the system calls run without the lock.  Their
 * pages stay free all along and are counted in trim_pages until put back;
 * an allocation that needs them waits for that (see take()).
 */
struct jumbo_mag *_jumbo_depot_take_old(struct jumbo_pool *p, uint32_t now,
					unsigned min_age_ms)
{
	struct jumbo_mag *old = NULL, *keep = NULL, *m;

	if (p->shm) /* not trimmed yet: see jumbo_pool(3) */
		return NULL;
	pthread_mutex_lock(&p->lock);
	while ((m = full_pop(p))) {
		if ((uint32_t)(now - m->stamp) >= min_age_ms) {
			p->depot_pages -= m->count;
			p->trim_pages += m->count;
			m->next = old;
			old = m;
		} else {
			m->next = keep;
			keep = m;
		}
	}
	/* Put the young ones back in their order (keep is reversed). */
	struct jumbo_mag *rev = NULL;
	while ((m = keep)) {
		keep = m->next;
		m->next = rev;
		rev = m;
	}
	while ((m = rev)) {
		rev = m->next;
		full_append(p, m);
	}
	pthread_mutex_unlock(&p->lock);
	return old;
}

/*
 * Trim's second half: the magazines go back, at the head (oldest first),
 * with ntrimmed of their pages now trimmed, and whoever waits for them is
 * woken.  n: the pages take_old detached (some may have gone as twins).
 */
void _jumbo_depot_put_back(struct jumbo_pool *p, struct jumbo_mag *list,
			   size_t n, size_t ntrimmed)
{
	struct jumbo_mag *m;

	pthread_mutex_lock(&p->lock);
	while ((m = list)) {
		list = m->next;
		m->next = p->full;
		p->full = m;
		if (!p->full_tail)
			p->full_tail = m;
		p->depot_pages += m->count;
	}
	p->trim_pages -= n;
	p->trimmed += ntrimmed;
	pthread_cond_broadcast(&p->trim_cv);
	pthread_mutex_unlock(&p->lock);
}

/* Destroy: free every magazine and run the depot has.  No other thread
 * is here. */
void _jumbo_depot_free_all(struct jumbo_pool *p)
{
	struct jumbo_mag *m;
	while ((m = full_pop(p)))
		mag_free(p, m);
	while ((m = empty_pop(p)))
		mag_free(p, m);
	free(p->runs);
	p->runs = NULL;
	p->nruns = p->runs_cap = 0;
}

/* ---- runs of contiguous pages -------------------------------------------- */

/*
 * jumbo_pool_alloc_contig takes a run from, in this order: the free runs
 * that jumbo_pool_free_contig kept whole (the newest of that length, its
 * lines most likely still cached); the same list after the magazines'
 * pages that lie side by side were made runs (runs_coalesce, when the
 * depot has doubled since it last did); fresh frames, growing the pool,
 * which are contiguous by construction; and last, once the cap is
 * reached, a search of the depot's magazines and the fresh frames left.  A run's
 * pages are FREE in their words while the run is in the list, and count
 * as depot pages (run_pages).
 */

/*
 * Lock held: the newest free run of exactly n pages, else the front of
 * the shortest longer one (best fit), which keeps its rest.
 */
static bool run_from_list(struct jumbo_pool *p, unsigned n,
			  struct jumbo_run *out)
{
	size_t best = SIZE_MAX;

	for (size_t k = p->nruns; k-- > 0;) {
		struct jumbo_run *r = &p->runs[k];
		if (r->n == n) {
			*out = *r;
			run_pages_sub(p, r, n);
			*r = p->runs[--p->nruns];
			return true;
		}
		if (r->n > n && (best == SIZE_MAX || r->n < p->runs[best].n))
			best = k;
	}
	if (best == SIZE_MAX)
		return false;
	struct jumbo_run *r = &p->runs[best];
	*out = *r;
	out->n = n;
	r->first += n;
	r->n -= n;
	run_pages_sub(p, r, n);
	return true;
}

/* Lock held: n fresh frames, committing more as needed. */
static bool run_from_fresh(struct jumbo_pool *p, unsigned n, frame_t *first)
{
	while (p->committed - p->carved < n) /* fewer at the cap */
		if (grow(p, n - (p->committed - p->carved)) != 0)
			return false;
	*first = (frame_t)p->carved;
	p->carved += n;
	return true;
}

static int cmp_frame(const void *a, const void *b)
{
	frame_t x = *(const frame_t *)a, y = *(const frame_t *)b;
	return (x > y) - (x < y);
}

/* A word a page in the depot may carry and still be taken. */
static bool run_word_ok(uint32_t s)
{
	return (s & PGS_MASK) == JUMBO_PG_FREE && !(s >> PG_HOLD_SHIFT);
}

/*
 * Lock held: the free runs' pages join the magazines, so that a search can
 * put pieces of several runs, and loose pages, together.  A run stays a
 * run if no magazine can be had for it.
 */
static void runs_dissolve(struct jumbo_pool *p)
{
	while (p->nruns) {
		struct jumbo_run *r = &p->runs[p->nruns - 1];
		while (r->n) {
			struct jumbo_mag *m = p->full_tail;
			if (!m || m->count == p->mag_size) {
				if (!(m = empty_pop(p)) && !(m = _jumbo_mag_new(p)))
					return;
				m->count = 0;
				m->trimmed = false;
				full_append(p, m);
			}
			m->pages[m->count++] = r->first + --r->n;
			m->stamp = r->stamp;
			m->trimmed |= r->trimmed; /* its words carry PGF_TRIMMED */
			p->depot_pages++;
			run_pages_sub(p, r, 1);
		}
		p->nruns--;
	}
}

/*
 * Lock held: n contiguous free pages out of the magazines (and the free
 * runs, dissolved into them), if they hold them.  The slow way (a sort of
 * every page the depot holds), taken only when the pool cannot grow.
 * The fresh frames count too: fewer than n are left (else run_from_fresh
 * had them), but a run may end in them, its head the magazines' pages
 * just below carved.  Twins (see _jumbo_twin) are left where they are,
 * for their takers to catch.
 */
static bool run_from_mags(struct jumbo_pool *p, unsigned n, frame_t *first)
{
	size_t k = 0, start = SIZE_MAX, len = 0;
	size_t fresh = p->committed - p->carved;
	frame_t *v;
	bool *gone;

	runs_dissolve(p);
	if (p->depot_pages + fresh < n ||
	    !(v = malloc((p->depot_pages + fresh) * sizeof(*v))))
		return false;
	for (struct jumbo_mag *m = p->full; m; m = m->next)
		for (unsigned i = 0; i < m->count; i++)
			v[k++] = m->pages[i];
	qsort(v, k, sizeof(*v), cmp_frame);
	/* Above every used frame, so the order holds; their words are FREE. */
	for (size_t f = p->carved; f < p->committed; f++)
		v[k++] = (frame_t)f;
	for (size_t i = 0; i < k && start == SIZE_MAX; i++) {
		if (!run_word_ok(fr_load(p, v[i])))
			len = 0;
		else if (len && v[i] == v[i - 1] + 1)
			len++;
		else
			len = 1;
		if (len == n)
			start = i + 1 - n;
	}
	if (start == SIZE_MAX || !(gone = calloc(n, sizeof(*gone)))) {
		free(v);
		return false;
	}
	*first = v[start];
	free(v);
	if (*first + n > p->carved) /* its tail: the lowest fresh frames */
		p->carved = *first + n;
	/* Take one copy of each frame of the run out of the magazines. */
	struct jumbo_mag **link = &p->full, *m, *prev = NULL;
	while ((m = *link)) {
		unsigned j = 0;
		for (unsigned i = 0; i < m->count; i++) {
			frame_t f = m->pages[i];
			if (f - *first < n && !gone[f - *first])
				gone[f - *first] = true;
			else
				m->pages[j++] = f;
		}
		p->depot_pages -= m->count - j;
		m->count = j;
		if (j == 0) { /* emptied: off the queue, onto the empty list */
			*link = m->next;
			m->trimmed = false;
			empty_push(p, m);
			continue;
		}
		prev = m;
		link = &m->next;
	}
	p->full_tail = prev;
	free(gone);
	for (unsigned i = 0; i < n; i++)
		fr_untrim(p, *first + i);
	return true;
}

static bool runs_room(struct jumbo_pool *p);

/*
 * Lock held: the magazines' pages made into free runs where they lie side
 * by side, n or more of them, so that runs freed page by page (by a
 * consumer done with a frame, in any order) can be had again without the
 * pool growing.  A sort of the magazines' pages, then one pass: each
 * stretch of at least n consecutive frames whose words take a run
 * (run_word_ok; a twin, a frame seen twice, breaks a stretch and stays
 * in a magazine) becomes runs of exactly n, so that the next requests of
 * that length find one at the list's end; the other pages refill the
 * magazines in place, in frame order, and magazines left empty go to the
 * empty list.
 *
 * Paid for by what it sorts: it runs only when the magazines hold at
 * least twice the pages the last one left there, so that at least half
 * of what it sorts arrived since, and each page freed costs O(log D) of
 * sorting at most.  A search that finds nothing (pages scattered) is not
 * repeated until the depot doubles; fresh frames serve meanwhile.
 */
static void runs_coalesce(struct jumbo_pool *p, unsigned n)
{
	size_t k = 0, d = 0, made = 0;
	bool trimmed = false;
	frame_t *v;

	if (p->depot_pages < n || p->depot_pages < 2 * p->coalesce_left)
		return;
	/* Counted, not taken from depot_pages: every page must find its
	 * way back into a magazine. */
	for (struct jumbo_mag *m = p->full; m; m = m->next)
		d += m->count;
	p->coalesce_left = p->depot_pages; /* unless something is made */
	if (d < n || !(v = malloc(d * sizeof(*v))))
		return;
	/* A run's age for trim: its newest magazine's (stamps do not say
	 * which of a magazine's pages came when). */
	uint32_t stamp = 0;
	for (struct jumbo_mag *m = p->full; m; m = m->next) {
		for (unsigned i = 0; i < m->count && k < d; i++)
			v[k++] = m->pages[i];
		trimmed |= m->trimmed;
		if (m == p->full || (int32_t)(m->stamp - stamp) > 0)
			stamp = m->stamp;
	}
	qsort(v, k, sizeof(*v), cmp_frame);
	/* Stretches become runs; what stays is packed at the front of v. */
	size_t keep = 0;
	for (size_t i = 0; i < k;) {
		size_t j = i + 1;
		if (run_word_ok(fr_load(p, v[i])))
			while (j < k && v[j] == v[j - 1] + 1 &&
			       run_word_ok(fr_load(p, v[j])))
				j++;
		for (; j - i >= n && runs_room(p); i += n) {
			run_add(p, &(struct jumbo_run){ v[i], n, stamp, trimmed,
							true });
			made += n;
		}
		while (i < j)
			v[keep++] = v[i++];
	}
	if (made) {
		/* The magazines refilled in place with what stays. */
		struct jumbo_mag **link = &p->full, *m, *prev = NULL;
		size_t at = 0;
		while ((m = *link)) {
			unsigned c = 0;
			while (c < p->mag_size && at < keep)
				m->pages[c++] = v[at++];
			m->count = c;
			if (c == 0) {
				*link = m->next;
				m->trimmed = false;
				empty_push(p, m);
				continue;
			}
			m->trimmed = trimmed;
			prev = m;
			link = &m->next;
		}
		p->full_tail = prev;
		p->depot_pages -= made;
		p->coalesce_left = p->depot_pages;
	}
	free(v);
}

bool _jumbo_depot_take_run(struct jumbo_pool *p, unsigned n,
			   struct jumbo_run *out)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	while (!(ok = run_from_list(p, n, out)) && p->trim_pages)
		pthread_cond_wait(&p->trim_cv, &p->lock); /* see take() */
	if (!ok) {
		runs_coalesce(p, n);
		ok = run_from_list(p, n, out);
	}
	if (!ok) {
		out->n = n;
		out->trimmed = false;
		ok = run_from_fresh(p, n, &out->first) ||
		     run_from_mags(p, n, &out->first);
	}
	if (ok) {
		note_out(p, n);
		for (unsigned i = 0; out->trimmed && i < n; i++)
			fr_untrim(p, out->first + i);
		out->trimmed = false;
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

/* Lock held: room for one more run; false if there is no memory. */
static bool runs_room(struct jumbo_pool *p)
{
	if (p->nruns < p->runs_cap)
		return true;
	size_t cap = p->runs_cap ? 2 * p->runs_cap : 16;
	struct jumbo_run *v = realloc(p->runs, cap * sizeof(*v));
	if (!v)
		return false;
	p->runs = v;
	p->runs_cap = cap;
	return true;
}

/*
 * No room for a run (no memory to grow the list): its pages go to the
 * depot one by one.  out: they are counted out of the depot (a free), else
 * they were a run trim detached.  A trimmed run's words become plain FREE
 * first (their memory stays given back and reads as zeros), since pages
 * may land on the spill list, which does not untrim.
 */
static void put_pages(struct jumbo_pool *p, const struct jumbo_run *r, bool out)
{
	frame_t f[64];

	if (r->trimmed) {
		pthread_mutex_lock(&p->lock);
		for (unsigned i = 0; i < r->n; i++)
			fr_untrim(p, r->first + i);
		pthread_mutex_unlock(&p->lock);
	}
	if (!out) {
		pthread_mutex_lock(&p->lock);
		p->out += (long)r->n; /* depot_put takes them off again */
		pthread_mutex_unlock(&p->lock);
	}
	for (unsigned i = 0; i < r->n;) {
		unsigned k = 0;
		while (k < 64 && i < r->n)
			f[k++] = r->first + i++;
		_jumbo_depot_put(p, f, k);
	}
}

/* n pages from first, all now FREE, go back as one run (or one by one). */
void _jumbo_depot_put_run(struct jumbo_pool *p, frame_t first, unsigned n)
{
	uint32_t now = _jumbo_clock_ms();

	if (p->shm) { /* into the shared depot's queue, a chunk a lock */
		frame_t f[64];
		for (unsigned i = 0; i < n;) {
			unsigned k = n - i < 64 ? n - i : 64;
			for (unsigned j = 0; j < k; j++)
				f[j] = first + i + j;
			_jumbo_shm_put(p, f, k);
			i += k;
		}
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (!runs_room(p)) {
		pthread_mutex_unlock(&p->lock);
		put_pages(p, &(struct jumbo_run){ first, n, now, false, false }, true);
		return;
	}
	p->runs[p->nruns++] = (struct jumbo_run){ first, n, now, false, false };
	p->run_pages += n;
	p->out -= (long)n;
	pthread_mutex_unlock(&p->lock);
}

/* Trim's first half for runs: detach the untrimmed ones old enough. */
size_t _jumbo_depot_take_old_runs(struct jumbo_pool *p, uint32_t now,
				  unsigned min_age_ms, struct jumbo_run **out)
{
	size_t k = 0;

	*out = NULL;
	if (p->shm)
		return 0;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->nruns; i++)
		k += !p->runs[i].trimmed &&
		     (uint32_t)(now - p->runs[i].stamp) >= min_age_ms;
	struct jumbo_run *v = k ? malloc(k * sizeof(*v)) : NULL;
	k = 0;
	for (size_t i = 0; v && i < p->nruns;) {
		struct jumbo_run *r = &p->runs[i];
		if (!r->trimmed && (uint32_t)(now - r->stamp) >= min_age_ms) {
			v[k++] = *r;
			run_pages_sub(p, r, r->n);
			p->trim_pages += r->n;
			*r = p->runs[--p->nruns];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&p->lock);
	*out = v;
	return k;
}

/*
 * Trim's second half for runs: they go back (runs freed meanwhile may
 * have taken their room; a run with no room left goes back page by page,
 * its words as trim left them, which take() and untrim() handle).
 */
void _jumbo_depot_put_back_runs(struct jumbo_pool *p, struct jumbo_run *v,
				size_t n, size_t ntrimmed)
{
	pthread_mutex_lock(&p->lock);
	p->trimmed += ntrimmed; /* before any of them is visible */
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&p->lock);
		bool room = runs_room(p);
		if (room)
			run_add(p, &v[i]);
		p->trim_pages -= v[i].n;
		pthread_cond_broadcast(&p->trim_cv);
		pthread_mutex_unlock(&p->lock);
		if (!room)
			put_pages(p, &v[i], false);
	}
	free(v);
}
