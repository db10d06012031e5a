/*
 * What the harness and the adapters need from the system: a clock, fault
 * and resident-memory counters, CPU pinning, anonymous memory.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

const char *const wl_names[WL_COUNT] = {
	"S1", "S2", "S2B", "S3", "S4", "GROW", "FAULTS", "META", "RSS"
};

const char *const wl_units[WL_COUNT] = {
	"ns/pair", "ns/page", "ns/page", "Mpages/s", "ns/pair",
	"ms/GiB", "faults/page", "B/page", "MiB"
};

/* fscanf of a /proc file: the number of fields read, -1 if unreadable. */
__attribute__((format(scanf, 2, 3)))
static int proc_scan(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "r");
	va_list ap;
	int n;

	if (f == NULL)
		return -1;
	va_start(ap, fmt);
	n = vfscanf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	return n;
}

double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * The calling thread's time on its CPU and time runnable but waiting for
 * one (/proc/thread-self/schedstat): the wait is what other work took
 * from it.  Time it spent blocked (a futex in glibc's free) is neither:
 * that is the allocator's own.  Both -1 if unknown.
 */
void bench_schedstat(double *run_ns, double *wait_ns)
{
	unsigned long long run, wait;

	*run_ns = *wait_ns = -1;
	if (proc_scan("/proc/thread-self/schedstat", "%llu %llu", &run,
		      &wait) == 2) {
		*run_ns = (double)run;
		*wait_ns = (double)wait;
	}
}

/* Minor faults of the calling thread: the growth workload runs on one
 * thread, and the other threads (DPDK's) must not count. */
long bench_minflt(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0;
	return ru.ru_minflt;
}

/* Resident memory of the process, MiB, from /proc/self/statm; -1 if
 * unknown. */
double bench_rss_mib(void)
{
	unsigned long size, resident;

	if (proc_scan("/proc/self/statm", "%lu %lu", &size, &resident) != 2)
		return -1;
	return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* Pin the calling thread to one CPU, or (cpu < 0) to CPUs 0 and 1: the two
 * cores the targets were measured on.  Threads that DPDK's EAL left pinned
 * to lcore 0 are set free this way too. */
int bench_pin_self(int cpu)
{
	cpu_set_t set;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	if (cpu >= 0 && cpu < ncpu) {
		CPU_SET(cpu, &set);
	} else {
		for (int c = 0; c < ncpu && c < 2; c++)
			CPU_SET(c, &set);
	}
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Counts an error in r and keeps the text of the first one. */
void bench_error(struct wl_result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->errors++ != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

/* The checks a workload gathers in its loop (the OR of the pages' low
 * address bits, the count of tokens that did not read back), reported once
 * after it. */
void bench_check_pages(struct wl_result *r, uintptr_t misaligned,
		       uint64_t bad)
{
	if (misaligned)
		bench_error(r, "pages not page-aligned (low bits %#lx)",
			    (unsigned long)misaligned);
	if (bad)
		bench_error(r, "%llu pages lost their token: handed out twice?",
			    (unsigned long long)bad);
}

void *bench_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void bench_unmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

/* The 1-minute load average: other work on a two-core machine moves every
 * figure, so the report prints it before and after. */
double bench_loadavg(void)
{
	double l;

	return proc_scan("/proc/loadavg", "%lf", &l) == 1 ? l : -1;
}
