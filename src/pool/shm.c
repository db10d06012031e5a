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
 *   state            the page state words (jumbo_int.h), max_pages x 4 B
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
 * and per-thread caches; the caches' fast paths read and write the shared
 * state words exactly as in a private pool, so a page allocated in one
 * process is freed in another by the same two instructions.  The depot's
 * whole-magazine exchanges copy a magazine's frame numbers in or out of
 * the queue under the mutex.
 *
 * The creator writes the object under a temporary name and links it under
 * its name only when complete, so no process attaches a half-written one.
 */
#include "jumbo_int.h"

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
#define SHM_ABI 1u                      /* bump on any layout change */
#define SHM_DIR "/dev/shm/"
#define SHM_PREFIX "jumbo-pool."
#define SHM_PAGE 4096u

/* Written once by the creator, before the name exists; then read-only. */
struct jumbo_shm_hdr {
	uint64_t magic;
	uint32_t abi;
	uint32_t hdr_bytes; /* sizeof(struct jumbo_shm_hdr) */
	uint32_t page_shift;
	uint32_t flags;     /* JUMBO_POOL_* of the creator */
	uint64_t max_pages, grow_pages, reserve;
	uint32_t cache_size, trim_idle_ms;
	uint64_t off_ctl, off_state, off_fifo, off_hdr, total_bytes;
	char name[32];
	uint32_t creator_uid;
	uint32_t sum;       /* FNV-1a of the bytes above */
};

/*
 * Mutable, shared.  Everything but the counters changes under lock.  The
 * queue holds the frames [head, tail) at fifo[i % max_pages]; each frame is
 * at most once in it (a twin aside: see _jumbo_twin), so it never holds
 * more than max_pages.  Every operation on it writes the entries first and
 * moves head or tail last, with one store: a process killed inside the
 * lock leaves the queue whole (EOWNERDEAD is then only noted).
 */
struct jumbo_shm_ctl {
	pthread_mutex_t lock;
	uint64_t head, tail;
	uint64_t carved;    /* frames [0, carved) have left the fresh range */
	uint64_t committed; /* frames [0, committed) have memory */
	uint64_t reserve;   /* see take() in depot.c; 0 once growth failed */
	int64_t out;        /* pages out of the depot: in use or cached */
	uint64_t high_water;
	uint64_t owner_deaths; /* times a lock holder died in the lock */
	uint64_t grows, grow_fails;
};

/* A process's view of the object. */
struct jumbo_shm {
	char *map;          /* [off_ctl, total_bytes) of the object */
	size_t map_len;
	const struct jumbo_shm_hdr *hdr;
	struct jumbo_shm_ctl *ctl;
	frame_t *fifo;
	size_t cap;         /* max_pages */
	bool creator;       /* unlinks the name at destroy */
	char path[sizeof(SHM_DIR SHM_PREFIX) + 32];
	char tmp[sizeof(SHM_DIR SHM_PREFIX) + 64];
};

_Static_assert(sizeof(struct jumbo_shm_hdr) <= SHM_PAGE, "header page");
_Static_assert(sizeof(struct jumbo_shm_ctl) <= SHM_PAGE, "ctl page");

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
	h->off_state = h->off_ctl + SHM_PAGE;
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
	    h->off_ctl != want.off_ctl || h->off_state != want.off_state ||
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
 * The depot's lock.  A holder that died inside left the queue whole (see
 * struct jumbo_shm_ctl): the next one marks the mutex consistent and goes
 * on.  What the dead process held stays out (issue 12: reclaim).
 */
static void shm_lock(struct jumbo_shm *s)
{
	int r = pthread_mutex_lock(&s->ctl->lock);
	if (unlikely(r == EOWNERDEAD)) {
		s->ctl->owner_deaths++;
		pthread_mutex_consistent(&s->ctl->lock);
	}
}

static void shm_unlock(struct jumbo_shm *s)
{
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
	snprintf(s->path, sizeof(s->path), SHM_DIR SHM_PREFIX "%s", pp->name);
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
	return mutex_init(&s->ctl->lock);
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
	return 0;
}

int _jumbo_shm_setup(struct jumbo_pool *p, const struct jumbo_pool_params *pp,
		     int at)
{
	struct jumbo_shm *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	p->shm = s;
	s->creator = at < 0;
	return at < 0 ? create_object(p, s, pp) : attach_object(p, s, at);
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

void _jumbo_shm_close(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;

	if (s->tmp[0] && s->creator)
		unlink(s->tmp);
	else if (s->creator)
		unlink(s->path);
	if (s->map)
		munmap(s->map, s->map_len);
	if (p->state_bytes == 0)
		p->state = NULL; /* it was in the mapping */
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
static int grow(struct jumbo_pool *p, struct jumbo_shm *s)
{
	struct jumbo_shm_ctl *c = s->ctl;
	uint64_t first = c->committed, step = s->hdr->grow_pages;

	if (first >= s->cap)
		return -ENOMEM;
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
	__atomic_fetch_add(&c->grows, 1, __ATOMIC_RELAXED);
	ctr_add(&p->ctr.grows, 1);
	return 0;
}

/* Lock held: fresh frames into out[*got..n), growing if none are left. */
static bool carve(struct jumbo_pool *p, struct jumbo_shm *s, frame_t *out,
		  unsigned *got, unsigned n)
{
	struct jumbo_shm_ctl *c = s->ctl;

	if (c->carved >= c->committed && grow(p, s) != 0)
		return false;
	while (*got < n && c->carved < c->committed)
		out[(*got)++] = (frame_t)c->carved++;
	return true;
}

/*
 * Up to n free pages.  grow: as depot.c's take() (fresh frames first while
 * the queue holds no more than the reserve, then the queue, then growth);
 * else (a whole magazine for a cache) n pages from the queue or none, and
 * only if the reserve stays.  A frame read from the queue that is not a
 * committed frame is dropped, not handed out: the segment is shared with
 * other processes and its contents are checked before use.
 */
unsigned _jumbo_shm_get(struct jumbo_pool *p, frame_t *out, unsigned n,
			bool grow_ok)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	unsigned got = 0;

	shm_lock(s);
	uint64_t avail = c->tail - c->head;
	if (avail > s->cap) /* corrupted: take nothing from it */
		avail = 0, c->head = c->tail;
	if (!grow_ok && (avail < n || avail - n < c->reserve)) {
		shm_unlock(s);
		return 0;
	}
	while (grow_ok && got < n && c->tail - c->head <= c->reserve)
		if (!carve(p, s, out, &got, n)) {
			c->reserve = 0;
			break;
		}
	uint64_t head = c->head, committed = c->committed;
	while (got < n && head != c->tail) {
		frame_t f = s->fifo[head++ % s->cap];
		if (likely(f < committed))
			out[got++] = f;
	}
	c->head = head; /* one store: the entries above are now ours */
	while (grow_ok && got < n && carve(p, s, out, &got, n))
		;
	note_out(c, got);
	shm_unlock(s);
	return got;
}

void _jumbo_shm_put(struct jumbo_pool *p, const frame_t *fs, unsigned n)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;

	shm_lock(s);
	uint64_t tail = c->tail;
	for (unsigned i = 0; i < n; i++)
		if (likely(tail - c->head < s->cap))
			s->fifo[tail++ % s->cap] = fs[i];
	c->tail = tail; /* one store: the entries above are now the depot's */
	c->out -= (int64_t)n;
	shm_unlock(s);
}

/* n contiguous fresh frames, growing as needed; false at the cap. */
bool _jumbo_shm_take_run(struct jumbo_pool *p, unsigned n, frame_t *first)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	bool ok = true;

	shm_lock(s);
	while (ok && c->committed - c->carved < n)
		ok = grow(p, s) == 0;
	if (ok) {
		*first = (frame_t)c->carved;
		c->carved += n;
		note_out(c, n);
	}
	shm_unlock(s);
	return ok;
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

	shm_lock(s);
	uint64_t committed = c->committed, carved = c->carved;
	uint64_t queued = c->tail - c->head;
	st->high_water = c->high_water;
	st->grows = c->grows;
	st->grow_fails = c->grow_fails;
	shm_unlock(s);
	for (uint64_t i = 0; i < committed; i++)
		in_use += (fr_load(p, (frame_t)i) & PGS_MASK) == JUMBO_PG_ALLOC;
	st->in_use = in_use;
	st->committed = committed;
	st->reserved = s->cap;
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
	char path[sizeof(SHM_DIR SHM_PREFIX) + 32];

	if (!name_ok(name)) {
		errno = EINVAL;
		return NULL;
	}
	snprintf(path, sizeof(path), SHM_DIR SHM_PREFIX "%s", name);
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
	char path[sizeof(SHM_DIR SHM_PREFIX) + 32];

	if (!name_ok(name))
		return -EINVAL;
	snprintf(path, sizeof(path), SHM_DIR SHM_PREFIX "%s", name);
	return unlink(path) ? -errno : 0;
}
