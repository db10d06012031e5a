/*
 * A receiver's runs: buffers of k contiguous pool pages, each big enough
 * for one frame of max_frame, which a backend posts to the kernel whole
 * (one iovec, one copy call) and hands out as a chain of one mbuf per page
 * of the frame, as FreeBSD's 9k and 16k jumbo cluster zones did for the
 * drivers that replaced jumbo(9).
 *
 * A run does not go back to the pool when its frame is freed: the free of
 * its last page pushes it on the receiver's return stack (any thread), and
 * the receiver takes the runs back at its next call, newest first, so that
 * the next frames land in memory the consumer has just touched rather than
 * in lines that left the cache long ago.  Idle runs beyond what the
 * receiver's empty slots can take go back to the pool, oldest first, so
 * that a burst held by consumers does not stay with the receiver for
 * good, and the receiver keeps no more than a run per slot.
 */
#include "jumbo_mbuf_rx.h"
#include "rx_int.h"

#include <errno.h>
#include <stdlib.h>

struct rx_runs *_jumbo_rx_runs_new(struct jumbo_pool *pool, size_t page_size,
				   unsigned k)
{
	struct rx_runs *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->pool = pool;
	rs->page_size = page_size;
	/* A power of two, as every pool page size: no division per frame. */
	rs->page_shift = (unsigned)__builtin_ctzl(page_size);
	rs->k = k;
	return rs;
}

/* Gives a run's pages back to the pool and forgets it. */
static void run_release(struct rx_runs *rs, struct rx_run *r)
{
	if (r->addr)
		jumbo_pool_free_contig(rs->pool, r->addr, rs->k);
	free(r);
}

/* Releases the runs of list r; returns how many there were. */
static unsigned runs_free_list(struct rx_runs *rs, struct rx_run *r)
{
	unsigned n = 0;

	while (r) {
		struct rx_run *next = r->next;
		run_release(rs, r);
		r = next;
		n++;
	}
	return n;
}

/* After the close: n runs out fewer; the last one frees rs. */
static void runs_unref(struct rx_runs *rs, unsigned n)
{
	/*
	 * acq_rel: whoever reaches 0 sees every other party's writes to
	 * the runs and to rs before it frees them.
	 */
	if (__atomic_sub_fetch(&rs->live, n, __ATOMIC_ACQ_REL) == 0)
		free(rs);
}

/*
 * Drops cnt pages of run r (its mbufs' put: m_freem gives a frame's pages
 * at once); the free of its last page sends it back.
 */
static void run_put(struct jumbo_mb_run *mr, unsigned cnt)
{
	struct rx_run *r = (struct rx_run *)mr;
	struct rx_runs *rs = r->rs;
	struct rx_run *old;

	/*
	 * Whoever holds the last cnt pages is alone with the run: no one
	 * else can drop a reference, so a load says it without a locked
	 * operation (the usual case: one thread frees the whole chain).
	 * acquire / acq_rel: the last dropper sees the other pages' users
	 * done with them.
	 */
	if (__atomic_load_n(&r->refs, __ATOMIC_ACQUIRE) != cnt &&
	    __atomic_sub_fetch(&r->refs, cnt, __ATOMIC_ACQ_REL) != 0)
		return;
	if (unlikely(!_jumbo_rx_pages_idle(rs->pool, r->addr, rs->k))) {
		/*
		 * Held pages go back to the pool now (it frees them at their
		 * last unhold); the run comes back without them, so that the
		 * receiver still counts it back.
		 */
		jumbo_pool_free_contig(rs->pool, r->addr, rs->k);
		r->addr = NULL;
	}
	/*
	 * acquire: a receiver that closed (RUNS_CLOSED) stored live before
	 * its marker; this thread's decrement must see that store.
	 */
	old = __atomic_load_n(&rs->ret, __ATOMIC_ACQUIRE);
	do {
		if (unlikely(old == RUNS_CLOSED)) {
			run_release(rs, r);
			runs_unref(rs, 1);
			return;
		}
		r->next = old;
		/*
		 * release: the receiver that takes the stack sees next and
		 * this thread's use of the pages; acquire on failure, as
		 * the load above.
		 */
	} while (!__atomic_compare_exchange_n(&rs->ret, &old, r, 1,
					      __ATOMIC_RELEASE,
					      __ATOMIC_ACQUIRE));
	/* Pushed: the run is the receiver's again; rs is not touched. */
}

void _jumbo_rx_runs_reclaim(struct rx_runs *rs, unsigned keep)
{
	/*
	 * acquire: pairs with the release of the pushes (their next links
	 * and everything the freeing threads did with the pages).  Taking
	 * the whole stack at once leaves no ABA to fear.
	 */
	struct rx_run *top = __atomic_exchange_n(&rs->ret, NULL,
						 __ATOMIC_ACQUIRE);
	struct rx_run **link = &top, *r;
	unsigned n;

	/* Newest first, on top of the older idle runs; bare ones freed. */
	while ((r = *link)) {
		rs->out--;
		if (likely(r->addr)) {
			rs->nidle++;
			link = &r->next;
			continue;
		}
		*link = r->next;
		free(r);
	}
	*link = rs->idle;
	rs->idle = top;
	if (rs->nidle <= keep)
		return;
	/* The oldest idle runs past keep go back to the pool. */
	link = &rs->idle;
	for (n = 0; n < keep; n++)
		link = &(*link)->next;
	runs_free_list(rs, *link);
	*link = NULL;
	rs->nidle = keep;
}

struct rx_run *_jumbo_rx_run_get(struct rx_runs *rs)
{
	struct rx_run *r = rs->idle;

	if (r) {
		rs->idle = r->next;
		rs->nidle--;
		return r;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	r->addr = jumbo_pool_alloc_contig(rs->pool, rs->k);
	if (!r->addr) {
		free(r);
		return NULL;
	}
	r->mr.put = run_put;
	r->rs = rs;
	r->refs = 0;
	r->next = NULL;
	return r;
}

void _jumbo_rx_run_keep(struct rx_runs *rs, struct rx_run *r)
{
	r->next = rs->idle;
	rs->idle = r;
	rs->nidle++;
}

struct mbuf *_jumbo_rx_run_chain(struct rx_runs *rs, struct rx_run *r,
				 size_t len)
{
	unsigned np = (unsigned)((len + rs->page_size - 1) >> rs->page_shift);
	struct mbuf *m;

	/*
	 * The chain is this thread's until the receive call returns, so a
	 * plain store; the chain is made whole or not at all, so no page
	 * can be dropped before it is.
	 */
	__atomic_store_n(&r->refs, np, __ATOMIC_RELAXED);
	m = _jumbo_mb_page_chain(rs->pool, r->addr, rs->page_shift, len,
				 &r->mr);
	if (!m)
		__atomic_store_n(&r->refs, 0, __ATOMIC_RELAXED);
	return m;
}

void _jumbo_rx_runs_out(struct rx_runs *rs, unsigned n)
{
	rs->out += n;
}

void _jumbo_rx_runs_close(struct rx_runs *rs)
{
	struct rx_run *top;

	if (!rs)
		return;
	runs_free_list(rs, rs->idle);
	rs->idle = NULL;
	rs->nidle = 0;
	/*
	 * From here the runs still out release themselves and count down
	 * live, the last one freeing rs.  live is set first to every run
	 * out, those already back on the stack included, plus 1 for this
	 * close, so that no freer can free rs before the close is done
	 * with it (with nothing on the stack, the last freer would
	 * otherwise reach 0 between the exchange and this thread's
	 * decrement).  release on the exchange: a freer that finds the
	 * marker sees live.  acquire: the runs pushed until now, as in
	 * reclaim.
	 */
	__atomic_store_n(&rs->live, rs->out + 1, __ATOMIC_RELAXED);
	top = __atomic_exchange_n(&rs->ret, RUNS_CLOSED, __ATOMIC_ACQ_REL);
	runs_unref(rs, runs_free_list(rs, top) + 1);
}
