/* alt_mark: the Alternate Marking option of RFC 9343 (method: RFC 9341) in IPv6 Hop-by-Hop and
 * Destination Options headers.
 *
 * Option type 0x12, data length 4: FlowMonID(20) | L(1) | D(1) | Reserved(10).
 */
#define HIKE_PACKAGE "alt_mark"
#include "hike/hike.h"
#include "hike/ip6.h"

#define ALT_MARK_OPTION 0x12
#define ALT_MARK_EXT_MAX 4   /* extension headers looked at */
#define ALT_MARK_OPTS_MAX 16 /* options looked at in each */

/* Where the option was found: bits 32–33 of r0. */
#define ALT_MARK_IN_HBH 1
#define ALT_MARK_IN_DOH 2

/* Per FlowMonID: packets and bytes of each colour (the L bit), and the double-marked (D) ones. */
struct alt_mark_counters {
	__u64 packets[2];
	__u64 bytes[2];
	__u64 double_marked;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct alt_mark_counters);
} alt_mark_flows SEC(".maps");

/* Looks for the option among the TLVs of one options header at hdr (length bytes in all).
 * Returns the option's 32-bit data (host order) with bit 63 set, or 0. */
static __always_inline __u64 alt_mark_find(__u8 *hdr, __u8 *hdr_end, void *end)
{
	__u8 *p = hdr + 2;
	int i;

	for (i = 0; i < ALT_MARK_OPTS_MAX; i++) {
		if ((void *)(p + 2) > end || p + 2 > hdr_end)
			return 0;
		if (p[0] == 0) { /* Pad1 */
			p += 1;
			continue;
		}
		if (p[0] == ALT_MARK_OPTION && p[1] == 4) {
			if ((void *)(p + 6) > end || p + 6 > hdr_end)
				return 0;
			return 1ULL << 63 | ((__u32)p[2] << 24 | (__u32)p[3] << 16 | (__u32)p[4] << 8 | p[5]);
		}
		p += 2 + p[1];
	}
	return 0;
}

/* r0 = 0 when the packet carries no Alternate Marking option (or is not IPv6); otherwise
 *	r0 = where << 32 | FlowMonID << 12 | L << 11 | D << 10
 * with where = 1 (Hop-by-Hop) or 2 (Destination Options), the first option found in header
 * order. The packet is counted in alt_mark_flows under its FlowMonID and colour. */
HIKE_PROG(ip6_alt_mark)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct hike_cursor cur = { .pos = data, .end = end };
	struct alt_mark_counters *c, fresh = {};
	struct ethhdr *eth = HIKE_TAKE(&cur, struct ethhdr);
	struct ipv6hdr *ip6;
	__u8 nexthdr, *hdr;
	__u64 found = 0, where = 0;
	__u32 flow, l, d;
	int i;

	HVM_RET = 0;
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return HIKE_XDP_VM;
	ip6 = HIKE_TAKE(&cur, struct ipv6hdr);
	if (!ip6)
		return HIKE_XDP_VM;
	nexthdr = ip6->nexthdr;
	hdr = cur.pos;
	for (i = 0; i < ALT_MARK_EXT_MAX; i++) {
		__u8 *hdr_end;

		if (nexthdr != HIKE_NEXTHDR_HOP && nexthdr != HIKE_NEXTHDR_ROUTING && nexthdr != HIKE_NEXTHDR_DEST)
			break;
		if ((void *)(hdr + 2) > end)
			break;
		hdr_end = hdr + ((__u32)hdr[1] + 1) * 8;
		if (nexthdr != HIKE_NEXTHDR_ROUTING) {
			found = alt_mark_find(hdr, hdr_end, end);
			if (found) {
				where = nexthdr == HIKE_NEXTHDR_HOP ? ALT_MARK_IN_HBH : ALT_MARK_IN_DOH;
				break;
			}
		}
		nexthdr = hdr[0];
		hdr = hdr_end;
	}
	if (!found)
		return HIKE_XDP_VM;

	flow = (__u32)found >> 12;
	l = ((__u32)found >> 11) & 1;
	d = ((__u32)found >> 10) & 1;
	c = bpf_map_lookup_elem(&alt_mark_flows, &flow);
	if (!c) {
		bpf_map_update_elem(&alt_mark_flows, &flow, &fresh, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&alt_mark_flows, &flow);
	}
	if (c) {
		c->packets[l & 1] += 1;
		c->bytes[l & 1] += ctx->data_end - ctx->data;
		c->double_marked += d;
	}
	HVM_RET = where << 32 | (__u64)flow << 12 | l << 11 | d << 10;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(ip6_alt_mark);
EXPORT_HIKE_PROG_MAP(ip6_alt_mark, alt_mark_flows);

char LICENSE[] SEC("license") = "GPL";
