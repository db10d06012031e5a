/*
 * The little the ring layer and the pool layer know of each other, for a
 * ring bound to a pool (jumbo_ring_bind): the ring's dequeue hands each
 * page to the dequeuing process, and the pool's reclaim repairs and reads
 * the rings bound to it.  Neither layer sees the other's internals.
 */
#ifndef JUMBO_RING_POOL_H
#define JUMBO_RING_POOL_H

#include "jumbo_common.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct jumbo_pool;
struct jumbo_ring;
struct jumbo_ring_ent;

typedef void (*jumbo_ring_visit_fn)(void *arg, const struct jumbo_ring_ent *e);

/* pool layer (reclaim.c) */
/*
 * Whether this process may adopt p's pages at all: 0, or -EXDEV in a fork
 * of the process that made p (its copy of the pool is detached, said once
 * for fn).  Asked before a bound ring takes any entry, so that entries a
 * process cannot adopt stay in the ring for one that can; only once there
 * is an entry to take, so that an empty poll costs nothing.
 */
JUMBO_HIDDEN int _jumbo_pool_adopt_ok(struct jumbo_pool *p, const char *fn);
/*
 * The pages of e[0..n) become the caller's; those that cannot are dropped
 * from e, the rest kept in order: how many are kept.  fn: asks
 * _jumbo_pool_adopt_ok(p, fn) first, and on -EXDEV returns it with e
 * unchanged (the ring then takes nothing); NULL: the caller has asked.
 */
JUMBO_HIDDEN int _jumbo_pool_adopt_ents(struct jumbo_pool *p,
					struct jumbo_ring_ent *e, unsigned n,
					const char *fn);
/* r is bound to p (on) or no longer (off): 0 or -errno. */
JUMBO_HIDDEN int _jumbo_pool_ring_bind(struct jumbo_pool *p,
				       struct jumbo_ring *r, bool on);
/*
 * jumbo_ring_reclaim(r, pid) of a ring bound to p: the repair, and the
 * return to p of the page of each slot a dead dequeuer took and never
 * released, under p's lock (reclaim.c says why).  As _jumbo_ring_repair.
 */
JUMBO_HIDDEN int _jumbo_pool_ring_repair(struct jumbo_pool *p,
					 struct jumbo_ring *r, pid_t pid,
					 unsigned *left);

/* ring layer (ring.c) */
/*
 * jumbo_ring_reclaim(r, pid), calling freed for the entry of each slot a
 * dead dequeuer took and that the repair frees: -errno or slots repaired.
 * left (NULL: not asked): incremented for each dead handle whose record
 * stays because a slot it may own is unfinished yet (a live handle's
 * intent covers it too): another repair is due once that one moves on.
 */
JUMBO_HIDDEN int _jumbo_ring_repair(struct jumbo_ring *r, pid_t pid,
				    jumbo_ring_visit_fn freed, void *arg,
				    unsigned *left);
/* live for each entry in the ring now (published, or being dequeued). */
JUMBO_HIDDEN void _jumbo_ring_scan(struct jumbo_ring *r,
				   jumbo_ring_visit_fn live, void *arg);
/* The pool is going: the ring forgets it. */
JUMBO_HIDDEN void _jumbo_ring_unbind(struct jumbo_ring *r);

#endif
