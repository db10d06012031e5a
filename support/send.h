/*
 * A test-frame sender over UDP or TCP, shared by the jumbo command, the
 * tests and the receive benchmark (header only: each is one program).
 *
 * Pacing, because a loopback sender outruns any receiver and the socket
 * then drops: either a rate in frames per second, or a window against a
 * counter the receiver advances (frames sent minus frames the receiver has
 * seen stays under the window), which is what the in-process demo uses.
 * Every loop is bounded by the deadline as well as by the count.
 */
#ifndef JUMBO_TOOLS_SEND_H
#define JUMBO_TOOLS_SEND_H

#include "frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t jf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* *ss and *len for addr:port (numeric IPv4 or IPv6): 0, or -EINVAL. */
static inline int jf_sockaddr(const char *addr, unsigned port,
			      struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	return 0;
}

/* A socket of type connected to addr:port (numeric), or -errno. */
static inline int jf_connect(const char *addr, unsigned port, int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct timeval tv = { 1, 0 };
	int fd, sz = 4 << 20, one = 1;

	if (jf_sockaddr(addr, port, &ss, &len))
		return -EINVAL;
	fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* A receiver that stops reading must not hang the sender. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/*
	 * No Nagle: a windowed sender waits for the receiver, which waits
	 * for the small frame Nagle holds back until an ACK (up to 40 ms).
	 */
	if (type == SOCK_STREAM)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

struct jf_sender {
	/* in */
	int fd;                /* connected socket */
	int stream;            /* TCP: write whole frames */
	size_t min_len, max_len; /* frame sizes, uniform in [min, max] */
	uint64_t count;        /* frames to send; 0: until the deadline */
	uint64_t duration_ns;  /* deadline from the start; 0: count only */
	double rate;           /* frames per second; 0: no rate limit */
	unsigned window;       /* with acked: frames in flight, at most */
	const uint64_t *acked; /* frames the receiver has seen (atomic) */
	const int *stop;       /* set by another thread to end early */
	uint64_t seed;
	/* out */
	uint64_t sent, bytes, refused, errors;
	int err;               /* the first error that ended the run */
	uint64_t elapsed_ns;
	int finished;          /* atomic: set as jf_send_run returns, after
				* its last send and the counts above */
};

static inline size_t jf_next_len(struct jf_sender *s)
{
	uint64_t x;

	if (s->max_len <= s->min_len)
		return s->min_len;
	s->seed ^= s->seed << 13;
	s->seed ^= s->seed >> 7;
	s->seed ^= s->seed << 17;
	x = s->seed;
	return s->min_len + (size_t)(x % (s->max_len - s->min_len + 1));
}

static inline int jf_write_all(int fd, const char *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t r = send(fd, p + off, len - off, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)r;
	}
	return 0;
}

/* Sends until count, deadline or stop; fills the out fields. */
static inline void jf_send_run(struct jf_sender *s)
{
	char *buf = malloc(s->max_len < JF_HDR ? JF_HDR : s->max_len);
	uint64_t t0 = jf_now_ns(), now = t0, gap;
	struct timespec nap = { 0, 20000 };

	s->err = 0;
	if (!s->seed)
		s->seed = 88172645463325252ull;
	if (!buf) {
		s->err = -ENOMEM;
		/* Release: as at the end. */
		__atomic_store_n(&s->finished, 1, __ATOMIC_RELEASE);
		return;
	}
	gap = s->rate > 0 ? (uint64_t)(1e9 / s->rate) : 0;
	while (!s->count || s->sent < s->count) {
		size_t len = jf_next_len(s);
		int r;

		now = jf_now_ns();
		if (s->duration_ns && now - t0 >= s->duration_ns)
			break;
		if (s->stop && __atomic_load_n(s->stop, __ATOMIC_RELAXED))
			break;
		if (s->acked && s->window &&
		    s->sent - __atomic_load_n(s->acked, __ATOMIC_ACQUIRE) >=
			    s->window) {
			nanosleep(&nap, NULL);
			continue;
		}
		if (gap && now < t0 + s->sent * gap) {
			uint64_t d = t0 + s->sent * gap - now;
			if (d > 50000) {
				struct timespec ts = { 0, (long)(d - 20000) };
				nanosleep(&ts, NULL);
			}
			continue;
		}
		jf_fill(buf, len, s->sent, now);
		if (s->stream)
			r = jf_write_all(s->fd, buf, len);
		else
			r = send(s->fd, buf, len, 0) < 0 ? -errno : 0;
		if (r == 0) {
			s->sent++;
			s->bytes += len;
			continue;
		}
		if (r && s->stream) {
			/*
			 * A stream cannot skip: a frame cut short by a
			 * timeout would shift every frame after it.
			 */
			s->err = r;
			break;
		}
		if (r == -ECONNREFUSED) {
			/* Nobody listens (yet): the ICMP error, not a frame. */
			s->refused++;
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
			continue;
		}
		if (r == -ENOBUFS || r == -EAGAIN || r == -EINTR) {
			s->errors++;
			nanosleep(&nap, NULL);
			continue;
		}
		s->err = r;
		break;
	}
	s->elapsed_ns = jf_now_ns() - t0;
	free(buf);
	/* Release: the sends and the counts before a watcher reads them. */
	__atomic_store_n(&s->finished, 1, __ATOMIC_RELEASE);
}

#endif
