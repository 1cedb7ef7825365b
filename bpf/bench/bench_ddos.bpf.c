/* The DDoS chain of the eCLAT thesis (Listing 7.2, examples/ddos/ddos.eclat) written by hand as
 * one XDP program, for the `ddos` scenario of `hike bench run` (Table 7.2: raw eBPF vs HIKe vs
 * ipset). Same logic and the same state as the chain of ip6_hset_srcdst, ip6_dst_tbmon,
 * ip6_sd_tbmon, ip6_sd_dec2zero, monitor, l2_redirect, with the final hike_pass replaced by
 * forwarding (ip6_kroute / gen_fwd6: bpf_fib_lookup + redirect):
 *
 *   (src, dst) blacklisted?  → one in 500 redirected to ifindex 6, the rest dropped
 *   dst bucket out of profile and (src, dst) bucket out of profile → blacklist, drop
 *   else forward
 *
 * The token buckets use the meter package's arithmetic (tb.h) and its config layout: entry ::
 * (all-zero key) of ddos_tb_dst_cfg / ddos_tb_sd_cfg is the default. */
#include "hike/fib.h"
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "../packages/meter/tb.h"

#define DDOS_HSET_ENTRIES 16384
#define DDOS_TIMEOUT_NS 10000000000ULL /* 10 s, ip6_hset's default */
#define DDOS_SAMPLE 500
#define DDOS_REDIRECT_IF_INDEX 6
enum { DDOS_PASS = 0, DDOS_DROP = 1, DDOS_REDIRECT = 2, DDOS_EVENTS = 3 };

struct ddos_sd_key {
	struct in6_addr saddr;
	struct in6_addr daddr;
};

struct ddos_hset_value {
	__u64 cts_ns;
	__u64 timeout_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DDOS_HSET_ENTRIES);
	__type(key, struct ddos_sd_key);
	__type(value, struct ddos_hset_value);
} ddos_hset SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, TB_ENTRIES);
	__type(key, struct in6_addr);
	__type(value, struct tb_flow);
} ddos_tb_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, TB_ENTRIES);
	__type(key, struct ddos_sd_key);
	__type(value, struct tb_flow);
} ddos_tb_sd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TB_CFG_ENTRIES);
	__type(key, struct in6_addr);
	__type(value, struct tb_params);
} ddos_tb_dst_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TB_CFG_ENTRIES);
	__type(key, struct ddos_sd_key);
	__type(value, struct tb_params);
} ddos_tb_sd_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, TB_ENTRIES);
	__type(key, struct ddos_sd_key);
	__type(value, __u64);
} ddos_dec2zero SEC(".maps");

/* monitor(event): packets per event, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DDOS_EVENTS);
	__type(key, __u32);
	__type(value, __u64);
} ddos_events SEC(".maps");

static const struct tb_params ddos_tb_builtin = {
	.rate = TB_DEFAULT_RATE,
	.bucket_size = TB_DEFAULT_BUCKET,
	.base_time_bits = TB_DEFAULT_BASE_TIME_BITS,
	.shift_tokens = TB_DEFAULT_SHIFT_TOKENS,
};

static __always_inline __u64 ddos_meter(void *flows, void *cfg, const void *key, const void *zero_key, __u64 now)
{
	const struct tb_params *p = bpf_map_lookup_elem(cfg, key);
	struct tb_flow *f, fresh = {};
	__u64 ret;

	if (!p)
		p = bpf_map_lookup_elem(cfg, zero_key);
	if (!p)
		p = &ddos_tb_builtin;
	f = bpf_map_lookup_elem(flows, key);
	if (f)
		return tb_take(f, p, now, f->last_time == 0);
	ret = tb_take(&fresh, p, now, 1);
	bpf_map_update_elem(flows, key, &fresh, BPF_ANY);
	return ret;
}

static __always_inline void ddos_monitor(__u32 event)
{
	__u64 *count = bpf_map_lookup_elem(&ddos_events, &event);

	if (count)
		*count += 1;
}

SEC("xdp")
int ddos_raw(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	struct ddos_sd_key key, zero_sd = {};
	struct in6_addr zero_dst = {};
	struct ddos_hset_value *v, fresh;
	__u64 now, *left;

	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	key.saddr = ip6->saddr;
	key.daddr = ip6->daddr;
	now = bpf_ktime_get_ns();

	/* ip6_hset_srcdst(LOOKUP) */
	v = bpf_map_lookup_elem(&ddos_hset, &key);
	if (v && now - v->cts_ns < v->timeout_ns) {
		/* ip6_sd_dec2zero(500) */
		left = bpf_map_lookup_elem(&ddos_dec2zero, &key);
		if (!left) {
			__u64 start = DDOS_SAMPLE - 1;

			bpf_map_update_elem(&ddos_dec2zero, &key, &start, BPF_ANY);
		} else if (*left <= 1 || *left > DDOS_SAMPLE) {
			*left = DDOS_SAMPLE;
			ddos_monitor(DDOS_REDIRECT);
			return bpf_redirect(DDOS_REDIRECT_IF_INDEX, 0);
		} else {
			*left -= 1;
		}
		ddos_monitor(DDOS_DROP);
		return XDP_DROP;
	}
	if (v)
		bpf_map_delete_elem(&ddos_hset, &key);

	/* ip6_dst_tbmon(), then ip6_sd_tbmon() */
	if (ddos_meter(&ddos_tb_dst, &ddos_tb_dst_cfg, &key.daddr, &zero_dst, now) != TB_IN_PROFILE
	    && ddos_meter(&ddos_tb_sd, &ddos_tb_sd_cfg, &key, &zero_sd, now) != TB_IN_PROFILE) {
		fresh.cts_ns = now;
		fresh.timeout_ns = DDOS_TIMEOUT_NS;
		bpf_map_update_elem(&ddos_hset, &key, &fresh, BPF_ANY);
		ddos_monitor(DDOS_DROP);
		return XDP_DROP;
	}

	ddos_monitor(DDOS_PASS);
	return hike_fib_forward6(ctx, eth, ip6);
}

char LICENSE[] SEC("license") = "GPL";
