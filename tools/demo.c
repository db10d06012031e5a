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
 *
 * --workers N adds a run across processes: the receiver puts frames into a
 * named shared pool and passes their pages by I/O address, through one
 * jumbo_ring per worker, to N worker processes that check each frame in
 * place and free its pages; nothing is copied in user space.  A worker
 * that dies (kill -9 one) costs the frames it had not finished, nothing
 * else: the receiver sees it go, takes its ring's frames back, reclaims
 * the pages it had taken, and goes on with the others.
 */
#include "send.h"
#include "spsc.h"
#include "tool.h"

#include <jumbo/ring.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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
	int json, progress;
	int no_baseline;  /* --no-baseline: no malloc + recv run */
	unsigned workers; /* --workers: processes of the shared-pool run */
};

/*
 * The shared-pool run: what the receiver and the worker processes share
 * (anonymous shared memory, mapped before the fork).  One SPSC ring per
 * worker carries a frame as one entry per page: the I/O address of its
 * data and the bytes in that page, DEMO_LAST on the frame's last page.
 */
#define DEMO_MAX_WORKERS 16
#define DEMO_RING_SLOTS 4096
#define DEMO_LAST 0x80000000u
#define DEMO_MAX_SEGS 32

/*
 * A worker's counts, written by it alone.  done (atomic): the frames it
 * has finished, good or bad, stored after their count: its
 * acknowledgement, which the receiver adds up into the sender's window.
 */
struct demo_worker {
	uint64_t good, bad, out_of_order, bytes, last_seq, first_ns, last_ns;
	uint64_t done;
} __attribute__((aligned(64)));

struct demo_shared {
	uint64_t acked;  /* atomic: frames out of the sender's window */
	int ready;       /* atomic: 1 the pool and rings are made, -1 failed */
	int done;        /* atomic: no more entries will come */
	int attach_err;  /* a worker could not attach (errno) */
	unsigned attached; /* atomic: workers attached to the pool */
	size_t ring_len;
	struct demo_worker w[DEMO_MAX_WORKERS];
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
	/* the shared-pool run */
	struct demo_shared *sh;
	struct jumbo_ring *rings[DEMO_MAX_WORKERS];
	unsigned next_worker;
	uint64_t ring_waits; /* times a worker's ring was full */
	/* a worker's death, seen and repaired by the consumer thread */
	pid_t wpid[DEMO_MAX_WORKERS];       /* 0: not running (or reaped) */
	int wstatus[DEMO_MAX_WORKERS];      /* how a reaped one ended */
	uint64_t dispatched[DEMO_MAX_WORKERS]; /* frames put on its ring */
	uint64_t acked_gone;   /* out of the window for good: the dead
				* workers' frames, and those no worker took */
	uint64_t in_flight_end; /* the window's frames in flight at the end */
	unsigned dead;                      /* bit k: worker k is gone */
	unsigned died;                      /* workers that died in the run */
	uint64_t died_unfinished;           /* their frames, lost */
	uint64_t finished_at_death;         /* all workers' frames then */
	long reclaimed;                     /* pages jumbo_pool_reclaim gave */
	uint64_t death_check_ns;
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

/* ---- the shared-pool run ------------------------------------------------ */

/*
 * A worker process: checks each frame where the receiver's pages hold it,
 * with the sum run piece by piece over the pages (only the 32-byte header
 * is read into a local, to sum it with its checksum field zeroed), then
 * drops the receiver's holds, which frees the pages from this process.
 */
static void demo_check_frame(struct demo_worker *w, struct jumbo_pool *pool,
			     const struct jumbo_ring_ent *seg, unsigned n)
{
	struct jf_hdr h, z;
	struct jf_acc s = { 0x9e3779b97f4a7c15ull, 0 };
	size_t total = 0;
	int ok = n > 0;

	for (unsigned i = 0; ok && i < n; i++) {
		const unsigned char *p = jumbo_pool_iova_to_addr(pool, seg[i].iova);
		size_t len = seg[i].len & ~DEMO_LAST;

		if (!p || (i + 1 < n && len % 8)) {
			ok = 0;
			break;
		}
		if (i == 0) {
			uint64_t w0;
			if (len < JF_HDR + 8) {
				ok = 0;
				break;
			}
			memcpy(&h, p, JF_HDR);
			memcpy(&w0, p + JF_HDR, 8);
			z = h;
			z.csum = 0;
			ok = h.magic == JF_MAGIC && w0 == jf_word(h.seq, 0);
			jf_acc_add(&s, &z, JF_HDR);
			jf_acc_add(&s, p + JF_HDR, len - JF_HDR);
		} else {
			jf_acc_add(&s, p, len);
		}
		total += len;
	}
	if (ok && (ntohl(h.len_be) != total ||
		   (s.a ^ (s.b << 1 | s.b >> 63)) != h.csum))
		ok = 0;
	if (ok) {
		if (w->good && h.seq < w->last_seq)
			w->out_of_order++;
		w->last_seq = h.seq;
		w->good++;
		w->bytes += total;
	} else {
		w->bad++;
	}
	for (unsigned i = 0; i < n; i++) {
		char *p = jumbo_pool_iova_to_addr(pool, seg[i].iova);
		if (p)
			jumbo_pool_unhold(pool, p - ((uintptr_t)p & 4095));
	}
	w->last_ns = jf_now_ns();
	if (!w->first_ns)
		w->first_ns = w->last_ns;
}

static int demo_worker_main(struct demo_shared *sh, void *ring_mem,
			    const char *pool_name, unsigned me)
{
	struct demo_worker *w = &sh->w[me];
	struct jumbo_ring_ent e[64], seg[DEMO_MAX_SEGS];
	struct timespec nap = { 0, 20000 };
	unsigned nseg = 0;
	struct jumbo_pool *pool = NULL;
	struct jumbo_ring *r = NULL;
	/*
	 * For test_demo: worker 0 kills itself once it has counted this many
	 * frames, before its acknowledgement of the last one.
	 */
	const char *die = getenv("JUMBO_TEST_DEMO_DIE");
	uint64_t die_at = me == 0 && die ? strtoull(die, NULL, 10) : 0;
	int ready;

	/*
	 * The receiver publishes the pool's statistics; a worker starting its
	 * own statistics thread in a child of a threaded process is what
	 * ThreadSanitizer refuses, and jumbo stat would show the pool twice.
	 */
	setenv("JUMBO_STAT", "0", 1);
	/* acquire: the pool and the rings were made before ready was set. */
	while (!(ready = __atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE)))
		nanosleep(&nap, NULL);
	if (ready > 0) {
		pool = jumbo_pool_attach(pool_name, 0);
		r = jumbo_ring_attach_mem(ring_mem, sh->ring_len);
	}
	/*
	 * Bound: each page becomes this process's as it leaves the ring, so
	 * that if this process dies, jumbo_pool_reclaim() in the receiver
	 * gives back what it had taken, and only that.
	 */
	if (!pool || !r || jumbo_ring_bind(r, pool) != 0) {
		__atomic_store_n(&sh->attach_err, errno ? errno : EINVAL,
				 __ATOMIC_RELAXED);
		return 1;
	}
	/* Relaxed: a count the receiver polls, nothing else goes with it. */
	__atomic_fetch_add(&sh->attached, 1, __ATOMIC_RELAXED);
	for (;;) {
		unsigned n = jumbo_ring_dequeue(r, e, 64);
		if (n == 0) {
			/* acquire: every entry was enqueued before done. */
			if (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) &&
			    (n = jumbo_ring_dequeue(r, e, 64)) == 0)
				break;
			if (n == 0) {
				nanosleep(&nap, NULL);
				continue;
			}
		}
		for (unsigned i = 0; i < n; i++) {
			if (nseg < DEMO_MAX_SEGS)
				seg[nseg++] = e[i];
			if (!(e[i].len & DEMO_LAST))
				continue;
			demo_check_frame(w, pool, seg, nseg);
			nseg = 0;
			if (die_at && w->good + w->bad == die_at)
				raise(SIGKILL);
			/*
			 * Relaxed: a count the receiver polls; nothing is
			 * read on the strength of it.  Ours alone.
			 */
			__atomic_store_n(&w->done, w->done + 1,
					 __ATOMIC_RELAXED);
		}
	}
	jumbo_ring_close(r);
	return jumbo_pool_destroy(pool) ? 1 : 0;
}

/* The page that holds the byte at p (a named pool's pages are 4 KiB). */
static void *demo_page(void *p)
{
	return (char *)p - ((uintptr_t)p & 4095);
}

/* Frames all workers have finished, the dead ones' included. */
static uint64_t demo_finished(const struct demo_run *r)
{
	uint64_t n = 0;

	/* Relaxed: counts, written by each worker alone. */
	for (unsigned k = 0; k < r->cfg->workers; k++)
		n += __atomic_load_n(&r->sh->w[k].good, __ATOMIC_RELAXED) +
		     __atomic_load_n(&r->sh->w[k].bad, __ATOMIC_RELAXED);
	return n;
}

/*
 * The sender's window: a frame leaves it once, when its worker has
 * finished it (the worker's done), when its worker is gone (a dead one's
 * frames all leave at its death: finished, or lost), or when no worker
 * took it.  A sum made by the consumer thread alone, which alone knows
 * who is dead, rather than increments made by the workers: a worker killed
 * between its count of a frame and its increment left that frame counted
 * and never acknowledged, the window one smaller for the rest of the run.
 */
static void demo_ack(struct demo_run *r)
{
	uint64_t n = r->acked_gone;

	for (unsigned k = 0; k < r->cfg->workers; k++)
		if (!(r->dead & 1u << k))
			/* Relaxed: a count, as the worker stores it. */
			n += __atomic_load_n(&r->sh->w[k].done,
					     __ATOMIC_RELAXED);
	/* Relaxed: a count the sender polls (what it sends goes by it). */
	__atomic_store_n(&r->sh->acked, n, __ATOMIC_RELAXED);
}

/*
 * Worker k is gone (reaped): what it leaves, repaired by the consumer
 * thread, which alone puts frames on the rings.  The frames still on its
 * ring are this process's pages, held for the worker: the holds are
 * dropped here, which frees them.  The pages it had taken off the ring
 * became its own (the ring is bound) and go back with
 * jumbo_pool_reclaim(), with its cache.  The frames it was given and did
 * not finish are lost: counted; all it was given leave the sender's
 * window (demo_ack), so that the window moves on for the other workers.
 */
static void demo_worker_gone(struct demo_run *r, unsigned k)
{
	struct jumbo_ring_ent e[64];
	unsigned n;

	r->dead |= 1u << k;
	if (r->died++ == 0)
		r->finished_at_death = demo_finished(r);
	while ((n = jumbo_ring_dequeue(r->rings[k], e, 64)) != 0)
		for (unsigned i = 0; i < n; i++) {
			void *p = jumbo_pool_iova_to_addr(r->pool, e[i].iova);
			if (p)
				jumbo_pool_unhold(r->pool, demo_page(p));
		}
	long got = jumbo_pool_reclaim(r->pool);
	if (got > 0)
		r->reclaimed += got;
	/* Relaxed: the worker is reaped, its counts are final. */
	uint64_t fin = __atomic_load_n(&r->sh->w[k].good, __ATOMIC_RELAXED) +
		       __atomic_load_n(&r->sh->w[k].bad, __ATOMIC_RELAXED);
	uint64_t lost = r->dispatched[k] > fin ? r->dispatched[k] - fin : 0;
	r->died_unfinished += lost;
	r->acked_gone += r->dispatched[k];
	demo_ack(r);
}

/*
 * Consumer thread: reaps a worker that has ended before the run did (it
 * can only have died: they run until told the run is over) and repairs
 * what it left; every 10 ms, or at once when now is set.
 */
static void demo_deaths(struct demo_run *r, int now)
{
	uint64_t t = jf_now_ns();

	if (!now && t - r->death_check_ns < 10000000)
		return;
	r->death_check_ns = t;
	for (unsigned k = 0; k < r->cfg->workers; k++) {
		int st;
		if (r->wpid[k] > 0 && waitpid(r->wpid[k], &st, WNOHANG) ==
					      r->wpid[k]) {
			r->wpid[k] = 0;
			r->wstatus[k] = st;
			demo_worker_gone(r, k);
		}
	}
}

/*
 * The receiver's side: each page of the chain is held (the hold is the
 * worker's to drop), the chain is freed, which leaves the held pages
 * allocated until their last unhold, and their I/O addresses and lengths
 * go on the next live worker's ring.  Freed first: once on a bound ring
 * the pages are the worker's (it adopts them), and a chain freed after a
 * worker had already dropped its holds found its run idle and took it
 * back for the next frames while the pages still named the worker, so
 * that the worker's death gave them to the depot from under the receiver
 * (a hold refused on a fresh frame, counted bad).  With no worker left,
 * the frame is freed and counted lost.
 */
static void demo_dispatch(struct demo_run *r, struct mbuf *m)
{
	struct jumbo_ring_ent seg[DEMO_MAX_SEGS];
	struct timespec nap = { 0, 10000 };
	unsigned n = 0, w, all = (1u << r->cfg->workers) - 1;

	if ((r->dead & all) == all) {
		m_freem(m);
		r->died_unfinished++;
		r->acked_gone++;
		return;
	}
	do
		w = r->next_worker++ % r->cfg->workers;
	while (r->dead & 1u << w);

	for (struct mbuf *x = m; x && n < DEMO_MAX_SEGS; x = x->m_next) {
		void *page = x->m_ext.ext_buf;
		if (x->m_len == 0)
			continue;
		if (jumbo_pool_hold(r->pool, page) != 0) {
			r->bad++;
			r->acked_gone++;
			/* Not sent: the holds taken go, and the chain frees
			 * every page below. */
			for (unsigned i = 0; i < n; i++)
				jumbo_pool_unhold(r->pool, demo_page(
					jumbo_pool_iova_to_addr(r->pool,
								seg[i].iova)));
			n = 0;
			break;
		}
		seg[n].iova = jumbo_pool_iova(r->pool, x->m_data);
		seg[n].len = (uint32_t)x->m_len;
		seg[n].tag = 0;
		n++;
	}
	m_freem(m);
	if (n) {
		seg[n - 1].len |= DEMO_LAST;
		r->dispatched[w]++;
	}
	for (unsigned done = 0; done < n;) {
		unsigned k = jumbo_ring_enqueue(r->rings[w], seg + done, n - done);
		done += k;
		if (done == n)
			break;
		r->ring_waits++;
		demo_deaths(r, 0);
		demo_ack(r);
		if (r->dead & 1u << w) {
			/* Died meanwhile: the pages not on its ring are
			 * ours still, and their last unhold frees them; the
			 * frame is counted lost. */
			for (unsigned i = done; i < n; i++)
				jumbo_pool_unhold(r->pool, demo_page(
					jumbo_pool_iova_to_addr(r->pool,
								seg[i].iova)));
			break;
		}
		nanosleep(&nap, NULL);
	}
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
		if (r->sh) {
			demo_deaths(r, 0);
			demo_ack(r);
		}
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
		if (r->sh) {
			demo_dispatch(r, p);
			continue; /* the workers count; demo_ack acks */
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
	/* Acquire: a count only; the workers' run keeps it in the shared
	 * block the receiver's consumer sums into. */
	uint64_t got = __atomic_load_n(r->sh ? &r->sh->acked : &r->acked,
				       __ATOMIC_ACQUIRE);
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
		/* The consumer checks payloads, never the sender. */
		p.flags = (c->stream ? JUMBO_RX_LEN32 : 0) | JUMBO_RX_NOSRC;
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
	r->snd.acked = r->sh ? &r->sh->acked : &r->acked;
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
	 * Receive until nothing came for 300 ms after the sender finished
	 * (what did not come by then was lost), or past a hard deadline; both
	 * only on a receive that found nothing, so that a receiver a busy
	 * machine kept off the CPU past them takes what waits in its socket
	 * rather than count it lost.
	 */
	for (uint64_t now = r->t0;; now = jf_now_ns()) {
		int n = 0;

		if (rx) {
			n = jumbo_rx_recv(rx, pkts, c->batch ? c->batch : 32,
					  5);
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
		/*
		 * Quiet counts only once the sender has finished: a sender
		 * kept off the CPU in its last send past the deadline (a busy
		 * machine, a sanitizer) still sends that frame, which a loop
		 * gone by then would count lost.  Acquire: pairs with the
		 * sender's flag, after its last send.
		 */
		if (!__atomic_load_n(&r->snd.finished, __ATOMIC_ACQUIRE) &&
		    now < hard) {
			idle_since = 0;
			continue;
		}
		if (n == 0 && !idle_since)
			idle_since = now;
		if (n == 0 && (now >= hard || now - idle_since > 300000000ull))
			break;
		/* Someone else's sender on the port keeps n > 0: not forever. */
		if (now >= hard + 30000000000ull)
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

/*
 * The shared-pool run: a named pool, one ring per worker, the workers
 * forked (this process has no other thread now), then the receiver as in
 * the other runs; the workers' counts become the run's.
 */
static int demo_workers_run(struct demo_run *r)
{
	const struct demo_cfg *c = r->cfg;
	size_t ring_len = jumbo_ring_memsize(DEMO_RING_SLOTS);
	void *rmem[DEMO_MAX_WORKERS] = { 0 };
	pid_t parent = getpid();
	struct jumbo_pool_params pp;
	unsigned k, forked = 0;
	char name[32];
	int e = 0;

	snprintf(name, sizeof(name), "jumbo-demo-%d", (int)getpid());
	r->sh = mmap(NULL, sizeof(*r->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->sh == MAP_FAILED) {
		r->sh = NULL;
		return tool_err(EX_FAIL, "out of memory");
	}
	r->sh->ring_len = ring_len;
	for (k = 0; k < c->workers; k++) {
		rmem[k] = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (rmem[k] == MAP_FAILED) {
			rmem[k] = NULL;
			e = tool_err(EX_FAIL, "out of memory");
			goto out;
		}
	}
	/* The workers first: they wait for the pool and the rings. */
	fflush(NULL); /* nothing buffered is written twice */
	for (forked = 0; forked < c->workers; forked++) {
		pid_t pid = fork();
		if (pid < 0) {
			e = tool_err(EX_FAIL, "fork: %s", strerror(errno));
			break;
		}
		if (pid == 0) {
			/* A worker must not outlive a receiver killed with -9:
			 * it would wait for frames forever. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
			    getppid() != parent)
				_exit(1);
			_exit(demo_worker_main(r->sh, rmem[forked], name, forked));
		}
		r->wpid[forked] = pid;
	}
	jumbo_pool_params_init(&pp);
	pp.max_pages = 65536;
	pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	pp.name = name;
	if (!e && !(r->pool = jumbo_pool_create(&pp)))
		e = tool_err(EX_FAIL, "cannot make the shared pool %s: %s",
			     name, strerror(errno));
	/*
	 * Bound here too: the reclaim after a worker's death then knows the
	 * pages in flight on every ring, which stay ours (jumbo_pool(3)).
	 */
	for (k = 0; !e && k < c->workers; k++)
		if (!(r->rings[k] = jumbo_ring_init(rmem[k], ring_len,
						    DEMO_RING_SLOTS,
						    JUMBO_RING_SPSC)) ||
		    jumbo_ring_bind(r->rings[k], r->pool) != 0)
			e = tool_err(EX_FAIL, "cannot make a ring: %s",
				     strerror(errno));
	/* release: the pool and the rings before the workers look. */
	__atomic_store_n(&r->sh->ready, e ? -1 : 1, __ATOMIC_RELEASE);
	/*
	 * Once every worker has attached, the name goes: a receiver killed
	 * with -9 then leaves nothing in /dev/shm (the memory goes with the
	 * last process).  A worker that cannot attach ends, and is waited
	 * for below; none is waited for longer than 10 s.
	 */
	for (unsigned i = 0; !e && i < 10000; i++) {
		/* Relaxed: counts and a flag, polled. */
		if (__atomic_load_n(&r->sh->attached, __ATOMIC_RELAXED) +
			    (__atomic_load_n(&r->sh->attach_err,
					     __ATOMIC_RELAXED) != 0) >= forked)
			break;
		usleep(1000);
	}
	if (!e)
		jumbo_pool_unlink(name);
	if (!e)
		e = demo_run(r, "workers");
	/* release: every entry enqueued before the workers may stop. */
	__atomic_store_n(&r->sh->done, 1, __ATOMIC_RELEASE);
	for (k = 0; k < forked; k++) {
		int ws = r->wstatus[k];
		if (r->wpid[k] > 0) {
			if (waitpid(r->wpid[k], &ws, 0) != r->wpid[k])
				ws = -1;
			r->wpid[k] = 0;
			/* Died at the end: what it leaves is repaired too. */
			if ((ws == -1 || !WIFEXITED(ws) || WEXITSTATUS(ws)) &&
			    r->rings[k])
				demo_worker_gone(r, k);
		}
		if (ws != -1 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
			continue;
		int ae = __atomic_load_n(&r->sh->attach_err, __ATOMIC_RELAXED);
		if (e)
			continue;
		if (ws != -1 && WIFSIGNALED(ws))
			e = tool_err(EX_FAIL, "worker %u was killed by signal "
				     "%d: the run went on without it", k,
				     WTERMSIG(ws));
		else
			e = tool_err(EX_FAIL, "worker %u failed%s%s", k,
				     ae ? ": cannot attach: " : "",
				     ae ? strerror(ae) : "");
	}
	/* Every worker ended: what the window still counts never came. */
	demo_ack(r);
	r->in_flight_end = r->snd.sent - __atomic_load_n(&r->sh->acked,
							 __ATOMIC_RELAXED);
	uint64_t first = 0, last = 0;
	for (k = 0; k < forked; k++) {
		const struct demo_worker *w = &r->sh->w[k];
		r->good += w->good;
		r->bad += w->bad;
		r->out_of_order += w->out_of_order;
		r->bytes += w->bytes;
		if (w->first_ns && (!first || w->first_ns < first))
			first = w->first_ns;
		if (w->last_ns > last)
			last = w->last_ns;
	}
	r->elapsed = first ? (double)(last - first) / 1e9 : 0;
out:
	for (k = 0; k < DEMO_MAX_WORKERS; k++) {
		jumbo_ring_close(r->rings[k]);
		r->rings[k] = NULL;
		if (rmem[k])
			munmap(rmem[k], ring_len);
	}
	return e;
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
	      "  --batch N           packets per receive call (default: by frame\n"
	      "                      size, 2 to 32, as jumbo_rx(3) says)\n"
	      "  --window N          frames in flight at most (default 256)\n"
	      "  --deliver MODE      auto (default), move or copy\n"
	      "  --no-baseline       skip the malloc + recv run\n"
	      "  --workers N         add a run across processes: frames go by\n"
	      "                      I/O address through a shared pool to N\n"
	      "                      worker processes (1-16; udp only)\n"
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
		{ "workers", required_argument, 0, 'W' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	struct demo_cfg c = { .backend = JUMBO_RX_UDP, .frame = 9000,
			      .page = JUMBO_PAGE_4K, .batch = 0,
			      .window = 256, .secs = 3.0 };
	struct demo_run pr, br, wr;
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
			if (opt_deliver("--deliver", optarg, &c.deliver))
				return EX_USAGE;
			break;
		case 'n': c.no_baseline = 1; break;
		case 'W':
			if (opt_uint("--workers", optarg, 1, DEMO_MAX_WORKERS, &v))
				return EX_USAGE;
			c.workers = (unsigned)v;
			break;
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
	/* Chains of whole pages, freed to the pool: what the workers take. */
	if (c.workers && c.backend != JUMBO_RX_UDP)
		return tool_err(EX_USAGE, "--workers: the udp backend only");
	if (c.workers && c.page != JUMBO_PAGE_4K)
		return tool_err(EX_USAGE, "--workers: 4 KiB pages only (a "
				"named shared pool)");
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
	if (!e && !c.no_baseline)
		e = demo_run(&br, "malloc+recv");
	memset(&wr, 0, sizeof(wr));
	wr.cfg = &c;
	wr.use_pool = 1;
	if (!e && c.workers)
		e = demo_workers_run(&wr);

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
	if (!c.no_baseline) {
		rep_section(&rep, "malloc_recv_receiver");
		demo_report(&rep, &br);
		rep_end_section(&rep);
	}
	if (c.workers && wr.pool) {
		rep_section(&rep, "workers_receiver");
		rep_u64(&rep, "workers", c.workers);
		demo_report(&rep, &wr);
		/* The workers read the frames where the kernel wrote them. */
		rep_u64(&rep, "bytes_copied", 0);
		rep_u64(&rep, "ring_waits", wr.ring_waits);
		/* Frames the receiver could not take (lost, as those below). */
		rep_u64(&rep, "no_buffer", wr.st.no_buffer);
		rep_u64(&rep, "kernel_drops", wr.st.kernel_drops);
		/* A worker's death: see demo_worker_gone. */
		rep_u64(&rep, "workers_died", wr.died);
		rep_u64(&rep, "died_unfinished", wr.died_unfinished);
		rep_u64(&rep, "frames_after_death",
			wr.died ? wr.good + wr.bad - wr.finished_at_death : 0);
		rep_u64(&rep, "pages_reclaimed", (uint64_t)wr.reclaimed);
		/* The sender's window at the end: frames that never came. */
		rep_u64(&rep, "in_flight_at_end", wr.in_flight_end);
		rep_section(&rep, "pool");
		rep_pool_stats(&rep, wr.pool);
		rep_end_section(&rep);
		rep_end_section(&rep);
	}
	rep_end(&rep);
	if (!c.json && pr.elapsed > 0) {
		double gp = (double)pr.bytes * 8 / pr.elapsed / 1e9;
		double gb = br.elapsed > 0 ? (double)br.bytes * 8 / br.elapsed /
						     1e9 : 0;

		printf("\nsummary: pool receiver %.2f Gbit/s", gp);
		if (!c.no_baseline && gb > 0)
			printf(", malloc + recv %.2f Gbit/s (pool %.2fx)", gb,
			       gp / gb);
		printf("; lost %llu + %llu; moved %.1f MB, copied %.1f MB\n",
		       (unsigned long long)(pr.snd.sent - pr.good - pr.bad),
		       (unsigned long long)(br.snd.sent - br.good - br.bad),
		       (double)pr.moved / 1e6, (double)pr.copied / 1e6);
		if (c.workers && wr.pool)
			printf("         %u worker processes %.2f Gbit/s, %llu "
			       "frames checked in place, lost %llu; copied in "
			       "user space 0 bytes (one process: %.1f MB)\n",
			       c.workers, wr.elapsed > 0 ? (double)wr.bytes * 8 /
							   wr.elapsed / 1e9 : 0,
			       (unsigned long long)wr.good,
			       (unsigned long long)(wr.snd.sent > wr.good + wr.bad
							    ? wr.snd.sent - wr.good - wr.bad
							    : 0),
			       (double)pr.copied / 1e6);
		if (c.workers && wr.died)
			printf("         %u worker(s) died: %llu frames they had "
			       "not finished lost, %ld pages they had taken "
			       "reclaimed, %llu frames checked after by the "
			       "others\n", wr.died,
			       (unsigned long long)wr.died_unfinished,
			       wr.reclaimed,
			       (unsigned long long)(wr.good + wr.bad -
						    wr.finished_at_death));
	}
	if (pr.deliver_err)
		e = tool_err(EX_FAIL, "jumbo_deliver failed: %s",
			     strerror(-pr.deliver_err));
	if (!e && (pr.bad || br.bad || wr.bad))
		e = tool_err(EX_FAIL, "%llu corrupt frames",
			     (unsigned long long)(pr.bad + br.bad + wr.bad));
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
	if (wr.pool) {
		struct jumbo_stats ws;
		if (!jumbo_pool_stats(wr.pool, &ws) && ws.in_use && !e)
			e = tool_err(EX_FAIL, "%llu pages of the shared pool "
				     "still in use at the end: a leak",
				     (unsigned long long)ws.in_use);
		jumbo_pool_destroy(wr.pool);
	}
	if (wr.sh)
		munmap(wr.sh, sizeof(*wr.sh));
	return e;
}
