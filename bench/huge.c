/*
 * 2 MiB huge pages for one benchmark run, and nothing left behind.
 *
 * The pages: if fewer than asked are free, nr_hugepages of the 2 MiB size
 * is raised by the difference, and a watchdog process puts the previous
 * value back once the bench and every child it forked are gone, however
 * they end (the watchdog waits for EOF on a pipe whose write end they all
 * hold, so a SIGKILL or a ctest timeout restores it too).
 *
 * The files: a hugetlbfs and DPDK's run-time directory would outlive a
 * killed run in the machine's mount table and under /var/run/dpdk.  So the
 * bench moves into a mount namespace of its own and mounts a tmpfs on
 * /var/run/dpdk there, with the hugetlbfs inside it: both disappear with
 * the last process of the namespace, whatever killed it, and nobody else
 * sees them meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "huge.h"

#define HP_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB/"

static long read_long(const char *path)
{
	long n = -1;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static int write_long(const char *path, long n)
{
	char buf[32];
	int fd = open(path, O_WRONLY), len, ok;

	if (fd < 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "%ld\n", n);
	ok = write(fd, buf, (size_t)len) == len;
	return close(fd) == 0 && ok ? 0 : -1;
}

/* The watchdog: blocks until every holder of the pipe's write end is
 * gone, then puts the count back if it is still what the run set
 * (*target).  If somebody else changed it meanwhile, theirs wins and it
 * says so. */
static void watchdog(int pipe_r, long prev, const volatile long *target)
{
	char c;
	long cur;
	ssize_t r;

	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	do
		r = read(pipe_r, &c, 1);
	while (r > 0 || (r < 0 && errno == EINTR));
	cur = read_long(HP_SYSFS "nr_hugepages");
	if (cur == *target && cur != prev)
		write_long(HP_SYSFS "nr_hugepages", prev);
	else if (cur != prev)
		fprintf(stderr, "jumbo-bench: nr_hugepages is %ld, not the %ld "
			"this run set: left as it is (it was %ld before)\n",
			cur, *target, prev);
	_exit(0);
}

static int fail(char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "%s: %s", what, strerror(errno));
	return -1;
}

/* The namespace, the tmpfs on BENCH_HUGE_ROOT and the hugetlbfs in it. */
static int mounts(struct bench_huge *h, char *why, size_t whylen)
{
	char root[PATH_MAX];

	if (unshare(CLONE_NEWNS) != 0)
		return fail(why, whylen, "unshare(CLONE_NEWNS)");
	/* Private: our mounts stay out of the machine's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return fail(why, whylen, "mount --make-rprivate /");
	/* What DPDK creates anyway as root, empty. */
	if (mkdir(BENCH_HUGE_ROOT, 0700) != 0 && errno != EEXIST)
		return fail(why, whylen, "mkdir " BENCH_HUGE_ROOT);
	if (mount("jumbo-bench", BENCH_HUGE_ROOT, "tmpfs", 0,
		  "mode=0700,size=64m") != 0)
		return fail(why, whylen, "mount tmpfs on " BENCH_HUGE_ROOT);
	/* As /proc/mounts will spell it (/var/run is often a link to /run),
	 * since DPDK compares --huge-dir with that. */
	if (realpath(BENCH_HUGE_ROOT, root) == NULL)
		return fail(why, whylen, "realpath " BENCH_HUGE_ROOT);
	if (strlen(root) + sizeof("/huge") > sizeof(h->dir)) {
		errno = ENAMETOOLONG;
		return fail(why, whylen, root);
	}
	snprintf(h->dir, sizeof(h->dir), "%.58s/huge", root);
	if (mkdir(h->dir, 0700) != 0)
		return fail(why, whylen, "mkdir of the hugetlbfs");
	if (mount("jumbo-bench", h->dir, "hugetlbfs", 0, "pagesize=2M") != 0)
		return fail(why, whylen, "mount hugetlbfs");
	return 0;
}

int bench_huge_get(struct bench_huge *h, long need, char *why,
		   size_t whylen)
{
	long nfree;
	int p[2];

	memset(h, 0, sizeof(*h));
	h->pipe_w = -1;
	if (geteuid() != 0) {
		snprintf(why, whylen, "not root: cannot reserve 2 MiB huge "
			 "pages or mount a hugetlbfs");
		return -1;
	}
	h->prev = read_long(HP_SYSFS "nr_hugepages");
	nfree = read_long(HP_SYSFS "free_hugepages");
	if (h->prev < 0 || nfree < 0) {
		snprintf(why, whylen, "no 2 MiB huge pages in this kernel "
			 "(" HP_SYSFS ")");
		return -1;
	}
	/* What the count is after our write, for the watchdog: the kernel
	 * may stop short of what we ask. */
	h->set = mmap(NULL, sizeof(*h->set), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h->set == MAP_FAILED) {
		h->set = NULL;
		return fail(why, whylen, "mmap");
	}
	*h->set = h->prev;
	h->target = nfree >= need ? h->prev : h->prev + need - nfree;
	if (pipe2(p, O_CLOEXEC) != 0) {
		fail(why, whylen, "pipe");
		goto out;
	}
	fflush(NULL); /* nothing buffered is written twice */
	h->watchdog = fork();
	if (h->watchdog < 0) {
		close(p[0]);
		close(p[1]);
		fail(why, whylen, "fork");
		goto out;
	}
	if (h->watchdog == 0) {
		close(p[1]);
		watchdog(p[0], h->prev, h->set);
	}
	close(p[0]);
	h->pipe_w = p[1];
	if (h->target != h->prev) {
		/* The kernel may stop short of the target, or refuse: the
		 * watchdog puts prev back over whatever it set. */
		*h->set = h->target;
		write_long(HP_SYSFS "nr_hugepages", h->target);
		*h->set = read_long(HP_SYSFS "nr_hugepages");
	}
	nfree = read_long(HP_SYSFS "free_hugepages");
	if (nfree < need) {
		snprintf(why, whylen, "the kernel found %ld free 2 MiB huge "
			 "pages of the %ld needed", nfree, need);
		goto out;
	}
	if (mounts(h, why, whylen) == 0)
		return 0;
out:
	bench_huge_put(h);
	return -1;
}

void bench_huge_clean(struct bench_huge *h)
{
	DIR *d;
	struct dirent *e;

	if (h->dir[0] && (d = opendir(h->dir)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
}

void bench_huge_put(struct bench_huge *h)
{
	bench_huge_clean(h);
	/* Both are private to this namespace: detached now rather than at
	 * exit, so that the pages are free before the count goes down. */
	if (h->dir[0]) {
		umount2(h->dir, MNT_DETACH);
		umount2(BENCH_HUGE_ROOT, MNT_DETACH);
		h->dir[0] = '\0';
	}
	if (h->pipe_w >= 0) {
		close(h->pipe_w);
		h->pipe_w = -1;
	}
	if (h->watchdog > 0) {
		while (waitpid(h->watchdog, NULL, 0) < 0 && errno == EINTR)
			;
		h->watchdog = 0;
	}
	if (h->set) {
		munmap((void *)h->set, sizeof(*h->set));
		h->set = NULL;
	}
}
