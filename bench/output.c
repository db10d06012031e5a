/*
 * The outputs: a table on the terminal with the ratios and the issue's
 * targets, a CSV file with every figure, the same tables in Markdown, and
 * PNG charts drawn by gnuplot (ns per operation for S1, S2, S2B, S4;
 * M pages/s for S3).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bench.h"

static const char *const wl_titles[WL_COUNT] = {
	"S1  alloc, touch, free one page",
	"S2  burst: 512 allocs then 512 frees, one call per page",
	"S2B burst through the batch calls",
	"S3  one thread allocates, another frees, through an SPSC ring",
	"S4  8 threads on 2 cores, random alloc/free (wall time per pair)",
	"GROW  alloc and write 1 GiB of pages from a fresh pool",
	"FAULTS  minor faults per page during GROW",
	"META  metadata bytes per page",
	"RSS  resident after freeing the GiB and trimming (MiB)",
};

static int higher_is_better(enum wl w)
{
	return w == WL_S3;
}

static void print_ratio(FILE *f, const struct report *rep, int j, unsigned pi,
			enum wl w)
{
	double r = stats_ratio(rep, j, pi, w);

	if (r > 0)
		fprintf(f, " %10.2f", r);
	else
		fprintf(f, " %10s", "-");
}

/* S3's condition: how far apart the two CPUs were during the kept runs. */
static void print_rtt(const struct report *rep, FILE *f)
{
	struct cell c;

	if (rep->nrtt == 0)
		return;
	memset(&c, 0, sizeof(c));
	c.n = rep->nrtt < BENCH_MAX_RUNS ? rep->nrtt : BENCH_MAX_RUNS;
	memcpy(c.v, rep->rtt + (rep->nrtt - c.n), c.n * sizeof(c.v[0]));
	stats_summarise(&c);
	fprintf(f, "round trip of a line between the two CPUs in the kept "
		"runs: median %.0f ns (%.0f..%.0f; best seen %.0f)\n",
		c.median, c.min, c.max, rep->best_rtt);
}

void output_table(const struct report *rep, FILE *f)
{
	int jp = peer_index(rep, "jumbo-pool");
	int js = peer_index(rep, "jumbo-seed");
	int ju = peer_index(rep, "jumbo-user");

	fprintf(f, "\npeers:\n");
	for (unsigned i = 0; i < rep->npeers; i++)
		fprintf(f, "  %-12s %s\n", rep->peer[i]->name,
			rep->peer[i]->what);
	fprintf(f, "\nratio = libjumbo / peer, pair by pair: below 1 libjumbo "
		"is faster or smaller,\nexcept S3 (a rate), where above 1 "
		"libjumbo is faster.\n");
	for (unsigned w = 0; w < WL_COUNT; w++) {
		if (!(rep->wl_mask & (1u << w)))
			continue;
		fprintf(f, "\n%s [%s, %s is better]\n", wl_titles[w],
			wl_units[w], higher_is_better(w) ? "higher" : "lower");
		if (w == WL_S3)
			print_rtt(rep, f);
		fprintf(f, "%-12s %10s %10s %10s %10s %10s %10s\n", "peer",
			"median", "min", "max", "pool/peer", "seed/peer",
			"user/peer");
		for (unsigned i = 0; i < rep->npeers; i++) {
			const struct cell *c = &rep->cell[i][w];

			fprintf(f, "%-12s", rep->peer[i]->name);
			switch (c->state) {
			case CELL_OK:
				fprintf(f, " %10.3g %10.3g %10.3g", c->median,
					c->min, c->max);
				print_ratio(f, rep, jp, i, (enum wl)w);
				print_ratio(f, rep, js, i, (enum wl)w);
				print_ratio(f, rep, ju, i, (enum wl)w);
				if (c->discarded)
					fprintf(f, "  (%u disturbed runs redone)",
						c->discarded);
				break;
			case CELL_NA:
				fprintf(f, " %10s", "n/a");
				break;
			case CELL_FAILED:
				fprintf(f, " FAILED: %s", c->why[0] ? c->why :
					rep->peer_why[i]);
				break;
			default:
				break;
			}
			fprintf(f, "\n");
		}
	}
}

/* One line of the targets: libjumbo's figure against a peer's. */
static int target_vs(FILE *f, const struct report *rep, const char *jumbo,
		     const char *peer, enum wl w, double bound, int at_least)
{
	int j = peer_index(rep, jumbo), d = peer_index(rep, peer);
	double r;

	if (j < 0 || d < 0 || !(rep->wl_mask & (1u << w)))
		return 0;
	r = stats_ratio(rep, j, (unsigned)d, w);
	if (r <= 0) {
		fprintf(f, "  %-4s %-10s not measured\n", wl_names[w], jumbo);
		return 1;
	}
	fprintf(f, "  %-4s %-10s %8.3g vs %s %8.3g %-8s ratio %5.2f "
		"(target %s %.1f): %s\n", wl_names[w], jumbo,
		rep->cell[j][w].median, peer, rep->cell[d][w].median,
		wl_units[w], r, at_least ? ">=" : "<=", bound,
		(at_least ? r >= bound : r <= bound) ? "met" : "MISSED");
	return at_least ? r < bound : r > bound;
}

static int target(FILE *f, const struct report *rep, const char *jumbo,
		  enum wl w, double bound, int at_least)
{
	return target_vs(f, rep, jumbo, "dpdk", w, bound, at_least);
}

/*
 * S4, "no collapse": with eight threads on two cores, libjumbo's wall time
 * per pair must stay within twice DPDK's and within twice the floor's
 * (the floor is the workload itself, slots, random numbers and page
 * touches, with an allocator that costs nothing and shares nothing).  A
 * lock holder preempted mid-operation, or a shared line bounced between
 * the cores, is what multiplies it.
 */
static int target_s4(FILE *f, const struct report *rep, const char *jumbo)
{
	int j = peer_index(rep, jumbo), d = peer_index(rep, "dpdk"),
	    fl = peer_index(rep, "floor");
	double vd, vf;
	int ok;

	if (j < 0 || d < 0 || !(rep->wl_mask & (1u << WL_S4)))
		return 0;
	vd = stats_ratio(rep, j, (unsigned)d, WL_S4);
	vf = fl >= 0 ? stats_ratio(rep, j, (unsigned)fl, WL_S4) : 0;
	if (vd <= 0) {
		fprintf(f, "  S4   %-10s not measured\n", jumbo);
		return 1;
	}
	ok = vd <= 2 && vf <= 2;
	fprintf(f, "  S4   %-10s %8.3g ns/pair: %.2f x dpdk's", jumbo,
		rep->cell[j][WL_S4].median, vd);
	if (vf > 0)
		fprintf(f, ", %.2f x the floor's", vf);
	fprintf(f, " (no collapse: <= 2): %s\n", ok ? "met" : "MISSED");
	return !ok;
}

int output_targets(const struct report *rep, FILE *f)
{
	int missed = 0;

	/* Issue 12: the same calls on a named shared pool within 1.2 times
	 * a private pool's time. */
	if (peer_index(rep, "jumbo-shpool") >= 0 &&
	    peer_index(rep, "jumbo-pool") >= 0) {
		fprintf(f, "\nTargets of issue 12 (a named shared pool against "
			"a private one):\n");
		missed |= target_vs(f, rep, "jumbo-shpool", "jumbo-pool", WL_S1,
				    1.2, 0);
		missed |= target_vs(f, rep, "jumbo-shpool", "jumbo-pool", WL_S2,
				    1.2, 0);
		missed |= target_vs(f, rep, "jumbo-shpool", "jumbo-pool",
				    WL_S2B, 1.2, 0);
	}
	if (peer_index(rep, "dpdk") < 0)
		return missed;
	fprintf(f, "\nTargets of issues 2 and 4 (libjumbo against DPDK "
		"rte_mempool, cache 512):\n");
	for (int k = 0; k < 2; k++) {
		const char *j = k ? "jumbo-seed" : "jumbo-pool";

		missed |= target(f, rep, j, WL_S1, 0.5, 0);
		missed |= target(f, rep, j, WL_S2, 0.5, 0);
		if (!k) /* the same burst through both pools' batch calls */
			missed |= target(f, rep, j, WL_S2B, 0.5, 0);
		missed |= target(f, rep, j, WL_S3, 1.5, 1);
		missed |= target_s4(f, rep, j);
	}
	/* Issue 15: the seed's path as a user builds it (shared library),
	 * and the batch calls, at DPDK's time or better. */
	if (peer_index(rep, "jumbo-user") >= 0 ||
	    rep->wl_mask & (1u << WL_S2B)) {
		fprintf(f, "Targets of issue 15 (as users link it; batch "
			"calls):\n");
		missed |= target(f, rep, "jumbo-user", WL_S1, 1.0, 0);
		missed |= target(f, rep, "jumbo-user", WL_S2, 1.0, 0);
		missed |= target(f, rep, "jumbo-user", WL_S3, 1.0, 1);
		missed |= target(f, rep, "jumbo-pool", WL_S2B, 1.0, 0);
	}
	return missed;
}

/* Opening and closing an output file, saying why either failed. */
static FILE *out_open(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		fprintf(stderr, "jumbo-bench: %s: %s\n", path, strerror(errno));
	return f;
}

static int out_close(FILE *f, const char *path)
{
	if (fclose(f) != 0) {
		fprintf(stderr, "jumbo-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int output_csv(const struct report *rep, const char *path)
{
	int jp = peer_index(rep, "jumbo-pool");
	int js = peer_index(rep, "jumbo-seed");
	FILE *f = out_open(path);

	if (f == NULL)
		return -1;
	fprintf(f, "workload,peer,unit,runs,median,min,max,"
		"ratio_jumbo_pool,ratio_jumbo_seed,status,redone\n");
	for (unsigned w = 0; w < WL_COUNT; w++) {
		if (!(rep->wl_mask & (1u << w)))
			continue;
		for (unsigned i = 0; i < rep->npeers; i++) {
			const struct cell *c = &rep->cell[i][w];
			double rp = stats_ratio(rep, jp, i, (enum wl)w);
			double rs = stats_ratio(rep, js, i, (enum wl)w);

			fprintf(f, "%s,%s,%s,%u,", wl_names[w],
				rep->peer[i]->name, wl_units[w], c->n);
			if (c->state == CELL_OK)
				fprintf(f, "%.6g,%.6g,%.6g,", c->median, c->min,
					c->max);
			else
				fprintf(f, ",,,");
			if (rp > 0)
				fprintf(f, "%.4f", rp);
			fprintf(f, ",");
			if (rs > 0)
				fprintf(f, "%.4f", rs);
			fprintf(f, ",%s,%u\n", c->state == CELL_OK ? "ok" :
				c->state == CELL_NA ? "n/a" : "failed",
				c->discarded);
		}
	}
	return out_close(f, path);
}

/* A figure for a Markdown table: three significant digits, no exponent. */
static void md_num(FILE *f, double v)
{
	if (v >= 1000)
		fprintf(f, " %.0f |", v);
	else
		fprintf(f, " %.3g |", v);
}

/* The tables of bench/README.md, so that its results can be regenerated. */
int output_markdown(const struct report *rep, const char *path)
{
	int jp = peer_index(rep, "jumbo-pool");
	int js = peer_index(rep, "jumbo-seed");
	FILE *f = out_open(path);

	if (f == NULL)
		return -1;
	for (unsigned w = 0; w < WL_COUNT; w++) {
		if (!(rep->wl_mask & (1u << w)))
			continue;
		fprintf(f, "**%s** (%s, %s is better)\n\n", wl_titles[w],
			wl_units[w], higher_is_better(w) ? "higher" : "lower");
		if (w == WL_S3) {
			print_rtt(rep, f);
			fprintf(f, "\n");
		}
		fprintf(f, "| peer | median | min | max | jumbo-pool / peer "
			"| jumbo-seed / peer | runs redone |\n"
			"|---|---:|---:|---:|---:|---:|---:|\n");
		for (unsigned i = 0; i < rep->npeers; i++) {
			const struct cell *c = &rep->cell[i][w];

			if (c->state == CELL_NA || c->state == CELL_SKIP)
				continue;
			fprintf(f, "| %s |", rep->peer[i]->name);
			if (c->state == CELL_FAILED) {
				fprintf(f, " FAILED: %s | | | | | |\n",
					c->why[0] ? c->why : rep->peer_why[i]);
				continue;
			}
			md_num(f, c->median);
			md_num(f, c->min);
			md_num(f, c->max);
			for (int k = 0; k < 2; k++) {
				double r = stats_ratio(rep, k ? js : jp, i,
						       (enum wl)w);

				if (r > 0)
					fprintf(f, r < 0.1 ? " %.3f |" : " %.2f |",
						r);
				else
					fprintf(f, " - |");
			}
			if (c->discarded)
				fprintf(f, " %u |\n", c->discarded);
			else
				fprintf(f, " |\n");
		}
		fprintf(f, "\n");
	}
	fprintf(f, "```\n");
	output_targets(rep, f);
	fprintf(f, "```\n");
	return out_close(f, path);
}

/* One chart: a bar per peer at its median, whiskers from min to max. */
static int plot_one(const struct report *rep, const char *dir, enum wl w)
{
	char dat[512], png[512];
	FILE *f, *gp;
	unsigned rows = 0;
	double lo = 0, hi = 0;
	int st;

	snprintf(dat, sizeof(dat), "%s/%s.dat", dir, wl_names[w]);
	snprintf(png, sizeof(png), "%s/%s.png", dir, wl_names[w]);
	f = out_open(dat);
	if (f == NULL)
		return -1;
	for (unsigned i = 0; i < rep->npeers; i++) {
		const struct cell *c = &rep->cell[i][w];

		if (c->state != CELL_OK)
			continue;
		fprintf(f, "\"%s\" %g %g %g\n", rep->peer[i]->name, c->median,
			c->min, c->max);
		if (rows == 0 || c->min < lo)
			lo = c->min;
		if (rows == 0 || c->max > hi)
			hi = c->max;
		rows++;
	}
	if (out_close(f, dat) != 0)
		return -1;
	if (rows == 0)
		return 0;
	gp = popen("gnuplot", "w");
	if (gp == NULL) {
		fprintf(stderr, "jumbo-bench: cannot run gnuplot: %s\n",
			strerror(errno));
		return -1;
	}
	fprintf(gp,
		"set terminal pngcairo size 900,500 noenhanced\n"
		"set output '%s'\n"
		"set title '%s (median of %u runs, whiskers min..max)'\n"
		"set ylabel '%s'\n"
		"set style fill solid 0.6 border -1\n"
		"set bars 2\n"
		"set offsets 0.5, 0.5, 0, 0\n"
		"%s\n"
		"set grid ytics\n"
		"set xtics rotate by -30\n"
		"unset key\n"
		"plot '%s' using 0:2:3:4:(0.35):xtic(1) with boxerrorbars "
		"lc rgb '#4477aa', '' using 0:2:(sprintf('%%.3g', $2)) "
		"with labels offset 0,1\n",
		png, wl_titles[w], rep->runs, wl_units[w],
		/* glibc's 4 us next to libjumbo's 5 ns: only a log scale
		 * shows both. */
		lo > 0 && hi / lo > 50 ? "set logscale y" : "set yrange [0:*]",
		dat);
	st = pclose(gp);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "jumbo-bench: gnuplot failed for %s "
			"(is gnuplot installed? scripts/install-deps.sh "
			"bench)\n", png);
		return -1;
	}
	return 0;
}

int output_plots(const struct report *rep, const char *dir)
{
	static const enum wl charts[] = { WL_S1, WL_S2, WL_S2B, WL_S3, WL_S4 };
	int err = 0;

	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "jumbo-bench: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (unsigned k = 0; k < sizeof(charts) / sizeof(charts[0]); k++)
		if (rep->wl_mask & (1u << charts[k]))
			err |= plot_one(rep, dir, charts[k]);
	if (err == 0)
		printf("charts: %s/{S1,S2,S2B,S3,S4}.png\n", dir);
	return err;
}
