/*
 * jumbo rx's pieces: its settings, what it has seen, and its output side
 * (the frames written out, the CSV, the progress line), shared by
 * rx_cmd.c (options and the receive loop) and rx_out.c.
 */
#ifndef JUMBO_TOOLS_RX_CMD_H
#define JUMBO_TOOLS_RX_CMD_H

#include "tool.h"

/* Room for the link, network and transport headers of an xdp frame. */
#define XDP_HEADROOM 128

/*
 * What receives: one of the library's backends, into pool pages, or one
 * of the plain receivers of support/plain.h that the pool is compared
 * with.  Each kind names its own field; no value of one stands for the
 * other.
 */
enum rx_kind { RX_POOL, RX_PLAIN };

struct rx_receiver {
	enum rx_kind kind;
	enum jumbo_rx_backend backend; /* RX_POOL: JUMBO_RX_UDP, _TCP, ... */
	enum plain_kind plain;         /* RX_PLAIN: PLAIN_MALLOC or _REUSE */
};

struct rx_cfg {
	const char *addr;
	unsigned port;
	struct rx_receiver rcv;
	int tcp, len32, framing, verify;
	struct run_opts run; /* --frame, --page, --batch, --duration... */
	size_t pages;      /* the pool's cap; 0: the default */
	int pages_env;     /* pages came from JUMBO_MAX_PAGES */
	int deliver;       /* --deliver given */
	unsigned deliver_mode; /* its JUMBO_DELIVER_* flags; 0: auto */
	const char *dev;   /* xdp: the interface */
	unsigned queue;    /* xdp: its queue */
	const char *write; /* --write: a file, or "-" for stdout */
	const char *csv;   /* --csv: a file, or "-" for stdout */
};

/*
 * Counters of the frames taken, and the times that bound them: rates are
 * over [first, last], when frames flowed, not over the command's life.
 */
struct rx_seen {
	uint64_t frames, bytes, ok, bad, out_of_order, next_seq, moved, copied;
	uint64_t t0;           /* the receive loop began */
	uint64_t first, last;  /* the first and the last frame came; 0: none */
	char *buf;  /* a contiguous copy for --verify and xdp's --write */
	char *dst;  /* the reader's page-aligned buffer for --deliver */
	size_t dst_len;
	FILE *wf;   /* --write */
	int werr;   /* errno of the first failed write */
};

/* One interval of the CSV and of the progress line. */
struct rx_tick {
	FILE *csv;
	uint64_t t, frames, bytes; /* at the previous line */
	uint64_t kernel_drops, no_buffer, truncated;
	int lines;
};

/* ---- rx_out.c ------------------------------------------------------------ */

/* Frame payload p of len bytes to --write, in arrival order. */
void rx_write(struct rx_seen *s, const char *p, size_t len);
/* The data of a chain, mbuf by mbuf (no copy). */
void rx_write_chain(struct rx_seen *s, const struct mbuf *m);

/* Opens FILE or "-"; NULL after a message. */
FILE *rx_open_out(const char *opt, const char *path);

/* The CSV header; then one line per interval, and a last one at the end. */
void rx_csv_begin(struct rx_tick *k);
/*
 * At now: the CSV line and, with progress, the terminal line.  st and ps
 * are the receiver's and the pool's counters, either of them NULL.
 */
void rx_tick(struct rx_tick *k, const struct rx_seen *s, uint64_t now,
	     const struct jumbo_rx_stats *st, const struct jumbo_stats *ps,
	     int progress);
/* The last CSV line, if anything changed since the previous one. */
void rx_csv_end(struct rx_tick *k, const struct rx_seen *s, uint64_t now,
		const struct jumbo_rx_stats *st, const struct jumbo_stats *ps);

#endif
