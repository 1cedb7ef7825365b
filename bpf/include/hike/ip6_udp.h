/* The UDP header of an IPv6 packet, found behind its extension headers: the walk that the
 * tutorial (dpi) and contribs (udp_port) packages share. */
#ifndef HIKE_IP6_UDP_H
#define HIKE_IP6_UDP_H

#include "hike/ip6.h"
#include <linux/udp.h>

/* Extension headers walked before giving up (the packet then counts as not UDP). */
#define HIKE_IP6_EXT_MAX 8

/* The UDP header of an Ethernet + IPv6 frame, or NULL when the frame is not IPv6, is truncated,
 * or carries something else. Hop-by-Hop, Routing and Destination Options headers are skipped,
 * up to HIKE_IP6_EXT_MAX of them (hike_ip6_skip_ext); a Fragment header, or any other next
 * header, means "not UDP" (the UDP header of a fragment is not in every fragment). On success
 * *cur is just after the UDP header: at the payload. */
static __always_inline struct udphdr *hike_ip6_udp(struct hike_ctx *ctx, struct hike_cursor *cur)
{
	struct ethhdr *eth;
	struct ipv6hdr *ip6;

	cur->pos = (void *)(long)ctx->data;
	cur->end = (void *)(long)ctx->data_end;
	eth = HIKE_TAKE(cur, struct ethhdr);
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return NULL;
	ip6 = HIKE_TAKE(cur, struct ipv6hdr);
	if (!ip6)
		return NULL;
	if (hike_ip6_skip_ext(cur, ip6->nexthdr, HIKE_IP6_EXT_MAX, HIKE_NEXTHDR_NO_STOP) != IPPROTO_UDP)
		return NULL;
	return HIKE_TAKE(cur, struct udphdr);
}

#endif
