/* Loader: the longest IPv6 destination prefix that matches picks the chain; no match (or a
 * non-IPv6 packet) goes to the kernel. */
#define HIKE_PACKAGE "hike_default"
#include "hike/hike.h"
#include <linux/if_ether.h>
#include <linux/ipv6.h>

struct ip6_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ip6_lpm_key);
	__type(value, __u32); /* chain ID */
} ip6_lpm_routes SEC(".maps");

/* chain_id is unused here: the routes choose it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hvm_loader_config);
} ip6_lpm_cfg SEC(".maps");

HIKE_LOADER(ip6_lpm_classifier)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct hvm_loader_config *cfg;
	struct ip6_lpm_key key = { .prefixlen = 128 };
	__u32 zero = 0, *chain;

	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	__builtin_memcpy(key.addr, &ip6->daddr, 16);
	chain = bpf_map_lookup_elem(&ip6_lpm_routes, &key);
	if (!chain || !*chain)
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&ip6_lpm_cfg, &zero);
	return hvm_start(ctx, *chain, cfg ? cfg->default_verdict : XDP_DROP);
}
EXPORT_HIKE_LOADER(ip6_lpm_classifier);
EXPORT_HIKE_PROG_MAP(ip6_lpm_classifier, ip6_lpm_routes);
EXPORT_HIKE_PROG_MAP(ip6_lpm_classifier, ip6_lpm_cfg);

char LICENSE[] SEC("license") = "GPL";
