/*
 * The plain receivers (support/plain.c) that jumbo demo and the receive
 * benchmark compare the pool with.
 */
#ifndef JUMBO_SUPPORT_PLAIN_H
#define JUMBO_SUPPORT_PLAIN_H

#include <stddef.h>
#include <stdint.h>

/*
 * "malloc": recv into a buffer malloc'd per frame, handed on and freed by
 * the consumer (the usual program).  "reuse": recv into one buffer again
 * and again (the floor: one copy, no allocation).  UDP, or TCP frames with
 * the LEN32 prefix.
 */
enum plain_kind { PLAIN_MALLOC, PLAIN_REUSE };

struct plain_rx {
	enum plain_kind kind;
	int fd;        /* udp socket, or tcp listener */
	int conn;      /* tcp: the accepted connection */
	int stream;
	size_t max_frame;
	unsigned port;
	char *reuse;   /* the reused buffer */
	uint64_t packets, bytes, truncated, syscalls, closes;
};

int plain_open(struct plain_rx *p, enum plain_kind kind, const char *addr,
	       unsigned port, int stream, size_t max_frame);
/*
 * One frame: its buffer (malloc'd: the caller frees it; reuse: valid until
 * the next call) and length; 0 on timeout, 1 with a frame, or -errno.
 */
int plain_recv(struct plain_rx *p, char **buf, size_t *len, int timeout_ms);
void plain_close(struct plain_rx *p);

#endif
