/*
 * jumbo-bench-rx: what receiving into pool pages costs, against recv into
 * a buffer from malloc per frame and recv into one reused buffer (the copy
 * floor: one copy, nothing allocated, nothing freed), for each backend and
 * frame size, in one run.  bench/RX.md has the figures and what they mean.
 *
 * UDP (udp, uring, malloc, reuse): drain mode.  A round opens a receiver,
 * fills its socket with N datagrams while the receiver is idle, then times
 * the receiver taking all N (and freeing each, as a consumer would).  The
 * sender is thus out of the figure: on loopback it does the kernel's half
 * of the copy and would otherwise set the pace for every receiver alike.
 * A fresh receiver per round also keeps io_uring's multishot receive from
 * taking datagrams during the fill, which would flatter it.
 *
 * TCP (tcp with LEN32 frames, malloc, reuse): stream mode.  A sender thread
 * writes frames as fast as it can for a fixed time and the receiver's rate
 * is measured; on loopback this is bounded by the sender as much as by the
 * receiver, and the table says so.
 *
 * Times are medians over rounds.  Nothing here passes or fails on a time.
 * With --plot DIR the two tables are also drawn, by gnuplot, as
 * DIR/rx-udp.png and DIR/rx-tcp.png (frames/s by frame size, one line per
 * receiver), from DIR/rx-udp.dat and DIR/rx-tcp.dat.
 */
#include "plain.h"
#include "send.h"

#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>
#include <jumbo/rx.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RCVBUF (64 << 20)

enum kind { K_UDP, K_URING, K_TCP, K_MALLOC, K_REUSE, K_MMSG, K_UDP_TS,
	    K_URING_TS };
static const char *const kind_name[] = { "udp", "uring", "tcp", "malloc",
					 "reuse", "reuse-mm", "udp-ts",
					 "uring-ts" };
#define NKINDS 8
#define NUDP 7 /* columns of the UDP table */

static struct jumbo_pool *pool;
static int rounds = 7;
static unsigned batch = 64;  /* reuse-mm's; the library's with --batch */
static int batch_set;       /* --batch: the library receivers use it too,
			     * else their own default (by frame size) */
static size_t only_size;   /* --size: one frame size only */
static unsigned only_mask; /* --only (repeatable): these receivers only */
static int tstamp;         /* --tstamp: udp and uring with kernel times too */
static unsigned ring_opt;  /* --ring: uring buffers; 0: the frames of a round */

/*
 * reuse-mm: the floor for a batching receiver, recvmmsg into the same
 * batch of buffers every time, so that the udp backend's gain from
 * batching is not credited to the pool.
 */
struct mmsg_rx {
	int fd;
	size_t frame;
	char *bufs;
	struct mmsghdr msg[256];
	struct iovec iov[256];
};

struct rxb {
	enum kind k;
	int stream;
	struct jumbo_rx *rx;
	struct plain_rx pl;
	struct mmsg_rx mm;
	unsigned port;
};

static int mmsg_open(struct mmsg_rx *m, size_t frame, unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int sz = RCVBUF;

	m->frame = frame;
	m->bufs = malloc((frame + 1) * batch);
	m->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (!m->bufs || m->fd < 0)
		return -ENOMEM;
	if (setsockopt(m->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		(void)setsockopt(m->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(m->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(m->fd, (struct sockaddr *)&a, &len))
		return -errno;
	*port = ntohs(a.sin_port);
	return 0;
}

static int mmsg_take(struct mmsg_rx *m, uint64_t *bytes)
{
	int n;

	for (unsigned i = 0; i < batch; i++) {
		m->iov[i].iov_base = m->bufs + i * (m->frame + 1);
		m->iov[i].iov_len = m->frame + 1;
		memset(&m->msg[i].msg_hdr, 0, sizeof(m->msg[i].msg_hdr));
		m->msg[i].msg_hdr.msg_iov = &m->iov[i];
		m->msg[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(m->fd, m->msg, batch, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	for (int i = 0; i < n; i++)
		*bytes += m->msg[i].msg_len;
	return n;
}

static int rxb_open(struct rxb *b, enum kind k, int stream, size_t frame,
		    unsigned ring)
{
	memset(b, 0, sizeof(*b));
	b->k = k;
	b->stream = stream;
	b->pl.fd = b->pl.conn = -1;
	b->mm.fd = -1;
	if (k == K_MMSG)
		return mmsg_open(&b->mm, frame, &b->port);
	if (k == K_MALLOC || k == K_REUSE) {
		int sz = RCVBUF, r;
		r = plain_open(&b->pl, k == K_MALLOC ? PLAIN_MALLOC : PLAIN_REUSE,
			       "127.0.0.1", 0, stream, frame);
		if (r)
			return r;
		if (setsockopt(b->pl.fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz,
			       sizeof(sz)))
			(void)setsockopt(b->pl.fd, SOL_SOCKET, SO_RCVBUF, &sz,
					 sizeof(sz));
		b->port = b->pl.port;
		return 0;
	}
	struct jumbo_rx_params p;
	int err = 0;

	jumbo_rx_params_init(&p);
	p.backend = k == K_UDP || k == K_UDP_TS	      ? JUMBO_RX_UDP
		    : k == K_URING || k == K_URING_TS ? JUMBO_RX_URING
						      : JUMBO_RX_TCP;
	p.max_frame = frame;
	p.batch = batch_set ? batch : 0;
	p.ring_entries = ring_opt ? ring_opt : ring;
	p.rcvbuf = RCVBUF;
	p.pool = pool;
	/* Datagrams without their sender, as reuse-mm and reuse take them. */
	p.flags = stream ? JUMBO_RX_LEN32 : JUMBO_RX_NOSRC;
	if (k == K_UDP_TS || k == K_URING_TS)
		p.flags |= JUMBO_RX_TSTAMP;
	b->rx = jumbo_rx_open(&p, &err);
	if (!b->rx)
		return err;
	b->port = jumbo_rx_port(b->rx);
	return 0;
}

static void rxb_close(struct rxb *b)
{
	if (b->rx)
		jumbo_rx_close(b->rx);
	else
		plain_close(&b->pl);
	if (b->mm.fd >= 0)
		close(b->mm.fd);
	free(b->mm.bufs);
}

/* Takes what is there: frames and bytes received, freed at once. */
static int rxb_take(struct rxb *b, uint64_t *bytes, int timeout_ms)
{
	struct mbuf *pkts[256];
	char *buf;
	size_t len;
	int n;

	if (b->k == K_MMSG)
		return mmsg_take(&b->mm, bytes);
	if (b->rx) {
		n = jumbo_rx_recv(b->rx, pkts, 256, timeout_ms);
		for (int i = 0; i < n; i++) {
			*bytes += pkts[i]->m_pkthdr.len;
			m_freem(pkts[i]);
		}
		return n;
	}
	n = plain_recv(&b->pl, &buf, &len, timeout_ms);
	if (n > 0) {
		*bytes += len;
		if (buf != b->pl.reuse)
			free(buf);
	}
	return n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Datagrams that fit the receive buffer at once, with room to spare. */
static unsigned fill_count(size_t frame)
{
	/* A datagram costs its truesize: about the data rounded to 4 KiB,
	 * plus a page; 64 MiB / that, halved, capped. */
	size_t t = ((frame + 4095) & ~(size_t)4095) + 4096;
	size_t n = (size_t)RCVBUF / 2 / t;

	return (unsigned)(n > 4000 ? 4000 : n);
}

static int skip_kind(enum kind k, int have_uring)
{
	return ((k == K_URING || k == K_URING_TS) && !have_uring) ||
	       ((k == K_UDP_TS || k == K_URING_TS) && !tstamp &&
		!(only_mask & 1u << k)) ||
	       (only_mask && !(only_mask & 1u << k));
}

/*
 * The receiving thread's CPU time, user and system: what the receiver
 * itself spent, without the time other processes had the CPU (a shared
 * machine's load), and with the kernel's copy, which recvmmsg and
 * io_uring_enter do on this thread.
 */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * One round of one UDP cell: frames per second (0 if the receiver could not
 * be opened), and the datagrams that did not arrive added to *dropped.
 */
static double udp_round(enum kind k, size_t frame, char *buf,
			uint64_t *dropped, double *cpu_fps)
{
	unsigned n = fill_count(frame);
	struct rxb b;
	uint64_t bytes = 0, t0, t1, c0, c1, got = 0;
	int fd;

	if (rxb_open(&b, k, 0, frame, n))
		return 0;
	fd = jf_connect("127.0.0.1", b.port, SOCK_DGRAM);
	if (fd < 0) {
		rxb_close(&b);
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		jf_fill(buf, frame, i, 0);
		if (send(fd, buf, frame, 0) < 0)
			break;
	}
	c0 = thread_cpu_ns();
	t0 = jf_now_ns();
	for (int idle = 0; got < n && idle < 20;) {
		int m = rxb_take(&b, &bytes, 0);
		if (m > 0) {
			got += (uint64_t)m;
			idle = 0;
		} else if (m == 0) {
			/* Only the tail may not be there yet. */
			idle++;
			m = rxb_take(&b, &bytes, 5);
			if (m > 0) {
				got += (uint64_t)m;
				idle = 0;
			}
		} else {
			break;
		}
	}
	t1 = jf_now_ns();
	c1 = thread_cpu_ns();
	*dropped += n - got;
	close(fd);
	rxb_close(&b);
	*cpu_fps = got && c1 > c0 ? (double)got / ((double)(c1 - c0) / 1e9) : 0;
	return got ? (double)got / ((double)(t1 - t0) / 1e9) : 0;
}

/*
 * The UDP cells of one frame size: the rounds interleaved (a round of each
 * receiver, then the next round), so that a change in the machine's load
 * falls on every receiver alike and the ratios stay meaningful; median
 * frames per second of each receiver into res[] (and per second of its
 * thread's CPU time into cpu[]), drops into drop[].
 */
static void bench_udp(const enum kind *kinds, unsigned nk, int have_uring,
		      size_t frame, double *res, double *cpu, uint64_t *drop)
{
	double fps[NUDP][64], cfps[NUDP][64];
	int got[NUDP] = { 0 };
	char *buf = malloc(frame);

	for (int r = 0; r < rounds && buf; r++)
		for (unsigned i = 0; i < nk; i++) {
			double v;

			if (skip_kind(kinds[i], have_uring))
				continue;
			v = udp_round(kinds[i], frame, buf, &drop[i],
				      &cfps[i][got[i]]);
			if (v > 0)
				fps[i][got[i]++] = v;
		}
	free(buf);
	for (unsigned i = 0; i < nk; i++) {
		res[i] = cpu[i] = 0;
		if (!got[i])
			continue;
		qsort(fps[i], (size_t)got[i], sizeof(double), cmp_d);
		qsort(cfps[i], (size_t)got[i], sizeof(double), cmp_d);
		res[i] = fps[i][got[i] / 2];
		cpu[i] = cfps[i][got[i] / 2];
	}
}

static void *tcp_sender(void *arg)
{
	jf_send_run(arg);
	return NULL;
}

/* One TCP cell: frames per second over 0.5 s of streaming. */
static double bench_tcp(enum kind k, size_t frame)
{
	struct rxb b;
	struct jf_sender s;
	pthread_t th;
	uint64_t bytes = 0, got = 0, t0, t1;
	int stop = 0;

	if (rxb_open(&b, k, 1, frame, 0))
		return 0;
	memset(&s, 0, sizeof(s));
	s.fd = jf_connect("127.0.0.1", b.port, SOCK_STREAM);
	if (s.fd < 0) {
		rxb_close(&b);
		return 0;
	}
	s.stream = 1;
	s.min_len = s.max_len = frame;
	s.duration_ns = 600000000ull;
	s.stop = &stop;
	pthread_create(&th, NULL, tcp_sender, &s);
	/* Skip the first 0.1 s (connection, slow start), time 0.4 s. */
	t0 = jf_now_ns() + 100000000ull;
	while (jf_now_ns() < t0)
		rxb_take(&b, &bytes, 10);
	t1 = t0 + 400000000ull;
	while (jf_now_ns() < t1) {
		int m = rxb_take(&b, &bytes, 10);
		if (m < 0)
			break;
		got += (uint64_t)m;
	}
	t1 = jf_now_ns();
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	/* Drain so the sender is not stuck in a full socket. */
	for (int i = 0; i < 1000 && rxb_take(&b, &bytes, 10) > 0; i++)
		;
	pthread_join(th, NULL);
	close(s.fd);
	rxb_close(&b);
	return (double)got / ((double)(t1 - t0) / 1e9);
}


/*
 * One chart: frames/s (log) against frame size (log), a line per receiver
 * (columns of res, 0 where not measured: gnuplot skips those points).
 */
static int plot_rx(const char *dir, const char *what, const char *title,
		   const size_t *sizes, unsigned nsizes, const enum kind *kinds,
		   unsigned nkinds, double res[][NUDP])
{
	char dat[512], png[512];
	FILE *f, *gp;
	int st;

	snprintf(dat, sizeof(dat), "%s/rx-%s.dat", dir, what);
	snprintf(png, sizeof(png), "%s/rx-%s.png", dir, what);
	f = fopen(dat, "w");
	if (!f) {
		fprintf(stderr, "jumbo-bench-rx: %s: %s\n", dat, strerror(errno));
		return -1;
	}
	fprintf(f, "frame");
	for (unsigned k = 0; k < nkinds; k++)
		fprintf(f, " %s", kind_name[kinds[k]]);
	fprintf(f, "\n");
	for (unsigned s = 0; s < nsizes; s++) {
		fprintf(f, "%zu", sizes[s]);
		for (unsigned k = 0; k < nkinds; k++)
			fprintf(f, res[s][k] > 0 ? " %.0f" : " NaN", res[s][k]);
		fprintf(f, "\n");
	}
	if (fclose(f)) {
		fprintf(stderr, "jumbo-bench-rx: %s: %s\n", dat, strerror(errno));
		return -1;
	}
	gp = popen("gnuplot", "w");
	if (!gp) {
		fprintf(stderr, "jumbo-bench-rx: cannot run gnuplot: %s\n",
			strerror(errno));
		return -1;
	}
	fprintf(gp,
		"set terminal pngcairo size 900,500 noenhanced\n"
		"set output '%s'\n"
		"set title '%s (median of %d round%s, batch %u)'\n"
		"set xlabel 'frame size (bytes)'\n"
		"set ylabel 'frames per second'\n"
		"set logscale xy\n"
		"set xtics (%s)\n"
		"set xrange [1000:100000]\n"
		"set grid\n"
		"set key outside right\n"
		"set datafile missing 'NaN'\n"
		"plot for [i=2:%u] '%s' using 1:i with linespoints lw 2 pt 7 "
		"title columnheader(i)\n",
		png, title, rounds, rounds == 1 ? "" : "s", batch,
		"'1500' 1500, '4096' 4096, '9000' 9000, '65000' 65000",
		nkinds + 1, dat);
	st = pclose(gp);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "jumbo-bench-rx: gnuplot failed for %s (is "
			"gnuplot installed? scripts/install-deps.sh bench)\n", png);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 1500, 4096, 9000, 65000 };
	static const enum kind udp_kinds[NUDP] = { K_UDP, K_URING, K_MALLOC,
						   K_REUSE, K_MMSG, K_UDP_TS,
						   K_URING_TS };
	static const enum kind tcp_kinds[] = { K_TCP, K_MALLOC, K_REUSE };
	int quick = 0, udp_only = 0, have_uring = jumbo_rx_backend_supported(JUMBO_RX_URING);
	struct jumbo_pool_params pp;
	const char *plot = NULL;
	double udp_res[4][NUDP] = { { 0 } }, tcp_res[4][NUDP] = { { 0 } };
	size_t reserve = 0; /* the library's default */

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = 1;
		} else if (!strcmp(argv[i], "--batch") && i + 1 < argc &&
			   atoi(argv[i + 1]) >= 1 && atoi(argv[i + 1]) <= 256) {
			batch = (unsigned)atoi(argv[++i]);
			batch_set = 1;
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc &&
			   atol(argv[i + 1]) >= 32 && atol(argv[i + 1]) <= 65000) {
			only_size = (size_t)atol(argv[++i]);
		} else if (!strcmp(argv[i], "--udp")) {
			udp_only = 1;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc &&
			   atoi(argv[i + 1]) >= 1 && atoi(argv[i + 1]) <= 64) {
			rounds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--tstamp")) {
			tstamp = 1;
		} else if (!strcmp(argv[i], "--ring") && i + 1 < argc &&
			   atoi(argv[i + 1]) >= 1) {
			ring_opt = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--reserve") && i + 1 < argc) {
			i++;
			reserve = strcmp(argv[i], "auto")
					  ? (size_t)atol(argv[i])
					  : JUMBO_RESERVE_AUTO;
		} else if (!strcmp(argv[i], "--plot") && i + 1 < argc) {
			plot = argv[++i];
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			unsigned before = only_mask;

			i++;
			for (int k = 0; k < NKINDS; k++)
				if (!strcmp(argv[i], kind_name[k]))
					only_mask |= 1u << k;
			if (only_mask == before) {
				fprintf(stderr, "--only: '%s' is not a receiver\n",
					argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: jumbo-bench-rx [--quick] "
				"[--batch N (1 to 256; default: reuse-mm 64, the "
				"library's own)] [--size "
				"BYTES] [--only udp|uring|tcp|malloc|reuse|"
				"reuse-mm|udp-ts|uring-ts]... [--udp] "
				"[--rounds N] [--tstamp] [--ring N] "
				"[--reserve PAGES|auto] "
				"[--plot DIR]\n");
			return 2;
		}
	}
	if (quick)
		rounds = 1;
	if (plot && mkdir(plot, 0777) && errno != EEXIST) {
		fprintf(stderr, "jumbo-bench-rx: %s: %s\n", plot, strerror(errno));
		return 1;
	}
	jumbo_pool_params_init(&pp);
	pp.max_pages = 1 << 17;
	pp.name = "bench-rx";
	pp.reserve_pages = reserve;
	pool = jumbo_pool_create(&pp);
	if (!pool) {
		fprintf(stderr, "jumbo-bench-rx: no pool: %s\n", strerror(errno));
		return 1;
	}
	if (!have_uring)
		printf("uring: not measured: %s\n", jumbo_rx_strerror());
	if (batch_set)
		printf("UDP, drain mode: a full socket emptied by the receiver "
		       "(median of %d rounds, batch %u)\n", rounds, batch);
	else
		printf("UDP, drain mode: a full socket emptied by the receiver "
		       "(median of %d rounds; batch: reuse-mm %u, udp and "
		       "uring their default by frame size)\n", rounds, batch);
	printf("%7s %-10s %12s %9s %9s %9s %8s %12s %9s %9s\n", "frame",
	       "receiver", "frames/s", "Gbit/s", "vs reuse", "vs mm",
	       "dropped", "per cpu s", "vs reuse", "vs mm");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double res[NUDP] = { 0 }, cpu[NUDP] = { 0 };
		uint64_t drop[NUDP] = { 0 };

		if (only_size && sizes[s] != only_size)
			continue;
		bench_udp(udp_kinds, NUDP, have_uring, sizes[s], res, cpu, drop);
		memcpy(udp_res[s], res, sizeof(res));
		for (int i = 0; i < NUDP; i++) {
			if (skip_kind(udp_kinds[i], have_uring))
				continue;
			printf("%7zu %-10s %12.0f %9.2f %8.2fx %8.2fx %8llu "
			       "%12.0f %8.2fx %8.2fx\n",
			       sizes[s], kind_name[udp_kinds[i]], res[i],
			       res[i] * (double)sizes[s] * 8 / 1e9,
			       res[3] > 0 ? res[i] / res[3] : 0,
			       res[4] > 0 ? res[i] / res[4] : 0,
			       (unsigned long long)drop[i], cpu[i],
			       cpu[3] > 0 ? cpu[i] / cpu[3] : 0,
			       cpu[4] > 0 ? cpu[i] / cpu[4] : 0);
		}
	}
	if (udp_only)
		goto done;
	printf("\nTCP, stream mode: a sender thread writing as fast as it can "
	       "(bounded by the sender too)\n");
	printf("%7s %-8s %12s %9s %9s\n", "frame", "receiver", "frames/s",
	       "Gbit/s", "vs reuse");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double res[3] = { 0 };

		if (only_size && sizes[s] != only_size)
			continue;
		for (int i = 0; i < 3; i++)
			if (!skip_kind(tcp_kinds[i], 1))
				tcp_res[s][i] = res[i] =
					bench_tcp(tcp_kinds[i], sizes[s]);
		for (int i = 0; i < 3; i++)
			if (!skip_kind(tcp_kinds[i], 1))
				printf("%7zu %-8s %12.0f %9.2f %8.2fx\n",
				       sizes[s], kind_name[tcp_kinds[i]], res[i],
				       res[i] * (double)sizes[s] * 8 / 1e9,
				       res[2] > 0 ? res[i] / res[2] : 0);
		if (quick)
			break;
	}
done:
	if (plot) {
		unsigned ns = sizeof(sizes) / sizeof(sizes[0]);
		if (plot_rx(plot, "udp", "UDP receive, drain mode", sizes, ns,
			    udp_kinds, tstamp ? NUDP : 5, udp_res) ||
		    plot_rx(plot, "tcp", "TCP receive, stream mode", sizes, ns,
			    tcp_kinds, 3, tcp_res))
			return 1;
		printf("\ncharts: %s/rx-udp.png, %s/rx-tcp.png\n", plot, plot);
	}
	if (jumbo_pool_destroy(pool)) {
		fprintf(stderr, "jumbo-bench-rx: pages left out of the pool\n");
		return 1;
	}
	return 0;
}
