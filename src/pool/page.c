/*
 * Page states and their transitions off the fast path: trimmed and
 * poisoned pages, twins, and the checks that keep bad input from
 * corrupting a pool.  The transitions that end in a free (an unhold's
 * deferred free, a steal) are in hold.c, above the caches they free into;
 * this file calls nothing else in the layer.
 *
 *   state      alloc      free             hold      unhold         steal
 *   FREE       -> ALLOC   error EALREADY   EALREADY  ENOENT         EALREADY
 *   ALLOC      -          -> FREE          -> HELD   ENOENT         -> FREE
 *   HELD       -          deferred         +1        -1, -> ALLOC   EBUSY
 *   HELD+DEFER -          error EALREADY   EALREADY  -1, -> FREE    EBUSY
 *   LOST       -          error EALREADY   EALREADY  ENOENT         EALREADY
 *   UNUSED     -          error EFAULT     EFAULT    EFAULT         EFAULT
 */
#include "jumbo_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POISON_BYTE 0xdb
#define TWINS_REPORTED 16
#define POISON_WORD 0xdbdbdbdbdbdbdbdbull

bool _jumbo_reentered(struct jumbo_pool *p, const char *fn)
{
	static unsigned said;

	/* Most likely in a signal handler: no stdio, no hook call here;
	 * _jumbo_log_signal writes the line or parks it for the hook. */
	if (__atomic_fetch_add(&said, 1, __ATOMIC_RELAXED) < 16) {
		const char *parts[] = {
			fn, ": pool \"", p->name, "\": re-entered on its thread "
			"(a signal handler?) while ", _jumbo_tls.busy,
			" was running; refused (EDEADLK)", NULL
		};
		_jumbo_log_signal(JUMBO_LOG_ERROR, parts);
	}
	errno = EDEADLK;
	return true;
}

const char *_jumbo_strerr(int err)
{
	switch (err) {
	case -EFAULT:
		return "not a page of the pool";
	case -EINVAL:
		return "not the start of a page";
	case -EALREADY:
		return "double free: the page is already free";
	case -EBUSY:
		return "the page is held (I/O in flight)";
	case -ENOENT:
		return "unhold without a hold";
	case -EOVERFLOW:
		return "too many holds";
	case -EOPNOTSUPP:
		return "the pool's memory is shared and cannot be given away";
	case -ENOMEM:
		return "the slot could not be re-backed";
	case -EDEADLK:
		return "re-entered while a call on the same thread was running "
		       "(a signal handler?)";
	default:
		return strerror(-err);
	}
}

/*
 * The page at addr, by the one lookup (fr_of: bounded by the cap).  A
 * frame not yet committed is foreign whatever the offset: -EFAULT before
 * any -EINVAL.  exact: addr must be the page's first byte.  0, -EFAULT or
 * -EINVAL.
 */
int _jumbo_page_of(struct jumbo_pool *p, const void *addr, bool exact,
		   frame_t *fp)
{
	if (!p)
		return -EINVAL;
	int err = fr_of(p, addr, false, fp);
	if (err)
		return err;
	if ((fr_load(p, *fp) & PGS_MASK) == JUMBO_PG_UNUSED)
		return -EFAULT;
	return exact ? fr_of(p, addr, true, fp) : 0;
}

void _jumbo_poison(struct jumbo_pool *p, frame_t f)
{
	memset(fr_addr(p, f), POISON_BYTE, p->page_size);
}

/* Debug mode: a poisoned page must still hold nothing but poison. */
static void check_poison(struct jumbo_pool *p, frame_t f)
{
	const uint64_t *w = (const uint64_t *)(void *)fr_addr(p, f);
	size_t n = p->page_size / sizeof(*w);

	for (size_t i = 0; i < n; i++) {
		if (w[i] != POISON_WORD) {
			char why[128];
			snprintf(why, sizeof(why),
				 "use after free: freed page written at offset "
				 "%zu (pool \"%s\")", i * sizeof(*w), p->name);
			_jumbo_panic("jumbo_pg_alloc", fr_addr(p, f), why);
		}
	}
}

/*
 * Twins.  Two threads that free the same allocated page at the same
 * instant can both read ALLOC before either writes FREE (the fast path
 * has no read-modify-write, so only debug mode's compare-and-swap stops
 * this at the free): the page then sits in two caches or magazines.  Every
 * copy but one is caught before the page is handed out twice: a page
 * leaving a cache or the depot must be plain FREE, and the first copy to
 * be allocated makes it ALLOC; trim claims a page with a compare-and-swap
 * before it gives its memory back, so a copy that is allocated is never
 * trimmed.  (Only two allocations of the two copies racing to the same
 * nanosecond, or one racing trim's claim, still slip through.)  The late
 * copy is reported, function and address, and dropped, which leaves the
 * pool as the one free should have: the seed's functions abort instead,
 * as for any other misuse.
 *
 * The depot's count of pages out (p->out) was one short from the second
 * free on (two copies out or back, one page allocated); it comes right
 * when a copy taken out of the depot is dropped, and needs one more when
 * the copy is dropped inside it (in_depot: trim's claim).
 */
void _jumbo_twin(struct jumbo_pool *p, frame_t f, const char *fn,
		 bool in_depot)
{
	const char *why = "freed twice by two threads at once (caught when "
			  "its second copy left the pool's free pages)";

	if (!fn)
		fn = p->seed ? "jumbo_pg_alloc" : "jumbo_pool_alloc";
	if (p->seed)
		_jumbo_panic(fn, fr_addr(p, f), why);
	/* Reported one by one up to a point, then only counted. */
	uint64_t n = __atomic_add_fetch(&p->ctr.twins, 1, __ATOMIC_RELAXED);
	if (n <= TWINS_REPORTED)
		_jumbo_log(JUMBO_LOG_WARNING,
			   "%s: %p: %s; pool \"%s\": the copy is dropped%s",
			fn, (void *)fr_addr(p, f), why, p->name,
			n == TWINS_REPORTED ? " (further ones are only counted, "
					      "in double_frees)" : "");
	if (in_depot) {
		pthread_mutex_lock(&p->lock);
		p->out++;
		pthread_mutex_unlock(&p->lock);
	}
}

/*
 * A page taken from the depot by a pool without caches (NOCACHE or debug):
 * its word must say FREE (false: it is a twin, now dropped); a poisoned
 * one must still be all poison.
 */
bool _jumbo_alloc_check(struct jumbo_pool *p, frame_t f)
{
	uint32_t s = fr_load(p, f);

	if ((s & PGS_MASK) == JUMBO_PG_ALLOC) {
		_jumbo_twin(p, f, NULL, false);
		return false;
	}
	if ((s & PGS_MASK) != JUMBO_PG_FREE || (s >> PG_HOLD_SHIFT))
		_jumbo_panic("jumbo_pg_alloc", fr_addr(p, f),
			     "the depot holds a page that is not free "
			     "(pool corrupted)");
	if (s & PGF_POISON)
		check_poison(p, f);
	return true;
}

/*
 * The state change of a free the inline path did not make.  Returns a
 * -errno and changes nothing; 0 when the free waits for the last unhold;
 * 1 when the page is now free and goes to a cache.
 */
int _jumbo_free_state(struct jumbo_pool *p, frame_t f)
{
	uint32_t s = fr_load(p, f);

	for (;;) {
		if (not_alloc(s))
			return not_alloc(s);
		if (s & PGF_DEFER)
			return -EALREADY;
		if (s >> PG_HOLD_SHIFT) {
			/* Held: mark the free; an unhold may race, hence CAS. */
			if (fr_cas(p, f, &s, s | PGF_DEFER)) {
				ctr_add(&p->ctr.deferred_frees, 1);
				return 0;
			}
			continue;
		}
		if (!p->debug) {
			fr_store(p, f, JUMBO_PG_FREE);
			return 1;
		}
		/*
		 * Debug mode: a CAS, so that even two threads freeing the
		 * same page at once are caught; then poison.
		 */
		if (!fr_cas(p, f, &s, JUMBO_PG_FREE))
			continue;
		_jumbo_poison(p, f);
		fr_store(p, f, JUMBO_PG_FREE | PGF_POISON);
		return 1;
	}
}

enum jumbo_page_state jumbo_page_state(vm_page_t pg, unsigned *holds,
				       int *free_pending)
{
	/* A descriptor beyond the committed part is zero: no pool yet (and
	 * jumbo_pool_page gives NULL outside the pool). */
	const struct jumbo_pool *p = pg ? pg->pg_pool : NULL;
	uint32_t s = p ? fr_load(p, pg_frame(pg)) : JUMBO_PG_UNUSED;
	unsigned h = s >> PG_HOLD_SHIFT;

	if (holds)
		*holds = h;
	if (free_pending)
		*free_pending = !!(s & PGF_DEFER);
	if ((s & PGS_MASK) == JUMBO_PG_ALLOC && h)
		return JUMBO_PG_HELD;
	return (enum jumbo_page_state)(s & PGS_MASK);
}

/*
 * n contiguous pages from addr, each allocated and not held: what n calls
 * of jumbo_page_state saying JUMBO_PG_ALLOC would say, in one pass over
 * their state words (adjacent, 16 to a line) without a descriptor or a
 * call per page.  The owner bits of a shared pool do not matter here.
 * Relaxed loads, as in jumbo_page_state: the caller owns the pages, and
 * a hold is taken only by one who had them before the caller freed its
 * mbuf (the free routine's acquire ordered it).  A range outside the pool
 * is not idle.
 */
bool _jumbo_pool_pages_idle(const struct jumbo_pool *p, const void *addr,
			    unsigned n)
{
	const uint32_t mask = PGS_MASK | ((uint32_t)PG_HOLD_MAX << PG_HOLD_SHIFT);
	size_t npages = p->head.ph_npages;
	/* fr_of's bound, for the whole range; an address below wraps. */
	size_t f = ((uintptr_t)addr - (uintptr_t)p->head.ph_base) >>
		   p->head.ph_shift;
	const uint32_t *w;
	uint32_t bad = 0;

	if (unlikely(f >= npages || n > npages - f))
		return false;
	w = &p->state[f];
	/* Relaxed, as fr_load: see above. */
	for (unsigned i = 0; i < n; i++)
		bad |= (__atomic_load_n(&w[i], __ATOMIC_RELAXED) & mask) ^
		       JUMBO_PG_ALLOC;
	return bad == 0;
}

/*
 * A shared pool in a fork child: the memory is the parent's too, the
 * pool's state (which pages are free) a private copy of it, so a page
 * allocated here could be allocated there as well.  The child may read,
 * write and free what it inherited; it allocates, adopts and reclaims
 * nothing (a named pool's child attaches the pool instead).  fn: the
 * refused call, said once per pool; alloc: it was an allocation, counted
 * in alloc_fails.
 */
int _jumbo_detached(struct jumbo_pool *p, const char *fn, bool alloc)
{
	if (!__atomic_exchange_n(&p->detached_said, true, __ATOMIC_RELAXED))
		_jumbo_log(JUMBO_LOG_WARNING,
			   "%s: pool \"%s\" is shared and this process "
			   "is a fork of the one that made it: it may use "
			   "the pages it inherited, not allocate, adopt or "
			   "reclaim (EXDEV)",
			fn, p->name);
	/* Failed allocations only: an adopt or a reclaim allocates nothing. */
	if (alloc)
		ctr_add(&p->ctr.alloc_fails, 1);
	return -EXDEV;
}
