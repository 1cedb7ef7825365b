/* show_pkt_info(), the info package's program, for every package that exports it: info, and
 * devel_encap (the original's development package carried a copy of its own). The includer
 * defines HIKE_PACKAGE first and exports the program with EXPORT_SHOW_PKT_INFO(); the maps are
 * info's, shared (hike pins them once, maps/info). */
#ifndef HIKE_INFO_H
#define HIKE_INFO_H
#include "hike/hike.h"
#include "hike/ip6.h"
#include "hike/counter.h"
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>

/* The select_layers bitmap (the original's values). */
#define INFO_LAYER_2 1
#define INFO_NET_LAYER 2
#define INFO_TRANSP_LAYER 4

/* IPv6 extension headers skipped to the upper layer. */
#define INFO_IP6_EXT_MAX 4

/* One event; a layer's fields are zero unless its bit is in `present`. 104 bytes. */
struct info_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns() */
	__u64 user_info;    /* the chain's argument, as given */
	__u32 packet_length;
	__u8 selected;      /* select_layers & 7 */
	__u8 present;       /* the selected layers that were decoded */
	__u16 ether_type;   /* host order */
	/* L2 */
	__u8 dst_mac[6];
	__u8 src_mac[6];
	/* L3: IPv6, or IPv4 (addresses in the first 4 bytes) */
	__u8 ip_version;    /* 4 or 6 */
	__u8 hop_limit;     /* TTL for IPv4 */
	__u8 traffic_class; /* TOS for IPv4 */
	__u8 l4_protocol;   /* the upper-layer protocol (after IPv6 extension headers) */
	__u32 flow_label;   /* IPv6 only */
	__u16 ip_payload_length; /* IPv6 payload length; IPv4 total length minus header */
	__u16 l4_offset;    /* from the start of the frame */
	__u8 src_addr[16];
	__u8 dst_addr[16];
	/* L4: UDP, TCP, ICMPv6 or ICMP */
	__u16 src_port;     /* ICMP: type << 8 | code */
	__u16 dst_port;     /* ICMP: identifier of echo messages */
	__u16 l4_length;    /* UDP length */
	__u8 tcp_flags;
	__u8 reserved;
	__u32 tcp_seq;
	__u32 reserved2;
	__u8 pad[8];
};

_Static_assert(sizeof(struct info_event) == 104, "info_event is 104 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} info_events SEC(".maps");

/* [0]: events sent, [1]: events lost (ring buffer full). */
#define INFO_STAT_SENT 0
#define INFO_STAT_LOST 1
HIKE_EVENT_COUNTER_MAP(info_stats, 2);

static __always_inline void info_l4(struct info_event *e, struct hike_cursor *cur, __u8 proto, __u8 select)
{
	if (!(select & INFO_TRANSP_LAYER))
		return;
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = HIKE_TAKE(cur, struct udphdr);

		if (!udp)
			return;
		e->src_port = bpf_ntohs(udp->source);
		e->dst_port = bpf_ntohs(udp->dest);
		e->l4_length = bpf_ntohs(udp->len);
	} else if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = HIKE_TAKE(cur, struct tcphdr);

		if (!tcp)
			return;
		e->src_port = bpf_ntohs(tcp->source);
		e->dst_port = bpf_ntohs(tcp->dest);
		e->tcp_seq = bpf_ntohl(tcp->seq);
		e->tcp_flags = ((__u8 *)tcp)[13];
	} else if (proto == IPPROTO_ICMPV6 || proto == IPPROTO_ICMP) {
		__u8 *icmp = cur->pos;

		if ((void *)(icmp + 8) > cur->end)
			return;
		e->src_port = (__u16)icmp[0] << 8 | icmp[1];
		e->dst_port = (__u16)icmp[4] << 8 | icmp[5];
	} else {
		return;
	}
	e->present |= INFO_TRANSP_LAYER;
}

/* Sends an info_event describing the layers selected by select_layers (LAYER_2 = 1,
 * NET_LAYER = 2, TRANSP_LAYER = 4) and user_info. r0 = the layers decoded (a subset of
 * select_layers), or -1 when the ring buffer is full. */
HIKE_PROG(show_pkt_info)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct hike_cursor cur = { .pos = data, .end = end };
	__u8 select = HVM_ARG2 & 7;
	struct info_event *e;
	struct ethhdr *eth;

	e = bpf_ringbuf_reserve(&info_events, sizeof(*e), 0);
	if (!e) {
		hike_count_event(&info_stats, INFO_STAT_LOST);
		HVM_RET = (__u64)-1;
		return HIKE_XDP_VM;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->timestamp_ns = bpf_ktime_get_ns();
	e->user_info = HVM_ARG3;
	e->packet_length = end - data;
	e->selected = select;

	eth = HIKE_TAKE(&cur, struct ethhdr);
	if (!eth)
		goto send;
	e->ether_type = bpf_ntohs(eth->h_proto);
	if (select & INFO_LAYER_2) {
		__builtin_memcpy(e->dst_mac, eth->h_dest, 6);
		__builtin_memcpy(e->src_mac, eth->h_source, 6);
		e->present |= INFO_LAYER_2;
	}
	if (!(select & (INFO_NET_LAYER | INFO_TRANSP_LAYER)))
		goto send;

	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = HIKE_TAKE(&cur, struct ipv6hdr);
		int nexthdr;

		if (!ip6)
			goto send;
		/* The upper layer's protocol, or the extension header after the fourth. */
		nexthdr = hike_ip6_skip_ext(&cur, ip6->nexthdr, INFO_IP6_EXT_MAX, HIKE_NEXTHDR_NO_STOP);
		if (nexthdr < 0)
			goto send;
		if (select & INFO_NET_LAYER) {
			e->ip_version = 6;
			e->hop_limit = ip6->hop_limit;
			e->traffic_class = ip6->priority << 4 | ip6->flow_lbl[0] >> 4;
			e->flow_label = ((__u32)(ip6->flow_lbl[0] & 0xf) << 16) | (__u32)ip6->flow_lbl[1] << 8 |
					ip6->flow_lbl[2];
			e->ip_payload_length = bpf_ntohs(ip6->payload_len);
			e->l4_protocol = nexthdr;
			e->l4_offset = cur.pos - data;
			__builtin_memcpy(e->src_addr, &ip6->saddr, 16);
			__builtin_memcpy(e->dst_addr, &ip6->daddr, 16);
			e->present |= INFO_NET_LAYER;
		}
		info_l4(e, &cur, nexthdr, select);
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = HIKE_TAKE(&cur, struct iphdr);
		__u32 ihl, tot_len;

		if (!ip4)
			goto send;
		ihl = ip4->ihl * 4;
		if (ihl < sizeof(*ip4))
			goto send;
		cur.pos = (void *)ip4 + ihl;
		if (select & INFO_NET_LAYER) {
			e->ip_version = 4;
			e->hop_limit = ip4->ttl;
			e->traffic_class = ip4->tos;
			/* A total length below the header's (a bad packet) gives 0, not a wrapped value. */
			tot_len = bpf_ntohs(ip4->tot_len);
			e->ip_payload_length = tot_len > ihl ? tot_len - ihl : 0;
			e->l4_protocol = ip4->protocol;
			e->l4_offset = cur.pos - data;
			__builtin_memcpy(e->src_addr, &ip4->saddr, 4);
			__builtin_memcpy(e->dst_addr, &ip4->daddr, 4);
			e->present |= INFO_NET_LAYER;
		}
		info_l4(e, &cur, ip4->protocol, select);
	}
send:
	HVM_RET = e->present;
	bpf_ringbuf_submit(e, 0);
	hike_count_event(&info_stats, INFO_STAT_SENT);
	return HIKE_XDP_VM;
}

/* The program's entry, arguments and maps, under the includer's HIKE_PACKAGE. */
#define EXPORT_SHOW_PKT_INFO()                                                                     \
	EXPORT_HIKE_PROG_3(show_pkt_info, __u64, select_layers, __u64, user_info);                 \
	EXPORT_HIKE_PROG_MAP(show_pkt_info, info_events);                                          \
	EXPORT_HIKE_PROG_MAP(show_pkt_info, info_stats)

#endif
