/* Bounds-checked packet parsing for XDP and tc programs. */
#ifndef HIKE_PACKET_H
#define HIKE_PACKET_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>

/* A cursor over [data, data_end): every header is taken only when it fits. */
struct hike_cursor {
	void *pos;
	void *end;
};

#define HIKE_TAKE(cur, type)                                                                       \
	({                                                                                         \
		type *__h = (type *)(cur)->pos;                                                    \
		if ((void *)(__h + 1) > (cur)->end)                                                \
			__h = NULL;                                                                \
		else                                                                               \
			(cur)->pos = (void *)(__h + 1);                                            \
		__h;                                                                               \
	})

/* What kind of packet this is, for counters that a person reads. */
enum hike_traffic_kind {
	HIKE_KIND_OTHER = 0,
	HIKE_KIND_IPV4 = 1,
	HIKE_KIND_IPV6 = 2,
	HIKE_KIND_ICMPV6_ECHO_REQUEST = 3,
	HIKE_KIND_ICMPV6_ECHO_REPLY = 4,
	HIKE_KIND_ICMPV6_OTHER = 5,
	HIKE_KIND_MAX = 8,
};

static __always_inline enum hike_traffic_kind hike_classify(void *data, void *data_end)
{
	struct hike_cursor cur = { .pos = data, .end = data_end };
	struct ethhdr *eth = HIKE_TAKE(&cur, struct ethhdr);
	struct ipv6hdr *ip6;
	struct icmp6hdr *icmp6;

	if (!eth)
		return HIKE_KIND_OTHER;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return HIKE_KIND_IPV4;
	if (eth->h_proto != bpf_htons(ETH_P_IPV6))
		return HIKE_KIND_OTHER;
	ip6 = HIKE_TAKE(&cur, struct ipv6hdr);
	if (!ip6 || ip6->nexthdr != IPPROTO_ICMPV6)
		return HIKE_KIND_IPV6;
	icmp6 = HIKE_TAKE(&cur, struct icmp6hdr);
	if (!icmp6)
		return HIKE_KIND_IPV6;
	if (icmp6->icmp6_type == ICMPV6_ECHO_REQUEST)
		return HIKE_KIND_ICMPV6_ECHO_REQUEST;
	if (icmp6->icmp6_type == ICMPV6_ECHO_REPLY)
		return HIKE_KIND_ICMPV6_ECHO_REPLY;
	return HIKE_KIND_ICMPV6_OTHER;
}

#endif
