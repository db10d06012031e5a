/*
 * Where the UDP payload is in a link-layer frame: the one parser of the
 * programs around the library, for the whole Ethernet frames the xdp
 * backend delivers (jumbo rx checks and writes the payload of those sent
 * to its port).  Header only, static inline, like frame.h.
 *
 * Every field is read with memcpy (a header after 14 bytes of Ethernet is
 * not aligned) and only after the frame's length was checked to hold it,
 * so that a frame cut anywhere, or a length field that lies, is "not UDP"
 * and never a read past the frame.
 */
#ifndef JUMBO_SUPPORT_PKT_H
#define JUMBO_SUPPORT_PKT_H

#include <linux/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* An 802.1Q / 802.1ad tag: TCI, then the next EtherType. */
#define PKT_VLAN_HLEN 4
/* Tags looked through: one (802.1Q) or two (802.1ad QinQ). */
#define PKT_VLAN_MAX 2

/* The big-endian 16-bit field at p + off; the caller checked the length. */
static inline uint16_t pkt_be16(const unsigned char *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, sizeof(v));
	return ntohs(v);
}

/*
 * The UDP datagram in an Ethernet frame of len bytes: IPv4 (with options;
 * first fragments only, a later one has no UDP header) or IPv6 (UDP as the
 * first next header: extension headers are not followed), behind up to
 * PKT_VLAN_MAX VLAN tags.  1, the payload's offset, length and destination
 * port (host order), or 0 if the frame holds no whole UDP datagram.
 * Bytes after the datagram (Ethernet padding) are not payload.
 */
static inline int pkt_udp(const void *frame, size_t len, size_t *off,
			  size_t *plen, unsigned *dport)
{
	const unsigned char *p = frame;
	size_t l3 = ETH_HLEN, l4;
	unsigned proto, ulen;
	struct udphdr uh;

	if (len < ETH_HLEN)
		return 0;
	proto = pkt_be16(p, ETH_ALEN * 2);
	for (int t = 0; t < PKT_VLAN_MAX &&
			(proto == ETH_P_8021Q || proto == ETH_P_8021AD); t++) {
		if (len < l3 + PKT_VLAN_HLEN)
			return 0;
		proto = pkt_be16(p, l3 + 2);
		l3 += PKT_VLAN_HLEN;
	}
	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (len < l3 + sizeof(ip))
			return 0;
		memcpy(&ip, p + l3, sizeof(ip));
		if (ip.version != 4 || ip.ihl < sizeof(ip) / 4 ||
		    ip.protocol != IPPROTO_UDP ||
		    (ntohs(ip.frag_off) & IP_OFFMASK))
			return 0;
		l4 = l3 + (size_t)ip.ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ip6_hdr ip6;

		if (len < l3 + sizeof(ip6))
			return 0;
		memcpy(&ip6, p + l3, sizeof(ip6));
		if ((ip6.ip6_vfc >> 4) != 6 || ip6.ip6_nxt != IPPROTO_UDP)
			return 0;
		l4 = l3 + sizeof(ip6);
	} else {
		return 0;
	}
	if (len < l4 + sizeof(uh))
		return 0;
	memcpy(&uh, p + l4, sizeof(uh));
	ulen = ntohs(uh.len);
	/* The UDP length counts its header: less than 8 is a lie, and so is
	 * more than the frame holds. */
	if (ulen < sizeof(uh) || ulen > len - l4)
		return 0;
	*off = l4 + sizeof(uh);
	*plen = ulen - sizeof(uh);
	*dport = ntohs(uh.dest);
	return 1;
}

#endif
