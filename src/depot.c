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

/*
 * The full magazines are a queue: they join at the tail and leave from the
 * head, so a cache that runs dry gets the pages that have been free the
 * longest, as DPDK's ring does.  Measured with one thread allocating and
 * another freeing (bench/ring.h, same run): 50 M pages/s taking the newest
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
	p->out += n;
	if (p->out > p->high_water)
		p->high_water = p->out;
}

/*
 * Commit the next growth step.  Lock held.  0, or -ENOMEM at the cap, or
 * what the kernel said.  The new frames' descriptors are written here: the
 * descriptor array is reserved for the cap but only touched as it grows.
 */
static int grow(struct jumbo_pool *p)
{
	size_t first = p->committed, step = p->grow_pages;

	if (first >= p->head.ph_npages)
		return -ENOMEM;
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
	ctr_add(&p->ctr.grows, 1);
	return 0;
}

/* Lock held.  Take up to n free pages from wherever the depot has them. */
static unsigned take(struct jumbo_pool *p, frame_t *out, unsigned n)
{
	unsigned got = 0;

	while (got < n && p->spill != SPILL_END) {
		frame_t f = p->spill;
		vm_page_t pg = fr_page(p, f);
		p->spill = pg->pg_link;
		pg->pg_link = SPILL_END;
		p->nspill--;
		out[got++] = f;
	}
	/*
	 * The reserve: while the depot holds no more free pages than it, new
	 * frames come first, so that a page freed on one core comes back to
	 * an allocating core only after the reserve has gone round, when its
	 * lines have left the other core's cache (figures at
	 * DEFAULT_RESERVE_BYTES, pool.c).  A failed growth (the cap, or the
	 * kernel's refusal) drops the reserve for good: the pool cannot hold
	 * more.
	 */
	while (got < n && p->depot_pages <= p->reserve) {
		if (p->carved == p->committed && grow(p) != 0) {
			p->reserve = 0;
			break;
		}
		while (got < n && p->carved < p->committed)
			out[got++] = (frame_t)p->carved++;
	}
	while (got < n && p->full) {
		struct jumbo_mag *m = p->full;
		while (got < n && m->count) {
			frame_t f = m->pages[--m->count];
			/* FREE, or a twin that its taker will catch. */
			jumbo_assert_internal((fr_load(p, f) & PGS_MASK) != JUMBO_PG_UNUSED);
			/* Caches hold only plain FREE pages: undo trim here. */
			if (m->trimmed && (fr_load(p, f) & PGF_TRIMMED)) {
				fr_store(p, f, JUMBO_PG_FREE);
				__atomic_fetch_sub(&p->trimmed, 1, __ATOMIC_RELAXED);
			}
			out[got++] = f;
			p->depot_pages--;
		}
		if (m->count == 0) {
			m->trimmed = false;
			full_pop(p);
			mag_push(&p->empty, m);
		}
	}
	while (got < n) {
		if (p->carved == p->committed && grow(p) != 0)
			break;
		while (got < n && p->carved < p->committed)
			out[got++] = (frame_t)p->carved++;
	}
	note_out(p, got);
	return got;
}

unsigned _jumbo_depot_get(struct jumbo_pool *p, frame_t *out, unsigned n)
{
	pthread_mutex_lock(&p->lock);
	unsigned got = take(p, out, n);
	pthread_mutex_unlock(&p->lock);
	if (unlikely(p->trim_idle_ms))
		_jumbo_auto_trim(p, _jumbo_clock_ms());
	return got;
}

/*
 * Whole-magazine exchanges, the thread caches' usual traffic: the pointer
 * copies happen outside the lock, which is held for a few list operations
 * only, so that the receive thread and the freeing thread rarely meet on
 * it (and when they do, an adaptive mutex spins instead of sleeping).
 */

/* Undo trim on the pages of a magazine leaving the depot (lock not held). */
static void untrim(struct jumbo_pool *p, struct jumbo_mag *m)
{
	for (unsigned i = 0; i < m->count; i++) {
		frame_t f = m->pages[i];
		if (fr_load(p, f) & PGF_TRIMMED) {
			fr_store(p, f, JUMBO_PG_FREE);
			__atomic_fetch_sub(&p->trimmed, 1, __ATOMIC_RELAXED);
		}
	}
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
	pthread_mutex_lock(&p->lock);
	/* Below the reserve: let the caller grow the pool instead. */
	struct jumbo_mag *m = p->full && p->depot_pages - p->full->count >=
						 p->reserve ? full_pop(p) : NULL;
	if (m) {
		p->depot_pages -= m->count;
		note_out(p, m->count);
		if (spare) {
			mag_push(&p->empty, spare);
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (m && m->trimmed)
		untrim(p, m);
	if (m && unlikely(p->trim_idle_ms))
		_jumbo_auto_trim(p, _jumbo_clock_ms());
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
	/* A local: once in the depot, m is other threads' to write. */
	uint32_t now = _jumbo_clock_ms();

	jumbo_assert(m->count > 0 && m->count <= p->mag_size);
	m->stamp = now;
	m->trimmed = false;
	pthread_mutex_lock(&p->lock);
	full_append(p, m);
	p->depot_pages += m->count;
	p->out -= m->count;
	struct jumbo_mag *e = mag_pop(&p->empty);
	pthread_mutex_unlock(&p->lock);
	if (unlikely(p->trim_idle_ms))
		_jumbo_auto_trim(p, now);
	return e;
}

/*
 * Return n free pages to the depot: into the magazine on top while it has
 * room, else into an empty one, else onto the spill list, which needs no
 * memory (it links through the descriptors).  A free never fails.
 */
void _jumbo_depot_put(struct jumbo_pool *p, const frame_t *fs, unsigned n)
{
	uint32_t now = _jumbo_clock_ms();

	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < n; i++) {
		struct jumbo_mag *m = p->full_tail; /* the one being filled */
		if (!m || m->count == p->mag_size) {
			m = mag_pop(&p->empty);
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
	p->out -= n;
	pthread_mutex_unlock(&p->lock);
	if (unlikely(p->trim_idle_ms))
		_jumbo_auto_trim(p, now);
}

/* An empty magazine a cache no longer needs. */
void _jumbo_depot_keep_empty(struct jumbo_pool *p, struct jumbo_mag *m)
{
	if (!m)
		return;
	m->count = 0;
	pthread_mutex_lock(&p->lock);
	mag_push(&p->empty, m);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Trim's first half: detach the magazines that have been in the depot at
 * least min_age_ms, so that the system calls run without the lock.  Their
 * pages stay free all along; they are out of reach until put back.
 */
struct jumbo_mag *_jumbo_depot_take_old(struct jumbo_pool *p, uint32_t now,
					unsigned min_age_ms)
{
	struct jumbo_mag *old = NULL, *keep = NULL, *m;

	pthread_mutex_lock(&p->lock);
	while ((m = full_pop(p))) {
		if ((uint32_t)(now - m->stamp) >= min_age_ms) {
			p->depot_pages -= m->count;
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

/* Trim's second half: the magazines go back, at the head (oldest first). */
void _jumbo_depot_put_back(struct jumbo_pool *p, struct jumbo_mag *list)
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
	pthread_mutex_unlock(&p->lock);
}

/* Destroy: free every magazine the depot has.  No other thread is here. */
void _jumbo_depot_free_all(struct jumbo_pool *p)
{
	struct jumbo_mag *m;
	while ((m = full_pop(p)))
		free(m);
	while ((m = mag_pop(&p->empty)))
		free(m);
}
