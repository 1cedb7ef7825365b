/* The routingpaolo package: the programs of the original hikepkg-routingpaolo, written anew from
 * their semantics (docs/packages.md#routingpaolo lists where they deliberately differ). One
 * object, so they share one counter map. sr6_encap, the package's headend, is a program of the
 * srv6 object (bpf/packages/srv6/sr6_encap.h): it must read the srv6 package's policies, and hike
 * pins maps per object.
 *
 * As in the original, every program first reads the IPv6 header — a frame that is not Ethernet +
 * IPv6, or too short for the header, is aborted (XDP_ABORTED) — and hands a packet whose hop
 * limit is 1 or 0 to the kernel (XDP_PASS), which answers Time Exceeded. A program that carries
 * on leaves r0 = 0 (the original left r0 unwritten) and continues the chain; every other outcome
 * is a verdict that ends it. Offsets are from the frame's start: Ethernet, then IPv6. */
#define HIKE_PACKAGE "routingpaolo"
#include "hike/hike.h"
#include "hike/ip6.h"
#include "hike/tx.h"
#include "hike/counter.h"
#include "hike/fib.h"

/* paolo_stats[program * PAOLO_OUTCOMES + outcome]: packets and frame bytes, per CPU. */
#define PAOLO_DST_FILTER 0
#define PAOLO_CHADDR 1
#define PAOLO_ADV_USID 2
#define PAOLO_KROUTE 3
#define PAOLO_SEG6_END 4
#define PAOLO_SEG6_END2 5
#define PAOLO_SEG6_DECAP 6
#define PAOLO_SEG6_DECAP2 7
#define PAOLO_PROGRAMS 8

#define PAOLO_DONE 0          /* carried on (r0 = 0); paolo_kroute: redirected */
#define PAOLO_NOT_IPV6 1      /* not Ethernet + IPv6, or shorter than the IPv6 header: XDP_ABORTED */
#define PAOLO_HOP_LIMIT 2     /* hop limit ≤ 1: XDP_PASS */
#define PAOLO_NO_ENTRY 3      /* the configuration map has no entry at the key: XDP_ABORTED */
#define PAOLO_NOT_TAKEN 4     /* filter: another destination (XDP_PASS); adv_usid: no next uSID
			       * (XDP_ABORTED); kroute: the kernel's to forward (XDP_PASS) */
#define PAOLO_BAD_SRH 5       /* no SRH where one is needed, or one cut short: XDP_ABORTED */
#define PAOLO_SEGMENTS_LEFT 6 /* End: Segments Left 0; decap: Segments Left not 0: XDP_ABORTED */
#define PAOLO_OTHER 7         /* decap: an inner protocol it does not take, or a frame that cannot
			       * shrink (XDP_ABORTED); kroute: a blackhole, unreachable or
			       * prohibited route (XDP_DROP) */
#define PAOLO_OUTCOMES 8

HIKE_COUNTER_MAP(paolo_stats, PAOLO_PROGRAMS *PAOLO_OUTCOMES);

/* ip6_dst[0]: the destination paolo_ip6_dst_filter lets through. chaddr[2]: the destination
 * paolo_chaddr writes. The keys are u16 in host order (bytes 00 00 and 02 00), as the original
 * used them (it declared them __be16 but stored host-order numbers). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, __u16);
	__type(value, struct in6_addr);
} ip6_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, __u16);
	__type(value, struct in6_addr);
} chaddr SEC(".maps");

#define PAOLO_IP6_DST_KEY 0
#define PAOLO_CHADDR_KEY 2

#define PAOLO_EXT_MAX 4  /* extension headers looked at, the Routing header included */
#define PAOLO_SRH_MIN 24 /* the SRH's 8 bytes and one segment */
#define PAOLO_SRH_TYPE 4 /* Routing Type of an SRH (RFC 8754) */
#define PAOLO_GO_ON (-1)

static __always_inline int paolo_count(__u32 program, __u32 outcome, __u64 bytes, int verdict)
{
	hike_count(&paolo_stats, program * PAOLO_OUTCOMES + outcome, bytes);
	return verdict;
}

/* The common first steps: the Ethernet and IPv6 headers (bounds-checked), or the verdict for a
 * packet the program does not process. Returns PAOLO_GO_ON to process it. */
static __always_inline int paolo_start(struct xdp_md *ctx, __u32 program, struct ethhdr **eth, struct ipv6hdr **ip6,
				       __u64 *bytes)
{
	*bytes = ctx->data_end - ctx->data;
	*eth = NULL;
	*ip6 = hike_ip6(ctx, eth);
	if (!*ip6 || !*eth)
		return paolo_count(program, PAOLO_NOT_IPV6, *bytes, XDP_ABORTED);
	if ((*ip6)->hop_limit <= 1)
		return paolo_count(program, PAOLO_HOP_LIMIT, *bytes, XDP_PASS);
	return PAOLO_GO_ON;
}

/* The program carries on: r0 = 0, the chain goes on. */
static __always_inline int paolo_continue(__u64 *regs, __u32 program, __u64 bytes)
{
	regs[0] = 0;
	return paolo_count(program, PAOLO_DONE, bytes, HIKE_XDP_VM);
}

static __always_inline int paolo_addr_equal(const struct in6_addr *a, const struct in6_addr *b)
{
	return !((a->s6_addr32[0] ^ b->s6_addr32[0]) | (a->s6_addr32[1] ^ b->s6_addr32[1]) |
		 (a->s6_addr32[2] ^ b->s6_addr32[2]) | (a->s6_addr32[3] ^ b->s6_addr32[3]));
}

/* The first Routing header among the IPv6 header's extension headers, behind the Hop-by-Hop and
 * Destination Options headers that may precede it (PAOLO_EXT_MAX headers in all, the Routing
 * header included), when it is an SRH (type 4) whose first PAOLO_SRH_MIN bytes are in the frame
 * and whose length holds them: the header (checked for those bytes), its offset from the
 * frame's start in *off and its length in *len. NULL when there is none or it is not such an
 * SRH. */
static __always_inline __u8 *paolo_find_srh(struct xdp_md *ctx, struct ipv6hdr *ip6, __u32 *off, __u32 *len)
{
	struct hike_cursor cur = { .pos = ip6 + 1, .end = (void *)(long)ctx->data_end };
	__u8 *h;

	if (hike_ip6_skip_ext(&cur, ip6->nexthdr, PAOLO_EXT_MAX - 1, HIKE_NEXTHDR_ROUTING) != HIKE_NEXTHDR_ROUTING)
		return NULL;
	h = cur.pos;
	if ((void *)(h + PAOLO_SRH_MIN) > cur.end || h[2] != PAOLO_SRH_TYPE)
		return NULL;
	*len = ((__u32)h[1] + 1) << 3;
	*off = (__u32)((void *)h - (void *)(long)ctx->data);
	return *len >= PAOLO_SRH_MIN ? h : NULL;
}

/* Removes `strip` bytes after the Ethernet header (the outer IPv6 header and its extension
 * headers) and gives the frame the inner packet's EtherType. 0, or -1 when the frame cannot
 * shrink by that much. */
static __always_inline int paolo_strip(struct xdp_md *ctx, __u32 strip, __u16 proto)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ethhdr saved;

	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(&saved, eth, sizeof(saved));
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, saved.h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_source, saved.h_source, ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
	return 0;
}

/* ---- paolo_ip6_dst_filter ----------------------------------------------------------------- */

/* Only packets to ip6_dst[0] go on; any other goes to the kernel. */
HIKE_PROG(paolo_ip6_dst_filter)
{
	__u16 key = PAOLO_IP6_DST_KEY;
	struct in6_addr *want;
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u64 bytes;
	int v = paolo_start(ctx, PAOLO_DST_FILTER, &eth, &ip6, &bytes);

	if (v != PAOLO_GO_ON)
		return v;
	want = bpf_map_lookup_elem(&ip6_dst, &key);
	if (!want)
		return paolo_count(PAOLO_DST_FILTER, PAOLO_NO_ENTRY, bytes, XDP_ABORTED);
	if (!paolo_addr_equal(&ip6->daddr, want))
		return paolo_count(PAOLO_DST_FILTER, PAOLO_NOT_TAKEN, bytes, XDP_PASS);
	return paolo_continue(__hvm_regs, PAOLO_DST_FILTER, bytes);
}
EXPORT_HIKE_PROG(paolo_ip6_dst_filter);
EXPORT_HIKE_PROG_MAP(paolo_ip6_dst_filter, ip6_dst);
EXPORT_HIKE_PROG_MAP(paolo_ip6_dst_filter, paolo_stats);

/* ---- paolo_chaddr ------------------------------------------------------------------------- */

/* The destination becomes chaddr[2]; nothing else changes (no checksum is fixed). */
HIKE_PROG(paolo_chaddr)
{
	__u16 key = PAOLO_CHADDR_KEY;
	struct in6_addr *addr;
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u64 bytes;
	int v = paolo_start(ctx, PAOLO_CHADDR, &eth, &ip6, &bytes);

	if (v != PAOLO_GO_ON)
		return v;
	addr = bpf_map_lookup_elem(&chaddr, &key);
	if (!addr)
		return paolo_count(PAOLO_CHADDR, PAOLO_NO_ENTRY, bytes, XDP_ABORTED);
	ip6->daddr = *addr;
	return paolo_continue(__hvm_regs, PAOLO_CHADDR, bytes);
}
EXPORT_HIKE_PROG(paolo_chaddr);
EXPORT_HIKE_PROG_MAP(paolo_chaddr, chaddr);
EXPORT_HIKE_PROG_MAP(paolo_chaddr, paolo_stats);

/* ---- paolo_adv_usid ----------------------------------------------------------------------- */

/* The uSID shift of a 32-bit block and 16-bit uSIDs: the active uSID (bytes 4–5 of the
 * destination) is dropped, the ones after it (bytes 6–15) move up two bytes and zeros fill the
 * end. A destination whose bytes 6–15 are all zero has no next uSID: the packet is dropped
 * (XDP_ABORTED, the original's). */
HIKE_PROG(paolo_adv_usid)
{
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u64 bytes;
	__u8 *d, rest = 0;
	int v = paolo_start(ctx, PAOLO_ADV_USID, &eth, &ip6, &bytes), i;

	if (v != PAOLO_GO_ON)
		return v;
	d = ip6->daddr.s6_addr;
#pragma unroll
	for (i = 6; i < 16; i++)
		rest |= d[i];
	if (!rest)
		return paolo_count(PAOLO_ADV_USID, PAOLO_NOT_TAKEN, bytes, XDP_ABORTED);
#pragma unroll
	for (i = 4; i < 14; i++)
		d[i] = d[i + 2];
	d[14] = 0;
	d[15] = 0;
	return paolo_continue(__hvm_regs, PAOLO_ADV_USID, bytes);
}
EXPORT_HIKE_PROG(paolo_adv_usid);
EXPORT_HIKE_PROG_MAP(paolo_adv_usid, paolo_stats);

/* ---- paolo_kroute ------------------------------------------------------------------------- */

/* IPv6 forwarding with the kernel's tables, as hike_default's ip6_kroute (hike/fib.h): a route
 * with a resolved neighbour gets the next hop's MACs, hop limit − 1 and XDP_REDIRECT. As the
 * original, a blackhole, unreachable or prohibited route drops the packet (ip6_kroute leaves it
 * to the kernel); everything else — a local destination, no neighbour yet, the MTU, forwarding
 * off, an interface that cannot take redirected frames (hike/tx.h) — goes to the kernel. Final. */
HIKE_PROG(paolo_kroute)
{
	struct bpf_fib_lookup fib;
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u64 bytes;
	long rc;
	int v = paolo_start(ctx, PAOLO_KROUTE, &eth, &ip6, &bytes);

	if (v != PAOLO_GO_ON)
		return v;
	hike_fib_params6(ctx, ip6, &fib);
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		if (!hike_tx_ready(fib.ifindex))
			return paolo_count(PAOLO_KROUTE, PAOLO_NOT_TAKEN, bytes, XDP_PASS);
		return paolo_count(PAOLO_KROUTE, PAOLO_DONE, bytes, hike_fib_redirect6(eth, ip6, &fib));
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return paolo_count(PAOLO_KROUTE, PAOLO_OTHER, bytes, XDP_DROP);
	default:
		return paolo_count(PAOLO_KROUTE, PAOLO_NOT_TAKEN, bytes, XDP_PASS);
	}
}
EXPORT_HIKE_PROG(paolo_kroute);
HIKE_PROG_FINAL(paolo_kroute);
EXPORT_HIKE_PROG_MAP(paolo_kroute, paolo_stats);

/* ---- paolo_seg6_end, paolo_seg6_end2 ------------------------------------------------------ */

/* End without the forwarding: Segments Left − 1 and the destination becomes Segment List[new
 * Segments Left] (RFC 8754 §4.3.1.1). The original copied Segment List[0] whatever Segments Left
 * was (pointer arithmetic on a zero-length array), which is right only for the last segment.
 * The hop limit stays; the SRH's other fields are not validated, as in the original, except that
 * the segment read must lie within the SRH. */
static __always_inline int paolo_seg6_end_run(struct xdp_md *ctx, __u64 *regs, __u32 program)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct in6_addr *seg;
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u32 off = 0, len = 0, sl;
	__u64 bytes;
	__u8 *srh;
	int v = paolo_start(ctx, program, &eth, &ip6, &bytes);

	if (v != PAOLO_GO_ON)
		return v;
	srh = paolo_find_srh(ctx, ip6, &off, &len);
	if (!srh)
		return paolo_count(program, PAOLO_BAD_SRH, bytes, XDP_ABORTED);
	sl = srh[3];
	if (sl == 0)
		return paolo_count(program, PAOLO_SEGMENTS_LEFT, bytes, XDP_ABORTED);
	sl -= 1;
	if (8 + ((sl + 1) << 4) > len)
		return paolo_count(program, PAOLO_BAD_SRH, bytes, XDP_ABORTED);
	/* Hidden from the compiler, so the mask stays: 6.1's verifier loses sl's bound across the
	 * subtraction and would see an offset outside the packet. */
	asm volatile("" : "+r"(sl));
	seg = (void *)(srh + 8) + ((sl & 0xff) << 4);
	if ((void *)(seg + 1) > data_end)
		return paolo_count(program, PAOLO_BAD_SRH, bytes, XDP_ABORTED);
	srh[3] = sl;
	ip6->daddr = *seg;
	return paolo_continue(regs, program, bytes);
}

HIKE_PROG(paolo_seg6_end)
{
	return paolo_seg6_end_run(ctx, __hvm_regs, PAOLO_SEG6_END);
}
EXPORT_HIKE_PROG(paolo_seg6_end);
EXPORT_HIKE_PROG_MAP(paolo_seg6_end, paolo_stats);

/* The original's paolo_seg6_end2 called a function its header did not define and so never
 * compiled; its intent was paolo_seg6_end's, which it is here (counted apart). */
HIKE_PROG(paolo_seg6_end2)
{
	return paolo_seg6_end_run(ctx, __hvm_regs, PAOLO_SEG6_END2);
}
EXPORT_HIKE_PROG(paolo_seg6_end2);
EXPORT_HIKE_PROG_MAP(paolo_seg6_end2, paolo_stats);

/* ---- paolo_seg6_decap --------------------------------------------------------------------- */

/* Decapsulation at the last segment (an SRH is required, Segments Left 0): the outer IPv6
 * header and its extension headers up to the end of the SRH go; the inner packet (SRH next
 * header 4: IPv4, 41: IPv6) follows the Ethernet header, whose EtherType becomes the inner
 * packet's. The original took next header 0 for IPv4 and removed 40 + the SRH's length, i.e.
 * assumed the SRH right after the IPv6 header. */
HIKE_PROG(paolo_seg6_decap)
{
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u32 off = 0, len = 0;
	__u64 bytes;
	__u16 proto;
	__u8 *srh;
	int v = paolo_start(ctx, PAOLO_SEG6_DECAP, &eth, &ip6, &bytes);

	if (v != PAOLO_GO_ON)
		return v;
	srh = paolo_find_srh(ctx, ip6, &off, &len);
	if (!srh)
		return paolo_count(PAOLO_SEG6_DECAP, PAOLO_BAD_SRH, bytes, XDP_ABORTED);
	if (srh[3] != 0)
		return paolo_count(PAOLO_SEG6_DECAP, PAOLO_SEGMENTS_LEFT, bytes, XDP_ABORTED);
	if (srh[0] == HIKE_NEXTHDR_IPIP)
		proto = ETH_P_IP;
	else if (srh[0] == HIKE_NEXTHDR_IPV6)
		proto = ETH_P_IPV6;
	else
		return paolo_count(PAOLO_SEG6_DECAP, PAOLO_OTHER, bytes, XDP_ABORTED);
	if (paolo_strip(ctx, off + len - ETH_HLEN, proto))
		return paolo_count(PAOLO_SEG6_DECAP, PAOLO_OTHER, bytes, XDP_ABORTED);
	return paolo_continue(__hvm_regs, PAOLO_SEG6_DECAP, bytes);
}
EXPORT_HIKE_PROG(paolo_seg6_decap);
EXPORT_HIKE_PROG_MAP(paolo_seg6_decap, paolo_stats);

/* ---- paolo_seg6_decap2 -------------------------------------------------------------------- */

/* Decapsulation with or without an SRH: an SRH right after the IPv6 header must have Segments
 * Left 0 and its next header names the inner packet, otherwise the IPv6 header's does. IPv4 (4)
 * and IPv6 (41) follow the Ethernet header, as in paolo_seg6_decap; an Ethernet frame (143)
 * becomes the frame, its own header first (the original left 14 bytes of the outer packet in
 * front of it and only moved its cursor). */
HIKE_PROG(paolo_seg6_decap2)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u32 delta = sizeof(struct ipv6hdr);
	__u64 bytes;
	__u8 nh, *srh;
	int v = paolo_start(ctx, PAOLO_SEG6_DECAP2, &eth, &ip6, &bytes);

	if (v != PAOLO_GO_ON)
		return v;
	nh = ip6->nexthdr;
	if (nh == HIKE_NEXTHDR_ROUTING) {
		srh = (void *)(ip6 + 1);
		if ((void *)(srh + PAOLO_SRH_MIN) > data_end || srh[2] != PAOLO_SRH_TYPE || srh[1] < 2)
			return paolo_count(PAOLO_SEG6_DECAP2, PAOLO_BAD_SRH, bytes, XDP_ABORTED);
		if (srh[3] != 0)
			return paolo_count(PAOLO_SEG6_DECAP2, PAOLO_SEGMENTS_LEFT, bytes, XDP_ABORTED);
		nh = srh[0];
		delta += ((__u32)srh[1] + 1) << 3;
	}
	if (nh == HIKE_NEXTHDR_IPIP || nh == HIKE_NEXTHDR_IPV6) {
		if (paolo_strip(ctx, delta, nh == HIKE_NEXTHDR_IPIP ? ETH_P_IP : ETH_P_IPV6))
			return paolo_count(PAOLO_SEG6_DECAP2, PAOLO_OTHER, bytes, XDP_ABORTED);
	} else if (nh == HIKE_NEXTHDR_ETHERNET) {
		/* adjust_head keeps at least an Ethernet header's worth of frame, or fails. */
		if (bpf_xdp_adjust_head(ctx, (int)(ETH_HLEN + delta)))
			return paolo_count(PAOLO_SEG6_DECAP2, PAOLO_OTHER, bytes, XDP_ABORTED);
	} else {
		return paolo_count(PAOLO_SEG6_DECAP2, PAOLO_OTHER, bytes, XDP_ABORTED);
	}
	return paolo_continue(__hvm_regs, PAOLO_SEG6_DECAP2, bytes);
}
EXPORT_HIKE_PROG(paolo_seg6_decap2);
EXPORT_HIKE_PROG_MAP(paolo_seg6_decap2, paolo_stats);

char LICENSE[] SEC("license") = "GPL";
