/*
 * The report: the same keys as text lines or as one JSON object.  Keys
 * are plain identifiers and values numbers or simple strings, so the JSON
 * needs no escaping beyond quotes and backslashes.
 */
#include "tool.h"

#include <jumbo/tx.h>

#include <string.h>

static void rep_key(struct report *r, const char *key)
{
	if (r->json) {
		fprintf(r->f, "%s\n%*s\"%s\": ", r->first ? "" : ",",
			2 * r->depth, "", key);
		r->first = 0;
	} else {
		fprintf(r->f, "%*s%-16s ", 2 * r->depth, "", key);
	}
}

void rep_begin(struct report *r, FILE *f, int json)
{
	r->f = f;
	r->json = json;
	r->depth = 1;
	r->first = 1;
	if (json)
		fputc('{', f);
}

void rep_section(struct report *r, const char *name)
{
	if (r->json) {
		rep_key(r, name);
		fputc('{', r->f);
		r->first = 1;
	} else {
		fprintf(r->f, "%*s%s:\n", 2 * r->depth, "", name);
	}
	r->depth++;
}

void rep_end_section(struct report *r)
{
	r->depth--;
	if (r->json) {
		fprintf(r->f, "\n%*s}", 2 * r->depth, "");
		r->first = 0;
	}
}

void rep_u64(struct report *r, const char *key, uint64_t v)
{
	rep_key(r, key);
	fprintf(r->f, r->json ? "%llu" : "%llu\n", (unsigned long long)v);
}

void rep_f(struct report *r, const char *key, double v, const char *unit)
{
	rep_key(r, key);
	if (r->json)
		fprintf(r->f, "%.4f", v);
	else
		fprintf(r->f, "%.3f%s%s\n", v, unit ? " " : "", unit ? unit : "");
}

void rep_s(struct report *r, const char *key, const char *v)
{
	rep_key(r, key);
	if (!r->json) {
		fprintf(r->f, "%s\n", v);
		return;
	}
	fputc('"', r->f);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', r->f);
		if ((unsigned char)*v >= 0x20)
			fputc(*v, r->f);
	}
	fputc('"', r->f);
}

void rep_end(struct report *r)
{
	if (r->json)
		fputs("\n}\n", r->f);
	fflush(r->f);
}

void rep_rx_stats(struct report *r, const struct jumbo_rx_stats *st)
{
	rep_u64(r, "packets", st->packets);
	rep_u64(r, "bytes", st->bytes);
	rep_u64(r, "syscalls", st->syscalls);
	rep_u64(r, "no_buffer", st->no_buffer);
	rep_u64(r, "truncated", st->truncated);
	rep_u64(r, "too_long", st->too_long);
	rep_u64(r, "short_frames", st->short_frames);
	rep_u64(r, "kernel_drops", st->kernel_drops);
	rep_u64(r, "errors", st->errors);
	rep_u64(r, "connections", st->connections);
	rep_u64(r, "closes", st->closes);
	rep_u64(r, "pages", st->pages);
	rep_u64(r, "ring_rearms", st->ring_rearms);
}

void rep_tx_stats(struct report *r, const struct jumbo_tx_stats *st)
{
	rep_u64(r, "packets", st->packets);
	rep_u64(r, "bytes", st->bytes);
	rep_u64(r, "syscalls", st->syscalls);
	rep_u64(r, "zc_sends", st->zc_sends);
	rep_u64(r, "zc_done", st->zc_done);
	rep_u64(r, "zc_copied", st->zc_copied);
	rep_u64(r, "zc_off", st->zc_off);
	rep_u64(r, "full", st->full);
	rep_u64(r, "dropped", st->dropped);
	rep_u64(r, "refused", st->refused);
	rep_u64(r, "unreachable", st->unreachable);
	rep_u64(r, "resets", st->resets);
	rep_u64(r, "errors", st->errors);
	rep_u64(r, "inflight", st->inflight);
	rep_u64(r, "pages_held", st->pages_held);
	rep_u64(r, "too_long", st->too_long);
	rep_u64(r, "copied", st->copied);
}

void tool_progress(double t, uint64_t frames, double gbps)
{
	fprintf(stderr, "\r%6.1f s %10llu frames %8.3f Gbit/s ", t,
		(unsigned long long)frames, gbps);
}

void rep_pool_stats(struct report *r, struct jumbo_pool *pool)
{
	struct jumbo_stats ps;

	if (jumbo_pool_stats(pool, &ps))
		return;
	rep_u64(r, "page_size", ps.page_size);
	rep_u64(r, "in_use", ps.in_use);
	rep_u64(r, "high_water", ps.high_water);
	rep_u64(r, "grows", ps.grows);
	rep_u64(r, "committed", ps.committed);
	rep_u64(r, "allocs", ps.allocs);
	rep_u64(r, "frees", ps.frees);
	rep_u64(r, "steals", ps.steals);
	rep_u64(r, "alloc_fails", ps.alloc_fails);
	rep_mbuf_stats(r);
}

/*
 * The process's mbufs beside its pages (issue 16), so that an mbuf leak
 * shows where a page leak would: mbuf_in_use stays up after the run.
 */
void rep_mbuf_stats(struct report *r)
{
	struct jumbo_mbuf_stats ms;

	if (jumbo_mbuf_stats(&ms))
		return;
	rep_u64(r, "mbuf_in_use", ms.in_use);
	rep_u64(r, "mbuf_high_water", ms.high_water);
	rep_u64(r, "mbuf_allocs", ms.allocs);
	rep_u64(r, "mbuf_frees", ms.frees);
	rep_u64(r, "mbuf_alloc_fails", ms.alloc_fails);
	rep_u64(r, "mbuf_slabs", ms.slabs);
}
