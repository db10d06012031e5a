/*
 * Holds and steals: the page transitions (page.c's table) that can end in
 * a free, so they sit above the thread caches they free into.
 */
#include "jumbo_int.h"

#include <errno.h>

static int hold(struct jumbo_pool *p, frame_t f);
static int unhold(struct jumbo_pool *p, frame_t f);

int jumbo_pool_hold(struct jumbo_pool *p, void *addr)
{
	frame_t f;
	int err = _jumbo_page_of(p, addr, false, &f);
	if (err)
		return err;
	if (!_jumbo_enter(p, "jumbo_pool_hold"))
		return -EDEADLK;
	err = hold(p, f);
	_jumbo_leave(p);
	return err;
}

static int hold(struct jumbo_pool *p, frame_t f)
{
	uint32_t s = fr_load(p, f);
	do {
		if ((s & PGS_MASK) == JUMBO_PG_UNUSED)
			return -EFAULT;
		if ((s & PGS_MASK) != JUMBO_PG_ALLOC || (s & PGF_DEFER))
			return -EALREADY;
		if ((s >> PG_HOLD_SHIFT) == PG_HOLD_MAX)
			return -EOVERFLOW;
		/* CAS: an unhold may be running on another thread. */
	} while (!fr_cas(p, f, &s, s + PG_HOLD_ONE));
	ctr_add(&p->ctr.holds, 1);
	return 0;
}

int jumbo_pool_unhold(struct jumbo_pool *p, void *addr)
{
	frame_t f;
	int err = _jumbo_page_of(p, addr, false, &f);
	if (err)
		return err;
	if (!_jumbo_enter(p, "jumbo_pool_unhold"))
		return -EDEADLK;
	err = unhold(p, f);
	_jumbo_leave(p);
	return err;
}

static int unhold(struct jumbo_pool *p, frame_t f)
{
	uint32_t s = fr_load(p, f), ns;
	/*
	 * The last hold of a freed page frees it: plain ALLOC, then FREE, in a
	 * private pool (_jumbo_free_state, which poisons in debug mode); in a
	 * named one FREE|me at once, a page of this process's cache, since a
	 * word that read FREE|0 outside the depot's queue, even for an
	 * instant, could be claimed by another process's search for a run
	 * (shm.c, "runs") and then overwritten here.
	 */
	uint32_t last = p->shm ? p->shm_mine - 1 : JUMBO_PG_ALLOC;

	do {
		if ((s & PGS_MASK) == JUMBO_PG_UNUSED)
			return -EFAULT;
		if ((s & PGS_MASK) != JUMBO_PG_ALLOC || !(s >> PG_HOLD_SHIFT))
			return -ENOENT;
		ns = s - PG_HOLD_ONE;
		if (!(ns >> PG_HOLD_SHIFT) && (ns & PGF_DEFER))
			ns = last; /* last hold of a freed page */
		/*
		 * Acquire-release: the I/O that held the page (its writes
		 * to the page) happens before whoever frees or reuses it.
		 */
	} while (!fr_cas(p, f, &s, ns));
	if ((s & PGF_DEFER) && !(ns & PGF_DEFER)) {
		/* We own the page now, as its freer would have: free it. */
		if (p->shm || _jumbo_free_state(p, f) > 0)
			_jumbo_cache_put(p, f);
	}
	return 0;
}

static int steal(struct jumbo_pool *p, frame_t f, unsigned flags,
		 bool counted);

int _jumbo_steal(struct jumbo_pool *p, frame_t f, unsigned flags)
{
	if (!_jumbo_enter(p, p->seed ? "jumbo_pg_steal" : "jumbo_pool_steal"))
		return -EDEADLK;
	int err = steal(p, f, flags, false);
	_jumbo_leave(p);
	return err;
}

/* A zero-copy delivery's steals, made inside its own move count
 * (_jumbo_pool_move_begin): no second look at the pin, no lock. */
int _jumbo_pool_steal_counted(struct jumbo_pool *p, void *addr,
			      unsigned flags)
{
	frame_t f;
	int err = _jumbo_page_of(p, addr, true, &f);

	if (err)
		return err;
	if (!_jumbo_enter(p, "jumbo_deliver"))
		return -EDEADLK;
	err = steal(p, f, flags, true);
	_jumbo_leave(p);
	return err;
}

/* counted: the caller holds a move count already (the delivery's). */
static int steal(struct jumbo_pool *p, frame_t f, unsigned flags,
		 bool counted)
{
	uint32_t s = fr_load(p, f);

	if (not_alloc(s))
		return not_alloc(s);
	if (s >> PG_HOLD_SHIFT)
		return (s & PGF_DEFER) ? -EALREADY : -EBUSY;
	if (p->fd >= 0)
		return -EOPNOTSUPP;
	/* A device holds the old memory: the page stays as it is.  Else
	 * a pin made meanwhile waits for the re-backing to end. */
	if (!counted && !_jumbo_pool_move_begin(p))
		return -EBUSY;
	/*
	 * MOVED skips the system call: after MREMAP_DONTUNMAP the slot is
	 * mapped and empty.  The kernel refuses DONTUNMAP on hugetlb memory,
	 * so a moved 2 MiB page left a hole: always re-back those.
	 */
	if (p->huge)
		flags &= ~JUMBO_STEAL_MOVED;
	int err = !(flags & JUMBO_STEAL_MOVED) ? _jumbo_reback(p, f) : 0;
	if (!counted)
		_jumbo_pool_move_end(p);
	if (err) {
		fr_store(p, f, JUMBO_PG_LOST);
		ctr_add(&p->ctr.lost, 1);
		return -ENOMEM;
	}
	ctr_add(&p->ctr.steals, 1);
	/* Fresh memory is zero, so a debug pool's page carries no poison. */
	fr_store(p, f, JUMBO_PG_FREE);
	_jumbo_cache_put(p, f);
	return 0;
}

int jumbo_pool_steal(struct jumbo_pool *p, void *addr, unsigned flags)
{
	frame_t f;
	int err = flags & ~JUMBO_STEAL_MOVED ? -EINVAL
					     : _jumbo_page_of(p, addr, true, &f);
	return err ? err : _jumbo_steal(p, f, flags);
}
