/*
 * 2 MiB huge pages for one benchmark run, given back afterwards, whatever
 * happens to the run (bench/huge.c).
 */
#ifndef JUMBO_BENCH_HUGE_H
#define JUMBO_BENCH_HUGE_H

#include <stddef.h>
#include <sys/types.h>

struct bench_huge {
	char dir[64];   /* hugetlbfs (pagesize=2M), this process's own mount */
	long prev;      /* nr_hugepages before the run */
	long target;    /* what the run asks for; prev if it needs nothing */
	volatile long *set; /* shared with the watchdog: the count as set */
	pid_t watchdog; /* puts prev back when the last of us exits */
	int pipe_w;     /* the watchdog's end of life: EOF when we are gone */
};

/*
 * Makes `need` free 2 MiB pages available and a hugetlbfs to map them
 * from, in a mount namespace of the calling process's own (its children
 * inherit it), under BENCH_HUGE_ROOT.  0, or -1 with the reason in why:
 * not root, no 2 MiB pages in this kernel, or the kernel could not find
 * them.  Call it while the process has one thread.
 */
int bench_huge_get(struct bench_huge *h, long need, char *why,
		   size_t whylen);

/* Removes the files left in h->dir: the pages of processes that have
 * exited go back to the kernel's free huge pages. */
void bench_huge_clean(struct bench_huge *h);

/* Removes the files left in h->dir, unmounts it and waits for the
 * watchdog to restore nr_hugepages.  The children that mapped pages from
 * it must have exited. */
void bench_huge_put(struct bench_huge *h);

/* DPDK's run-time directory as root; a private tmpfs is mounted on it. */
#define BENCH_HUGE_ROOT "/var/run/dpdk"

#endif
