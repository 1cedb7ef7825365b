/* Exports every numeric constant and struct layout of srv6.h into section .hike.abi, so that a
 * Swift test can check SRv6.SRv6ABI against what the C side compiles with. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "hike/srv6.h"
#include "hike/pm.h" /* PM_FLOW_MAX: the range of srv6_policy.pm_flow */

struct abi_constant {
	char name[40];
	__u64 value;
};

#define C(x) { #x, (__u64)(x) }
#define ROW(b, kind, inner, lookup) { "row " #b, (__u64)(kind) << 16 | (__u64)(inner) << 8 | (lookup) },
#define OFF(s, f) { "offsetof(" #s ", " #f ")", __builtin_offsetof(struct s, f) }

static const struct abi_constant abi_constants[] SEC(".hike.abi") __attribute__((used)) = {
	C(SRV6_MAX_SEGMENTS), C(SRV6_MAX_POLICIES), C(SRV6_MAX_SIDS), C(SRV6_MAX_ROUTES), C(SRV6_ROUTING_TYPE),
	C(SRV6_HEADEND_ENCAPS), C(SRV6_HEADEND_ENCAPS_RED), C(SRV6_HEADEND_INSERT), C(SRV6_HEADEND_INSERT_RED),
	C(SRV6_HEADEND_ENCAPS_L2),
	C(SRV6_END), C(SRV6_END_X), C(SRV6_END_T), C(SRV6_END_DX6), C(SRV6_END_DX4), C(SRV6_END_DT6),
	C(SRV6_END_DT4), C(SRV6_END_DT46), C(SRV6_END_AS), C(SRV6_END_AM), C(SRV6_END_AD), C(SRV6_PROXY_HDR_MAX),
	C(SRV6_FLV_PSP), C(SRV6_FLV_USP), C(SRV6_FLV_USD), C(SRV6_FLV_NEXT_CSID),
	C(SRV6_R_OK), C(SRV6_R_NO_SRH), C(SRV6_R_BAD_HDRLEN), C(SRV6_R_SL_PAST_LAST), C(SRV6_R_TRUNCATED),
	C(SRV6_R_HOP_LIMIT), C(SRV6_R_SL_ZERO), C(SRV6_R_SL_NONZERO), C(SRV6_R_BAD_NEXT_HEADER),
	C(SRV6_R_NO_ENTRY), C(SRV6_R_WRONG_BEHAVIOUR), C(SRV6_R_NO_ROOM), C(SRV6_R_FIB_MISS), C(SRV6_R_LOCAL),
	C(SRV6_R_NOT_IP), C(SRV6_R_TLV), C(SRV6_R_TX_UNREADY), C(SRV6_R_NO_CACHE), C(SRV6_R_CACHE_TOO_BIG),
	C(SRV6_R_CONTROL), C(SRV6_R_MAX),
	C(SRV6_FALLBACK_KERNEL_ROUTE), C(SRV6_FALLBACK_NONE),
	C(sizeof(struct srv6_srh)), C(sizeof(struct srv6_policy)), C(sizeof(struct srv6_sid)),
	C(sizeof(struct srv6_stats)), C(sizeof(struct srv6_lpm6_key)), C(sizeof(struct srv6_lpm4_key)),
	C(sizeof(struct srv6_proxy_cache)), C(sizeof(struct srv6_proxy_stats)),
	OFF(srv6_policy, mode), OFF(srv6_policy, nsegs), OFF(srv6_policy, flags), OFF(srv6_policy, hop_limit),
	OFF(srv6_policy, tag), OFF(srv6_policy, fallback), OFF(srv6_policy, src), OFF(srv6_policy, segments),
	OFF(srv6_policy, pm_flow), C(PM_FLOW_MAX),
	OFF(srv6_sid, behaviour), OFF(srv6_sid, flavours), OFF(srv6_sid, table), OFF(srv6_sid, oif),
	OFF(srv6_sid, lblen), OFF(srv6_sid, nflen), OFF(srv6_sid, fallback), OFF(srv6_sid, nh4), OFF(srv6_sid, nh6),
	OFF(srv6_sid, iif), OFF(srv6_sid, inner), OFF(srv6_sid, age_ms), OFF(srv6_proxy_cache, learned_ns), OFF(srv6_proxy_cache, h),
	OFF(srv6_stats, packets), OFF(srv6_stats, bytes), OFF(srv6_stats, errors),
	OFF(srv6_lpm6_key, addr), OFF(srv6_lpm4_key, addr),
	/* The behaviour table, a row each: kind << 16 | inner << 8 | lookup. */
	SRV6_BEHAVIOURS(ROW)
};

/* A program, so the object is a loadable eBPF object like the others. */
SEC("xdp")
int srv6_abi_export(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
