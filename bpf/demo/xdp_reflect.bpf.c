/* Sends an IPv6 packet back where it came from: swaps the Ethernet and IPv6 addresses and
 * returns XDP_TX. Anything else goes to the kernel. A small program with a visible effect on
 * packet bytes, for test runs.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "hike/counter.h"
#include "hike/packet.h"

HIKE_COUNTER_MAP(reflect_counters, 1);

SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	struct hike_cursor cur = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	struct ethhdr *eth = HIKE_TAKE(&cur, struct ethhdr);
	struct ipv6hdr *ip6;
	unsigned char mac[ETH_ALEN];
	struct in6_addr addr;

	if (!eth || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	ip6 = HIKE_TAKE(&cur, struct ipv6hdr);
	if (!ip6)
		return XDP_PASS;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	addr = ip6->saddr;
	ip6->saddr = ip6->daddr;
	ip6->daddr = addr;

	hike_count(&reflect_counters, 0, ctx->data_end - ctx->data);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
