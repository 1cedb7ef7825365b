/* The pm package's ingress side, shared by pm_mark (bpf/packages/pm) and the srv6 headends,
 * which count and mark a monitored policy's packets as they encapsulate them (srv6_policy.pm_flow)
 * and so spare the chain a program call. Every object that includes this declares the maps below;
 * hike pins them all at maps/pm/<name>, so there is one set of them per instance.
 *
 * The fast path is array lookups only, which the verifier inlines (the per-CPU one since Linux
 * 6.10): the colour, the flow's mode, the per-CPU counter of (flow, colour). ABI: hike/pm.h. */
#ifndef HIKE_PM_INGRESS_H
#define HIKE_PM_INGRESS_H

#include "hike/pm.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pm_colour SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PM_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct pm_flow);
} pm_flows SEC(".maps");

/* Counters at the ingress (marking) point: PM_COUNTER_INDEX(flow, colour). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * PM_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct pm_counter);
} pm_sent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PM_S_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pm_stats SEC(".maps");

static __always_inline void pm_stat(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&pm_stats, &reason);

	if (count)
		*count += 1;
}

/* A configured flow: its ID, mode, active colour and counter. The mark is written from these,
 * never from a map value read again (user space may change it in between). */
struct pm_ingress {
	struct pm_counter *counter;
	__u32 flow;
	__u32 mode;   /* PM_MODE_DSCP or PM_MODE_ALTMARK */
	__u32 colour; /* 0 or 1 */
};

/* Looks the flow up: 0 and the packet's (flow, colour) in *in, or -1 (counted as
 * PM_S_UNKNOWN_FLOW) for a flow out of range or not configured at this node. */
static __always_inline int pm_ingress_lookup(__u64 flow, struct pm_ingress *in)
{
	__u32 zero = 0, id, index, mode, *colour;
	struct pm_flow *cfg;

	if (flow == 0 || flow > PM_FLOW_MAX)
		goto unknown;
	id = (__u32)flow;
	cfg = bpf_map_lookup_elem(&pm_flows, &id);
	if (!cfg)
		goto unknown;
	mode = *(volatile __u32 *)&cfg->mode; /* once: user space may rewrite the entry meanwhile */
	if (mode != PM_MODE_DSCP && mode != PM_MODE_ALTMARK)
		goto unknown;
	colour = bpf_map_lookup_elem(&pm_colour, &zero);
	in->colour = colour ? *colour & 1 : 0;
	in->flow = id;
	in->mode = mode;
	index = PM_COUNTER_INDEX(id, in->colour);
	in->counter = bpf_map_lookup_elem(&pm_sent, &index);
	if (!in->counter)
		goto unknown;
	return 0;
unknown:
	pm_stat(PM_S_UNKNOWN_FLOW);
	return -1;
}

/* One packet of `bytes` (the frame without the AltMark DOH, the same figure at both ends). */
static __always_inline void pm_add(struct pm_counter *c, __u64 bytes)
{
	c->packets += 1;
	c->bytes += bytes;
}

/* Counts a marked packet. pm_sent is the count of marked packets: nothing else is counted on
 * this path. */
static __always_inline void pm_ingress_count(struct pm_ingress *in, __u64 bytes)
{
	pm_add(in->counter, bytes);
}

/* DSCP mode: the "monitored" and colour bits in the IPv6 header's second byte (Traffic Class
 * bits 3..0 are its high nibble). */
static __always_inline void pm_mark_dscp(__u8 *tc1, __u32 colour)
{
	*tc1 = (*tc1 & ~(PM_TC_COLOUR << 4)) | (PM_TC_MONITORED << 4) | (colour ? PM_TC_COLOUR << 4 : 0);
}

/* The same bits in the IPv6 header's first 32-bit word (version, traffic class, flow label; host
 * order), for a writer that builds the whole word. */
static __always_inline __u32 pm_dscp_word(__u32 word, __u32 colour)
{
	return (word & ~((__u32)PM_TC_COLOUR << 20)) | (PM_TC_MONITORED << 20) | (colour ? PM_TC_COLOUR << 20 : 0);
}

/* AltMark mode: the 8-byte Destination Options header holding only the RFC 9343 option. */
static __always_inline void pm_write_doh(__u8 *doh, __u8 nexthdr, __u32 flow, __u32 colour)
{
	doh[0] = nexthdr;
	doh[1] = 0; /* 8 bytes: the option fills the header, no padding */
	doh[2] = PM_ALTMARK_OPTION;
	doh[3] = PM_ALTMARK_OPTLEN;
	*(__be32 *)(doh + 4) = bpf_htonl(flow << 12 | colour << 11); /* D = 0, reserved = 0 */
}

#endif
