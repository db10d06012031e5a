/*
 * support/pkt.h, the UDP-in-Ethernet parser of jumbo rx's xdp path, on
 * frames built here byte by byte: IPv4 with and without options, IPv6,
 * one and two VLAN tags, Ethernet padding; and the frames it must refuse:
 * every truncation of each good frame, UDP lengths under 8 or past the
 * frame, an IPv4 header length under 5, a later fragment, an IPv6
 * extension header, another EtherType.  Each frame sits in a buffer of
 * exactly its length, so a read past it is caught by the address
 * sanitizer.  Then random frames (the seed is printed; pass it back to
 * repeat a run): whatever is found lies inside the frame.
 *
 *   test_pkt [seed]
 */
#include "check.h"
#include "pkt.h"

#define PORT 9000
#define PAYLOAD 100

struct shape {
	const char *name;
	int vlans;      /* tags before the IP header */
	int v6;
	unsigned ihl;   /* IPv4 header in 32-bit words */
	size_t pad;     /* bytes after the datagram */
};

static size_t put16(unsigned char *p, size_t off, unsigned v)
{
	p[off] = (unsigned char)(v >> 8);
	p[off + 1] = (unsigned char)v;
	return off + 2;
}

/* A frame of the shape into f (room for 256 + PAYLOAD); its length.
 * *udp is where the UDP header starts. */
static size_t build(const struct shape *s, unsigned char *f, size_t *udp)
{
	size_t o = 12, l3, l4;

	memset(f, 0, 256 + PAYLOAD);
	memset(f, 0xee, 12); /* the MAC addresses */
	for (int t = 0; t < s->vlans; t++) {
		o = put16(f, o, t == 0 && s->vlans == 2 ? ETH_P_8021AD
							: ETH_P_8021Q);
		o = put16(f, o, 100 + (unsigned)t); /* TCI */
	}
	o = put16(f, o, s->v6 ? ETH_P_IPV6 : ETH_P_IP);
	l3 = o;
	if (s->v6) {
		f[l3] = 0x60;
		put16(f, l3 + 4, 8 + PAYLOAD);
		f[l3 + 6] = IPPROTO_UDP;
		f[l3 + 7] = 64;
		l4 = l3 + 40;
	} else {
		f[l3] = (unsigned char)(0x40 | s->ihl);
		put16(f, l3 + 2, s->ihl * 4 + 8 + PAYLOAD);
		put16(f, l3 + 6, 0x4000); /* DF, offset 0 */
		f[l3 + 8] = 64;
		f[l3 + 9] = IPPROTO_UDP;
		/* Options: NOPs, so that IHL is all that says where UDP is. */
		memset(f + l3 + 20, 1, s->ihl * 4 - 20);
		l4 = l3 + s->ihl * 4;
	}
	put16(f, l4, 40000);
	put16(f, l4 + 2, PORT);
	put16(f, l4 + 4, 8 + PAYLOAD);
	for (size_t i = 0; i < PAYLOAD; i++)
		f[l4 + 8 + i] = (unsigned char)(i * 7 + 1);
	/* Padding that looks like payload: must not be taken as such. */
	memset(f + l4 + 8 + PAYLOAD, 0xab, s->pad);
	*udp = l4;
	return l4 + 8 + PAYLOAD + s->pad;
}

/* pkt_udp on a copy of f[0, len) in a buffer of exactly len bytes. */
static int parse(const unsigned char *f, size_t len, size_t *off,
		 size_t *plen, unsigned *port)
{
	unsigned char *b = malloc(len ? len : 1);
	int r;

	REQUIRE(b);
	memcpy(b, f, len);
	r = pkt_udp(b, len, off, plen, port);
	free(b);
	return r;
}

static void good(const struct shape *s)
{
	unsigned char f[256 + PAYLOAD];
	size_t udp, n = build(s, f, &udp), off, plen;
	unsigned port;

	if (!parse(f, n, &off, &plen, &port)) {
		fprintf(stderr, "%s: not found\n", s->name);
		check_failures++;
		return;
	}
	CHECK_EQ(off, udp + 8);
	CHECK_EQ(plen, PAYLOAD);
	CHECK_EQ(port, PORT);
	/* Cut anywhere before the datagram's end: no datagram. */
	for (size_t cut = 0; cut < udp + 8 + PAYLOAD; cut++)
		if (parse(f, cut, &off, &plen, &port)) {
			fprintf(stderr, "%s: found in %zu of %zu bytes\n",
				s->name, cut, n);
			check_failures++;
		}
}

/* A good IPv4 frame changed by fix: refused. */
static void bad(const char *what, void (*fix)(unsigned char *, size_t, size_t))
{
	const struct shape s = { "ipv4", 0, 0, 5, 0 };
	unsigned char f[256 + PAYLOAD];
	size_t udp, n = build(&s, f, &udp), off, plen;
	unsigned port;

	fix(f, n, udp);
	if (parse(f, n, &off, &plen, &port)) {
		fprintf(stderr, "%s: taken (payload at %zu, %zu bytes)\n", what,
			off, plen);
		check_failures++;
	}
}

static unsigned ulen_val;
static void fix_ulen(unsigned char *f, size_t n, size_t udp)
{
	(void)n;
	put16(f, udp + 4, ulen_val);
}
static void fix_ihl(unsigned char *f, size_t n, size_t udp)
{
	(void)n, (void)udp;
	f[ETH_HLEN] = 0x44;
}
static void fix_version(unsigned char *f, size_t n, size_t udp)
{
	(void)n, (void)udp;
	f[ETH_HLEN] = 0x65;
}
static void fix_frag(unsigned char *f, size_t n, size_t udp)
{
	(void)n, (void)udp;
	put16(f, ETH_HLEN + 6, 185); /* offset 1480 bytes */
}
static void fix_proto(unsigned char *f, size_t n, size_t udp)
{
	(void)n, (void)udp;
	f[ETH_HLEN + 9] = IPPROTO_TCP;
}
static void fix_ethertype(unsigned char *f, size_t n, size_t udp)
{
	(void)n, (void)udp;
	put16(f, 12, ETH_P_ARP);
}

int main(int argc, char **argv)
{
	static const struct shape shapes[] = {
		{ "ipv4", 0, 0, 5, 0 },
		{ "ipv4 options", 0, 0, 6, 0 },
		{ "ipv4 longest options", 0, 0, 15, 0 },
		{ "ipv4 padded", 0, 0, 5, 18 },
		{ "ipv6", 0, 1, 0, 0 },
		{ "ipv6 padded", 0, 1, 0, 3 },
		{ "vlan ipv4", 1, 0, 5, 0 },
		{ "qinq ipv4 options", 2, 0, 7, 0 },
		{ "vlan ipv6", 1, 1, 0, 0 },
		{ "qinq ipv6", 2, 1, 0, 0 },
	};
	uint64_t seed = test_seed(argc, argv, "pkt");
	unsigned char f[256 + PAYLOAD];
	size_t udp, off, plen;
	unsigned port;

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		good(&shapes[i]);

	/* UDP lengths that lie: under its own header (a wrap to a huge
	 * payload), and one byte past the frame. */
	for (ulen_val = 0; ulen_val < 8; ulen_val++)
		bad("udp length under 8", fix_ulen);
	ulen_val = 8 + PAYLOAD + 1;
	bad("udp length past the frame", fix_ulen);
	ulen_val = 0xffff;
	bad("udp length 65535", fix_ulen);
	bad("ipv4 header length 4", fix_ihl);
	bad("ip version 6 under EtherType IPv4", fix_version);
	bad("a later fragment", fix_frag);
	bad("tcp", fix_proto);
	bad("arp", fix_ethertype);

	/* An empty datagram is one. */
	{
		const struct shape s = { "ipv4", 0, 0, 5, 0 };
		size_t n = build(&s, f, &udp) - PAYLOAD;

		put16(f, udp + 4, 8);
		CHECK(parse(f, n, &off, &plen, &port) && plen == 0 &&
		      off == n);
	}
	/* IPv6 with a hop-by-hop header first: extension headers are not
	 * followed. */
	{
		const struct shape s = { "ipv6", 0, 1, 0, 0 };
		size_t n = build(&s, f, &udp);

		f[ETH_HLEN + 6] = 0; /* hop-by-hop */
		CHECK(!parse(f, n, &off, &plen, &port));
	}
	/* Three tags: more than are looked through. */
	{
		const struct shape s = { "qinq", 2, 0, 5, 0 };
		size_t n = build(&s, f, &udp);
		unsigned char g[sizeof(f) + 4];

		memcpy(g, f, 12);
		put16(g, 12, ETH_P_8021AD);
		put16(g, 14, 7);
		memcpy(g + 16, f + 12, n - 12);
		CHECK(!parse(g, n + 4, &off, &plen, &port));
	}

	/* Random frames on a good skeleton: whatever is found is inside. */
	for (int i = 0; i < 200000; i++) {
		const struct shape *s = &shapes[rnd(&seed) % 10];
		size_t n = build(s, f, &udp);
		int flips = 1 + (int)(rnd(&seed) % 4);

		for (int k = 0; k < flips; k++)
			f[rnd(&seed) % (udp + 8)] = (unsigned char)rnd(&seed);
		n = rnd(&seed) % (n + 1);
		if (parse(f, n, &off, &plen, &port) &&
		    (off > n || plen > n - off || off < ETH_HLEN + 28)) {
			fprintf(stderr, "random frame %d: payload at %zu, %zu "
				"bytes, in %zu\n", i, off, plen, n);
			check_failures++;
		}
	}
	return check_done("pkt");
}
