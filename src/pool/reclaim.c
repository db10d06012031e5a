/*
 * Named shared pools: the processes attached to one, their deaths, and
 * the return of a dead process's pages (docs/SHARED-POOLS-DESIGN.md,
 * section 7; jumbo_pool(3), PROCESSES).
 *
 * Every page's word names its owner (jumbo_int.h), so a dead process's
 * pages are the words that name its slot, found by a sweep that trusts
 * nothing the process was writing when it died:
 *
 *   FREE|d    in d's caches: back to the depot as soon as d is known dead
 *             (on EOWNERDEAD, on a depot visit's look at the peers)
 *   ALLOC|d   allocated by d, or freed to it and not yet re-cached: back
 *             to the depot by jumbo_pool_reclaim(), unless the page is in
 *             a ring bound to the pool, where it stays (ALLOC|RING) for
 *             the dequeuer, who adopts it
 *
 * Allocated pages wait for the explicit call because only the caller
 * knows the rings: a process that reclaims binds every ring that carries
 * the pool's pages (jumbo_ring_bind), else pages in flight would return
 * to the depot under their receiver.  Cached pages are never in a ring.
 *
 * Each step is idempotent: a sweep changes words by compare-and-swap from
 * a value that names d, under the depot lock and with its dirty bit set
 * (so a reclaimer killed inside leaves the queue to be rebuilt from the
 * words), and d's slot is freed only after its sweep and once no ring
 * slot of its is left unrepaired.  A reclaimer that dies is itself dead:
 * the next reclaim does its work and then its own.
 */
#include "shm_int.h"
#include "jumbo_ring_pool.h"

#include <jumbo/ring.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* ---- processes ------------------------------------------------------------ */

/*
 * A record's fields change under the lock; peers' looks read them without
 * it, as hints checked again under it.  Relaxed atomics on both sides.
 */
static void set_state(struct jumbo_shm_proc *pr, uint32_t st)
{
	__atomic_store_n(&pr->state, st, __ATOMIC_RELAXED);
}

static uint32_t get_state(const struct jumbo_shm_proc *pr)
{
	return __atomic_load_n(&pr->state, __ATOMIC_RELAXED);
}

/*
 * The state letter and start time of pid, from /proc/PID/stat: 0, -ENOENT
 * (no such process), or another -errno (no /proc: the caller falls back).
 */
static int proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[48], buf[1024];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	/* The command may hold anything, ')' too: fields follow the last. */
	char *q = strrchr(buf, ')');
	if (!q || q[1] != ' ' || !q[2])
		return -EIO;
	*state = q[2];
	q += 3;
	/* Fields 4..21, then 22: the start time, in clock ticks after boot. */
	for (int i = 4; i < 22; i++) {
		q = strchr(q + 1, ' ');
		if (!q)
			return -EIO;
	}
	*start = strtoull(q + 1, NULL, 10);
	return 0;
}

/*
 * Is the process of this record gone?  Exited (a zombie counts: it will
 * never touch the pool again), or its pid now names another process.
 * Without /proc, kill(pid, 0) (which takes a zombie for alive).
 */
static bool proc_gone(pid_t pid, uint64_t start)
{
	char state;
	uint64_t now;
	int err = proc_stat(pid, &state, &now);

	if (err == -ENOENT)
		return true;
	if (err || start == 0)
		return kill(pid, 0) != 0 && errno == ESRCH;
	return state == 'Z' || state == 'X' || now != start;
}

static bool slot_ok(unsigned d)
{
	return d >= 1 && d < SHM_SLOTS;
}


/*
 * Is the process of slot d (a record read as pid, start, lock, pidns) gone?
 * Its lock says so if it took one: asked through this process's own
 * description (an OFD lock never conflicts with its own description's,
 * and ours holds only our slot's byte), else through the pool's (which
 * holds none).  An error of the question says nothing: alive.  Without a
 * lock, its pid, if it means the same here: a pid of another namespace
 * names another process or none, so such a peer is never taken for dead
 * (its pages wait until it detaches).
 */
static bool peer_gone(const struct jumbo_pool *p, unsigned d, pid_t pid,
		      uint64_t start, uint32_t lock, uint64_t pidns)
{
	const struct jumbo_shm *s = p->shm;

	if (lock)
		return _jumbo_lock_free(s->lock_fd >= 0 ? s->lock_fd : p->fd, d);
	if (pidns && s->pidns && pidns != s->pidns)
		return false;
	return proc_gone(pid, start);
}

/* The same for the record itself, read now (lock held, or as a hint). */
static bool slot_gone(const struct jumbo_pool *p, unsigned d)
{
	const struct jumbo_shm_proc *pr = &p->shm->procs[d];

	return peer_gone(p, d, __atomic_load_n(&pr->pid, __ATOMIC_RELAXED),
			 __atomic_load_n(&pr->start, __ATOMIC_RELAXED),
			 __atomic_load_n(&pr->lock, __ATOMIC_RELAXED),
			 __atomic_load_n(&pr->pidns, __ATOMIC_RELAXED));
}

/*
 * A description of the pool's object of this process's own, for its
 * slot's lock: not a dup() of p->fd, which shares p->fd's description
 * (and that may be the one of a process that passed the descriptor over
 * a socket, whose lock would then be ours too).  Opened anew through
 * /proc, or failing that by the pool's name if that still names the
 * same object; -1 if neither (the slot then goes by the pid).
 */
static int lock_open(const struct jumbo_pool *p)
{
	char path[SHM_PATH_MAX];
	int fd = _jumbo_reopen(p->fd);

	if (fd < 0) {
		shm_path(path, p->shm->hdr->name);
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && !_jumbo_same_file(fd, p->fd)) {
			close(fd);
			fd = -1;
		}
	}
	return fd < 0 ? -1 : fd;
}

/*
 * Lock held: this process takes a free slot, one whose lock it can take
 * if it has a description for it (s->lock_fd); if every free slot's lock
 * is held, or there are no such locks, the first free slot, told alive by
 * the pid.  0 or -EUSERS.
 */
static int take_slot(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;
	char state;
	uint64_t start = 0;
	unsigned pick = 0;
	bool lock = false;

	if (proc_stat(getpid(), &state, &start) != 0)
		start = 0; /* no /proc: kill() tells the living */
	for (unsigned i = 1; i < SHM_SLOTS; i++) {
		if (get_state(&s->procs[i]) != PROC_FREE)
			continue;
		if (!pick)
			pick = i;
		if (s->lock_fd < 0)
			break;
		/* -EAGAIN: a process that left the slot and has not yet
		 * closed its description holds it, or a child that inherited
		 * it and skipped the fork handlers. */
		int err = _jumbo_lock_take(s->lock_fd, i);
		if (err == 0) {
			pick = i;
			lock = true;
			break;
		}
		if (err != -EAGAIN)
			break; /* none will work: by the pid */
	}
	if (!pick)
		return -EUSERS;

	struct jumbo_shm_proc *pr = &s->procs[pick];
	__atomic_store_n(&pr->pid, (int32_t)getpid(), __ATOMIC_RELAXED);
	__atomic_store_n(&pr->start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&pr->lock, lock, __ATOMIC_RELAXED);
	__atomic_store_n(&pr->pidns, s->pidns, __ATOMIC_RELAXED);
	pr->reclaimer = 0;
	pr->pins = 0; /* a dead holder's device went with it */
	__atomic_store_n(&pr->gen, pr->gen + 1, __ATOMIC_RELAXED);
	set_state(pr, PROC_LIVE);
	s->me = pick;
	s->pid = getpid();
	s->w_free = shm_word(JUMBO_PG_FREE, pick);
	s->w_alloc = shm_word(JUMBO_PG_ALLOC, pick);
	if (!lock && s->lock_fd >= 0) {
		close(s->lock_fd); /* of no use, and no lock to keep */
		s->lock_fd = -1;
	}
	return 0;
}

int _jumbo_shm_join(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;
	int err;

	s->pidns = _jumbo_pidns();
	s->lock_fd = lock_open(p);
	for (int pass = 0; pass < 2; pass++) {
		_jumbo_shm_lock(p);
		err = take_slot(p);
		_jumbo_shm_unlock(p);
		if (err != -EUSERS)
			break;
		/* Every slot taken: dead peers may hold some. */
		jumbo_pool_reclaim(p);
	}
	return err;
}

/* ---- the sweep ------------------------------------------------------------ */

static bool bit_test(const uint64_t *k, frame_t f)
{
	return k && (k[f / 64] >> (f % 64) & 1);
}

/*
 * Lock held: the queue anew from the words, after a holder died in the
 * middle of changing it.  Every free page no live process names is the
 * depot's; the order of the old queue is lost, nothing else.
 */
static void rebuild(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	uint64_t carved = c->carved < s->cap ? c->carved : s->cap;

	c->head = c->tail = 0;
	for (frame_t f = 0; f < carved; f++) {
		uint32_t w = fr_load(p, f);
		unsigned o = fr_owner_of(w);
		if ((w & PGS_MASK) != JUMBO_PG_FREE)
			continue;
		if (slot_ok(o) && get_state(&s->procs[o]) == PROC_LIVE)
			continue; /* in a live process's cache */
		fr_store(p, f, JUMBO_PG_FREE);
		_jumbo_shm_enqueue(s, f);
	}
	c->out = (int64_t)(carved - (c->tail - c->head));
	c->stale = 0;
	c->scan_tail = 0;
	c->qmiss_head = 0;
	c->trim_pos = 0;
	c->mark_n = 0;
	c->rebuild_due = 0;
	c->rebuilds++;
	c->dirty = 0;
}

void _jumbo_shm_rebuild(struct jumbo_pool *p)
{
	p->shm->ctl->dirty = 1;
	rebuild(p);
}

/*
 * Lock held: d's pages go back.  Its free ones (its caches) always; its
 * allocated ones if all, except those in flight in a ring (the bitmap
 * k), which become the ring's: ALLOC|RING, adopted by their dequeuer.
 * The sender's holds die with it.  Returns the pages given back.
 */
static uint64_t sweep(struct jumbo_pool *p, unsigned d, bool all,
		      const uint64_t *k)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	uint64_t carved = c->carved < s->cap ? c->carved : s->cap, n = 0;

	c->dirty = 1;
	for (frame_t f = 0; f < carved; f++) {
		uint32_t w = fr_load(p, f), to;
		do {
			if (fr_owner_of(w) != d)
				break;
			if ((w & PGS_MASK) == JUMBO_PG_FREE)
				to = JUMBO_PG_FREE;
			else if ((w & PGS_MASK) != JUMBO_PG_ALLOC || !all)
				break;
			else if (bit_test(k, f))
				to = shm_word(JUMBO_PG_ALLOC, PG_OWNER_RING);
			else
				to = JUMBO_PG_FREE;
			/*
			 * CAS: a live process may adopt (ALLOC|d -> ALLOC|me)
			 * or free (-> FREE|me) the page at this moment; the
			 * one that wins has it.
			 */
			if (fr_cas(p, f, &w, to)) {
				if (to == JUMBO_PG_FREE) {
					_jumbo_shm_enqueue(s, f);
					n++;
				}
				break;
			}
		} while (1);
	}
	c->out -= (int64_t)n;
	c->dirty = 0;
	return n;
}

/*
 * Lock held, EOWNERDEAD: the holder died inside.  If the process is gone
 * (rather than one of its threads), its slot is dead; a queue it was
 * changing is rebuilt; its cached pages come back now.
 */
void _jumbo_shm_owner_died(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	unsigned d = c->lock_slot;
	struct jumbo_shm_proc *pr = slot_ok(d) && d != s->me ? &s->procs[d] : NULL;

	if (pr && get_state(pr) == PROC_LIVE && slot_gone(p, d))
		set_state(pr, PROC_DEAD);
	if (c->dirty)
		rebuild(p);
	if (pr && get_state(pr) != PROC_LIVE && get_state(pr) != PROC_FREE)
		__atomic_fetch_add(&c->reclaimed, sweep(p, d, false, NULL),
				   __ATOMIC_RELAXED);
}

/*
 * A look at the peers, if the last was min_ms ago or more.  A live
 * slot whose process is gone becomes DEAD and its cached pages return;
 * its allocated ones wait for jumbo_pool_reclaim().
 */
void _jumbo_shm_check_peers(struct jumbo_pool *p, unsigned min_ms)
{
	struct jumbo_shm *s = p->shm;
	uint32_t t = _jumbo_clock_ms();

	if (min_ms && (uint32_t)(t - __atomic_load_n(&s->last_check,
						     __ATOMIC_RELAXED)) < min_ms)
		return;
	__atomic_store_n(&s->last_check, t, __ATOMIC_RELAXED);
	for (unsigned d = 1; d < SHM_SLOTS; d++) {
		struct jumbo_shm_proc *pr = &s->procs[d];
		/* Relaxed: a hint, checked again under the lock. */
		if (d == s->me || get_state(pr) != PROC_LIVE)
			continue;
		uint32_t gen = __atomic_load_n(&pr->gen, __ATOMIC_RELAXED);
		if (!slot_gone(p, d))
			continue;
		/*
		 * Asked again under the lock, whose acquisition orders this
		 * after the join of whoever holds the slot now: if that is
		 * still the process seen above, its lock was taken before.
		 */
		_jumbo_shm_lock(p);
		if (get_state(pr) == PROC_LIVE && pr->gen == gen &&
		    slot_gone(p, d)) {
			set_state(pr, PROC_DEAD);
			__atomic_fetch_add(&s->ctl->reclaimed,
					   sweep(p, d, false, NULL),
					   __ATOMIC_RELAXED);
		}
		_jumbo_shm_unlock(p);
	}
}

/* ---- rings ---------------------------------------------------------------- */

int _jumbo_pool_ring_bind(struct jumbo_pool *p, struct jumbo_ring *r, bool on)
{
	struct jumbo_shm *s = p->shm;
	int err = 0;

	if (!s)
		return 0; /* a private pool: adoption checks, nothing to find */
	pthread_mutex_lock(&s->rings_lock);
	if (on) {
		if (s->nrings == s->rings_cap) {
			unsigned n = s->rings_cap ? 2 * s->rings_cap : 8;
			struct jumbo_ring **v = realloc(s->rings, n * sizeof(*v));
			if (v) {
				s->rings = v;
				s->rings_cap = n;
			} else {
				err = -ENOMEM;
			}
		}
		if (!err)
			s->rings[s->nrings++] = r;
	} else {
		for (unsigned i = 0; i < s->nrings; i++)
			if (s->rings[i] == r) {
				s->rings[i] = s->rings[--s->nrings];
				break;
			}
	}
	pthread_mutex_unlock(&s->rings_lock);
	return err;
}

/* The frame an entry names, or NO_FRAME for a foreign I/O address. */
static frame_t ent_frame(const struct jumbo_pool *p, uint64_t iova)
{
	uint64_t f = iova >> p->head.ph_shift;

	return f < p->head.ph_npages ? (frame_t)f : NO_FRAME;
}

static int adopt(struct jumbo_pool *p, frame_t f)
{
	struct jumbo_shm *s = p->shm;
	uint32_t w = fr_load(p, f);

	do {
		switch (w & PGS_MASK) {
		case JUMBO_PG_ALLOC:
			break;
		case JUMBO_PG_UNUSED:
			return -EFAULT;
		default: /* free: its sender died and it was reclaimed */
			return -EOWNERDEAD;
		}
		if (!s || fr_owner_of(w) == s->me)
			return 0;
		/* CAS: a reclaim may take the page back at this moment. */
	} while (!fr_cas(p, f, &w, (w & ~PG_OWNER_MASK) | s->me << PG_OWNER_SHIFT));
	return 0;
}

/*
 * A dequeued entry whose I/O address is no page of the pool (past the
 * cap, or a frame never handed out): the sender's bug, or a ring shared
 * with another pool.  Said, with the address, and dropped; an entry whose
 * page was reclaimed (EOWNERDEAD) is dropped without a word, as
 * jumbo_ring(3) says.
 */
static JUMBO_NOINLINE void bad_ent(const struct jumbo_pool *p, uint64_t iova)
{
	_jumbo_log(JUMBO_LOG_ERROR, "jumbo_ring_dequeue: I/O address %#llx is "
		   "not a page of pool \"%s\": entry dropped",
		   (unsigned long long)iova, p->name);
}

/* The page of iova adopted: 0, or why not (a bad address said). */
static int adopt_ent(struct jumbo_pool *p, uint64_t iova, frame_t f)
{
	int err = f == NO_FRAME ? -EFAULT : adopt(p, f);

	if (unlikely(err == -EFAULT))
		bad_ent(p, iova);
	return err;
}

int _jumbo_pool_adopt_ok(struct jumbo_pool *p, const char *fn)
{
	if (p->shm && unlikely(p->detached))
		return _jumbo_detached(p, fn, false);
	return 0;
}

/*
 * Two pages in one compare-and-swap: the words of frames f and f ^ 1 (f
 * even first: an aligned 8-byte pair) both plain allocated, no hold and
 * no flag, become ALLOC|me together; true if done.  A word with a hold or
 * a flag, or one that changes meanwhile, leaves the pair to adopt() one
 * page at a time.  Not where ThreadSanitizer watches, which takes the
 * 8-byte access for a race with the 4-byte ones on the same words (x86-64
 * and arm64 keep an aligned 8-byte compare-and-swap coherent with them).
 */
#if defined(__SANITIZE_THREAD__)
#define PAIR_CAS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PAIR_CAS 0
#endif
#endif
#ifndef PAIR_CAS
#define PAIR_CAS 1
#endif

/*
 * And four in one: x86-64's lock cmpxchg16b changes four side by side
 * words at a 16-byte boundary at once, or none, as shm.c's free4 does for
 * frees, here written out (the compiler's own needs the whole function
 * built for cx16, and moves its operands through memory).  Where
 * ThreadSanitizer watches, neither (as above).
 */
#if PAIR_CAS && defined(__x86_64__)
#define RUN_CAS 1
#include <cpuid.h>
#else
#define RUN_CAS 0
#endif

typedef uint64_t __attribute__((may_alias, aligned(8))) pair_t;

/* Both halves of an 8-byte pair of words, and what the check keeps. */
#define PAIR2(w) ((uint64_t)(w) | (uint64_t)(w) << 32)
#define PLAIN2 PAIR2(~PG_OWNER_MASK)

static bool adopt_pair(struct jumbo_pool *p, frame_t f)
{
	pair_t *w = (pair_t *)(void *)fr_word(p, f & ~(frame_t)1);
	uint64_t mine = PAIR2(p->shm->w_alloc);
	uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);

	if ((old & PLAIN2) != PAIR2(JUMBO_PG_ALLOC))
		return false;
	/* Acq_rel, as fr_cas: a reclaim or a hold may race on either word. */
	return __atomic_compare_exchange_n(w, &old, mine, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

#if RUN_CAS
/* Whether the processor has cmpxchg16b, asked once before main. */
static bool run_cas_ok;

__attribute__((constructor)) static void run_cas_probe(void)
{
	unsigned a, b, c, d;

	run_cas_ok = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_CMPXCHG16B);
}

/*
 * The four words at w (16-byte aligned) all plain allocated, no hold and
 * no flag, any owner, become mine (ALLOC|me twice) in one compare-and-
 * swap: true.  Otherwise nothing changed.  The two 8-byte loads need not
 * be one atomic read: a change between them makes the swap fail.
 */
static inline bool adopt4(pair_t *w, uint64_t mine)
{
	uint64_t o0 = __atomic_load_n(&w[0], __ATOMIC_RELAXED);
	uint64_t o1 = __atomic_load_n(&w[1], __ATOMIC_RELAXED);
	bool ok;

	if (((o0 & PLAIN2) ^ PAIR2(JUMBO_PG_ALLOC)) |
	    ((o1 & PLAIN2) ^ PAIR2(JUMBO_PG_ALLOC)))
		return false;
	/* A full barrier (locked), as strong as fr_cas's acq_rel: a reclaim
	 * or a hold may race on any of the four. */
	__asm__ __volatile__("lock cmpxchg16b %1"
			     : "=@ccz"(ok), "+m"(*(unsigned __int128 *)w),
			       "+a"(o0), "+d"(o1)
			     : "b"(mine), "c"(mine)
			     : "memory");
	return ok;
}

/*
 * From e[0], a run: entries a page apart (step: up or down) over whole
 * 16-byte groups of words, the first group's first frame lo (e[0]'s frame
 * up, e[3]'s down), adopted a group at a time (adopt4) while the run goes
 * on and the words allow.  The I/O addresses equally spaced by a page make
 * the frames lo.. without computing them.  How many entries (a multiple
 * of four; 0: the first group refused, nothing changed).
 */
static inline unsigned adopt_run(const struct jumbo_ring_ent *e, unsigned n,
				 uint32_t *st, size_t npages, frame_t lo,
				 uint64_t step, bool up, uint64_t mine)
{
	/* Groups the entries and the cap leave room for, this one first. */
	size_t room = up ? (npages - lo) / 4 : (size_t)lo / 4 + 1;
	unsigned groups = n / 4 < room ? n / 4 : (unsigned)room, k = 0;
	uint32_t *w = &st[lo];
	uint64_t a = e[0].iova;

	for (;;) {
		if (!adopt4((pair_t *)(void *)w, mine))
			break;
		k += 4;
		if (--groups == 0)
			break;
		w += up ? 4 : -4;
		e += 4;
		a += 4 * step;
		if (e[0].iova != a || e[1].iova != a + step ||
		    e[2].iova != a + 2 * step || e[3].iova != a + 3 * step)
			break;
	}
	return k;
}
#endif

/*
 * A batch.  First a look at every eighth entry's word, so that the lines
 * the sender wrote last (each a miss) come in together rather than one
 * compare-and-swap after another; a run's words are 16 to a line, so
 * that asks for each of its lines.  Then one pass: where four entries
 * start a run over a 16-byte group of words (up from the group's first
 * frame, or down from its last), the run is adopted a group at a time in
 * one compare-and-swap each (adopt_run); two neighbours that are the
 * frames of an aligned pair in one (adopt_pair); the rest, and any whose
 * words these refuse, by adopt().  Outcomes are adopt()'s in every case:
 * the entries of pages that cannot be adopted are dropped (a bad address
 * said: adopt_ent), the rest kept in order: how many.
 */
int _jumbo_pool_adopt_ents(struct jumbo_pool *p, struct jumbo_ring_ent *e,
			   unsigned n, const char *fn)
{
	unsigned got = 0, i = 0;
	bool runs = p->shm != NULL;
	unsigned shift = p->head.ph_shift;
	size_t npages = p->head.ph_npages;
	uint32_t *st = p->state;

	if (fn && runs && unlikely(p->detached))
		return _jumbo_detached(p, fn, false);
	for (unsigned j = 0; j < n; j += 8) {
		uint64_t f = e[j].iova >> shift;
		if (f < npages)
			__builtin_prefetch(&st[f], 1);
	}
#if RUN_CAS
	bool quads = runs && run_cas_ok;
	uint64_t page = (uint64_t)1 << shift;
	uint64_t mine = runs ? PAIR2(p->shm->w_alloc) : 0;
#endif
	while (i < n) {
		frame_t f = ent_frame(p, e[i].iova);
#if RUN_CAS
		uint64_t step = e[i + (n - i > 1)].iova - e[i].iova;
		bool up = step == page;
		if (quads && n - i >= 4 && f != NO_FRAME && (up || step == -page) &&
		    (f & 3) == (up ? 0u : 3u) && (size_t)(f | 3) < npages &&
		    e[i + 2].iova == e[i].iova + 2 * step &&
		    e[i + 3].iova == e[i + 1].iova + 2 * step) {
			unsigned k = adopt_run(e + i, n - i, st, npages,
					       f & ~(frame_t)3, step, up, mine);
			if (k) {
				/* Kept, moved down only once one was dropped. */
				if (got != i)
					for (unsigned j = 0; j < k; j++)
						e[got + j] = e[i + j];
				got += k;
				i += k;
				continue;
			}
		}
#endif
		if (PAIR_CAS && runs && n - i >= 2 && f != NO_FRAME &&
		    ent_frame(p, e[i + 1].iova) == (f ^ 1) && adopt_pair(p, f)) {
			e[got++] = e[i];
			e[got++] = e[i + 1];
			i += 2;
			continue;
		}
		if (adopt_ent(p, e[i].iova, f) == 0)
			e[got++] = e[i];
		i++;
	}
	return (int)got;
}

int jumbo_pool_adopt(struct jumbo_pool *p, void *addr)
{
	frame_t f;
	int err = _jumbo_page_of(p, addr, false, &f);

	if (err)
		return err;
	if (p->shm && unlikely(p->detached))
		return _jumbo_detached(p, "jumbo_pool_adopt", false);
	return adopt(p, f);
}

/*
 * Lock held: a ring's repair freed a slot that a dead dequeuer took and
 * never released: the page was on its way to it, adopted or not.  No one
 * else can reach it now: back to the depot.
 */
static void ring_freed(void *pool, const struct jumbo_ring_ent *e)
{
	struct jumbo_pool *p = pool;
	struct jumbo_shm *s = p->shm;
	frame_t f = ent_frame(p, e->iova);

	if (f == NO_FRAME)
		return;
	s->ctl->dirty = 1;
	uint32_t w = fr_load(p, f);
	while ((w & PGS_MASK) == JUMBO_PG_ALLOC && f < s->ctl->carved)
		if (fr_cas(p, f, &w, JUMBO_PG_FREE)) {
			_jumbo_shm_enqueue(s, f);
			s->ctl->out--;
			__atomic_fetch_add(&s->ctl->reclaimed, 1, __ATOMIC_RELAXED);
			break;
		}
	s->ctl->dirty = 0;
}

/*
 * The repair of a ring bound to p, and the return of the pages it frees,
 * in one hold of the depot's lock.  Once the repair gives a slot back,
 * its page is in no ring; a reclaim of the dead process running at the
 * same time (a peer's, or this process's other thread) finds it in none
 * and its sweep returns it, where it may be allocated at once.  Freed
 * after that by frame, it would be freed under its new holder.  Under
 * the lock, a sweep comes wholly before the repair (the page was in the
 * ring for its scan: it became the ring's, and is freed here) or wholly
 * after (the page is back already: nothing of the dead one's to sweep).
 */
int _jumbo_pool_ring_repair(struct jumbo_pool *p, struct jumbo_ring *r,
			    pid_t pid, unsigned *left)
{
	int n;

	if (!p->shm)
		return _jumbo_ring_repair(r, pid, NULL, NULL, left);
	_jumbo_shm_lock(p);
	n = _jumbo_ring_repair(r, pid, ring_freed, p, left);
	_jumbo_shm_unlock(p);
	return n;
}

static void mark_live(void *arg, const struct jumbo_ring_ent *e)
{
	struct jumbo_pool *p = ((void **)arg)[0];
	uint64_t *k = ((void **)arg)[1];
	frame_t f = ent_frame(p, e->iova);

	if (f != NO_FRAME)
		k[f / 64] |= 1ull << (f % 64);
}

/*
 * The rings bound here: repaired for pid (0: every dead handle), then
 * read for the pages in flight, into a bitmap (malloc'd; NULL if there is
 * no memory, and then -ENOMEM: without it no allocated page may go).
 * *left: the dead handles whose repair is not finished (a live handle's
 * intent covers one of their slots too: _jumbo_ring_repair).
 */
static int in_flight(struct jumbo_pool *p, pid_t pid, uint64_t **kp,
		     unsigned *left)
{
	struct jumbo_shm *s = p->shm;
	uint64_t *k = calloc((p->head.ph_npages + 63) / 64, sizeof(*k));
	void *arg[2] = { p, k };

	*kp = k;
	*left = 0;
	if (!k)
		return -ENOMEM;
	pthread_mutex_lock(&s->rings_lock);
	for (unsigned i = 0; i < s->nrings; i++)
		_jumbo_pool_ring_repair(p, s->rings[i], pid, left);
	for (unsigned i = 0; i < s->nrings; i++)
		_jumbo_ring_scan(s->rings[i], mark_live, arg);
	pthread_mutex_unlock(&s->rings_lock);
	return 0;
}

/*
 * Lock not held: slot d, dead (or left: see _jumbo_shm_leave), gives back
 * all it had; pages back.  A ring slot of its that a repair had to leave
 * (a live handle's intent covered it too) keeps d RECLAIMING, pid and
 * all, so that the next jumbo_pool_reclaim() repairs again: freed, d
 * would be no one's to reclaim, and the ring would stay stuck there.
 */
static long reclaim_slot(struct jumbo_pool *p, unsigned d, pid_t pid)
{
	struct jumbo_shm *s = p->shm;
	struct jumbo_shm_ctl *c = s->ctl;
	struct jumbo_shm_proc *pr = &s->procs[d];
	uint64_t *k;
	unsigned left;
	long n = 0;
	int err = in_flight(p, pid, &k, &left);

	if (err)
		return err;
	_jumbo_shm_lock(p);
	uint32_t st = get_state(pr);
	if (st == PROC_DEAD || st == PROC_RECLAIMING) {
		pr->reclaimer = s->me;
		set_state(pr, PROC_RECLAIMING);
		n = (long)sweep(p, d, true, k);
		__atomic_fetch_add(&c->reclaimed, (uint64_t)n, __ATOMIC_RELAXED);
		if (!left) {
			c->reclaims++;
			__atomic_store_n(&pr->pid, 0, __ATOMIC_RELAXED);
			set_state(pr, PROC_FREE);
		}
	}
	_jumbo_shm_unlock(p);
	free(k);
	return n;
}

long jumbo_pool_reclaim(struct jumbo_pool *p)
{
	struct jumbo_shm *s;
	long total = 0;

	if (!p)
		return -EINVAL;
	if (!(s = p->shm))
		return 0; /* one process: nothing to reclaim */
	if (unlikely(p->detached))
		return _jumbo_detached(p, "jumbo_pool_reclaim", false);
	uint64_t before = __atomic_load_n(&s->ctl->reclaimed, __ATOMIC_RELAXED);
	_jumbo_shm_check_peers(p, 0);
	for (unsigned d = 1; d < SHM_SLOTS; d++) {
		struct jumbo_shm_proc *pr = &s->procs[d];
		uint32_t st = get_state(pr);
		/*
		 * RECLAIMING: another reclaim's, under way or killed, or
		 * one that had to leave a ring slot (reclaim_slot); doing
		 * its work again is harmless (every step is idempotent).
		 */
		if (d == s->me || (st != PROC_DEAD && st != PROC_RECLAIMING))
			continue;
		/*
		 * The rings' records of a dead process are repaired by its
		 * pid, if that means the same here; else by "every dead
		 * handle" (0), which finds a foreign one's only if its pid
		 * names no process here: its taken slots may then stay
		 * taken (their pages in flight, kept), never the reverse,
		 * a live handle here with the same number repaired.
		 */
		pid_t pid = __atomic_load_n(&pr->pid, __ATOMIC_RELAXED);
		uint64_t ns = __atomic_load_n(&pr->pidns, __ATOMIC_RELAXED);
		if (ns && s->pidns && ns != s->pidns)
			pid = 0;
		long n = reclaim_slot(p, d, pid);
		if (n < 0)
			return n;
	}
	/* Relaxed: our own sweeps' sums, and any a peer made meanwhile. */
	total = (long)(__atomic_load_n(&s->ctl->reclaimed, __ATOMIC_RELAXED) -
		       before);
	return total;
}

/* Lock held: the pages slot d owns, allocated (held or not). */
static uint64_t owned(struct jumbo_pool *p, unsigned d)
{
	struct jumbo_shm *s = p->shm;
	uint64_t carved = s->ctl->carved < s->cap ? s->ctl->carved : s->cap, n = 0;

	for (frame_t f = 0; f < carved; f++) {
		uint32_t w = fr_load(p, f);
		n += fr_owner_of(w) == d && (w & PGS_MASK) == JUMBO_PG_ALLOC;
	}
	return n;
}

/*
 * The process leaves the pool (destroy).  Its caches are back already
 * (any page still cached goes back now); the pages it still owns are not
 * taken back here.  Some may be in flight to a live process, in a ring
 * this process has unbound or closed first (as jumbo_ring(3) has it), or
 * passed by a socket and not yet adopted: swept now, they would go to the
 * depot, be allocated again and be adopted by their receiver as well,
 * one page with two holders.  So a process that owns none frees its slot
 * at once, and one that still owns some leaves it DEAD, as a death would:
 * their receivers adopt them meanwhile, and the next jumbo_pool_reclaim()
 * (anyone's: the reclaimer's bound rings decide what is in flight) gives
 * back the rest.  pid 0 there: this process may live on, and its ring
 * handles with it, so its records are not a dead one's (only those of
 * processes that are gone are: _jumbo_ring_repair's "pid 0").  Its lock
 * goes only then, once the slot says FREE or DEAD: a peer that sees it
 * gone before finds the slot taken care of.  A fork child's handle
 * leaves nothing: the slot is its parent's, its lock closed at the fork.
 */
void _jumbo_shm_leave(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;
	uint64_t n = 0;

	if (!p->detached && s->pid == getpid()) {
		struct jumbo_shm_proc *pr = &s->procs[s->me];
		_jumbo_shm_lock(p);
		sweep(p, s->me, false, NULL);
		n = owned(p, s->me);
		__atomic_store_n(&pr->pid, 0, __ATOMIC_RELAXED);
		set_state(pr, n ? PROC_DEAD : PROC_FREE);
		_jumbo_shm_unlock(p);
	}
	if (s->lock_fd >= 0) {
		close(s->lock_fd);
		s->lock_fd = -1;
	}
	if (n)
		_jumbo_log(JUMBO_LOG_INFO,
			   "jumbo_pool_destroy: pool \"%s\": %llu pages this "
			   "process still owns stay allocated, for their "
			   "receivers to adopt or jumbo_pool_reclaim() to "
			   "give back", p->name, (unsigned long long)n);
	pthread_mutex_lock(&s->rings_lock);
	for (unsigned i = 0; i < s->nrings; i++)
		_jumbo_ring_unbind(s->rings[i]);
	s->nrings = 0;
	pthread_mutex_unlock(&s->rings_lock);
	s->me = 0;
}

/*
 * In a fork child (only thread, handle just detached): the child's copy
 * of the lock's description goes, or the parent's death would not drop
 * the lock while the child lives, and the parent would never be taken for
 * dead.  Closing one reference leaves the parent's lock as it is.
 */
void _jumbo_shm_forked(struct jumbo_pool *p)
{
	struct jumbo_shm *s = p->shm;

	if (s->lock_fd >= 0) {
		close(s->lock_fd);
		s->lock_fd = -1;
	}
}
