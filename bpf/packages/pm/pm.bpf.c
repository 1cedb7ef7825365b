/* pm: per-flow packet loss by alternate marking (RFC 9341). The ingress node counts each packet
 * of a monitored flow under the active colour and marks the colour in the packet; the egress
 * node counts it under the colour it reads from the mark. User space flips the active colour
 * every period T and compares the two ends' counters of the inactive colour. ABI: hike/pm.h.
 *
 * All programs are in this one object so that they share its maps.
 */
#define HIKE_PACKAGE "pm"
#include "hike/hike.h"
#include "hike/ip6.h"
#include "hike/pm_link.h"

#define PM_DOH_OPTS_MAX 8 /* options looked at in a Destination Options header */

#ifndef EINVAL
#define EINVAL 22
#endif
#ifndef ENOENT
#define ENOENT 2
#endif
#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENOSPC
#define ENOSPC 28
#endif
#ifndef EMSGSIZE
#define EMSGSIZE 90
#endif
#ifndef EOPNOTSUPP
#define EOPNOTSUPP 95
#endif

/* Outer IPv6 destination (the last SID of the flow's SID list) → flow, for DSCP-marked packets
 * counted with pm_count(0). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PM_MAX_FLOWS);
	__type(key, struct in6_addr);
	__type(value, __u32);
} pm_dst_flow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pm_loss);
} pm_loss_cfg SEC(".maps");

/* What a packet's mark says. */
struct pm_mark_info {
	__u32 flowmon;  /* AltMark FlowMonID */
	__u32 colour;
	__u32 doh_len;  /* bytes of an AltMark-only DOH right after the IPv6 header (0: none) */
	__u8 marked;    /* 0 none, PM_MODE_DSCP or PM_MODE_ALTMARK */
};

/* Reads the mark: an AltMark option in a Destination Options header right after the IPv6
 * header wins over the DSCP bits. */
static __always_inline void pm_read_mark(struct ipv6hdr *ip6, void *end, struct pm_mark_info *m)
{
	__u8 tc1 = ((__u8 *)ip6)[1];

	if (ip6->nexthdr == PM_NEXTHDR_DOH) {
		__u8 *doh = (__u8 *)(ip6 + 1);
		__u8 *doh_end, *p;
		int i;

		if ((void *)(doh + 2) > end)
			goto dscp;
		doh_end = doh + ((__u32)doh[1] + 1) * 8;
		p = doh + 2;
		for (i = 0; i < PM_DOH_OPTS_MAX; i++) {
			if ((void *)(p + 2) > end || p + 2 > doh_end)
				break;
			if (p[0] == 0) { /* Pad1 */
				p += 1;
				continue;
			}
			if (p[0] == PM_ALTMARK_OPTION && p[1] == PM_ALTMARK_OPTLEN) {
				__u32 data;

				if ((void *)(p + 6) > end || p + 6 > doh_end)
					break;
				data = (__u32)p[2] << 24 | (__u32)p[3] << 16 | (__u32)p[4] << 8 | p[5];
				m->flowmon = data >> 12;
				m->colour = (data >> 11) & 1;
				m->marked = PM_MODE_ALTMARK;
				/* Only an 8-byte header holding just the option is ours to strip. */
				m->doh_len = doh[1] == 0 && p == doh + 2 ? PM_DOH_LEN : 0;
				return;
			}
			p += 2 + p[1];
		}
	}
dscp:
	/* Traffic Class bits 3..0 are the high nibble of the header's second byte. */
	if (tc1 & (PM_TC_MONITORED << 4)) {
		m->colour = (tc1 >> 6) & 1;
		m->marked = PM_MODE_DSCP;
	}
}

/* The flow of a packet: the chain's argument, else the FlowMonID, else the outer destination.
 * 0 when none. */
static __always_inline __u32 pm_resolve_flow(__u64 arg, struct ipv6hdr *ip6, struct pm_mark_info *m)
{
	__u32 *flow;

	if (arg)
		return arg <= PM_FLOW_MAX ? (__u32)arg : 0;
	if (m->marked == PM_MODE_ALTMARK)
		return m->flowmon <= PM_FLOW_MAX ? m->flowmon : 0;
	flow = bpf_map_lookup_elem(&pm_dst_flow, &ip6->daddr);
	return flow && *flow <= PM_FLOW_MAX ? *flow : 0;
}

/* Inserts the AltMark DOH after the IPv6 header: Ethernet and IPv6 headers move 8 bytes to the
 * front. 0, or a negative errno with the packet unchanged. */
static __always_inline int pm_insert_doh(struct xdp_md *ctx, __u32 flow, __u32 colour)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr eth;
	struct ipv6hdr ip6;
	__u8 *doh;
	__u8 nexthdr;

	if (data + sizeof(eth) + sizeof(ip6) > end)
		return -EINVAL;
	__builtin_memcpy(&eth, data, sizeof(eth));
	__builtin_memcpy(&ip6, data + sizeof(eth), sizeof(ip6));
	if (bpf_ntohs(ip6.payload_len) > 0xffff - PM_DOH_LEN)
		return -EMSGSIZE;
	if (bpf_xdp_adjust_head(ctx, -PM_DOH_LEN))
		return -ENOSPC;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + sizeof(eth) + sizeof(ip6) + PM_DOH_LEN > end)
		return -ENOSPC; /* cannot happen: the frame only grew */
	nexthdr = ip6.nexthdr;
	ip6.nexthdr = PM_NEXTHDR_DOH;
	ip6.payload_len = bpf_htons(bpf_ntohs(ip6.payload_len) + PM_DOH_LEN);
	__builtin_memcpy(data, &eth, sizeof(eth));
	__builtin_memcpy(data + sizeof(eth), &ip6, sizeof(ip6));
	doh = data + sizeof(eth) + sizeof(ip6);
	pm_write_doh(doh, nexthdr, flow, colour);
	return 0;
}

/* Removes the 8-byte AltMark DOH after the IPv6 header. */
static __always_inline int pm_strip_doh(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr eth;
	struct ipv6hdr ip6;
	__u8 *doh;

	if (data + sizeof(eth) + sizeof(ip6) + PM_DOH_LEN > end)
		return -EINVAL;
	__builtin_memcpy(&eth, data, sizeof(eth));
	__builtin_memcpy(&ip6, data + sizeof(eth), sizeof(ip6));
	doh = data + sizeof(eth) + sizeof(ip6);
	ip6.nexthdr = doh[0];
	ip6.payload_len = bpf_htons(bpf_ntohs(ip6.payload_len) - PM_DOH_LEN);
	__builtin_memcpy(data + PM_DOH_LEN, &eth, sizeof(eth));
	__builtin_memcpy(data + PM_DOH_LEN + sizeof(eth), &ip6, sizeof(ip6));
	return bpf_xdp_adjust_head(ctx, PM_DOH_LEN) ? -EINVAL : 0;
}

/* Ingress: counts the packet under (flow, active colour) and marks it the flow's way.
 * r0 = 0; -EINVAL not IPv6 or flow out of range; -ENOENT flow not configured; -EEXIST AltMark
 * mode and a DOH already follows the IPv6 header; -EOPNOTSUPP AltMark mode and a Hop-by-Hop
 * header follows it (RFC 8200 §4.1: nothing may come before the HbH, and the mark is not
 * placed after it); -ENOSPC no headroom; -EMSGSIZE payload too long. On an error the packet is
 * neither counted nor changed. */
HIKE_PROG(pm_mark)
{
	__u64 bytes = pm_frame_len(ctx);
	struct pm_ingress in;
	struct ipv6hdr *ip6;
	int err;

	ip6 = hike_ip6(ctx, NULL);
	if (!ip6) {
		pm_stat(PM_S_NOT_IPV6);
		HVM_RET = -EINVAL;
		return HIKE_XDP_VM;
	}
	if (pm_ingress_lookup(HVM_ARG2, &in)) {
		HVM_RET = HVM_ARG2 == 0 || HVM_ARG2 > PM_FLOW_MAX ? -EINVAL : -ENOENT;
		return HIKE_XDP_VM;
	}
	if (in.mode == PM_MODE_ALTMARK) {
		if (ip6->nexthdr == PM_NEXTHDR_DOH) {
			pm_stat(PM_S_HAS_DOH);
			HVM_RET = -EEXIST;
			return HIKE_XDP_VM;
		}
		if (ip6->nexthdr == PM_NEXTHDR_HBH) {
			pm_stat(PM_S_HAS_HBH);
			HVM_RET = -EOPNOTSUPP;
			return HIKE_XDP_VM;
		}
		err = pm_insert_doh(ctx, in.flow, in.colour);
		if (err) {
			pm_stat(PM_S_NO_ROOM);
			HVM_RET = err;
			return HIKE_XDP_VM;
		}
	} else {
		pm_mark_dscp((__u8 *)ip6 + 1, in.colour);
	}
	pm_ingress_count(&in, bytes);
	pm_stat(PM_S_MARKED);
	HVM_RET = PM_R_OK;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_2(pm_mark, __u64, flow);
EXPORT_HIKE_PROG_MAP(pm_mark, pm_colour);
EXPORT_HIKE_PROG_MAP(pm_mark, pm_flows);
EXPORT_HIKE_PROG_MAP(pm_mark, pm_sent);
EXPORT_HIKE_PROG_MAP(pm_mark, pm_stats);

/* Egress: counts the packet under (flow, colour of its mark) in pm_recv. flow 0 takes the
 * FlowMonID of the AltMark option, or (DSCP) the outer destination's entry in pm_dst_flow.
 * strip = 1 removes an AltMark-only DOH, or clears the two DSCP bits.
 * r0 = 0 counted; 1 not marked (not counted); -ENOENT flow not configured; -EINVAL not IPv6. */
HIKE_PROG(pm_count)
{
	void *end = (void *)(long)ctx->data_end;
	struct pm_mark_info m = {};
	struct ipv6hdr *ip6;
	struct pm_counter *c = NULL;
	struct pm_flow *cfg;
	__u32 flow, index;

	ip6 = hike_ip6(ctx, NULL);
	if (!ip6) {
		pm_stat(PM_S_NOT_IPV6);
		HVM_RET = -EINVAL;
		return HIKE_XDP_VM;
	}
	pm_read_mark(ip6, end, &m);
	if (!m.marked) {
		pm_stat(PM_S_NOT_MARKED);
		HVM_RET = PM_R_NOT_MARKED;
		return HIKE_XDP_VM;
	}
	flow = pm_resolve_flow(HVM_ARG2, ip6, &m);
	cfg = flow ? bpf_map_lookup_elem(&pm_flows, &flow) : NULL;
	if (cfg && cfg->mode) {
		index = PM_COUNTER_INDEX(flow, m.colour & 1);
		c = bpf_map_lookup_elem(&pm_recv, &index);
	}
	if (!c) {
		pm_stat(PM_S_UNKNOWN_FLOW);
		HVM_RET = -ENOENT;
		return HIKE_XDP_VM;
	}
	pm_add(c, pm_frame_len(ctx) - m.doh_len);
	pm_stat(PM_S_COUNTED);
	HVM_RET = PM_R_OK;
	if (HVM_ARG3 == 1) {
		if (m.marked == PM_MODE_ALTMARK && m.doh_len) {
			pm_strip_doh(ctx);
		} else if (m.marked == PM_MODE_DSCP) {
			__u8 *tc1 = (__u8 *)ip6 + 1;

			if ((void *)(tc1 + 1) <= end)
				*tc1 &= ~((PM_TC_MONITORED | PM_TC_COLOUR) << 4);
		}
	}
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_3(pm_count, __u64, flow, __u64, strip);
EXPORT_HIKE_PROG_MAP(pm_count, pm_flows);
EXPORT_HIKE_PROG_MAP(pm_count, pm_recv);
EXPORT_HIKE_PROG_MAP(pm_count, pm_dst_flow);
EXPORT_HIKE_PROG_MAP(pm_count, pm_stats);
EXPORT_HIKE_PROG_MAP(pm_count, pm_links);

/* Fault injection: while pm_loss_cfg has packets left to drop, a packet of its (flow, colour)
 * is dropped (XDP_DROP: the chain ends) and counted in pm_loss_cfg.dropped. Anything else
 * continues with r0 = 0. flow as pm_count's. Exactly `remaining` packets go, whatever the CPU. */
HIKE_PROG(pm_loss)
{
	void *end = (void *)(long)ctx->data_end;
	struct pm_mark_info m = {};
	struct ipv6hdr *ip6;
	struct pm_loss *loss;
	__u32 zero = 0;

	HVM_RET = 0;
	loss = bpf_map_lookup_elem(&pm_loss_cfg, &zero);
	if (!loss || loss->remaining <= 0)
		return HIKE_XDP_VM;
	ip6 = hike_ip6(ctx, NULL);
	if (!ip6)
		return HIKE_XDP_VM;
	pm_read_mark(ip6, end, &m);
	if (!m.marked || m.colour != loss->colour || pm_resolve_flow(HVM_ARG2, ip6, &m) != loss->flow)
		return HIKE_XDP_VM;
	if (__sync_fetch_and_add(&loss->remaining, -1) <= 0)
		return HIKE_XDP_VM;
	__sync_fetch_and_add(&loss->dropped, 1);
	pm_stat(PM_S_DROPPED);
	return XDP_DROP;
}
EXPORT_HIKE_PROG_2(pm_loss, __u64, flow);
EXPORT_HIKE_PROG_MAP(pm_loss, pm_loss_cfg);
EXPORT_HIKE_PROG_MAP(pm_loss, pm_dst_flow);
EXPORT_HIKE_PROG_MAP(pm_loss, pm_stats);

char LICENSE[] SEC("license") = "GPL";
