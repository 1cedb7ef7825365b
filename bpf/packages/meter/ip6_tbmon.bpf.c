/* meter: token buckets per IPv6 destination (ip6_dst_tbmon) and per (source, destination)
 * (ip6_sd_tbmon). Units and defaults in tb.h. */
#define HIKE_PACKAGE "meter"
#include "hike/hike.h"
#include "hike/ip6.h"
#include "tb.h"

/* Bucket state per key. Per-CPU, as in the original: each CPU meters its own share of a flow
 * without atomics, so the profile holds per CPU (RSS keeps a flow on one CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, TB_ENTRIES);
	__type(key, struct in6_addr);
	__type(value, struct tb_flow);
} pcpu_tb_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, TB_ENTRIES);
	__type(key, struct ip6_sd_key);
	__type(value, struct tb_flow);
} pcpu_sd_tbmon SEC(".maps");

/* Parameters per key; the all-zero key (:: or (::, ::)) is the default for keys without one.
 * Read on every packet, so a change applies at once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TB_CFG_ENTRIES);
	__type(key, struct in6_addr);
	__type(value, struct tb_params);
} tb_dst_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TB_CFG_ENTRIES);
	__type(key, struct ip6_sd_key);
	__type(value, struct tb_params);
} tb_sd_cfg SEC(".maps");

/* Entry 0 ≠ 0 replaces bpf_ktime_get_ns() for both programs: tests drive the buckets with it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tb_clock SEC(".maps");

#define TB_INVALID ((__u64)-22) /* -EINVAL: not IPv6 */

static const struct tb_params tb_builtin = {
	.rate = TB_DEFAULT_RATE,
	.bucket_size = TB_DEFAULT_BUCKET,
	.base_time_bits = TB_DEFAULT_BASE_TIME_BITS,
	.shift_tokens = TB_DEFAULT_SHIFT_TOKENS,
};

static __always_inline __u64 tb_now(void)
{
	__u32 zero = 0;
	__u64 *clock = bpf_map_lookup_elem(&tb_clock, &zero);

	return clock && *clock ? *clock : bpf_ktime_get_ns();
}

/* Meters one packet of key in state map `flows` with parameters from `cfg`. */
static __always_inline __u64 tb_meter(void *flows, void *cfg, const void *key, const void *zero_key)
{
	const struct tb_params *p = bpf_map_lookup_elem(cfg, key);
	struct tb_flow *f, fresh = {};
	__u64 now = tb_now(), ret;

	if (!p)
		p = bpf_map_lookup_elem(cfg, zero_key);
	if (!p)
		p = &tb_builtin;
	f = bpf_map_lookup_elem(flows, key);
	/* A key first metered on another CPU has a zeroed slot here: it starts full too. */
	if (f)
		return tb_take(f, p, now, f->last_time == 0);
	ret = tb_take(&fresh, p, now, 1);
	bpf_map_update_elem(flows, key, &fresh, BPF_ANY);
	return ret;
}

/* r0 = 0 (IN_PROFILE) when the destination's bucket had a token for the packet, -1
 * (OUT_PROFILE) when not, -EINVAL when the packet is not IPv6. */
HIKE_PROG(ip6_dst_tbmon)
{
	struct ipv6hdr *ip6 = hike_ip6(ctx, NULL);
	struct in6_addr key, zero_key = {};

	if (!ip6) {
		HVM_RET = TB_INVALID;
		return HIKE_XDP_VM;
	}
	key = ip6->daddr;
	HVM_RET = tb_meter(&pcpu_tb_dst, &tb_dst_cfg, &key, &zero_key);
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(ip6_dst_tbmon);
EXPORT_HIKE_PROG_MAP(ip6_dst_tbmon, pcpu_tb_dst);
EXPORT_HIKE_PROG_MAP(ip6_dst_tbmon, tb_dst_cfg);
EXPORT_HIKE_PROG_MAP(ip6_dst_tbmon, tb_clock);

/* As ip6_dst_tbmon, per (source, destination). */
HIKE_PROG(ip6_sd_tbmon)
{
	struct ipv6hdr *ip6 = hike_ip6(ctx, NULL);
	struct ip6_sd_key key, zero_key = {};

	if (!ip6) {
		HVM_RET = TB_INVALID;
		return HIKE_XDP_VM;
	}
	key.saddr = ip6->saddr;
	key.daddr = ip6->daddr;
	HVM_RET = tb_meter(&pcpu_sd_tbmon, &tb_sd_cfg, &key, &zero_key);
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(ip6_sd_tbmon);
EXPORT_HIKE_PROG_MAP(ip6_sd_tbmon, pcpu_sd_tbmon);
EXPORT_HIKE_PROG_MAP(ip6_sd_tbmon, tb_sd_cfg);
EXPORT_HIKE_PROG_MAP(ip6_sd_tbmon, tb_clock);

char LICENSE[] SEC("license") = "GPL";
