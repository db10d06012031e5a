/*
 * jumbo-bench: runs the same workloads against libjumbo and the
 * allocators a user would pick instead, and reports medians, spreads and
 * ratios.  See bench/README.md.  This file reads the options; run.c
 * measures; output.c reports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const struct peer *const all_peers[] = {
	&peer_jumbo_pool, &peer_jumbo_shpool, &peer_jumbo_seed, &peer_jumbo_user,
	&peer_jumbo_user_static, &peer_dpdk, &peer_glibc,
	&peer_jemalloc, &peer_mimalloc, &peer_tcmalloc, &peer_mutex,
	&peer_floor,
};
#define NPEERS (sizeof(all_peers) / sizeof(all_peers[0]))

static struct report rep;

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: jumbo-bench [--quick] [--runs N] [--only PEER,...]\n"
		"                   [--workload S1,S2,S2B,S3,S4,GROW,...] "
		"[--seed N]\n"
		"                   [--csv FILE] [--markdown FILE] [--plot DIR]\n"
		"peers:");
	for (unsigned i = 0; i < NPEERS; i++)
		fprintf(f, " %s", all_peers[i]->name);
	fprintf(f, "\nworkloads: S1 S2 S2B S3 S4 GROW (GROW also gives "
		"FAULTS, META, RSS; MEM is an alias)\n");
}

/* Calls fn for each comma-separated word of list; -1 on a bad word. */
static int each_word(const char *list, int (*fn)(const char *))
{
	char buf[256], *save = NULL, *w;

	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save))
		if (fn(w) != 0)
			return -1;
	return 0;
}

static int add_peer(const char *name)
{
	for (unsigned i = 0; i < NPEERS; i++) {
		if (strcmp(all_peers[i]->name, name) == 0) {
			if (peer_index(&rep, name) < 0)
				rep.peer[rep.npeers++] = all_peers[i];
			return 0;
		}
	}
	fprintf(stderr, "jumbo-bench: no peer '%s'\n", name);
	return -1;
}

/* v as a whole non-negative number (decimal, or 0x...); -1 with a message
 * naming the option if it is not one. */
static int parse_num(const char *opt, const char *v, unsigned long long *n)
{
	char *end;

	errno = 0;
	*n = strtoull(v, &end, 0);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-') {
		fprintf(stderr, "jumbo-bench: %s wants a number, not '%s'\n",
			opt, v);
		return -1;
	}
	return 0;
}

static int add_workload(const char *name)
{
	if (strcasecmp(name, "GROW") == 0 || strcasecmp(name, "MEM") == 0) {
		rep.wl_mask |= 1u << WL_GROW | 1u << WL_FAULTS |
			       1u << WL_META | 1u << WL_RSS;
		return 0;
	}
	for (unsigned w = 0; w <= WL_S4; w++) {
		if (strcasecmp(wl_names[w], name) == 0) {
			rep.wl_mask |= 1u << w;
			return 0;
		}
	}
	fprintf(stderr, "jumbo-bench: no workload '%s'\n", name);
	return -1;
}

int main(int argc, char **argv)
{
	const char *csv = NULL, *plot = NULL, *only = NULL, *wls = NULL,
		   *md = NULL;
	unsigned long long runs = 0, seed = 1;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (strcmp(o, "--quick") == 0) {
			rep.quick = 1;
			continue;
		}
		if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (v == NULL) {
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(o, "--runs") == 0)
			bad = parse_num(o, v, &runs);
		else if (strcmp(o, "--only") == 0)
			only = v;
		else if (strcmp(o, "--workload") == 0)
			wls = v;
		else if (strcmp(o, "--csv") == 0)
			csv = v;
		else if (strcmp(o, "--markdown") == 0)
			md = v;
		else if (strcmp(o, "--plot") == 0)
			plot = v;
		else if (strcmp(o, "--seed") == 0)
			bad = parse_num(o, v, &seed);
		else {
			fprintf(stderr, "jumbo-bench: unknown option '%s'\n", o);
			usage(stderr);
			return 2;
		}
		if (bad)
			return 2;
	}
	if (runs > BENCH_MAX_RUNS) {
		fprintf(stderr, "jumbo-bench: at most %d runs\n",
			BENCH_MAX_RUNS);
		return 2;
	}
	rep.runs = runs ? (unsigned)runs : rep.quick ? 2 : 5;
	rep.seed = seed;
	if (only == NULL)
		for (unsigned i = 0; i < NPEERS; i++)
			rep.peer[rep.npeers++] = all_peers[i];
	else if (each_word(only, add_peer) != 0)
		return 2;
	if (wls == NULL)
		rep.wl_mask = (1u << WL_COUNT) - 1;
	else if (each_word(wls, add_workload) != 0)
		return 2;
	if (rep.npeers == 0 || rep.wl_mask == 0) {
		fprintf(stderr, "jumbo-bench: no %s to measure\n",
			rep.npeers == 0 ? "peer" : "workload");
		return 2;
	}

	printf("jumbo-bench: %u runs per figure%s, seed %llu, %ld CPUs, "
	       "load average %.2f at start\n",
	       rep.runs, rep.quick ? " (--quick: checks, not timings)" : "",
	       (unsigned long long)rep.seed, sysconf(_SC_NPROCESSORS_ONLN),
	       bench_loadavg());
	if (!rep.quick && bench_loadavg() > 0.5)
		printf("jumbo-bench: WARNING: the machine is busy; S3 and S4 "
		       "need both cores\n");
	if (BENCH_SANITIZED)
		printf("jumbo-bench: SANITIZED build: the figures measure the "
		       "sanitizer, not the allocators\n");
	run_all(&rep);
	printf("jumbo-bench: load average %.2f at the end\n", bench_loadavg());

	output_table(&rep, stdout);
	if (output_targets(&rep, stdout) != 0 && !rep.quick)
		printf("(targets are reported, not enforced)\n");
	if (csv && output_csv(&rep, csv) != 0)
		failed = 1;
	if (md && output_markdown(&rep, md) != 0)
		failed = 1;
	if (plot && output_plots(&rep, plot) != 0)
		failed = 1;
	for (unsigned i = 0; i < rep.npeers; i++) {
		for (unsigned w = 0; w < WL_COUNT; w++) {
			const struct cell *c = &rep.cell[i][w];

			if ((rep.wl_mask & (1u << w)) && c->state == CELL_FAILED)
				failed = 1;
		}
	}
	if (failed) {
		fprintf(stderr, "jumbo-bench: FAILED:");
		for (unsigned i = 0; i < rep.npeers; i++) {
			if (rep.peer_why[i][0])
				fprintf(stderr, "\n  %s %s", rep.peer[i]->name,
					rep.peer_why[i]);
			for (unsigned w = 0; w < WL_COUNT; w++)
				if (rep.cell[i][w].why[0])
					fprintf(stderr, "\n  %s %s: %s",
						rep.peer[i]->name, wl_names[w],
						rep.cell[i][w].why);
		}
		fprintf(stderr, "\n");
		return 1;
	}
	return 0;
}
