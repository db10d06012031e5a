/*
 * libjumbo: page-sized disposable buffers for jumbo-frame receive.
 *
 * The six functions of FreeBSD's jumbo(9) manual page, with its names and
 * types, acting on one process-wide default pool; and beside them a pool API
 * for programs that want pools of their own.  See jumbo(3) and
 * jumbo_pool(3).
 *
 * Requires C11 (or C++11) and Linux.
 */
#ifndef JUMBO_JUMBO_H
#define JUMBO_JUMBO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JUMBO_API __attribute__((visibility("default")))

#define JUMBO_VERSION_MAJOR 1
#define JUMBO_VERSION_MINOR 1

/*
 * Kernel types, in user space.  caddr_t is glibc's own type (char *), so the
 * typedef below repeats it, which C11 allows.
 */
typedef char *caddr_t;
typedef uintptr_t vm_offset_t;     /* a virtual address, or an I/O address */
typedef uint64_t vm_paddr_t;       /* an I/O address: offset in pool memory */
typedef struct vm_page *vm_page_t;
struct jumbo_pool;

/*
 * A page descriptor: one per page frame of a pool, 24 bytes, at a fixed
 * place for the life of the pool.  vm_page_t points at one.  The fields are
 * the library's; a program reads them only through the functions and macros
 * below.  They are written when the frame is first committed and then only
 * read (pg_link aside, on a path taken when memory runs out): the page's
 * state lives in a dense array of its own, so that allocating on one core
 * and freeing on another never moves a descriptor's cache line.
 */
struct vm_page {
	uint32_t pg_index;          /* frame number */
	uint32_t pg_link;           /* spill-list link (out of memory only) */
	struct jumbo_pool *pg_pool; /* the pool the frame belongs to */
	caddr_t pg_kva;             /* the frame's virtual address */
};

/*
 * The first members of every pool.  Read-only for programs: they are what
 * the inline translations below use, and they never change after
 * jumbo_pool_create() returns.
 */
struct jumbo_pool_head {
	char *ph_base;            /* start of the reserved range (frame 0) */
	struct vm_page *ph_pages; /* descriptors, indexed by frame number */
	size_t ph_npages;         /* frames in the range: the pool's cap */
	unsigned ph_shift;        /* log2 of the page size */
	unsigned ph_flags;        /* JUMBO_POOL_* flags the pool was made with */
	/* Since 1.1, read through jumbo_default_head only (see below):
	 * frames [0, ph_committed) have memory.  It only grows; the library
	 * stores it with release order after the frames' descriptors. */
	size_t ph_committed;
};

#define JUMBO_HEAD(pool) ((const struct jumbo_pool_head *)(const void *)(pool))

/* ---- jumbo(9): the default pool ---------------------------------------- */

/*
 * 1 once the default pool exists (this call made it, or an earlier one
 * did); 0 with errno on failure, after which nothing is left behind.
 */
JUMBO_API int jumbo_vm_init(void);
JUMBO_API vm_page_t jumbo_pg_alloc(void);
JUMBO_API void jumbo_pg_free(vm_offset_t addr);
JUMBO_API void jumbo_freem(caddr_t addr, void *args);
JUMBO_API void jumbo_pg_steal(vm_page_t pg);
JUMBO_API caddr_t jumbo_phys_to_kva(vm_offset_t pa);

/* Page size of the default pool (of the one jumbo_vm_init would make). */
JUMBO_API size_t jumbo_page_size(void);
/* The default pool, or NULL before a successful jumbo_vm_init(). */
JUMBO_API struct jumbo_pool *jumbo_default_pool(void);

/* Frame number and I/O address of a page; virtual address of a page. */
static inline size_t jumbo_page_index(vm_page_t pg)
{
	return pg->pg_index;
}

static inline vm_paddr_t jumbo_page_phys(vm_page_t pg)
{
	return (vm_paddr_t)jumbo_page_index(pg) << JUMBO_HEAD(pg->pg_pool)->ph_shift;
}

/* One load: the address is kept in the descriptor, for the seed's path. */
static inline caddr_t jumbo_page_kva(vm_page_t pg)
{
	return pg->pg_kva;
}

#define VM_PAGE_TO_PHYS(pg) jumbo_page_phys(pg)

/*
 * The default pool's head, NULL before a successful jumbo_vm_init(); set
 * once, never changed after.  It exists so that jumbo_phys_to_kva() can be
 * inlined into a program (no call, no PLT), and it is ABI: a program that
 * inlines the translation reads ph_base, ph_shift and ph_committed at the
 * offsets of this header, and binds to this symbol at version JUMBO_1.1,
 * so it does not load with a library older than the field.  A library
 * that changes those offsets must export the head under a new name and
 * keep this one valid.  Programs read it; the library alone writes it.
 */
JUMBO_API extern const struct jumbo_pool_head *jumbo_default_head;

#if defined(__GNUC__) && !defined(JUMBO_NO_INLINE)
/*
 * The manual page's translation, inline: the virtual address of the I/O
 * address pa in the default pool, NULL before jumbo_vm_init() or when pa
 * is past the committed frames (exactly what the library's out-of-line
 * jumbo_phys_to_kva returns; gnu_inline makes this a definition for
 * inlining only, so the symbol stays the library's, and a call the
 * compiler does not inline, or a function pointer, reaches it).
 */
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) caddr_t
jumbo_phys_to_kva(vm_offset_t pa)
{
	/* Acquire: pairs with the release that publishes the pool, so its
	 * head is read whole; ph_committed pairs with growth's release. */
	const struct jumbo_pool_head *h =
		__atomic_load_n(&jumbo_default_head, __ATOMIC_ACQUIRE);

	if (__builtin_expect(h == NULL, 0) ||
	    (pa >> h->ph_shift) >=
		    __atomic_load_n(&h->ph_committed, __ATOMIC_ACQUIRE))
		return NULL;
	return h->ph_base + pa;
}
#endif

/*
 * The fast paths of jumbo_pg_alloc() and jumbo_pg_free(), inline.
 *
 * ABI (since 1.1, layout 1; frozen).  A program built with this header
 * without JUMBO_NO_INLINE reads and writes, in its own code, the members of
 * struct jumbo_fast below at these offsets, the default pool's state words
 * JUMBO_FAST_FREE and JUMBO_FAST_ALLOC, and the descriptor array at the
 * stride of struct vm_page; it finds the structure through the
 * initial-exec thread-local pointer jumbo_fast_seed, which it binds at
 * version JUMBO_1.1 (so it does not load with an older library).  The
 * pointer is the thread's cache of the default pool, or NULL whenever the
 * inline code must not touch it: before the thread's first call, in a
 * debug pool (JUMBO_DEBUG), while another thread asks this one's cache
 * back (a drain request), after the thread's cache was released.  Every
 * case the inline code does not handle (NULL, an empty or full cache, a
 * page not in the plain state, an address outside the pool or inside a
 * page) calls the library's out-of-line function of the same name, which
 * makes every check and reports as it always did.
 *
 * A library that changes any of this keeps the symbol jumbo_fast_seed
 * NULL for ever, so that programs built against this header take the
 * out-of-line calls (correct, a little slower), and exports its new
 * layout under another name (jumbo_fast_seed2...) in a new version node,
 * which a new header uses.  JUMBO_FAST_LAYOUT names the layout a header
 * uses.  Only the default pool publishes one: other pools, shared pools
 * among them, are reached through the out-of-line calls.  Build with
 * -DJUMBO_NO_INLINE to make none of this part of a program.
 *
 * Invariants while the pointer is set: objs[0, len) are frames of the
 * default pool that the thread owns, free (state word JUMBO_FAST_FREE but
 * for a twin, which the check on allocation catches), len <= cap; base,
 * shift, npages and pages are the pool head's ph_base, ph_shift,
 * ph_npages and ph_pages; state[f] is frame f's state word.  Only the
 * owning thread writes the members; other threads read allocs and frees
 * (relaxed) for statistics.  64 bytes, one cache line.
 */
#define JUMBO_FAST_LAYOUT 1
#define JUMBO_FAST_FREE 1u  /* JUMBO_PG_FREE, no flag, no hold */
#define JUMBO_FAST_ALLOC 2u /* JUMBO_PG_ALLOC, no flag, no hold */
struct jumbo_fast {
	uint32_t len;          /* free frames in objs */
	uint32_t cap;          /* room in objs */
	uint32_t shift;        /* log2 of the page size */
	uint32_t npages;       /* frames in the range: the cap */
	uint32_t *objs;        /* frame numbers, a LIFO: objs[len - 1] next */
	uint32_t *state;       /* the pool's state words, by frame */
	char *base;            /* frame 0's address */
	struct vm_page *pages; /* descriptors, by frame */
	uint64_t allocs;       /* allocations from this cache */
	uint64_t frees;        /* frees into it */
};

/* initial-exec: one %fs-relative load, no __tls_get_addr call, in a
 * program as in a shared object (the library's TLS is static already). */
#define JUMBO_TLS_IE __attribute__((tls_model("initial-exec")))
JUMBO_API extern __thread JUMBO_TLS_IE struct jumbo_fast *jumbo_fast_seed;

#if defined(__GNUC__)
/*
 * The fast paths themselves, for the inline definitions below and for the
 * library's own out-of-line functions: true when done, false when the
 * out-of-line path must run (nothing was changed then).  Inline only, as
 * the functions that use them (no symbol: they are always inlined).
 */
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) int
jumbo__pg_alloc_fast(vm_page_t *pgp)
{
	/* Relaxed: only a drain request from another thread clears it, and
	 * its owner acts on it at its next call; nothing else is ordered. */
	struct jumbo_fast *c = __atomic_load_n(&jumbo_fast_seed, __ATOMIC_RELAXED);
	uint32_t len, f, *w;

	if (__builtin_expect(c == NULL, 0) || __builtin_expect((len = c->len) == 0, 0))
		return 0;
	f = c->objs[len - 1];
	/*
	 * The state word's address, once: GCC takes every atomic builtin for
	 * a call that may change memory, so writing c->state[f] twice would
	 * load c->state again after the first atomic, an instruction the
	 * compiler cannot remove and, worse, two more units in its estimate
	 * of a program's wrapper of this path, which decides whether GCC -O2
	 * inlines the wrapper (limit 70; bench/README.md, issue 15).
	 */
	w = c->state + f;
	/* Relaxed, as in the library: the page came to this cache through a
	 * synchronising hand-off (the depot lock, a ring, a join). */
	if (__builtin_expect(__atomic_load_n(w, __ATOMIC_RELAXED) != JUMBO_FAST_FREE, 0))
		return 0; /* a twin: the library drops it */
	c->len = len - 1;
	__atomic_store_n(w, JUMBO_FAST_ALLOC, __ATOMIC_RELAXED);
	__atomic_store_n(&c->allocs, c->allocs + 1, __ATOMIC_RELAXED);
	*pgp = c->pages + f;
	/*
	 * What the invariants above make true, said to the compiler: the
	 * page's I/O address, as VM_PAGE_TO_PHYS() computes it from the
	 * descriptor (its frame number, its pool's shift), is f << c->shift.
	 * A program's translation then uses the values in registers instead
	 * of loading the descriptor and then its pool: two dependent loads
	 * on the path from the frame number to the page's address, which
	 * S1 (alloc, touch, free) waits on every time.  The expression is
	 * jumbo_page_phys()'s (static, so not callable here) to the letter,
	 * so that the compiler sees the same value; it costs no instruction,
	 * and a compiler that does not use it loads as before.
	 */
	if ((vm_paddr_t)(size_t)(*pgp)->pg_index
		    << JUMBO_HEAD((*pgp)->pg_pool)->ph_shift !=
	    (vm_paddr_t)f << c->shift)
		__builtin_unreachable();
	return 1;
}

extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) int
jumbo__pg_free_fast(vm_offset_t addr)
{
	struct jumbo_fast *c = __atomic_load_n(&jumbo_fast_seed, __ATOMIC_RELAXED);
	uintptr_t off;
	size_t x;
	uint32_t len, *w;

	if (__builtin_expect(c == NULL, 0))
		return 0;
	/*
	 * The offset rotated right by the page shift (12 or 21, never 0): an
	 * address inside a page brings its low bits to the top, so the one
	 * compare with npages rejects it as it rejects one outside the pool
	 * (one below the base wraps to a huge offset).
	 */
	off = addr - (uintptr_t)c->base;
	x = off >> c->shift | off << ((sizeof(off) * 8 - c->shift) & (sizeof(off) * 8 - 1));
	len = c->len;
	if (__builtin_expect(x >= c->npages, 0) || __builtin_expect(len >= c->cap, 0))
		return 0; /* foreign, inside a page, or no room */
	w = c->state + x; /* once, as in the allocation */
	if (__builtin_expect(__atomic_load_n(w, __ATOMIC_RELAXED) != JUMBO_FAST_ALLOC, 0))
		return 0; /* a double free, held... */
	__atomic_store_n(w, JUMBO_FAST_FREE, __ATOMIC_RELAXED);
	c->objs[len] = (uint32_t)x;
	c->len = len + 1;
	__atomic_store_n(&c->frees, c->frees + 1, __ATOMIC_RELAXED);
	return 1;
}
#endif

#if defined(__GNUC__) && !defined(__clang__) && !defined(JUMBO_NO_INLINE)
/* The library's functions under other names, for the inline bodies to
 * call (a call to the function's own name there would recurse). */
extern vm_page_t jumbo__pg_alloc_call(void) __asm__("jumbo_pg_alloc");
extern void jumbo__pg_free_call(vm_offset_t) __asm__("jumbo_pg_free");

/*
 * jumbo_pg_alloc and jumbo_pg_free, inline (GCC; Clang's are below): the
 * fast path above, else the library's call.  gnu_inline makes these
 * definitions for inlining only, as for jumbo_phys_to_kva: the symbols
 * stay the library's.
 */
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) vm_page_t
jumbo_pg_alloc(void)
{
	vm_page_t pg;

	if (__builtin_expect(jumbo__pg_alloc_fast(&pg), 1))
		return pg;
	return jumbo__pg_alloc_call();
}

extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) void
jumbo_pg_free(vm_offset_t addr)
{
	if (__builtin_expect(!jumbo__pg_free_fast(addr), 0))
		jumbo__pg_free_call(addr);
}
#elif defined(__clang__) && !defined(JUMBO_NO_INLINE)
/*
 * Clang: the same bodies under other names, which the public names map
 * to as function-like macros.  The definitions above are not inlined by
 * Clang: to LLVM the assembler name is the function, so an inline
 * definition of jumbo_pg_alloc whose slow path calls the symbol
 * jumbo_pg_alloc calls itself, and a recursive function is never inlined.
 * A call jumbo_pg_alloc() expands to jumbo__pg_alloc_inline(); the name
 * without a call after it (its address, a redeclaration's name in
 * parentheses) and (jumbo_pg_alloc)() are the library's function, as
 * before.  The macros take any arguments (...) so that a redeclaration
 * such as "vm_page_t jumbo_pg_alloc(void);" stays valid (it redeclares
 * the static inline function).
 */
static __inline__ __attribute__((__always_inline__)) vm_page_t
jumbo__pg_alloc_inline(void)
{
	vm_page_t pg;

	if (__builtin_expect(jumbo__pg_alloc_fast(&pg), 1))
		return pg;
	return (jumbo_pg_alloc)();
}

static __inline__ __attribute__((__always_inline__)) void
jumbo__pg_free_inline(vm_offset_t addr)
{
	if (__builtin_expect(!jumbo__pg_free_fast(addr), 0))
		(jumbo_pg_free)(addr);
}

#define jumbo_pg_alloc(...) jumbo__pg_alloc_inline(__VA_ARGS__)
#define jumbo_pg_free(...) jumbo__pg_free_inline(__VA_ARGS__)
#endif

/* ---- pools ------------------------------------------------------------- */

enum {
	JUMBO_POOL_SHARED = 1u << 0, /* memfd memory other processes can map */
	JUMBO_POOL_DEBUG = 1u << 1,  /* poison freed pages, check on alloc */
	JUMBO_POOL_NOCACHE = 1u << 2, /* no per-thread caches: every call locks */
	/*
	 * With JUMBO_POOL_SHARED: the pool lives in a POSIX shared memory
	 * object named after params.name (/dev/shm/jumbo-pool.NAME), which
	 * other processes attach with jumbo_pool_attach() to allocate and
	 * free its pages too.  4 KiB pages only.  See jumbo_pool(3).
	 */
	JUMBO_POOL_NAMED = 1u << 3,
	JUMBO_POOL_GROUP = 1u << 4   /* a named pool's mode: 0660, not 0600 */
};

#define JUMBO_PAGE_4K ((size_t)4096)
#define JUMBO_PAGE_2M ((size_t)2 << 20)

struct jumbo_pool_params {
	size_t page_size;    /* JUMBO_PAGE_4K (default) or JUMBO_PAGE_2M */
	size_t init_pages;   /* committed when the pool is made */
	size_t max_pages;    /* the cap: reserved once, never exceeded */
	size_t grow_pages;   /* pages committed per growth step; 0: 2 MiB worth */
	unsigned cache_size; /* pages a thread may cache; 0: default (512) */
	unsigned flags;      /* JUMBO_POOL_* */
	const char *name;    /* used in reports; may be NULL */
	unsigned trim_idle_ms; /* trim pages free this long, checked on the
				  pool's slow paths; 0: only jumbo_pool_trim */
	size_t reserve_pages;  /* free pages the depot keeps cold before it
				  reuses any, growing the pool instead;
				  0 (default): none; JUMBO_RESERVE_AUTO:
				  32 MiB worth; never more than a quarter
				  of the cap */
};

#define JUMBO_RESERVE_AUTO ((size_t)-1)

/*
 * Fills *p with the defaults: 4 KiB pages, 0 initial, 65536 max, cache 512,
 * reserve 32 MiB worth of pages.
 */
JUMBO_API void jumbo_pool_params_init(struct jumbo_pool_params *p);

/* NULL and errno (EINVAL, ENOMEM, or what the kernel said) on failure. */
JUMBO_API struct jumbo_pool *jumbo_pool_create(const struct jumbo_pool_params *p);
/*
 * 0; -EBUSY (pool untouched, count reported on stderr) while pages are
 * out.  Any use of the pool after a successful destroy, including by
 * threads whose caches it had, is a use after free (usually SIGSEGV).
 */
JUMBO_API int jumbo_pool_destroy(struct jumbo_pool *pool);

/* A free page's address, or NULL with errno ENOMEM (cap or kernel). */
JUMBO_API void *jumbo_pool_alloc(struct jumbo_pool *pool);
/* The same page as a descriptor. */
JUMBO_API vm_page_t jumbo_pool_alloc_page(struct jumbo_pool *pool);
/*
 * 0, or without changing anything: -EFAULT (not in the pool), -EINVAL (not
 * the start of a page), -EALREADY (already free).  A held page returns 0
 * and is freed by its last unhold.
 */
JUMBO_API int jumbo_pool_free(struct jumbo_pool *pool, void *addr);
/* Up to n pages into addrs[]; returns how many (errno ENOMEM if fewer). */
JUMBO_API unsigned jumbo_pool_alloc_bulk(struct jumbo_pool *pool, void **addrs,
					 unsigned n);
/*
 * Frees each of the n pages as jumbo_pool_free would: 0, or the first
 * error met; the bad entries are left alone and the others freed.
 */
JUMBO_API int jumbo_pool_free_bulk(struct jumbo_pool *pool, void *const *addrs,
				   unsigned n);

/*
 * Runs: n contiguous pages (one buffer of n pages for a jumbo frame, an
 * io_uring or NIC buffer, a move with one mremap).  alloc_contig returns
 * the first page's address, or NULL with errno ENOMEM (no n contiguous
 * free pages within the cap) or EINVAL (n is 0 or above the cap).
 * free_contig gives such a run back whole, to be handed out whole again;
 * its pages may also be freed one by one, and free_contig may free pages
 * allocated one by one.  It returns 0, or the first error of freeing each
 * page as jumbo_pool_free would (-EFAULT for a run past the cap).
 */
JUMBO_API void *jumbo_pool_alloc_contig(struct jumbo_pool *pool, unsigned n);
JUMBO_API int jumbo_pool_free_contig(struct jumbo_pool *pool, void *addr,
				     unsigned n);

/*
 * Hold: count an in-flight I/O on an allocated page.  0, -EFAULT, -EINVAL,
 * -EALREADY (page is free), -EOVERFLOW (65535 holds).  Unhold: 0, or
 * -ENOENT for an unhold without a hold.  A free of a held page is deferred
 * to its last unhold, which may run on any thread.  The first hold must
 * happen before the owner's free (same thread, or ordered by the hand-off);
 * later holds and unholds may race with it.
 */
JUMBO_API int jumbo_pool_hold(struct jumbo_pool *pool, void *addr);
JUMBO_API int jumbo_pool_unhold(struct jumbo_pool *pool, void *addr);

/*
 * Steal: the page's memory has left the pool (moved away with mremap, or
 * kept by its caller); the slot is re-backed with fresh zeroed memory and
 * becomes free.  0; -EFAULT, -EINVAL (also an unknown flag), -EALREADY
 * (free page), -EBUSY (held),
 * -EOPNOTSUPP (shared pool: its memory cannot be given away), -ENOMEM (the
 * slot could not be re-backed: it is retired, counted as lost).
 * JUMBO_STEAL_MOVED: the caller moved the page with MREMAP_DONTUNMAP, so
 * the slot is already empty and needs no system call (4 KiB pools; the
 * kernel has no DONTUNMAP for huge pages, so 2 MiB pools ignore the flag).
 */
#define JUMBO_STEAL_MOVED 1u
JUMBO_API int jumbo_pool_steal(struct jumbo_pool *pool, void *addr,
			       unsigned flags);

/*
 * Give back to the kernel the memory of pages that have been free in the
 * shared depot for at least min_age_ms milliseconds (0: all of them); their
 * addresses stay.  Pages in thread caches are not touched.  Returns pages
 * trimmed, or -errno.
 */
JUMBO_API long jumbo_pool_trim(struct jumbo_pool *pool, unsigned min_age_ms);

/*
 * Since 1.1.  The pool's memory is registered with something that holds
 * its pages where they are (an AF_XDP UMEM, which the receive and transmit
 * backends pin themselves; a VFIO DMA mapping; an RDMA memory region):
 * until as many jumbo_pool_unpin() calls, trim gives nothing back
 * (-EBUSY), zero-copy delivery copies instead of moving pages, and
 * jumbo_pool_steal() refuses (-EBUSY).  A pin waits for a trim in
 * progress to end.  In a named pool it holds for every process while the
 * pinning one lives.  0, or -EINVAL (no pool; an unpin without a pin),
 * -EXDEV (a named pool in a fork child).
 */
JUMBO_API int jumbo_pool_pin(struct jumbo_pool *pool);
JUMBO_API int jumbo_pool_unpin(struct jumbo_pool *pool);

/* Return this thread's cached pages of pool to the shared depot. */
JUMBO_API void jumbo_pool_flush_cache(struct jumbo_pool *pool);

struct jumbo_stats {
	uint64_t allocs;         /* pages handed out */
	uint64_t frees;          /* pages returned (deferred ones included) */
	uint64_t steals;         /* slots re-backed by jumbo_pg_steal */
	uint64_t holds;          /* hold calls */
	uint64_t deferred_frees; /* frees that waited for the last unhold */
	uint64_t grows;          /* growth steps */
	uint64_t trims;          /* pages given back to the kernel */
	uint64_t alloc_fails;    /* NULL returns: cap reached or kernel refused */
	uint64_t grow_fails;     /* growth steps the kernel refused */
	uint64_t lost;           /* slots retired: could not be re-backed */
	uint64_t in_use;         /* allocs - frees - steals - lost */
	uint64_t committed;      /* pages with memory (committed - trimmed) */
	uint64_t reserved;       /* the cap, in pages */
	uint64_t high_water;     /* most pages out of the depot at once:
				    in use or in thread caches */
	uint64_t depot_free;     /* free pages in the shared depot */
	uint64_t cached_free;    /* free pages in thread caches */
	uint64_t page_size;
	uint64_t meta_bytes;     /* bytes of metadata the pool keeps now */
	uint64_t double_frees;   /* pages two threads freed at the same
				    instant, caught (and mended) later */
};

/*
 * A snapshot in which every value is possible: see jumbo_pool(3) for how
 * stale it may be while other threads use the pool.  0 or -EINVAL.
 */
JUMBO_API int jumbo_pool_stats(struct jumbo_pool *pool, struct jumbo_stats *st);
/* Prints the statistics, one per line, to stream (stdout if NULL). */
JUMBO_API void jumbo_stats_print(const struct jumbo_stats *st, FILE *stream);

/* ---- translation: O(1), no lock ----------------------------------------- */

/*
 * The page containing addr (any byte of it), or NULL if outside the pool.
 * An address below the base wraps to a huge offset, so one compare does.
 */
static inline vm_page_t jumbo_pool_page(const struct jumbo_pool *pool,
					const void *addr)
{
	const struct jumbo_pool_head *h = JUMBO_HEAD(pool);
	size_t i = ((uintptr_t)addr - (uintptr_t)h->ph_base) >> h->ph_shift;
	return i < h->ph_npages ? &h->ph_pages[i] : NULL;
}

/* I/O address of addr, or (vm_paddr_t)-1 if outside the pool. */
static inline vm_paddr_t jumbo_pool_iova(const struct jumbo_pool *pool,
					 const void *addr)
{
	const struct jumbo_pool_head *h = JUMBO_HEAD(pool);
	size_t off = (uintptr_t)addr - (uintptr_t)h->ph_base;
	return (off >> h->ph_shift) < h->ph_npages ? (vm_paddr_t)off
						   : (vm_paddr_t)-1;
}

/* Virtual address of an I/O address, or NULL if outside the pool. */
static inline void *jumbo_pool_iova_to_addr(const struct jumbo_pool *pool,
					    vm_paddr_t iova)
{
	const struct jumbo_pool_head *h = JUMBO_HEAD(pool);
	return (iova >> h->ph_shift) < h->ph_npages ? h->ph_base + iova : NULL;
}

static inline size_t jumbo_pool_page_size(const struct jumbo_pool *pool)
{
	return (size_t)1 << JUMBO_HEAD(pool)->ph_shift;
}

/* The memfd of a JUMBO_POOL_SHARED pool (offset = I/O address), else -1. */
JUMBO_API int jumbo_pool_fd(const struct jumbo_pool *pool);

/*
 * Named shared pools (JUMBO_POOL_SHARED | JUMBO_POOL_NAMED): attach maps
 * the pool another process made, at an address of this process's own; the
 * I/O addresses are the same in every process.  NULL and errno: EACCES (no
 * permission), ENOENT (no such pool), EINVAL (not a pool: a file that is not
 * one, or whose header is gone), EPROTO (a pool header of another version,
 * or a corrupted one), ENOMEM.  attach_fd takes the object's descriptor
 * (from jumbo_pool_fd(), passed over a UNIX socket) and dups it; data_fd
 * must be -1 (reserved for pools whose pages live in a second file).
 * flags must be 0.  jumbo_pool_destroy() detaches; the creator's destroy
 * also removes the name.  unlink removes a name (a crashed creator's):
 * 0 or -errno.
 */
JUMBO_API struct jumbo_pool *jumbo_pool_attach(const char *name, unsigned flags);
JUMBO_API struct jumbo_pool *jumbo_pool_attach_fd(int fd, int data_fd,
						  unsigned flags);
JUMBO_API int jumbo_pool_unlink(const char *name);

/*
 * A named pool's processes (jumbo_pool(3), PROCESSES).  reclaim: find the
 * attached processes that died and give back to the pool every page they
 * held but those in flight in a ring bound to the pool (jumbo_ring_bind),
 * which their dequeuer gets; call it from a process that has bound every
 * ring carrying the pool's pages.  Pages recovered, or -errno; 0 for a
 * private pool.  adopt: a page received by another way than a bound ring
 * becomes this process's, so that its sender's death no longer takes it:
 * 0, -EOWNERDEAD (the page is free again: its sender died first and it was
 * reclaimed), -EFAULT, -EINVAL.
 */
JUMBO_API long jumbo_pool_reclaim(struct jumbo_pool *pool);
JUMBO_API int jumbo_pool_adopt(struct jumbo_pool *pool, void *addr);

/* Page states, as jumbo_page_state() reports them. */
enum jumbo_page_state {
	JUMBO_PG_UNUSED = 0, /* beyond the committed part of the pool */
	JUMBO_PG_FREE = 1,   /* in the pool: depot, a thread cache, or fresh */
	JUMBO_PG_ALLOC = 2,  /* owned by a caller */
	JUMBO_PG_HELD = 3,   /* allocated, with in-flight I/O (hold count > 0) */
	JUMBO_PG_LOST = 4    /* retired: its slot could not be re-backed */
};
/* The state, hold count and whether a free waits for the last unhold. */
JUMBO_API enum jumbo_page_state jumbo_page_state(vm_page_t pg, unsigned *holds,
						 int *free_pending);

/*
 * Where the library's messages go (jumbo(3), LOGGING).  Every line the
 * library prints on its own goes through the hook: level is one of the
 * values below (syslog(3)'s LOG_ERR, LOG_WARNING, LOG_INFO), msg one line
 * without its newline, valid during the call only.  The hook may be called
 * from any thread, in a fork child, and just before the library aborts on
 * a corrupting free; it must not call back into the library.
 *
 * fn NULL restores the default, a line on stderr; a function that does
 * nothing silences the library.  0, or -ENOMEM.
 */
enum jumbo_log_level {
	JUMBO_LOG_ERROR = 3,   /* a call failed, or the library aborts next */
	JUMBO_LOG_WARNING = 4, /* a setting was ignored, a page was dropped */
	JUMBO_LOG_INFO = 6     /* informational */
};
typedef void (*jumbo_log_fn)(int level, const char *msg, void *arg);
JUMBO_API int jumbo_set_log(jumbo_log_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* JUMBO_JUMBO_H */
