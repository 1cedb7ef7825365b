/* hike doctor: does a tail call through a program array reach its target? probe_entry returns
 * the target's XDP_TX when it does and XDP_ABORTED when the call falls through.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} probe_jumps SEC(".maps");

SEC("xdp")
int probe_target(struct xdp_md *ctx)
{
	return XDP_TX;
}

SEC("xdp")
int probe_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &probe_jumps, 0);
	return XDP_ABORTED;
}

/* For the live-frames test run: consumes every frame. */
SEC("xdp")
int probe_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
