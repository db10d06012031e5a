/*
 * Trim: giving the memory of idle free pages back to the kernel, with
 * their addresses kept.  It sits between the thread caches and the depot:
 * it takes old magazines and runs out of the depot, claims their pages and
 * decommits them (mem.c), and puts them back.  The caches' slow paths and
 * pool.c's run frees call the automatic trim after they leave the depot;
 * the depot never calls up into it.
 */
#include "jumbo_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

/* A page trim has claimed: its frame and the state word it had. */
struct claim {
	frame_t f;
	uint32_t was;
};

static int cmp_claim(const void *a, const void *b)
{
	frame_t x = ((const struct claim *)a)->f, y = ((const struct claim *)b)->f;
	return (x > y) - (x < y);
}

/*
 * Claim the pages of a detached magazine for trim: each free page's word
 * becomes FREE|TRIMMED by compare-and-swap before its memory goes, so that
 * a twin of it (see _jumbo_twin) that a thread allocates meanwhile either
 * wins, and the page is not trimmed, or finds TRIMMED and is dropped.
 * Pages already trimmed are skipped; twins found here are dropped.
 */
static size_t claim_mag(struct jumbo_pool *p, struct jumbo_mag *m,
			struct claim *v)
{
	size_t k = 0;

	for (unsigned i = 0; i < m->count;) {
		frame_t f = m->pages[i];
		uint32_t s = fr_load(p, f);

		if ((s & PGS_MASK) != JUMBO_PG_FREE || (s >> PG_HOLD_SHIFT)) {
			m->pages[i] = m->pages[--m->count];
			_jumbo_twin(p, f, "jumbo_pool_trim", true);
			continue;
		}
		if (s & PGF_TRIMMED) {
			i++;
			continue;
		}
		if (fr_cas(p, f, &s, JUMBO_PG_FREE | PGF_TRIMMED))
			v[k++] = (struct claim){ f, s };
		else
			continue; /* look again at what changed it */
		i++;
	}
	return k;
}

/*
 * A free run trim detached: claim its pages (see claim_mag) and give its
 * memory back in one call.  Pages pending-counted, or -errno; 0 if one of
 * its pages is not free (a twin: the run stays as it is, and whoever takes
 * it finds out).
 */
static long trim_run(struct jumbo_pool *p, struct jumbo_run *r)
{
	unsigned i;

	for (i = 0; i < r->n; i++) {
		uint32_t s = JUMBO_PG_FREE;
		if (!fr_cas(p, r->first + i, &s, JUMBO_PG_FREE | PGF_TRIMMED))
			break;
	}
	if (i == r->n) {
		int e = _jumbo_decommit(p, r->first, r->n);
		if (e == 0) {
			r->trimmed = true;
			return r->n;
		}
		while (i-- > 0)
			fr_store(p, r->first + i, JUMBO_PG_FREE);
		return e;
	}
	while (i-- > 0) /* undo the claims made */
		fr_store(p, r->first + i, JUMBO_PG_FREE);
	return 0;
}

/*
 * Give back the memory of pages that have sat in the depot long enough.
 * The magazines old enough are taken out of the depot, so the system calls
 * run without the lock, and then put back; their pages stay free all along
 * and keep their addresses, and an allocation that would otherwise grow
 * the pool or fail waits for them (depot.c, take()).  Contiguous pages go
 * in one call.
 */
long jumbo_pool_trim(struct jumbo_pool *p, unsigned min_age_ms)
{
	if (!p)
		return -EINVAL;
	if (!_jumbo_enter(p, "jumbo_pool_trim"))
		return -EDEADLK;
	long r = _jumbo_trim(p, min_age_ms);
	_jumbo_leave(p);
	return r;
}

/*
 * Pins.  A pool whose memory a device or the kernel holds (an AF_XDP
 * UMEM: the kernel pinned its pages and writes frames into them) must
 * keep every page's memory where it is: a trim's MADV_DONTNEED or punched
 * hole would leave the kernel writing into the old page while the process
 * refaults a new one at the same address.  A private pool counts its pins
 * and its trims in progress under the depot's lock: a trim starts only
 * while nothing is pinned, and a pin waits for the trims that started
 * before it, so once jumbo_pool_pin() returns no hole is punched until
 * the matching unpin.  A named pool keeps each process's pins in its
 * record, under the segment's lock, which its trim holds while it punches
 * (shm.c).
 */
int jumbo_pool_pin(struct jumbo_pool *p)
{
	if (!p)
		return -EINVAL;
	if (p->shm)
		return _jumbo_shm_pin(p, 1);
	/* A shared pool's fork child: the parent trims the memory it maps. */
	if (p->detached)
		return -EXDEV;
	pthread_mutex_lock(&p->lock);
	if (p->pins == UINT_MAX) {
		pthread_mutex_unlock(&p->lock);
		return -EOVERFLOW;
	}
	p->pins++;
	while (p->trimming)
		pthread_cond_wait(&p->trim_cv, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int jumbo_pool_unpin(struct jumbo_pool *p)
{
	int err = 0;

	if (!p)
		return -EINVAL;
	if (p->shm)
		return _jumbo_shm_pin(p, -1);
	pthread_mutex_lock(&p->lock);
	if (p->pins)
		p->pins--;
	else
		err = -EINVAL;
	pthread_mutex_unlock(&p->lock);
	return err;
}

/* Whether a private pool's pages must stay where they are (zcopy.c). */
bool _jumbo_pool_pinned(const struct jumbo_pool *p)
{
	/* Relaxed: a hint, to leave the pages of a pinned pool out of a
	 * move at once; _jumbo_pool_move_begin() is what decides. */
	return __atomic_load_n(&p->pins, __ATOMIC_RELAXED) != 0;
}

/*
 * A private pool's memory is about to be given away or moved (a trim, a
 * steal, a zero-copy delivery): false if the pool is pinned; else the
 * move counts among trimming until _jumbo_pool_move_end(), so that a pin
 * made meanwhile waits for it, as for a trim.  Checked and counted under
 * the lock: a pin that returned first is seen, a pin that comes after
 * sees the count.
 */
bool _jumbo_pool_move_begin(struct jumbo_pool *p)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = p->pins == 0;
	if (ok)
		p->trimming++;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

void _jumbo_pool_move_end(struct jumbo_pool *p)
{
	pthread_mutex_lock(&p->lock);
	if (--p->trimming == 0)
		pthread_cond_broadcast(&p->trim_cv);
	pthread_mutex_unlock(&p->lock);
}

static long trim(struct jumbo_pool *p, unsigned min_age_ms);

long _jumbo_trim(struct jumbo_pool *p, unsigned min_age_ms)
{
	/* Its holes would be punched in the memory the parent uses. */
	if (unlikely(p->detached))
		return -EXDEV;
	if (p->shm) { /* the depot is the segment's queue */
		long r = _jumbo_shm_trim(p, min_age_ms);
		ctr_add(&p->ctr.trims, r > 0 ? (uint64_t)r : 0);
		return r;
	}
	if (!_jumbo_pool_move_begin(p))
		return -EBUSY;
	long r = trim(p, min_age_ms);
	_jumbo_pool_move_end(p);
	return r;
}

static long trim(struct jumbo_pool *p, unsigned min_age_ms)
{
	uint32_t now = _jumbo_clock_ms();
	struct jumbo_mag *mine, *m;
	size_t n = 0, k = 0;
	long done = 0;
	int err = 0;

	mine = _jumbo_depot_take_old(p, now, min_age_ms);
	for (m = mine; m; m = m->next)
		n += m->count;

	struct claim *v = n ? malloc(n * sizeof(*v)) : NULL;
	if (n && !v)
		err = -ENOMEM;
	for (m = mine; v && m; m = m->next) {
		m->trimmed = true;
		k += claim_mag(p, m, v + k);
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_claim);
	for (size_t i = 0; i < k;) {
		size_t j = i + 1;
		while (j < k && v[j].f == v[j - 1].f + 1)
			j++;
		int r = _jumbo_decommit(p, v[i].f, j - i);
		if (r == 0) {
			done += (long)(j - i);
		} else {
			/* The memory stayed: so do the words (poison too). */
			for (size_t x = i; x < j; x++)
				fr_store(p, v[x].f, v[x].was);
			if (!err)
				err = r;
		}
		i = j;
	}
	free(v);
	_jumbo_depot_put_back(p, mine, n, (size_t)done);

	/* Free runs: each claimed whole, then one call. */
	struct jumbo_run *runs;
	long rdone = 0;
	size_t nr = _jumbo_depot_take_old_runs(p, now, min_age_ms, &runs);
	for (size_t r = 0; r < nr; r++) {
		long got = trim_run(p, &runs[r]);
		if (got < 0 && !err)
			err = (int)got;
		else if (got > 0)
			rdone += got;
	}
	_jumbo_depot_put_back_runs(p, runs, nr, (size_t)rdone);
	done += rdone;

	ctr_add(&p->ctr.trims, (uint64_t)done);
	return done ? done : err;
}

/*
 * Automatic trim, called by whoever just left the depot (never under its
 * lock; see trim_if_idle()): at most once per trim_idle_ms, whoever wins
 * the compare-and-swap trims the magazines that have been idle that long.
 * An idle pool is trimmed at its next slow path; there is no background
 * thread.
 */
void _jumbo_auto_trim(struct jumbo_pool *p)
{
	uint32_t now = _jumbo_clock_ms();
	uint32_t last = __atomic_load_n(&p->last_trim, __ATOMIC_RELAXED);

	if (!p->trim_idle_ms || (uint32_t)(now - last) < p->trim_idle_ms)
		return;
	/* Relaxed: only elects one trimmer; trim takes the lock itself. */
	if (__atomic_compare_exchange_n(&p->last_trim, &last, now, false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		_jumbo_trim(p, p->trim_idle_ms);
}
