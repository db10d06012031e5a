/*
 * jumbo rx's output side: the payloads it writes out (--write), one CSV
 * line per interval (--csv), and the progress line on a terminal.  Every
 * time is counted from the first frame and every rate is over an interval
 * in which frames could flow, so that a sender that starts late, or stops
 * early, does not make the rates lie.
 */
#include "rx_cmd.h"

#include <errno.h>
#include <string.h>

FILE *rx_open_out(const char *opt, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;

	if (!f)
		tool_err(EX_FAIL, "%s: cannot write '%s': %s", opt, path,
			 strerror(errno));
	return f;
}

void rx_write(struct rx_seen *s, const char *p, size_t len)
{
	if (s->werr || !s->wf || !len)
		return;
	if (fwrite(p, 1, len, s->wf) != len)
		s->werr = errno ? errno : EIO;
}

void rx_write_chain(struct rx_seen *s, const struct mbuf *m)
{
	for (; m && !s->werr; m = m->m_next)
		rx_write(s, m->m_data, m->m_len);
}

void rx_csv_begin(struct rx_tick *k)
{
	if (k->csv)
		fputs("time_s,frames,bytes,gbps,frames_per_s,kernel_drops,"
		      "nobuf_drops,truncated,pool_in_use\n", k->csv);
}

static void rx_csv_line(struct rx_tick *k, const struct rx_seen *s,
			uint64_t t, const struct jumbo_rx_stats *st,
			const struct jumbo_stats *ps)
{
	double dt = (double)(t - k->t) / 1e9;

	fprintf(k->csv, "%.3f,%llu,%llu,%.4f,%.1f,%llu,%llu,%llu,%llu\n",
		(double)(t - s->first) / 1e9, (unsigned long long)s->frames,
		(unsigned long long)s->bytes,
		dt > 0 ? (double)(s->bytes - k->bytes) * 8 / dt / 1e9 : 0.0,
		dt > 0 ? (double)(s->frames - k->frames) / dt : 0.0,
		(unsigned long long)(st ? st->kernel_drops : 0),
		(unsigned long long)(st ? st->no_buffer : 0),
		(unsigned long long)(st ? st->truncated : 0),
		(unsigned long long)(ps ? ps->in_use : 0));
	fflush(k->csv);
	k->lines++;
}

/* Remembers where this interval ended: the next one starts there. */
static void rx_tick_mark(struct rx_tick *k, const struct rx_seen *s,
			 uint64_t t, const struct jumbo_rx_stats *st)
{
	k->t = t;
	k->frames = s->frames;
	k->bytes = s->bytes;
	k->kernel_drops = st ? st->kernel_drops : 0;
	k->no_buffer = st ? st->no_buffer : 0;
	k->truncated = st ? st->truncated : 0;
}

void rx_tick(struct rx_tick *k, const struct rx_seen *s, uint64_t now,
	     const struct jumbo_rx_stats *st, const struct jumbo_stats *ps,
	     int progress)
{
	double dt;

	if (!s->first) {
		/* Nothing to rate yet: time runs from the first frame. */
		if (progress)
			fprintf(stderr, "\rwaiting for the first frame: %.1f s ",
				(double)(now - s->t0) / 1e9);
		return;
	}
	if (!k->t)
		k->t = s->first;
	dt = (double)(now - k->t) / 1e9;
	if (progress) {
		tool_progress((double)(now - s->first) / 1e9, s->frames,
			      dt > 0 ? (double)(s->bytes - k->bytes) * 8 / dt /
					       1e9
				     : 0.0);
		fprintf(stderr, "%10.0f frames/s ",
			dt > 0 ? (double)(s->frames - k->frames) / dt : 0.0);
	}
	if (k->csv)
		rx_csv_line(k, s, now, st, ps);
	rx_tick_mark(k, s, now, st);
}

void rx_csv_end(struct rx_tick *k, const struct rx_seen *s, uint64_t now,
		const struct jumbo_rx_stats *st, const struct jumbo_stats *ps)
{
	if (!k->csv || !s->first)
		return;
	if (!k->t)
		k->t = s->first;
	if (k->lines && s->frames == k->frames &&
	    (!st || (st->kernel_drops == k->kernel_drops &&
		     st->no_buffer == k->no_buffer &&
		     st->truncated == k->truncated)))
		return;
	/* To the last frame if it came in this interval, else to now. */
	rx_csv_line(k, s, s->last > k->t ? s->last : now, st, ps);
}
