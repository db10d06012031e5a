/*
 * jumbo demo: jumbo frames on loopback into pool pages, and the same run
 * with a plain malloc + recv receiver beside it.
 *
 * Three threads per receiver, as in a real program: a sender (frames with
 * a sequence number and a checksum), the receive loop (this thread: the
 * backend's batch receive, or recv into malloc'd buffers), and a consumer
 * that delivers each frame into its own page-aligned buffer (jumbo_deliver:
 * pages move where that pays, else they are copied), checks it, and counts.
 * The sender keeps at most a window of frames in flight against what the
 * consumer has checked, so that the socket buffer never overflows; what is
 * lost anyway is counted and shown.
 */
#include "send.h"
#include "spsc.h"
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct demo_cfg {
	enum jumbo_rx_backend backend;
	int stream;
	size_t frame;
	size_t page;
	unsigned batch;
	unsigned window;
	double secs;
	unsigned deliver; /* JUMBO_DELIVER_* or 0: let it choose */
	int json, progress, baseline;
};

/* One receiver's run; the consumer's fields are its own until joined. */
struct demo_run {
	const struct demo_cfg *cfg;
	int use_pool;
	struct jumbo_pool *pool;
	struct spsc *q;
	int done;          /* atomic: the receive loop is finished */
	int stop;          /* atomic: the sender is to stop now */
	uint64_t acked;    /* atomic: frames the consumer has finished */
	/* consumer */
	uint64_t good, bad, out_of_order, bytes, moved, copied, remaps;
	uint64_t next_seq;
	uint64_t first_ns, last_ns; /* the first and last frame finished */
	int deliver_err;
	/* receive loop */
	uint64_t queue_drops, t0, rx_frames;
	uint64_t rx_first, rx_last;  /* when frames came in, for progress */
	uint64_t prog_ns, prog_acked; /* the previous progress line */
	struct jumbo_rx_stats st;
	struct jf_sender snd;
	double elapsed;
};

static void *demo_sender(void *arg)
{
	jf_send_run(arg);
	return NULL;
}

static void demo_count(struct demo_run *r, const char *p, size_t len)
{
	uint64_t seq = 0;

	if (jf_check(p, len, &seq)) {
		r->bad++;
		return;
	}
	if (seq < r->next_seq)
		r->out_of_order++;
	else
		r->next_seq = seq + 1;
	r->good++;
	r->bytes += len;
}

static void *demo_consumer(void *arg)
{
	struct demo_run *r = arg;
	size_t page = r->cfg->page, cap = (r->cfg->frame + page - 1) & ~(page - 1);
	struct timespec nap = { 0, 20000 };
	char *map = NULL, *dst = NULL;
	size_t len;
	void *p;

	if (r->use_pool) {
		/* The reader's buffer, aligned to the page so pages can move. */
		map = mmap(NULL, cap + page, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (map == MAP_FAILED) {
			r->deliver_err = -errno;
			map = NULL;
		} else {
			dst = (char *)(((uintptr_t)map + page - 1) &
				       ~(uintptr_t)(page - 1));
		}
	}
	for (;;) {
		p = spsc_pop(r->q, &len);
		if (!p) {
			if (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) &&
			    !(p = spsc_pop(r->q, &len)))
				break;
			if (!p) {
				nanosleep(&nap, NULL);
				continue;
			}
		}
		if (r->use_pool) {
			struct jumbo_deliver_stats ds;
			int e = dst ? jumbo_deliver(p, dst, cap, r->cfg->deliver,
						    &ds)
				    : -ENOMEM;
			if (e) {
				r->deliver_err = e;
				r->bad++;
				m_freem(p);
			} else {
				r->moved += ds.moved;
				r->copied += ds.copied;
				r->remaps += ds.remaps;
				demo_count(r, dst, len);
			}
		} else {
			demo_count(r, p, len);
			free(p);
		}
		r->last_ns = jf_now_ns();
		if (!r->first_ns)
			r->first_ns = r->last_ns;
		/* release: the sender's window reads it. */
		__atomic_store_n(&r->acked, r->good + r->bad, __ATOMIC_RELEASE);
	}
	if (map)
		munmap(map, cap + page);
	return NULL;
}

/*
 * Time since the first frame, stopped at the last one, and the rate over
 * the interval since the previous line: a sender that has stopped shows
 * 0 Gbit/s, not an average that decays with the wall clock.
 */
static void demo_progress(struct demo_run *r, const char *name, uint64_t now)
{
	uint64_t got = __atomic_load_n(&r->acked, __ATOMIC_ACQUIRE);
	double t = r->rx_first ? (double)(r->rx_last - r->rx_first) / 1e9 : 0;
	double dt = r->prog_ns ? (double)(now - r->prog_ns) / 1e9 : 0;
	struct jumbo_stats ps = { 0 };

	if (r->pool)
		jumbo_pool_stats(r->pool, &ps);
	fprintf(stderr, "\r%-12s %5.1f s %10llu frames %7.2f Gbit/s  pages in "
		"use %6llu ", name, t, (unsigned long long)got,
		dt > 0 ? (double)(got - r->prog_acked) *
				 (double)r->cfg->frame * 8 / dt / 1e9
		       : 0.0,
		(unsigned long long)ps.in_use);
	r->prog_ns = now;
	r->prog_acked = got;
}

/*
 * The window that fits the socket's receive buffer: a datagram costs its
 * truesize there, about its length rounded up to a power of two plus the
 * skb, and the kernel gives at most rmem_max without CAP_NET_ADMIN.  Half
 * the buffer, so that a burst still fits.
 */
static unsigned demo_window(int fd, size_t frame, unsigned want)
{
	int rcv = 0;
	socklen_t len = sizeof(rcv);
	size_t truesize = 4096, fit;

	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len) || rcv <= 0)
		return want;
	while (truesize < frame + 512)
		truesize <<= 1;
	truesize += 768;
	fit = (size_t)rcv / 2 / truesize;
	if (fit < 4)
		fit = 4;
	return fit < want ? (unsigned)fit : want;
}

/* Runs one receiver for cfg->secs; 0, or an exit code after a message. */
static int demo_run(struct demo_run *r, const char *name)
{
	const struct demo_cfg *c = r->cfg;
	struct jumbo_rx *rx = NULL;
	struct plain_rx pl;
	struct jumbo_rx_params p;
	struct mbuf *pkts[256];
	pthread_t ts, tc;
	uint64_t next_print, hard, idle_since = 0;
	int err = 0, fd;
	unsigned port;

	r->q = calloc(1, sizeof(*r->q));
	if (!r->q)
		return tool_err(EX_FAIL, "out of memory");
	if (r->use_pool) {
		jumbo_rx_params_init(&p);
		p.backend = c->backend;
		p.max_frame = c->frame;
		p.batch = c->batch;
		/* More ring buffers than frames in flight: none runs dry. */
		p.ring_entries = 2 * c->window;
		p.pool = r->pool;
		p.flags = c->stream ? JUMBO_RX_LEN32 : 0;
		rx = jumbo_rx_open(&p, &err);
		if (!rx)
			return tool_err(EX_FAIL, "cannot open the %s receiver: %s",
					jumbo_rx_backend_name(c->backend),
					jumbo_rx_strerror());
		port = jumbo_rx_port(rx);
	} else {
		err = plain_open(&pl, PLAIN_MALLOC, "127.0.0.1", 0, c->stream,
				 c->frame);
		if (err)
			return tool_err(EX_FAIL, "cannot open the plain "
					"receiver: %s", strerror(-err));
		port = pl.port;
	}
	fd = jf_connect("127.0.0.1", port, c->stream ? SOCK_STREAM
						     : SOCK_DGRAM);
	if (fd < 0) {
		err = tool_err(EX_FAIL, "cannot connect to 127.0.0.1 port %u: "
			       "%s", port, strerror(-fd));
		goto out;
	}
	memset(&r->snd, 0, sizeof(r->snd));
	r->snd.fd = fd;
	r->snd.stream = c->stream;
	r->snd.min_len = r->snd.max_len = c->frame;
	r->snd.duration_ns = (uint64_t)(c->secs * 1e9);
	r->snd.window = c->stream ? c->window
				  : demo_window(rx ? jumbo_rx_fd(rx) : pl.fd,
						c->frame, c->window);
	r->snd.acked = &r->acked;
	r->snd.stop = &r->stop;
	r->t0 = jf_now_ns();
	/*
	 * Without a thread the loop below would wait for frames nobody sends
	 * or checks: say so and stop (a consumer already started is told to
	 * finish and joined).
	 */
	int e = pthread_create(&tc, NULL, demo_consumer, r);
	if (e != 0) {
		err = tool_err(EX_FAIL, "cannot start the consumer thread: %s",
			       strerror(e));
		close(fd);
		goto out;
	}
	e = pthread_create(&ts, NULL, demo_sender, &r->snd);
	if (e != 0) {
		err = tool_err(EX_FAIL, "cannot start the sender thread: %s",
			       strerror(e));
		__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
		pthread_join(tc, NULL);
		close(fd);
		goto out;
	}
	next_print = r->t0 + 250000000ull;
	hard = r->t0 + r->snd.duration_ns + 3000000000ull;
	/*
	 * Receive until the sender has finished and everything it sent has
	 * been seen, or nothing came for 300 ms after it finished (the rest
	 * was lost), or a hard deadline.
	 */
	for (uint64_t now = r->t0; now < hard; now = jf_now_ns()) {
		int n = 0;

		if (rx) {
			n = jumbo_rx_recv(rx, pkts, c->batch, 5);
			for (int i = 0; i < n; i++)
				if (!spsc_push(r->q, pkts[i],
					       pkts[i]->m_pkthdr.len)) {
					r->queue_drops++;
					m_freem(pkts[i]);
				}
		} else {
			char *b;
			size_t len;
			n = plain_recv(&pl, &b, &len, 5);
			if (n > 0 && !spsc_push(r->q, b, len)) {
				r->queue_drops++;
				free(b);
			}
		}
		if (n < 0) {
			err = tool_err(EX_FAIL, "receive failed: %s",
				       strerror(-n));
			break;
		}
		if (n > 0) {
			r->rx_frames += (uint64_t)n;
			idle_since = 0;
			if (!r->rx_first)
				r->rx_first = now;
			r->rx_last = now;
		}
		if (c->progress && now >= next_print) {
			demo_progress(r, name, now);
			next_print += 250000000ull;
		}
		if (now - r->t0 < r->snd.duration_ns)
			continue;
		if (n == 0 && !idle_since)
			idle_since = now;
		if (idle_since && now - idle_since > 300000000ull)
			break;
	}
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	pthread_join(ts, NULL);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	pthread_join(tc, NULL);
	if (c->progress) {
		demo_progress(r, name, jf_now_ns());
		fputc('\n', stderr);
	}
	/* When frames flowed: from the first checked to the last. */
	r->elapsed = r->first_ns ? (double)(r->last_ns - r->first_ns) / 1e9
				 : 0;
	if (r->snd.err)
		err = tool_err(EX_FAIL, "the sender failed: %s",
			       strerror(-r->snd.err));
	close(fd);
out:
	if (rx) {
		jumbo_rx_stats(rx, &r->st);
		jumbo_rx_close(rx);
	} else {
		r->st.packets = pl.packets;
		r->st.bytes = pl.bytes;
		r->st.syscalls = pl.syscalls;
		r->st.truncated = pl.truncated;
		plain_close(&pl);
	}
	free(r->q);
	r->q = NULL;
	return err;
}

static void demo_report(struct report *rep, struct demo_run *r)
{
	uint64_t lost = r->snd.sent > r->good + r->bad
				? r->snd.sent - r->good - r->bad : 0;

	rep_u64(rep, "frames_sent", r->snd.sent);
	rep_u64(rep, "frames_ok", r->good);
	rep_f(rep, "seconds", r->elapsed, "s");
	rep_f(rep, "gbit_per_s", r->elapsed > 0 ? (double)r->bytes * 8 /
						   r->elapsed / 1e9 : 0,
	      "Gbit/s");
	rep_f(rep, "frames_per_s", r->elapsed > 0 ? (double)r->good /
						     r->elapsed : 0, NULL);
	rep_u64(rep, "lost", lost);
	rep_u64(rep, "out_of_order", r->out_of_order);
	rep_u64(rep, "bad", r->bad);
	rep_u64(rep, "queue_drops", r->queue_drops);
	rep_u64(rep, "syscalls", r->st.syscalls);
}

static void demo_usage(FILE *f)
{
	fputs("usage: jumbo demo [--quick] [options]\n"
	      "\n"
	      "Sends jumbo frames over loopback to a receiver that puts them in\n"
	      "pool pages, checks and delivers each one (zero-copy where it\n"
	      "pays), then runs a plain malloc + recv receiver the same way.\n"
	      "\n"
	      "  --quick             a short run (about 2 s), for tests\n"
	      "  --duration SECS     per receiver (default 3)\n"
	      "  --backend NAME      udp (default), tcp or uring\n"
	      "  --frame BYTES       frame size (default 9000; 32 to 65000)\n"
	      "  --page SIZE         pool page size: 4k (default) or 2m\n"
	      "  --batch N           packets per receive call (default 32)\n"
	      "  --window N          frames in flight at most (default 256)\n"
	      "  --deliver MODE      auto (default), move or copy\n"
	      "  --no-baseline       skip the malloc + recv run\n"
	      "  --json              the summary as one JSON object\n"
	      "  -h, --help          this text\n"
	      "  --version           the version\n", f);
}

int cmd_demo(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, 0, 'q' },
		{ "duration", required_argument, 0, 'd' },
		{ "seconds", required_argument, 0, 'd' }, /* as jumbo rx, tx */
		{ "backend", required_argument, 0, 'b' },
		{ "frame", required_argument, 0, 'f' },
		{ "page", required_argument, 0, 'p' },
		{ "batch", required_argument, 0, 'B' },
		{ "window", required_argument, 0, 'w' },
		{ "deliver", required_argument, 0, 'D' },
		{ "no-baseline", no_argument, 0, 'n' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	struct demo_cfg c = { JUMBO_RX_UDP, 0, 9000, JUMBO_PAGE_4K, 32, 256,
			      3.0, 0, 0, 0, 1 };
	struct demo_run pr, br;
	struct report rep;
	unsigned long v;
	int o, b, e, window_set = 0, batch_set = 0;

	tool_cmd = "jumbo demo";
	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (o) {
		case 'q': c.secs = 0.7; break;
		case 'd':
			if (opt_seconds("--duration", optarg, &c.secs))
				return EX_USAGE;
			break;
		case 'b':
			b = jumbo_rx_backend_parse(optarg);
			/* xdp needs an interface; the demo runs on loopback. */
			if (b < 0 || b == JUMBO_RX_XDP)
				return tool_err(EX_USAGE, "--backend: '%s' is not "
						"a backend (udp, tcp, uring)",
						optarg);
			c.backend = b == JUMBO_RX_DEFAULT ? JUMBO_RX_UDP
							  : (enum jumbo_rx_backend)b;
			break;
		case 'f':
			if (opt_size("--frame", optarg, JF_HDR, 65000, &c.frame))
				return EX_USAGE;
			break;
		case 'p':
			if (opt_page("--page", optarg, &c.page))
				return EX_USAGE;
			break;
		case 'B':
			if (opt_uint("--batch", optarg, 1, 256, &v))
				return EX_USAGE;
			c.batch = (unsigned)v;
			batch_set = 1;
			break;
		case 'w':
			if (opt_uint("--window", optarg, 1, 2048, &v))
				return EX_USAGE;
			c.window = (unsigned)v;
			window_set = 1;
			break;
		case 'D':
			if (!strcmp(optarg, "auto"))
				c.deliver = 0;
			else if (!strcmp(optarg, "move"))
				c.deliver = JUMBO_DELIVER_MOVE;
			else if (!strcmp(optarg, "copy"))
				c.deliver = JUMBO_DELIVER_COPY;
			else
				return tool_err(EX_USAGE, "--deliver: '%s' is "
						"not auto, move or copy", optarg);
			break;
		case 'n': c.baseline = -1; break;
		case 'j': c.json = 1; break;
		case 'h': demo_usage(stdout); return 0;
		case 'V': return tool_version();
		default: return opt_bad(o, argv);
		}
	}
	if (optind < argc)
		return tool_err(EX_USAGE, "unexpected argument '%s' (see "
				"'jumbo demo --help')", argv[optind]);
	c.stream = c.backend == JUMBO_RX_TCP;
	/*
	 * With 2 MiB pages every frame takes a whole page: keep the pages
	 * in flight (window, and the batch the backend keeps posted) to a
	 * few hundred MiB unless asked otherwise.
	 */
	if (c.page == JUMBO_PAGE_2M) {
		if (!window_set)
			c.window = 64;
		if (!batch_set)
			c.batch = 8;
	}
	c.progress = !c.json && isatty(2);
	if (!jumbo_rx_backend_supported(c.backend))
		return tool_err(EX_FAIL, "%s", jumbo_rx_strerror());

	memset(&pr, 0, sizeof(pr));
	pr.cfg = &c;
	pr.use_pool = 1;
	pr.pool = tool_pool(c.page, c.page == JUMBO_PAGE_4K ? 65536 : 512);
	if (!pr.pool)
		return EX_FAIL;
	if (!c.json)
		printf("jumbo demo: %zu-byte frames over %s on 127.0.0.1, "
		       "%.1f s per receiver\n", c.frame,
		       c.stream ? "TCP" : "UDP", c.secs);
	e = demo_run(&pr, "pool");
	memset(&br, 0, sizeof(br));
	br.cfg = &c;
	if (!e && c.baseline >= 0)
		e = demo_run(&br, "malloc+recv");

	rep_begin(&rep, stdout, c.json);
	rep_s(&rep, "backend", jumbo_rx_backend_name(c.backend));
	rep_u64(&rep, "frame_bytes", c.frame);
	rep_section(&rep, "pool_receiver");
	demo_report(&rep, &pr);
	rep_u64(&rep, "bytes_moved", pr.moved);
	rep_u64(&rep, "bytes_copied", pr.copied);
	rep_u64(&rep, "remaps", pr.remaps);
	rep_u64(&rep, "no_buffer", pr.st.no_buffer);
	rep_u64(&rep, "kernel_drops", pr.st.kernel_drops);
	rep_u64(&rep, "truncated", pr.st.truncated);
	rep_section(&rep, "pool");
	rep_pool_stats(&rep, pr.pool);
	rep_end_section(&rep);
	rep_end_section(&rep);
	if (c.baseline >= 0) {
		rep_section(&rep, "malloc_recv_receiver");
		demo_report(&rep, &br);
		rep_end_section(&rep);
	}
	rep_end(&rep);
	if (!c.json && pr.elapsed > 0) {
		double gp = (double)pr.bytes * 8 / pr.elapsed / 1e9;
		double gb = br.elapsed > 0 ? (double)br.bytes * 8 / br.elapsed /
						     1e9 : 0;

		printf("\nsummary: pool receiver %.2f Gbit/s", gp);
		if (c.baseline >= 0 && gb > 0)
			printf(", malloc + recv %.2f Gbit/s (pool %.2fx)", gb,
			       gp / gb);
		printf("; lost %llu + %llu; moved %.1f MB, copied %.1f MB\n",
		       (unsigned long long)(pr.snd.sent - pr.good - pr.bad),
		       (unsigned long long)(br.snd.sent - br.good - br.bad),
		       (double)pr.moved / 1e6, (double)pr.copied / 1e6);
	}
	if (pr.deliver_err)
		e = tool_err(EX_FAIL, "jumbo_deliver failed: %s",
			     strerror(-pr.deliver_err));
	if (!e && (pr.bad || br.bad))
		e = tool_err(EX_FAIL, "%llu corrupt frames",
			     (unsigned long long)(pr.bad + br.bad));
	if (!e && pr.good == 0 && pr.st.no_buffer)
		e = tool_err(EX_FAIL, "no frame arrived: the pool had no pages "
			     "(%llu frames dropped for no buffer)%s",
			     (unsigned long long)pr.st.no_buffer,
			     c.page == JUMBO_PAGE_2M
				     ? "; 2 MiB pages need huge pages "
				       "reserved in /proc/sys/vm/nr_hugepages"
				     : "");
	else if (!e && pr.good == 0)
		e = tool_err(EX_FAIL, "no frame arrived");
	if (jumbo_pool_destroy(pr.pool))
		e = tool_err(EX_FAIL, "pages still out at the end: a leak");
	return e;
}
