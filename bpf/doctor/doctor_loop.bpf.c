/* hike doctor: bpf_loop (kernel 5.17+), which the HIKe VM's interpreter loop relies on.
 * Returns XDP_PASS when the callback ran exactly 10 times, XDP_ABORTED otherwise.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static long step(__u32 index, void *ctx)
{
	__u64 *sum = ctx;

	*sum += index + 1;
	return 0;
}

SEC("xdp")
int probe_loop(struct xdp_md *ctx)
{
	__u64 sum = 0;
	long runs = bpf_loop(10, step, &sum, 0);

	return (runs == 10 && sum == 55) ? XDP_PASS : XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
