/*
 * The plain receivers the pool is measured against: recv(2) into a buffer
 * from malloc per frame (what most programs do), or into one buffer used
 * again and again (the floor: one copy, nothing allocated).  UDP, or TCP
 * frames cut by their 32-bit length prefix, read with two recv calls.
 */
#include "plain.h"
#include "send.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int plain_open(struct plain_rx *p, enum plain_kind kind, const char *addr,
	       unsigned port, int stream, size_t max_frame)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int sz = 16 << 20, one = 1;

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->fd = p->conn = -1;
	p->stream = stream;
	p->max_frame = max_frame;
	if (jf_sockaddr(addr, port, &ss, &len))
		return -EINVAL;
	p->fd = socket(ss.ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) |
				     SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	/* The same receive buffer as the pool's backends, for a fair race. */
	if (setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		(void)setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->fd, (struct sockaddr *)&ss, len) ||
	    (stream && listen(p->fd, 4))) {
		int e = -errno;
		plain_close(p);
		return e;
	}
	len = sizeof(ss);
	getsockname(p->fd, (struct sockaddr *)&ss, &len);
	p->port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
	if (kind == PLAIN_REUSE && !(p->reuse = malloc(max_frame + 1))) {
		plain_close(p);
		return -ENOMEM;
	}
	return 0;
}

static int plain_wait(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r = poll(&pfd, 1, timeout_ms);

	return r < 0 ? (errno == EINTR ? 0 : -errno) : r;
}

/* Reads exactly len bytes of a frame: 1, 0 at a clean end, or -errno. */
static int plain_read_all(struct plain_rx *p, char *b, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t r = recv(p->conn, b + off, len - off, MSG_WAITALL);
		p->syscalls++;
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r == 0 ? 0 : -errno;
	}
	return 1;
}

/* The connection ended (or its stream can no longer be cut): 0. */
static int plain_end_conn(struct plain_rx *p)
{
	close(p->conn);
	p->conn = -1;
	p->closes++;
	return 0;
}

static int plain_recv_stream(struct plain_rx *p, char **buf, size_t *len,
			     int timeout_ms)
{
	uint32_t be;
	size_t n;
	char *b;
	int r;

	if (p->conn < 0) {
		r = plain_wait(p->fd, timeout_ms);
		if (r <= 0)
			return r;
		p->conn = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
		if (p->conn < 0)
			return 0;
	}
	r = plain_wait(p->conn, timeout_ms);
	if (r <= 0)
		return r;
	r = plain_read_all(p, (char *)&be, 4);
	n = ntohl(be);
	if (r > 0 && (n < 4 || n > p->max_frame)) {
		p->truncated++;
		r = 0;
	}
	if (r <= 0)
		return plain_end_conn(p);
	b = p->kind == PLAIN_REUSE ? p->reuse : malloc(n);
	if (!b)
		return -ENOMEM;
	memcpy(b, &be, 4);
	r = plain_read_all(p, b + 4, n - 4);
	if (r <= 0) {
		if (b != p->reuse)
			free(b);
		return plain_end_conn(p);
	}
	*buf = b;
	*len = n;
	return 1;
}

int plain_recv(struct plain_rx *p, char **buf, size_t *len, int timeout_ms)
{
	ssize_t r;
	char *b;
	int w;

	if (p->stream) {
		w = plain_recv_stream(p, buf, len, timeout_ms);
		if (w > 0) {
			p->packets++;
			p->bytes += *len;
		}
		return w;
	}
	w = plain_wait(p->fd, timeout_ms);
	if (w <= 0)
		return w;
	/* One byte more than max_frame, so that MSG_TRUNC tells. */
	b = p->kind == PLAIN_REUSE ? p->reuse : malloc(p->max_frame + 1);
	if (!b)
		return -ENOMEM;
	r = recv(p->fd, b, p->max_frame + 1, MSG_DONTWAIT | MSG_TRUNC);
	p->syscalls++;
	if (r < 0 || (size_t)r > p->max_frame) {
		if (b != p->reuse)
			free(b);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		p->truncated++;
		return 0;
	}
	p->packets++;
	p->bytes += (size_t)r;
	*buf = b;
	*len = (size_t)r;
	return 1;
}

void plain_close(struct plain_rx *p)
{
	if (p->conn >= 0)
		close(p->conn);
	if (p->fd >= 0)
		close(p->fd);
	free(p->reuse);
	p->fd = p->conn = -1;
	p->reuse = NULL;
}
