/*
 * Process events: what a process forked from one that uses the library may
 * do, and the pthread_atfork handlers that make it so.
 *
 * fork(2) copies the memory of the calling thread's process but only that
 * thread.  A lock another thread held at that instant stays held in the
 * child forever, and that thread's caches of free pages and mbufs have no
 * owner there.  So the handlers take every lock of the library before the
 * fork, in the order the library nests them (the default pool's creation
 * lock, the pool registry, each pool once no trim holds its pages: the
 * pool's hooks in cache.c; the mbuf depot, which is never held with
 * those), and release them on both sides.  Other files that keep their
 * own state register their own handlers after these (statseg.c): theirs
 * run before these in the parent and after them in the child, so their
 * locks come first, as in their own code.  The child then settles
 * what the missing threads left:
 *
 *   private pools   work as before, with the memory the child inherited
 *                   (a copy): the free pages of other threads' caches go
 *                   back to the depot; pages they had allocated stay in
 *                   use.
 *   shared pools    (JUMBO_POOL_SHARED) are detached: their memory is the
 *                   parent's too, but their state a private copy, so a
 *                   page allocated in the child could be allocated in the
 *                   parent as well.  The child may read, write and free
 *                   the pages it inherited; allocation fails with EXDEV
 *                   (reported once on stderr) and trim too, until pools
 *                   are made for several processes.
 *   mbufs           work; other threads' cached free mbufs go back to the
 *                   depot; mbufs they held stay in use.
 *   /proc/self/maps the fd jumbo_deliver keeps describes the parent: the
 *                   child closes its copy and opens its own when needed.
 *
 * A thread that the fork stopped in the middle of a lock-free fast path
 * may leave a page or a few mbufs in neither its cache nor the depot (the
 * statistics count them in use or cached); nothing is handed out twice.
 */
#include "jumbo_pool_layer.h"
#include "mbuf_int.h"

#include <pthread.h>
#include <stdio.h>

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void prepare(void)
{
	_jumbo_seed_atfork(JUMBO_FORK_PREPARE);
	_jumbo_pools_atfork_prepare();
	_jumbo_mb_atfork(JUMBO_FORK_PREPARE);
}

static void parent(void)
{
	_jumbo_mb_atfork(JUMBO_FORK_PARENT);
	_jumbo_pools_atfork_parent();
	_jumbo_seed_atfork(JUMBO_FORK_PARENT);
}

static void child(void)
{
	_jumbo_mb_atfork(JUMBO_FORK_CHILD);
	_jumbo_pools_atfork_child();
	_jumbo_pools_atfork_settle();
	_jumbo_seed_atfork(JUMBO_FORK_CHILD);
	_jumbo_zc_atfork_child();
}

static void atfork_register(void)
{
	/* Without handlers (ENOMEM) a fork beside busy threads may hang. */
	if (pthread_atfork(prepare, parent, child) != 0)
		_jumbo_log(JUMBO_LOG_WARNING, "libjumbo: pthread_atfork failed: "
			   "a fork while other threads use the library may "
			   "deadlock");
}

/*
 * Called by the first pool and the first mbuf slab (which also pulls this
 * file out of the static library), and at load, before any thread.
 */
void _jumbo_atfork_init(void)
{
	pthread_once(&atfork_once, atfork_register);
}

__attribute__((constructor)) static void atfork_at_load(void)
{
	_jumbo_atfork_init();
}
