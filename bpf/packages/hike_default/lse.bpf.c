/* hike_default: lse(), "last seen event": how long ago this CPU last saw the packet's IPv6
 * (source, destination) pair.
 *
 *   r0 = ~0 (all ones)       the pair is new on this CPU (now recorded), or the packet is not IPv6
 *                            (nothing recorded)
 *   r0 = now − last (ns)     otherwise; now is recorded
 *
 * now is bpf_ktime_get_ns() (CLOCK_MONOTONIC). The map is per CPU, as in the original: with RSS a
 * flow stays on one CPU. A pair another CPU has seen is new on this one (its slot here is still
 * 0). The packet is not changed; the chain continues. */
#define HIKE_PACKAGE "hike_default"
#include "hike/hike.h"
#include "hike/ip6.h"

#define LSE_ENTRIES 4096
#define LSE_FIRST (~0ULL)

struct lse_value {
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, LSE_ENTRIES);
	__type(key, struct ip6_sd_key);
	__type(value, struct lse_value);
} lse_map SEC(".maps");

HIKE_PROG(lse)
{
	struct ipv6hdr *ip6 = hike_ip6(ctx, NULL);
	struct lse_value *seen, fresh;
	struct ip6_sd_key key;
	__u64 now;

	if (!ip6) {
		HVM_RET = LSE_FIRST;
		return HIKE_XDP_VM;
	}
	key.saddr = ip6->saddr;
	key.daddr = ip6->daddr;
	now = bpf_ktime_get_ns();

	seen = bpf_map_lookup_elem(&lse_map, &key);
	if (seen && seen->last_ns) {
		HVM_RET = now - seen->last_ns;
		seen->last_ns = now;
		return HIKE_XDP_VM;
	}
	if (seen) {
		seen->last_ns = now; /* the key exists, seen by another CPU only */
	} else {
		fresh.last_ns = now;
		bpf_map_update_elem(&lse_map, &key, &fresh, BPF_ANY);
	}
	HVM_RET = LSE_FIRST;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(lse);
EXPORT_HIKE_PROG_MAP(lse, lse_map);

char LICENSE[] SEC("license") = "GPL";
