/*
 * libjumbo's XDP program for the xdp receive backend: with port 0 every
 * frame of the queue goes to the AF_XDP socket; else frames of UDP to one
 * port (IPv4 unfragmented, or IPv6 without extension headers, which a
 * fragment has) go to the AF_XDP socket of the queue they came in on;
 * everything else goes on to the kernel's stack, so the interface keeps
 * working (ARP, the host's own traffic, datagrams to reassemble).
 * Built with clang -target bpf and embedded in the library (see
 * CMakeLists.txt); "xdp.frags": it sees the first buffer of a jumbo frame,
 * which holds the headers, and passes the frame on whole.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* The sockets, by receive queue. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} jumbo_xsks SEC(".maps");

/* [0]: the UDP port to take, in network byte order; 0: every frame. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jumbo_port SEC(".maps");

SEC("xdp.frags")
int jumbo_xdp_port(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	__u32 zero = 0, *port;
	__u8 proto;

	port = bpf_map_lookup_elem(&jumbo_port, &zero);
	if (!port)
		return XDP_PASS;
	if (*port == 0)
		return bpf_redirect_map(&jumbo_xsks, ctx->rx_queue_index,
					XDP_PASS);
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		/* A fragment (offset, or more to come) is the kernel's to
		 * reassemble: the socket gets whole datagrams only. */
		if ((void *)(ip + 1) > end || ip->ihl < 5 ||
		    (ip->frag_off & bpf_htons(0x3fff)))
			return XDP_PASS;
		proto = ip->protocol;
		udp = (void *)((char *)ip + ip->ihl * 4);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		proto = ip6->nexthdr;
		udp = (void *)(ip6 + 1);
	} else {
		return XDP_PASS;
	}
	if (proto != IPPROTO_UDP || (void *)(udp + 1) > end ||
	    udp->dest != (__u16)*port)
		return XDP_PASS;
	return bpf_redirect_map(&jumbo_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
