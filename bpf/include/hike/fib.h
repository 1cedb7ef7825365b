/* IPv6 forwarding in XDP, written once: FIB lookup (with the flow label, so ECMP hashes as the
 * kernel does), hop-limit decrement, MAC rewrite, redirect. Anything the fast path cannot finish
 * (hop limit ≤ 1, no route or neighbour, packet over the MTU) goes to the kernel. hike_default's
 * ip6_kroute, routingpaolo's paolo_kroute, the traffic generator's forwarder and the benchmarks'
 * raw programs use it. */
#ifndef HIKE_FIB_H
#define HIKE_FIB_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define HIKE_AF_INET6 10
#define HIKE_IPV6_FLOWINFO_MASK bpf_htonl(0x0fffffff)

/* The lookup's parameters for ip6 as it came in: its addresses, flow label, next header and
 * payload length, from the ingress interface. ip6 must already be bounds-checked by the caller. */
static __always_inline void hike_fib_params6(struct xdp_md *ctx, const struct ipv6hdr *ip6, struct bpf_fib_lookup *fib)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = HIKE_AF_INET6;
	fib->flowinfo = *(const __be32 *)ip6 & HIKE_IPV6_FLOWINFO_MASK;
	fib->l4_protocol = ip6->nexthdr;
	fib->tot_len = bpf_ntohs(ip6->payload_len);
	__builtin_memcpy(fib->ipv6_src, &ip6->saddr, sizeof(fib->ipv6_src));
	__builtin_memcpy(fib->ipv6_dst, &ip6->daddr, sizeof(fib->ipv6_dst));
	fib->ifindex = ctx->ingress_ifindex;
}

/* Whether the kernel has a route for ip6 with a resolved neighbour: fills fib and returns 1; 0
 * for every packet the kernel must take (hop limit ≤ 1: its Time Exceeded). ip6 must already be
 * bounds-checked by the caller. */
static __always_inline int hike_fib_lookup6(struct xdp_md *ctx, const struct ipv6hdr *ip6, struct bpf_fib_lookup *fib)
{
	if (ip6->hop_limit <= 1)
		return 0;
	hike_fib_params6(ctx, ip6, fib);
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0) == BPF_FIB_LKUP_RET_SUCCESS;
}

/* Sends the packet on the route hike_fib_lookup6 found: one hop less, the neighbour's MACs. */
static __always_inline int hike_fib_redirect6(struct ethhdr *eth, struct ipv6hdr *ip6, const struct bpf_fib_lookup *fib)
{
	ip6->hop_limit--;
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	return bpf_redirect(fib->ifindex, 0);
}

/* Both steps: XDP_REDIRECT on a resolved route, XDP_PASS otherwise. eth and ip6 must already be
 * bounds-checked by the caller. */
static __always_inline int hike_fib_forward6(struct xdp_md *ctx, struct ethhdr *eth, struct ipv6hdr *ip6)
{
	struct bpf_fib_lookup fib;

	if (!hike_fib_lookup6(ctx, ip6, &fib))
		return XDP_PASS;
	return hike_fib_redirect6(eth, ip6, &fib);
}

#endif
