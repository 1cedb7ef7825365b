/* The body of the ip6_udport<N>_classifier loaders: an IPv6 packet carrying UDP to port
 * UDP_DPORT, right after the fixed header or after one Routing header (an SRv6 SRH, say), runs
 * the chain in ip6_udport_cls_cfg[0]; every other packet goes to the kernel (XDP_PASS), and so
 * does everything while no chain is configured. Any other extension header, or a second one,
 * means "not this traffic", as in the original (hike_default's ip6_udport_classifier.h), which
 * aborted truncated packets where this passes them. That rule is narrower than
 * hike_ip6_skip_ext's walk, so the header is looked at here; the Next Header values are
 * hike/ip6.h's.
 *
 * A loader's source defines UDP_DPORT and includes this file after hike/hike.h. */
#ifndef HIKE_IP6_UDPORT_CLASSIFIER_H
#define HIKE_IP6_UDPORT_CLASSIFIER_H

#include "hike/ip6.h"
#include <linux/udp.h>

#ifndef UDP_DPORT
#error "define UDP_DPORT (the UDP destination port that starts the chain) first"
#endif

/* Each loader's object has its own: hike configures every loader map ending in _cfg. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hvm_loader_config);
} ip6_udport_cls_cfg SEC(".maps");

/* 1 when the frame is Ethernet + IPv6 [+ one Routing header] + UDP to UDP_DPORT. */
static __always_inline int ip6_udport_match(struct hike_ctx *ctx)
{
	struct hike_cursor cur = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	struct ethhdr *eth = HIKE_TAKE(&cur, struct ethhdr);
	struct ipv6hdr *ip6;
	struct udphdr *udp;
	__u8 nexthdr, *rh;

	if (!eth || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return 0;
	ip6 = HIKE_TAKE(&cur, struct ipv6hdr);
	if (!ip6)
		return 0;
	nexthdr = ip6->nexthdr;
	if (nexthdr == HIKE_NEXTHDR_ROUTING) {
		rh = cur.pos;
		if ((void *)(rh + 2) > cur.end)
			return 0;
		nexthdr = rh[0];
		cur.pos = rh + ((__u32)rh[1] + 1) * 8;
	}
	if (nexthdr != IPPROTO_UDP)
		return 0;
	udp = HIKE_TAKE(&cur, struct udphdr);
	return udp && udp->dest == bpf_htons(UDP_DPORT);
}

static __always_inline int ip6_udport_classify(struct hike_ctx *ctx)
{
	struct hvm_loader_config *cfg;
	__u32 zero = 0;

	if (!ip6_udport_match(ctx))
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&ip6_udport_cls_cfg, &zero);
	if (!cfg || !cfg->chain_id)
		return XDP_PASS;
	return hvm_start(ctx, cfg->chain_id, cfg->default_verdict);
}

#endif
