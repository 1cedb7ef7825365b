/* Loader: every IPv6 packet runs one chain; everything else goes to the kernel. */
#define HIKE_PACKAGE "hike_default"
#include "hike/hike.h"
#include <linux/if_ether.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hvm_loader_config);
} ip6_cls_cfg SEC(".maps");

HIKE_LOADER(ip6_classifier)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct hvm_loader_config *cfg;
	__u32 zero = 0;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&ip6_cls_cfg, &zero);
	if (!cfg || !cfg->chain_id)
		return XDP_PASS;
	return hvm_start(ctx, cfg->chain_id, cfg->default_verdict);
}
EXPORT_HIKE_LOADER(ip6_classifier);
EXPORT_HIKE_PROG_MAP(ip6_classifier, ip6_cls_cfg);

char LICENSE[] SEC("license") = "GPL";
