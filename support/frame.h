/*
 * The test frame the jumbo command sends and checks: a 32-byte header and a
 * payload that depends on the sequence number, so that a page of one frame
 * showing up in another is caught, not only a flipped bit.
 *
 * The first field is the frame's total length, big-endian, so that the same
 * frames cut a TCP stream for the tcp backend's JUMBO_RX_LEN32 framing.
 * Header only, static inline: the tool, the tests and the benchmark share it.
 */
#ifndef JUMBO_TOOLS_FRAME_H
#define JUMBO_TOOLS_FRAME_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JF_MAGIC 0x4a4d424fu /* "JMBO" */
#define JF_HDR 32u

struct jf_hdr {
	uint32_t len_be;  /* total frame length, big-endian (LEN32 framing) */
	uint32_t magic;   /* JF_MAGIC */
	uint64_t seq;     /* 0, 1, 2... per sender */
	uint64_t csum;    /* jf_sum over the frame with this field zero */
	uint64_t tx_ns;   /* sender's CLOCK_MONOTONIC, for latency */
};

_Static_assert(sizeof(struct jf_hdr) == JF_HDR, "frame header is 32 bytes");

/*
 * A Fletcher-style sum over 64-bit words: two adds per word, so checking
 * a 9000-byte frame costs about a microsecond, and unlike a plain sum it
 * catches words that moved.  It runs in pieces (jf_acc_add) so that the
 * checker can sum the header with its csum field zeroed without writing
 * the frame; every piece but the last must be a multiple of 8 bytes.
 */
struct jf_acc {
	uint64_t a, b;
};

static inline void jf_acc_add(struct jf_acc *s, const void *p, size_t len)
{
	const unsigned char *c = p;
	uint64_t w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, c + i, 8);
		s->a += w;
		s->b += s->a;
	}
	if (i < len) {
		w = 0;
		memcpy(&w, c + i, len - i);
		s->a += w;
		s->b += s->a;
	}
}

static inline uint64_t jf_sum(const void *p, size_t len)
{
	struct jf_acc s = { 0x9e3779b97f4a7c15ull, 0 };

	jf_acc_add(&s, p, len);
	return s.a ^ (s.b << 1 | s.b >> 63);
}

/* Payload word i of frame seq: cheap, and different for every frame. */
static inline uint64_t jf_word(uint64_t seq, size_t i)
{
	uint64_t x = (seq + 1) * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

/* Writes a whole frame of len bytes (len >= JF_HDR) into buf. */
static inline void jf_fill(void *buf, size_t len, uint64_t seq, uint64_t tx_ns)
{
	unsigned char *c = buf;
	struct jf_hdr h;
	size_t i, n = (len - JF_HDR) / 8;
	uint64_t w;

	for (i = 0; i < n; i++) {
		w = jf_word(seq, i);
		memcpy(c + JF_HDR + i * 8, &w, 8);
	}
	w = jf_word(seq, n);
	memcpy(c + JF_HDR + n * 8, &w, (len - JF_HDR) % 8);
	h.len_be = htonl((uint32_t)len);
	h.magic = JF_MAGIC;
	h.seq = seq;
	h.csum = 0;
	h.tx_ns = tx_ns;
	memcpy(c, &h, JF_HDR);
	h.csum = jf_sum(c, len);
	memcpy(c, &h, JF_HDR);
}

/*
 * Checks a received frame that is contiguous in memory.  0 if good, else
 * a negative code: -1 short or bad magic, -2 length field differs from what
 * arrived, -3 checksum, -4 payload is another frame's.  *seq gets the
 * sequence number when the header could be read.
 */
static inline int jf_check(const void *buf, size_t len, uint64_t *seq)
{
	struct jf_hdr h;
	uint64_t w;

	if (len < JF_HDR)
		return -1;
	memcpy(&h, buf, JF_HDR);
	if (h.magic != JF_MAGIC)
		return -1;
	*seq = h.seq;
	if (ntohl(h.len_be) != len)
		return -2;
	{
		/* The header with its csum field zeroed, then the rest. */
		struct jf_hdr z = h;
		struct jf_acc s = { 0x9e3779b97f4a7c15ull, 0 };

		z.csum = 0;
		jf_acc_add(&s, &z, JF_HDR);
		jf_acc_add(&s, (const unsigned char *)buf + JF_HDR, len - JF_HDR);
		if ((s.a ^ (s.b << 1 | s.b >> 63)) != h.csum)
			return -3;
	}
	/* The first payload word ties the pages to this frame's number. */
	if (len >= JF_HDR + 8) {
		memcpy(&w, (const unsigned char *)buf + JF_HDR, 8);
		if (w != jf_word(h.seq, 0))
			return -4;
	}
	return 0;
}

#endif
