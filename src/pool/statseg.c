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
 * The reader checks first that the process lives (pid and start time, so a
 * reused pid is not mistaken for it).
 *
 * Formats: the segment's first bytes (struct seg_head) are the same in
 * every version, so that a reader tells a segment of another version from
 * garbage, and a stale one from a live one, whatever the version; the rest
 * changes with SEG_VERSION (JUMBO_STAT_VERSION), which is raised whenever
 * anything after the head moves, struct jumbo_stats and struct
 * jumbo_mbuf_stats included.  Version 1 had no mbuf counters.
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

/* The head of a segment: these 24 bytes are the same in every version. */
struct seg_head {
	uint32_t magic, version;
	uint32_t size;           /* sizeof(struct seg) of the writer */
	int32_t pid;
	uint64_t start_time;     /* field 22 of /proc/PID/stat: clock ticks */
};

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
_Static_assert(sizeof(struct seg_head) == 24 && offsetof(struct seg, h) == 0,
	       "the head is the same in every version");

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
} W = { .lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT };

const char *jumbo_stat_dir(void)
{
	const char *d = getenv("JUMBO_STAT_DIR");
	return d && *d ? d : "/dev/shm";
}

static void seg_path(char *buf, size_t len, pid_t pid, const char *suffix)
{
	snprintf(buf, len, "%s/" SEG_PREFIX "%d%s", jumbo_stat_dir(), (int)pid,
		 suffix);
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

/* Makes the segment under a temporary name and renames it into place. */
static int seg_open(void)
{
	char tmp[sizeof(W.path) + 8];
	const char *m = getenv("JUMBO_STAT_MODE");
	mode_t mode = m && *m ? (mode_t)(strtoul(m, NULL, 8) & 0666) : 0600;
	struct stat sb;
	struct seg *s;
	int fd;

	W.pid = getpid();
	seg_path(W.path, sizeof(W.path), W.pid, "");
	seg_path(tmp, sizeof(tmp), W.pid, ".tmp");
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* Someone else's file under our name: not ours to write into. */
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    fchmod(fd, mode) != 0 || ftruncate(fd, sizeof(*s)) != 0) {
		close(fd);
		return -EPERM;
	}
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (s == MAP_FAILED) {
		unlink(tmp);
		return -ENOMEM;
	}
	s->h.magic = SEG_MAGIC;
	s->h.version = SEG_VERSION;
	s->h.size = sizeof(*s);
	s->h.pid = W.pid;
	s->h.start_time = proc_start_time(W.pid);
	s->interval_ms = W.interval_ms;
	s->uid = geteuid();
	prctl(PR_GET_NAME, s->comm);
	if (rename(tmp, W.path) != 0) {
		unlink(tmp);
		munmap(s, sizeof(*s));
		return -errno;
	}
	W.seg = s;
	return 0;
}

static void seg_close(bool remove)
{
	if (!W.seg)
		return;
	if (remove)
		unlink(W.path);
	munmap(W.seg, sizeof(*W.seg));
	W.seg = NULL;
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
 * file); pools it makes after the fork with JUMBO_POOL_STAT are published
 * in a segment of its own (stat_wanted).
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
		unlink(W.path);
}

/* ---- reader ------------------------------------------------------------- */

/* 1 if the process that wrote a segment with this start time lives. */
static bool proc_alive(pid_t pid, uint64_t start_time)
{
	uint64_t t = proc_start_time(pid);
	return t && (!start_time || t == start_time);
}

/*
 * The head of pid's segment, read from fd: 0, or -EPROTO if the file does
 * not start with one (too short, another magic, another pid's).
 */
static int head_read(int fd, pid_t pid, struct seg_head *h)
{
	if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h) ||
	    h->magic != SEG_MAGIC || h->pid != pid)
		return -EPROTO;
	return 0;
}

int jumbo_stat_read(pid_t pid, struct jumbo_stat_proc *out)
{
	char path[256];
	struct seg_head h;
	struct stat sb;
	struct seg *s;
	int fd, err = -EAGAIN;

	if (pid <= 0 || !out)
		return -EINVAL;
	seg_path(path, sizeof(path), pid, "");
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
	if (!proc_alive(pid, h.start_time)) {
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
	out->pid = pid;
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
		char *end;
		long v;

		if (strncmp(s, SEG_PREFIX, sizeof(SEG_PREFIX) - 1))
			continue;
		s += sizeof(SEG_PREFIX) - 1;
		errno = 0;
		v = strtol(s, &end, 10);
		if (*s < '1' || *s > '9' || *end || errno || v <= 0 || v > INT32_MAX)
			continue;
		if (n < max)
			pids[n] = (pid_t)v;
		n++;
	}
	closedir(d);
	qsort(pids, n < max ? n : max, sizeof(*pids), pid_cmp);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

int jumbo_stat_remove(pid_t pid)
{
	char path[256];
	uint64_t start = 0;
	int fd;

	if (pid <= 0)
		return -EINVAL;
	seg_path(path, sizeof(path), pid, "");
	/*
	 * The start time, if the segment has a head (of any version); else
	 * the pid alone.
	 */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		struct seg_head h;
		if (head_read(fd, pid, &h) == 0)
			start = h.start_time;
		close(fd);
	}
	if (proc_alive(pid, start))
		return -EBUSY;
	return unlink(path) == 0 ? 0 : -errno;
}
