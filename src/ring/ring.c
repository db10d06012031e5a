/*
 * jumbo_ring: a bounded ring of (I/O address, length) entries in memory
 * that several processes map, possibly at different addresses.  See
 * jumbo_ring(3).
 *
 * The shared memory holds no pointer: a header (immutable after init, with
 * a checksum), the producers' and consumers' positions on cache lines of
 * their own, one record per attached handle, then the slots.  Positions are
 * 64-bit counts that never wrap; slot i holds position i & mask.
 *
 * SPSC: the classic pair of positions.  The producer alone writes tail, the
 * consumer alone head; each caches the other's to touch its line only when
 * the ring looks full (or empty), or when its cache is from before a role
 * passed to it from another handle (a producer that takes back a dead
 * consumer's entries).  A process that dies inside a call has not yet
 * moved its position, so it leaves nothing half-done.
 *
 * A slot is an entry as the caller passes it, 16 bytes copied whole, tag
 * and all.
 *
 * MPMC: Vyukov's bounded queue, in batches.  Every slot has a sequence word
 * (in an array of their own after the slots: an entry fills its slot)
 * seq = 2 * (lap position) | skipped:
 *   seq == 2p          slot free for the producer of position p
 *   seq == 2(p+1) | s  position p published (s: skipped by reclaim)
 *   seq == 2(p+size)   released by the consumer of p: free for p + size
 * A producer reserves [t, t+k) by compare-and-swap on tail only after it
 * has seen those k slots free; a consumer reserves [h, h+k) on head only
 * after it has seen them published.  So no call ever waits for another:
 * a slot reserved by a process that then died simply stops the ring at
 * that slot (fewer entries move), until jumbo_ring_reclaim() repairs it.
 *
 * Repair needs to know who owns a reserved slot.  Before its CAS, a
 * handle writes the range it is about to reserve into its record (the
 * intent); it clears the intent only after its last slot's release.  So a
 * live handle that owns an unfinished slot has a record covering it for
 * the whole time it owns it; an unfinished slot that no live record
 * covers belongs to a dead one, and reclaim finishes it with a CAS on its
 * seq (which fails harmlessly if the slot moved meanwhile).  A live
 * handle caught between its intent and a CAS that the dead one's beat
 * covers the dead one's slot too, and no one can tell whose it is: the
 * reclaim leaves the slot for the next call, erring on the side of
 * waiting, and keeps the dead handle's record (whose intent covers the
 * slot) until a call finishes it, so that the caller knows one is due.
 *
 * Whether a record's handle lives: a handle of a ring with a descriptor
 * (create, open, open_fd) holds an open-file-description lock on byte
 * JUMBO_LOCK_OFF(its record) of the ring's object, through a description
 * of its own (struct jumbo_ring's lock_fd), and marks its record locked;
 * the kernel drops the lock when the process dies, however it dies, and a
 * peer in any pid namespace sees that, whatever became of the pid since.
 * A record not so marked (a ring in caller memory, or no description or
 * lock to be had) goes by its pid, in its own namespace only.  A fork
 * child closes its copies of the descriptions (the atfork handler below),
 * or a child living on would keep a dead parent's lock.
 */
#include <jumbo/ring.h>
#include "jumbo_common.h"
#include "jumbo_ring_pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RING_MAGIC 0x676e69726f626d6aull /* "jmboring" */
/*
 * 5: records count their claims, and a record being freed names its
 * freer's record and claim (an older library would count no claims, and
 * leave such a record for good); 4: records say whether a lock tells
 * their holder alive (an older library would judge such a holder by its
 * pid, and free its record while it lives); 3: records name their
 * holder's pid namespace; 2: slots carry the entry's tag, MPMC's sequence
 * words apart (1: none).
 */
#define RING_VERSION 5u
#define SEQ_SKIP 1u
/*
 * A record's pid while a reclaimer frees it, never a process's pid (any
 * pid below 0 is a record being freed): REC_FREER(i, gen), the freer being
 * the holder of record i by its claim number gen (mod 2^24), so that a
 * later reclaim that finds that holder gone (record i free, claimed since,
 * or its holder dead) can finish the freeing: the freer was killed inside
 * it.  The claim number keeps a later holder of record i, alive, from
 * passing for the freer, and its own freeing of the record from being
 * taken for the dead one's.  -1 names none (never written): left as it is.
 */
#define REC_GEN_MASK 0xffffffu
#define REC_FREER(i, gen)                                                    \
	((int32_t)-(int32_t)(2 + (i) + JUMBO_RING_MAX_HANDLES *                \
				       ((gen) & REC_GEN_MASK)))
_Static_assert(2 + JUMBO_RING_MAX_HANDLES * (REC_GEN_MASK + 1ull) <=
		       INT32_MAX, "a freer's name fits a pid");

/* The header: written once by init, checked by every attach. */
struct ring_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t size;     /* slots, a power of two */
	uint32_t nrec;     /* handle records */
	uint64_t total;    /* bytes of the whole ring */
	uint32_t sum;      /* FNV-1a of the fields above */
};

/*
 * A handle's record.  pid: 0 when free, claimed by CAS; below 0 while a
 * reclaim frees it (REC_FREER).  pn/ppos: the producer intent [ppos,
 * ppos + pn), cn/cpos the consumer's; pn == 0 (cn) when none.  Only the
 * handle writes them; reclaim reads them.  lock: 1 while the holder's lock
 * on JUMBO_LOCK_OFF(record) tells it alive, 0 when its pid does (and in a
 * free record).  gen: the record's claims, counted by each claimer, never
 * cleared.
 */
struct ring_rec {
	int32_t pid;
	uint32_t pn, cn;
	uint32_t lock;
	uint64_t ppos, cpos;
	uint64_t pidns; /* the holder's pid namespace; 0 not yet known */
	uint32_t gen;
} __attribute__((aligned(JUMBO_CACHELINE)));

/* A slot: the entry itself, so that it is copied 16 bytes at once. */
_Static_assert(sizeof(struct jumbo_ring_ent) == 16, "a slot is 16 bytes");

/*
 * The shared memory.  tail and head on lines of their own, apart from the
 * header that everyone reads, so that a producer and a consumer on two
 * cores trade only the lines they must.  After the slots, on a line of
 * its own, MPMC's array of sequence words, one per slot (SPSC leaves it
 * alone).
 */
struct ring_shm {
	struct ring_hdr h __attribute__((aligned(JUMBO_CACHELINE)));
	uint64_t tail __attribute__((aligned(JUMBO_CACHELINE)));
	uint64_t head __attribute__((aligned(JUMBO_CACHELINE)));
	struct ring_rec rec[JUMBO_RING_MAX_HANDLES];
	struct jumbo_ring_ent slots[] __attribute__((aligned(JUMBO_CACHELINE)));
};

/* Where the sequence words start: past the slots, at a line boundary. */
static size_t seq_off(unsigned nslots)
{
	return sizeof(struct ring_shm) +
	       (((size_t)nslots * sizeof(struct jumbo_ring_ent) +
		 JUMBO_CACHELINE - 1) & ~(size_t)(JUMBO_CACHELINE - 1));
}

/* A process's handle: private memory, never shared. */
struct jumbo_ring {
	struct ring_shm *s;
	struct jumbo_ring_ent *slots;
	uint32_t *seq;             /* MPMC: the slots' sequence words */
	struct ring_rec *rec;
	uint32_t size, mask;
	bool mpmc;
	uint64_t head_cache; /* SPSC producer: the consumer's head, last seen */
	uint64_t tail_cache; /* SPSC consumer: the producer's tail */
	void *map;           /* what the library mapped, or NULL */
	size_t map_len;
	int fd;              /* the segment's, or -1 */
	struct jumbo_pool *pool; /* bound (jumbo_ring_bind): dequeue adopts */
	uint64_t pidns;      /* this process's pid namespace (rec_dead) */
	int lock_fd;         /* own description, holding the record's lock;
			      * -1 none (or closed in a fork child) */
	pid_t owner;         /* the process that claimed the record */
	uint32_t gen;        /* the record's claim number, ours */
	struct jumbo_ring *reg_next, **reg_pprev; /* the registry (below) */
};

/*
 * Every live handle of the process, for the fork handlers: a child closes
 * its copies of the lock descriptions, so that a dead parent's locks go
 * with it even while the child lives on.  reg_lock is held from prepare to
 * parent / child, so no handle takes a lock's description unregistered
 * across a fork.  Without the handlers (pthread_atfork failed) no handle
 * takes a lock: they go by their pid.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jumbo_ring *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static bool reg_forks; /* the handlers are in place */

static void reg_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void reg_parent(void)
{
	pthread_mutex_unlock(&reg_lock);
}

static void reg_child(void)
{
	/*
	 * The only thread: closing one reference leaves the parent's lock
	 * as it is.  Atomics for ThreadSanitizer, whose record of the
	 * parent's threads follows the child.
	 */
	for (struct jumbo_ring *r = reg_head; r; r = r->reg_next) {
		int fd = __atomic_load_n(&r->lock_fd, __ATOMIC_RELAXED);
		if (fd >= 0) {
			close(fd);
			__atomic_store_n(&r->lock_fd, -1, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

static void reg_init(void)
{
	reg_forks = pthread_atfork(reg_prepare, reg_parent, reg_child) == 0;
	if (!reg_forks)
		_jumbo_log(JUMBO_LOG_WARNING, "libjumbo: pthread_atfork failed: "
			   "ring handles are told alive by their pid");
}

/*
 * A description of the ring's object, fd's, of this handle's own, for its
 * record's lock: opened anew through /proc, or by the ring's name if that
 * still names the same object; -1 if neither.
 */
static int lock_open(int fd, const char *name)
{
	int lfd = _jumbo_reopen(fd);

	if (lfd < 0 && name) {
		lfd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
		if (lfd >= 0 && !_jumbo_same_file(lfd, fd)) {
			close(lfd);
			lfd = -1;
		}
	}
	return lfd < 0 ? -1 : lfd;
}

static uint32_t hdr_sum(const struct ring_hdr *h)
{
	const unsigned char *b = (const unsigned char *)h;
	uint32_t x = 2166136261u;

	for (size_t i = 0; i < offsetof(struct ring_hdr, sum); i++)
		x = (x ^ b[i]) * 16777619u;
	return x;
}

JUMBO_API size_t jumbo_ring_memsize(unsigned nslots)
{
	/* Whole lines, as the slots are: callers allocate it line-aligned. */
	return (seq_off(nslots) + (size_t)nslots * sizeof(uint32_t) +
		JUMBO_CACHELINE - 1) & ~(size_t)(JUMBO_CACHELINE - 1);
}

static bool nslots_ok(unsigned n)
{
	return n >= 2 && n <= JUMBO_RING_MAX_SLOTS && (n & (n - 1)) == 0;
}

/*
 * Claim free record i for this process: true if it is ours, *gen its claim
 * number.  Acquire: the previous holder's (or reclaim's) clearing of the
 * record is seen before we use it.
 */
static bool rec_claim(struct ring_rec *rec, int32_t me, uint32_t *gen)
{
	int32_t free_pid = 0;

	if (!__atomic_compare_exchange_n(&rec->pid, &free_pid, me, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return false;
	/*
	 * Relaxed: a peer reads it only through a freeing this handle signs,
	 * whose release publishes it.  A read-modify-write, so that every
	 * claim counts whatever order the claimers see each other's in (a
	 * claim given back at once is released relaxed).
	 */
	*gen = __atomic_add_fetch(&rec->gen, 1, __ATOMIC_RELAXED);
	return true;
}

/*
 * Claim a record and build the handle; NULL with errno.  fd: the ring's
 * object (-1: caller memory, no lock), name: its name, or NULL.  A record
 * whose lock this handle can take, if any: one whose lock is still held
 * (its last holder has freed it and not yet closed its description) is
 * kept only if no other will do, and then goes by the pid.
 */
static struct jumbo_ring *ring_attach(struct ring_shm *s, int fd,
				      const char *name)
{
	struct jumbo_ring *r = calloc(1, sizeof(*r));
	int32_t me = (int32_t)getpid();
	struct ring_rec *spare = NULL;
	uint32_t spare_gen = 0;
	bool locked = false;
	int lfd = -1;

	if (!r)
		return NULL;
	r->s = s;
	r->slots = s->slots;
	r->seq = (uint32_t *)(void *)((char *)s + seq_off(s->h.size));
	r->size = s->h.size;
	r->mask = s->h.size - 1;
	r->mpmc = s->h.flags & JUMBO_RING_MPMC;
	r->fd = -1;
	r->owner = me;
	r->pidns = _jumbo_pidns();
	pthread_once(&reg_once, reg_init);
	pthread_mutex_lock(&reg_lock);
	if (fd >= 0 && reg_forks)
		lfd = lock_open(fd, name);
	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++) {
		struct ring_rec *rec = &s->rec[i];
		uint32_t gen;
		if (!rec_claim(rec, me, &gen))
			continue;
		int err = lfd >= 0 ? _jumbo_lock_take(lfd, i) : -ENOLCK;
		if (err == -EAGAIN) {
			if (!spare) {
				spare = rec;
				spare_gen = gen;
				continue;
			}
			/* Relaxed: as the spare's below. */
			__atomic_store_n(&rec->pid, 0, __ATOMIC_RELAXED);
			continue;
		}
		r->rec = rec;
		r->gen = gen;
		locked = err == 0;
		break;
	}
	if (!r->rec) {
		r->rec = spare;
		r->gen = spare_gen;
	} else if (spare) {
		/*
		 * Relaxed: nothing of ours was written in it but its claim
		 * count, a read-modify-write.
		 */
		__atomic_store_n(&spare->pid, 0, __ATOMIC_RELAXED);
	}
	if (!r->rec) {
		pthread_mutex_unlock(&reg_lock);
		if (lfd >= 0)
			close(lfd);
		free(r);
		errno = EUSERS;
		return NULL;
	}
	if (!locked && lfd >= 0) {
		close(lfd); /* of no use, and no lock to keep */
		lfd = -1;
	}
	r->lock_fd = lfd;
	/* Relaxed: a reader that sees 0 here (not yet) takes the record
	 * for a live one's (rec_dead). */
	__atomic_store_n(&r->rec->pidns, r->pidns, __ATOMIC_RELAXED);
	/*
	 * Release: the lock is taken (a system call before it) when a peer
	 * sees the mark; until then the record goes by the pid, in its
	 * namespace, and counts as alive.
	 */
	__atomic_store_n(&r->rec->lock, locked, __ATOMIC_RELEASE);
	r->reg_next = reg_head;
	r->reg_pprev = &reg_head;
	if (reg_head)
		reg_head->reg_pprev = &r->reg_next;
	reg_head = r;
	pthread_mutex_unlock(&reg_lock);
	/* Acquire: the slots before the positions we start from. */
	r->head_cache = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
	r->tail_cache = __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE);
	r->fd = fd;
	return r;
}

/* Format mem as a ring: 0 or -EINVAL. */
static int ring_format(void *mem, size_t len, unsigned nslots, unsigned flags)
{
	struct ring_shm *s = mem;

	if (!mem || ((uintptr_t)mem & (JUMBO_CACHELINE - 1)) ||
	    !nslots_ok(nslots) || len < jumbo_ring_memsize(nslots) ||
	    (flags & ~JUMBO_RING_MPMC))
		return -EINVAL;
	uint32_t *seq = (uint32_t *)(void *)((char *)mem + seq_off(nslots));

	memset(s, 0, sizeof(*s));
	memset(s->slots, 0, (size_t)nslots * sizeof(s->slots[0]));
	for (unsigned i = 0; i < nslots; i++)
		seq[i] = 2 * i; /* free for position i */
	s->h.version = RING_VERSION;
	s->h.flags = flags;
	s->h.size = nslots;
	s->h.nrec = JUMBO_RING_MAX_HANDLES;
	s->h.total = jumbo_ring_memsize(nslots);
	s->h.magic = RING_MAGIC;
	/*
	 * Release: a thread that sees the checksum (attach_mem's acquire)
	 * sees the whole formatted ring; it is the header's last word.
	 */
	__atomic_store_n(&s->h.sum, hdr_sum(&s->h), __ATOMIC_RELEASE);
	return 0;
}

JUMBO_API struct jumbo_ring *jumbo_ring_init(void *mem, size_t len,
					     unsigned nslots, unsigned flags)
{
	int err = ring_format(mem, len, nslots, flags);

	if (err) {
		errno = -err;
		return NULL;
	}
	return ring_attach(mem, -1, NULL);
}

/* 0, or -EINVAL (not a ring) or -EPROTO (another version, or damaged). */
static int hdr_check(const struct ring_hdr *h, size_t len)
{
	if (len < sizeof(*h) || h->magic != RING_MAGIC)
		return -EINVAL;
	if (h->version != RING_VERSION || h->sum != hdr_sum(h) ||
	    !nslots_ok(h->size) || h->nrec != JUMBO_RING_MAX_HANDLES ||
	    (h->flags & ~JUMBO_RING_MPMC) ||
	    h->total != jumbo_ring_memsize(h->size) || h->total > len)
		return -EPROTO;
	return 0;
}

JUMBO_API struct jumbo_ring *jumbo_ring_attach_mem(void *mem, size_t len)
{
	int err;

	if (!mem || ((uintptr_t)mem & (JUMBO_CACHELINE - 1))) {
		errno = EINVAL;
		return NULL;
	}
	/* Acquire: pairs with init's release of the checksum. */
	if (len >= sizeof(struct ring_hdr))
		(void)__atomic_load_n(&((struct ring_hdr *)mem)->sum,
				      __ATOMIC_ACQUIRE);
	err = hdr_check(mem, len);
	if (err) {
		errno = -err;
		return NULL;
	}
	return ring_attach(mem, -1, NULL);
}

/*
 * Map fd's ring (fd is the handle's from now on; name: the ring's, or
 * NULL); NULL with errno.
 */
static struct jumbo_ring *ring_map(int fd, const char *name)
{
	struct ring_hdr h;
	struct stat sb;
	struct jumbo_ring *r;
	void *m;
	int err;

	/*
	 * Read the header, never map past the file's end: a truncated file
	 * would fault on first touch, not fail here.
	 */
	if (fstat(fd, &sb) != 0)
		goto fail;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if ((size_t)sb.st_size < sizeof(h) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		errno = EINVAL;
		goto fail;
	}
	err = hdr_check(&h, (size_t)sb.st_size);
	if (err) {
		errno = -err;
		goto fail;
	}
	m = mmap(NULL, h.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	/* Once more in the mapping: the file may have changed between. */
	err = hdr_check(m, h.total);
	if (err) {
		munmap(m, h.total);
		errno = -err;
		goto fail;
	}
	r = ring_attach(m, fd, name);
	if (!r) {
		err = errno;
		munmap(m, h.total);
		errno = err;
		goto fail;
	}
	r->map = m;
	r->map_len = h.total;
	return r;
fail:
	err = errno;
	close(fd);
	errno = err;
	return NULL;
}

JUMBO_API struct jumbo_ring *jumbo_ring_create(const char *name,
					       unsigned nslots, unsigned flags,
					       mode_t mode)
{
	size_t len = jumbo_ring_memsize(nslots);
	struct jumbo_ring *r;
	void *m;
	int fd, err;

	if (!nslots_ok(nslots) || (flags & ~JUMBO_RING_MPMC)) {
		errno = EINVAL;
		return NULL;
	}
	if (name)
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			      mode & 0666);
	else
		fd = memfd_create("jumbo-ring", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* The umask may have narrowed the mode the caller asked for. */
	if ((name && fchmod(fd, mode & 0666) != 0) ||
	    ftruncate(fd, (off_t)len) != 0)
		goto fail;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	err = ring_format(m, len, nslots, flags);
	r = err ? NULL : ring_attach(m, fd, name);
	if (!r) {
		err = err ? -err : errno;
		munmap(m, len);
		errno = err;
		goto fail;
	}
	r->map = m;
	r->map_len = len;
	return r;
fail:
	err = errno;
	close(fd);
	if (name)
		shm_unlink(name);
	errno = err;
	return NULL;
}

JUMBO_API struct jumbo_ring *jumbo_ring_open(const char *name)
{
	int fd;

	if (!name) {
		errno = EINVAL;
		return NULL;
	}
	fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	return fd < 0 ? NULL : ring_map(fd, name);
}

JUMBO_API struct jumbo_ring *jumbo_ring_open_fd(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	return d < 0 ? NULL : ring_map(d, NULL);
}

JUMBO_API int jumbo_ring_unlink(const char *name)
{
	if (!name)
		return -EINVAL;
	return shm_unlink(name) == 0 ? 0 : -errno;
}

JUMBO_API int jumbo_ring_fd(const struct jumbo_ring *r)
{
	return r->fd;
}

JUMBO_API void jumbo_ring_close(struct jumbo_ring *r)
{
	if (!r)
		return;
	if (r->pool)
		_jumbo_pool_ring_bind(r->pool, r, false);
	/*
	 * A fork child's copy of its parent's handle: the record is the
	 * parent's, left as it is.  Else, release: the handle's last slot
	 * releases, and the record's clearing, come before it is free for
	 * another (whose claim acquires).
	 */
	if (r->owner == getpid()) {
		__atomic_store_n(&r->rec->lock, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&r->rec->pidns, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&r->rec->pid, 0, __ATOMIC_RELEASE);
	}
	/*
	 * Then the lock goes: a peer that finds it free meanwhile finds the
	 * record free, or another's (whose claim passes over a record whose
	 * lock is still held), never ours with an intent.
	 */
	pthread_mutex_lock(&reg_lock);
	*r->reg_pprev = r->reg_next;
	if (r->reg_next)
		r->reg_next->reg_pprev = r->reg_pprev;
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	pthread_mutex_unlock(&reg_lock);
	if (r->map)
		munmap(r->map, r->map_len);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

JUMBO_API unsigned jumbo_ring_size(const struct jumbo_ring *r)
{
	return r->size;
}

JUMBO_API unsigned jumbo_ring_count(const struct jumbo_ring *r)
{
	/* Relaxed: a snapshot, which may be stale by the time it returns. */
	uint64_t h = __atomic_load_n(&r->s->head, __ATOMIC_RELAXED);
	uint64_t t = __atomic_load_n(&r->s->tail, __ATOMIC_RELAXED);

	return t > h ? (unsigned)(t - h < r->size ? t - h : r->size) : 0;
}

/* SPSC ------------------------------------------------------------------ */

/*
 * n entries between the caller's array and the slots from index i on,
 * wrapping at the ring's end, each copied whole (one 16-byte load and
 * store).  A loop rather than memcpy: a batch is a few hundred bytes,
 * where the call and its size dispatch cost more than the copy.
 */
static inline void ents_in(struct jumbo_ring *r, uint64_t i,
			   const struct jumbo_ring_ent *e, unsigned n)
{
	struct jumbo_ring_ent *sl = r->slots;

	for (unsigned k = 0; k < n; k++)
		sl[(i + k) & r->mask] = e[k];
}

static inline void ents_out(const struct jumbo_ring *r, uint64_t i,
			    struct jumbo_ring_ent *e, unsigned n)
{
	const struct jumbo_ring_ent *sl = r->slots;

	for (unsigned k = 0; k < n; k++)
		e[k] = sl[(i + k) & r->mask];
}

static unsigned spsc_enqueue(struct jumbo_ring *r,
			     const struct jumbo_ring_ent *e, unsigned n)
{
	/*
	 * Relaxed: only the producer writes tail, and a handle that takes
	 * the role over has first synchronized with the last one's end.
	 */
	uint64_t t = __atomic_load_n(&r->s->tail, __ATOMIC_RELAXED);
	uint64_t room = r->size - (t - r->head_cache);

	/*
	 * More room than the ring has: the cached head is from before
	 * another handle's enqueues (the producer's role passed to this
	 * one), and tail - head_cache counts entries dequeued long ago.
	 * Look again, as when it looks full.
	 */
	if (room < n || room > r->size) {
		/*
		 * Acquire: the consumer's reads of the slots it released
		 * happen before our writes over them.
		 */
		r->head_cache = __atomic_load_n(&r->s->head, __ATOMIC_ACQUIRE);
		room = r->size - (t - r->head_cache);
		if (n > room)
			n = (unsigned)room;
		/* Full: a producer polls here, so write nothing. */
		if (n == 0)
			return 0;
	}
	ents_in(r, t & r->mask, e, n);
	/* Release: the entries are written before the consumer sees them. */
	__atomic_store_n(&r->s->tail, t + n, __ATOMIC_RELEASE);
	return n;
}

static unsigned spsc_dequeue(struct jumbo_ring *r, struct jumbo_ring_ent *e,
			     unsigned n)
{
	/* Relaxed: only the consumer writes head (as tail above). */
	uint64_t h = __atomic_load_n(&r->s->head, __ATOMIC_RELAXED);
	uint64_t avail = r->tail_cache - h;

	/*
	 * More than the ring holds: the cached tail is behind head, from
	 * before another handle's dequeues (the consumer's role passed to
	 * this one, as when a producer takes back a dead consumer's
	 * entries), and the difference wrapped.  Look again, as when it
	 * looks empty.
	 */
	if (avail < n || avail > r->size) {
		/* Acquire: the producer's entries before our reads of them. */
		r->tail_cache = __atomic_load_n(&r->s->tail, __ATOMIC_ACQUIRE);
		avail = r->tail_cache - h;
		if (n > avail)
			n = (unsigned)avail;
		/* Empty: a consumer polls here, so touch nothing more. */
		if (n == 0)
			return 0;
	}
	ents_out(r, h & r->mask, e, n);
	unsigned got = n;
	if (r->pool) {
		/*
		 * Bound: the pages are ours before the slots are released.
		 * A process that cannot adopt them (a fork of the pool's
		 * maker) takes nothing: the entries stay for one that can.
		 */
		int k = _jumbo_pool_adopt_ents(r->pool, e, n,
					       "jumbo_ring_dequeue");
		if (unlikely(k < 0)) {
			errno = -k;
			return 0;
		}
		got = (unsigned)k;
	}
	/* Release: our reads of the slots before the producer reuses them. */
	__atomic_store_n(&r->s->head, h + n, __ATOMIC_RELEASE);
	return got;
}

/* MPMC ------------------------------------------------------------------ */

/*
 * How many of the n slots from position p are in state want(p + i)
 * (seq == 2p for a producer, 2(p+1) for a consumer, skip bit aside);
 * *stale when the first one is already past it: p is out of date.
 */
static unsigned mpmc_scan(const struct jumbo_ring *r, uint64_t p, unsigned n,
			  uint32_t lag, bool *stale)
{
	unsigned k = 0;

	*stale = false;
	for (; k < n; k++) {
		/*
		 * Acquire: for a producer, the consumer's reads of the slot
		 * before our writes; for a consumer, the producer's writes
		 * before our reads.
		 */
		uint32_t seq = __atomic_load_n(&r->seq[(p + k) & r->mask],
					       __ATOMIC_ACQUIRE);
		int32_t d = (int32_t)((seq & ~SEQ_SKIP) - 2 * (uint32_t)(p + k + lag));
		if (d != 0) {
			*stale = k == 0 && d > 0;
			break;
		}
	}
	return k;
}

static unsigned mpmc_enqueue(struct jumbo_ring *r,
			     const struct jumbo_ring_ent *e, unsigned n)
{
	struct ring_rec *rec = r->rec;
	uint64_t t = __atomic_load_n(&r->s->tail, __ATOMIC_RELAXED);
	unsigned k;
	bool stale;

	for (;;) {
		k = mpmc_scan(r, t, n, 0, &stale);
		if (k == 0 && !stale)
			return 0;
		if (k != 0) {
			/* The intent, made visible by the CAS's release. */
			__atomic_store_n(&rec->ppos, t, __ATOMIC_RELAXED);
			__atomic_store_n(&rec->pn, k, __ATOMIC_RELAXED);
			/*
			 * Release: the intent before the reservation, so a
			 * reclaim that sees the new tail sees who owns it.
			 */
			if (__atomic_compare_exchange_n(&r->s->tail, &t, t + k,
							false, __ATOMIC_RELEASE,
							__ATOMIC_RELAXED))
				break;
			/*
			 * Lost: the intent names another's slots.  Gone at
			 * once, not at the next try's: this call may end
			 * without one (full), and the stale intent would
			 * keep a reclaim from a dead producer's slot there
			 * until this handle's next enqueue.  Relaxed: it
			 * covers nothing of ours.
			 */
			__atomic_store_n(&rec->pn, 0, __ATOMIC_RELAXED);
		} else {
			t = __atomic_load_n(&r->s->tail, __ATOMIC_RELAXED);
		}
	}
	for (unsigned i = 0; i < k; i++) {
		uint64_t j = (t + i) & r->mask;
		r->slots[j] = e[i];
		/* Release: the entry before the consumer that sees seq. */
		__atomic_store_n(&r->seq[j], 2 * (uint32_t)(t + i + 1),
				 __ATOMIC_RELEASE);
	}
	/* Release: the slots' publication before the intent's end. */
	__atomic_store_n(&rec->pn, 0, __ATOMIC_RELEASE);
	return k;
}

static unsigned mpmc_dequeue(struct jumbo_ring *r, struct jumbo_ring_ent *e,
			     unsigned n)
{
	struct ring_rec *rec = r->rec;
	uint64_t h;
	unsigned k, got = 0;
	bool stale, asked = false;

again:
	h = __atomic_load_n(&r->s->head, __ATOMIC_RELAXED);
	for (;;) {
		k = mpmc_scan(r, h, n, 1, &stale);
		if (k == 0 && !stale)
			return 0;
		/*
		 * Bound, in a process that cannot adopt the pages (a fork of
		 * the pool's maker): take nothing, leave the entries to one
		 * that can.  Asked once there is something to take.
		 */
		if (k != 0 && r->pool && !asked) {
			int err = _jumbo_pool_adopt_ok(r->pool,
						       "jumbo_ring_dequeue");
			if (unlikely(err)) {
				errno = -err;
				return 0;
			}
			asked = true;
		}
		if (k != 0) {
			__atomic_store_n(&rec->cpos, h, __ATOMIC_RELAXED);
			__atomic_store_n(&rec->cn, k, __ATOMIC_RELAXED);
			/* Release: the intent before the reservation. */
			if (__atomic_compare_exchange_n(&r->s->head, &h, h + k,
							false, __ATOMIC_RELEASE,
							__ATOMIC_RELAXED))
				break;
			/* Lost: gone at once, as the enqueue's. */
			__atomic_store_n(&rec->cn, 0, __ATOMIC_RELAXED);
		} else {
			h = __atomic_load_n(&r->s->head, __ATOMIC_RELAXED);
		}
	}
	for (unsigned i = 0; i < k; i++) {
		uint64_t j = (h + i) & r->mask;
		/* Relaxed: ordered by the acquire of the scan. */
		if (!(__atomic_load_n(&r->seq[j], __ATOMIC_RELAXED) & SEQ_SKIP))
			e[got++] = r->slots[j];
	}
	/*
	 * Bound: the pages are ours before the slots are released, a batch
	 * in one call as SPSC's; one that is no longer allocated (its
	 * sender died and it was reclaimed) is dropped.  Asked above.
	 */
	if (r->pool && got)
		got = (unsigned)_jumbo_pool_adopt_ents(r->pool, e, got, NULL);
	for (unsigned i = 0; i < k; i++)
		/* Release: our read of the entry before its reuse. */
		__atomic_store_n(&r->seq[(h + i) & r->mask],
				 2 * (uint32_t)(h + i + r->size),
				 __ATOMIC_RELEASE);
	/* Release: the slots' release before the intent's end. */
	__atomic_store_n(&rec->cn, 0, __ATOMIC_RELEASE);
	/* Only skipped slots: look again (each pass consumes at least one). */
	if (got == 0)
		goto again;
	return got;
}

JUMBO_API unsigned jumbo_ring_enqueue(struct jumbo_ring *r,
				      const struct jumbo_ring_ent *ents,
				      unsigned n)
{
	if (n > JUMBO_RING_MAX_BATCH)
		n = JUMBO_RING_MAX_BATCH;
	return r->mpmc ? mpmc_enqueue(r, ents, n) : spsc_enqueue(r, ents, n);
}

JUMBO_API unsigned jumbo_ring_dequeue(struct jumbo_ring *r,
				      struct jumbo_ring_ent *ents, unsigned n)
{
	if (n > JUMBO_RING_MAX_BATCH)
		n = JUMBO_RING_MAX_BATCH;
	return r->mpmc ? mpmc_dequeue(r, ents, n) : spsc_dequeue(r, ents, n);
}

/* Reclaim --------------------------------------------------------------- */

/*
 * Is rec's holder (pid who, as read) dead?  pid > 0: the caller knows
 * that process dead; only its records are.  Never this handle's own, nor
 * a record free or being freed (who <= 0: no one holds it).
 */
static bool rec_dead(const struct jumbo_ring *r, const struct ring_rec *rec,
		     pid_t who, pid_t pid)
{
	if (who <= 0 || rec == r->rec)
		return false;
	/*
	 * Locked: dead when the lock is free, in any namespace, whatever
	 * its pid names now.  Asked through this handle's own description,
	 * which holds only its own record's byte (never in conflict with
	 * itself), else through the ring's (which holds none); a handle with
	 * neither (caller memory) cannot ask: alive.  Acquire: pairs with
	 * the claim's release of the mark.
	 */
	if (__atomic_load_n(&rec->lock, __ATOMIC_ACQUIRE)) {
		int fd = __atomic_load_n(&r->lock_fd, __ATOMIC_RELAXED);
		if (fd < 0)
			fd = r->fd;
		if (pid > 0 && who != pid)
			return false;
		return fd >= 0 && _jumbo_lock_free(fd, (uint64_t)(rec - r->s->rec));
	}
	/*
	 * A pid names a process only in its pid namespace: a record of a
	 * handle in another one (a container sharing the ring), or one whose
	 * namespace is not written yet (just claimed), is never taken for
	 * dead by its pid, which here may name no process or another one.
	 * Relaxed: the value is written once per claim, before any intent.
	 */
	uint64_t ns = __atomic_load_n(&rec->pidns, __ATOMIC_RELAXED);
	if (ns == 0 || ns != r->pidns)
		return false;
	if (pid > 0)
		return who == pid;
	return kill(who, 0) != 0 && errno == ESRCH;
}

/* Does a live record's intent (producer or consumer side) cover pos? */
static bool live_covers(const struct jumbo_ring *r, uint64_t pos, bool prod,
			pid_t pid)
{
	const struct ring_shm *s = r->s;

	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++) {
		const struct ring_rec *rec = &s->rec[i];
		pid_t who = __atomic_load_n(&rec->pid, __ATOMIC_RELAXED);
		/*
		 * Acquire: a cleared intent comes with the owner's slot
		 * releases, so the re-read of seq below sees them.
		 */
		uint32_t n = __atomic_load_n(prod ? &rec->pn : &rec->cn,
					     __ATOMIC_ACQUIRE);
		uint64_t p = __atomic_load_n(prod ? &rec->ppos : &rec->cpos,
					     __ATOMIC_RELAXED);
		/*
		 * Free, or being freed (its holder found dead: the intent
		 * still there is a dead one's, which may name slots reserved
		 * since by another, if its reserving CAS lost).
		 */
		if (who <= 0 || n == 0 || pos - p >= n)
			continue;
		if (!rec_dead(r, rec, who, pid))
			return true;
	}
	return false;
}

/*
 * Finish slot pos from old to new if no live handle owns it: 1 if done.
 * freed: told the entry of a taken slot that this frees (read before the
 * CAS: the slot is intact until it succeeds, reported only if it does).
 */
static int repair(struct jumbo_ring *r, uint64_t pos, uint32_t old,
		  uint32_t new, bool prod, pid_t pid, jumbo_ring_visit_fn freed,
		  void *arg)
{
	struct jumbo_ring_ent e = r->slots[pos & r->mask];

	if (live_covers(r, pos, prod, pid))
		return 0;
	/*
	 * Acq_rel: the CAS fails if the owner finished the slot meanwhile;
	 * when it succeeds, the new state is published like an owner's.
	 */
	if (!__atomic_compare_exchange_n(&r->seq[pos & r->mask], &old, new, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	if (freed && !(old & SEQ_SKIP))
		freed(arg, &e);
	return 1;
}

JUMBO_API int jumbo_ring_reclaim(struct jumbo_ring *r, pid_t pid)
{
	/* Bound: what the repair frees goes back to the pool. */
	if (r->pool)
		return _jumbo_pool_ring_repair(r->pool, r, pid, NULL);
	return _jumbo_ring_repair(r, pid, NULL, NULL, NULL);
}

/*
 * Does rec's intent (a dead handle's) cover a slot that is still
 * unfinished: reserved in [h, t) and not filled, or taken in [lo, h) and
 * not released?  As the repair's two passes, after them.
 */
static bool rec_unfinished(const struct jumbo_ring *r,
			   const struct ring_rec *rec, uint64_t lo, uint64_t h,
			   uint64_t t)
{
	/* Relaxed: the record is a dead handle's, no longer written. */
	uint32_t pn = __atomic_load_n(&rec->pn, __ATOMIC_RELAXED);
	uint32_t cn = __atomic_load_n(&rec->cn, __ATOMIC_RELAXED);
	uint64_t pp = __atomic_load_n(&rec->ppos, __ATOMIC_RELAXED);
	uint64_t cp = __atomic_load_n(&rec->cpos, __ATOMIC_RELAXED);

	for (uint32_t i = 0; i < pn && i < r->size; i++) {
		uint64_t p = pp + i;
		if (p >= h && p < t &&
		    __atomic_load_n(&r->seq[p & r->mask], __ATOMIC_RELAXED) ==
			    2 * (uint32_t)p)
			return true;
	}
	for (uint32_t i = 0; i < cn && i < r->size; i++) {
		uint64_t p = cp + i;
		if (p >= lo && p < h &&
		    (__atomic_load_n(&r->seq[p & r->mask], __ATOMIC_RELAXED) &
		     ~SEQ_SKIP) == 2 * (uint32_t)(p + 1))
			return true;
	}
	return false;
}

/*
 * Is the freer of a record whose pid reads who (REC_FREER(f, gen)) gone,
 * its freeing never to be finished by it?  Its record f is free, being
 * freed, or claimed since (another claim number), or its holder is dead.
 * A record leaves its holder only by the holder's close, which cannot
 * come inside the holder's reclaim, or by a reclaim that found the holder
 * dead: either way that holder frees nothing more.  pid as rec_dead's.
 */
static bool freer_gone(const struct jumbo_ring *r, int32_t who, pid_t pid)
{
	if (who > REC_FREER(0, 0))
		return false; /* -1: no freer named */
	uint32_t v = (uint32_t)(-2 - who);
	const struct ring_rec *frec = &r->s->rec[v % JUMBO_RING_MAX_HANDLES];
	/*
	 * Relaxed: the acquire of who (the freer's release) came first, so
	 * these read the freer's claim of its record, or what came after.
	 * A newer holder whose count is not seen yet passes for the freer
	 * and is asked about: alive, the freeing waits for the next call.
	 */
	int32_t fwho = __atomic_load_n(&frec->pid, __ATOMIC_RELAXED);
	uint32_t gen = __atomic_load_n(&frec->gen, __ATOMIC_RELAXED);
	return fwho <= 0 ||
	       (gen & REC_GEN_MASK) != v / JUMBO_RING_MAX_HANDLES ||
	       rec_dead(r, frec, fwho, pid);
}

int _jumbo_ring_repair(struct jumbo_ring *r, pid_t pid,
		       jumbo_ring_visit_fn freed, void *arg, unsigned *left)
{
	struct ring_shm *s = r->s;
	int done = 0;

	if (pid < 0)
		return -EINVAL;
	if (r->mpmc) {
		/*
		 * Acquire: the positions' CASes, and with them every intent
		 * written before them.
		 */
		uint64_t h = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
		uint64_t t = __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE);
		uint64_t lo = h > r->size ? h - r->size : 0;

		/* Taken by a consumer, never released: free for the next lap. */
		for (uint64_t p = lo; p < h; p++) {
			uint32_t seq = __atomic_load_n(&r->seq[p & r->mask],
						       __ATOMIC_ACQUIRE);
			if ((seq & ~SEQ_SKIP) == 2 * (uint32_t)(p + 1))
				done += repair(r, p, seq,
					       2 * (uint32_t)(p + r->size),
					       false, pid, freed, arg);
		}
		/* Reserved by a producer, never filled: skipped. */
		for (uint64_t p = h; p < t; p++) {
			uint32_t seq = __atomic_load_n(&r->seq[p & r->mask],
						       __ATOMIC_ACQUIRE);
			if (seq == 2 * (uint32_t)p)
				done += repair(r, p, seq,
					       2 * (uint32_t)(p + 1) | SEQ_SKIP,
					       true, pid, NULL, NULL);
		}
	}
	/*
	 * Acquire: the positions again, for the look at what the passes
	 * above left (a live handle's intent covered it too).
	 */
	uint64_t h = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE);
	uint64_t lo = h > r->size ? h - r->size : 0;

	/*
	 * The freeings are signed with this handle's record, whose holder a
	 * peer can tell alive.  A fork child's copy of its parent's handle
	 * (which jumbo_ring(3) forbids it to use) has no record of its own:
	 * it frees none, and leaves them to the next reclaim.
	 */
	int32_t me = REC_FREER((uint32_t)(r->rec - s->rec), r->gen);
	bool sign = r->owner == getpid();

	for (unsigned i = 0; i < JUMBO_RING_MAX_HANDLES; i++) {
		struct ring_rec *rec = &s->rec[i];
		/*
		 * Acquire: for a record being freed, the freer's claim of
		 * its own record, and its marks there, which its CAS below
		 * released.
		 */
		int32_t who = __atomic_load_n(&rec->pid, __ATOMIC_ACQUIRE);
		if (who < 0) {
			/*
			 * Being freed by a handle that is gone: taken over
			 * and finished, the clears below being the same
			 * whoever makes them and however many times.
			 */
			if (!freer_gone(r, who, pid))
				continue;
		} else {
			if (!rec_dead(r, rec, who, pid))
				continue;
			/*
			 * A slot of its that a live intent kept from repair
			 * above (the live handle's CAS may have been the one
			 * that won): the record stays, and the caller learns
			 * that a call is due once the live one has moved on.
			 * Else its intents go with it.
			 */
			if (r->mpmc && rec_unfinished(r, rec, lo, h, t)) {
				if (left)
					(*left)++;
				continue;
			}
		}
		if (!sign)
			continue;
		/*
		 * The record is this reclaimer's to free once its pid reads
		 * REC_FREER(our record, our claim): another reclaimer's CAS
		 * then fails, and no new handle can claim it (claims start
		 * from 0) while its fields are cleared; cleared first and
		 * released after, a newcomer's fields could be wiped, or its
		 * record freed under it if it had the same pid number.  A
		 * reclaimer killed in between leaves the record to the next
		 * reclaim, which finds our record's holder gone and takes it
		 * over by the same CAS (so that of two such, one alone wins).
		 * Acquire: the dead one's intents before they are cleared.
		 * Release: our claim of our own record (its count and marks)
		 * before a peer that reads our signature looks at them.
		 */
		if (!__atomic_compare_exchange_n(&rec->pid, &who, me, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&rec->pn, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&rec->cn, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&rec->lock, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&rec->pidns, 0, __ATOMIC_RELAXED);
		/* Release: the repairs and clears above before its reuse. */
		__atomic_store_n(&rec->pid, 0, __ATOMIC_RELEASE);
	}
	return done;
}

/*
 * Every entry in the ring now, for a pool's reclaim: those published and
 * not yet taken, and (MPMC) those a dequeuer has taken and not released.
 * An entry is reported only if its slot did not move while it was read
 * (the slot's next owner may be overwriting it: then it left the ring
 * meanwhile, to a live dequeuer).
 */
void _jumbo_ring_scan(struct jumbo_ring *r, jumbo_ring_visit_fn live, void *arg)
{
	struct ring_shm *s = r->s;
	/* Acquire: the entries written before the positions moved. */
	uint64_t h = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE);

	if (!r->mpmc) {
		for (uint64_t p = h; p < t && p - h < r->size; p++) {
			struct jumbo_ring_ent e = r->slots[p & r->mask];
			/* Acquire fence: the read above before the look at
			 * head; past p, the consumer has it (and adopted it). */
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&s->head, __ATOMIC_RELAXED) > p)
				continue;
			live(arg, &e);
		}
		return;
	}
	uint64_t lo = h > r->size ? h - r->size : 0;
	for (uint64_t p = lo; p < t; p++) {
		uint32_t *sq = &r->seq[p & r->mask];
		/* Acquire: the producer's entry before our read of it. */
		uint32_t seq = __atomic_load_n(sq, __ATOMIC_ACQUIRE);
		if (seq != 2 * (uint32_t)(p + 1))
			continue; /* free, skipped, or not yet published */
		struct jumbo_ring_ent e = r->slots[p & r->mask];
		/* Acquire fence: the read above before the check that the
		 * slot held still while it was made. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(sq, __ATOMIC_RELAXED) == seq)
			live(arg, &e);
	}
}

void _jumbo_ring_unbind(struct jumbo_ring *r)
{
	r->pool = NULL;
}

JUMBO_API int jumbo_ring_bind(struct jumbo_ring *r, struct jumbo_pool *pool)
{
	int err;

	if (!r)
		return -EINVAL;
	if (r->pool == pool)
		return 0;
	if (pool && (err = _jumbo_pool_ring_bind(pool, r, true)) != 0)
		return err;
	if (r->pool)
		_jumbo_pool_ring_bind(r->pool, r, false);
	r->pool = pool;
	return 0;
}
