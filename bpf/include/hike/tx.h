/* Interfaces XDP must not redirect to. A veth takes XDP_REDIRECTed frames only while its peer has
 * an XDP program or GRO on (the peer's NAPI); otherwise the kernel drops them after the program
 * returned XDP_REDIRECT, where no counter of ours sees it. Userspace marks such interfaces here
 * (hike srv6 apply: hike_tx_unready[ifindex] = 1) and the forwarding code hands their packets to
 * the kernel instead, which forwards them through its own stack, and counts them. hike pins one
 * array per instance, shared by every object that includes this header; ifindexes past its end
 * are taken as ready. */
#ifndef HIKE_TX_H
#define HIKE_TX_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define HIKE_TX_IFINDEX_MAX 1024

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HIKE_TX_IFINDEX_MAX);
	__type(key, __u32);
	__type(value, __u32);
} hike_tx_unready SEC(".maps");

static __always_inline int hike_tx_ready(__u32 ifindex)
{
	__u32 *unready = bpf_map_lookup_elem(&hike_tx_unready, &ifindex);

	return !unready || !*unready;
}

#endif
