/* eip: Extensible In-band Processing (EIP) information elements. mcd() is the midpoint of
 * Compressed Path Tracing (CPT): it pushes this node's Midpoint Compressed Data (MCD) on the
 * MCD stack a probe carries.
 *
 * Wire layout (the original hikepkg-eip mcd.bpf.c):
 *   IPv6 Hop-by-Hop header, option type 0x3e (EIP); its data is a list of LTVs.
 *   LTV header, 4 bytes: code(2) | length(6) in the first byte (length: the whole LTV in
 *     bytes), then the type in the next `code` bytes (code 1: one byte). CPT is type 2.
 *   CPT value: the MCD stack, 13 entries of 3 bytes, newest first:
 *     id_ld (16, network order) = interface ID(12) << 4 | interface load(4); tts (8).
 *   tts = (wall-clock ns >> shift) & 0xff: a truncated timestamp.
 */
#define HIKE_PACKAGE "eip"
#include "hike/hike.h"
#include "hike/ip6.h"
#include "hike/counter.h"

#define EIP_HBH_OPTION 0x3e
#define EIP_TYPE_CPT 2
#define EIP_MCD_SIZE 3
#define EIP_MCD_STACK 13
#define EIP_TTS_SHIFT_MAX 22
#define EIP_OPTS_MAX 16
#define EIP_LTVS_MAX 8

/* The node's MCD data (EIP_CFG_*), written by hike: an array of 4 u64. */
#define EIP_CFG_TIME_OFFSET 0 /* ns to add to bpf_ktime_get_boot_ns() for Unix wall-clock ns */
#define EIP_CFG_TTS_SHIFT 1   /* tts = wall-clock ns >> shift (≤ 22) */
#define EIP_CFG_IF_ID 2       /* interface ID (12 bits) */
#define EIP_CFG_IF_LOAD 3     /* interface load (4 bits) */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} eip_mcd_cfg SEC(".maps");

/* Per-CPU: [0] MCDs pushed, [1] packets without CPT, [2] not configured or malformed. */
HIKE_EVENT_COUNTER_MAP(eip_stats, 3);

static __always_inline __u64 eip_cfg(__u32 key)
{
	__u64 *value = bpf_map_lookup_elem(&eip_mcd_cfg, &key);

	return value ? *value : 0;
}

static __always_inline int eip_done(__u64 *regs, int result)
{
	hike_count_event(&eip_stats, result > 2 ? 2 : result);
	regs[0] = result;
	return HIKE_XDP_VM;
}

/* r0 = 0: this node's MCD is pushed on the CPT MCD stack (the oldest entry falls off);
 * 1: no Hop-by-Hop EIP option with a CPT element (packet untouched);
 * 2: eip_mcd_cfg has no time offset or a shift above 22 (packet untouched);
 * 3: the MCD stack is shorter than 13 entries or runs past the packet (packet untouched). */
HIKE_PROG(mcd)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct hike_cursor cur = { .pos = data, .end = end };
	struct ethhdr *eth = HIKE_TAKE(&cur, struct ethhdr);
	struct ipv6hdr *ip6;
	__u8 *hbh, *hbh_end, *p, *opt_end, *stack = NULL;
	__u64 offset, shift, realtime;
	__u32 off, limit, found = 0;
	__u16 id_ld;
	int i;

	if (!eth || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return eip_done(__hvm_regs, 1);
	ip6 = HIKE_TAKE(&cur, struct ipv6hdr);
	if (!ip6 || ip6->nexthdr != HIKE_NEXTHDR_HOP)
		return eip_done(__hvm_regs, 1);
	hbh = cur.pos;
	if ((void *)(hbh + 2) > end)
		return eip_done(__hvm_regs, 1);
	hbh_end = hbh + ((__u32)hbh[1] + 1) * 8;

	/* The EIP option. */
	p = hbh + 2;
	for (i = 0; i < EIP_OPTS_MAX; i++) {
		if ((void *)(p + 2) > end || p + 2 > hbh_end)
			return eip_done(__hvm_regs, 1);
		if (p[0] == 0) {
			p += 1;
			continue;
		}
		if (p[0] == EIP_HBH_OPTION)
			break;
		p += 2 + p[1];
	}
	if (i == EIP_OPTS_MAX)
		return eip_done(__hvm_regs, 1);
	opt_end = p + 2 + p[1];
	p += 2;

	/* The CPT element among its LTVs. Offsets from the frame's start, masked: the verifier
	 * then merges the paths of the option loop. */
	off = (__u32)(p - (__u8 *)data);
	limit = (__u32)(opt_end - (__u8 *)data);
	asm volatile("" : "+r"(off), "+r"(limit));
	off &= 0x1ff;
	limit &= 0x3ff;
	for (i = 0; i < EIP_LTVS_MAX; i++) {
		__u32 ltv, code, type, len;
		__u8 *q = (__u8 *)data + (off & 0x1ff);

		if ((void *)(q + 4) > end || off + 4 > limit)
			return eip_done(__hvm_regs, 1);
		ltv = (__u32)q[0] << 24 | (__u32)q[1] << 16 | (__u32)q[2] << 8 | q[3];
		len = (ltv >> 24) & 0x3f;
		code = ltv >> 30;
		type = (ltv & 0xffffff) >> (8 * (3 - code));
		if (type == EIP_TYPE_CPT) {
			if (len < 4 + EIP_MCD_SIZE * EIP_MCD_STACK)
				return eip_done(__hvm_regs, 3);
			found = 1;
			break;
		}
		if (len < 4)
			return eip_done(__hvm_regs, 1);
		off += len;
	}
	if (!found)
		return eip_done(__hvm_regs, 1);
	off += 4;
	if (off + EIP_MCD_SIZE * EIP_MCD_STACK > limit)
		return eip_done(__hvm_regs, 3);
	stack = (__u8 *)data + (off & 0x1ff);
	if ((void *)(stack + EIP_MCD_SIZE * EIP_MCD_STACK) > end)
		return eip_done(__hvm_regs, 3);

	offset = eip_cfg(EIP_CFG_TIME_OFFSET);
	shift = eip_cfg(EIP_CFG_TTS_SHIFT);
	if (!offset || shift > EIP_TTS_SHIFT_MAX)
		return eip_done(__hvm_regs, 2);
	realtime = bpf_ktime_get_boot_ns() + offset;
	id_ld = (eip_cfg(EIP_CFG_IF_ID) & 0xfff) << 4 | (eip_cfg(EIP_CFG_IF_LOAD) & 0xf);

	/* Shift the stack by one entry, newest first. */
	for (i = EIP_MCD_SIZE * EIP_MCD_STACK - 1; i >= EIP_MCD_SIZE; i--)
		stack[i] = stack[i - EIP_MCD_SIZE];
	stack[0] = id_ld >> 8;
	stack[1] = id_ld & 0xff;
	stack[2] = (realtime >> shift) & 0xff;
	return eip_done(__hvm_regs, 0);
}
EXPORT_HIKE_PROG(mcd);
EXPORT_HIKE_PROG_MAP(mcd, eip_mcd_cfg);
EXPORT_HIKE_CLOCK_MAP(mcd, eip_mcd_cfg, HIKE_CLOCK_UNIX);
EXPORT_HIKE_PROG_MAP(mcd, eip_stats);

char LICENSE[] SEC("license") = "GPL";
