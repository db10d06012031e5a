/*
 * libjumbo: live statistics of running programs, the data behind
 * "jumbo stat" (netstat -m / vmstat -z for jumbo pools).  See jumbo_stat(3).
 *
 * A process that uses the library keeps one small statistics segment, a
 * file in /dev/shm (or $JUMBO_STAT_DIR) named jumbo-stat.PID, mode 0600
 * ($JUMBO_STAT_MODE), mapped shared.  A thread of the library copies a
 * jumbo_pool_stats() snapshot of every published pool into it every
 * $JUMBO_STAT_MS milliseconds (default 1000), under a sequence lock:
 * readers take no lock in the target, send it no signal, and never make it
 * wait.  Shared pools are published always, other pools when they are made
 * with JUMBO_POOL_STAT or while JUMBO_STAT=1 is in the environment;
 * JUMBO_STAT=0 publishes none.  A process forked from one that uses the
 * library (without exec) publishes only the pools it makes with
 * JUMBO_POOL_STAT.  Beside the pools, the segment carries the process's
 * mbuf counters (jumbo_mbuf_stats) once it has made mbufs.  The segment is
 * removed when the last published pool is destroyed and when the process
 * exits normally.  While the process lives it holds a lock on the segment,
 * by which readers in any pid namespace tell it alive (jumbo_stat(3)).
 */
#ifndef JUMBO_STAT_H
#define JUMBO_STAT_H

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Pool flag: publish this pool's statistics (jumbo_pool_params.flags).  A
 * high bit, apart from the core's JUMBO_POOL_* flags.
 */
#define JUMBO_POOL_STAT (1u << 16)

#define JUMBO_STAT_MAX_POOLS 64 /* pools a process publishes */

/*
 * A segment's key, what jumbo_stat_list() gives and jumbo_stat_read() and
 * jumbo_stat_remove() take: the writer's pid, or, for a writer whose pid
 * number another live writer (in another pid namespace) already named its
 * segment with, a number above any pid.  Its pid in its own namespace, and
 * K of its name jumbo-stat.PID.K (0: jumbo-stat.PID, the key is the pid).
 */
#define JUMBO_STAT_KEY_PID(key) ((pid_t)((unsigned)(key) & 0x3fffffu))
#define JUMBO_STAT_KEY_SUFFIX(key) ((unsigned)(key) >> 22)

/*
 * The format of the segment this library writes and reads.  A segment of
 * another format (a program linked with an older or newer libjumbo) is
 * refused with -EPROTO, its format in jumbo_stat_proc.version.
 */
#define JUMBO_STAT_VERSION 3

struct jumbo_stat_pool {
	char name[32];          /* jumbo_pool_params.name */
	unsigned flags;         /* JUMBO_POOL_* the pool was made with */
	unsigned id;            /* numbers pools in creation order */
	struct jumbo_stats st;  /* as jumbo_pool_stats() returned it */
};

struct jumbo_stat_proc {
	pid_t pid;              /* the key read: JUMBO_STAT_KEY_PID() */
	char comm[16];          /* the process's name (/proc/PID/comm) */
	uint64_t published_ns;  /* CLOCK_REALTIME of the snapshot */
	uint64_t generation;    /* snapshots published so far */
	unsigned interval_ms;   /* the publisher's period */
	unsigned uid;           /* owner of the segment */
	unsigned npools;
	struct jumbo_stat_pool pools[JUMBO_STAT_MAX_POOLS];
	/*
	 * The segment's format: JUMBO_STAT_VERSION after a successful read;
	 * after -EPROTO the format found (0: not a segment at all), the only
	 * member then set.
	 */
	unsigned version;
	unsigned has_mbufs;     /* 1: mbufs is set (the process made mbufs) */
	struct jumbo_mbuf_stats mbufs; /* as jumbo_mbuf_stats() returned it */
};

/*
 * One consistent snapshot of process pid's pools (pid: a pid, or a key
 * from jumbo_stat_list()).  0, or -ENOENT (no segment: the process
 * publishes nothing), -EACCES (no permission to read it), -ESRCH (the
 * process is gone, or its pid was reused: the segment is stale, see
 * jumbo_stat_remove), -EPROTO (not a segment of this format:
 * out->version says which format it is, 0 if none), -EAGAIN (the writer
 * kept changing it), or another -errno.
 */
JUMBO_API int jumbo_stat_read(pid_t pid, struct jumbo_stat_proc *out);

/*
 * The keys of the segments (pids, and keys above any pid for writers of a
 * pid number taken in another pid namespace), in increasing order: up to
 * max into pids[].  Returns how many there are (possibly more than max),
 * or -errno.
 */
JUMBO_API int jumbo_stat_list(pid_t *pids, unsigned max);

/*
 * Removes a stale segment (pid: a pid or a key): 0, -EBUSY (its process
 * lives), or -errno.
 */
JUMBO_API int jumbo_stat_remove(pid_t pid);

/* The directory the segments live in. */
JUMBO_API const char *jumbo_stat_dir(void);

#ifdef __cplusplus
}
#endif
#endif /* JUMBO_STAT_H */
