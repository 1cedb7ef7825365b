/* hike_default: ip6_kroute, IPv6 forwarding with the kernel's routing table and neighbours
 * (bpf_fib_lookup), done in XDP. A final verdict: the chain ends. */
#define HIKE_PACKAGE "hike_default"
#include "hike/hike.h"
#include "hike/ip6.h"
#include "hike/tx.h"
#include "hike/counter.h"
#include "hike/fib.h"
#include "hike/pm_link.h"

/* Packets handed to the kernel because their interface cannot take redirected frames. */
HIKE_COUNTER_MAP(ip6_kroute_tx_unready, 1);

/* Routes the packet: on a route with a resolved neighbour, rewrites the MACs, decrements the hop
 * limit and redirects (XDP_REDIRECT). Everything the fast path does not handle goes to the
 * kernel (XDP_PASS): not IPv6, hop limit ≤ 1 (the kernel sends Time Exceeded), local or
 * unroutable destinations, unresolved neighbours (the kernel resolves them), packets over the
 * egress MTU (the kernel sends Packet Too Big), forwarding off, an interface that cannot take
 * redirected frames (hike/tx.h; counted). A frame sent on a monitored link is counted and marked
 * (hike/pm_link.h). */
HIKE_PROG(ip6_kroute)
{
	struct bpf_fib_lookup fib;
	struct ethhdr *eth = NULL;
	struct ipv6hdr *ip6 = hike_ip6(ctx, &eth);

	if (!ip6 || !eth || !hike_fib_lookup6(ctx, ip6, &fib))
		return XDP_PASS;
	if (!hike_tx_ready(fib.ifindex)) {
		hike_count(&ip6_kroute_tx_unready, 0, ctx->data_end - ctx->data);
		return XDP_PASS;
	}
	pm_link_send(ctx, fib.ifindex);
	return hike_fib_redirect6(eth, ip6, &fib);
}
EXPORT_HIKE_PROG(ip6_kroute);
HIKE_PROG_FINAL(ip6_kroute);

char LICENSE[] SEC("license") = "GPL";
