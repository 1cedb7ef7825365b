/* sampler: ip6_sd_dec2zero, one packet in `count` per IPv6 (source, destination). */
#define HIKE_PACKAGE "sampler"
#include "hike/hike.h"
#include "hike/ip6.h"

#define DEC2ZERO_ENTRIES 4096
#define DEC2ZERO_INVALID ((__u64)-22) /* -EINVAL: not IPv6 */

/* Per (source, destination): the packets left before the next sample. Per-CPU, as the
 * original: each CPU samples one in `count` of the packets it sees. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, DEC2ZERO_ENTRIES);
	__type(key, struct ip6_sd_key);
	__type(value, __u64);
} pcpu_dec2zero SEC(".maps");

/* Counts down from `count` per pair: r0 = the packets left, and 0 on the count-th packet, when
 * the countdown restarts at count (so count 500 gives r0 = 0 for packets 500, 1000 …; 0 or 1
 * samples every packet). A new pair starts at count. -EINVAL when the packet is not IPv6. */
HIKE_PROG(ip6_sd_dec2zero)
{
	struct ipv6hdr *ip6 = hike_ip6(ctx, NULL);
	struct ip6_sd_key key;
	__u64 count = HVM_ARG2, left, *v;

	if (!ip6) {
		HVM_RET = DEC2ZERO_INVALID;
		return HIKE_XDP_VM;
	}
	key.saddr = ip6->saddr;
	key.daddr = ip6->daddr;
	v = bpf_map_lookup_elem(&pcpu_dec2zero, &key);
	/* A pair first seen on another CPU has a zeroed slot here: it starts at count too. */
	left = v && *v ? *v : count;
	if (left > count) /* count was lowered: restart from it */
		left = count;
	left = left <= 1 ? 0 : left - 1;
	HVM_RET = left;
	if (!left)
		left = count;
	if (v)
		*v = left;
	else
		bpf_map_update_elem(&pcpu_dec2zero, &key, &left, BPF_ANY);
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_2(ip6_sd_dec2zero, __u64, count);
EXPORT_HIKE_PROG_MAP(ip6_sd_dec2zero, pcpu_dec2zero);

char LICENSE[] SEC("license") = "GPL";
