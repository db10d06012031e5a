/*
 * jumbo fwd: receive frames into pool pages with a jumbo_rx backend and
 * send them on with a jumbo_tx backend, the pages themselves: no copy in
 * user space (with zero copy, none in the kernel's send path either).
 * Works with any sender and receiver (iperf 2, socat, netcat).
 */
#include "send.h"
#include "tool.h"

#include <jumbo/tx.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t fwd_interrupted;

static void fwd_on_signal(int sig)
{
	fwd_interrupted = 1;
}

/* xdp:DEV[:QUEUE], into be, addr (the device) and port (the queue). */
static int fwd_xdp_endpoint(const char *opt, const char *arg, char *be,
			    char *addr, size_t alen, unsigned *queue)
{
	const char *dev = arg + 4, *c = strchr(dev, ':');
	size_t n = c ? (size_t)(c - dev) : strlen(dev);
	unsigned long v = 0;

	if (n == 0 || n >= alen || n >= 16)
		return tool_err(EX_USAGE, "%s: '%s' is not xdp:DEV[:QUEUE]",
				opt, arg);
	if (c && opt_uint(opt, c + 1, 0, 65535, &v))
		return EX_USAGE;
	strcpy(be, "xdp");
	memcpy(addr, dev, n);
	addr[n] = 0;
	*queue = (unsigned)v;
	return 0;
}

/*
 * BACKEND:ADDR:PORT, ADDR an IPv4 address or [IPv6], or xdp:DEV[:QUEUE]:
 * 0 or a message.
 */
static int fwd_endpoint(const char *opt, const char *arg, char *be,
			size_t belen, char *addr, size_t alen, unsigned *port)
{
	const char *c1 = strchr(arg, ':'), *c2 = strrchr(arg, ':');
	size_t n;

	if (strncmp(arg, "xdp:", 4) == 0)
		return fwd_xdp_endpoint(opt, arg, be, addr, alen, port);

	if (!c1 || c1 == c2 || (size_t)(c1 - arg) >= belen)
		return tool_err(EX_USAGE, "%s: '%s' is not BACKEND:ADDR:PORT",
				opt, arg);
	memcpy(be, arg, (size_t)(c1 - arg));
	be[c1 - arg] = 0;
	n = (size_t)(c2 - c1 - 1);
	if (n >= 2 && c1[1] == '[' && c2[-1] == ']') {
		c1++;
		n -= 2;
	}
	if (n == 0 || n >= alen)
		return tool_err(EX_USAGE, "%s: '%s' has no address", opt, arg);
	memcpy(addr, c1 + 1, n);
	addr[n] = 0;
	if (opt_loop_addr(opt, addr) || opt_port(opt, c2 + 1, port))
		return EX_USAGE;
	return 0;
}

static void fwd_usage(FILE *f)
{
	fputs("usage: jumbo fwd --from BACKEND:ADDR:PORT|xdp:DEV[:QUEUE]\n"
	      "                 --to BACKEND:ADDR:PORT|xdp:DEV[:QUEUE] "
	      "[options]\n"
	      "\n"
	      "Receives frames into pool pages and sends the same pages on.\n"
	      "\n"
	      "  --from B:ADDR:PORT  where to listen: udp, tcp or uring\n"
	      "                      (port 0: any, printed)\n"
	      "  --from xdp:DEV[:Q]  every frame of the device's queue Q\n"
	      "                      (default 0), whole Ethernet frames\n"
	      "  --to B:ADDR:PORT    where to send: udp, tcp or uring\n"
	      "  --to xdp:DEV[:Q]    out of the device, as whole Ethernet\n"
	      "                      frames (an xdp input: a bridge)\n"
	      "  --copy              never ask the kernel for zero copy\n"
	      "  --zc-always         keep zero copy even where the kernel copies\n"
	      "  --drop              drop what the output has no room for\n"
	      "                      (default: wait for room)\n"
	      "  --framing MODE      tcp input: raw (default) or len32\n"
	      "  --frame BYTES       largest frame (default 9000)\n"
	      "  --batch N           frames per call (default: by frame size,\n"
	      "                      2 to 32, as jumbo_rx(3) says)\n"
	      "  --page SIZE         pool page size: 4k (default) or 2m\n"
	      "  --duration SECS     stop after SECS (default 10; 0: no limit)\n"
	      "  --count N           stop after N frames\n"
	      "  --idle SECS         stop SECS after the last frame\n"
	      "  --json              the summary as one JSON object\n"
	      "  --quiet             no progress line\n"
	      "  -h, --help          this text\n", f);
}

struct fwd_cfg {
	char from_be[16], from_addr[64], to_be[16], to_addr[64];
	unsigned from_port, to_port;
	int rx_be, tx_be, len32;
	unsigned txflags, sendflags;
	struct run_opts run;
};

static int fwd_parse(struct fwd_cfg *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "from", required_argument, 0, 'f' },
		{ "to", required_argument, 0, 't' },
		{ "copy", no_argument, 0, 'C' },
		{ "zc-always", no_argument, 0, 'Z' },
		{ "drop", no_argument, 0, 'X' },
		{ "framing", required_argument, 0, 'F' },
		RUN_OPTIONS,
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 }
	};
	int o, r, from = 0, to = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if ((r = opt_run(o, optarg, &c->run)) != 0) {
			if (r < 0)
				return EX_USAGE;
			continue;
		}
		switch (o) {
		case 'f':
			if (fwd_endpoint("--from", optarg, c->from_be,
					 sizeof(c->from_be), c->from_addr,
					 sizeof(c->from_addr), &c->from_port))
				return EX_USAGE;
			from = 1;
			break;
		case 't':
			if (fwd_endpoint("--to", optarg, c->to_be,
					 sizeof(c->to_be), c->to_addr,
					 sizeof(c->to_addr), &c->to_port))
				return EX_USAGE;
			to = 1;
			break;
		case 'C': c->txflags |= JUMBO_TX_COPY; break;
		case 'Z': c->txflags |= JUMBO_TX_ZC_ALWAYS; break;
		case 'X': c->sendflags = JUMBO_TX_DROP; break;
		case 'F':
			if (strcmp(optarg, "raw") && strcmp(optarg, "len32"))
				return tool_err(EX_USAGE, "--framing: '%s' is "
						"not raw or len32", optarg);
			c->len32 = !strcmp(optarg, "len32");
			break;
		case 'h': fwd_usage(stdout); return -1;
		default: fwd_usage(stderr); return EX_USAGE;
		}
	}
	if (optind < argc)
		return tool_err(EX_USAGE, "unexpected argument '%s' (see "
				"--help)", argv[optind]);
	if (!from || !to)
		return tool_err(EX_USAGE, "--from and --to are both needed "
				"(see --help)");
	c->rx_be = jumbo_rx_backend_parse(c->from_be);
	if (c->rx_be < 0)
		return tool_err(EX_USAGE, "--from: '%s' is not udp, tcp, uring "
				"or xdp", c->from_be);
	c->tx_be = jumbo_tx_backend_parse(c->to_be);
	if (c->tx_be < 0)
		return tool_err(EX_USAGE, "--to: '%s' is not udp, tcp, uring or "
				"xdp", c->to_be);
	if ((c->rx_be == JUMBO_RX_XDP || c->tx_be == JUMBO_TX_XDP) &&
	    c->run.page != JUMBO_PAGE_4K)
		return tool_err(EX_USAGE, "--page: xdp takes 4 KiB pages only");
	if (c->to_port == 0 && c->tx_be != JUMBO_TX_XDP)
		return tool_err(EX_USAGE, "--to: the port cannot be 0");
	if (c->len32 && c->rx_be != JUMBO_RX_TCP)
		return tool_err(EX_USAGE, "--framing goes with --from tcp:...");
	if (c->rx_be != JUMBO_RX_TCP && c->run.frame > 65535)
		return tool_err(EX_USAGE, "--frame: %zu is more than a UDP "
				"datagram can hold (65535)", c->run.frame);
	if (c->tx_be != JUMBO_TX_TCP && c->run.frame > 65507)
		return tool_err(EX_USAGE, "--frame: %zu is more than a UDP "
				"datagram can carry (65507)", c->run.frame);
	return 0;
}

int cmd_fwd(int argc, char **argv)
{
	struct fwd_cfg c = { .run = RUN_OPTS_DEFAULT,
			     .sendflags = JUMBO_TX_WAIT };
	struct jumbo_rx_stats rst = { 0 };
	struct jumbo_tx_stats tst = { 0 };
	struct jumbo_rx_params rp;
	struct jumbo_tx_params tp;
	struct jumbo_pool *pool;
	struct jumbo_rx *rx = NULL;
	struct jumbo_tx *tx = NULL;
	struct mbuf *pkts[256];
	struct report rep;
	uint64_t t0, now, last = 0, next_print, limit, frames = 0, bytes = 0;
	unsigned late = 0; /* empty receives past --idle */
	int e = 0, progress, r, err = 0;

	tool_cmd = "jumbo fwd";
	r = fwd_parse(&c, argc, argv);
	if (r)
		return r < 0 ? 0 : r;
	if (!jumbo_rx_backend_supported(c.rx_be))
		return tool_err(EX_FAIL, "%s", jumbo_rx_strerror());
	if (!jumbo_tx_backend_supported(c.tx_be))
		return tool_err(EX_FAIL, "%s", jumbo_tx_strerror());
	if (c.rx_be == JUMBO_RX_XDP || c.tx_be == JUMBO_TX_XDP) {
		struct jumbo_pool_params pp;

		/* The UMEM: committed whole, as a UMEM is registered once. */
		jumbo_pool_params_init(&pp);
		pp.max_pages = pp.init_pages = 8192;
		pp.name = "fwd";
		pool = jumbo_pool_create(&pp);
		if (!pool)
			return tool_err(EX_FAIL, "no pool: %s", strerror(errno));
	} else {
		pool = tool_pool(c.run.page,
				 c.run.page == JUMBO_PAGE_4K ? 65536 : 512);
		if (!pool)
			return EX_FAIL;
	}
	jumbo_rx_params_init(&rp);
	rp.backend = c.rx_be;
	rp.addr = c.from_addr;
	rp.port = (uint16_t)c.from_port;
	rp.max_frame = c.run.frame;
	if (c.rx_be == JUMBO_RX_XDP) {
		/* The whole queue, each frame with its Ethernet header (and
		 * a VLAN tag) on top of --frame. */
		rp.ifname = c.from_addr;
		rp.queue = c.from_port;
		rp.port = 0;
		rp.max_frame = c.run.frame + 18;
	}
	rp.batch = c.run.batch;
	rp.pool = pool;
	/* A relay has no use for the kernel's receive time per frame. */
	rp.flags = (c.len32 ? JUMBO_RX_LEN32 : 0) | JUMBO_RX_NOTSTAMP;
	rx = jumbo_rx_open(&rp, &err);
	if (!rx) {
		e = tool_err(EX_FAIL, "%s", jumbo_rx_strerror());
		goto out;
	}
	if (!c.run.batch) { /* the receiver's, chosen by frame size */
		struct jumbo_rx_limits l;
		c.run.batch = jumbo_rx_limits(&rp, &l) == 0 && l.batch
				      ? l.batch : 32;
	}
	if (c.rx_be != JUMBO_RX_XDP)
		c.from_port = jumbo_rx_port(rx);
	/* Listening before connecting on: a test may chain two of us. */
	/* Before the line that says we listen: as in jumbo rx. */
	signal(SIGINT, fwd_on_signal);
	signal(SIGTERM, fwd_on_signal);
	fprintf(stderr, "jumbo fwd: listening on %s %s %u (%s), sending "
		"to %s %s %u (%s)\n", c.from_addr,
		c.rx_be == JUMBO_RX_XDP ? "queue" : "port", c.from_port,
		jumbo_rx_backend_name(c.rx_be), c.to_addr,
		c.tx_be == JUMBO_TX_XDP ? "queue" : "port", c.to_port,
		jumbo_tx_backend_name(c.tx_be));
	jumbo_tx_params_init(&tp);
	tp.backend = c.tx_be;
	tp.addr = c.to_addr;
	tp.port = (uint16_t)c.to_port;
	tp.batch = c.run.batch;
	tp.flags = c.txflags;
	tp.wait_ms = 200; /* --drop aside, the output paces the relay */
	if (c.tx_be == JUMBO_TX_XDP) {
		/* The receiver's pool is the sender's UMEM: an xdp frame
		 * goes out from the page it came in. */
		tp.ifname = c.to_addr;
		tp.queue = c.to_port;
		tp.pool = pool;
	}
	tx = jumbo_tx_open(&tp, &err);
	if (!tx) {
		e = tool_err(EX_FAIL, "%s", jumbo_tx_strerror());
		goto out;
	}
	progress = !c.run.json && !c.run.quiet && isatty(2);
	t0 = now = jf_now_ns();
	next_print = t0 + 500000000ull;
	limit = c.run.secs > 0 ? (uint64_t)(c.run.secs * 1e9) : ~0ull;
	while (!fwd_interrupted && now - t0 < limit &&
	       (!c.run.count || frames < c.run.count)) {
		unsigned want = c.run.batch;
		int n, s = 0;

		if (c.run.count && c.run.count - frames < want)
			want = (unsigned)(c.run.count - frames);
		n = jumbo_rx_recv(rx, pkts, want, 50);
		if (n < 0) {
			e = tool_err(EX_FAIL, "receive failed: %s",
				     strerror(-n));
			break;
		}
		for (int i = 0; i < n; i++)
			bytes += pkts[i]->m_pkthdr.len;
		frames += (uint64_t)n;
		if (n > 0) {
			int off = 0;

			/* Waits in steps of wait_ms, so that a signal stops
			 * a relay whose output is stuck. */
			while (off < n && !fwd_interrupted) {
				s = jumbo_tx_send(tx, pkts + off,
						  (unsigned)(n - off), c.sendflags);
				if (s < 0)
					break;
				off += s;
			}
			/* What the output did not take (an error, a signal)
			 * is dropped here. */
			for (int i = off; i < n; i++)
				m_freem(pkts[i]);
		} else {
			(void)jumbo_tx_complete(tx, 0);
		}
		if (s < 0) {
			e = tool_err(EX_FAIL, "send failed: %s", strerror(-s));
			break;
		}
		now = jf_now_ns();
		if (n > 0)
			last = now;
		if (last && run_idle_over(&c.run, n, last, now, &late))
			break;
		if (progress && now >= next_print) {
			double t = (double)(now - t0) / 1e9;
			tool_progress(t, frames, (double)bytes * 8 / t / 1e9);
			next_print += 500000000ull;
		}
	}
	if (progress)
		fputc('\n', stderr);
	jumbo_rx_stats(rx, &rst);
	jumbo_rx_close(rx);
	rx = NULL;
	/* Closed before the report: the pool figures are then final. */
	if (jumbo_tx_close(tx, &tst) == -EBUSY && !e)
		e = tool_err(EX_FAIL, "%llu pages still held by the kernel",
			     (unsigned long long)tst.pages_held);
	tx = NULL;
	{
		double secs = (double)((last ? last : now) - t0) / 1e9;

		rep_begin(&rep, stdout, c.run.json);
		rep_s(&rep, "from", jumbo_rx_backend_name(c.rx_be));
		rep_s(&rep, "to", jumbo_tx_backend_name(c.tx_be));
		rep_u64(&rep, "port", c.from_port);
		rep_u64(&rep, "frames", frames);
		rep_u64(&rep, "bytes", bytes);
		rep_f(&rep, "seconds", secs, "s");
		rep_f(&rep, "gbit_per_s", secs > 0 ? (double)bytes * 8 /
						     secs / 1e9 : 0, "Gbit/s");
		rep_section(&rep, "rx");
		rep_rx_stats(&rep, &rst);
		rep_end_section(&rep);
		rep_section(&rep, "tx");
		rep_tx_stats(&rep, &tst);
		rep_end_section(&rep);
		rep_section(&rep, "pool");
		rep_pool_stats(&rep, pool);
		rep_end_section(&rep);
		rep_end(&rep);
	}
out:
	if (rx)
		jumbo_rx_close(rx);
	if (tx)
		jumbo_tx_close(tx, NULL);
	if (jumbo_pool_destroy(pool) && !e)
		e = tool_err(EX_FAIL, "pages still out at the end: a leak");
	return e;
}
