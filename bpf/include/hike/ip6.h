/* The IPv6 header of an Ethernet frame, bounds-checked: the one parse the network programs of
 * several packages share. */
#ifndef HIKE_IP6_H
#define HIKE_IP6_H

#include "hike/packet.h"

/* (source, destination) of a packet, network order: the key of per-flow maps. */
struct ip6_sd_key {
	struct in6_addr saddr;
	struct in6_addr daddr;
};

/* The IPv6 header, or NULL when the frame is not IPv6 or too short for one. */
static __always_inline struct ipv6hdr *hike_ip6(struct xdp_md *ctx, struct ethhdr **eth_out)
{
	struct hike_cursor cur = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	struct ethhdr *eth = HIKE_TAKE(&cur, struct ethhdr);

	if (!eth || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return NULL;
	if (eth_out)
		*eth_out = eth;
	return HIKE_TAKE(&cur, struct ipv6hdr);
}

#endif
