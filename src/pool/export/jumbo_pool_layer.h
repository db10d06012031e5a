/*
 * The pool layer's internal interface to the layers above it (mbuf, and the
 * fork handlers there): the little they may use of the pool beyond
 * <jumbo/jumbo.h>.  Everything else in src/pool/ stays private to the pool;
 * the build gives the upper layers this directory, not src/pool/.
 */
#ifndef JUMBO_POOL_LAYER_H
#define JUMBO_POOL_LAYER_H

#include "jumbo_common.h"

#include <stdbool.h>

/* fork.c: the handlers' phases; the hooks below take one. */
enum { JUMBO_FORK_PREPARE, JUMBO_FORK_PARENT, JUMBO_FORK_CHILD };
/* fork.c: registers the handlers once; the pool and mbuf layers call it
 * before their first lock, so that a static link pulls fork.o in. */
JUMBO_HIDDEN void _jumbo_atfork_init(void);
/* seed.c: the default pool's creation lock. */
JUMBO_HIDDEN void _jumbo_seed_atfork(int phase);
/* cache.c: fork() hooks for the library's pthread_atfork handlers. */
JUMBO_HIDDEN void _jumbo_pools_atfork_prepare(void);
JUMBO_HIDDEN void _jumbo_pools_atfork_parent(void);
JUMBO_HIDDEN void _jumbo_pools_atfork_child(void);
/* cache.c, in the child after _jumbo_pools_atfork_child: the caches of
 * the threads that did not follow, and shared pools detached. */
JUMBO_HIDDEN void _jumbo_pools_atfork_settle(void);

/* page.c, for the receive runs (src/rx): whether the n contiguous pages
 * from addr, the caller's, are all allocated and unheld (a held one must
 * not be reused: its free waits for the last unhold).  One pass over their
 * state words; false for a range outside the pool. */
struct jumbo_pool;
JUMBO_HIDDEN bool _jumbo_pool_pages_idle(const struct jumbo_pool *p,
					 const void *addr, unsigned n);

/* trim.c, for zero-copy delivery (src/mbuf): whether the pool is pinned
 * (jumbo_pool_pin), so that its pages must not move. */
JUMBO_HIDDEN bool _jumbo_pool_pinned(const struct jumbo_pool *p);
/* trim.c: a move of a private pool's pages (trim, steal, delivery)
 * begins, false if the pool is pinned; a pin waits for its end. */
JUMBO_HIDDEN bool _jumbo_pool_move_begin(struct jumbo_pool *p);
JUMBO_HIDDEN void _jumbo_pool_move_end(struct jumbo_pool *p);
/* hold.c, for zero-copy delivery: jumbo_pool_steal of a page its run's
 * move count (_jumbo_pool_move_begin) already covers. */
JUMBO_HIDDEN int _jumbo_pool_steal_counted(struct jumbo_pool *p, void *addr,
					   unsigned flags);

/* statseg.c: the mbuf counters the statistics segment carries beside the
 * pools'.  The mbuf layer registers its snapshot function (with its first
 * slab); the statistics writer calls it under the writer's lock, so that
 * function takes only locks that nest inside it (the mbuf depot's). */
struct jumbo_mbuf_stats;
JUMBO_HIDDEN void _jumbo_statseg_mbufs(int (*snap)(struct jumbo_mbuf_stats *st));

#endif
