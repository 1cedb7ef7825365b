/* Plain IPv6 forwarding in XDP: FIB lookup, hop-limit decrement, MAC rewrite, redirect; anything
 * the fast path cannot finish (hop limit ≤ 1, no route or neighbour) goes to the kernel. The
 * benchmarks' raw programs share it; hike_default's ip6_kroute is the HIKe program doing this. */
#ifndef HIKE_FIB_H
#define HIKE_FIB_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* eth and ip6 must already be bounds-checked by the caller. */
static __always_inline int hike_fib_forward6(struct xdp_md *ctx, struct ethhdr *eth, struct ipv6hdr *ip6)
{
	struct bpf_fib_lookup fib = {};

	if (ip6->hop_limit <= 1)
		return XDP_PASS;
	fib.family = 10; /* AF_INET6 */
	fib.l4_protocol = ip6->nexthdr;
	fib.tot_len = bpf_ntohs(ip6->payload_len);
	__builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof(fib.ipv6_src));
	__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof(fib.ipv6_dst));
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	ip6->hop_limit--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}

#endif
