/*
 * The harness: threads, calibration, runs and their order.  main.c reads
 * the options into a report and calls run_all(); the adapters (peer_*.c)
 * own nothing but their allocator.  Each figure is measured after one
 * untimed warm-up run, with an iteration count calibrated so that a run
 * lasts about BENCH_RUN_NS (a fixed small count in --quick).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ring.h"

#define BENCH_RUN_NS 1e8       /* a timed run lasts about 0.1 s: short runs
				* are more often undisturbed by other load */
#define BENCH_CAPACITY 32768u  /* pages a pool needs for S1-S4 */
#define BENCH_MAX_LOST 0.05    /* of a run waiting for a CPU: run again */
#define BENCH_MAX_LOST_S4 0.3  /* S4's CPUs idle or taken; 0.1-0.25 when
				* undisturbed: threads start and end apart */
#define BENCH_RETRIES 4
#define BENCH_MAX_RTT 4.0      /* S3: round trip over the best: run again */

static struct report *rep;
static double last_rtt; /* S3: the probe of the last run */

/* ---- the progress line ------------------------------------------------- */

static void progress(const char *peer, const char *wl, unsigned run,
		     unsigned runs)
{
	fprintf(stderr, "\r%-12s %-6s run %u/%u   ", peer, wl, run, runs);
	fflush(stderr);
}

static void progress_done(void)
{
	fprintf(stderr, "\r%40s\r", "");
	fflush(stderr);
}

/* ---- threads ------------------------------------------------------------- */

struct thr {
	const struct peer *p;
	enum wl w;
	int cpu;
	int producer;
	struct spsc *q;
	uint64_t n, seed;
	pthread_barrier_t *go;
	double t0, t1;  /* wall clock */
	double r0, r1;  /* this thread's time on its CPU */
	double d0, d1;  /* and waiting for it */
	double rtt;     /* S3: the probe's round trip, ns */
	struct wl_result r;
};

/*
 * S3's probe: the round trip of a cache line between the two threads.  On
 * a virtual machine the host moves the two vCPUs between physical cores;
 * here the round trip went from 70 ns to over 1 us within seconds, and S3
 * with it (25 against 100 M pages/s for the ring alone), for every peer
 * alike.  Both threads run it before the workload;
 * the producer returns the mean round trip in ns.
 */
#define PROBE_TRIPS 2000

static struct {
	_Alignas(64) _Atomic uint64_t v;
} probe;

static double probe_rtt(int producer)
{
	double t0 = bench_now_ns();

	for (uint64_t i = 0; i < PROBE_TRIPS; i++) {
		uint64_t want = producer ? 2 * i + 2 : 2 * i + 1;

		/* Release/acquire: a plain hand-off of the line; the value
		 * orders nothing else. */
		if (producer)
			atomic_store_explicit(&probe.v, 2 * i + 1,
					      memory_order_release);
		while (atomic_load_explicit(&probe.v, memory_order_acquire) !=
		       want)
			spsc_pause();
		if (!producer)
			atomic_store_explicit(&probe.v, 2 * i + 2,
					      memory_order_release);
	}
	return (bench_now_ns() - t0) / PROBE_TRIPS;
}

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	int entered = 0;

	bench_pin_self(t->cpu);
	if (t->w == WL_S3)
		t->rtt = probe_rtt(t->producer);
	if (t->p->thread_enter == NULL ||
	    t->p->thread_enter(t->r.why, sizeof(t->r.why)) == 0)
		entered = 1;
	else
		t->r.errors++;
	pthread_barrier_wait(t->go);
	/* Read the counters outside the clock, as run_once() does. */
	bench_schedstat(&t->r0, &t->d0);
	t->t0 = bench_now_ns();
	if (!entered)
		atomic_store_explicit(&t->q->failed, 1, memory_order_release);
	else if (t->w == WL_S4)
		t->p->s4(t->n, t->seed, &t->r);
	else if (t->producer)
		t->p->s3_produce(t->q, t->n, &t->r);
	else
		t->p->s3_consume(t->q, t->n, &t->r);
	t->t1 = bench_now_ns();
	bench_schedstat(&t->r1, &t->d1);
	if (entered && t->p->thread_leave)
		t->p->thread_leave();
	return NULL;
}

/*
 * Runs nthr threads of workload w and returns the wall time from the first
 * start to the last end; errors of any thread are merged into r.  *lost is
 * the share of that time taken by other work: in S3 the largest share a
 * thread waited for its CPU (both spin, so either one preempted stalls the
 * pipe); in S4, where the eight threads wait for each other by design, the
 * share of the two CPUs' time that none of them ran.
 */
static double run_threads(const struct peer *p, enum wl w, unsigned nthr,
			  uint64_t n, struct wl_result *r, double *lost)
{
	pthread_attr_t attr;
	cpu_set_t set;
	double ran = 0;
	struct thr t[BENCH_S4_THREADS];
	pthread_t tid[BENCH_S4_THREADS];
	pthread_barrier_t go;
	static void *slots[BENCH_RING_SLOTS];
	static struct spsc q;
	double t0 = 0, t1 = 0;

	spsc_init(&q, slots, BENCH_RING_SLOTS);
	/* Relaxed: the threads are created after this store. */
	atomic_store_explicit(&probe.v, 0, memory_order_relaxed);
	pthread_barrier_init(&go, NULL, nthr);
	for (unsigned i = 0; i < nthr; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].p = p;
		t[i].w = w;
		/* S3: producer on CPU 0, consumer on CPU 1, as a receive
		 * thread and an application thread would be placed.  S4:
		 * the scheduler places eight threads on the two CPUs. */
		t[i].cpu = w == WL_S3 ? (int)i : -1;
		t[i].producer = i == 0;
		t[i].q = &q;
		t[i].n = n;
		t[i].seed = rep->seed * 1000003u + i;
		t[i].go = &go;
	}
	for (unsigned i = 0; i < nthr; i++) {
		int err;

		/* Born on their CPUs: a thread created from the main thread
		 * (pinned to CPU 0) and moved later may run its whole share
		 * on CPU 0 before the balancer moves it. */
		CPU_ZERO(&set);
		for (int c = 0; c < 2; c++)
			if (t[i].cpu < 0 || t[i].cpu == c)
				CPU_SET(c, &set);
		pthread_attr_init(&attr);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		err = pthread_create(&tid[i], &attr, thr_main, &t[i]);
		if (err != 0) {
			/* The barrier waits for nthr: cannot recover. */
			fprintf(stderr, "jumbo-bench: pthread_create: %s\n",
				strerror(err));
			exit(2);
		}
		pthread_attr_destroy(&attr);
	}
	for (unsigned i = 0; i < nthr; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&go);
	r->value = 0;
	for (unsigned i = 0; i < nthr; i++) {
		if (i == 0 || t[i].t0 < t0)
			t0 = t[i].t0;
		if (t[i].t1 > t1)
			t1 = t[i].t1;
		if (t[i].r.errors && !r->errors)
			snprintf(r->why, sizeof(r->why), "%s", t[i].r.why);
		r->errors += t[i].r.errors;
		r->value += t[i].r.value; /* S4: allocations */
	}
	*lost = 0;
	for (unsigned i = 0; t1 > t0 && i < nthr; i++) {
		double d = (t[i].d1 - t[i].d0) / (t1 - t0);

		ran += t[i].r1 - t[i].r0;
		if (d > *lost)
			*lost = d;
	}
	if (w == WL_S4 && t1 > t0)
		*lost = 1 - ran / (2 * (t1 - t0));
	if (w == WL_S3)
		last_rtt = t[0].rtt;
	return t1 - t0;
}

/* ---- one run of one figure ---------------------------------------------- */

/* Runs workload w once with n iterations; returns its value in *r and the
 * elapsed time. */
static double run_once(const struct peer *p, enum wl w, uint64_t n,
		       struct wl_result *r, double *lost)
{
	struct wl_params a = { .iters = n };
	double t0, r0, d0, r1, d1, dt;

	memset(r, 0, sizeof(*r));
	if (w == WL_S3) {
		dt = run_threads(p, w, 2, n, r, lost);
		r->value = (double)n / dt * 1e3; /* pages per ns -> M/s */
		return dt;
	}
	if (w == WL_S4) {
		dt = run_threads(p, w, BENCH_S4_THREADS, n, r, lost);
		r->value = r->value > 0 ? dt / r->value : 0;
		return dt;
	}
	bench_pin_self(0);
	if (p->thread_enter && p->thread_enter(r->why, sizeof(r->why))) {
		r->errors++;
		return 1;
	}
	bench_schedstat(&r0, &d0);
	t0 = bench_now_ns();
	if (w == WL_S1)
		p->s1(&a, r);
	else if (w == WL_S2)
		p->s2(&a, r);
	else
		p->s2b(&a, r);
	dt = bench_now_ns() - t0;
	bench_schedstat(&r1, &d1);
	*lost = dt > 0 ? (d1 - d0) / dt : 0;
	if (p->thread_leave)
		p->thread_leave();
	r->value = dt / (double)(w == WL_S1 ? n : n * BENCH_BURST);
	return dt;
}

static int has_workload(const struct peer *p, enum wl w)
{
	switch (w) {
	case WL_S1: return p->s1 != NULL;
	case WL_S2: return p->s2 != NULL;
	case WL_S2B: return p->s2b != NULL;
	case WL_S3: return p->s3_produce != NULL;
	case WL_S4: return p->s4 != NULL;
	default: return p->grow != NULL;
	}
}

static void cell_fail(struct cell *c, const struct peer *p, const char *why)
{
	c->state = CELL_FAILED;
	snprintf(c->why, sizeof(c->why), "%s", why);
	fprintf(stderr, "\njumbo-bench: %s: %s\n", p->name, why);
}

/* After a run: the workload's own checks, then the adapter's. */
static int run_ok(const struct peer *p, struct cell *c, struct wl_result *r)
{
	char why[160];

	if (r->errors) {
		cell_fail(c, p, r->why);
		return 0;
	}
	if (p->check && p->check(why, sizeof(why)) != 0) {
		cell_fail(c, p, why);
		return 0;
	}
	return 1;
}

/*
 * Calibration: one untimed warm-up run (it also grows pools and fills
 * caches, which would make a timed run look slow), then runs of growing
 * length until one lasts 10 ms, scaled to BENCH_RUN_NS.  Returns 0 if the
 * peer failed.
 */
static uint64_t calibrate(unsigned pi, enum wl w)
{
	const struct peer *p = rep->peer[pi];
	struct cell *c = &rep->cell[pi][w];
	struct wl_result r;
	uint64_t n = w == WL_S2 || w == WL_S2B ? 64 : w == WL_S3 ? 65536 :
		     32768;
	double dt, lost;

	progress(p->name, wl_names[w], 0, rep->runs);
	dt = run_once(p, w, n, &r, &lost);
	if (!run_ok(p, c, &r))
		return 0;
	if (rep->quick)
		return n;
	for (;;) {
		dt = run_once(p, w, n, &r, &lost);
		if (!run_ok(p, c, &r))
			return 0;
		if (dt >= 1e7 || n > ((uint64_t)1 << 40))
			break;
		n *= 4;
	}
	return (uint64_t)((double)n * (BENCH_RUN_NS / dt)) + 1;
}

/*
 * One timed run of one figure; marks the cell failed on error.  On a
 * machine that other work shares, a run during which a measuring thread
 * waited for its CPU more than BENCH_MAX_LOST of the time measured the
 * other work, not the allocator: it is discarded (and counted) and
 * repeated, up to BENCH_RETRIES times, after which the last one stands.
 * So is an S3 run whose probe found the two vCPUs more than BENCH_MAX_RTT
 * times further apart than the nearest seen in this invocation.
 */
static void run_figure(unsigned pi, enum wl w, uint64_t n, unsigned run)
{
	const struct peer *p = rep->peer[pi];
	struct cell *c = &rep->cell[pi][w];
	struct wl_result r;
	double lost;

	progress(p->name, wl_names[w], run + 1, rep->runs);
	for (unsigned k = 0;; k++) {
		int far;

		run_once(p, w, n, &r, &lost);
		if (!run_ok(p, c, &r))
			return;
		if (w == WL_S3 && (rep->best_rtt == 0 || last_rtt < rep->best_rtt))
			rep->best_rtt = last_rtt;
		far = w == WL_S3 && last_rtt > BENCH_MAX_RTT * rep->best_rtt;
		if (rep->quick || k == BENCH_RETRIES ||
		    (!far && lost <= (w == WL_S4 ? BENCH_MAX_LOST_S4
						  : BENCH_MAX_LOST)))
			break;
		c->discarded++;
	}
	if (w == WL_S3 && rep->nrtt < BENCH_MAX_PEERS * BENCH_MAX_RUNS)
		rep->rtt[rep->nrtt++] = last_rtt;
	c->v[c->n++] = r.value;
}

/* One run of GROW, FAULTS, META and RSS: a fresh pool of 1 GiB. */
static void run_grow(unsigned pi, unsigned run)
{
	const struct peer *p = rep->peer[pi];
	struct wl_params a = {
		.grow_pages = (rep->quick ? BENCH_GROW_BYTES / 64 :
					   BENCH_GROW_BYTES) / BENCH_PAGE,
	};
	struct cell *g = &rep->cell[pi][WL_GROW], *f = &rep->cell[pi][WL_FAULTS],
		    *m = &rep->cell[pi][WL_META], *s = &rep->cell[pi][WL_RSS];
	struct wl_result gr, mr;

	memset(&gr, 0, sizeof(gr));
	memset(&mr, 0, sizeof(mr));
	progress(p->name, "GROW", run + 1, rep->runs);
	bench_pin_self(0);
	if (p->thread_enter && p->thread_enter(gr.why, sizeof(gr.why)))
		gr.errors++;
	else
		p->grow(&a, &gr, &mr);
	if (p->thread_leave)
		p->thread_leave();
	if (!run_ok(p, g, &gr) || !run_ok(p, s, &mr)) {
		f->state = m->state = s->state = g->state = CELL_FAILED;
		return;
	}
	g->v[g->n++] = gr.value;
	f->v[f->n++] = gr.minflt;
	s->v[s->n++] = mr.rss_mib;
	if (mr.meta >= 0)
		m->v[m->n++] = mr.meta;
}

static int peer_live(unsigned pi, enum wl w)
{
	return !rep->peer_why[pi][0] && rep->cell[pi][w].state != CELL_FAILED;
}

/*
 * All peers are started first, then each figure is measured run by run
 * across the peers (run 1 of every peer, then run 2, ...), so that a
 * burst of load from elsewhere on the machine spreads over all of them
 * instead of skewing one peer's figure.
 */
void run_all(struct report *r)
{
	static uint64_t n[BENCH_MAX_PEERS][WL_COUNT];

	rep = r;

	for (unsigned pi = 0; pi < rep->npeers; pi++) {
		const struct peer *p = rep->peer[pi];
		char why[160] = "";

		progress(p->name, "start", 0, rep->runs);
		if (p->start(BENCH_CAPACITY, why, sizeof(why)) == 0)
			continue;
		snprintf(rep->peer_why[pi], sizeof(rep->peer_why[pi]),
			 "could not start: %s", why);
		progress_done();
		fprintf(stderr, "jumbo-bench: %s %s\n", p->name,
			rep->peer_why[pi]);
		for (unsigned w = 0; w < WL_COUNT; w++)
			if (rep->wl_mask & (1u << w))
				rep->cell[pi][w].state = CELL_FAILED;
	}
	for (unsigned w = WL_S1; w <= WL_S4; w++) {
		if (!(rep->wl_mask & (1u << w)))
			continue;
		for (unsigned pi = 0; pi < rep->npeers; pi++) {
			if (!peer_live(pi, (enum wl)w))
				continue;
			if (!has_workload(rep->peer[pi], (enum wl)w))
				rep->cell[pi][w].state = CELL_NA;
			else
				n[pi][w] = calibrate(pi, (enum wl)w);
		}
		for (unsigned run = 0; run < rep->runs; run++)
			for (unsigned pi = 0; pi < rep->npeers; pi++)
				if (peer_live(pi, (enum wl)w) &&
				    rep->cell[pi][w].state != CELL_NA)
					run_figure(pi, (enum wl)w, n[pi][w],
						   run);
		for (unsigned pi = 0; pi < rep->npeers; pi++) {
			struct cell *c = &rep->cell[pi][w];

			if (peer_live(pi, (enum wl)w) && c->state != CELL_NA) {
				c->state = CELL_OK;
				stats_summarise(c);
			}
		}
	}
	if (rep->wl_mask & (1u << WL_GROW)) {
		for (unsigned pi = 0; pi < rep->npeers; pi++)
			if (peer_live(pi, WL_GROW) && !has_workload(rep->peer[pi],
								   WL_GROW))
				rep->cell[pi][WL_GROW].state =
				rep->cell[pi][WL_FAULTS].state =
				rep->cell[pi][WL_META].state =
				rep->cell[pi][WL_RSS].state = CELL_NA;
		for (unsigned run = 0; run < rep->runs; run++)
			for (unsigned pi = 0; pi < rep->npeers; pi++)
				if (peer_live(pi, WL_GROW) &&
				    rep->cell[pi][WL_GROW].state != CELL_NA)
					run_grow(pi, run);
		for (unsigned pi = 0; pi < rep->npeers; pi++) {
			for (unsigned w = WL_GROW; w <= WL_RSS; w++) {
				struct cell *c = &rep->cell[pi][w];

				if (!peer_live(pi, (enum wl)w) ||
				    c->state == CELL_NA)
					continue;
				c->state = c->n ? CELL_OK : CELL_NA;
				stats_summarise(c);
			}
		}
	}
	for (unsigned pi = 0; pi < rep->npeers; pi++)
		if (!rep->peer_why[pi][0] && rep->peer[pi]->stop)
			rep->peer[pi]->stop();
	progress_done();
}

