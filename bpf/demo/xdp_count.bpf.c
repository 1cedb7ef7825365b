/* Counts every packet an interface receives, by kind, and passes it on to the kernel.
 *
 * Two programs share the maps so that one can atomically replace the other on a live link and
 * the counters show which of them saw each packet (prog_counters slot 0 or 1).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "hike/counter.h"
#include "hike/packet.h"

HIKE_COUNTER_MAP(kind_counters, HIKE_KIND_MAX);
HIKE_COUNTER_MAP(prog_counters, 2);

static __always_inline int count(struct xdp_md *ctx, __u32 slot)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;

	hike_count(&kind_counters, hike_classify(data, data_end), len);
	hike_count(&prog_counters, slot, len);
	return XDP_PASS;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	return count(ctx, 0);
}

SEC("xdp")
int xdp_count_alt(struct xdp_md *ctx)
{
	return count(ctx, 1);
}

char LICENSE[] SEC("license") = "GPL";
