/* Raw tail-call chains for `hike bench vm`: what a HIKe program call is compared with.
 *
 * Two program arrays, one per kind of chain. An entry program tail-calls slot 0; the program in
 * slot i (bench_const_i / bench_rt_i) tail-calls slot i + 1; user space puts bench_drop in slot N,
 * so a packet traverses N no-op programs and N + 1 tail calls, as a HIKe chain of N noop calls
 * and one hike_drop does. A tail call that finds its slot empty falls through to XDP_ABORTED.
 *
 * - constant index: the verifier sees one constant key per call site, and the JIT turns the tail
 *   call into a direct jump patched when the slot changes;
 * - runtime index: the key adds bench_rt_zero, a .bss variable (0) the verifier cannot fold, so
 *   the JIT emits a bounds-checked indirect jump (a retpoline where spectre_v2 mitigations are on).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BENCH_SLOTS 16

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, BENCH_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} bench_const_jmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, BENCH_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} bench_rt_jmp SEC(".maps");

/* Always 0; writable, so its value is unknown to the verifier. */
volatile __u32 bench_rt_zero = 0;

/* The baseline, and the end of every raw chain. */
SEC("xdp")
int bench_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int bench_const_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &bench_const_jmp, 0);
	return XDP_ABORTED;
}

SEC("xdp")
int bench_rt_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &bench_rt_jmp, bench_rt_zero);
	return XDP_ABORTED;
}

#define BENCH_HOP(i)                                                                               \
	SEC("xdp")                                                                                 \
	int bench_const_##i(struct xdp_md *ctx)                                                    \
	{                                                                                          \
		bpf_tail_call(ctx, &bench_const_jmp, i + 1);                                       \
		return XDP_ABORTED;                                                                \
	}                                                                                          \
	SEC("xdp")                                                                                 \
	int bench_rt_##i(struct xdp_md *ctx)                                                       \
	{                                                                                          \
		bpf_tail_call(ctx, &bench_rt_jmp, i + 1 + bench_rt_zero);                          \
		return XDP_ABORTED;                                                                \
	}

BENCH_HOP(0)
BENCH_HOP(1)
BENCH_HOP(2)
BENCH_HOP(3)
BENCH_HOP(4)
BENCH_HOP(5)
BENCH_HOP(6)
BENCH_HOP(7)

char LICENSE[] SEC("license") = "GPL";
