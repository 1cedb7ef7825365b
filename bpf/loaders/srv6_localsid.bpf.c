/* Loader: the "My Local SID table". The longest prefix that matches the IPv6 destination
 * (srv6_lpm6: local SIDs and headend policies alike) or, for IPv4 packets, the IPv4 destination
 * (srv6_lpm4: headends that encapsulate IPv4) picks the chain; no match goes to the kernel.
 * On an interface an SR proxy's function sends back on (its IFACE-IN), the configuration's
 * chain takes every frame instead: the proxy's, whatever the destination (SRNKv2's one lookup
 * by incoming interface). A monitored link's frames are counted (or dropped by its loss
 * injection) before any of this: hike/pm_link.h. */
#define HIKE_PACKAGE "srv6"
#include "hike/hike.h"
#include "hike/srv6.h"
#include "hike/pm_link.h"
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/ip.h>

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SRV6_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct srv6_lpm6_key);
	__type(value, __u32); /* chain ID */
} srv6_lpm6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SRV6_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct srv6_lpm4_key);
	__type(value, __u32); /* chain ID */
} srv6_lpm4 SEC(".maps");

/* chain_id: 0, or the SR proxy whose function sends back on this interface. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hvm_loader_config);
} srv6_localsid_cfg SEC(".maps");

SEC("xdp")
int srv6_localsid(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct hvm_loader_config *cfg;
	__u32 zero = 0, *chain = NULL;
	int link = pm_link_receive(ctx);

	if (link >= 0)
		return link;
	cfg = bpf_map_lookup_elem(&srv6_localsid_cfg, &zero);
	if (cfg && cfg->chain_id)
		return hvm_start(ctx, cfg->chain_id, cfg->default_verdict);
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct srv6_lpm6_key key = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		__builtin_memcpy(key.addr, &ip6->daddr, sizeof(key.addr));
		chain = bpf_map_lookup_elem(&srv6_lpm6, &key);
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);
		struct srv6_lpm4_key key = { .prefixlen = 32 };

		if ((void *)(ip4 + 1) > data_end)
			return XDP_PASS;
		__builtin_memcpy(key.addr, &ip4->daddr, sizeof(key.addr));
		chain = bpf_map_lookup_elem(&srv6_lpm4, &key);
	}
	if (!chain || !*chain)
		return XDP_PASS;
	return hvm_start(ctx, *chain, cfg ? cfg->default_verdict : XDP_DROP);
}
EXPORT_HIKE_LOADER(srv6_localsid);
EXPORT_HIKE_PROG_MAP(srv6_localsid, srv6_lpm6);
EXPORT_HIKE_PROG_MAP(srv6_localsid, srv6_lpm4);
EXPORT_HIKE_PROG_MAP(srv6_localsid, srv6_localsid_cfg);

char LICENSE[] SEC("license") = "GPL";
