/* Link monitoring: alternate marking between two neighbours, per link and direction (RFC 9341
 * hop by hop). A node marks what its XDP forwarders send on a monitored interface (counted in
 * pm_sent under the link's send flow, the colour in the DSCP bits) and counts what its loader
 * receives on one (pm_recv under the link's receive flow, the mark cleared again), so the loss
 * of the direction A → B is A's sent minus B's received of the same colour, with the collector
 * and flows of the pm package. A link may also drop a share of what it receives: fault injection
 * for tests and demos, as a lossy wire would.
 *
 * Forwarders (ip6_kroute, the srv6 endpoints) call pm_link_send just before they redirect;
 * loaders (srv6_localsid) call pm_link_receive first. Both cost one array lookup, which the
 * verifier inlines, on an interface that is not monitored. ABI: hike/pm.h. */
#ifndef HIKE_PM_LINK_H
#define HIKE_PM_LINK_H

#include "hike/ip6.h"
#include "hike/pm_ingress.h"

/* Counters at the egress (counting) point: PM_COUNTER_INDEX(flow, colour). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * PM_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct pm_counter);
} pm_recv SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PM_LINK_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, struct pm_link);
} pm_links SEC(".maps");

static __always_inline struct pm_link *pm_link_lookup(__u32 ifindex)
{
	if (ifindex >= PM_LINK_MAX_IFINDEX)
		return NULL;
	return bpf_map_lookup_elem(&pm_links, &ifindex);
}

/* The frame's length as a plain number (the verifier refuses arithmetic that mixes it with
 * packet pointers). */
static __always_inline __u64 pm_frame_len(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;

	asm volatile("" : "+r"(len));
	return len;
}

/* A frame about to be redirected to ifindex: on a monitored link, counted under (send flow,
 * active colour) and marked with the colour in the DSCP bits. A send flow that is not configured
 * in pm_flows is counted in pm_stats as unknown and the frame goes unmarked. */
static __always_inline void pm_link_send(struct xdp_md *ctx, __u32 ifindex)
{
	struct pm_link *link = pm_link_lookup(ifindex);
	struct pm_ingress in;
	struct ipv6hdr *ip6;
	__u32 flow;

	if (!link)
		return;
	flow = *(volatile __u32 *)&link->send_flow;
	if (!flow || !(ip6 = hike_ip6(ctx, NULL)) || pm_ingress_lookup(flow, &in))
		return;
	pm_ingress_count(&in, pm_frame_len(ctx));
	pm_mark_dscp((__u8 *)ip6 + 1, in.colour);
}

/* Neighbour discovery (ICMPv6 133–137 right after the IPv6 header): never dropped by the loss
 * injection, so that the link's neighbours stay resolved whatever share it drops. */
static __always_inline int pm_link_is_nd(struct xdp_md *ctx, struct ipv6hdr *ip6)
{
	__u8 *type = (__u8 *)(ip6 + 1);

	if (ip6->nexthdr != IPPROTO_ICMPV6 || (void *)(type + 1) > (void *)(long)ctx->data_end)
		return 0;
	return *type >= 133 && *type <= 137;
}

/* A frame received on ifindex, before anything else looks at it: XDP_DROP when the link's loss
 * injection drops it (pm_stats PM_S_DROPPED), else -1 (go on), a marked frame of a monitored
 * link counted under (receive flow, colour of its mark) and its mark cleared. */
static __always_inline int pm_link_receive(struct xdp_md *ctx)
{
	struct pm_link *link = pm_link_lookup(ctx->ingress_ifindex);
	struct pm_counter *counter;
	struct pm_flow *cfg;
	struct ipv6hdr *ip6;
	__u32 flow, drop, index;
	__u8 *tc1;

	if (!link)
		return -1;
	flow = *(volatile __u32 *)&link->receive_flow;
	drop = *(volatile __u32 *)&link->drop_ppm;
	if ((!flow && !drop) || !(ip6 = hike_ip6(ctx, NULL)))
		return -1;
	if (drop && !pm_link_is_nd(ctx, ip6) && bpf_get_prandom_u32() % PM_LINK_PPM < drop) {
		pm_stat(PM_S_DROPPED);
		return XDP_DROP;
	}
	tc1 = (__u8 *)ip6 + 1;
	if (!flow || flow > PM_FLOW_MAX || !(*tc1 & (PM_TC_MONITORED << 4)))
		return -1;
	cfg = bpf_map_lookup_elem(&pm_flows, &flow);
	if (!cfg || !*(volatile __u32 *)&cfg->mode) {
		pm_stat(PM_S_UNKNOWN_FLOW);
		return -1;
	}
	index = PM_COUNTER_INDEX(flow, (*tc1 & (PM_TC_COLOUR << 4)) ? 1 : 0);
	counter = bpf_map_lookup_elem(&pm_recv, &index);
	if (!counter)
		return -1;
	pm_add(counter, pm_frame_len(ctx));
	pm_stat(PM_S_COUNTED);
	*tc1 &= ~((PM_TC_MONITORED | PM_TC_COLOUR) << 4);
	return -1;
}

#endif
