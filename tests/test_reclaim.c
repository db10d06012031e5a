/*
 * Reclaim of a dead process's pages in a named shared pool (issue 12): a
 * kill campaign.  Each round, W worker processes attach one pool and
 * allocate, free, flush and reclaim, and pass pages to each other through
 * MPMC rings bound to the pool, keeping an ownership map in shared memory
 * (map[frame] = who holds the page).  The parent SIGKILLs one at a random
 * instant (inside the depot's lock, with pages cached, with pages in flight
 * in the rings, in a dequeue or a reclaim of its own), calls
 * jumbo_pool_reclaim(), stops the survivors, takes over what was in flight
 * to the dead one, and checks the books: a page is allocated exactly when
 * the map says a live process holds it, and the pool's count in use is
 * the map's.  Then the survivors free all and leave, and every page of the
 * pool can be allocated again, once each.
 *
 *   test_reclaim [seed [rounds]]     rounds: default 200 (CTest), >= 1000
 *                                    on demand (ctest -L long)
 */
#include "check.h"
#include "test_named.h"
#include "test_ring_wb.h"

#include <jumbo/jumbo.h>
#include <jumbo/ring.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>

#define PAGES 512
#define W 3
#define CACHE 16
#define SLOTS 64
#define PARENT (W + 1)
#define FUTEX_OWNER_DIED 0x40000000u

enum { RUN, STOP_SENDING, DRAIN, LEAVE };

/*
 * Why a drain stopped: its last dequeue moved nothing (what errno said
 * then: 0 when the ring just had nothing ready at its head), or the
 * holder's array was full, or it did as many dequeues as it was told.
 */
struct drain_end {
	int err;
	bool full;
	bool counted;
	unsigned took;
};

/* Shared by the parent and the workers of a round. */
struct shared {
	int phase;
	int started, acked, drained;
	unsigned char dead;       /* the killed worker's map mark, once killed */
	uint64_t errors;
	struct drain_end end[W];  /* each survivor's last drain */
	unsigned char map[PAGES]; /* 0 nobody, k + 1 worker k, PARENT */
};

static struct shared *S;
static void *ring_mem[W];
static size_t ring_len;
static char name[32];

static void bad(const char *what, uint64_t f)
{
	fprintf(stderr, "pid %d: %s (frame %llu)\n", (int)getpid(), what,
		(unsigned long long)f);
	__atomic_fetch_add(&S->errors, 1, __ATOMIC_RELAXED);
}

static int phase(void)
{
	return __atomic_load_n(&S->phase, __ATOMIC_ACQUIRE);
}

/* The page becomes who's: nobody may have held it. */
static void take(uint64_t f, unsigned char who)
{
	unsigned char was;

	if (f >= PAGES)
		bad("frame outside the pool", f);
	else if ((was = __atomic_exchange_n(&S->map[f], who,
					    __ATOMIC_RELAXED)) != 0 &&
		 /* What the dead one held is no one's: reclaimed. */
		 was != __atomic_load_n(&S->dead, __ATOMIC_RELAXED)) {
		char why[64];
		snprintf(why, sizeof(why), "a page held twice (by %u, then %u)",
			 was, who);
		bad(why, f);
	}
}

static void give_up(uint64_t f)
{
	__atomic_store_n(&S->map[f], 0, __ATOMIC_RELAXED);
}

struct held {
	void *pg[PAGES];
	unsigned n;
};

static struct drain_end drain_ring(struct jumbo_pool *p,
				   struct jumbo_ring *r, struct held *h,
				   unsigned char who, unsigned max)
{
	struct jumbo_ring_ent e[16];
	struct drain_end end = { 0, false, false, 0 };
	unsigned n;

	for (;; max--) {
		if (max == 0) {
			end.counted = true;
			break;
		}
		if (h->n + 16 > PAGES) {
			end.full = true;
			break;
		}
		errno = 0;
		if ((n = jumbo_ring_dequeue(r, e, 16)) == 0) {
			end.err = errno;
			break;
		}
		for (unsigned i = 0; i < n; i++) {
			take(e[i].iova >> 12, who);
			h->pg[h->n++] = jumbo_pool_iova_to_addr(p, e[i].iova);
		}
		end.took += n;
	}
	return end;
}

/* On stderr: how a drain ended, and the ring it left stuck. */
static void drain_dump(const char *what, void *m, struct drain_end end)
{
	fprintf(stderr, "%s: the drain took %u and stopped: %s (errno %d: "
		"%s)\n", what, end.took, end.full ? "array full" :
		end.counted ? "told to" : "a dequeue moved nothing", end.err,
		strerror(end.err));
	ring_dump(what, m);
}

static void worker(unsigned me, uint64_t seed)
{
	struct jumbo_pool *p = jumbo_pool_attach(name, 0);
	struct jumbo_ring *r[W];
	static struct held h;
	uint64_t s = seed;

	if (!p)
		_exit(2);
	for (unsigned k = 0; k < W; k++)
		if (!(r[k] = jumbo_ring_attach_mem(ring_mem[k], ring_len)) ||
		    jumbo_ring_bind(r[k], p) != 0)
			_exit(3);
	__atomic_fetch_add(&S->started, 1, __ATOMIC_RELEASE);
	while (phase() == RUN) {
		unsigned what = (unsigned)(rnd(&s) % 16), k = 1 + rnd(&s) % 8;
		if (me == 0 && (what & 1) && h.n + 8 <= PAGES) {
			/*
			 * Worker 0 visits the depot's lock in every other
			 * step (a refill and two flushes), so that some
			 * deaths happen inside it.
			 */
			void **v = h.pg + h.n;
			unsigned got = jumbo_pool_alloc_bulk(p, v, 8);
			for (unsigned i = 0; i < got; i++)
				take(jumbo_pool_iova(p, v[i]) >> 12, me + 1);
			jumbo_pool_flush_cache(p);
			for (unsigned i = 0; i < got; i++)
				give_up(jumbo_pool_iova(p, v[i]) >> 12);
			if (jumbo_pool_free_bulk(p, v, got) != 0)
				bad("free_bulk", 0);
			jumbo_pool_flush_cache(p);
		} else if (what < 6 && h.n + k <= PAGES) {
			unsigned got = jumbo_pool_alloc_bulk(p, h.pg + h.n, k);
			for (unsigned i = 0; i < got; i++)
				take(jumbo_pool_iova(p, h.pg[h.n + i]) >> 12, me + 1);
			h.n += got;
		} else if (what < 10 && h.n) {
			struct jumbo_ring_ent e[8];
			unsigned to = (unsigned)(rnd(&s) % W), sent;
			k = k < h.n ? k : h.n;
			/* The map first: dead between, the page is no one's. */
			for (unsigned i = 0; i < k; i++) {
				e[i].iova = jumbo_pool_iova(p, h.pg[h.n - 1 - i]);
				e[i].len = 4096;
				e[i].tag = me;
				give_up(e[i].iova >> 12);
			}
			sent = jumbo_ring_enqueue(r[to], e, k);
			for (unsigned i = sent; i < k; i++)
				take(e[i].iova >> 12, me + 1);
			h.n -= sent;
			/* Unsent ones were the last i's: keep them in order. */
			for (unsigned i = sent, j = 0; i < k; i++, j++)
				h.pg[h.n - 1 - j] =
					jumbo_pool_iova_to_addr(p, e[i].iova);
		} else if (what < 13 && h.n) {
			k = k < h.n ? k : h.n;
			for (unsigned i = 0; i < k; i++) {
				void *pg = h.pg[--h.n];
				give_up(jumbo_pool_iova(p, pg) >> 12);
				int err = jumbo_pool_free(p, pg);
				if (err)
					bad(strerror(-err),
					    jumbo_pool_iova(p, pg) >> 12);
			}
		} else if (what < 15) {
			drain_ring(p, r[me], &h, me + 1, 2);
		} else if (k == 1) {
			if (jumbo_pool_reclaim(p) < 0)
				bad("jumbo_pool_reclaim failed", 0);
		} else {
			jumbo_pool_flush_cache(p);
		}
	}
	/* Stopped: nothing is sent from now on. */
	__atomic_fetch_add(&S->acked, 1, __ATOMIC_RELEASE);
	while (phase() < DRAIN)
		sched_yield();
	S->end[me] = drain_ring(p, r[me], &h, me + 1, UINT32_MAX);
	__atomic_fetch_add(&S->drained, 1, __ATOMIC_RELEASE);
	while (phase() < LEAVE)
		sched_yield();
	while (h.n) {
		void *pg = h.pg[--h.n];
		give_up(jumbo_pool_iova(p, pg) >> 12);
		if (jumbo_pool_free(p, pg) != 0)
			bad("free at the end", jumbo_pool_iova(p, pg) >> 12);
	}
	for (unsigned k = 0; k < W; k++)
		jumbo_ring_close(r[k]);
	jumbo_pool_destroy(p);
	_exit(0);
}

static void wait_for(int *count, int n)
{
	while (__atomic_load_n(count, __ATOMIC_ACQUIRE) < n)
		sched_yield();
}

/* Did the dead process hold the depot's robust mutex?  (A diagnostic:
 * the kernel marks the lock word of a dead owner, glibc's layout.) */
static bool died_in_lock(int fd)
{
	uint32_t v = 0;
	if (pread(fd, &v, sizeof(v), (off_t)PAGES << 12) != sizeof(v))
		return false;
	return v & FUTEX_OWNER_DIED;
}

/*
 * The first fields of the segment's control page (src/pool/shm_int.h),
 * for a white-box death: the robust mutex, who holds it, the dirty bit,
 * the depot queue's positions.
 */
struct ctl_head {
	pthread_mutex_t lock;
	uint32_t lock_slot, dirty;
	uint64_t head, tail;
};

/*
 * A process that dies inside the depot's lock in the middle of changing
 * the queue: it takes the lock itself, marks the queue dirty, throws its
 * entries away (as a get would before stamping them) and is killed, with
 * pages in its cache and pages allocated.  The next locker rebuilds the
 * queue from the words, the reclaim gives back what the process held:
 * every page can be allocated again.
 */
static void death_in_lock(struct jumbo_pool *p)
{
	static void *all[PAGES + 1];
	pid_t c = fork();

	REQUIRE(c >= 0);
	if (c == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		void *v[CACHE];
		if (!q)
			_exit(2);
		unsigned n = jumbo_pool_alloc_bulk(q, v, CACHE);
		jumbo_pool_free_bulk(q, v, n / 2); /* cached */
		struct ctl_head *h = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					  MAP_SHARED, jumbo_pool_fd(q),
					  (off_t)PAGES << 12);
		if (h == MAP_FAILED || pthread_mutex_lock(&h->lock) != 0)
			_exit(3);
		h->dirty = 1;
		h->head = h->tail; /* the queue's pages, out and not stamped */
		raise(SIGKILL);
	}
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	CHECK(died_in_lock(jumbo_pool_fd(p)));
	CHECK(jumbo_pool_reclaim(p) >= CACHE / 2);
	unsigned got = jumbo_pool_alloc_bulk(p, all, PAGES + 1);
	CHECK_EQ(got, PAGES);
	CHECK_EQ(jumbo_pool_free_bulk(p, all, got), 0);
	printf("death in the lock, queue half changed: rebuilt, %u pages "
	       "back\n", got);
}

/*
 * The rule for pages passed by another channel than a bound ring (here a
 * pipe): they stay the sender's until adopted.  A page adopted before the
 * sender dies survives its reclaim; one not adopted is reclaimed, and its
 * adopt then fails with EOWNERDEAD, its free with EALREADY.
 */
static void adopt_rule(struct jumbo_pool *p)
{
	uint64_t io[2];
	int fds[2];

	REQUIRE(pipe(fds) == 0);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		void *a = q ? jumbo_pool_alloc(q) : NULL, *b = q ? jumbo_pool_alloc(q) : NULL;
		if (!a || !b)
			_exit(2);
		io[0] = jumbo_pool_iova(q, a);
		io[1] = jumbo_pool_iova(q, b);
		if (write(fds[1], io, sizeof(io)) != sizeof(io))
			_exit(3);
		pause();
		_exit(4);
	}
	close(fds[1]);
	REQUIRE(read(fds[0], io, sizeof(io)) == sizeof(io));
	close(fds[0]);
	void *a = jumbo_pool_iova_to_addr(p, io[0]);
	void *b = jumbo_pool_iova_to_addr(p, io[1]);
	REQUIRE(a && b);
	CHECK_EQ(jumbo_pool_adopt(p, a), 0);
	kill(c, SIGKILL);
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(jumbo_pool_reclaim(p) >= 1);
	CHECK_EQ(jumbo_pool_adopt(p, b), -EOWNERDEAD);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, a), NULL, NULL),
		 JUMBO_PG_ALLOC);
	CHECK_EQ(jumbo_pool_free(p, a), 0);
	CHECK_EQ(jumbo_pool_free(p, b), -EALREADY);
	CHECK_EQ(jumbo_pool_adopt(p, (char *)a + (PAGES << 12)), -EFAULT);
	printf("adopt: an adopted page survives its sender, one not adopted "
	       "is reclaimed (EOWNERDEAD)\n");
}

/* Is pid asleep in the kernel on a futex (a lock)?  From /proc. */
static bool on_futex(pid_t pid)
{
	char path[64], buf[256] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	if ((fd = open(path, O_RDONLY)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		if (strstr(buf, "futex"))
			return true;
		if (n > 1 || buf[0] != '0')
			return false; /* asleep elsewhere, or running */
	}
	/* No wchan (kernel config): asleep at all will do. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	char *q = strrchr(buf, ')');
	return q && q[1] == ' ' && q[2] == 'S';
}

/*
 * Two reclaims of one dead process at once, one of them paused right
 * after its repair of a ring gave back a slot the dead one had taken
 * (the slot's page no longer in any ring, not yet freed).  The other
 * reclaim's sweep must not hand that page out while the first still
 * means to free it: the first would then free a page a live process
 * holds (found by the kill campaign, under ThreadSanitizer's timing).
 *
 * D sends X on ring R and dies; a consumer that never released the slot
 * is made white-box (head moved past it, the slot left "published": the
 * layout of src/ring/ring.c, checked).  H holds the depot's lock (as in
 * death_in_lock), so that P's reclaim stops at its first wait for it;
 * there P is frozen (SIGSTOP), H lets go, and we reclaim and allocate
 * every page, X too.  Then P goes on: X must still be ours.
 */
static void repair_vs_sweep(struct jumbo_pool *p)
{
	struct jumbo_ring *r = jumbo_ring_init(ring_mem[0], ring_len, SLOTS,
					       JUMBO_RING_MPMC);
	char *rm = ring_mem[0];
	uint64_t *tail = (uint64_t *)(rm + 64), *head = (uint64_t *)(rm + 128);
	/* MPMC's sequence words: the ring's last SLOTS * 4 bytes (whole
	 * lines: SLOTS is a multiple of 16). */
	uint32_t *seq0 = (uint32_t *)(rm + jumbo_ring_memsize(SLOTS) -
				      SLOTS * 4);
	int to_d[2], from_d[2], to_h[2], from_h[2], to_p[2], from_p[2];
	uint64_t iova;
	char c = 0;
	int ws;

	REQUIRE(r && jumbo_ring_bind(r, p) == 0);
	REQUIRE(pipe(to_d) == 0 && pipe(from_d) == 0 && pipe(to_h) == 0 &&
		pipe(from_h) == 0 && pipe(to_p) == 0 && pipe(from_p) == 0);
	pid_t d = fork();
	REQUIRE(d >= 0);
	if (d == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		struct jumbo_ring *rd = jumbo_ring_attach_mem(rm, ring_len);
		void *x = q ? jumbo_pool_alloc(q) : NULL;
		if (!x || !rd || jumbo_ring_bind(rd, q) != 0)
			_exit(2);
		struct jumbo_ring_ent e = { jumbo_pool_iova(q, x), 4096, 0 };
		if (jumbo_ring_enqueue(rd, &e, 1) != 1 ||
		    write(from_d[1], &e.iova, sizeof(e.iova)) != sizeof(e.iova))
			_exit(3);
		pause();
		_exit(4);
	}
	REQUIRE(read(from_d[0], &iova, sizeof(iova)) == sizeof(iova));
	REQUIRE(*tail == 1 && *head == 0 && *seq0 == 2); /* the layout */
	__atomic_store_n(head, 1, __ATOMIC_RELEASE); /* taken, never released */
	kill(d, SIGKILL);
	REQUIRE(waitpid(d, &ws, 0) == d);

	/* D is DEAD, as a look at the peers would make it (white-box: the
	 * process records after the control page, state the second word). */
	off_t procs = ((off_t)PAGES << 12) + 4096;
	for (unsigned k = 1; k < 255; k++) {
		int32_t rec[2];
		REQUIRE(pread(jumbo_pool_fd(p), rec, 8, procs + 64 * k) == 8);
		if (rec[0] == (int32_t)d) {
			int32_t dead = 2; /* PROC_DEAD */
			REQUIRE(pwrite(jumbo_pool_fd(p), &dead, 4,
				       procs + 64 * k + 4) == 4);
			break;
		}
	}

	pid_t pp = fork();
	REQUIRE(pp >= 0);
	if (pp == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		struct jumbo_ring *rp = jumbo_ring_attach_mem(rm, ring_len);
		if (!q || !rp || jumbo_ring_bind(rp, q) != 0)
			_exit(2);
		if (write(from_p[1], &c, 1) != 1 || read(to_p[0], &c, 1) != 1)
			_exit(3);
		if (jumbo_pool_reclaim(q) < 0)
			_exit(4);
		jumbo_ring_close(rp);
		jumbo_pool_destroy(q);
		_exit(0);
	}
	REQUIRE(read(from_p[0], &c, 1) == 1);

	pid_t h = fork();
	REQUIRE(h >= 0);
	if (h == 0) {
		struct ctl_head *ch = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					   MAP_SHARED, jumbo_pool_fd(p),
					   (off_t)PAGES << 12);
		if (ch == MAP_FAILED || pthread_mutex_lock(&ch->lock) != 0 ||
		    write(from_h[1], &c, 1) != 1 || read(to_h[0], &c, 1) != 1 ||
		    pthread_mutex_unlock(&ch->lock) != 0)
			_exit(2);
		_exit(0);
	}
	REQUIRE(read(from_h[0], &c, 1) == 1);

	/* P reclaims until it waits for the lock; there it is frozen. */
	REQUIRE(write(to_p[1], &c, 1) == 1);
	while (!on_futex(pp))
		sched_yield();
	bool repaired = __atomic_load_n(seq0, __ATOMIC_ACQUIRE) != 2;
	kill(pp, SIGSTOP);
	REQUIRE(waitpid(pp, &ws, WUNTRACED) == pp);
	REQUIRE(write(to_h[1], &c, 1) == 1);
	REQUIRE(waitpid(h, &ws, 0) == h);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

	/* We reclaim D and take every page: X is ours. */
	CHECK(jumbo_pool_reclaim(p) >= 1);
	static void *all[PAGES + 1];
	unsigned got = jumbo_pool_alloc_bulk(p, all, PAGES + 1);
	CHECK_EQ(got, PAGES);
	void *x = jumbo_pool_iova_to_addr(p, iova);
	REQUIRE(x);
	CHECK_EQ(jumbo_page_state(jumbo_pool_page(p, x), NULL, NULL),
		 JUMBO_PG_ALLOC);

	/* P goes on: its reclaim must leave our pages alone. */
	kill(pp, SIGCONT);
	REQUIRE(waitpid(pp, &ws, 0) == pp);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	enum jumbo_page_state st = jumbo_page_state(jumbo_pool_page(p, x),
						     NULL, NULL);
	CHECK_EQ(st, JUMBO_PG_ALLOC);
	if (st != JUMBO_PG_ALLOC)
		fprintf(stderr, "repair_vs_sweep: page %#llx freed under its "
			"holder (the ring's slot was %s before the lock)\n",
			(unsigned long long)iova,
			repaired ? "given back" : "still taken");
	struct jumbo_stats ps;
	CHECK_EQ(jumbo_pool_stats(p, &ps), 0);
	CHECK_EQ(ps.in_use, got);
	if (st == JUMBO_PG_ALLOC)
		CHECK_EQ(jumbo_pool_free_bulk(p, all, got), 0);
	else
		for (unsigned i = 0; i < got; i++)
			if (all[i] != x)
				jumbo_pool_free(p, all[i]);
	jumbo_ring_close(r);
	int *fds[] = { to_d, from_d, to_h, from_h, to_p, from_p };
	for (unsigned i = 0; i < 6; i++)
		close(fds[i][0]), close(fds[i][1]);
	if (st == JUMBO_PG_ALLOC)
		printf("two reclaims at once, one paused at the depot's lock "
		       "in a ring's repair: the dead one's page went out "
		       "once\n");
}

/*
 * A producer that leaves the pool (destroy, alive) while pages it sent
 * are still in a bound SPSC ring, and its consumer in another process is
 * frozen between two dequeues.  The producer unbinds its ring first, as
 * jumbo_ring(3) says to (keep: it leaves it bound, which destroy then
 * unbinds).  The pages in flight stay the producer's until dequeued: we
 * then allocate every page we can, and none of those may be one still in
 * the ring; the consumer, let go, must receive every page that was sent
 * and free each once, and so must we ours.  A leave that sweeps what it
 * owns back to the depot hands the pages in flight out again (to us),
 * and the consumer's dequeue adopts them from under us (issue 12: the
 * bench's "jumbo_pool_free_bulk failed").
 */
#define LEAVE_SENT 8
#define LEAVE_TAKEN 3

static void leave_in_flight(struct jumbo_pool *p, bool keep)
{
	struct jumbo_ring *r = jumbo_ring_init(ring_mem[0], ring_len, SLOTS,
					       JUMBO_RING_SPSC);
	char *rm = ring_mem[0];
	int from_p[2], to_p[2], from_c[2];
	uint64_t sent[LEAVE_SENT], got_c[LEAVE_SENT];
	char c = 0;
	int ws;

	REQUIRE(r);
	REQUIRE(pipe(from_p) == 0 && pipe(to_p) == 0 && pipe(from_c) == 0);

	/* The producer: sends, says what, and leaves when told. */
	pid_t pr = fork();
	REQUIRE(pr >= 0);
	if (pr == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		struct jumbo_ring *rq = jumbo_ring_attach_mem(rm, ring_len);
		struct jumbo_ring_ent e[LEAVE_SENT];
		if (!q || !rq || jumbo_ring_bind(rq, q) != 0)
			_exit(2);
		for (unsigned i = 0; i < LEAVE_SENT; i++) {
			void *pg = jumbo_pool_alloc(q);
			if (!pg)
				_exit(3);
			e[i] = (struct jumbo_ring_ent){ jumbo_pool_iova(q, pg),
							4096, 0 };
			sent[i] = e[i].iova;
		}
		if (jumbo_ring_enqueue(rq, e, LEAVE_SENT) != LEAVE_SENT ||
		    write(from_p[1], sent, sizeof(sent)) != sizeof(sent) ||
		    read(to_p[0], &c, 1) != 1)
			_exit(4);
		if (!keep && jumbo_ring_bind(rq, NULL) != 0)
			_exit(5);
		if (jumbo_pool_destroy(q) != 0)
			_exit(6);
		_exit(0);
	}
	REQUIRE(read(from_p[0], sent, sizeof(sent)) == sizeof(sent));

	/*
	 * The consumer: takes a few, freezes itself with the rest in the
	 * ring, then takes the rest and frees all it got.  It writes what
	 * it got, and whether its frees went well.
	 */
	pid_t cr = fork();
	REQUIRE(cr >= 0);
	if (cr == 0) {
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		struct jumbo_ring *rq = jumbo_ring_attach_mem(rm, ring_len);
		struct jumbo_ring_ent e[LEAVE_SENT];
		unsigned n = 0, k;
		if (!q || !rq || jumbo_ring_bind(rq, q) != 0)
			_exit(2);
		while (n < LEAVE_TAKEN)
			n += jumbo_ring_dequeue(rq, e + n, LEAVE_TAKEN - n);
		raise(SIGSTOP);
		/* The rest: all there is (the producer sent all before). */
		while ((k = jumbo_ring_dequeue(rq, e + n, LEAVE_SENT - n)) != 0)
			n += k;
		for (unsigned i = 0; i < n; i++)
			got_c[i] = e[i].iova;
		uint64_t bad_frees = 0;
		for (unsigned i = 0; i < n; i++)
			bad_frees += jumbo_pool_free(q, jumbo_pool_iova_to_addr(
							q, e[i].iova)) != 0;
		if (write(from_c[1], &n, sizeof(n)) != sizeof(n) ||
		    write(from_c[1], got_c, n * sizeof(got_c[0])) !=
			    (ssize_t)(n * sizeof(got_c[0])) ||
		    write(from_c[1], &bad_frees, sizeof(bad_frees)) !=
			    sizeof(bad_frees))
			_exit(3);
		jumbo_ring_close(rq);
		jumbo_pool_destroy(q);
		_exit(0);
	}
	REQUIRE(waitpid(cr, &ws, WUNTRACED) == cr && WIFSTOPPED(ws));
	CHECK_EQ(jumbo_ring_count(r), LEAVE_SENT - LEAVE_TAKEN);

	/* The producer leaves, alive, with pages in flight. */
	REQUIRE(write(to_p[1], &c, 1) == 1);
	REQUIRE(waitpid(pr, &ws, 0) == pr);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

	/* We take every page we can: none may be in the ring. */
	static void *all[PAGES + 1];
	unsigned got = jumbo_pool_alloc_bulk(p, all, PAGES + 1), twice = 0;
	for (unsigned i = 0; i < got; i++)
		for (unsigned j = LEAVE_TAKEN; j < LEAVE_SENT; j++)
			twice += jumbo_pool_iova(p, all[i]) == sent[j];
	CHECK_EQ(twice, 0);
	CHECK_EQ(got, PAGES - LEAVE_SENT);

	/* The consumer goes on: it gets every page sent, and frees them. */
	kill(cr, SIGCONT);
	unsigned n = 0;
	uint64_t bad_frees = ~0ull;
	REQUIRE(read(from_c[0], &n, sizeof(n)) == sizeof(n) && n <= LEAVE_SENT);
	REQUIRE(read(from_c[0], got_c, n * sizeof(got_c[0])) ==
		(ssize_t)(n * sizeof(got_c[0])));
	REQUIRE(read(from_c[0], &bad_frees, sizeof(bad_frees)) ==
		sizeof(bad_frees));
	REQUIRE(waitpid(cr, &ws, 0) == cr);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(n, LEAVE_SENT);
	CHECK_EQ(bad_frees, 0);
	for (unsigned i = 0; i < n && i < LEAVE_SENT; i++)
		CHECK_EQ(got_c[i], sent[i]);
	CHECK_EQ(jumbo_pool_free_bulk(p, all, got), 0);

	/* The producer's slot goes, with nothing of its left; every page
	 * can be had again. */
	CHECK(jumbo_pool_reclaim(p) >= 0);
	got = jumbo_pool_alloc_bulk(p, all, PAGES + 1);
	CHECK_EQ(got, PAGES);
	CHECK_EQ(jumbo_pool_free_bulk(p, all, got), 0);
	jumbo_ring_close(r);
	int *fds[] = { from_p, to_p, from_c };
	for (unsigned i = 0; i < 3; i++)
		close(fds[i][0]), close(fds[i][1]);
	if (twice == 0 && n == LEAVE_SENT && bad_frees == 0)
		printf("a producer left with pages in a ring it had %s, its "
		       "consumer frozen: every page went to the consumer, "
		       "none out twice\n", keep ? "kept bound" : "unbound");
}

static void cleanup(void)
{
	jumbo_pool_unlink(name); /* the creator's destroy did, unless it failed */
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("JUMBO_STAT", "0", 1); /* no statistics thread: see test_shpool */
	uint64_t seed = test_seed(argc, argv, "reclaim");
	unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 200;
	uint64_t s = seed;
	unsigned in_lock = 0, in_flight = 0;
	long reclaimed = 0;

	snprintf(name, sizeof(name), "reclaim-test-%d", (int)getpid());
	struct jumbo_pool *p = test_named_pool(name, PAGES, 64, CACHE, false);
	atexit(cleanup);
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(S != MAP_FAILED);
	ring_len = jumbo_ring_memsize(SLOTS);
	for (unsigned k = 0; k < W; k++) {
		ring_mem[k] = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		REQUIRE(ring_mem[k] != MAP_FAILED);
	}

	/* Every page carved first, so that the queue holds some. */
	static void *carve[PAGES];
	REQUIRE(jumbo_pool_alloc_bulk(p, carve, PAGES) == PAGES);
	REQUIRE(jumbo_pool_free_bulk(p, carve, PAGES) == 0);
	jumbo_pool_flush_cache(p);
	death_in_lock(p);
	repair_vs_sweep(p);
	adopt_rule(p);
	leave_in_flight(p, false);
	leave_in_flight(p, true);

	unsigned done = 0;
	for (unsigned round = 0; round < rounds && !check_failures;
	     round++, done++) {
		struct jumbo_ring *r[W];
		pid_t pid[W];
		static struct held mine;

		memset(S, 0, sizeof(*S));
		for (unsigned k = 0; k < W; k++) {
			REQUIRE((r[k] = jumbo_ring_init(ring_mem[k], ring_len,
							SLOTS, JUMBO_RING_MPMC)));
			REQUIRE(jumbo_ring_bind(r[k], p) == 0);
		}
		for (unsigned k = 0; k < W; k++) {
			REQUIRE((pid[k] = fork()) >= 0);
			if (pid[k] == 0)
				worker(k, seed * 1000003 + round * W + k);
		}
		wait_for(&S->started, W);
		struct timespec t = { 0, (long)(rnd(&s) % 2000000) };
		nanosleep(&t, NULL);
		unsigned d = (unsigned)(rnd(&s) % W);
		int ws;
		__atomic_store_n(&S->dead, d + 1, __ATOMIC_RELAXED);
		/* The others stopped first, so that none takes the lock
		 * before we look whether the dead one held it. */
		for (unsigned k = 0; k < W; k++)
			if (k != d)
				kill(pid[k], SIGSTOP);
		for (unsigned k = 0; k < W; k++)
			if (k != d)
				REQUIRE(waitpid(pid[k], &ws, WUNTRACED) == pid[k]);
		kill(pid[d], SIGKILL);
		REQUIRE(waitpid(pid[d], &ws, 0) == pid[d]);
		CHECK(WIFSIGNALED(ws));
		in_lock += died_in_lock(jumbo_pool_fd(p));
		for (unsigned k = 0; k < W; k++)
			if (k != d)
				kill(pid[k], SIGCONT);
		for (unsigned k = 0; k < W; k++)
			in_flight += k != d && jumbo_ring_count(r[k]) != 0;
		/* What the dead one held is no one's. */
		for (unsigned f = 0; f < PAGES; f++) {
			unsigned char was = d + 1;
			__atomic_compare_exchange_n(&S->map[f], &was, 0, false,
						    __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
		}

		long n = jumbo_pool_reclaim(p);
		CHECK(n >= 0);
		reclaimed += n > 0 ? n : 0;

		/*
		 * The survivors stop, then empty their inboxes; we take the
		 * dead one's.  Before, a reclaim once more: the one above
		 * ran while they were live, maybe (continued, not yet run
		 * again) between an intent and a compare-and-swap that the
		 * dead one's beat, and then left the dead one's slot, which
		 * no one could tell from theirs (shielded_slot).  Out of
		 * their calls now, they cover nothing.
		 */
		__atomic_store_n(&S->phase, STOP_SENDING, __ATOMIC_RELEASE);
		wait_for(&S->acked, W - 1);
		n = jumbo_pool_reclaim(p);
		CHECK(n >= 0);
		reclaimed += n > 0 ? n : 0;
		__atomic_store_n(&S->phase, DRAIN, __ATOMIC_RELEASE);
		wait_for(&S->drained, W - 1);
		S->end[d] = drain_ring(p, r[d], &mine, PARENT, UINT32_MAX);
		for (unsigned k = 0; k < W; k++) {
			CHECK_EQ(jumbo_ring_count(r[k]), 0);
			if (jumbo_ring_count(r[k]) != 0) {
				char what[64];
				snprintf(what, sizeof(what), "round %u: ring %u "
					 "(%s)", round, k, k == d ?
					 "the dead one's, drained by us" :
					 "a survivor's");
				drain_dump(what, ring_mem[k], S->end[k]);
			}
		}

		/* The books: allocated exactly when a live process holds it. */
		unsigned held = 0, wrong = 0;
		for (unsigned f = 0; f < PAGES; f++) {
			void *a = jumbo_pool_iova_to_addr(p, (vm_paddr_t)f << 12);
			enum jumbo_page_state st =
				jumbo_page_state(jumbo_pool_page(p, a), NULL, NULL);
			bool in_use = st == JUMBO_PG_ALLOC || st == JUMBO_PG_HELD;
			bool owned = __atomic_load_n(&S->map[f], __ATOMIC_RELAXED) != 0;
			held += owned;
			if (in_use != owned && wrong++ < 4) {
				/* The raw word, for its owner's slot (layout of
				 * src/pool/shm_int.h: ctl, procs, state). */
				uint32_t w = 0;
				off_t at = ((off_t)PAGES << 12) + 4096 + 16384 + 4 * f;
				if (pread(jumbo_pool_fd(p), &w, 4, at) != 4)
					w = 0;
				fprintf(stderr, "round %u: frame %u is %s (word %#x), "
					"held by %u; workers %d %d %d, dead %u\n",
					round, f, in_use ? "in use" : "free", w,
					S->map[f], (int)pid[0], (int)pid[1],
					(int)pid[2], d);
				for (unsigned k = 1; k < 8; k++) {
					int32_t rec[4];
					pread(jumbo_pool_fd(p), rec, 16,
					      ((off_t)PAGES << 12) + 4096 + 64 * k);
					fprintf(stderr, "  slot %u: pid %d state %d\n",
						k, rec[0], rec[1]);
				}
			}
		}
		CHECK_EQ(wrong, 0);
		struct jumbo_stats st;
		CHECK_EQ(jumbo_pool_stats(p, &st), 0);
		CHECK_EQ(st.in_use, held);

		/* They free all and leave; every page can be had again. */
		__atomic_store_n(&S->phase, LEAVE, __ATOMIC_RELEASE);
		for (unsigned k = 0; k < W; k++) {
			if (k == d)
				continue;
			REQUIRE(waitpid(pid[k], &ws, 0) == pid[k]);
			CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
		}
		while (mine.n) {
			void *pg = mine.pg[--mine.n];
			give_up(jumbo_pool_iova(p, pg) >> 12);
			CHECK_EQ(jumbo_pool_free(p, pg), 0);
		}
		static void *all[PAGES + 1];
		unsigned got = jumbo_pool_alloc_bulk(p, all, PAGES + 1);
		for (unsigned i = 0; i < got; i++)
			take(jumbo_pool_iova(p, all[i]) >> 12, PARENT);
		CHECK_EQ(got, PAGES);
		CHECK_EQ(jumbo_pool_free_bulk(p, all, got), 0);
		CHECK_EQ(S->errors, 0);
		for (unsigned k = 0; k < W; k++)
			jumbo_ring_close(r[k]);
		if (check_failures)
			fprintf(stderr, "round %u failed (worker %u killed)\n",
				round, d);
	}
	printf("reclaim: %u rounds, a process killed at a random instant "
	       "(%u inside the depot's lock, %u with pages in flight to "
	       "survivors); %ld pages reclaimed%s\n", done, in_lock,
	       in_flight, reclaimed, check_failures ? "" :
	       "; the books balanced and every page came back each time");
	CHECK_EQ(jumbo_pool_destroy(p), 0);
	char path[96];
	snprintf(path, sizeof(path), "/dev/shm/jumbo-pool.%s", name);
	CHECK(access(path, F_OK) != 0);
	return check_done("reclaim");
}
