/* The IPv6 header of an Ethernet frame, bounds-checked, and the walk over its extension headers:
 * the parses the network programs of several packages share. */
#ifndef HIKE_IP6_H
#define HIKE_IP6_H

#include "hike/packet.h"
#include "hike/hook.h"

/* IPv6 Next Header values (RFC 8200 §4; IANA's Assigned Internet Protocol Numbers). */
#define HIKE_NEXTHDR_HOP 0        /* Hop-by-Hop Options */
#define HIKE_NEXTHDR_IPIP 4       /* IPv4 */
#define HIKE_NEXTHDR_IPV6 41      /* IPv6 */
#define HIKE_NEXTHDR_ROUTING 43   /* Routing (an SRv6 SRH is Routing Type 4) */
#define HIKE_NEXTHDR_DEST 60      /* Destination Options */
#define HIKE_NEXTHDR_ETHERNET 143 /* Ethernet (RFC 8986) */

/* The `stop` of hike_ip6_skip_ext when no header type ends the walk early. */
#define HIKE_NEXTHDR_NO_STOP (-1)

/* (source, destination) of a packet, network order: the key of per-flow maps. */
struct ip6_sd_key {
	struct in6_addr saddr;
	struct in6_addr daddr;
};

/* The IPv6 header, or NULL when the frame is not IPv6 or too short for one. */
static __always_inline struct ipv6hdr *hike_ip6(struct hike_ctx *ctx, struct ethhdr **eth_out)
{
	struct hike_cursor cur = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	struct ethhdr *eth = HIKE_TAKE(&cur, struct ethhdr);

	if (!eth || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return NULL;
	if (eth_out)
		*eth_out = eth;
	return HIKE_TAKE(&cur, struct ipv6hdr);
}

/* Skips the IPv6 extension headers that begin at cur->pos, `nexthdr` naming the first.
 * Hop-by-Hop, Routing and Destination Options headers ([next header, length in 8-octet units
 * beyond the first 8, …]) are skipped, at most `max` of them (a constant). The walk stops at the
 * first header of any other type (an upper layer, a Fragment header, …), at a header of type
 * `stop` (HIKE_NEXTHDR_NO_STOP: none), or after `max` headers. It returns the type of the header
 * it stopped at, with cur->pos at that header's start, which may lie past cur->end: the caller
 * bounds-checks what it reads there. -1 when a skipped header's first two bytes are not in the
 * frame. */
static __always_inline int hike_ip6_skip_ext(struct hike_cursor *cur, __u8 nexthdr, int max, int stop)
{
	int i;

	for (i = 0; i < max; i++) {
		__u8 *ext = cur->pos;

		if (nexthdr != HIKE_NEXTHDR_HOP && nexthdr != HIKE_NEXTHDR_ROUTING && nexthdr != HIKE_NEXTHDR_DEST)
			break;
		if (nexthdr == stop)
			break;
		if ((void *)(ext + 2) > cur->end)
			return -1;
		nexthdr = ext[0];
		cur->pos = ext + ((__u32)ext[1] + 1) * 8;
	}
	return nexthdr;
}

#endif
