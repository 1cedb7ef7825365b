/* Raw tail-call chains that end in XDP forwarding, for the `tailcalls` scenario of
 * `hike bench run` (Fig. 7.9 of the thesis).
 *
 * tcfwd_entry tail-calls slot 0 of tcfwd_jmp; tcfwd_hop_i tail-calls slot i + 1 (constant
 * indexes: the JIT patches direct jumps). For N no-op programs user space puts tcfwd_hop_0 …
 * tcfwd_hop_{N-1} in slots 0 … N-1 and tcfwd_fwd in slot N, so a packet goes through N no-op
 * programs and N + 1 tail calls, then is forwarded as gen_fwd6 does (bpf_fib_lookup + redirect).
 * An empty slot falls through to XDP_ABORTED.
 */
#include "hike/fib.h"
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TCFWD_SLOTS 16

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, TCFWD_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} tcfwd_jmp SEC(".maps");

SEC("xdp")
int tcfwd_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &tcfwd_jmp, 0);
	return XDP_ABORTED;
}

#define TCFWD_HOP(i)                                                                               \
	SEC("xdp")                                                                                 \
	int tcfwd_hop_##i(struct xdp_md *ctx)                                                      \
	{                                                                                          \
		bpf_tail_call(ctx, &tcfwd_jmp, i + 1);                                             \
		return XDP_ABORTED;                                                                \
	}

TCFWD_HOP(0)
TCFWD_HOP(1)
TCFWD_HOP(2)
TCFWD_HOP(3)
TCFWD_HOP(4)
TCFWD_HOP(5)
TCFWD_HOP(6)
TCFWD_HOP(7)

/* gen_fwd6 without its counters: FIB lookup, hop limit, MACs, redirect; else XDP_PASS. */
SEC("xdp")
int tcfwd_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);

	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	return hike_fib_forward6(ctx, eth, ip6);
}

char LICENSE[] SEC("license") = "GPL";
