/* The UDP header of an IPv6 packet, found behind its extension headers: the walk that the
 * tutorial (dpi) and contribs (udp_port) packages share. */
#ifndef HIKE_IP6_UDP_H
#define HIKE_IP6_UDP_H

#include "hike/packet.h"
#include <linux/udp.h>

/* Extension headers walked before giving up (the packet then counts as not UDP). */
#define HIKE_IP6_EXT_MAX 8

#define HIKE_NEXTHDR_HOP 0
#define HIKE_NEXTHDR_ROUTING 43
#define HIKE_NEXTHDR_DEST 60

/* The UDP header of an Ethernet + IPv6 frame, or NULL when the frame is not IPv6, is truncated,
 * or carries something else. Hop-by-Hop, Routing and Destination Options headers (each
 * [next header, length in 8-octet units beyond the first 8]) are skipped, up to
 * HIKE_IP6_EXT_MAX of them; a Fragment header, or any other next header, means "not UDP" (the
 * UDP header of a fragment is not in every fragment). On success *cur is just after the UDP
 * header: at the payload. */
static __always_inline struct udphdr *hike_ip6_udp(struct xdp_md *ctx, struct hike_cursor *cur)
{
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u8 nexthdr;
	int i;

	cur->pos = (void *)(long)ctx->data;
	cur->end = (void *)(long)ctx->data_end;
	eth = HIKE_TAKE(cur, struct ethhdr);
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return NULL;
	ip6 = HIKE_TAKE(cur, struct ipv6hdr);
	if (!ip6)
		return NULL;
	nexthdr = ip6->nexthdr;
	for (i = 0; i < HIKE_IP6_EXT_MAX; i++) {
		__u8 *ext;

		if (nexthdr != HIKE_NEXTHDR_HOP && nexthdr != HIKE_NEXTHDR_ROUTING && nexthdr != HIKE_NEXTHDR_DEST)
			break;
		ext = cur->pos;
		if ((void *)(ext + 2) > cur->end)
			return NULL;
		nexthdr = ext[0];
		cur->pos = ext + ((__u32)ext[1] + 1) * 8;
	}
	if (nexthdr != IPPROTO_UDP)
		return NULL;
	return HIKE_TAKE(cur, struct udphdr);
}

#endif
