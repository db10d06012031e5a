/*
 * jumbo rx: receive on an address and port, into pool pages with one of
 * the library's backends, or with a plain receiver for comparison, and
 * print the counters.  With --verify the frames must be jumbo tx's (each
 * is checked); without it any sender will do (iperf 2, socat, netcat).
 * Every value is checked against the backend before anything opens; the
 * payloads (--write), the CSV and the progress line are in rx_out.c.
 */
#include "frame.h"
#include "pkt.h"
#include "rx_cmd.h"
#include "send.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t rx_interrupted;

static void rx_on_signal(int sig)
{
	(void)sig;
	rx_interrupted = 1;
}

/* Whether the receiver is the library's backend b. */
static int rx_pool_is(const struct rx_cfg *c, enum jumbo_rx_backend b)
{
	return c->rcv.kind == RX_POOL && c->rcv.backend == b;
}

/* --backend NAME: a library backend or a plain receiver; 0 or -1. */
static int rx_parse_receiver(const char *name, struct rx_receiver *r)
{
	int b;

	if (!strcmp(name, "malloc") || !strcmp(name, "reuse")) {
		r->kind = RX_PLAIN;
		r->plain = name[0] == 'm' ? PLAIN_MALLOC : PLAIN_REUSE;
		return 0;
	}
	b = jumbo_rx_backend_parse(name);
	if (b < 0)
		return -1;
	r->kind = RX_POOL;
	r->backend = b == JUMBO_RX_DEFAULT ? JUMBO_RX_UDP
					   : (enum jumbo_rx_backend)b;
	return 0;
}

static void rx_verify(struct rx_seen *s, const char *p, size_t len)
{
	uint64_t seq = 0;

	if (jf_check(p, len, &seq)) {
		s->bad++;
		return;
	}
	s->ok++;
	if (seq < s->next_seq)
		s->out_of_order++;
	else
		s->next_seq = seq + 1;
}

static void rx_take_chain(const struct rx_cfg *c, struct rx_seen *s,
			  struct mbuf *m)
{
	size_t len = m->m_pkthdr.len;

	s->frames++;
	s->bytes += len;
	if (c->deliver) {
		struct jumbo_deliver_stats ds;
		if (len <= s->dst_len &&
		    jumbo_deliver(m, s->dst, s->dst_len, c->deliver_mode,
				  &ds) == 0) {
			s->moved += ds.moved;
			s->copied += ds.copied;
			if (c->verify)
				rx_verify(s, s->dst, len);
			rx_write(s, s->dst, len);
			return;
		}
	}
	if (rx_pool_is(c, JUMBO_RX_XDP) && c->port && (c->verify || s->wf)) {
		/* Whole link-layer frames: check and write the UDP payload
		 * of those to the port; anything else is not a test frame. */
		size_t off, plen;
		unsigned port;

		if (len <= c->run.frame + XDP_HEADROOM) {
			m_copydata(m, 0, len, s->buf);
			if (pkt_udp(s->buf, len, &off, &plen, &port) &&
			    port == c->port) {
				if (c->verify)
					rx_verify(s, s->buf + off, plen);
				rx_write(s, s->buf + off, plen);
			}
		}
	} else {
		if (c->verify && len <= c->run.frame) {
			m_copydata(m, 0, len, s->buf);
			rx_verify(s, s->buf, len);
		}
		rx_write_chain(s, m);
	}
	m_freem(m);
}

static void rx_usage(FILE *f)
{
	fputs("usage: jumbo rx [options]\n"
	      "\n"
	      "Receives frames on ADDR:PORT and prints what arrived.\n"
	      "\n"
	      "  --addr ADDR       numeric address to bind (default 127.0.0.1)\n"
	      "  --port PORT       port (default 9000; 0: any, printed)\n"
	      "  --backend NAME    udp (default), tcp, uring, xdp: into pool pages;\n"
	      "                    malloc, reuse: plain recv, for comparison\n"
	      "  --dev IF          xdp: the interface: its frames of UDP to PORT\n"
	      "                    go to the pool, the rest to the kernel (PORT\n"
	      "                    0: every frame of the queue)\n"
	      "  --queue N         xdp: the receive queue (default 0)\n"
	      "  --tcp             with malloc or reuse: TCP, LEN32 frames\n"
	      "  --framing MODE    tcp: raw (default) or len32 (jumbo tx frames)\n"
	      "  --frame BYTES     largest frame (default 9000; the most each\n"
	      "                    backend takes: udp, uring 65535, xdp 65407,\n"
	      "                    tcp 1023 pages)\n"
	      "  --batch N         packets per receive call (default: by frame\n"
	      "                    size, 2 to 32, as jumbo_rx(3) says)\n"
	      "  --page SIZE       pool page size: 4k (default) or 2m\n"
	      "  --pages N         the pool's cap in pages (default\n"
	      "                    $JUMBO_MAX_PAGES, else 65536 or 512 of 2m)\n"
	      "  --duration SECS   stop after SECS (default 10; 0: no limit)\n"
	      "  --count N         stop after N frames\n"
	      "  --idle SECS       stop SECS after the last frame, or after the\n"
	      "                    start when none came\n"
	      "  --verify          check each frame (jumbo tx's format)\n"
	      "  --deliver MODE    hand each frame to a reader's buffer with\n"
	      "                    jumbo_deliver: auto, move or copy\n"
	      "  --write FILE      write the payloads received to FILE (-:\n"
	      "                    stdout; the summary then goes to stderr)\n"
	      "  --csv FILE        one line of counters and rates per 0.5 s\n"
	      "                    (-: stdout; the summary then goes to stderr)\n"
	      "  --json            the summary as one JSON object\n"
	      "  --quiet           no progress line\n"
	      "  -h, --help        this text\n"
	      "  --version         the version\n", f);
}

/*
 * Receive queues of interface dev from sysfs, or 0 if it shows none: for
 * interfaces whose driver does not answer jumbo_rx_limits' ethtool query
 * (lo does not).
 */
static unsigned rx_dev_queues(const char *dev)
{
	char path[128];
	struct dirent *d;
	unsigned n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", dev);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir)))
		n += !strncmp(d->d_name, "rx-", 3);
	closedir(dir);
	return n;
}

/*
 * The ranges the backend takes, from jumbo_rx_limits for the parameters
 * about to be opened (the pool made, so that its page size counts), so
 * that a value the parser accepts is never one the backend then refuses:
 * 0, or EX_USAGE after one line.
 */
static int rx_check_limits(const struct rx_cfg *c,
			   const struct jumbo_rx_params *p)
{
	struct jumbo_rx_limits l;
	size_t max, need;
	int r = jumbo_rx_limits(p, &l);

	if (r == -ENODEV)
		return tool_err(EX_USAGE, "--dev: there is no interface '%s'",
				c->dev);
	if (r)
		return tool_err(EX_FAIL, "jumbo_rx_limits: %s", strerror(-r));
	if (p->max_frame > l.max_frame) {
		if (rx_pool_is(c, JUMBO_RX_XDP)) {
			max = l.max_frame - XDP_HEADROOM;
			return tool_err(EX_USAGE, "--frame: %zu is more than "
					"--backend xdp takes (%zu: a %zu-byte "
					"frame less %u bytes of link, IP and UDP "
					"headers)", c->run.frame, max, l.max_frame,
					XDP_HEADROOM);
		}
		if (rx_pool_is(c, JUMBO_RX_TCP))
			return tool_err(EX_USAGE, "--frame: %zu is more than "
					"--backend tcp takes with %s pages (%zu%s)",
					c->run.frame, c->run.page == JUMBO_PAGE_4K
						? "4 KiB" : "2 MiB", l.max_frame,
					c->run.page == JUMBO_PAGE_4K
						? "; --page 2m takes 16m" : "");
		return tool_err(EX_USAGE, "--frame: %zu is more than a UDP "
				"datagram can hold (%zu)", c->run.frame,
				l.max_frame);
	}
	if (c->run.batch > l.max_batch)
		return tool_err(EX_USAGE, "--batch: %u is more than the %s "
				"backend takes (%u)", c->run.batch,
				jumbo_rx_backend_name(c->rcv.backend), l.max_batch);
	/* The pool must hold one frame at least (uring: a run is a header
	 * page and the frame's pages). */
	need = l.frame_pages + rx_pool_is(c, JUMBO_RX_URING);
	if (c->pages && c->pages < need)
		return tool_err(EX_USAGE, "%s: %zu page%s of %zu bytes cannot "
				"hold a frame of %zu bytes (%zu pages)",
				c->pages_env ? "JUMBO_MAX_PAGES" : "--pages",
				c->pages, c->pages == 1 ? "" : "s",
				rx_pool_is(c, JUMBO_RX_XDP) ? (size_t)4096
							   : c->run.page,
				c->run.frame, need);
	if (rx_pool_is(c, JUMBO_RX_XDP) && !l.queues)
		l.queues = rx_dev_queues(c->dev);
	if (rx_pool_is(c, JUMBO_RX_XDP) && l.queues && c->queue >= l.queues)
		return tool_err(EX_USAGE, "--queue: %s has %u receive queue%s "
				"(0 to %u), not %u", c->dev, l.queues,
				l.queues == 1 ? "" : "s", l.queues - 1,
				c->queue);
	return 0;
}

static int rx_parse(struct rx_cfg *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "addr", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },
		{ "backend", required_argument, 0, 'b' },
		{ "tcp", no_argument, 0, 't' },
		{ "framing", required_argument, 0, 'F' },
		RUN_OPTIONS,
		{ "pages", required_argument, 0, 'N' },
		{ "seconds", required_argument, 0, OPT_DURATION },
		{ "verify", no_argument, 0, 'v' },
		{ "deliver", required_argument, 0, 'D' },
		{ "dev", required_argument, 0, 'I' },
		{ "queue", required_argument, 0, 'Q' },
		{ "write", required_argument, 0, 'w' },
		{ "csv", required_argument, 0, 'C' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	unsigned long v;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if ((r = opt_run(o, optarg, &c->run)) != 0) {
			if (r < 0)
				return EX_USAGE;
			continue;
		}
		switch (o) {
		case 'a':
			if (opt_loop_addr("--addr", optarg))
				return EX_USAGE;
			c->addr = optarg;
			break;
		case 'p':
			if (opt_port("--port", optarg, &c->port))
				return EX_USAGE;
			break;
		case 'b':
			if (rx_parse_receiver(optarg, &c->rcv))
				return tool_err(EX_USAGE, "--backend: '%s' is "
						"not udp, tcp, uring, xdp, malloc "
						"or reuse", optarg);
			break;
		case 't': c->tcp = 1; break;
		case 'F':
			if (strcmp(optarg, "raw") && strcmp(optarg, "len32"))
				return tool_err(EX_USAGE, "--framing: '%s' is "
						"not raw or len32", optarg);
			c->len32 = !strcmp(optarg, "len32");
			c->framing = 1;
			break;
		case 'N':
			if (opt_uint("--pages", optarg, 1, 0xfffffffeul, &v))
				return EX_USAGE;
			c->pages = v;
			break;
		case 'v': c->verify = 1; break;
		case 'D':
			if (opt_deliver("--deliver", optarg, &c->deliver_mode))
				return EX_USAGE;
			c->deliver = 1;
			break;
		case 'I': c->dev = optarg; break;
		case 'Q':
			if (opt_uint("--queue", optarg, 0, 4095, &v))
				return EX_USAGE;
			c->queue = (unsigned)v;
			break;
		case 'w': c->write = optarg; break;
		case 'C': c->csv = optarg; break;
		case 'h': rx_usage(stdout); return -1;
		case 'V': tool_version(); return -1;
		default: return opt_bad(o, argv);
		}
	}
	if (optind < argc)
		return tool_err(EX_USAGE, "unexpected argument '%s' (see "
				"'jumbo rx --help')", argv[optind]);
	if (!rx_pool_is(c, JUMBO_RX_TCP) && c->rcv.kind == RX_POOL && c->tcp)
		return tool_err(EX_USAGE, "--tcp goes with --backend malloc or "
				"reuse; use --backend tcp");
	if (c->framing && !rx_pool_is(c, JUMBO_RX_TCP))
		return tool_err(EX_USAGE, "--framing goes with --backend tcp "
				"(malloc and reuse over --tcp always use len32)");
	if (rx_pool_is(c, JUMBO_RX_TCP))
		c->tcp = 1;
	if (c->tcp && c->rcv.kind == RX_PLAIN)
		c->len32 = 1;
	if (c->verify && c->tcp && !c->len32)
		return tool_err(EX_USAGE, "--verify over TCP needs frames: "
				"add --framing len32");
	if (c->deliver && c->rcv.kind == RX_PLAIN)
		return tool_err(EX_USAGE, "--deliver needs a pool backend "
				"(udp, tcp or uring)");
	if (rx_pool_is(c, JUMBO_RX_XDP) != (c->dev != NULL))
		return tool_err(EX_USAGE, "--dev goes with --backend xdp, and "
				"--backend xdp needs --dev");
	if (rx_pool_is(c, JUMBO_RX_XDP) && c->verify && c->port == 0)
		return tool_err(EX_USAGE, "--verify with --backend xdp needs "
				"--port: with port 0 no frame is checked");
	if (rx_pool_is(c, JUMBO_RX_XDP) &&
	    (c->deliver || c->run.page != JUMBO_PAGE_4K))
		return tool_err(EX_USAGE, "--backend xdp delivers whole frames "
				"in 4 KiB pages: no --deliver, no --page 2m");
	if (c->write && c->csv && !strcmp(c->write, "-") &&
	    !strcmp(c->csv, "-"))
		return tool_err(EX_USAGE, "--write - and --csv - both want "
				"stdout: give one of them a file");
	if (!c->pages && c->rcv.kind == RX_POOL && !rx_pool_is(c, JUMBO_RX_XDP)) {
		c->pages_env = getenv("JUMBO_MAX_PAGES") != NULL;
		c->pages = tool_env_pages(c->run.page == JUMBO_PAGE_4K ? 65536 : 512);
		if (!c->pages)
			return EX_USAGE;
	}
	/* The pool backends' ranges are checked once the pool is made. */
	if (c->rcv.kind == RX_PLAIN && !c->tcp && c->run.frame > 65535)
		return tool_err(EX_USAGE, "--frame: %zu is more than a UDP "
				"datagram can hold (65535)", c->run.frame);
	return 0;
}

/* --write and --csv, once every value has been checked: 0 or EX_FAIL. */
static int rx_open_outputs(const struct rx_cfg *c, struct rx_seen *s,
			   struct rx_tick *k)
{
	if (c->write && !(s->wf = rx_open_out("--write", c->write)))
		return EX_FAIL;
	if (c->csv && !(k->csv = rx_open_out("--csv", c->csv)))
		return EX_FAIL;
	return 0;
}

/* The xdp backend's UMEM, of --pages pages committed whole. */
static struct jumbo_pool *rx_xdp_pool(size_t pages)
{
	struct jumbo_pool_params pp;
	struct jumbo_pool *pool;

	jumbo_pool_params_init(&pp);
	pp.max_pages = pp.init_pages = pages;
	pp.name = "jumbo-xdp";
	pool = jumbo_pool_create(&pp);
	if (!pool)
		tool_err(EX_FAIL, "cannot make a pool of %zu pages: %s", pages,
			 strerror(errno));
	return pool;
}

/* The receiver's counters and its pool's, for the CSV and the summary. */
static void rx_counters(struct jumbo_rx *rx, const struct plain_rx *pl,
			struct jumbo_rx_stats *st, struct jumbo_stats *ps)
{
	memset(ps, 0, sizeof(*ps));
	if (rx) {
		jumbo_rx_stats(rx, st);
		if (jumbo_rx_pool(rx))
			jumbo_pool_stats(jumbo_rx_pool(rx), ps);
		return;
	}
	memset(st, 0, sizeof(*st));
	st->packets = pl->packets;
	st->bytes = pl->bytes;
	st->syscalls = pl->syscalls;
	st->truncated = pl->truncated;
	st->closes = pl->closes;
}

static const char *rx_name(const struct rx_cfg *c)
{
	if (c->rcv.kind == RX_PLAIN)
		return c->rcv.plain == PLAIN_MALLOC ? "malloc" : "reuse";
	return jumbo_rx_backend_name(c->rcv.backend);
}

/* The summary, on stdout unless the frames or the CSV go there. */
static void rx_summary(const struct rx_cfg *c, const struct rx_seen *s,
		       const struct jumbo_rx_stats *st, struct jumbo_pool *pool)
{
	/* When frames flowed: the first to the last (0 for one frame). */
	double secs = s->first ? (double)(s->last - s->first) / 1e9 : 0;
	struct report rep;

	rep_begin(&rep, (c->write && !strcmp(c->write, "-")) ||
				(c->csv && !strcmp(c->csv, "-"))
			? stderr : stdout, c->run.json);
	rep_s(&rep, "backend", rx_name(c));
	rep_u64(&rep, "port", c->port);
	rep_u64(&rep, "frames", s->frames);
	rep_u64(&rep, "bytes", s->bytes);
	rep_f(&rep, "first_frame_s", s->first ? (double)(s->first - s->t0) /
							1e9 : 0,
	      "s after the start");
	rep_f(&rep, "seconds", secs, "s, first frame to last");
	rep_f(&rep, "gbit_per_s", secs > 0 ? (double)s->bytes * 8 / secs / 1e9
					   : 0, "Gbit/s");
	rep_f(&rep, "frames_per_s", secs > 0 ? (double)s->frames / secs : 0,
	      NULL);
	if (c->verify) {
		rep_u64(&rep, "frames_ok", s->ok);
		rep_u64(&rep, "bad", s->bad);
		rep_u64(&rep, "lost", s->next_seq > s->ok ? s->next_seq - s->ok
							   : 0);
		rep_u64(&rep, "out_of_order", s->out_of_order);
	}
	if (c->deliver) {
		rep_u64(&rep, "bytes_moved", s->moved);
		rep_u64(&rep, "bytes_copied", s->copied);
	}
	rep_section(&rep, "rx");
	rep_rx_stats(&rep, st);
	rep_end_section(&rep);
	if (pool) {
		rep_section(&rep, "pool");
		rep_pool_stats(&rep, pool);
		rep_end_section(&rep);
	}
	rep_end(&rep);
}

int cmd_rx(int argc, char **argv)
{
	struct rx_cfg c = { .addr = "127.0.0.1", .port = 9000,
			    .rcv = { .kind = RX_POOL, .backend = JUMBO_RX_UDP },
			    .run = RUN_OPTS_DEFAULT };
	struct jumbo_pool *pool = NULL;
	struct jumbo_rx *rx = NULL;
	struct jumbo_rx_stats st = { 0 };
	struct jumbo_stats ps;
	struct plain_rx pl;
	struct rx_seen s = { 0 };
	struct rx_tick tick = { 0 };
	struct mbuf *pkts[256];
	uint64_t now, next_print, limit;
	unsigned late = 0; /* empty receives past --idle */
	char *map = NULL;
	size_t map_len = 0;
	int e = 0, progress, r;

	tool_cmd = "jumbo rx";
	memset(&pl, 0, sizeof(pl));
	pl.fd = pl.conn = -1;
	r = rx_parse(&c, argc, argv);
	if (r)
		return r < 0 ? 0 : r;
	if (c.rcv.kind == RX_POOL && !jumbo_rx_backend_supported(c.rcv.backend))
		return tool_err(EX_FAIL, "%s", jumbo_rx_strerror());
	s.buf = malloc(c.run.frame + XDP_HEADROOM + 1);
	if (!s.buf)
		return tool_err(EX_FAIL, "out of memory");
	if (c.rcv.kind == RX_POOL) {
		struct jumbo_rx_params p;
		int err = 0;

		/* xdp makes its pool itself unless told its size: a UMEM is
		 * committed whole. */
		if (!rx_pool_is(&c, JUMBO_RX_XDP))
			pool = tool_pool(c.run.page, c.pages);
		else if (c.pages)
			pool = rx_xdp_pool(c.pages);
		if (!pool && (!rx_pool_is(&c, JUMBO_RX_XDP) || c.pages)) {
			e = EX_FAIL;
			goto out;
		}
		jumbo_rx_params_init(&p);
		p.backend = c.rcv.backend;
		p.addr = c.addr;
		p.port = (uint16_t)c.port;
		p.max_frame = c.run.frame;
		p.batch = c.run.batch;
		p.pool = pool;
		/* It never replies nor prints a sender: not asked for. */
		p.flags = (c.len32 ? JUMBO_RX_LEN32 : 0) | JUMBO_RX_NOSRC;
		if (rx_pool_is(&c, JUMBO_RX_XDP)) {
			p.ifname = c.dev;
			p.queue = c.queue;
			p.max_frame = c.run.frame + XDP_HEADROOM;
		}
		if ((e = rx_check_limits(&c, &p)) != 0 ||
		    (e = rx_open_outputs(&c, &s, &tick)) != 0)
			goto out;
		rx = jumbo_rx_open(&p, &err);
		if (!rx) {
			e = tool_err(EX_FAIL, "%s", jumbo_rx_strerror());
			goto out;
		}
		if (!rx_pool_is(&c, JUMBO_RX_XDP))
			c.port = jumbo_rx_port(rx);
		if (!c.run.batch) { /* the library's, chosen by frame size */
			struct jumbo_rx_limits l;
			c.run.batch = jumbo_rx_limits(&p, &l) == 0 && l.batch
					      ? l.batch : 32;
		}
		if (c.deliver) {
			s.dst_len = (c.run.frame + c.run.page - 1) & ~(c.run.page - 1);
			map_len = s.dst_len + c.run.page;
			map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (map == MAP_FAILED) {
				map = NULL;
				e = tool_err(EX_FAIL, "out of memory");
				goto out;
			}
			s.dst = (char *)(((uintptr_t)map + c.run.page - 1) &
					 ~(uintptr_t)(c.run.page - 1));
		}
	} else {
		if ((e = rx_open_outputs(&c, &s, &tick)) != 0)
			goto out;
		r = plain_open(&pl, c.rcv.plain, c.addr, c.port, c.tcp, c.run.frame);
		if (r) {
			e = tool_err(EX_FAIL, "cannot listen on %s port %u: %s",
				     c.addr, c.port, strerror(-r));
			goto out;
		}
		c.port = pl.port;
	}
	/*
	 * Before the line that says we listen: a script that signals as soon
	 * as it reads it must get the summary, not a process killed by the
	 * default action.
	 */
	signal(SIGINT, rx_on_signal);
	signal(SIGTERM, rx_on_signal);
	/* A reader that goes away (cmp, head) is a write error, not death. */
	signal(SIGPIPE, SIG_IGN);
	if (rx_pool_is(&c, JUMBO_RX_XDP))
		fprintf(stderr, "jumbo rx: taking the frames of %s queue %u "
			"(xdp)\n", c.dev, c.queue);
	else
		/* "(udp)", "(tcp)", "(udp, uring)", "(tcp, malloc)" */
		fprintf(stderr, "jumbo rx: listening on %s port %u (%s%s%s)\n",
			c.addr, c.port, c.tcp ? "tcp" : "udp",
			strcmp(rx_name(&c), c.tcp ? "tcp" : "udp") ? ", " : "",
			strcmp(rx_name(&c), c.tcp ? "tcp" : "udp") ? rx_name(&c)
								   : "");
	progress = !c.run.json && !c.run.quiet && isatty(2);
	rx_csv_begin(&tick);
	s.t0 = now = jf_now_ns();
	next_print = s.t0 + 500000000ull;
	limit = c.run.secs > 0 ? (uint64_t)(c.run.secs * 1e9) : ~0ull;
	while (!rx_interrupted && now - s.t0 < limit && !s.werr &&
	       (!c.run.count || s.frames < c.run.count)) {
		int n;

		if (rx) {
			unsigned want = c.run.batch;
			if (c.run.count && c.run.count - s.frames < want)
				want = (unsigned)(c.run.count - s.frames);
			n = jumbo_rx_recv(rx, pkts, want, 50);
			for (int i = 0; i < n; i++)
				rx_take_chain(&c, &s, pkts[i]);
		} else {
			char *b;
			size_t len;
			n = plain_recv(&pl, &b, &len, 50);
			if (n > 0) {
				s.frames++;
				s.bytes += len;
				if (c.verify)
					rx_verify(&s, b, len);
				rx_write(&s, b, len);
				if (b != pl.reuse)
					free(b);
			}
		}
		if (n < 0) {
			e = tool_err(EX_FAIL, "receive failed: %s",
				     strerror(-n));
			break;
		}
		now = jf_now_ns();
		if (n > 0) {
			if (!s.first)
				s.first = now;
			s.last = now;
		}
		/* Idle from the last frame, or from the start if none came. */
		if (run_idle_over(&c.run, n, s.last ? s.last : s.t0, now, &late))
			break;
		if ((progress || tick.csv) && now >= next_print) {
			rx_counters(rx, &pl, &st, &ps);
			rx_tick(&tick, &s, now, &st, &ps, progress);
			next_print += 500000000ull;
		}
	}
	if (progress)
		fputc('\n', stderr);
	if (s.wf && fflush(s.wf) && !s.werr)
		s.werr = errno ? errno : EIO;
	if (s.werr)
		e = tool_err(EX_FAIL, "--write: %s", strerror(s.werr));
	if (rx) {
		/* Closed before the report: the pool figures are then the
		 * final ones (the uring backend's ring holds pages while open). */
		rx_counters(rx, &pl, &st, &ps);
		jumbo_rx_close(rx);
		rx = NULL;
		if (pool)
			jumbo_pool_stats(pool, &ps);
	} else {
		rx_counters(NULL, &pl, &st, &ps);
	}
	rx_csv_end(&tick, &s, jf_now_ns(), &st, pool ? &ps : NULL);
	rx_summary(&c, &s, &st, pool);
	if (!e && c.verify && s.bad)
		e = tool_err(EX_FAIL, "%llu frames failed the check",
			     (unsigned long long)s.bad);
	if (!e && st.truncated && !s.frames)
		e = tool_err(EX_FAIL, "no frame kept: all %llu datagrams were "
			     "longer than --frame %zu (try --frame %u)",
			     (unsigned long long)st.truncated, c.run.frame,
			     rx_pool_is(&c, JUMBO_RX_XDP) ? 65407u : 65535u);
	else if (!e && st.truncated)
		tool_err(0, "%llu datagrams longer than --frame %zu were "
			 "dropped (truncated)",
			 (unsigned long long)st.truncated, c.run.frame);
	if (!e && c.run.count && s.frames < c.run.count)
		e = tool_err(EX_FAIL, "%llu of %llu frames arrived",
			     (unsigned long long)s.frames,
			     (unsigned long long)c.run.count);
out:
	if (rx)
		jumbo_rx_close(rx);
	else if (c.rcv.kind == RX_PLAIN && pl.fd >= 0)
		plain_close(&pl);
	if (map)
		munmap(map, map_len);
	if (pool && jumbo_pool_destroy(pool) && !e)
		e = tool_err(EX_FAIL, "pages still out at the end: a leak");
	if (s.wf && s.wf != stdout)
		fclose(s.wf);
	if (tick.csv && tick.csv != stdout)
		fclose(tick.csv);
	free(s.buf);
	return e;
}
