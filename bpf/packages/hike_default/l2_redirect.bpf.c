/* hike_default: l2xcon and l2_redirect, which send the frame out of another interface as it is
 * (an XDP redirect: a final verdict, the chain ends). */
#define HIKE_PACKAGE "hike_default"
#include "hike/hike.h"

#define L2XCON_ENTRIES 1024

/* Ingress ifindex → egress ifindex. A hash rather than the original's array: ifindexes in
 * namespaces grow large; `bpftool map update … key hex 01 00 00 00 value hex 02 00 00 00` is
 * the same for both. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L2XCON_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} l2xcon_map SEC(".maps");

/* Cross-connect: redirects the frame to the interface l2xcon_map gives for the one it came in
 * on; drops it when that interface has no entry. */
HIKE_PROG(l2xcon)
{
	__u32 in = ctx->ingress_ifindex;
	__u32 *out = bpf_map_lookup_elem(&l2xcon_map, &in);

	if (!out)
		return XDP_DROP;
	return bpf_redirect(*out, 0);
}
EXPORT_HIKE_PROG(l2xcon);
HIKE_PROG_FINAL(l2xcon);
EXPORT_HIKE_PROG_MAP(l2xcon, l2xcon_map);

/* Redirects the frame to interface ifindex; drops it when ifindex does not fit 32 bits. */
HIKE_PROG(l2_redirect)
{
	if (HVM_ARG2 > 0xffffffffULL)
		return XDP_DROP;
	return bpf_redirect((__u32)HVM_ARG2, 0);
}
EXPORT_HIKE_PROG_2(l2_redirect, __u64, ifindex);
HIKE_PROG_FINAL(l2_redirect);

char LICENSE[] SEC("license") = "GPL";
