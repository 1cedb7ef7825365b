/* meter: packet and byte counters per IPv6 destination, (source, destination) and source. */
#define HIKE_PACKAGE "meter"
#include "hike/hike.h"
#include "hike/counter.h"
#include "hike/ip6.h"

#define METER_ENTRIES 4096
#define METER_INVALID ((__u64)-22) /* -EINVAL: not IPv6 */

/* Per-CPU (no atomics on the fast path; readers sum the CPUs); LRU so new keys evict idle ones. */
#define METER_MAP(_name, _key)                                                                     \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);                                        \
		__uint(max_entries, METER_ENTRIES);                                                \
		__type(key, _key);                                                                 \
		__type(value, struct hike_counter);                                                \
	} _name SEC(".maps")

METER_MAP(pcpu_dst_meter, struct in6_addr);
METER_MAP(pcpu_sd_meter, struct ip6_sd_key);
METER_MAP(pcpu_src_meter, struct in6_addr);

static __always_inline void meter_count(void *map, const void *key, __u64 bytes)
{
	struct hike_counter *c = bpf_map_lookup_elem(map, key);
	struct hike_counter first = { .packets = 1, .bytes = bytes };

	if (c) {
		c->packets++;
		c->bytes += bytes;
	} else {
		bpf_map_update_elem(map, key, &first, BPF_ANY);
	}
}

static __always_inline __u64 frame_len(struct hike_ctx *ctx)
{
	return hvm_packet_length(ctx);
}

/* Counts the packet (and its frame bytes) under its destination; r0 = 0, or -EINVAL when the
 * packet is not IPv6 (not counted). */
HIKE_PROG(ip6_dst_meter)
{
	struct ipv6hdr *ip6 = hike_ip6(ctx, NULL);
	struct in6_addr key;

	if (!ip6) {
		HVM_RET = METER_INVALID;
		return HIKE_XDP_VM;
	}
	key = ip6->daddr;
	meter_count(&pcpu_dst_meter, &key, frame_len(ctx));
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(ip6_dst_meter);
EXPORT_HIKE_PROG_MAP(ip6_dst_meter, pcpu_dst_meter);

/* As ip6_dst_meter, per (source, destination). */
HIKE_PROG(ip6_sd_meter)
{
	struct ipv6hdr *ip6 = hike_ip6(ctx, NULL);
	struct ip6_sd_key key;

	if (!ip6) {
		HVM_RET = METER_INVALID;
		return HIKE_XDP_VM;
	}
	key.saddr = ip6->saddr;
	key.daddr = ip6->daddr;
	meter_count(&pcpu_sd_meter, &key, frame_len(ctx));
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(ip6_sd_meter);
EXPORT_HIKE_PROG_MAP(ip6_sd_meter, pcpu_sd_meter);

/* As ip6_dst_meter, per source. */
HIKE_PROG(ip6_src_meter)
{
	struct ipv6hdr *ip6 = hike_ip6(ctx, NULL);
	struct in6_addr key;

	if (!ip6) {
		HVM_RET = METER_INVALID;
		return HIKE_XDP_VM;
	}
	key = ip6->saddr;
	meter_count(&pcpu_src_meter, &key, frame_len(ctx));
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(ip6_src_meter);
EXPORT_HIKE_PROG_MAP(ip6_src_meter, pcpu_src_meter);

char LICENSE[] SEC("license") = "GPL";
