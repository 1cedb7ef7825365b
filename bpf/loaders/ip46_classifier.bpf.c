/* Loader: IPv4 packets run one chain, IPv6 packets another; the rest goes to the kernel.
 * ip46_cls_cfg[0] configures IPv4, [1] IPv6. */
#define HIKE_PACKAGE "hike_default"
#include "hike/hike.h"
#include <linux/if_ether.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct hvm_loader_config);
} ip46_cls_cfg SEC(".maps");

HIKE_LOADER(ip46_classifier)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct hvm_loader_config *cfg;
	__u32 family;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		family = 0;
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		family = 1;
	else
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&ip46_cls_cfg, &family);
	if (!cfg || !cfg->chain_id)
		return XDP_PASS;
	return hvm_start(ctx, cfg->chain_id, cfg->default_verdict);
}
EXPORT_HIKE_LOADER(ip46_classifier);
EXPORT_HIKE_PROG_MAP(ip46_classifier, ip46_cls_cfg);

char LICENSE[] SEC("license") = "GPL";
