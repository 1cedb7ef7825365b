/* hike_default: ip6_hset_srcdst, a set of IPv6 (source, destination) pairs whose entries expire
 * (the DDoS chain's blacklist). */
#define HIKE_PACKAGE "hike_default"
#include "hike/hike.h"
#include "hike/ip6.h"

/* Actions. The thesis' DDoS script uses ADD = 1, LOOKUP = 2; upstream numbered LOOKUP 0, so 0 is
 * LOOKUP too. */
#define HSET_LOOKUP_0 0
#define HSET_ADD 1
#define HSET_LOOKUP 2
#define HSET_LOOKUP_AND_CLEAN 3

#define HSET_TIMEOUT_DEFAULT_NS 10000000000ULL /* 10 s, the original's expiry */
#define HSET_ENTRIES 16384

/* An entry: when it was added and how long it lives (the timeout in force then). */
struct ip6_hset_value {
	__u64 cts_ns;
	__u64 timeout_ns;
};

/* Run-time configuration, entry 0. timeout_ns = 0 means the 10 s default. clock_ns ≠ 0 replaces
 * bpf_ktime_get_ns(), so that tests can drive expiry without sleeping. */
struct ip6_hset_config {
	__u64 timeout_ns;
	__u64 clock_ns;
};

/* Shared by all CPUs (not per-CPU): a pair blacklisted on one CPU is blacklisted on all. LRU so
 * a flood of new pairs evicts old ones instead of failing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HSET_ENTRIES);
	__type(key, struct ip6_sd_key);
	__type(value, struct ip6_hset_value);
} ip6_hset_sd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ip6_hset_config);
} ip6_hset_cfg SEC(".maps");

#define HSET_IN 0
#define HSET_NOT_IN ((__u64)-2)  /* -ENOENT */
#define HSET_EXISTS ((__u64)-17) /* -EEXIST */
#define HSET_INVALID ((__u64)-22) /* -EINVAL: not IPv6, unknown action */

/* Returns 0 when the packet's pair is in the set (and not expired), -ENOENT when not (an expired
 * entry is removed); ADD returns 0 when it added the pair, -EEXIST when it was already there;
 * LOOKUP_AND_CLEAN answers like LOOKUP and adds a missing (or expired) pair. */
HIKE_PROG(ip6_hset_srcdst)
{
	struct ip6_hset_value *v, fresh;
	struct ip6_hset_config *cfg;
	struct ip6_sd_key key;
	struct ipv6hdr *ip6;
	__u64 action = HVM_ARG2, now, timeout = HSET_TIMEOUT_DEFAULT_NS;
	__u32 zero = 0;
	int live;

	ip6 = hike_ip6(ctx, NULL);
	if (!ip6 || action > HSET_LOOKUP_AND_CLEAN) {
		HVM_RET = HSET_INVALID;
		return HIKE_XDP_VM;
	}
	key.saddr = ip6->saddr;
	key.daddr = ip6->daddr;

	now = bpf_ktime_get_ns();
	cfg = bpf_map_lookup_elem(&ip6_hset_cfg, &zero);
	if (cfg) {
		if (cfg->clock_ns)
			now = cfg->clock_ns;
		if (cfg->timeout_ns)
			timeout = cfg->timeout_ns;
	}

	v = bpf_map_lookup_elem(&ip6_hset_sd, &key);
	live = v && now - v->cts_ns < v->timeout_ns;
	if (v && !live)
		bpf_map_delete_elem(&ip6_hset_sd, &key); /* expired: clean it up */

	if (action == HSET_LOOKUP || action == HSET_LOOKUP_0) {
		HVM_RET = live ? HSET_IN : HSET_NOT_IN;
		return HIKE_XDP_VM;
	}
	if (live) {
		HVM_RET = action == HSET_ADD ? HSET_EXISTS : HSET_IN;
		return HIKE_XDP_VM;
	}
	fresh.cts_ns = now;
	fresh.timeout_ns = timeout;
	bpf_map_update_elem(&ip6_hset_sd, &key, &fresh, BPF_ANY);
	HVM_RET = action == HSET_ADD ? HSET_IN : HSET_NOT_IN;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_2(ip6_hset_srcdst, __u64, action);
EXPORT_HIKE_PROG_MAP(ip6_hset_srcdst, ip6_hset_sd);
EXPORT_HIKE_PROG_MAP(ip6_hset_srcdst, ip6_hset_cfg);

char LICENSE[] SEC("license") = "GPL";
