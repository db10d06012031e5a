/*
 * jumbo stat: the pools and mbufs of running programs, from the statistics
 * segments the library keeps (see jumbo_stat(3)).  Reading takes no lock
 * in the target and sends it nothing; the numbers are as old as the
 * snapshot the target last published, which is printed with them.
 */
#include "tool.h"

#include <jumbo/stat.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 1024
#define BAR 40

struct stat_cfg {
	pid_t pid;         /* 0: all, or those named name */
	const char *name;
	double watch;      /* seconds between samples; 0: one sample */
	unsigned long count; /* samples while watching; 0: until interrupted */
	int json, prom;
};

/* One sample: the processes read, and the previous one for the rates. */
struct sample {
	unsigned n;
	struct jumbo_stat_proc *p; /* n entries */
};

static volatile sig_atomic_t stat_stop;

static void stat_on_signal(int sig)
{
	(void)sig;
	stat_stop = 1;
}

static void stat_usage(FILE *f)
{
	fputs("usage: jumbo stat [PID|NAME] [--watch SECS [--count N]] "
	      "[--json | --prometheus]\n"
	      "\n"
	      "  PID|NAME         one process, or the processes of that name\n"
	      "                   (default: every process that publishes pools)\n"
	      "  --watch SECS     sample again every SECS, with rates per second\n"
	      "  --count N        stop after N samples (with --watch)\n"
	      "  --json           one JSON object per sample\n"
	      "  --prometheus     the text format of Prometheus (node_exporter's\n"
	      "                   textfile collector)\n"
	      "\n"
	      "Programs publish their shared pools, pools made with\n"
	      "JUMBO_POOL_STAT, and all their pools with JUMBO_STAT=1 in the\n"
	      "environment, and with them their mbuf counters; the jumbo\n"
	      "command publishes its own.\n", f);
}

/*
 * A segment's key as jumbo stat prints and takes it: the pid, or PID.K for
 * the segment jumbo-stat.PID.K of a writer whose pid number a live writer
 * in another pid namespace had taken (jumbo_stat(3)).
 */
struct key_name {
	char s[24];
};

static struct key_name key_name(pid_t key)
{
	struct key_name n;

	if (JUMBO_STAT_KEY_SUFFIX(key))
		snprintf(n.s, sizeof(n.s), "%d.%u", (int)JUMBO_STAT_KEY_PID(key),
			 JUMBO_STAT_KEY_SUFFIX(key));
	else
		snprintf(n.s, sizeof(n.s), "%d", (int)key);
	return n;
}

static double now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads the chosen processes into s; 0, or 1 if some could not be read. */
static int take_sample(const struct stat_cfg *c, struct sample *s)
{
	static pid_t pids[MAX_PROCS];
	int n, bad = 0;

	s->n = 0;
	if (c->pid) {
		pids[0] = c->pid;
		n = 1;
	} else {
		n = jumbo_stat_list(pids, MAX_PROCS);
		if (n < 0)
			return tool_err(1, "%s: %s", jumbo_stat_dir(), strerror(-n));
		if (n > MAX_PROCS)
			n = MAX_PROCS;
	}
	for (int i = 0; i < n; i++) {
		struct jumbo_stat_proc *p = &s->p[s->n];
		int e = jumbo_stat_read(pids[i], p);
		struct key_name kn = key_name(pids[i]);

		if (e == 0) {
			if (!c->name || !strcmp(c->name, p->comm))
				s->n++;
			continue;
		}
		if (e == -ESRCH) {
			int r = jumbo_stat_remove(pids[i]);
			if (r == 0)
				fprintf(stderr, "jumbo stat: pid %s is gone: removed "
					"its stale segment %s/jumbo-stat.%s\n",
					kn.s, jumbo_stat_dir(), kn.s);
			else
				fprintf(stderr, "jumbo stat: pid %s is gone; its stale "
					"segment %s/jumbo-stat.%s could not be "
					"removed: %s\n", kn.s,
					jumbo_stat_dir(), kn.s, strerror(-r));
			if (c->pid)
				bad = 1;
			continue;
		}
		/*
		 * Another user's segment, or one of another libjumbo, is not
		 * an error when listing all; nor said when choosing by name,
		 * which such a segment does not tell.
		 */
		if (!c->pid && c->name && (e == -EACCES || e == -EPROTO))
			continue;
		if (e == -EACCES) {
			struct stat sb;
			/* Listing all: other users' processes are not a failure. */
			bad |= c->pid != 0;
			char path[300];
			snprintf(path, sizeof(path), "%s/jumbo-stat.%s",
				 jumbo_stat_dir(), kn.s);
			if (stat(path, &sb) == 0)
				fprintf(stderr, "jumbo stat: pid %s: permission denied "
					"reading %s (owner uid %u, mode %04o): run "
					"as that user or root\n", kn.s, path,
					(unsigned)sb.st_uid,
					(unsigned)(sb.st_mode & 07777));
			else
				fprintf(stderr, "jumbo stat: pid %s: permission denied "
					"reading %s\n", kn.s, path);
		} else if (e == -EPROTO && p->version) {
			fprintf(stderr, "jumbo stat: pid %s: its statistics "
				"segment has format %u, this jumbo stat reads "
				"format %d: use the jumbo command of the %s "
				"libjumbo that process runs\n", kn.s,
				p->version, JUMBO_STAT_VERSION,
				p->version > JUMBO_STAT_VERSION ? "newer" : "older");
		} else if (e == -EPROTO) {
			fprintf(stderr, "jumbo stat: pid %s: %s/jumbo-stat.%s is "
				"not a statistics segment\n", kn.s,
				jumbo_stat_dir(), kn.s);
		} else if (e == -ENOENT) {
			fprintf(stderr, "jumbo stat: pid %s publishes no pools "
				"(no %s/jumbo-stat.%s; set JUMBO_STAT=1 in its "
				"environment)\n", kn.s, jumbo_stat_dir(),
				kn.s);
		} else {
			fprintf(stderr, "jumbo stat: pid %s: %s\n", kn.s,
				strerror(-e));
		}
		if (e != -EACCES && (e != -EPROTO || c->pid))
			bad = 1;
	}
	return bad;
}

static const struct jumbo_stat_pool *
prev_pool(const struct sample *prev, pid_t pid, unsigned id)
{
	for (unsigned i = 0; prev && i < prev->n; i++) {
		if (prev->p[i].pid != pid)
			continue;
		for (unsigned j = 0; j < prev->p[i].npools; j++)
			if (prev->p[i].pools[j].id == id)
				return &prev->p[i].pools[j];
	}
	return NULL;
}

static const struct jumbo_stat_proc *prev_proc(const struct sample *prev,
					       pid_t pid)
{
	for (unsigned i = 0; prev && i < prev->n; i++)
		if (prev->p[i].pid == pid)
			return &prev->p[i];
	return NULL;
}

static double prev_time(const struct sample *prev, pid_t pid)
{
	const struct jumbo_stat_proc *o = prev_proc(prev, pid);
	return o ? o->published_ns / 1e9 : 0;
}

/* The process's mbufs (jumbo_mbuf_stats), after its pools. */
static void print_text_mbufs(const struct jumbo_stat_proc *p,
			     const struct jumbo_stat_proc *o)
{
	const struct jumbo_mbuf_stats *m = &p->mbufs;
	double t = p->published_ns / 1e9;

	printf("  %-16s in use %llu  high water %llu  cached free %llu"
	       "  depot free %llu\n", "mbufs",
	       (unsigned long long)m->in_use,
	       (unsigned long long)m->high_water,
	       (unsigned long long)m->cached_free,
	       (unsigned long long)m->depot_free);
	printf("  slabs %llu of %llu KiB (%llu trimmed, %llu KiB held)"
	       "  allocs %llu  frees %llu  fails %llu\n",
	       (unsigned long long)m->slabs,
	       (unsigned long long)m->slab_bytes / 1024,
	       (unsigned long long)m->trimmed_slabs,
	       (unsigned long long)m->bytes / 1024,
	       (unsigned long long)m->allocs, (unsigned long long)m->frees,
	       (unsigned long long)m->alloc_fails);
	if (o && o->has_mbufs && t > o->published_ns / 1e9) {
		double dt = t - o->published_ns / 1e9;
		printf("  per second: allocs %.0f  frees %.0f  fails %.0f  "
		       "(over %.3f s)\n", (m->allocs - o->mbufs.allocs) / dt,
		       (m->frees - o->mbufs.frees) / dt,
		       (m->alloc_fails - o->mbufs.alloc_fails) / dt, dt);
	}
}

/*
 * in use '#', committed and free '+', reserved and uncommitted '.', scaled
 * to the cap; a non-empty class gets at least one mark.
 */
static void bar(char *b, const struct jumbo_stats *st)
{
	double cap = st->reserved ? (double)st->reserved : 1;
	unsigned u = (unsigned)(st->in_use * BAR / cap + 0.5);
	unsigned k = (unsigned)(st->committed * BAR / cap + 0.5);

	if (st->in_use && !u)
		u = 1;
	if (k < u)
		k = u;
	if (st->committed > st->in_use && k == u && k < BAR)
		k++;
	for (unsigned i = 0; i < BAR; i++)
		b[i] = i < u ? '#' : i < k ? '+' : '.';
	b[BAR] = '\0';
}

static void print_text(const struct sample *s, const struct sample *prev,
		       double now)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct jumbo_stat_proc *p = &s->p[i];
		double t = p->published_ns / 1e9, pt = prev_time(prev, p->pid);

		printf("pid %s (%s): %u pool%s, snapshot %.3f s old (published "
		       "every %u ms)\n", key_name(p->pid).s, p->comm, p->npools,
		       p->npools == 1 ? "" : "s", now - t, p->interval_ms);
		for (unsigned j = 0; j < p->npools; j++) {
			const struct jumbo_stat_pool *q = &p->pools[j];
			const struct jumbo_stats *st = &q->st;
			const struct jumbo_stat_pool *o = prev_pool(prev, p->pid, q->id);
			char b[BAR + 1];

			bar(b, st);
			printf("  %-16s %4llu KiB pages  in use %llu  committed %llu"
			       "  cap %llu  high water %llu\n", q->name,
			       (unsigned long long)st->page_size / 1024,
			       (unsigned long long)st->in_use,
			       (unsigned long long)st->committed,
			       (unsigned long long)st->reserved,
			       (unsigned long long)st->high_water);
			printf("  [%s] # in use  + committed  . cap\n", b);
			printf("  allocs %llu  frees %llu  fails %llu  grows %llu"
			       "  trims %llu  steals %llu  holds %llu  lost %llu\n",
			       (unsigned long long)st->allocs,
			       (unsigned long long)st->frees,
			       (unsigned long long)st->alloc_fails,
			       (unsigned long long)st->grows,
			       (unsigned long long)st->trims,
			       (unsigned long long)st->steals,
			       (unsigned long long)st->holds,
			       (unsigned long long)st->lost);
			if (o && t > pt) {
				double dt = t - pt;
				printf("  per second: allocs %.0f  frees %.0f  fails "
				       "%.0f  (over %.3f s)\n",
				       (st->allocs - o->st.allocs) / dt,
				       (st->frees - o->st.frees) / dt,
				       (st->alloc_fails - o->st.alloc_fails) / dt, dt);
			} else if (o) {
				printf("  per second: no new snapshot since the last "
				       "sample\n");
			}
		}
		if (p->has_mbufs)
			print_text_mbufs(p, prev_proc(prev, p->pid));
	}
	if (!s->n)
		printf("no process publishes pools in %s\n", jumbo_stat_dir());
	fflush(stdout);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

#define STAT_FIELDS(X)                                                       \
	X(allocs) X(frees) X(steals) X(holds) X(deferred_frees) X(grows)     \
	X(trims) X(alloc_fails) X(grow_fails) X(lost) X(in_use) X(committed) \
	X(reserved) X(high_water) X(depot_free) X(cached_free) X(page_size)  \
	X(meta_bytes) X(double_frees)

#define MBUF_FIELDS(X)                                                       \
	X(in_use) X(high_water) X(cached_free) X(depot_free) X(allocs)       \
	X(frees) X(alloc_fails) X(slabs) X(trimmed_slabs) X(slab_bytes)      \
	X(bytes)

static void print_json(const struct sample *s, const struct sample *prev,
		       double now)
{
	printf("{\"time\":%.3f,\"dir\":", now);
	json_str(jumbo_stat_dir());
	printf(",\"processes\":[");
	for (unsigned i = 0; i < s->n; i++) {
		const struct jumbo_stat_proc *p = &s->p[i];
		double t = p->published_ns / 1e9, pt = prev_time(prev, p->pid);

		printf("%s{\"pid\":%d,", i ? "," : "",
		       (int)JUMBO_STAT_KEY_PID(p->pid));
		if (JUMBO_STAT_KEY_SUFFIX(p->pid))
			printf("\"suffix\":%u,", JUMBO_STAT_KEY_SUFFIX(p->pid));
		printf("\"comm\":");
		json_str(p->comm);
		printf(",\"uid\":%u,\"age_s\":%.3f,\"interval_ms\":%u,"
		       "\"generation\":%llu,\"pools\":[", p->uid, now - t,
		       p->interval_ms, (unsigned long long)p->generation);
		for (unsigned j = 0; j < p->npools; j++) {
			const struct jumbo_stat_pool *q = &p->pools[j];
			const struct jumbo_stat_pool *o = prev_pool(prev, p->pid, q->id);
			printf("%s{\"name\":", j ? "," : "");
			json_str(q->name);
			printf(",\"id\":%u,\"flags\":%u", q->id, q->flags);
#define X(f) printf(",\"" #f "\":%llu", (unsigned long long)q->st.f);
			STAT_FIELDS(X)
#undef X
			if (o && t > pt)
				printf(",\"allocs_per_s\":%.1f,\"frees_per_s\":%.1f",
				       (q->st.allocs - o->st.allocs) / (t - pt),
				       (q->st.frees - o->st.frees) / (t - pt));
			putchar('}');
		}
		putchar(']');
		if (p->has_mbufs) {
			const struct jumbo_stat_proc *o = prev_proc(prev, p->pid);
			const char *sep = "";
			printf(",\"mbufs\":{");
#define X(f)                                                     \
	printf("%s\"" #f "\":%llu", sep, (unsigned long long)p->mbufs.f); \
	sep = ",";
			MBUF_FIELDS(X)
#undef X
			if (o && o->has_mbufs && t > pt)
				printf(",\"allocs_per_s\":%.1f,\"frees_per_s\":%.1f",
				       (p->mbufs.allocs - o->mbufs.allocs) / (t - pt),
				       (p->mbufs.frees - o->mbufs.frees) / (t - pt));
			putchar('}');
		}
		putchar('}');
	}
	printf("]}\n");
	fflush(stdout);
}

/* Label values: backslash, double quote and newline escaped. */
static void prom_label(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
}

static const struct {
	const char *name, *type, *help;
	size_t off;
} prom_metrics[] = {
#define M(n, f, t, h) { n, t, h, offsetof(struct jumbo_stats, f) },
	M("jumbo_pool_in_use_pages", in_use, "gauge", "Pages handed out and not returned.")
	M("jumbo_pool_committed_pages", committed, "gauge", "Pages with memory behind them.")
	M("jumbo_pool_cap_pages", reserved, "gauge", "The pool's cap, in pages.")
	M("jumbo_pool_high_water_pages", high_water, "gauge", "Most pages out of the depot at once.")
	M("jumbo_pool_depot_free_pages", depot_free, "gauge", "Free pages in the shared depot.")
	M("jumbo_pool_cached_free_pages", cached_free, "gauge", "Free pages in thread caches.")
	M("jumbo_pool_page_size_bytes", page_size, "gauge", "Page size of the pool.")
	M("jumbo_pool_meta_bytes", meta_bytes, "gauge", "Bytes of metadata the pool keeps.")
	M("jumbo_pool_allocs_total", allocs, "counter", "Pages handed out.")
	M("jumbo_pool_frees_total", frees, "counter", "Pages returned.")
	M("jumbo_pool_steals_total", steals, "counter", "Slots re-backed by a steal.")
	M("jumbo_pool_holds_total", holds, "counter", "Hold calls.")
	M("jumbo_pool_deferred_frees_total", deferred_frees, "counter", "Frees that waited for the last unhold.")
	M("jumbo_pool_grows_total", grows, "counter", "Growth steps.")
	M("jumbo_pool_trimmed_pages_total", trims, "counter", "Pages given back to the kernel.")
	M("jumbo_pool_alloc_fails_total", alloc_fails, "counter", "Allocations that failed (cap or kernel).")
	M("jumbo_pool_grow_fails_total", grow_fails, "counter", "Growth steps the kernel refused.")
	M("jumbo_pool_lost_pages_total", lost, "counter", "Slots retired: could not be re-backed.")
	M("jumbo_pool_double_frees_total", double_frees, "counter", "Racing double frees caught and mended.")
#undef M
};

/* A process's mbufs: labels pid and comm, no pool. */
static const struct {
	const char *name, *type, *help;
	size_t off;
} prom_mbuf_metrics[] = {
#define M(n, f, t, h) { n, t, h, offsetof(struct jumbo_mbuf_stats, f) },
	M("jumbo_mbuf_in_use", in_use, "gauge", "Mbufs allocated and not freed.")
	M("jumbo_mbuf_high_water", high_water, "gauge", "Most mbufs out of the depot at once (in use or in thread caches).")
	M("jumbo_mbuf_cached_free", cached_free, "gauge", "Free mbufs in thread caches.")
	M("jumbo_mbuf_depot_free", depot_free, "gauge", "Free mbufs in the shared depot.")
	M("jumbo_mbuf_slabs", slabs, "gauge", "Mbuf slabs mapped.")
	M("jumbo_mbuf_trimmed_slabs", trimmed_slabs, "gauge", "Mapped slabs whose memory was given back.")
	M("jumbo_mbuf_slab_bytes", slab_bytes, "gauge", "Bytes of one mbuf slab.")
	M("jumbo_mbuf_held_bytes", bytes, "gauge", "Slab memory held.")
	M("jumbo_mbuf_allocs_total", allocs, "counter", "Mbufs allocated.")
	M("jumbo_mbuf_frees_total", frees, "counter", "Mbufs freed.")
	M("jumbo_mbuf_alloc_fails_total", alloc_fails, "counter", "Mbuf allocations refused.")
#undef M
};

static void print_prom(const struct sample *s, double now)
{
	printf("# HELP jumbo_stat_age_seconds Age of the process's last published snapshot.\n"
	       "# TYPE jumbo_stat_age_seconds gauge\n");
	for (unsigned i = 0; i < s->n; i++) {
		printf("jumbo_stat_age_seconds{pid=\"%s\",comm=\"",
		       key_name(s->p[i].pid).s);
		prom_label(s->p[i].comm);
		printf("\"} %.3f\n", now - s->p[i].published_ns / 1e9);
	}
	for (size_t m = 0; m < sizeof(prom_metrics) / sizeof(prom_metrics[0]); m++) {
		printf("# HELP %s %s\n# TYPE %s %s\n", prom_metrics[m].name,
		       prom_metrics[m].help, prom_metrics[m].name,
		       prom_metrics[m].type);
		for (unsigned i = 0; i < s->n; i++) {
			const struct jumbo_stat_proc *p = &s->p[i];
			for (unsigned j = 0; j < p->npools; j++) {
				uint64_t v;
				memcpy(&v, (const char *)&p->pools[j].st +
					   prom_metrics[m].off, sizeof(v));
				printf("%s{pid=\"%s\",comm=\"", prom_metrics[m].name,
				       key_name(p->pid).s);
				prom_label(p->comm);
				printf("\",pool=\"");
				prom_label(p->pools[j].name);
				printf("\"} %llu\n", (unsigned long long)v);
			}
		}
	}
	for (size_t m = 0; m < sizeof(prom_mbuf_metrics) /
				   sizeof(prom_mbuf_metrics[0]); m++) {
		printf("# HELP %s %s\n# TYPE %s %s\n", prom_mbuf_metrics[m].name,
		       prom_mbuf_metrics[m].help, prom_mbuf_metrics[m].name,
		       prom_mbuf_metrics[m].type);
		for (unsigned i = 0; i < s->n; i++) {
			const struct jumbo_stat_proc *p = &s->p[i];
			uint64_t v;
			if (!p->has_mbufs)
				continue;
			memcpy(&v, (const char *)&p->mbufs + prom_mbuf_metrics[m].off,
			       sizeof(v));
			printf("%s{pid=\"%s\",comm=\"", prom_mbuf_metrics[m].name,
			       key_name(p->pid).s);
			prom_label(p->comm);
			printf("\"} %llu\n", (unsigned long long)v);
		}
	}
	fflush(stdout);
}

static int parse(int argc, char **argv, struct stat_cfg *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			stat_usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--json")) {
			c->json = 1;
		} else if (!strcmp(a, "--prometheus")) {
			c->prom = 1;
		} else if (!strcmp(a, "--watch") || !strcmp(a, "--count")) {
			if (i + 1 == argc)
				return tool_err(-1, "%s needs a value", a);
			if (a[2] == 'w') {
				if (opt_seconds(a, argv[++i], &c->watch))
					return -1;
				if (c->watch <= 0)
					return tool_err(-1, "--watch: '%s' is not a "
							"positive time", argv[i]);
			} else if (opt_uint(a, argv[++i], 1, 1000000000, &c->count)) {
				return -1;
			}
		} else if (a[0] == '-') {
			return tool_err(-1, "unknown option '%s' (see jumbo stat "
					"--help)", a);
		} else if (c->pid || c->name) {
			return tool_err(-1, "one PID or NAME only ('%s')", a);
		} else if (isdigit((unsigned char)a[0])) {
			char num[24], *dot;
			unsigned long v, k = 0;
			snprintf(num, sizeof(num), "%s", a);
			if ((dot = strchr(num, '.'))) {
				*dot = '\0'; /* PID.K: a suffixed segment */
				if (opt_uint("PID.K", dot + 1, 1,
					     JUMBO_STAT_KEY_SUFFIX(INT32_MAX), &k))
					return -1;
			}
			if (opt_uint("PID", num, 1, JUMBO_STAT_KEY_PID(-1), &v))
				return -1;
			c->pid = (pid_t)(v | k << 22);
		} else {
			c->name = a;
		}
	}
	if (c->json && c->prom)
		return tool_err(-1, "--json or --prometheus, not both");
	if (c->count && !c->watch)
		return tool_err(-1, "--count goes with --watch");
	return 0;
}

int cmd_stat(int argc, char **argv)
{
	struct stat_cfg c;
	struct sample s[2];
	int bad = 0, cur = 0;

	tool_cmd = "jumbo stat";
	if (parse(argc, argv, &c))
		return EX_USAGE;
	for (int i = 0; i < 2; i++) {
		s[i].n = 0;
		s[i].p = calloc(c.pid ? 1 : MAX_PROCS, sizeof(*s[i].p));
		if (!s[i].p)
			return tool_err(EX_FAIL, "out of memory");
	}
	signal(SIGINT, stat_on_signal);
	signal(SIGTERM, stat_on_signal);
	for (unsigned long k = 0; !stat_stop; k++) {
		bad = take_sample(&c, &s[cur]);
		double now = now_real();
		const struct sample *prev = k ? &s[!cur] : NULL;

		if (c.json)
			print_json(&s[cur], prev, now);
		else if (c.prom)
			print_prom(&s[cur], now);
		else
			print_text(&s[cur], prev, now);
		if (!c.watch || (c.count && k + 1 >= c.count))
			break;
		/* A single named process that went away ends the watch. */
		if (c.pid && bad)
			break;
		if (!c.json && !c.prom)
			putchar('\n');
		struct timespec d = { (time_t)c.watch,
				      (long)((c.watch - (time_t)c.watch) * 1e9) };
		while (nanosleep(&d, &d) && !stat_stop)
			;
		cur = !cur;
	}
	free(s[0].p);
	free(s[1].p);
	return bad ? EX_FAIL : 0;
}
