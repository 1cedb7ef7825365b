/* fastdrop: drops packets whose source (or destination) is in a prefix list, before any chain
 * runs (the loaders fastdrop and fastdrop_dst), or tells a chain whether an address is listed
 * (fastdrop_match). One list per instance: every attachment and the program share it.
 * IPv4 is looked up in a /24 index first (one array read), the trie only where the index
 * says a /24 holds longer prefixes; IPv6 in the trie. ABI: hike/fastdrop.h. */
#define HIKE_PACKAGE "fastdrop"
#include "hike/hike.h"
#include "hike/counter.h"
#include "hike/fastdrop.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FASTDROP_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fastdrop_key);
	__type(value, __u32);
} fastdrop_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FASTDROP_DIR24_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} fastdrop_dir24 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hvm_loader_config);
} fastdrop_cfg SEC(".maps"); /* the chain (and default verdict) for the packets not dropped */

HIKE_COUNTER_MAP(fastdrop_stats, FASTDROP_S_MAX);

static __always_inline int fastdrop_trie(struct fastdrop_key *key)
{
	__u32 *drop = bpf_map_lookup_elem(&fastdrop_prefixes, key);

	return drop && *drop;
}

/* 1: the address is listed; 0: not; -1: neither IPv4 nor IPv6 (or cut short). */
static __always_inline int fastdrop_listed(void *data, void *end, __u32 by_destination)
{
	struct ethhdr *eth = data;
	struct fastdrop_key key;

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		__u32 addr, slash24, word;
		__u64 *codes;
		int code;

		if ((void *)(iph + 1) > end)
			return -1;
		addr = by_destination ? iph->daddr : iph->saddr;
		slash24 = bpf_ntohl(addr) >> 8;
		word = slash24 >> 5;
		codes = bpf_map_lookup_elem(&fastdrop_dir24, &word);
		code = codes ? (*codes >> ((slash24 & 31) * 2)) & 3 : FASTDROP_ASK;
		if (code == FASTDROP_DROP)
			return 1;
		if (code == FASTDROP_PASS)
			return 0;
		key.prefixlen = 128;
		__builtin_memset(key.addr, 0, 10);
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(key.addr + 12, &addr, 4);
		return fastdrop_trie(&key);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return -1;
		key.prefixlen = 128;
		__builtin_memcpy(key.addr, by_destination ? &ip6->daddr : &ip6->saddr, 16);
		return fastdrop_trie(&key);
	}
	return -1;
}

static __always_inline void fastdrop_count(int listed, __u64 bytes)
{
	hike_count(&fastdrop_stats, listed == 1 ? FASTDROP_S_DROPPED : listed == 0 ? FASTDROP_S_PASSED : FASTDROP_S_NOT_IP, bytes);
}

/* The loaders: listed packets are dropped here; the rest start fastdrop_cfg's chain
 * (XDP_PASS when it has none). */
static __always_inline int fastdrop_loader(struct xdp_md *ctx, __u32 by_destination)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct hvm_loader_config *cfg;
	int listed = fastdrop_listed(data, end, by_destination);

	fastdrop_count(listed, end - data);
	if (listed == 1)
		return XDP_DROP;
	cfg = bpf_map_lookup_elem(&fastdrop_cfg, &zero);
	if (!cfg || !cfg->chain_id)
		return XDP_PASS;
	return hvm_start(ctx, cfg->chain_id, cfg->default_verdict);
}

/* By source address (what a DDoS blocklist holds). */
SEC("xdp")
int fastdrop(struct xdp_md *ctx)
{
	return fastdrop_loader(ctx, 0);
}
EXPORT_HIKE_LOADER(fastdrop);
EXPORT_HIKE_PROG_MAP(fastdrop, fastdrop_cfg);
EXPORT_HIKE_PROG_MAP(fastdrop, fastdrop_prefixes);

/* By destination address. */
SEC("xdp")
int fastdrop_dst(struct xdp_md *ctx)
{
	return fastdrop_loader(ctx, 1);
}
EXPORT_HIKE_LOADER(fastdrop_dst);
EXPORT_HIKE_PROG_MAP(fastdrop_dst, fastdrop_cfg);
EXPORT_HIKE_PROG_MAP(fastdrop_dst, fastdrop_prefixes);

/* fastdrop_match(which): r0 = 1 when the packet's source (which = 0) or destination (1) is
 * listed, 0 when not, -EINVAL (-22) for a packet that is neither IPv4 nor IPv6. */
HIKE_PROG(fastdrop_match)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	int listed = fastdrop_listed(data, end, HVM_ARG2 != 0);

	fastdrop_count(listed, end - data);
	HVM_RET = listed < 0 ? (__u64)-22 : listed;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_2(fastdrop_match, __u64, which);
EXPORT_HIKE_PROG_MAP(fastdrop_match, fastdrop_prefixes);
EXPORT_HIKE_PROG_MAP(fastdrop_match, fastdrop_dir24);
EXPORT_HIKE_PROG_MAP(fastdrop_match, fastdrop_stats);

char LICENSE[] SEC("license") = "GPL";
