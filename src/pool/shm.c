/*
 * Named shared pools: a pool whose pages, state words and depot live in one
 * POSIX shared memory object, /dev/shm/jumbo-pool.NAME, which any process
 * with permission attaches, maps at an address of its own, and allocates
 * from and frees into.
 *
 * The object, offsets from its start, each region 4 KiB-aligned:
 *
 *   [0, data)        the pages: the I/O address is the file offset, as in
 *                    every shared pool, so mem.c commits and trims here
 *                    unchanged
 *   ctl              the depot's robust process-shared mutex, its counters
 *   procs            one record per attached process (shm_int.h)
 *   state            the page state words (jumbo_int.h), max_pages x 4 B,
 *                    each with its owner's slot
 *   fifo             the depot: a queue of free frame numbers, max_pages x 4 B
 *   hdr              the immutable header, the object's last 4 KiB
 *
 * Nothing in it is a pointer: frame numbers and offsets only, so each
 * process translates with its own base.  The header comes last so that
 * page offsets stay I/O addresses; a reader finds it at st_size - 4096 and
 * checks that it describes a file of exactly that size.
 *
 * Each process keeps its own handle (struct jumbo_pool), descriptors
 * (filled for the whole cap at attach, since any peer may grow the pool)
 * and per-thread caches.  Every page's word names its owner (jumbo_int.h):
 * FREE|0 in the depot, FREE|me in my caches, ALLOC|me mine.  The paths
 * below stamp it: a cache's refill takes pages FREE|me under the lock, an
 * allocation makes them ALLOC|me, a free FREE|me (of my own page with a
 * plain store, of another's by compare-and-swap: "allocation and free"
 * below), a flush FREE|0 under the lock.  So when a process dies, its
 * pages are the words that name it (reclaim.c), whatever it was doing.
 * The private pool's inline paths never match such a word, and this
 * pool's caches are never their short cut: a named pool's calls reach
 * their own short cuts (shm_int.h) at the top of the out-of-line entries,
 * and a private pool's paths are untouched.
 *
 * The creator writes the object under a temporary name and links it under
 * its name only when complete, so no process attaches a half-written one.
 */
#include "shm_int.h"

#include <jumbo/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_MAGIC 0x314c504f424d554aull /* "JUMBOPL1" */
#define SHM_ABI 6u                      /* bump on any layout change */

static uint64_t page_round(uint64_t x)
{
	return (x + SHM_PAGE - 1) & ~(uint64_t)(SHM_PAGE - 1);
}

static uint32_t fnv1a(const void *v, size_t n)
{
	const unsigned char *b = v;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static uint32_t hdr_sum(const struct jumbo_shm_hdr *h)
{
	return fnv1a(h, offsetof(struct jumbo_shm_hdr, sum));
}

/* The layout max_pages pages imply; false if it does not fit a size_t. */
static bool layout(uint64_t max_pages, struct jumbo_shm_hdr *h)
{
	if (max_pages == 0 || max_pages > UINT32_MAX - 1)
		return false;
	uint64_t words = page_round(max_pages * sizeof(uint32_t));
	h->off_ctl = max_pages << 12;
	h->off_procs = h->off_ctl + SHM_PAGE;
	h->off_state = h->off_procs +
		       page_round(SHM_SLOTS * sizeof(struct jumbo_shm_proc));
	h->off_fifo = h->off_state + words;
	h->off_hdr = h->off_fifo + words;
	h->total_bytes = h->off_hdr + SHM_PAGE;
	return h->total_bytes <= (uint64_t)(SIZE_MAX >> 1) &&
	       h->total_bytes <= (uint64_t)INT64_MAX;
}

/* A pool name: 1-31 of [A-Za-z0-9._-], not starting with a dot. */
static bool name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;
	if (len == 0 || len > 31 || n[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * The header of the object open at fd, checked against everything that
 * can be recomputed: 0, -EINVAL (not a pool: not a regular file, no magic
 * where the header belongs), -EPROTO (another version, a checksum or a
 * fact that does not hold).  Read with pread, never through a mapping: a
 * mapping of a file shorter than it claims faults on touch.
 */
static int hdr_read(int fd, struct jumbo_shm_hdr *h)
{
	struct stat sb;
	struct jumbo_shm_hdr want;

	if (fstat(fd, &sb) != 0)
		return -errno;
	if (!S_ISREG(sb.st_mode) || sb.st_size < (off_t)SHM_PAGE ||
	    sb.st_size % SHM_PAGE)
		return -EINVAL;
	if (pread(fd, h, sizeof(*h), sb.st_size - SHM_PAGE) != (ssize_t)sizeof(*h))
		return -EINVAL;
	if (h->magic != SHM_MAGIC)
		return -EINVAL;
	if (h->abi != SHM_ABI || h->hdr_bytes != sizeof(*h) ||
	    h->sum != hdr_sum(h))
		return -EPROTO;
	memset(&want, 0, sizeof(want));
	if (h->page_shift != 12 || !layout(h->max_pages, &want) ||
	    h->off_ctl != want.off_ctl || h->off_procs != want.off_procs ||
	    h->off_state != want.off_state ||
	    h->off_fifo != want.off_fifo || h->off_hdr != want.off_hdr ||
	    h->total_bytes != want.total_bytes ||
	    h->total_bytes != (uint64_t)sb.st_size ||
	    h->grow_pages == 0 || h->grow_pages > h->max_pages ||
	    h->reserve > h->max_pages || h->cache_size > (1u << 20) ||
	    memchr(h->name, 0, sizeof(h->name)) == NULL ||
	    (h->flags & ~(unsigned)(JUMBO_POOL_SHARED | JUMBO_POOL_DEBUG |
				    JUMBO_POOL_NOCACHE | JUMBO_POOL_STAT |
				    JUMBO_POOL_NAMED | JUMBO_POOL_GROUP)) ||
	    !(h->flags & JUMBO_POOL_NAMED))
		return -EPROTO;
	return 0;
}

/*
 * The depot's lock.  A holder that died inside leaves the mutex to the
 * next one with EOWNERDEAD: that one learns who died (lock_slot), repairs
 * the queue if the dead holder was changing it (dirty), and takes back the
 * dead process's free pages before it goes on (reclaim.c).
 */
static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * How long a taker waits for a held lock before it sleeps in the kernel.
 * A hold is one exchange with the queue, a few microseconds; a sleep costs
 * the sleeper a wake-up and the holder a futex system call in its unlock,
 * tens of microseconds on a virtual machine, during which the peer on the
 * other side of a ring stalls too.  So a taker spins for about as long as
 * a few holds, then sleeps: a holder that was preempted or died (robust:
 * the lock call then says EOWNERDEAD) costs the spin once.
 */
#define LOCK_SPIN_NS 50000u

/*
 * The lock, taken by trylock while lock_slot says it looks free, until
 * LOCK_SPIN_NS have passed; then by a blocking lock.  lock_slot is only a
 * hint here (set after the lock is taken, cleared before it is let go):
 * the mutex decides.
 */
static int lock_spin(struct jumbo_shm_ctl *c)
{
	uint64_t until = 0;

	for (unsigned i = 0;; i++) {
		/* Relaxed: a hint; the trylock's acquire orders the hold. */
		if (!__atomic_load_n(&c->lock_slot, __ATOMIC_RELAXED)) {
			int r = pthread_mutex_trylock(&c->lock);
			if (r != EBUSY)
				return r;
		}
		spin_pause();
		if (i % 64 == 63) {
			uint64_t now = _jumbo_clock_ns(false);
			if (!until)
				until = now + LOCK_SPIN_NS;
			else if (now > until)
				return pthread_mutex_lock(&c->lock);
		}
	}
}

void _jumbo_shm_lock(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;
	int r = lock_spin(s->ctl);

	if (unlikely(r == EOWNERDEAD)) {
		s->ctl->owner_deaths++;
		_jumbo_shm_owner_died(p);
		pthread_mutex_consistent(&s->ctl->lock);
	}
	/* Relaxed: the spinners' hint (lock_spin); the mutex orders. */
	__atomic_store_n(&s->ctl->lock_slot, s->me, __ATOMIC_RELAXED);
}

void _jumbo_shm_unlock(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;

	if (unlikely(s->ctl->rebuild_due) && !s->ctl->dirty)
		_jumbo_shm_rebuild(p);
	__atomic_store_n(&s->ctl->lock_slot, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->ctl->lock);
}

static int mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t ma;
	int r;

	pthread_mutexattr_init(&ma);
	r = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	if (!r)
		r = pthread_mutex_init(m, &ma);
	pthread_mutexattr_destroy(&ma);
	return -r;
}

/*
 * Map the control part of the object and its pages over the pool's
 * reservation; fill every descriptor (a peer may grow the pool and pass
 * us a page we never saw committed).  The handle's state words become the
 * shared ones, and its committed the cap: a frame with no memory has an
 * UNUSED word, which every check already refuses.
 */
static int map_object(struct jumbo_pool *p, struct jumbo_shm *s,
		      const struct jumbo_shm_hdr *h)
{
	s->map_len = h->total_bytes - h->off_ctl;
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      p->fd, (off_t)h->off_ctl);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return -errno;
	}
	s->ctl = (struct jumbo_shm_ctl *)(void *)s->map;
	s->procs = (struct jumbo_shm_proc *)(void *)(s->map +
						     (h->off_procs - h->off_ctl));
	s->fifo = (frame_t *)(void *)(s->map + (h->off_fifo - h->off_ctl));
	s->hdr = (const struct jumbo_shm_hdr *)(void *)(s->map +
							(h->off_hdr - h->off_ctl));
	s->cap = h->max_pages;
	if (mmap(p->head.ph_base, p->reserved_bytes, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_NORESERVE, p->fd, 0) == MAP_FAILED)
		return -errno;
	for (size_t i = 0; i < p->head.ph_npages; i++) {
		struct vm_page *pg = &p->head.ph_pages[i];
		pg->pg_index = (frame_t)i;
		pg->pg_pool = p;
		pg->pg_link = SPILL_END;
		pg->pg_kva = fr_addr(p, (frame_t)i);
	}
	munmap(p->state, p->state_bytes);
	p->state = (uint32_t *)(void *)(s->map + (h->off_state - h->off_ctl));
	p->state_bytes = 0;
	return 0;
}

static int create_object(struct jumbo_pool *p, struct jumbo_shm *s,
			 const struct jumbo_pool_params *pp)
{
	struct jumbo_shm_hdr h;
	mode_t mode = pp->flags & JUMBO_POOL_GROUP ? 0660 : 0600;
	int err;

	if (!name_ok(pp->name))
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	if (!layout(pp->max_pages, &h))
		return -EINVAL;
	shm_path(s->path, pp->name);
	snprintf(s->tmp, sizeof(s->tmp), SHM_DIR "." SHM_PREFIX "%s.%ld",
		 pp->name, (long)getpid());
	p->fd = open(s->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     mode);
	if (p->fd < 0) {
		s->tmp[0] = 0; /* not ours to remove */
		return -errno;
	}
	/* The umask narrows open's mode: say it again. */
	if (fchmod(p->fd, mode) != 0 ||
	    ftruncate(p->fd, (off_t)h.total_bytes) != 0)
		return -errno;
	h.magic = SHM_MAGIC;
	h.abi = SHM_ABI;
	h.hdr_bytes = sizeof(h);
	h.page_shift = p->head.ph_shift;
	h.flags = pp->flags;
	h.max_pages = pp->max_pages;
	h.grow_pages = p->grow_pages > pp->max_pages ? pp->max_pages
						     : p->grow_pages;
	h.reserve = p->reserve;
	h.cache_size = pp->cache_size;
	h.trim_idle_ms = pp->trim_idle_ms;
	snprintf(h.name, sizeof(h.name), "%s", pp->name);
	h.creator_uid = (uint32_t)geteuid();
	h.sum = hdr_sum(&h);
	if (pwrite(p->fd, &h, sizeof(h), (off_t)h.off_hdr) != (ssize_t)sizeof(h))
		return errno ? -errno : -EIO;
	if ((err = map_object(p, s, &h)) != 0)
		return err;
	s->ctl->reserve = h.reserve;
	if ((err = mutex_init(&s->ctl->lock)) != 0)
		return err;
	return _jumbo_shm_join(p);
}

static int attach_object(struct jumbo_pool *p, struct jumbo_shm *s, int at)
{
	struct jumbo_shm_hdr h;
	int err;

	p->fd = fcntl(at, F_DUPFD_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	if ((err = hdr_read(p->fd, &h)) != 0)
		return err;
	if ((err = map_object(p, s, &h)) != 0)
		return err;
	/* The file may have changed since it was read: the mapped copy is
	 * the one used from now on. */
	if (memcmp(s->hdr, &h, sizeof(h)) != 0)
		return -EPROTO;
	p->committed = p->head.ph_npages;
	return _jumbo_shm_join(p);
}

int _jumbo_shm_setup(struct jumbo_pool *p, const struct jumbo_pool_params *pp,
		     int at)
{
	struct jumbo_shm *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	p->shm = s;
	s->lock_fd = -1;
	s->creator = at < 0;
	pthread_mutex_init(&s->rings_lock, NULL);
	int err = at < 0 ? create_object(p, s, pp) : attach_object(p, s, at);
	if (!err)
		p->shm_mine = s->w_alloc; /* joined: the short cuts are on */
	return err;
}

/* The creator's initial pages are committed: the name appears. */
int _jumbo_shm_publish(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;

	if (!s->creator)
		return 0;
	s->ctl->committed = s->ctl->carved = 0;
	/* Release: the words fr_init wrote come before committed. */
	__atomic_store_n(&s->ctl->committed, p->committed, __ATOMIC_RELEASE);
	p->committed = p->head.ph_npages;
	/* link, unlike rename, never replaces: a name taken stays its owner's. */
	if (link(s->tmp, s->path) != 0)
		return -errno;
	unlink(s->tmp);
	s->tmp[0] = 0;
	return 0;
}

/*
 * Whether path is still the object of fd: a name removed meanwhile
 * (jumbo_pool_unlink) may have been given to another pool since, whose
 * name the creator's destroy must leave alone.  (A window remains between
 * the look and the unlink; it needs a removal and a new pool of the same
 * name within it.)
 */
static bool names_us(int fd, const char *path)
{
	struct stat a, b;

	return fd >= 0 && fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void _jumbo_shm_close(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;

	p->shm_mine = 0;
	if (s->me)
		_jumbo_shm_leave(p);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* a join that failed */
	if (s->tmp[0] && s->creator)
		unlink(s->tmp);
	else if (s->creator && names_us(p->fd, s->path))
		unlink(s->path);
	if (s->map)
		munmap(s->map, s->map_len);
	if (p->state_bytes == 0)
		p->state = NULL; /* it was in the mapping */
	pthread_mutex_destroy(&s->rings_lock);
	free(s->rings);
	free(s);
	p->shm = NULL;
}

/* ---- the depot ------------------------------------------------------------ */

static void note_out(struct jumbo_shm_ctl *c, uint64_t n)
{
	c->out += (int64_t)n;
	if (c->out > 0 && (uint64_t)c->out > c->high_water)
		c->high_water = (uint64_t)c->out;
}

/*
 * Lock held: commit the next step.  The pages are mapped in every process
 * already (map_object); the file gets their memory, this process its
 * populated mapping, and the words become FREE before committed says so.
 */
static int grow(struct jumbo_pool *p, struct jumbo_shm *s, uint64_t want)
{
	struct jumbo_shm_ctl *c = s->ctl;
	uint64_t first = c->committed, unit = s->hdr->grow_pages, step = unit;

	if (first >= s->cap)
		return -ENOMEM;
	if (want > step)
		step = (want + unit - 1) / unit * unit;
	if (step > s->cap - first)
		step = s->cap - first;
	int err = _jumbo_commit(p, first, step);
	if (err) {
		__atomic_fetch_add(&c->grow_fails, 1, __ATOMIC_RELAXED);
		ctr_add(&p->ctr.grow_fails, 1);
		return err;
	}
	for (uint64_t i = first; i < first + step; i++)
		fr_store(p, (frame_t)i, JUMBO_PG_FREE);
	/* Release: the words above before the frames are counted. */
	__atomic_store_n(&c->committed, first + step, __ATOMIC_RELEASE);
	/* Counted in steps, as jumbo_pool(3) says, however many one call made. */
	__atomic_fetch_add(&c->grows, (step + unit - 1) / unit, __ATOMIC_RELAXED);
	ctr_add(&p->ctr.grows, (step + unit - 1) / unit);
	return 0;
}

/*
 * Lock held, dirty set: fresh frames into out[*got..n), growing if none
 * are left.  A frame counts as carved before its word names us: killed in
 * between, it is FREE|0 below carved, which the rebuild puts in the queue.
 */
static bool carve(struct jumbo_pool *p, struct jumbo_shm *s, frame_t *out,
		  unsigned *got, unsigned n, uint32_t w)
{
	struct jumbo_shm_ctl *c = s->ctl;

	if (c->carved >= c->committed && grow(p, s, n - *got) != 0)
		return false;
	while (*got < n && c->carved < c->committed) {
		frame_t f = (frame_t)c->carved++;
		fr_store(p, f, w);
		out[(*got)++] = f;
	}
	return true;
}

/*
 * Lock held.  Whether the cold reserve wants fresh frames for a take of n
 * pages and has them: depot.c's rule (reserve_fresh() there, which says
 * why), with the queue for the depot.  The pool grows for the reserve
 * only to its working set (the most pages ever out of the queue, this
 * take counted) plus the reserve plus a magazine, in one call, so
 * that a later burst of the same size, or a new thread or process doing
 * what the last did, finds its pages instead of growing again.  A refused
 * growth drops the reserve for good.
 */
static bool reserve_fresh(struct jumbo_pool *p, struct jumbo_shm *s,
			  unsigned n)
{
	struct jumbo_shm_ctl *c = s->ctl;

	if (!c->reserve || c->tail - c->head > c->reserve)
		return false;
	uint64_t goal = _jumbo_reserve_goal(p, c->out, c->high_water,
					    c->reserve, n);
	if (c->committed < goal && grow(p, s, goal - c->committed) != 0)
		c->reserve = 0;
	return c->reserve && c->carved < c->committed;
}

void _jumbo_shm_enqueue(struct jumbo_shm *s, frame_t f)
{
	struct jumbo_shm_ctl *c = s->ctl;

	c->put_ms = _jumbo_clock_ms(); /* the tail's age (trim) */
	if (likely(c->tail - c->head < s->cap))
		s->fifo[c->tail++ % s->cap] = f;
	else /* stale entries fill it: the words say where f is */
		c->rebuild_due = 1;
}

/* Frames the depot's loops read ahead of the one they stamp. */
#define LOOK_AHEAD 16u

/*
 * Up to n free pages, now FREE|me (or w: ALLOC|me for a cacheless
 * allocation).  grow: as depot.c's take() (fresh frames first while the
 * queue holds no more than the reserve, then the queue, then growth);
 * else n pages from the queue or none, and only if the reserve stays.  A
 * frame read from the queue that is not a committed FREE|0 frame is
 * dropped, not handed out: the segment is shared with other processes and
 * its contents are checked before use.
 */
static unsigned shm_get(struct jumbo_pool *p, frame_t *out, unsigned n,
			bool grow_ok, uint32_t w)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	unsigned got = 0;

	_jumbo_shm_check_peers(p, PEER_CHECK_MS);
	_jumbo_shm_lock(p);
	uint64_t avail = c->tail - c->head;
	if (avail > s->cap) /* corrupted: take nothing from it */
		avail = 0, c->head = c->tail;
	if (!grow_ok && (avail < n || avail - n < c->reserve)) {
		_jumbo_shm_unlock(p);
		return 0;
	}
	c->dirty = 1;
	/* carve() grows nothing here: reserve_fresh() left frames. */
	while (grow_ok && got < n && reserve_fresh(p, s, n))
		carve(p, s, out, &got, n, w);
	uint64_t committed = c->committed, h = c->head, t = c->tail;
	size_t i = (size_t)(h % s->cap);
	if (t - h > s->cap) /* corrupted meanwhile: take nothing from it */
		t = h;
	/*
	 * A load, a compare and a store per page, not a compare-and-swap: a
	 * FREE|0 word changes only under this lock (the frees, holds and
	 * adopts of other processes act on ALLOC words only), so nothing
	 * races the store.  A word that is not FREE|0 is not the depot's
	 * and its frame is dropped; a frame queued twice meets the FREE|me
	 * its first copy left.  Plain accesses let the misses on the lines
	 * the freeing process wrote last overlap, where each locked
	 * instruction waited for its own; the look-ahead asks for the next
	 * lines of words while these are stamped.
	 */
	while (got < n && h != t) {
		frame_t f = s->fifo[i];
		if (likely(h + LOOK_AHEAD < t)) {
			/* Then cap > LOOK_AHEAD (t - h <= cap): one wrap at
			 * most. */
			size_t j = i + LOOK_AHEAD;
			frame_t a = s->fifo[j < s->cap ? j : j - s->cap];
			if (likely(a < committed))
				__builtin_prefetch(fr_word(p, a), 1);
		}
		h++;
		if (unlikely(++i == s->cap))
			i = 0;
		if (likely(f < committed) && fr_load(p, f) == JUMBO_PG_FREE) {
			fr_store(p, f, w);
			out[got++] = f;
		} else if (c->stale) {
			c->stale--; /* a run's, most likely */
		}
	}
	c->head = h;
	while (grow_ok && got < n && carve(p, s, out, &got, n, w))
		;
	note_out(c, got);
	c->dirty = 0;
	_jumbo_shm_unlock(p);
	return got;
}

unsigned _jumbo_shm_get(struct jumbo_pool *p, frame_t *out, unsigned n,
			bool grow_ok)
{
	unsigned got = shm_get(p, out, n, grow_ok, p->shm->w_free);

	/* Short: a dead peer's cached pages may be all that is left. */
	if (got < n && grow_ok) {
		_jumbo_shm_check_peers(p, PEER_SHORT_MS);
		got += shm_get(p, out + got, n - got, grow_ok, p->shm->w_free);
	}
	return got;
}

static void mark_age(struct jumbo_shm_ctl *c, uint32_t now);

/* n pages this process holds go back to the queue, FREE|0. */
void _jumbo_shm_put(struct jumbo_pool *p, const frame_t *fs, unsigned n)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;

	if (!n)
		return;
	_jumbo_shm_lock(p);
	c->dirty = 1;
	uint64_t carved = c->carved, t = c->tail;
	uint64_t room = c->tail - c->head < s->cap ? s->cap - (c->tail - c->head)
						   : 0;
	size_t at = (size_t)(t % s->cap);
	for (unsigned i = 0; i < n; i++) {
		frame_t f = fs[i];
		uint32_t w = f < carved ? fr_load(p, f) : 0;
		/*
		 * Ours (FREE|me) or nobody's yet (FREE|0: a run freed
		 * whole); anything else is already back, taken by a
		 * reclaimer or by another's run, and must not be queued.
		 */
		if (unlikely((w & PGS_MASK) != JUMBO_PG_FREE ||
			     (fr_owner_of(w) != 0 && w != s->w_free)))
			continue;
		fr_store(p, f, JUMBO_PG_FREE);
		/* As _jumbo_shm_enqueue, the index kept rather than divided. */
		if (unlikely(!room)) {
			c->rebuild_due = 1;
			continue;
		}
		s->fifo[at] = f;
		if (unlikely(++at == s->cap))
			at = 0;
		t++;
		room--;
	}
	c->tail = t;
	c->out -= (int64_t)n;
	c->dirty = 0;
	c->put_ms = _jumbo_clock_ms();
	mark_age(c, c->put_ms);
	_jumbo_shm_unlock(p);
}

/* ---- trim ------------------------------------------------------------------ */

/*
 * Trim gives back the memory of pages free in the queue: a hole punched in
 * the object (mem.c), as for a private pool's shared memory.  The pages
 * stay where they are in the queue and their words stay FREE|0; whichever
 * process writes one next gets zeroed memory.  The holes are punched
 * under the depot's lock, which is what makes that safe: a FREE|0 word
 * has no writer but the lock's holder (shm_get), so no process can take
 * such a page and write to it before its hole is punched, and a page a
 * run took by its word (its queue entry stale) no longer reads FREE|0.
 * Trim changes neither the queue nor a word (trim_pos is a hint, trimmed
 * a count), so a trimmer killed in the lock leaves nothing to repair.  It
 * holds the lock for TRIM_BATCH entries or TRIM_CALLS holes at a time,
 * whichever comes first (a hole costs ~15 us when two processes map the
 * page, the unmapping's TLB flushes), so that a peer's refill waits for
 * that much at most.
 *
 * Ages: the queue keeps no clock per entry, only the time of the last
 * entry added (put_ms).  Each put and each trim marks the tail with that
 * time (one mark per MARK_MS at most, SHM_MARKS kept), and an entry counts
 * as queued at the first mark above it: ages are rounded down, and a trim
 * with min_age_ms never gives back a page freed more recently than that.
 */
#define TRIM_BATCH 256u
#define TRIM_CALLS 8u /* holes punched per hold of the lock, at most */
#define MARK_MS 50u

static const struct jumbo_shm_mark *mark_nth(const struct jumbo_shm_ctl *c,
					     uint32_t i)
{
	return &c->mark[(c->mark_at + i) % SHM_MARKS];
}

/* Lock held: mark the tail with now; drop the marks head has passed. */
static void mark_age(struct jumbo_shm_ctl *c, uint32_t now)
{
	if (c->mark_n > SHM_MARKS) /* corrupted: the ages are unknown */
		c->mark_n = 0;
	while (c->mark_n && mark_nth(c, 0)->pos <= c->head) {
		c->mark_at = (c->mark_at + 1) % SHM_MARKS;
		c->mark_n--;
	}
	struct jumbo_shm_mark m = {.pos = c->tail, .ms = c->put_ms};
	if (c->mark_n) {
		struct jumbo_shm_mark *last =
			&c->mark[(c->mark_at + c->mark_n - 1) % SHM_MARKS];

		if (last->pos >= c->tail || (uint32_t)(now - last->ms) < MARK_MS)
			return;
		/*
		 * Full (the head has not passed the oldest for SHM_MARKS
		 * intervals): the newest moves up to the tail, its entries
		 * counted as young as the tail's.  Refused, the entries put
		 * from now on would have no mark, and an idle pool would
		 * never give them back.
		 */
		if (c->mark_n == SHM_MARKS) {
			/*
			 * The time before the position: a process killed
			 * between the two (the lock's next holder repairs
			 * nothing here) leaves the mark younger than its
			 * entries, never pages just put aged.  Release: the
			 * time is seen before the position.
			 */
			__atomic_store_n(&last->ms, m.ms, __ATOMIC_RELAXED);
			__atomic_store_n(&last->pos, m.pos, __ATOMIC_RELEASE);
			return;
		}
	}
	/* The mark before the count that makes it one (killed between:
	 * no mark, as if none were made). */
	c->mark[(c->mark_at + c->mark_n) % SHM_MARKS] = m;
	__atomic_store_n(&c->mark_n, c->mark_n + 1, __ATOMIC_RELEASE);
}

/* Lock held: the queue's position below which every entry is at least
 * min_age_ms old. */
static uint64_t aged_end(const struct jumbo_shm_ctl *c, uint32_t now,
			 unsigned min_age_ms)
{
	uint64_t end = c->head;

	if (!min_age_ms)
		return c->tail;
	for (uint32_t i = 0; i < c->mark_n; i++) {
		const struct jumbo_shm_mark *m = mark_nth(c, i);

		if ((uint32_t)(now - m->ms) < min_age_ms)
			break;
		end = m->pos;
	}
	return end < c->tail ? end : c->tail;
}

/* How many of frames [f, f + n) have memory (all of them if unknown). */
static unsigned resident(struct jumbo_pool *p, frame_t f, unsigned n,
			 unsigned char *vec)
{
	unsigned k = 0;

	if (mincore(fr_addr(p, f), (size_t)n << p->head.ph_shift, vec) != 0)
		return n;
	for (unsigned i = 0; i < n; i++)
		k += vec[i] & 1;
	return k;
}

/*
 * Lock held: punch the hole of frames [lo, hi] (at most TRIM_BATCH) if
 * any has memory, counting the call; the pages given back.
 */
static long punch(struct jumbo_pool *p, frame_t lo, frame_t hi,
		  unsigned *calls, int *err)
{
	unsigned char vec[TRIM_BATCH];
	unsigned n = hi - lo + 1, had = resident(p, lo, n, vec);

	if (!had)
		return 0;
	++*calls;
	int r = _jumbo_decommit(p, lo, n);
	if (r == 0)
		return had;
	if (!*err)
		*err = r;
	return 0;
}

/*
 * A process pins the pool for all of them: its device sees the pages of
 * the shared object, and a hole another process punches is punched under
 * it too.  delta +1 or -1; the count is this process's, in its record.
 */
int _jumbo_shm_pin(struct jumbo_pool *p, int delta)
{
	struct jumbo_shm *s = p->shm;
	int err = 0;

	if (p->detached || !s->me)
		return -EXDEV;
	_jumbo_shm_lock(p);
	uint32_t *n = &s->procs[s->me].pins;
	if (delta > 0 && *n == UINT32_MAX)
		err = -EOVERFLOW;
	else if (delta < 0 && *n == 0)
		err = -EINVAL;
	else
		*n += (uint32_t)delta;
	_jumbo_shm_unlock(p);
	return err;
}

/* Lock held: whether a live process has pinned the pool.  A dead one's
 * record may still say LIVE until a peer notices: its pins count until
 * then. */
static bool shm_pinned(const struct jumbo_shm *s)
{
	for (unsigned i = 1; i < SHM_SLOTS; i++) {
		const struct jumbo_shm_proc *pr = &s->procs[i];

		if (__atomic_load_n(&pr->state, __ATOMIC_RELAXED) == PROC_LIVE &&
		    pr->pins)
			return true;
	}
	return false;
}

long _jumbo_shm_trim(struct jumbo_pool *p, unsigned min_age_ms)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	bool checked = false;
	long done = 0;
	int err = 0;

	for (;;) {
		uint32_t now = _jumbo_clock_ms();

		_jumbo_shm_lock(p);
		mark_age(c, now);
		if (shm_pinned(s)) {
			_jumbo_shm_unlock(p);
			/* A pinner killed may not be known dead yet: its pins
			 * end with it, so ask once (it marks it dead). */
			if (!checked) {
				checked = true;
				_jumbo_shm_check_peers(p, 0);
				continue;
			}
			if (!done)
				err = -EBUSY;
			break;
		}
		uint64_t h = c->head, t = c->tail, committed = c->committed;
		/* Corrupted past the cap, it would name the segment's own
		 * pages (ctl, words, queue) as frames: never punch those. */
		if (committed > s->cap)
			committed = s->cap;
		uint64_t end = aged_end(c, now, min_age_ms);
		uint64_t at = c->trim_pos > h && c->trim_pos <= t ? c->trim_pos
								  : h;
		if (t - h > s->cap || at >= end) { /* done, or corrupted */
			_jumbo_shm_unlock(p);
			break;
		}
		/*
		 * Runs as the queue holds them: frames one apart in
		 * consecutive entries, up or down (a magazine is a stack,
		 * so pages freed in order come back either way).  A frame
		 * queued twice (shm.c, the queue) ends a run and starts
		 * another, which has no memory left by then.
		 */
		uint64_t q = at, stop = end - at > TRIM_BATCH ? at + TRIM_BATCH
							      : end;
		unsigned calls = 0;
		frame_t lo = 0, hi = 0;
		int dir = 0, have = 0;
		long got = 0;
		for (; q < stop && calls < TRIM_CALLS; q++) {
			frame_t f = s->fifo[q % s->cap];

			if (f >= committed || fr_load(p, f) != JUMBO_PG_FREE)
				continue;
			if (have && dir >= 0 && f == hi + 1) {
				hi = f;
				dir = 1;
			} else if (have && dir <= 0 && f + 1 == lo) {
				lo = f;
				dir = -1;
			} else {
				if (have)
					got += punch(p, lo, hi, &calls, &err);
				lo = hi = f;
				have = 1;
				dir = 0;
			}
		}
		if (have)
			got += punch(p, lo, hi, &calls, &err);
		c->trim_pos = q;
		c->trimmed += (uint64_t)got;
		_jumbo_shm_unlock(p);
		done += got;
	}
	return done ? done : err;
}

/* ---- runs ------------------------------------------------------------------ */

/*
 * A run is n frames side by side whose words read FREE|0: free in the
 * depot.  jumbo_pool_alloc_contig takes one here, its words made w
 * (ALLOC|me) under the lock, from the first of:
 *
 *   the queue   a run freed whole, or freed page by page in order by one
 *               process (a worker done with a receiver's frame), lies in
 *               consecutive entries: the first such within RUN_LOOK of
 *               the head is taken out, the head's first n entries moving
 *               into its place;
 *   the words   a scan of at most RUN_SCAN frames from where the last one
 *               stopped, for pages freed in any order, by any processes:
 *               their queue entries stay, stale, and shm_get drops them
 *               when it meets them (their words no longer read FREE|0);
 *   fresh       frames never handed out, growing the pool;
 *   every word  at the cap, the scan of every carved frame.
 *
 * So a pool grows for runs only when its free pages have no run left
 * near the head of the queue or the scan's window, and never fails one
 * while a run is free anywhere but in processes' caches (FREE|x: not
 * searched).  A word scan claims each page by compare-and-swap: a page
 * reads FREE|0 outside the queue for an instant in a free_contig (its
 * pages are stamped, then queued under the lock, which queues only what
 * still reads FREE), and a claim must not be overwritten there.
 */
#define RUN_LOOK 256u
#define RUN_SCAN 4096u

/* The queue's slot that many after slot at (at < cap), with one wrap. */
static inline size_t q_next(const struct jumbo_shm *s, size_t at, uint64_t k)
{
	return at + k < s->cap ? at + k : at + k - s->cap;
}

/*
 * Lock held, dirty set: a run from the queue's first RUN_LOOK entries.
 * One pass over the entries, in order, counting how many in a row are
 * frames one apart: only where n are does it read their words (which a
 * stale entry fails).  A pass that finds nothing is not made again while
 * its window stays as it was (the same head, as many entries looked at)
 * for a run as long or longer (ctl->qmiss_*): a receiver short of runs
 * asks for one per packet, and its depot's head may not move for many.
 */
static bool run_from_queue(struct jumbo_pool *p, struct jumbo_shm *s,
			   unsigned n, uint32_t w, frame_t *first)
{
	struct jumbo_shm_ctl *c = s->ctl;
	uint64_t h = c->head, t = c->tail, committed = c->committed;

	/* Corrupted (shm_get empties it), or too short for a run. */
	if (t - h > s->cap || t - h < n || n > RUN_LOOK || n == 0)
		return false;
	uint64_t look = t - h < RUN_LOOK ? t - h : RUN_LOOK;
	if (c->qmiss_head == h + 1 && c->qmiss_look == look &&
	    n >= c->qmiss_n)
		return false;
	size_t head = (size_t)(h % s->cap), at = head;
	frame_t prev = NO_FRAME;
	unsigned row = 0;
	for (uint64_t i = 0; i < look; i++, at = q_next(s, at, 1)) {
		frame_t f = s->fifo[at];
		row = prev != NO_FRAME && f == prev + 1 ? row + 1 : 1;
		prev = f;
		if (row < n || f >= committed)
			continue;
		/* Entries i + 1 - n .. i: frames f0 .. f. */
		frame_t f0 = f - (n - 1);
		unsigned k = 0;
		while (k < n && fr_load(p, f0 + k) == JUMBO_PG_FREE)
			k++;
		if (k < n) { /* a stale entry among them: start after it */
			row = (unsigned)(f - (f0 + k));
			continue;
		}
		for (k = 0; k < n; k++)
			fr_store(p, f0 + k, w);
		/*
		 * The queue closes over the run's entries (from: the first):
		 * the n entries at its head move into them, in their order,
		 * or where fewer than n come before the run, those move up
		 * by n, last first.  Never more than n entries move.
		 */
		uint64_t from = i + 1 - n;
		if (from >= n) {
			for (uint64_t j = 0; j < n; j++)
				s->fifo[q_next(s, head, from + j)] =
					s->fifo[q_next(s, head, j)];
		} else {
			for (uint64_t j = from; j-- > 0;)
				s->fifo[q_next(s, head, j + n)] =
					s->fifo[q_next(s, head, j)];
		}
		c->head = h + n;
		*first = f0;
		return true;
	}
	c->qmiss_head = h + 1;
	c->qmiss_look = look;
	c->qmiss_n = n;
	return false;
}

/*
 * Lock held, dirty set: a run found by its words, looking at no more than
 * budget frames from the cursor on (wrapping at carved).
 */
static bool run_from_words(struct jumbo_pool *p, struct jumbo_shm *s,
			   unsigned n, uint32_t w, uint64_t budget,
			   frame_t *first)
{
	struct jumbo_shm_ctl *c = s->ctl;
	uint64_t carved = c->carved < s->cap ? c->carved : s->cap;
	uint64_t f = c->run_cursor, looked = 0;

	if (carved < n)
		return false;
	while (looked < budget) {
		if (f + n > carved) {
			looked += carved - f;
			f = 0;
			continue;
		}
		/* From the run's end: past the last page that is not free. */
		unsigned k = n;
		while (k && fr_load(p, (frame_t)(f + k - 1)) == JUMBO_PG_FREE)
			k--;
		if (k == 0) {
			for (k = 0; k < n; k++) {
				uint32_t o = JUMBO_PG_FREE;
				if (!fr_cas(p, (frame_t)(f + k), &o, w))
					break;
			}
			if (k == n) {
				c->stale += n;
				c->run_cursor = f + n;
				*first = (frame_t)f;
				return true;
			}
			/* Changed under us: give back what was claimed. */
			while (k--)
				fr_store(p, (frame_t)(f + k), JUMBO_PG_FREE);
			k = 1;
		}
		f += k;
		looked += k;
	}
	c->run_cursor = f;
	return false;
}

/* Lock held, dirty set: n fresh frames, growing as needed. */
static bool run_from_fresh(struct jumbo_pool *p, struct jumbo_shm *s,
			   unsigned n, uint32_t w, frame_t *first)
{
	struct jumbo_shm_ctl *c = s->ctl;

	if (c->committed - c->carved < n &&
	    (grow(p, s, n - (c->committed - c->carved)) != 0 ||
	     c->committed - c->carved < n)) /* short at the cap */
		return false;
	*first = (frame_t)c->carved;
	/* Carved first, as carve() does: killed between, the rebuild finds
	 * the pages still FREE|0 below carved. */
	c->carved += n;
	for (unsigned k = 0; k < n; k++)
		fr_store(p, *first + k, w);
	return true;
}

bool _jumbo_shm_take_run(struct jumbo_pool *p, unsigned n, uint32_t w,
			 frame_t *first)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;

	_jumbo_shm_lock(p);
	c->dirty = 1;
	bool ok = run_from_queue(p, s, n, w, first) ||
		  run_from_words(p, s, n, w, RUN_SCAN, first) ||
		  run_from_fresh(p, s, n, w, first);
	/*
	 * At the cap, every word; but not again while nothing has joined the
	 * queue since such a scan found nothing (a receiver short of runs
	 * asks for one per packet, each a scan of the whole pool under the
	 * lock otherwise).  A page freed into a process's cache does not
	 * count: it is not searched.
	 */
	if (!ok && c->scan_tail != c->tail + 1) {
		ok = run_from_words(p, s, n, w, (uint64_t)s->cap + n, first);
		if (!ok)
			c->scan_tail = c->tail + 1;
	}
	if (ok)
		note_out(c, n);
	c->dirty = 0;
	_jumbo_shm_unlock(p);
	return ok;
}

/* ---- allocation and free -------------------------------------------------- */

/*
 * Who writes a page's word, and so which change needs compare-and-swap:
 *
 *   FREE|me   a page in one of this process's caches.  Only its thread
 *             takes it (allocation), and a reclaimer only ever sweeps the
 *             slot of a process it has proven dead (reclaim.c: a pid gone
 *             or reused), which a process making this call is not; a hold,
 *             an adopt or a free of it is refused without a write.  One
 *             writer: the allocation loads, compares and stores, as the
 *             private pool's inline path does.
 *   ALLOC|me  a page this process allocated or adopted.  Its free by this
 *             process loads, compares and stores too, as the private
 *             pool's does between threads: the others that may write the
 *             word at the same instant only do so after a fault of the
 *             program's, the same ones the private pool does not catch
 *             between threads.  Another process, or thread, freeing it
 *             too (a double free); a first hold of it racing the free (a
 *             hold must come before the owner's free, jumbo_pool(3)); an
 *             adopt or a bound ring's dequeue of it (the page was handed
 *             over, then freed by its sender).  Such a race can leave the
 *             page in two caches, a twin: the copy that then reads other
 *             than FREE|me when its cache hands it out is dropped and
 *             reported (pop(), as _jumbo_twin in a private pool); the
 *             depot's queue drops one that reads other than FREE|0 when it
 *             is taken.  A reclaimer never races it: it sweeps dead slots,
 *             and this process's own only at its leave, which no other
 *             call on the pool may overlap.
 *   ALLOC|x   another process's page (x != me, or a ring's), which any
 *             process may free, hold or adopt, and a reclaim of a dead x
 *             may take back at any moment: the free changes it by
 *             compare-and-swap, so that a free racing the reclaim, a hold
 *             or another free loses neither (of two frees, one gets
 *             EALREADY).
 *
 * The short cuts (shm_int.h, inlined into cache.c's and pool.c's
 * entries) take the thread's cache from its own pointer and make the
 * first two changes; the general paths below do everything else.
 */

/*
 * A page from cache c, now ALLOC|me, or false when c is empty.  A page
 * that no longer reads FREE|me is a twin (above), or was taken back by a
 * reclaimer that thought us dead (a slot mistaken for dead: see the BUGS
 * of jumbo_pool(3)): it is not ours to hand out, and is dropped.
 */
static bool pop(struct jumbo_shm *s, struct jumbo_pool *p,
		struct jumbo_cache *c, frame_t *fp)
{
	while (c->f.len) {
		frame_t f = c->objs[--c->f.len];
		if (likely(fr_load(p, f) == s->w_free)) {
			fr_store(p, f, s->w_alloc);
			ctr_bump(&c->f.allocs);
			*fp = f;
			return true;
		}
		_jumbo_twin(p, f, NULL, false);
	}
	return false;
}

/*
 * The general allocation: the cache made or looked up, refilled from the
 * queue as FREE|me; or, with no cache, one page from the queue as
 * ALLOC|me.
 */
frame_t _jumbo_shm_alloc_slow(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_cache *c;
	frame_t f;

	if (unlikely(p->detached)) {
		errno = -_jumbo_detached(p, "jumbo_pool_alloc", true);
		return NO_FRAME;
	}
	c = p->nocache ? NULL : _jumbo_cache_get(p);
	while (c && (c->f.len || (c->f.len = _jumbo_shm_get(p, c->objs,
							p->mag_size, true))))
		if (pop(s, p, c, &f))
			return f;
	if (!c && shm_get(p, &f, 1, true, s->w_alloc) == 1) {
		ctr_add(&p->ctr.allocs, 1);
		return f;
	}
	ctr_add(&p->ctr.alloc_fails, 1);
	errno = ENOMEM;
	return NO_FRAME;
}

/*
 * The state change of a free the short cut did not make: any process may
 * free any allocated page, which becomes FREE|me by compare-and-swap (two
 * processes freeing another's page at once: one wins, the other gets
 * EALREADY).  As _jumbo_free_state: -errno, 0 deferred, 1 now free.
 */
static int shm_free(struct jumbo_pool *p, frame_t f)
{
	struct jumbo_shm *s = p->shm;
	uint32_t w = fr_load(p, f);

	for (;;) {
		if (not_alloc(w))
			return not_alloc(w);
		if (w & PGF_DEFER)
			return -EALREADY;
		if (w >> PG_HOLD_SHIFT) {
			/* Held: mark the free; an unhold may race, hence CAS. */
			if (fr_cas(p, f, &w, w | PGF_DEFER)) {
				ctr_add(&p->ctr.deferred_frees, 1);
				return 0;
			}
			continue;
		}
		if (fr_cas(p, f, &w, s->w_free))
			return 1;
	}
}

/* The general free (the short cut missed): as _jumbo_free_slow. */
int _jumbo_shm_free_slow(struct jumbo_pool *p, frame_t f)
{
	int r = shm_free(p, f);

	if (r > 0)
		_jumbo_shm_cache_put(p, f);
	return r > 0 ? 0 : r;
}

/*
 * A full cache's older half (a magazine: mag_size is at least 1 and the
 * cache holds two, pool.c) goes to the depot; the recent, cache-hot one
 * stays.
 */
static void shm_cache_halve(struct jumbo_pool *p, struct jumbo_cache *c)
{
	unsigned m = p->mag_size;

	_jumbo_shm_put(p, c->objs, m);
	memmove(c->objs, c->objs + m, (c->f.len - m) * sizeof(frame_t));
	c->f.len -= m;
}

/* A page this process just freed (its word FREE|me) is cached. */
void _jumbo_shm_cache_put(struct jumbo_pool *p, frame_t f)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_cache *c;

	if (!_jumbo_tls_shm(p, &c))
		c = p->nocache || p->detached ? NULL : _jumbo_cache_get(p);
	if (!c) {
		_jumbo_shm_put(p, &f, 1);
		ctr_add(&p->ctr.frees, 1);
		return;
	}
	/* Its freer made it FREE|me (shm_free, unhold): a plain store here
	 * could undo another process's claim of a run (above). */
	jumbo_assert(fr_load(p, f) == s->w_free);
	if (c->f.len == c->f.cap)
		shm_cache_halve(p, c);
	c->objs[c->f.len++] = f;
	ctr_bump(&c->f.frees);
}

/* ---- the batch calls ------------------------------------------------------ */

/*
 * Four frees in one compare-and-swap: x86-64's lock cmpxchg16b changes
 * four side by side words (16-byte aligned) at once, or none if any of
 * them changed, which is what four compare-and-swaps would do for four
 * frees, at a quarter of the locked instructions (the batch's cost: one
 * each took about 12 TSC ticks per page here, the four 4.3).  A full
 * barrier, as strong as fr_cas's.  ThreadSanitizer's builds keep the one
 * word at a time that it understands.
 */
#if defined(__SANITIZE_THREAD__)
#define SHM_CAS4 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHM_CAS4 0
#endif
#endif
#if !defined(SHM_CAS4) && defined(__x86_64__)
#define SHM_CAS4 1
#endif
#ifndef SHM_CAS4
#define SHM_CAS4 0
#endif

#if SHM_CAS4
#include <cpuid.h>

__attribute__((target("cx16"), noinline)) static bool
cas4(uint32_t *w, const uint32_t *o, const uint32_t *n)
{
	unsigned __int128 ov, nv;

	memcpy(&ov, o, sizeof(ov));
	memcpy(&nv, n, sizeof(nv));
	return __sync_bool_compare_and_swap((unsigned __int128 *)(void *)w,
					    ov, nv);
}

/* Whether the processor has it, asked once before main. */
static bool cas4_ok;

__attribute__((constructor)) static void cas4_probe(void)
{
	unsigned a, b, c, d;

	cas4_ok = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_CMPXCHG16B);
}

/*
 * The four frees of addrs[0..4) at once, if they are four pages one apart
 * whose words are side by side at a 16-byte boundary, each plain
 * allocated (any owner): true, and they are FREE|me, their frames in
 * o[0..4) in the entries' order.  f: the checked frame of addrs[0].
 */
static inline bool free4(struct jumbo_pool *p, void *const *addrs, frame_t f,
			 frame_t *o, uint32_t w_free)
{
	uintptr_t a0 = (uintptr_t)addrs[0], step = (uintptr_t)addrs[1] - a0;
	uintptr_t page = (uintptr_t)1 << p->head.ph_shift;
	uint32_t ws[4], nw[4] = { w_free, w_free, w_free, w_free };
	frame_t d, lo;

	if (step != page && step != -page)
		return false;
	d = step == page ? 1 : (frame_t)-1;
	lo = d == 1 ? f : f - 3;
	if ((lo & 3) != 0 || (size_t)lo + 3 >= p->head.ph_npages ||
	    (uintptr_t)addrs[2] != a0 + 2 * step ||
	    (uintptr_t)addrs[3] != a0 + 3 * step)
		return false;
	for (unsigned q = 0; q < 4; q++) {
		ws[q] = fr_load(p, lo + q);
		if ((ws[q] & ~PG_OWNER_MASK) != JUMBO_PG_ALLOC)
			return false;
	}
	if (!cas4(fr_word(p, lo), ws, nw))
		return false;
	for (unsigned q = 0; q < 4; q++)
		o[q] = f + q * d;
	return true;
}
#endif

/*
 * jumbo_pool_alloc_bulk on a named pool, from the thread's cache of it
 * (the short cut, tls.shm_last): its pages come off a run at a time, as
 * in a private pool, FREE|me becoming ALLOC|me (one writer, this thread:
 * see above).  A page that reads otherwise is not ours to hand out and is
 * dropped, as the general path drops it.  No cache yet, or an empty one:
 * the general path for one page, which makes or refills it.
 */
unsigned _jumbo_shm_alloc_bulk(struct jumbo_pool *p, void **addrs, unsigned n)
{
	struct jumbo_shm *s = p->shm;
	unsigned got = 0;

	while (got < n) {
		struct jumbo_cache *c;
		if (likely(_jumbo_tls_shm(p, &c)) && likely(c->f.len)) {
			unsigned k = c->f.len < n - got ? c->f.len : n - got;
			unsigned j = _jumbo_cache_take(p, c, addrs + got, k,
						       s->w_free, s->w_alloc);
			got += j;
			if (unlikely(j < k)) { /* not ours: dropped, said */
				frame_t f = c->objs[--c->f.len];
				_jumbo_twin(p, f, NULL, false);
			}
			continue;
		}
		frame_t f = _jumbo_alloc_slow(p);
		if (f == NO_FRAME)
			break;
		addrs[got++] = fr_addr(p, f);
	}
	return got;
}

/*
 * jumbo_pool_free_bulk on a named pool: each address is checked and
 * freed as jumbo_pool_free would, into the thread's cache of the pool
 * with the cache looked up once.  The process's own pages (ALLOC|me)
 * become FREE|me with plain stores, as in the single free: where they
 * are a run, 32 at a time by cache.c's kernel (a chunk's addresses and
 * words all checked before any word changes), else one by one.  Another
 * plain allocated page (another owner, no hold, no flag) is freed by
 * compare-and-swap, since another process may free, hold or reclaim it
 * at the same moment (of two frees of one page, one gets EALREADY), four
 * at a time where four are a run (free4).  A full cache gives its older
 * half to the depot, as _jumbo_shm_cache_put does.  The first entry that
 * is anything else, and the entries after it, take the general path,
 * which says why: the first error is returned, the bad entries left
 * alone.
 */
int _jumbo_shm_free_bulk(struct jumbo_pool *p, void *const *addrs, unsigned n)
{
	struct jumbo_cache *c;
	unsigned i = 0;
	int first = 0;

	if (likely(_jumbo_tls_shm(p, &c))) {
		uint32_t w_free = p->shm->w_free, w_alloc = p->shm->w_alloc;
		unsigned len = c->f.len, cap = c->f.cap, end, k, r;
		uint64_t frees = c->f.frees;
		bool stop = false;

		while (i < n && !stop) {
			if (unlikely(len == cap)) {
				c->f.len = len;
				shm_cache_halve(p, c);
				len = c->f.len;
			}
			k = n - i < cap - len ? n - i : cap - len;
			r = _jumbo_give_run(p, addrs + i, c->objs + len, k,
					    w_alloc, w_free);
			if (r) {
				i += r;
				len += r;
				continue;
			}
			/* Not on a run: up to a chunk page by page. */
			end = n - i > SHM_RUN ? i + SHM_RUN : n;
			for (; i < end; i++) {
				frame_t f;
				uint32_t w;

				if (unlikely(fr_of(p, addrs[i], true, &f) != 0)) {
					stop = true;
					break;
				}
				if (unlikely(len == cap)) {
					c->f.len = len;
					shm_cache_halve(p, c);
					len = c->f.len;
				}
				/*
				 * Our own page (ALLOC|me): a load and a plain
				 * store, as the single free's short cut does
				 * (one writer: this process; jumbo_pool(3) BUGS
				 * says what a race with another freer of it
				 * then misses).
				 */
				w = fr_load(p, f);
				if (likely(w == w_alloc)) {
					fr_store(p, f, w_free);
					c->objs[len++] = f;
					continue;
				}
#if SHM_CAS4
				if (likely(cas4_ok) && n - i >= 4 &&
				    cap - len >= 4 &&
				    free4(p, addrs + i, f, c->objs + len,
					  w_free)) {
					len += 4;
					i += 3;
					continue;
				}
#endif
				if (unlikely((w & ~PG_OWNER_MASK) !=
					     JUMBO_PG_ALLOC) ||
				    unlikely(!fr_cas(p, f, &w, w_free))) {
					stop = true;
					break;
				}
				c->objs[len++] = f;
			}
		}
		c->f.len = len;
		__atomic_store_n(&c->f.frees, frees + i, __ATOMIC_RELAXED);
	}
	/* The general way (a named pool's never the private short cut). */
	for (; i < n; i++) {
		frame_t f;
		int err = fr_of(p, addrs[i], true, &f);
		if (!err)
			err = _jumbo_free_slow(p, f);
		if (err && !first)
			first = err;
	}
	return first;
}

/*
 * Statistics of the whole pool, every process together: pages in use are
 * counted in the state words (a sweep: the per-process counts of
 * allocations and frees say nothing when pages move between processes);
 * the call counters are this process's.
 */
void _jumbo_shm_stats(struct jumbo_pool *p, struct jumbo_stats *st)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	uint64_t allocs, frees, in_use = 0;

	_jumbo_counters_sum(p, &allocs, &frees);
	st->allocs = allocs;
	st->frees = frees;
	st->holds = __atomic_load_n(&p->ctr.holds, __ATOMIC_RELAXED);
	st->deferred_frees = __atomic_load_n(&p->ctr.deferred_frees, __ATOMIC_RELAXED);
	st->alloc_fails = __atomic_load_n(&p->ctr.alloc_fails, __ATOMIC_RELAXED);
	st->double_frees = __atomic_load_n(&p->ctr.twins, __ATOMIC_RELAXED);

	_jumbo_shm_lock(p);
	uint64_t committed = c->committed, carved = c->carved;
	uint64_t queued = c->tail - c->head;
	queued = queued > c->stale ? queued - c->stale : 0;
	st->high_water = c->high_water;
	st->grows = c->grows;
	st->grow_fails = c->grow_fails;
	st->trims = c->trimmed;
	_jumbo_shm_unlock(p);
	if (committed > s->cap) /* corrupted: the words end at the cap */
		committed = s->cap;
	for (uint64_t i = 0; i < committed; i++)
		in_use += (fr_load(p, (frame_t)i) & PGS_MASK) == JUMBO_PG_ALLOC;
	st->in_use = in_use;
	/* With memory: less the holes trim punched and nobody refilled
	 * (16 MiB of pages per mincore call). */
	uint64_t with = 0;
	unsigned char vec[4096];
	for (uint64_t i = 0; i < committed; i += sizeof(vec)) {
		unsigned n = committed - i < sizeof(vec) ? (unsigned)(committed - i)
							 : (unsigned)sizeof(vec);
		with += resident(p, (frame_t)i, n, vec);
	}
	st->committed = with;
	st->reserved = s->cap;
	if (carved > committed) /* corrupted */
		carved = committed;
	st->depot_free = queued + (committed - carved);
	st->cached_free = committed > in_use + st->depot_free
				  ? committed - in_use - st->depot_free : 0;
	st->page_size = p->page_size;
	st->meta_bytes = s->map_len + s->cap * sizeof(struct vm_page);
}

/* ---- attach --------------------------------------------------------------- */

struct jumbo_pool *jumbo_pool_attach_fd(int fd, int data_fd, unsigned flags)
{
	struct jumbo_shm_hdr h;
	struct jumbo_pool_params pp;
	int err;

	if (fd < 0 || data_fd != -1 || flags) {
		errno = EINVAL;
		return NULL;
	}
	if ((err = hdr_read(fd, &h)) != 0) {
		errno = -err;
		return NULL;
	}
	jumbo_pool_params_init(&pp);
	pp.page_size = (size_t)1 << h.page_shift;
	pp.max_pages = h.max_pages;
	pp.grow_pages = h.grow_pages;
	pp.cache_size = h.cache_size;
	pp.flags = h.flags;
	pp.name = h.name;
	pp.trim_idle_ms = h.trim_idle_ms;
	pp.reserve_pages = h.reserve;
	return _jumbo_pool_make(&pp, fd);
}

struct jumbo_pool *jumbo_pool_attach(const char *name, unsigned flags)
{
	char path[SHM_PATH_MAX];

	if (!name_ok(name)) {
		errno = EINVAL;
		return NULL;
	}
	shm_path(path, name);
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct jumbo_pool *p = jumbo_pool_attach_fd(fd, -1, flags);
	int err = errno;
	close(fd);
	errno = err;
	return p;
}

int jumbo_pool_unlink(const char *name)
{
	char path[SHM_PATH_MAX];

	if (!name_ok(name))
		return -EINVAL;
	shm_path(path, name);
	return unlink(path) ? -errno : 0;
}
