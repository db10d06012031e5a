/*
 * Live statistics: the per-process segment "jumbo stat" reads.
 *
 * Writer: one file, $JUMBO_STAT_DIR/jumbo-stat.PID (default /dev/shm),
 * mapped shared.  While at least one pool is published, a thread of the
 * library wakes every interval_ms, takes a jumbo_pool_stats() snapshot of
 * each published pool (that call takes the pool's own lock) and copies them
 * into the segment, twice, under a latch: a sequence count whose low bit
 * says which of the two copies readers take while the other is written.
 * Registration and unregistration publish at once, so a pool appears and
 * disappears without waiting for the thread.  The numbers a reader sees are
 * therefore at most interval_ms (plus scheduling delay) old, and the
 * segment carries the time of its snapshot so that the reader can say by
 * how much.  Beside the pools, each publication carries the process's mbuf
 * counters: the mbuf layer, above this one, registers its snapshot function
 * with its first slab (_jumbo_statseg_mbufs) and the writer calls it;
 * nothing here calls up.
 *
 * Reader: jumbo_stat_read() maps the file read-only and copies the copy
 * the sequence count points at, again if the count moved meanwhile; it
 * takes no lock and the writer never waits for it.  Because there are two
 * copies, a writer stopped (SIGSTOP, a debugger) or killed in the middle of
 * a publication leaves one whole copy to read, never a reader that spins.
 * The reader checks first that the writer lives.
 *
 * Liveness and names: a pid names a process only in its pid namespace, and
 * containers that share /dev/shm share these files.  So the writer keeps
 * the description it made its segment with open (close-on-exec; a fork
 * child closes its copy) and holds through it an open-file-description
 * write lock on the byte JUMBO_LOCK_OFF(SEG_LOCK_REC), as pool and ring
 * peers do; the head's SEG_LOCKED says so.  A reader judges such a segment
 * by F_OFD_GETLK through a description of its own: alive while the lock is
 * held, in any namespace and whatever its pid names there now.  A segment
 * without the flag (an older writer, a file system without these locks)
 * is judged by pid and start time, which holds only in the writer's
 * namespace.  Nothing ever removes a segment whose lock is held.
 *
 * The name is jumbo-stat.PID.  Two writers of the same pid number in two
 * namespaces would share it, so a segment is put in place with link(),
 * which never replaces: a writer that finds its name taken removes the
 * file if it is stale and tries again, and takes jumbo-stat.PID.K (K = 1,
 * 2, ...) if a live writer holds it.  The API speaks pids, so such a
 * segment is given to readers as the key PID | K << SEG_PID_BITS (above
 * any pid: Linux's pids stay below 2^22), which jumbo_stat_list() returns
 * and jumbo_stat_read()/_remove() take; a plain pid reads the plain name.
 * The first writer of a number keeps it, so in the common case, reader and
 * writer in one namespace and no other writer of that number, a pid the
 * reader knows reads the process it knows.  (Redirecting a pid to the
 * reader's own namespace's writer would hide the other one from a reader
 * that lists them all.)  The head records the writer's pid namespace
 * too, so that a later reader can tell whose a segment is without another
 * format.
 *
 * Formats: the segment's first bytes (struct seg_head) are the same in
 * every version, so that a reader tells a segment of another version from
 * garbage, and a stale one from a live one, whatever the version; the rest
 * changes with SEG_VERSION (JUMBO_STAT_VERSION), which is raised whenever
 * anything after the head moves, struct jumbo_stats and struct
 * jumbo_mbuf_stats included.  Version 1 had no mbuf counters.  Version 3
 * grew the head by flags and the writer's pid namespace, the same in every
 * version from 3 on; a reader of version 1 or 2 reads its first 24 bytes,
 * which did not change, and a reader of 3 or later looks at the rest only
 * in a segment of version 3 or later.
 */
#include "jumbo_int.h"

#include <jumbo/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEG_MAGIC 0x4a535447u /* "JSTG" */
#define SEG_VERSION ((uint32_t)JUMBO_STAT_VERSION)
#define SEG_PREFIX "jumbo-stat."
#define SEG_PID_BITS 22              /* a key: pid | suffix << SEG_PID_BITS */
#define SEG_PID_MASK ((1u << SEG_PID_BITS) - 1)
_Static_assert(JUMBO_STAT_KEY_SUFFIX(1u << SEG_PID_BITS) == 1 &&
	       JUMBO_STAT_KEY_PID(-1) == (pid_t)SEG_PID_MASK,
	       "keys as <jumbo/stat.h> takes them apart");
#define SEG_MAX_SUFFIX (INT32_MAX >> SEG_PID_BITS) /* keys stay pid_t */
#define SEG_LOCKED 1u                /* seg_head.flags: liveness by lock */
#define SEG_LOCK_REC 0               /* the lock's byte: JUMBO_LOCK_OFF(0) */
#define DEFAULT_INTERVAL_MS 1000
#define PUBLISHER_STACK (256u << 10)

/* One publication. */
struct seg_data {
	uint64_t published_ns;   /* CLOCK_REALTIME of the snapshot */
	uint64_t generation;     /* publications so far */
	uint32_t npools;
	uint32_t has_mbufs;      /* 1: mbufs is set */
	struct jumbo_mbuf_stats mbufs;
	struct jumbo_stat_pool pools[JUMBO_STAT_MAX_POOLS];
};

/*
 * The head of a segment: its first 24 bytes are the same in every version,
 * the rest in every version from 3 on (zero for a reader of an older
 * segment).
 */
struct seg_head {
	uint32_t magic, version;
	uint32_t size;           /* sizeof(struct seg) of the writer */
	int32_t pid;             /* in the writer's namespace */
	uint64_t start_time;     /* field 22 of /proc/PID/stat: clock ticks */
	/* Version 3 on: */
	uint32_t flags;          /* SEG_LOCKED */
	uint32_t reserved;
	uint64_t pidns;          /* the writer's pid namespace, 0 unknown */
};
#define SEG_HEAD_V1 24           /* the part every version has */

/*
 * The segment.  The fields above seq are written once, before the file is
 * renamed to its final name, so a reader never sees them change.  seq
 * rises by two per publication: odd while d[0] is written (readers take
 * d[1]), even while d[1] is written (readers take d[0]).
 */
struct seg {
	struct seg_head h;
	uint32_t interval_ms, uid;
	char comm[16];
	uint64_t seq;
	struct seg_data d[2];
};
_Static_assert(offsetof(struct seg_head, flags) == SEG_HEAD_V1 &&
	       sizeof(struct seg_head) == 40 && offsetof(struct seg, h) == 0,
	       "the head is the same in every version");
_Static_assert(SEG_VERSION >= 3, "the head has flags from version 3 on");

/*
 * The writer's state.  lock guards everything here and serializes the
 * publications; it is taken by pool creation and destruction and by the
 * publisher thread, never on an allocation path.  npools counts the
 * entries of pools[]; running says that a publisher thread exists (it
 * clears it itself, under lock, when it finds nothing left to publish).
 * mbuf_snap, the mbuf layer's snapshot function, is set once (by any
 * thread, without the lock) and read by publications.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_once_t once;
	struct seg *seg;
	int fd;                  /* the segment's, holding its lock; or -1 */
	pid_t pid;               /* the process the segment belongs to */
	unsigned interval_ms;
	unsigned next_id;
	bool running;
	unsigned npools;
	struct {
		struct jumbo_pool *pool;
		unsigned id;
	} pools[JUMBO_STAT_MAX_POOLS];
	struct jumbo_stat_pool snap[JUMBO_STAT_MAX_POOLS]; /* publish's copy */
	int (*mbuf_snap)(struct jumbo_mbuf_stats *);
	struct jumbo_mbuf_stats msnap;                     /* publish's copy */
	char path[256];
} W = { .lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT,
	.fd = -1 };

const char *jumbo_stat_dir(void)
{
	const char *d = getenv("JUMBO_STAT_DIR");
	return d && *d ? d : "/dev/shm";
}

/* The name of pid's segment number k: jumbo-stat.PID, or jumbo-stat.PID.K. */
static void seg_path(char *buf, size_t len, pid_t pid, unsigned k)
{
	if (k)
		snprintf(buf, len, "%s/" SEG_PREFIX "%d.%u", jumbo_stat_dir(),
			 (int)pid, k);
	else
		snprintf(buf, len, "%s/" SEG_PREFIX "%d", jumbo_stat_dir(),
			 (int)pid);
}

/* Start time of pid in clock ticks since boot, or 0 if it has none. */
static uint64_t proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long t;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The name in parentheses may hold anything; fields follow the last ')'. */
	char *s = strrchr(buf, ')');
	if (!s || sscanf(s + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%*u %*u %*d %*d %*d %*d %*d %*d %llu", &t) != 1)
		return 0;
	return t;
}

/* 1 if the process that wrote a segment with this start time lives. */
static bool proc_alive(pid_t pid, uint64_t start_time)
{
	uint64_t t = proc_start_time(pid);
	return t && (!start_time || t == start_time);
}

/*
 * The head of pid's segment, read from fd: 0, or -EPROTO if the file does
 * not start with one (too short, another magic, another pid's).  The part
 * of version 3 on is zero in an older segment.
 */
static int head_read(int fd, pid_t pid, struct seg_head *h)
{
	ssize_t n = pread(fd, h, sizeof(*h), 0);

	if (n < SEG_HEAD_V1 || h->magic != SEG_MAGIC || h->pid != pid)
		return -EPROTO;
	if (h->version < 3 || n < (ssize_t)sizeof(*h)) {
		h->flags = h->reserved = 0;
		h->pidns = 0;
	}
	return 0;
}

/*
 * Does the writer of the segment open as fd, whose head is h, live?  By
 * its lock if it holds one (fd must be a description of the reader's own,
 * holding no lock): in any namespace, whatever its pid names here; else by
 * pid and start time.  A lock that cannot be asked about is taken for
 * held: a segment is never removed on a doubt.
 */
static bool seg_alive(int fd, const struct seg_head *h)
{
	if (h->flags & SEG_LOCKED)
		return !_jumbo_lock_free(fd, SEG_LOCK_REC);
	return proc_alive(h->pid, h->start_time);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Removes the segment at path (pid's) if it is stale: 0, -EBUSY if its
 * writer lives, or -errno.  A file without a head goes by the pid alone.
 * The name is unlinked only while it still names the file judged: another
 * remover may have unlinked that one meanwhile and a new writer put its
 * live segment there.  (That can still happen between the check and the
 * unlink, which no call does at once; both would have to fall in those
 * few instructions.)
 */
static int seg_unlink_stale(const char *path, pid_t pid)
{
	struct seg_head h;
	struct stat a, b;
	bool alive;
	int fd, err;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (head_read(fd, pid, &h) == 0)
		alive = seg_alive(fd, &h);
	else
		alive = proc_alive(pid, 0);
	if (alive)
		err = -EBUSY;
	else if (fstat(fd, &a) != 0 || stat(path, &b) != 0)
		err = -errno;
	else if (!same_file(&a, &b))
		err = -EBUSY;
	else
		err = unlink(path) == 0 ? 0 : -errno;
	close(fd);
	return err;
}

/* ---- writer ------------------------------------------------------------- */

/* The process the library was loaded in; any other pid is a fork child. */
static pid_t load_pid;

__attribute__((constructor)) static void statseg_load(void)
{
	load_pid = getpid();
}

static bool stat_wanted(unsigned flags)
{
	const char *e = getenv("JUMBO_STAT");

	if (e && !strcmp(e, "0"))
		return false;
	/*
	 * A fork child (no exec) publishes only the pools it asks for by
	 * flag, not its shared pools nor what an inherited JUMBO_STAT=1
	 * says: such children mostly end with _exit or a signal, neither of
	 * which runs the destructor that removes the segment, and a child of
	 * a threaded process should start no thread it did not ask for.
	 */
	if (load_pid && getpid() != load_pid)
		return flags & JUMBO_POOL_STAT;
	return (flags & (JUMBO_POOL_SHARED | JUMBO_POOL_STAT)) ||
	       (e && *e && strcmp(e, "0"));
}

/*
 * Called by the mbuf layer with its first slab (and again with later
 * ones: the same pointer).  Relaxed store and load: the pointer is to
 * code, and carries no data; the counters it reads are guarded by the
 * mbuf layer's own lock, taken inside snap, after W.lock.
 */
void _jumbo_statseg_mbufs(int (*snap)(struct jumbo_mbuf_stats *st))
{
	__atomic_store_n(&W.mbuf_snap, snap, __ATOMIC_RELAXED);
}

/* Copies the current snapshot into the segment.  Called with W.lock held. */
static void publish_locked(void)
{
	struct jumbo_stat_pool *snap = W.snap;
	struct seg *s = W.seg;
	struct timespec ts;
	int (*msnap)(struct jumbo_mbuf_stats *) =
		__atomic_load_n(&W.mbuf_snap, __ATOMIC_RELAXED);
	uint32_t has_mbufs = msnap && msnap(&W.msnap) == 0;

	for (unsigned i = 0; i < W.npools; i++) {
		struct jumbo_pool *p = W.pools[i].pool;
		memset(&snap[i], 0, sizeof(snap[i]));
		snprintf(snap[i].name, sizeof(snap[i].name), "%s", p->name);
		snap[i].flags = JUMBO_HEAD(p)->ph_flags;
		snap[i].id = W.pools[i].id;
		jumbo_pool_stats(p, &snap[i].st);
	}
	clock_gettime(CLOCK_REALTIME, &ts);

	uint64_t q = s->seq, gen = s->d[0].generation + 1;
	for (unsigned k = 0; k < 2; k++) {
		/*
		 * Orders the stores to the copy written before (none, or
		 * d[0]) before the new count: readers sent to that copy by
		 * the count find it whole.
		 */
		__atomic_store_n(&s->seq, q + 1 + k, __ATOMIC_RELEASE);
		/*
		 * Orders the new count before the stores to d[k] below: a
		 * reader that sees those stores sees the count that sends it
		 * away from d[k], and retries.
		 */
		__atomic_thread_fence(__ATOMIC_RELEASE);
		struct seg_data *d = &s->d[k];
		d->published_ns = (uint64_t)ts.tv_sec * 1000000000u +
				  (uint64_t)ts.tv_nsec;
		d->generation = gen;
		d->npools = W.npools;
		d->has_mbufs = has_mbufs;
		if (has_mbufs)
			d->mbufs = W.msnap;
		memcpy(d->pools, snap, W.npools * sizeof(snap[0]));
	}
}

/*
 * Puts the segment made as tmp in place under pid's first name that is not
 * a live writer's: its plain name, else jumbo-stat.PID.K.  link() never
 * replaces, so two writers of one name (two namespaces) cannot take each
 * other's; a stale file in the way is removed first.  0 with W.path set,
 * or -errno.
 */
static int seg_link(const char *tmp, pid_t pid)
{
	for (unsigned k = 0; k <= SEG_MAX_SUFFIX; k++) {
		int err;

		seg_path(W.path, sizeof(W.path), pid, k);
		/* A few rounds: removers and writers may race us for it. */
		for (int tries = 0; tries < 4; tries++) {
			if (link(tmp, W.path) == 0)
				return 0;
			if (errno != EEXIST)
				return -errno;
			err = seg_unlink_stale(W.path, pid);
			if (err != 0 && err != -ENOENT)
				break;
		}
	}
	return -EEXIST;
}

/*
 * Makes the segment under a temporary name of its own, takes its lock,
 * and links it into place.
 */
static int seg_open(void)
{
	char tmp[sizeof(W.path)];
	const char *m = getenv("JUMBO_STAT_MODE");
	mode_t mode = m && *m ? (mode_t)(strtoul(m, NULL, 8) & 0666) : 0600;
	struct seg *s;
	int fd, err;

	W.pid = getpid();
	/* Unique: writers of one pid in other namespaces make theirs too. */
	snprintf(tmp, sizeof(tmp), "%s/" SEG_PREFIX "%d.tmpXXXXXX",
		 jumbo_stat_dir(), (int)W.pid);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) != 0 || ftruncate(fd, sizeof(*s)) != 0) {
		err = -errno;
		goto fail;
	}
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED) {
		err = -ENOMEM;
		goto fail;
	}
	s->h.magic = SEG_MAGIC;
	s->h.version = SEG_VERSION;
	s->h.size = sizeof(*s);
	s->h.pid = W.pid;
	s->h.start_time = proc_start_time(W.pid);
	s->h.pidns = _jumbo_pidns();
	/*
	 * The lock before the name: a reader never sees this segment
	 * unlocked while its writer lives.  mkostemp's description is ours
	 * alone.  Without the lock, readers go by the pid.
	 */
	if (_jumbo_lock_take(fd, SEG_LOCK_REC) == 0) {
		s->h.flags = SEG_LOCKED;
	} else {
		close(fd);
		fd = -1;
	}
	s->interval_ms = W.interval_ms;
	s->uid = geteuid();
	prctl(PR_GET_NAME, s->comm);
	err = seg_link(tmp, W.pid);
	unlink(tmp);
	if (err) {
		munmap(s, sizeof(*s));
		if (fd >= 0)
			close(fd);
		return err;
	}
	W.seg = s;
	W.fd = fd;
	return 0;
fail:
	unlink(tmp);
	close(fd);
	return err;
}

/* Unlinks the segment's name if it still names our file. */
static void seg_unlink(void)
{
	struct stat a, b;

	if (W.fd < 0 || (fstat(W.fd, &a) == 0 && stat(W.path, &b) == 0 &&
			 same_file(&a, &b)))
		unlink(W.path);
}

/*
 * Drops the segment; remove: its file too.  Closing the lock's descriptor
 * here is what a fork child must do too: its copy shares the parent's
 * description, and would keep the parent's segment alive after it.
 */
static void seg_close(bool remove)
{
	if (!W.seg)
		return;
	if (remove)
		seg_unlink();
	munmap(W.seg, sizeof(*W.seg));
	W.seg = NULL;
	if (W.fd >= 0)
		close(W.fd);
	W.fd = -1;
}

static void *publisher(void *arg)
{
	struct timespec t;

	pthread_mutex_lock(&W.lock);
	clock_gettime(CLOCK_MONOTONIC, &t);
	while (W.npools) {
		t.tv_sec += W.interval_ms / 1000;
		t.tv_nsec += (long)(W.interval_ms % 1000) * 1000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		/* Woken early only when the last pool goes. */
		while (W.npools &&
		       pthread_cond_timedwait(&W.wake, &W.lock, &t) != ETIMEDOUT)
			;
		if (W.npools)
			publish_locked();
		/* Late (a stopped process, a busy machine): no burst to catch up. */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > t.tv_sec ||
		    (now.tv_sec == t.tv_sec && now.tv_nsec > t.tv_nsec))
			t = now;
	}
	W.running = false;
	pthread_mutex_unlock(&W.lock);
	return NULL;
}

/*
 * fork(): the child has no publisher thread, and the mapping it inherits
 * is its parent's segment.  It drops both (without removing the parent's
 * file), and closes its copy of the lock's descriptor; pools it makes
 * after the fork with JUMBO_POOL_STAT are published in a segment of its
 * own (stat_wanted).
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&W.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&W.lock);
}

static void atfork_child(void)
{
	seg_close(false);
	W.npools = 0;
	W.running = false;
	pthread_mutex_unlock(&W.lock);
}

static void writer_init(void)
{
	pthread_condattr_t ca;
	const char *e = getenv("JUMBO_STAT_MS");
	unsigned long ms = e && *e ? strtoul(e, NULL, 10) : DEFAULT_INTERVAL_MS;

	W.interval_ms = ms < 10 ? 10 : ms > 3600000 ? 3600000 : (unsigned)ms;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&W.wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/*
 * Called by jumbo_pool_create() once the pool is whole.  Publishing is a
 * service, not part of the pool: when it cannot be had (no /dev/shm, no
 * thread, 64 pools already) the pool works the same, unpublished.
 */
void _jumbo_statseg_register(struct jumbo_pool *p)
{
	pthread_attr_t a;
	pthread_t t;

	if (!stat_wanted(JUMBO_HEAD(p)->ph_flags))
		return;
	pthread_once(&W.once, writer_init);
	pthread_mutex_lock(&W.lock);
	if (W.npools == JUMBO_STAT_MAX_POOLS || (!W.seg && seg_open() != 0))
		goto out;
	W.pools[W.npools].pool = p;
	W.pools[W.npools].id = W.next_id++;
	W.npools++;
	publish_locked();
	if (!W.running) {
		/* A small stack: it only copies counters. */
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, PUBLISHER_STACK);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		W.running = pthread_create(&t, &a, publisher, NULL) == 0;
		pthread_attr_destroy(&a);
	}
out:
	pthread_mutex_unlock(&W.lock);
}

/* Called by jumbo_pool_destroy() before the pool's memory goes. */
void _jumbo_statseg_unregister(struct jumbo_pool *p)
{
	unsigned i;

	pthread_mutex_lock(&W.lock);
	for (i = 0; i < W.npools && W.pools[i].pool != p; i++)
		;
	if (i < W.npools) {
		memmove(&W.pools[i], &W.pools[i + 1],
			(W.npools - i - 1) * sizeof(W.pools[0]));
		W.npools--;
		if (W.npools) {
			publish_locked();
		} else {
			seg_close(true);
			pthread_cond_signal(&W.wake);
		}
	}
	pthread_mutex_unlock(&W.lock);
}

/* A process that exits with pools still published leaves no file behind. */
__attribute__((destructor)) static void statseg_exit(void)
{
	if (W.seg && W.pid == getpid())
		seg_unlink();
}

/* ---- reader ------------------------------------------------------------- */

/* Reads pid's segment number k into out, as key.  As jumbo_stat_read(). */
static int seg_read(pid_t pid, unsigned k, pid_t key,
		    struct jumbo_stat_proc *out)
{
	char path[256];
	struct seg_head h;
	struct stat sb;
	struct seg *s;
	int fd, err = -EAGAIN;

	seg_path(path, sizeof(path), pid, k);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == EPERM ? -EACCES : -errno;
	out->version = 0;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    head_read(fd, pid, &h) != 0) {
		close(fd);
		return -EPROTO;
	}
	/* Stale first: a dead process's segment goes, whatever its version. */
	if (!seg_alive(fd, &h)) {
		close(fd);
		return -ESRCH;
	}
	if (h.version != SEG_VERSION || h.size != sizeof(*s) ||
	    sb.st_size < (off_t)sizeof(*s)) {
		close(fd);
		/* Another format, or this one cut short: nothing else to trust. */
		out->version = h.version != SEG_VERSION ? h.version : 0;
		return -EPROTO;
	}
	s = mmap(NULL, sizeof(*s), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (s == MAP_FAILED)
		return -errno;
	memset(out, 0, sizeof(*out));
	out->pid = key;
	out->version = SEG_VERSION;
	memcpy(out->comm, s->comm, sizeof(out->comm));
	out->comm[sizeof(out->comm) - 1] = '\0';
	out->interval_ms = s->interval_ms;
	out->uid = s->uid;
	for (int tries = 0; tries < 1000; tries++) {
		/* Orders the loads of the copy after this one. */
		uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		const struct seg_data *d = &s->d[q & 1];
		/*
		 * Racy by design: the writer may be rewriting these bytes if
		 * it moved on meanwhile; the count then changed, and the torn
		 * copy is thrown away below.
		 */
		out->published_ns = d->published_ns;
		out->generation = d->generation;
		out->npools = d->npools;
		if (out->npools > JUMBO_STAT_MAX_POOLS)
			out->npools = JUMBO_STAT_MAX_POOLS;
		memcpy(out->pools, d->pools, out->npools * sizeof(d->pools[0]));
		out->has_mbufs = d->has_mbufs != 0;
		memcpy(&out->mbufs, &d->mbufs, sizeof(out->mbufs));
		/* Orders the loads of the copy before the second load of seq. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q) {
			for (unsigned i = 0; i < out->npools; i++)
				out->pools[i].name[sizeof(out->pools[i].name) - 1] = '\0';
			err = 0;
			break;
		}
	}
	munmap(s, sizeof(*s));
	return err;
}

int jumbo_stat_read(pid_t key, struct jumbo_stat_proc *out)
{
	pid_t pid = JUMBO_STAT_KEY_PID(key);

	if (key <= 0 || pid == 0 || !out)
		return -EINVAL;
	return seg_read(pid, JUMBO_STAT_KEY_SUFFIX(key), key, out);
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

int jumbo_stat_list(pid_t *pids, unsigned max)
{
	DIR *d = opendir(jumbo_stat_dir());
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		const char *s = e->d_name;
		unsigned long v, k = 0;
		char *end;

		if (strncmp(s, SEG_PREFIX, sizeof(SEG_PREFIX) - 1))
			continue;
		s += sizeof(SEG_PREFIX) - 1;
		if (*s < '1' || *s > '9')
			continue;
		v = strtoul(s, &end, 10);
		/* jumbo-stat.PID or jumbo-stat.PID.K (not a temporary one) */
		if (*end == '.' && end[1] >= '1' && end[1] <= '9') {
			s = end + 1;
			k = strtoul(s, &end, 10);
		}
		if (*end || v > SEG_PID_MASK || k > SEG_MAX_SUFFIX)
			continue;
		if (n < max)
			pids[n] = (pid_t)(v | k << SEG_PID_BITS);
		n++;
	}
	closedir(d);
	qsort(pids, n < max ? n : max, sizeof(*pids), pid_cmp);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

int jumbo_stat_remove(pid_t key)
{
	pid_t pid = JUMBO_STAT_KEY_PID(key);
	char path[256];

	if (key <= 0 || pid == 0)
		return -EINVAL;
	seg_path(path, sizeof(path), pid, JUMBO_STAT_KEY_SUFFIX(key));
	return seg_unlink_stale(path, pid);
}
