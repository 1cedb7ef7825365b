/* The hook a HIKe object is built for: XDP (the default) or tc (-DHIKE_TC, clsact ingress or
 * egress, `struct __sk_buff`). Chains and programs are written once against `struct hike_ctx`
 * and XDP verdicts; the entry points turn the verdict into the hook's own action.
 *
 * At tc, the VM's program table is hvm_progs_tc: a program array takes the type of the first
 * program put in it, so the tc twins of the programs live at the same IDs in a table of their
 * own. Every other VM map is shared by both hooks.
 */
#ifndef HIKE_HOOK_H
#define HIKE_HOOK_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#ifdef HIKE_TC

#define hike_ctx __sk_buff
#define HIKE_SEC "tc"
#define HVM_PROGS hvm_progs_tc

/* What the packet's XDP verdict means at tc: PASS goes on (TC_ACT_OK), REDIRECT keeps the
 * redirect a program asked for, everything else (DROP, ABORTED, TX) drops it. */
static __always_inline int hike_hook_verdict(int verdict)
{
	switch (verdict) {
	case XDP_PASS:
		return TC_ACT_OK;
	case XDP_REDIRECT:
		return TC_ACT_REDIRECT;
	default:
		return TC_ACT_SHOT;
	}
}

/* The first bytes of the packet in the linear area, where direct access can read them (a
 * locally sent GSO packet may hold little more than its headers there). */
#define HIKE_TC_PULL 128

static __always_inline void hike_hook_prepare(struct __sk_buff *ctx)
{
	__u32 linear = ctx->data_end - ctx->data;

	if (linear < HIKE_TC_PULL && ctx->len > linear)
		bpf_skb_pull_data(ctx, ctx->len < HIKE_TC_PULL ? ctx->len : HIKE_TC_PULL);
}

/* The whole packet's length, beyond the linear area. */
static __always_inline __u64 hike_hook_packet_length(struct __sk_buff *ctx)
{
	return ctx->len;
}

#else

#define hike_ctx xdp_md
#define HIKE_SEC "xdp"
#define HVM_PROGS hvm_progs

#define hike_hook_verdict(verdict) (verdict)
#define hike_hook_prepare(ctx) ((void)(ctx))

/* As pointers, so that the compiler never spills a packet pointer as a 32-bit value. */
static __always_inline __u64 hike_hook_packet_length(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	/* Opaque to the optimiser: else it subtracts the 32-bit ctx fields and spills a packet
	 * pointer in 4 bytes, which the verifier refuses. */
	asm volatile("" : "+r"(data), "+r"(data_end));
	return data_end - data;
}

#endif

#endif
