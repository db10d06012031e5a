/*
 * Zero-copy delivery: the data of an mbuf chain into a reader's buffer,
 * moving whole pages with mremap where that is allowed and pays, copying
 * the rest (zero_copy(9), soreceive's page flipping).
 *
 * A part can move when it is a whole page of a pool that can give memory
 * away (not JUMBO_POOL_SHARED, not pinned by a device), starts at the page and at a page boundary
 * of the destination, is referenced by this mbuf alone, and is not held.
 * Adjacent movable pages form a run, which moves in one mremap if the run
 * is at least the calibrated threshold (zcopy_calib.c).
 *
 * 4 KiB pages move with MREMAP_DONTUNMAP: the pool's slot stays mapped and
 * refaults as zeroes, so the slot is never a hole, and jumbo_pool_steal
 * (JUMBO_STEAL_MOVED) only does the bookkeeping.  Linux refuses
 * MREMAP_DONTUNMAP on hugetlb memory, so 2 MiB pages move with a plain
 * mremap, and jumbo_pool_steal re-maps the slot without replacing anything
 * that may have been mapped into the hole meanwhile (the slot is then
 * lost, and counted).  Those only move when the pool owns the page (no
 * backend callback: it would be handed a hole) and a spare huge page
 * exists to re-back the slot.
 */
#include "mbuf_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Linux 6.11's PROCMAP_QUERY (uapi linux/fs.h), declared here for older
 * headers: the mapping that contains an address, in one ioctl on
 * /proc/self/maps.
 */
struct zc_procmap_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define ZC_PROCMAP_QUERY _IOWR('f', 17, struct zc_procmap_query)
#define ZC_VMA_WRITABLE 0x02
#define ZC_VMA_SHARED 0x08

/*
 * The fd of /proc/self/maps: -1 not open; -2 the kernel has no
 * PROCMAP_QUERY.  It names the process that opened it, so a fork child
 * closes its copy (_jumbo_zc_atfork_child) and opens its own when needed.
 * Racing openers each open one; the loser closes its own.
 */
static int maps_fd = -1;

void _jumbo_zc_atfork_child(void)
{
	/* The only thread now: plain reads would do; atomics for TSan. */
	int fd = __atomic_load_n(&maps_fd, __ATOMIC_RELAXED);

	if (fd >= 0) {
		close(fd);
		__atomic_store_n(&maps_fd, -1, __ATOMIC_RELAXED);
	}
}

static int zc_maps_fd(void)
{
	/* Relaxed: an fd number carries no data that must be seen with it. */
	int fd = __atomic_load_n(&maps_fd, __ATOMIC_RELAXED);

	if (fd >= 0)
		return fd;
	if (fd == -2)
		return -1;
	int nfd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (nfd < 0)
		return -1;
	if (!__atomic_compare_exchange_n(&maps_fd, &fd, nfd, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		close(nfd);
		return fd >= 0 ? fd : -1;
	}
	return nfd;
}

/*
 * May [dst, dst + len) have its pages replaced by a move?  Only private
 * writable mappings: there a move is indistinguishable from a copy (a
 * private mapping's writes never reach a file), while in a shared one it
 * would cut dst off from the file or from the other processes.  Without
 * PROCMAP_QUERY, MADV_FREE answers (it works only on private anonymous
 * memory), harmlessly since dst's old contents are about to be replaced.
 */
static bool zc_dst_ok(char *dst, size_t len)
{
	int fd = zc_maps_fd();
	char *end = dst + len;

	while (fd >= 0 && dst < end) {
		struct zc_procmap_query q = { .size = sizeof(q),
					      .query_addr = (uintptr_t)dst };
		if (ioctl(fd, ZC_PROCMAP_QUERY, &q) != 0) {
			if (errno == ENOTTY || errno == EINVAL) {
				__atomic_store_n(&maps_fd, -2, __ATOMIC_RELAXED);
				fd = -1;
				break;
			}
			return false;
		}
		if (q.vma_start > (uintptr_t)dst ||
		    (q.vma_flags & (ZC_VMA_WRITABLE | ZC_VMA_SHARED)) !=
			    ZC_VMA_WRITABLE)
			return false;
		dst = (char *)(uintptr_t)q.vma_end;
	}
	if (fd < 0)
		return madvise(dst, (size_t)(end - dst), MADV_FREE) == 0;
	return true;
}

/* Can the data of m, at dst, move as a whole page? */
static bool zc_movable(const struct mbuf *m, const char *dst)
{
	const struct m_ext *e = &m->m_ext;
	struct jumbo_pool *pool = e->ext_pool;
	size_t ps;
	unsigned holds;
	int pending;

	if (!(m->m_flags & M_EXT) || e->ext_type != EXT_JUMBO || !pool)
		return false;
	ps = jumbo_pool_page_size(pool);
	if (m->m_data != e->ext_buf || m->m_len != ps ||
	    ((uintptr_t)dst & (ps - 1)) != 0)
		return false;
	if (JUMBO_HEAD(pool)->ph_flags & JUMBO_POOL_SHARED ||
	    _jumbo_pool_pinned(pool))
		return false;
	/* A destination inside the pool would replace pool slots. */
	if (jumbo_pool_page(pool, dst) || jumbo_pool_page(pool, dst + ps - 1))
		return false;
	if (ps > JUMBO_PAGE_4K && !mb_ext_pool_owned(m))
		return false;
	/* Acquire: pairs with the release of a concurrent m_free's drop. */
	if (__atomic_load_n(e->ext_cnt, __ATOMIC_ACQUIRE) != 1)
		return false;
	return jumbo_page_state(jumbo_pool_page(pool, e->ext_buf), &holds,
				&pending) == JUMBO_PG_ALLOC;
}

/*
 * Moves [src, src + len) of a pool to dst.  0 or -errno; on failure
 * nothing has moved (mremap is all or nothing).
 */
static int zc_remap(char *src, size_t len, char *dst, size_t ps)
{
	int fl = MREMAP_MAYMOVE | MREMAP_FIXED;
	void *spare = NULL;
	void *r;

	if (ps == JUMBO_PAGE_4K) {
		fl |= MREMAP_DONTUNMAP;
	} else {
		/*
		 * Check that the slots can be re-backed: map the spare huge
		 * pages now and give them back just before the steals map
		 * them again.  Another process may take them in between;
		 * then a slot is lost, which the pool counts.
		 */
		spare = mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (spare == MAP_FAILED)
			return -ENOMEM;
	}
	r = mremap(src, len, len, fl, dst);
	if (spare)
		munmap(spare, len);
	return r == MAP_FAILED ? -errno : 0;
}

/*
 * The pages of a run that moved: the pool gets its slots back, the mbufs
 * are freed without their free routine (unless a backend's routine must
 * learn that its buffer, now zeroes, is back), and the next mbuf is
 * returned.
 */
static struct mbuf *zc_moved(struct mbuf *m, unsigned npages, size_t ps)
{
	unsigned sflags = ps == JUMBO_PAGE_4K ? JUMBO_STEAL_MOVED : 0;

	while (npages--) {
		struct m_ext *e = &m->m_ext;
		if (!mb_ext_pool_owned(m)) {
			m = m_free(m); /* the backend's callback: a zero page */
			continue;
		}
		int r = _jumbo_pool_steal_counted(e->ext_pool, e->ext_buf,
						  sflags);
		if (r == -EBUSY || r == -EOPNOTSUPP) {
			/*
			 * Held after our check (someone did I/O on a page he
			 * had no reference to): free it the usual way, the
			 * hole of a 2 MiB slot filled first.  If it cannot
			 * be, the slot is leaked, as jumbo(9) leaked held
			 * pages, rather than handed out as a hole.
			 */
			if (sflags == 0 &&
			    mmap(e->ext_buf, ps, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
					 MAP_FIXED_NOREPLACE,
				 -1, 0) != e->ext_buf) {
				_jumbo_log(JUMBO_LOG_WARNING,
					   "jumbo_deliver: page %p held "
					   "while moved: slot leaked",
					(void *)e->ext_buf);
				m = _jumbo_mb_free_noext(m);
				continue;
			}
			m = m_free(m);
			continue;
		}
		/* 0, or the pool retired the slot and counted it lost. */
		m = _jumbo_mb_free_noext(m);
	}
	return m;
}

/*
 * True where the calibration says moving never pays for m's page size (in
 * this process's thread situation): then the per-page checks are skipped,
 * and small parts cost what a copy costs.  never[] caches the answer for
 * the call: -1 unknown.
 */
static bool zc_never(const struct mbuf *m, signed char never[2])
{
	size_t ps = m->m_ext.ext_size;
	int i = ps == JUMBO_PAGE_4K ? 0 : 1;

	if (!(m->m_flags & M_EXT) || !m->m_ext.ext_pool || m->m_len != ps)
		return true;
	if (never[i] < 0)
		never[i] = _jumbo_zc_threshold(ps, SIZE_MAX - 1) == SIZE_MAX;
	return never[i];
}

int jumbo_deliver(struct mbuf *m, void *dst, size_t dstlen, unsigned flags,
		  struct jumbo_deliver_stats *out)
{
	struct jumbo_deliver_stats st = { 0 };
	signed char never[2] = { -1, -1 };
	char *d = dst;
	size_t total;

	if (!m || !dst ||
	    (flags & (JUMBO_DELIVER_MOVE | JUMBO_DELIVER_COPY)) ==
		    (JUMBO_DELIVER_MOVE | JUMBO_DELIVER_COPY) ||
	    (flags & ~(JUMBO_DELIVER_MOVE | JUMBO_DELIVER_COPY)))
		return -EINVAL;
	if (_jumbo_mb_chain("jumbo_deliver", m, &total) != 0)
		return -EINVAL;
	if (dstlen < total)
		return -ENOBUFS;

	while (m) {
		if (!(flags & JUMBO_DELIVER_COPY) &&
		    ((flags & JUMBO_DELIVER_MOVE) || !zc_never(m, never)) &&
		    zc_movable(m, d)) {
			/* Gather the run of adjacent movable pages. */
			size_t ps = jumbo_pool_page_size(m->m_ext.ext_pool);
			struct mbuf *t = m;
			unsigned np = 1;
			while (t->m_next &&
			       t->m_next->m_flags & M_EXT &&
			       t->m_next->m_ext.ext_pool == m->m_ext.ext_pool &&
			       t->m_next->m_ext.ext_buf == t->m_ext.ext_buf + ps &&
			       zc_movable(t->m_next, d + (size_t)np * ps)) {
				t = t->m_next;
				np++;
			}
			size_t run = (size_t)np * ps;
			if ((flags & JUMBO_DELIVER_MOVE) ||
			    run >= _jumbo_zc_threshold(ps, run)) {
				/* A pin made from here on waits for the
				 * move (its check above was a hint). */
				struct jumbo_pool *pool = m->m_ext.ext_pool;
				int r = -EBUSY;
				if (_jumbo_pool_move_begin(pool))
					r = zc_dst_ok(d, run) ? 0 : -EPERM;
				if (r == 0)
					r = zc_remap(m->m_ext.ext_buf, run, d, ps);
				if (r == -EFAULT && np > 1) {
					/* The run spans two mappings: one by one. */
					r = zc_remap(m->m_ext.ext_buf, ps, d, ps);
					run = ps;
					np = 1;
				}
				if (r == 0) {
					st.moved += run;
					st.pages += np;
					st.remaps++;
					d += run;
					m = zc_moved(m, np, ps);
					_jumbo_pool_move_end(pool);
					continue;
				}
				if (r != -EBUSY)
					_jumbo_pool_move_end(pool);
				st.fallbacks++;
			}
			/* Copy the run. */
			for (; np--; m = m_free(m)) {
				memcpy(d, m->m_data, m->m_len);
				d += m->m_len;
				st.copied += m->m_len;
			}
			continue;
		}
		memcpy(d, m->m_data, m->m_len);
		d += m->m_len;
		st.copied += m->m_len;
		m = m_free(m);
	}
	if (out)
		*out = st;
	return 0;
}
