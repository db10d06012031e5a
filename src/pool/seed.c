/*
 * The six functions of jumbo(9), on the process's default pool.
 *
 * The default pool is made by jumbo_vm_init() from the environment:
 *   JUMBO_MAX_PAGES  the cap in pages (default: a quarter of physical
 *                    memory, and at most half of RLIMIT_AS if one is set)
 *   JUMBO_PAGE_SIZE  4096 / 4k (default) or 2097152 / 2m
 *   JUMBO_DEBUG      1: poison freed pages and check them on allocation
 *   JUMBO_TRIM_MS    give back memory of pages free this long (default
 *                    30000; 0: never automatically)
 *
 * The seed's functions return void, so where the pool API returns an error
 * they report the function and the address on stderr and abort, as the
 * kernel panicked: a free of a foreign or free page must never go on.
 */
/* The out-of-line jumbo_phys_to_kva is defined here: no inline copy. */
#define JUMBO_NO_INLINE 1
#include "jumbo_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

static struct jumbo_pool *default_pool;
/* Published with default_pool, for the header's inline translation. */
const struct jumbo_pool_head *jumbo_default_head;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t env_page_size(void)
{
	const char *s = getenv("JUMBO_PAGE_SIZE");
	if (!s || !*s || !strcasecmp(s, "4k") || !strcasecmp(s, "4kb") ||
	    !strcmp(s, "4096"))
		return JUMBO_PAGE_4K;
	if (!strcasecmp(s, "2m") || !strcasecmp(s, "2mb") || !strcmp(s, "2097152"))
		return JUMBO_PAGE_2M;
	_jumbo_log(JUMBO_LOG_WARNING, "jumbo_vm_init: ignoring "
		   "JUMBO_PAGE_SIZE=\"%s\": not 4k or 2m", s);
	return JUMBO_PAGE_4K;
}

static size_t env_max_pages(size_t page_size)
{
	const char *s = getenv("JUMBO_MAX_PAGES");
	if (s && *s) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 0);
		/* strtoull takes "-1" as a huge number: digits only. */
		if (!errno && !*end && *s >= '0' && *s <= '9' && v > 0 &&
		    v < UINT32_MAX)
			return (size_t)v;
		_jumbo_log(JUMBO_LOG_WARNING, "jumbo_vm_init: ignoring "
			   "JUMBO_MAX_PAGES=\"%s\": not a number from 1 to %u",
			   s, UINT32_MAX - 1);
	}
	uint64_t bytes = (uint64_t)sysconf(_SC_PHYS_PAGES) *
			 (uint64_t)sysconf(_SC_PAGESIZE) / 4;
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 < bytes)
		bytes = rl.rlim_cur / 2;
	size_t n = (size_t)(bytes / page_size);
	return n ? n : 1;
}

static unsigned env_trim_ms(void)
{
	const char *s = getenv("JUMBO_TRIM_MS");
	char *end;
	if (!s || !*s)
		return 30000;
	unsigned long v = strtoul(s, &end, 0);
	if (*end || v > UINT32_MAX / 2) {
		_jumbo_log(JUMBO_LOG_WARNING,
			   "jumbo_vm_init: ignoring JUMBO_TRIM_MS=\"%s\"", s);
		return 30000;
	}
	return (unsigned)v;
}

static inline struct jumbo_pool *dflt(void)
{
	/* Acquire: pairs with the release in jumbo_vm_init. */
	return __atomic_load_n(&default_pool, __ATOMIC_ACQUIRE);
}

struct jumbo_pool *jumbo_default_pool(void)
{
	return dflt();
}

size_t jumbo_page_size(void)
{
	struct jumbo_pool *p = dflt();
	return p ? p->page_size : env_page_size();
}

void _jumbo_seed_atfork(int phase)
{
	/* A child must find the lock free: no other thread followed it. */
	if (phase == JUMBO_FORK_PREPARE)
		pthread_mutex_lock(&init_lock);
	else
		pthread_mutex_unlock(&init_lock);
}

int jumbo_vm_init(void)
{
	if (dflt())
		return 1;
	pthread_mutex_lock(&init_lock);
	if (!default_pool) {
		struct jumbo_pool_params pp;
		const char *dbg = getenv("JUMBO_DEBUG");
		jumbo_pool_params_init(&pp);
		pp.page_size = env_page_size();
		pp.max_pages = env_max_pages(pp.page_size);
		pp.name = "default";
		pp.trim_idle_ms = env_trim_ms();
		if (dbg && *dbg && strcmp(dbg, "0") != 0)
			pp.flags |= JUMBO_POOL_DEBUG;
		/*
		 * Huge pages exist only where the administrator reserved them:
		 * commit one now, so that their absence fails here, with a
		 * reason, and not at the first allocation with a bare ENOMEM.
		 */
		if (pp.page_size == JUMBO_PAGE_2M)
			pp.init_pages = 1;
		/*
		 * A failed create leaves nothing behind, so a later call may
		 * try again; success is published only when complete.
		 */
		struct jumbo_pool *p = jumbo_pool_create(&pp);
		if (p) {
			p->seed = true; /* misuse aborts, as the kernel panicked */
			__atomic_store_n(&default_pool, p, __ATOMIC_RELEASE);
			/* Release: the head is complete before a program's
			 * inline jumbo_phys_to_kva can see it. */
			__atomic_store_n(&jumbo_default_head, &p->head,
					 __ATOMIC_RELEASE);
		} else if (pp.init_pages && errno == ENOMEM) {
			_jumbo_log(JUMBO_LOG_ERROR,
				   "jumbo_vm_init: JUMBO_PAGE_SIZE=2m: no 2 "
				   "MiB huge page free; reserve them with "
				   "sysctl vm.nr_hugepages=N");
			errno = ENOMEM;
		}
	}
	int ok = default_pool != NULL;
	pthread_mutex_unlock(&init_lock);
	return ok;
}

/* Allocation before jumbo_vm_init: said once, then ENXIO only. */
static JUMBO_NOINLINE vm_page_t no_pool(void)
{
	static int said;

	if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		_jumbo_log(JUMBO_LOG_ERROR, "jumbo_pg_alloc: no default pool: "
			   "jumbo_vm_init() has not succeeded (ENXIO)");
	errno = ENXIO;
	return NULL;
}

/*
 * The fast path is the header's (what programs inline); everything it
 * leaves goes through the pool's own paths, which publish this thread's
 * cache to it again.
 */
vm_page_t jumbo_pg_alloc(void)
{
	vm_page_t pg;

	if (likely(jumbo__pg_alloc_fast(&pg)))
		return pg;
	struct jumbo_pool *p = dflt();
	if (unlikely(!p))
		return no_pool();
	return _jumbo_alloc_page(p);
}

/*
 * A free the pool refused.  An address that translates as an I/O address
 * of the pool (below its committed size) is most likely an I/O address (what VM_PAGE_TO_PHYS gives) passed where
 * the virtual address belongs: say so.
 */
static JUMBO_NOINLINE _Noreturn void seed_free_fail(const char *fn,
						    void *addr, int err)
{
	uintptr_t a = (uintptr_t)addr;

	if (err == -EFAULT && a && jumbo_phys_to_kva(a)) {
		char why[160];
		snprintf(why, sizeof(why), "not a page of the pool: %#lx is an "
			 "I/O address; free jumbo_phys_to_kva(pa) = %p",
			 (unsigned long)a, (void *)jumbo_phys_to_kva(a));
		_jumbo_panic(fn, addr, why);
	}
	_jumbo_panic(fn, addr, _jumbo_strerr(err));
}

static inline void seed_free(const char *fn, void *addr)
{
	struct jumbo_pool *p = dflt();
	int err;

	if (unlikely(!p))
		_jumbo_panic(fn, addr, "not a jumbo page (jumbo_vm_init has not "
				       "run)");
	err = _jumbo_free_addr(p, addr);
	if (unlikely(err))
		seed_free_fail(fn, addr, err);
}

void jumbo_pg_free(vm_offset_t addr)
{
	if (likely(jumbo__pg_free_fast(addr)))
		return;
	seed_free("jumbo_pg_free", (void *)addr);
}

void jumbo_freem(caddr_t addr, void *args)
{
	(void)args;
	seed_free("jumbo_freem", addr);
}

void jumbo_pg_steal(vm_page_t pg)
{
	struct jumbo_pool *p = dflt();
	frame_t f = 0;
	/*
	 * A descriptor of the default pool, by the one lookup (bounded by the
	 * cap).  One inside the cap whose frame is not committed reads
	 * JUMBO_PG_UNUSED and the steal says EFAULT: not a descriptor either,
	 * as a page the pool never handed out cannot be stolen.
	 */
	int err = p ? fr_of_page(p, pg, &f) : -EFAULT;

	if (!err)
		err = _jumbo_steal(p, f, 0);
	if (err == -EFAULT)
		_jumbo_panic("jumbo_pg_steal", pg,
			     "not a jumbo page descriptor");
	if (err)
		_jumbo_panic("jumbo_pg_steal", fr_addr(p, f),
			     err == -EALREADY ? "steal of a free page (or of one "
						    "whose free is pending)"
			     : err == -EBUSY && _jumbo_pool_pinned(p)
				     ? "the pool is pinned (jumbo_pool_pin)"
				     : _jumbo_strerr(err));
}

caddr_t jumbo_phys_to_kva(vm_offset_t pa)
{
	struct jumbo_pool *p = dflt();

	/*
	 * Only committed frames translate: the rest has no memory.  The
	 * same bound as the inline copy in <jumbo/jumbo.h>, which binaries
	 * built against this header use instead.
	 */
	if (!p || (pa >> p->head.ph_shift) >=
			  __atomic_load_n(&p->head.ph_committed,
					  __ATOMIC_ACQUIRE))
		return NULL;
	return p->head.ph_base + pa;
}
