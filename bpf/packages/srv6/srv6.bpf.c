/* The srv6 package: SRv6 headend and endpoint behaviours (RFC 8986, RFC 8754, RFC 9800
 * NEXT-C-SID) as HIKe programs, hybrid with the kernel's seg6/seg6local. One object, so every
 * program shares the configuration and counter maps. The ABI (maps, reasons, arguments) is
 * bpf/include/hike/srv6.h; docs/srv6-dataplane.md describes each program's outcomes.
 *
 * Where the kernel implements a behaviour, the output is the kernel's, byte for byte: the
 * headends fill the outer header as seg6_do_srh_encap / seg6_do_srh_inline do with default
 * sysctls, and the endpoints rewrite as seg6_local.c does followed by ip6_forward (hop limit − 1)
 * or ip_forward (TTL − 1). Whatever the fast path cannot finish goes to the kernel: untouched
 * when a kernel route runs the same behaviour, else processed (endpoints) or dropped
 * (headends), as the entry's fallback says (srv6.h). */
#define HIKE_PACKAGE "srv6"
#include "hike/hike.h"
#include "hike/srv6.h"
#include "hike/pm_link.h"
#include "srh.h"
#include "fwd.h"
#include "icmp.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SRV6_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct srv6_policy);
} srv6_policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SRV6_MAX_SIDS);
	__type(key, __u32);
	__type(value, struct srv6_sid);
} srv6_sids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SRV6_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct srv6_stats);
} srv6_policy_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SRV6_MAX_SIDS);
	__type(key, __u32);
	__type(value, struct srv6_stats);
} srv6_sid_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SRV6_R_MAX);
	__type(key, __u32);
	__type(value, __u64);
} srv6_reasons SEC(".maps");

/* Internal outcome: USP popped the SRH and the upper layer is this node's: processed, and the
 * kernel delivers it (counted as SRV6_R_LOCAL). */
#define SRV6_POPPED_LOCAL 0x100

/* Reasons that are the packet's or the configuration's fault count as the entry's errors;
 * a missing neighbour, a local destination or the MTU are the kernel's to handle, not errors. */
static __always_inline int srv6_is_error(__u32 reason)
{
	return reason != SRV6_R_OK && reason != SRV6_R_FIB_MISS && reason != SRV6_R_LOCAL && reason != SRV6_R_NO_ROOM &&
	       reason != SRV6_R_CONTROL;
}

static __always_inline void srv6_account(void *stats_map, __u32 index, __u32 reason, __u64 bytes)
{
	__u32 counted = reason == SRV6_POPPED_LOCAL ? SRV6_R_LOCAL : reason;
	struct srv6_stats *s;
	__u64 *n;

	n = bpf_map_lookup_elem(&srv6_reasons, &counted);
	if (n)
		*n += 1;
	s = bpf_map_lookup_elem(stats_map, &index);
	if (!s)
		return;
	if (reason == SRV6_R_OK || reason == SRV6_POPPED_LOCAL) {
		s->packets++;
		s->bytes += bytes;
	} else if (srv6_is_error(reason)) {
		s->errors++;
	}
}

/* RFC-mandated drops are drops (a packet cut short cannot be parsed); everything else that
 * the fast path does not finish goes to the kernel, which answers with ICMPv6 where it should. */
static __always_inline int srv6_fallback_verdict(__u32 reason)
{
	return reason == SRV6_R_TRUNCATED ? XDP_DROP : XDP_PASS;
}

/* ---- Headends ------------------------------------------------------------------------------ */

static __always_inline const struct srv6_policy *srv6_policy_get(__u32 index, __u8 mode, __u32 *reason)
{
	const struct srv6_policy *pol = bpf_map_lookup_elem(&srv6_policies, &index);

	if (!pol || !pol->mode || !pol->nsegs || pol->nsegs > SRV6_MAX_SEGMENTS) {
		*reason = SRV6_R_NO_ENTRY;
		return NULL;
	}
	if (pol->mode != mode) {
		*reason = SRV6_R_WRONG_BEHAVIOUR;
		return NULL;
	}
	/* Reduced modes leave the first SID out of the SRH: an SRH-less Insert.Red would be no
	 * insert at all. */
	if (mode == SRV6_HEADEND_INSERT_RED && pol->nsegs < 2) {
		*reason = SRV6_R_NO_ENTRY;
		return NULL;
	}
	*reason = SRV6_R_OK;
	return pol;
}

/* H.Encaps, H.Encaps.Red, H.Encaps.L2: a new outer IPv6 header (+ SRH) in front of the IPv6 or
 * IPv4 packet (or, for L2, the whole Ethernet frame). Outer fields as seg6_do_srh_encap with
 * seg6_flowlabel = 0: an IPv6 inner packet gives its traffic class, flow label and hop limit;
 * otherwise they are 0, 0 and the policy's hop limit (0 = 64, the kernel's default).
 * A monitored policy (pm != NULL) also counts the packet under its pm flow and colour and marks
 * the outer header: the DSCP bits, or an AltMark Destination Options header before the SRH,
 * written with the rest of the outer headers (one head adjustment, no extra program call). */
static __always_inline __u32 srv6_encap_packet(struct xdp_md *ctx, const struct srv6_policy *pol, __u8 mode,
					      __u64 *bytes, struct pm_ingress *pm)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	struct srv6_srh *srh;
	struct ethhdr saved;
	__be32 flow = bpf_htonl(0x60000000);
	__u8 hl = pol->hop_limit ? pol->hop_limit : 64;
	__u32 frame_len, inner_len = 0, payload, srh_len, push, excess, n = pol->nsegs, k, j;
	__u32 doh = pm && pm->mode == PM_MODE_ALTMARK ? PM_DOH_LEN : 0, word;
	int l2 = mode == SRV6_HEADEND_ENCAPS_L2;
	__u8 proto = 0;

	if ((void *)(eth + 1) > data_end)
		return SRV6_R_NOT_IP;
	__builtin_memcpy(&saved, eth, sizeof(saved));
	frame_len = srv6_frame_len(ctx);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) <= data_end && ip6->version == 6) {
			flow = *(__be32 *)ip6;
			hl = ip6->hop_limit;
			inner_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
			proto = SRV6_NH_IPV6;
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);

		if ((void *)(ip4 + 1) <= data_end && ip4->version == 4 && ip4->ihl >= 5 &&
		    bpf_ntohs(ip4->tot_len) >= sizeof(*ip4)) {
			inner_len = bpf_ntohs(ip4->tot_len);
			proto = SRV6_NH_IPIP;
		}
	}
	if (!proto && !l2)
		return SRV6_R_NOT_IP;
	if (!proto) /* L2 with neither IP inside: the frame as it is */
		inner_len = frame_len - ETH_HLEN;
	if (ETH_HLEN + inner_len > frame_len)
		return SRV6_R_TRUNCATED;
	*bytes = inner_len;
	/* The kernel trims what follows the IP packet (Ethernet padding) before it encapsulates. */
	excess = frame_len - ETH_HLEN - inner_len;
	payload = inner_len + (l2 ? ETH_HLEN : 0);
	if (l2)
		proto = SRV6_NH_ETHERNET;

	k = mode == SRV6_HEADEND_ENCAPS_RED ? n - 1 : n; /* SRH entries */
	srh_len = k ? 8 + (k << 4) : 0;
	push = sizeof(*ip6) + doh + srh_len + (l2 ? ETH_HLEN : 0);
	if (doh + srh_len + payload > 0xffff)
		return SRV6_R_NO_ROOM;
	if (excess && bpf_xdp_adjust_tail(ctx, -(int)excess))
		return SRV6_R_NO_ROOM;
	if (bpf_xdp_adjust_head(ctx, -(int)push))
		return SRV6_R_NO_ROOM;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > data_end)
		return SRV6_R_NO_ROOM; /* cannot happen: the frame just grew by more */
	__builtin_memcpy(eth, &saved, 2 * ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	word = (bpf_ntohl(flow) & 0x0fffffff) | 0x60000000;
	if (pm && !doh) /* DSCP mode: the two bits go into the word as it is written */
		word = pm_dscp_word(word, pm->colour);
	*(__be32 *)ip6 = bpf_htonl(word);
	ip6->payload_len = bpf_htons(doh + srh_len + payload);
	ip6->nexthdr = k ? SRV6_NH_ROUTING : proto;
	ip6->hop_limit = hl;
	ip6->saddr = pol->src;
	ip6->daddr = pol->segments[0];
	if (pm) {
		/* The same byte count as the egress's: the frame without the DOH. */
		pm_ingress_count(pm, ETH_HLEN + sizeof(*ip6) + srh_len + payload);
		if (doh) {
			__u8 *opt = (void *)(ip6 + 1);

			if ((void *)(opt + PM_DOH_LEN) > data_end)
				return SRV6_R_NO_ROOM; /* cannot happen: the frame just grew by more */
			pm_write_doh(opt, ip6->nexthdr, pm->flow, pm->colour);
			ip6->nexthdr = PM_NEXTHDR_DOH;
		}
	}
	if (!k)
		return SRV6_R_OK;

	srh = (void *)(ip6 + 1) + doh;
	if ((void *)(srh + 1) > data_end)
		return SRV6_R_NO_ROOM;
	srh->nexthdr = proto;
	srh->hdrlen = 2 * k;
	srh->type = SRV6_ROUTING_TYPE;
	srh->segments_left = n - 1;
	srh->last_entry = k - 1;
	srh->flags = pol->flags;
	srh->tag = bpf_htons(pol->tag);
#pragma unroll
	for (j = 0; j < SRV6_MAX_SEGMENTS; j++) {
		struct in6_addr *seg = (void *)(srh + 1) + j * sizeof(struct in6_addr);

		if (j >= k)
			break;
		if ((void *)(seg + 1) > data_end)
			return SRV6_R_NO_ROOM;
		*seg = pol->segments[(n - 1 - j) & (SRV6_MAX_SEGMENTS - 1)];
	}
	return SRV6_R_OK;
}

/* srv6_encap_packet on a policy, counted and marked under the policy's pm flow when it has one
 * that pm configured (srv6_h_encaps* and routingpaolo's sr6_encap). */
static __always_inline __u32 srv6_encap_policy(struct xdp_md *ctx, const struct srv6_policy *pol, __u8 mode,
					      __u64 *bytes)
{
	struct pm_ingress pm;

	if (pol->pm_flow && pm_ingress_lookup(pol->pm_flow, &pm) == 0)
		return srv6_encap_packet(ctx, pol, mode, bytes, &pm);
	return srv6_encap_packet(ctx, pol, mode, bytes, NULL);
}

/* H.Insert, H.Insert.Red: an SRH right after the IPv6 header, as the kernel's `mode inline`:
 * Segment List[0] is the original destination, the DA becomes the first SID, everything else
 * (traffic class, flow label, hop limit, source) stays. */
static __always_inline __u32 srv6_insert_packet(struct xdp_md *ctx, const struct srv6_policy *pol, __u8 mode,
					       __u64 *bytes)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct srv6_srh *srh;
	struct ethhdr saved_eth;
	struct ipv6hdr saved_ip6;
	__u32 frame_len, inner_len, srh_len, excess, n = pol->nsegs, k, j;

	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6) || ip6->version != 6)
		return SRV6_R_NOT_IP;
	frame_len = srv6_frame_len(ctx);
	inner_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if (ETH_HLEN + inner_len > frame_len)
		return SRV6_R_TRUNCATED;
	*bytes = inner_len;
	excess = frame_len - ETH_HLEN - inner_len;
	k = mode == SRV6_HEADEND_INSERT_RED ? n : n + 1; /* the original DA is entry 0 */
	srh_len = 8 + (k << 4);
	if (inner_len - sizeof(*ip6) + srh_len > 0xffff)
		return SRV6_R_NO_ROOM;
	__builtin_memcpy(&saved_eth, eth, sizeof(saved_eth));
	__builtin_memcpy(&saved_ip6, ip6, sizeof(saved_ip6));
	if (excess && bpf_xdp_adjust_tail(ctx, -(int)excess))
		return SRV6_R_NO_ROOM;
	if (bpf_xdp_adjust_head(ctx, -(int)srh_len))
		return SRV6_R_NO_ROOM;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip6 = (void *)(eth + 1);
	srh = (void *)(ip6 + 1);
	if ((void *)(srh + 1) + sizeof(struct in6_addr) > data_end)
		return SRV6_R_NO_ROOM; /* cannot happen: the frame just grew by more */
	__builtin_memcpy(eth, &saved_eth, sizeof(saved_eth));
	__builtin_memcpy(ip6, &saved_ip6, sizeof(saved_ip6));
	ip6->payload_len = bpf_htons(inner_len - sizeof(*ip6) + srh_len);
	ip6->nexthdr = SRV6_NH_ROUTING;
	ip6->daddr = pol->segments[0];
	srh->nexthdr = saved_ip6.nexthdr;
	srh->hdrlen = 2 * k;
	srh->type = SRV6_ROUTING_TYPE;
	srh->segments_left = n;
	srh->last_entry = k - 1;
	srh->flags = pol->flags;
	srh->tag = bpf_htons(pol->tag);
	*(struct in6_addr *)(srh + 1) = saved_ip6.daddr;
#pragma unroll
	for (j = 1; j <= SRV6_MAX_SEGMENTS; j++) {
		struct in6_addr *seg = (void *)(srh + 1) + j * sizeof(struct in6_addr);

		if (j >= k)
			break;
		if ((void *)(seg + 1) > data_end)
			return SRV6_R_NO_ROOM;
		*seg = pol->segments[(n - j) & (SRV6_MAX_SEGMENTS - 1)];
	}
	return SRV6_R_OK;
}

static __always_inline int srv6_headend(struct xdp_md *ctx, __u64 *regs, __u8 mode)
{
	__u32 index = regs[2] < SRV6_MAX_POLICIES ? (__u32)regs[2] : SRV6_MAX_POLICIES;
	const struct srv6_policy *pol;
	__u64 bytes = 0;
	__u32 reason;

	pol = srv6_policy_get(index, mode, &reason);
	if (pol) {
		if (mode == SRV6_HEADEND_INSERT || mode == SRV6_HEADEND_INSERT_RED)
			reason = srv6_insert_packet(ctx, pol, mode, &bytes);
		else
			reason = srv6_encap_policy(ctx, pol, mode, &bytes);
	}
	srv6_account(&srv6_policy_stats, index, reason, bytes);
	regs[0] = reason;
	if (reason == SRV6_R_OK)
		return HIKE_XDP_VM;
	/* Without a kernel route for the same policy, the kernel would forward the packet by its
	 * plain route, around the policy: drop it instead. */
	if (pol && pol->fallback == SRV6_FALLBACK_NONE)
		return XDP_DROP;
	return srv6_fallback_verdict(reason);
}

/* ---- Endpoints ----------------------------------------------------------------------------- */

/* NEXT-C-SID on a 128-bit address held as two host-order halves. */
static __always_inline void srv6_shl128(__u64 *hi, __u64 *lo, __u32 s)
{
	if (s == 0)
		return;
	if (s >= 128) {
		*hi = 0;
		*lo = 0;
	} else if (s >= 64) {
		*hi = s == 64 ? *lo : *lo << (s - 64);
		*lo = 0;
	} else {
		*hi = (*hi << s) | (*lo >> (64 - s));
		*lo <<= s;
	}
}

/* RFC 9800 §4.1.1 with the kernel's seg6_next_csid_advance_arg: the argument (what follows
 * Locator-Block + Locator-Node-Function) moves left by the node-function length into the
 * node-function position, zeros fill the end. Returns 0 when the argument is zero (the
 * C-SID is the last of its container: plain End / End.X processing applies). */
static __always_inline int srv6_csid_advance(const struct in6_addr *da, struct in6_addr *out, __u32 lb, __u32 nf)
{
	__u64 hi, lo, ah, al, sh, sl, mh, ml;

	__builtin_memcpy(&hi, &da->s6_addr[0], 8);
	__builtin_memcpy(&lo, &da->s6_addr[8], 8);
	hi = bpf_be64_to_cpu(hi);
	lo = bpf_be64_to_cpu(lo);
	ah = hi;
	al = lo;
	srv6_shl128(&ah, &al, lb + nf);
	if (!ah && !al)
		return 0;
	sh = hi;
	sl = lo;
	srv6_shl128(&sh, &sl, nf);
	if (lb >= 64) {
		mh = ~0ULL;
		ml = lb == 64 ? 0 : ~0ULL << (128 - lb);
	} else {
		mh = ~0ULL << (64 - lb);
		ml = 0;
	}
	hi = bpf_cpu_to_be64((hi & mh) | (sh & ~mh));
	lo = bpf_cpu_to_be64((lo & ml) | (sl & ~ml));
	__builtin_memcpy(&out->s6_addr[0], &hi, 8);
	__builtin_memcpy(&out->s6_addr[8], &lo, 8);
	return 1;
}

/* Outcomes the kernel finishes by itself once it has the processed packet: it resolves the
 * neighbour, routes what XDP may not forward (or cannot redirect to), answers Packet Too Big or
 * Time Exceeded, and —
 * for a lookup in the main table only — delivers locally. LOCAL also means "no route in the
 * table": from another table that would send every packet through the main one, so there
 * the packet goes untouched. */
static __always_inline int srv6_kernel_finishes(__u32 reason, __u32 table)
{
	if (reason == SRV6_R_LOCAL)
		return table == 0 || table == SRV6_TABLE_MAIN;
	return reason == SRV6_R_FIB_MISS || reason == SRV6_R_NO_ROOM || reason == SRV6_R_HOP_LIMIT ||
	       reason == SRV6_R_TX_UNREADY;
}

static __always_inline int srv6_addr_is_zero(const struct in6_addr *a)
{
	return !(a->s6_addr32[0] | a->s6_addr32[1] | a->s6_addr32[2] | a->s6_addr32[3]);
}

/* After a successful lookup: DA, hop limit − 1 (ip6_forward's), Segments Left (when set_sl),
 * the next hop's MACs; with pop, the SRH (right after the IPv6 header) is removed as the
 * kernel's seg6_pop_srh does. to_kernel: the same rewrite without the forwarding part (hop
 * limit, MACs, redirect): the kernel forwards the packet (XDP_PASS). */
static __always_inline __u32 srv6_transit_rewrite(struct xdp_md *ctx, struct srv6_pkt *p, struct bpf_fib_lookup *fib,
						 const struct in6_addr *da, int set_sl, __u8 new_sl, int pop,
						 int to_kernel, int *verdict)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 excess = p->frame_len - p->l3_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct ethhdr saved_eth;

	if ((void *)(ip6 + 1) > data_end)
		return SRV6_R_TRUNCATED;
	__builtin_memcpy(&saved_eth, eth, sizeof(saved_eth));
	if (pop) {
		struct ipv6hdr saved;
		__u8 *srh = data + SRV6_L4;

		if ((void *)(srh + 1) > data_end)
			return SRV6_R_TRUNCATED;
		__builtin_memcpy(&saved, ip6, sizeof(saved));
		saved.nexthdr = srh[0];
		saved.payload_len = bpf_htons(bpf_ntohs(saved.payload_len) - p->srh_len);
		saved.daddr = *da;
		if (!to_kernel)
			saved.hop_limit--;
		if (excess && bpf_xdp_adjust_tail(ctx, -(int)excess))
			return SRV6_R_NO_ROOM;
		if (bpf_xdp_adjust_head(ctx, (int)p->srh_len))
			return SRV6_R_NO_ROOM;
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		eth = data;
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return SRV6_R_NO_ROOM; /* cannot happen: the inner part is still there */
		__builtin_memcpy(ip6, &saved, sizeof(saved));
		eth->h_proto = bpf_htons(ETH_P_IPV6);
	} else {
		if (set_sl) {
			__u32 off = p->srh_off + 3;
			__u8 *slp;

			if (off > SRV6_OFF_MAX)
				return SRV6_R_TRUNCATED;
			slp = data + off;
			if ((void *)(slp + 1) > data_end)
				return SRV6_R_TRUNCATED;
			*slp = new_sl;
		}
		ip6->daddr = *da;
		if (!to_kernel)
			ip6->hop_limit--;
		if (excess && bpf_xdp_adjust_tail(ctx, -(int)excess))
			return SRV6_R_NO_ROOM; /* cannot happen: only the padding goes */
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		eth = data;
		if ((void *)(eth + 1) > data_end)
			return SRV6_R_NO_ROOM;
	}
	if (to_kernel) {
		/* The frame's own MACs (addressed to this node): the kernel forwards it. */
		__builtin_memcpy(eth->h_dest, saved_eth.h_dest, ETH_ALEN);
		__builtin_memcpy(eth->h_source, saved_eth.h_source, ETH_ALEN);
		*verdict = XDP_PASS;
		return SRV6_R_OK;
	}
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	pm_link_send(ctx, fib->ifindex);
	*verdict = bpf_redirect(fib->ifindex, 0);
	return SRV6_R_OK;
}

/* A transit behaviour's end: forward on a successful lookup (r = OK); otherwise, for a SID the
 * kernel has no route for (to_kernel), the rewritten packet goes to the kernel, which forwards
 * it by its own tables, when r is an outcome it finishes; else the packet goes untouched.
 * Returns r when the packet went to the kernel, so the reason is counted. */
static __always_inline __u32 srv6_transit_finish(struct xdp_md *ctx, struct srv6_pkt *p, struct bpf_fib_lookup *fib,
						const struct in6_addr *da, int set_sl, __u8 new_sl, int pop, __u32 r,
						__u32 table, int to_kernel, int *verdict)
{
	__u32 done;

	if (r == SRV6_R_OK)
		return srv6_transit_rewrite(ctx, p, fib, da, set_sl, new_sl, pop, 0, verdict);
	/* Hop limit ≤ 1 stays untouched: the Time Exceeded quotes the packet as received. */
	if (!to_kernel || !srv6_kernel_finishes(r, table) || r == SRV6_R_HOP_LIMIT)
		return r;
	done = srv6_transit_rewrite(ctx, p, fib, da, set_sl, new_sl, pop, 1, verdict);
	return done ? done : r;
}

/* USP: pops the SRH (SL = 0) and hands the rest to the kernel, whose the upper layer is. */
static __always_inline __u32 srv6_pop_to_kernel(struct xdp_md *ctx, struct srv6_pkt *p, int *verdict)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 excess = p->frame_len - p->l3_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct ethhdr saved_eth;
	struct ipv6hdr saved;
	__u8 *srh = data + SRV6_L4;

	if (p->srh_off != SRV6_L4)
		return SRV6_R_NO_ROOM; /* extension headers before the SRH: the kernel's */
	if ((void *)(srh + 1) > data_end)
		return SRV6_R_TRUNCATED;
	__builtin_memcpy(&saved_eth, eth, sizeof(saved_eth));
	__builtin_memcpy(&saved, ip6, sizeof(saved));
	saved.nexthdr = srh[0];
	saved.payload_len = bpf_htons(bpf_ntohs(saved.payload_len) - p->srh_len);
	if (excess && bpf_xdp_adjust_tail(ctx, -(int)excess))
		return SRV6_R_NO_ROOM;
	if (bpf_xdp_adjust_head(ctx, (int)p->srh_len))
		return SRV6_R_NO_ROOM;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > data_end)
		return SRV6_R_NO_ROOM;
	__builtin_memcpy(eth, &saved_eth, sizeof(saved_eth));
	__builtin_memcpy(ip6, &saved, sizeof(saved));
	*verdict = XDP_PASS;
	return SRV6_POPPED_LOCAL;
}

/* Decapsulation (End.DT*, End.DX*, USD): looks the inner packet up first (in rt, towards nh6 or
 * nh4 when set), and only on success removes the outer IPv6 header with all its extension
 * headers, as the kernel's decap_and_validate, and forwards the inner packet with its hop limit
 * or TTL − 1 (ip6_forward's, ip_forward's). inner_to_kernel (a SID the kernel has no route
 * for): when the kernel must finish (srv6_kernel_finishes), the inner packet, decapsulated but
 * not yet forwarded, goes to the kernel (XDP_PASS), which routes it in its own tables —
 * otherwise the kernel would get the outer packet and route it to the SID, with no behaviour
 * there. Returns the reason the kernel got it then. */
static __always_inline __u32 srv6_decap_forward(struct xdp_md *ctx, struct srv6_pkt *p, struct bpf_fib_lookup *fib,
					       const struct srv6_route *rt, const struct in6_addr *nh6, __be32 nh4,
					       int inner_to_kernel, int *verdict)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = p->upper_off, excess = p->frame_len - p->l3_end, r;
	struct ethhdr *eth = data;
	struct ethhdr saved_eth;

	if (off > SRV6_OFF_MAX)
		return SRV6_R_NO_ROOM;
	if ((void *)(eth + 1) > data_end)
		return SRV6_R_TRUNCATED;
	__builtin_memcpy(&saved_eth, eth, sizeof(saved_eth));
	if (p->upper == SRV6_NH_IPV6) {
		struct ipv6hdr *in6 = data + off;

		if ((void *)(in6 + 1) > data_end || off + sizeof(*in6) > p->l3_end)
			return SRV6_R_TRUNCATED;
		if (in6->version != 6)
			return SRV6_R_BAD_NEXT_HEADER;
		if (in6->hop_limit <= 1)
			r = SRV6_R_HOP_LIMIT;
		else
			r = srv6_fib6(ctx, fib, rt, &in6->saddr, nh6 && !srv6_addr_is_zero(nh6) ? nh6 : &in6->daddr,
				      *(__be32 *)in6, in6->nexthdr, p->l3_end - off);
	} else if (p->upper == SRV6_NH_IPIP) {
		struct iphdr *in4 = data + off;

		if ((void *)(in4 + 1) > data_end || off + sizeof(*in4) > p->l3_end)
			return SRV6_R_TRUNCATED;
		if (in4->version != 4 || in4->ihl < 5)
			return SRV6_R_BAD_NEXT_HEADER;
		if (in4->ttl <= 1)
			r = SRV6_R_HOP_LIMIT;
		else
			r = srv6_fib4(ctx, fib, rt, in4->saddr, nh4 ? nh4 : in4->daddr, in4->tos, in4->protocol,
				      p->l3_end - off);
	} else {
		return SRV6_R_BAD_NEXT_HEADER;
	}
	if (r != SRV6_R_OK && !(inner_to_kernel && srv6_kernel_finishes(r, rt->table)))
		return r;

	if (excess && bpf_xdp_adjust_tail(ctx, -(int)excess))
		return SRV6_R_NO_ROOM;
	if (bpf_xdp_adjust_head(ctx, (int)(off - ETH_HLEN)))
		return SRV6_R_NO_ROOM;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if (p->upper == SRV6_NH_IPV6) {
		struct ipv6hdr *in6 = (void *)(eth + 1);

		if ((void *)(in6 + 1) > data_end)
			return SRV6_R_NO_ROOM; /* cannot happen: checked before the move */
		if (r == SRV6_R_OK)
			in6->hop_limit--;
		eth->h_proto = bpf_htons(ETH_P_IPV6);
	} else {
		struct iphdr *in4 = (void *)(eth + 1);

		if ((void *)(in4 + 1) > data_end)
			return SRV6_R_NO_ROOM;
		if (r == SRV6_R_OK)
			srv6_ip4_decrease_ttl(in4);
		eth->h_proto = bpf_htons(ETH_P_IP);
	}
	if (r != SRV6_R_OK) {
		/* The frame as it came, addressed to this node: the kernel forwards the inner packet. */
		__builtin_memcpy(eth->h_dest, saved_eth.h_dest, ETH_ALEN);
		__builtin_memcpy(eth->h_source, saved_eth.h_source, ETH_ALEN);
		*verdict = XDP_PASS;
		return r;
	}
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	pm_link_send(ctx, fib->ifindex);
	*verdict = bpf_redirect(fib->ifindex, 0);
	return SRV6_R_OK;
}

static __always_inline int srv6_upper_is_ip(struct srv6_pkt *p)
{
	return p->upper == SRV6_NH_IPV6 || p->upper == SRV6_NH_IPIP;
}

/* The behaviour table of srv6.h as an array indexed by behaviour. Every program passes its
 * behaviour as a constant, so clang reads the row at compile time: no map, no verifier cost. */
struct srv6_behaviour_row {
	__u8 kind;   /* SRV6_KIND_*; 0: not an endpoint behaviour */
	__u8 inner;  /* SRV6_INNER_* a decapsulation takes */
	__u8 lookup; /* SRV6_LOOKUP_* */
};

#define SRV6_ROW(b, k, i, l) [b] = { .kind = (k), .inner = (i), .lookup = (l) },
static const struct srv6_behaviour_row srv6_behaviours[SRV6_END_AD + 1] = { SRV6_BEHAVIOURS(SRV6_ROW) };

/* End, End.X, End.T with their flavours (PSP, USP, USD, NEXT-C-SID). */
static __always_inline __u32 srv6_transit(struct xdp_md *ctx, const struct srv6_sid *sid, __u32 behaviour,
					 struct srv6_pkt *p, struct bpf_fib_lookup *fib, int *verdict)
{
	int to_kernel = sid->fallback == SRV6_FALLBACK_NONE;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + SRV6_L3;
	struct srv6_route rt = {};
	const struct in6_addr *nh = NULL;
	struct in6_addr da;
	struct in6_addr *seg;
	__u32 flv = sid->flavours, r;

	if ((void *)(ip6 + 1) > data_end)
		return SRV6_R_NOT_IP;
	if (srv6_behaviours[behaviour].lookup == SRV6_LOOKUP_TABLE)
		rt.table = sid->table;
	if (srv6_behaviours[behaviour].lookup == SRV6_LOOKUP_NEXTHOP) {
		rt.oif = sid->oif;
		if (!srv6_addr_is_zero(&sid->nh6))
			nh = &sid->nh6;
	}

	if (flv & SRV6_FLV_NEXT_CSID) {
		__u32 lb = sid->lblen ? sid->lblen : 32, nf = sid->nflen ? sid->nflen : 16;

		if ((lb & 7) || (nf & 7) || lb > 120 || nf > 120 || lb + nf > 128)
			return SRV6_R_NO_ENTRY;
		if (srv6_csid_advance(&ip6->daddr, &da, lb, nf)) {
			if (ip6->hop_limit <= 1)
				r = SRV6_R_HOP_LIMIT;
			else
				r = srv6_fib6(ctx, fib, &rt, &ip6->saddr, nh ? nh : &da, *(__be32 *)ip6, ip6->nexthdr,
					      p->l3_end - SRV6_L3);
			return srv6_transit_finish(ctx, p, fib, &da, 0, 0, 0, r, rt.table, to_kernel, verdict);
		}
	}

	/* Upper-layer processing (RFC 8986 §4.1.1): no SRH, or SL = 0. */
	if (!p->srh_off || p->sl == 0) {
		if ((flv & SRV6_FLV_USD) && srv6_upper_is_ip(p))
			return srv6_decap_forward(ctx, p, fib, &rt, nh, 0, to_kernel, verdict);
		if (!p->srh_off)
			return SRV6_R_NO_SRH;
		if (flv & SRV6_FLV_USP)
			return srv6_pop_to_kernel(ctx, p, verdict);
		return SRV6_R_SL_ZERO;
	}

	r = srv6_validate_srh(ctx, p);
	if (r)
		return r;
	seg = srv6_segment(ctx, p, p->sl - 1);
	if (!seg)
		return SRV6_R_TRUNCATED;
	da = *seg;
	if ((flv & SRV6_FLV_PSP) && p->sl == 1 && p->srh_off != SRV6_L4)
		return SRV6_R_NO_ROOM; /* PSP with extension headers before the SRH: the kernel's */
	if (ip6->hop_limit <= 1)
		r = SRV6_R_HOP_LIMIT;
	else
		r = srv6_fib6(ctx, fib, &rt, &ip6->saddr, nh ? nh : &da, *(__be32 *)ip6, ip6->nexthdr,
			      p->l3_end - SRV6_L3 - ((flv & SRV6_FLV_PSP) && p->sl == 1 ? p->srh_len : 0));
	return srv6_transit_finish(ctx, p, fib, &da, 1, p->sl - 1, (flv & SRV6_FLV_PSP) && p->sl == 1, r, rt.table,
				   to_kernel, verdict);
}

/* End.DT6/DT4/DT46 (lookup in the SID's table) and End.DX6/DX4 (cross-connect to nh6/nh4). */
static __always_inline __u32 srv6_decap(struct xdp_md *ctx, const struct srv6_sid *sid, __u32 behaviour,
				       struct srv6_pkt *p, struct bpf_fib_lookup *fib, int *verdict)
{
	const struct srv6_behaviour_row *row;
	struct srv6_route rt = {};
	const struct in6_addr *nh6 = NULL;
	__be32 nh4 = 0;

	if (p->other_rh)
		return SRV6_R_NO_SRH;
	if (p->srh_off) {
		if (p->sl != 0)
			return SRV6_R_SL_NONZERO;
		if (p->flags & SRV6_SR6_FLAG_HMAC)
			return SRV6_R_TLV;
	}
	row = &srv6_behaviours[behaviour];
	if (!((row->inner & SRV6_INNER_V6) && p->upper == SRV6_NH_IPV6) &&
	    !((row->inner & SRV6_INNER_V4) && p->upper == SRV6_NH_IPIP))
		return SRV6_R_BAD_NEXT_HEADER;
	if (row->lookup == SRV6_LOOKUP_TABLE) {
		rt.table = sid->table;
	} else { /* SRV6_LOOKUP_NEXTHOP: End.DX6, End.DX4 */
		rt.oif = sid->oif;
		if (p->upper == SRV6_NH_IPV6)
			nh6 = &sid->nh6;
		else
			nh4 = sid->nh4;
	}
	return srv6_decap_forward(ctx, p, fib, &rt, nh6, nh4, sid->fallback == SRV6_FALLBACK_NONE, verdict);
}

/* The verdict of an endpoint that has not rewritten the packet (srv6_endpoint). */
#define SRV6_UNTOUCHED (-1)

static __always_inline int srv6_endpoint(struct xdp_md *ctx, __u64 *regs, __u32 behaviour)
{
	__u32 index = regs[2] < SRV6_MAX_SIDS ? (__u32)regs[2] : SRV6_MAX_SIDS;
	struct bpf_fib_lookup fib;
	const struct srv6_sid *sid;
	struct srv6_pkt p;
	int verdict = SRV6_UNTOUCHED;
	__u32 reason;

	__builtin_memset(&p, 0, sizeof(p));
	sid = bpf_map_lookup_elem(&srv6_sids, &index);
	if (!sid || !sid->behaviour)
		reason = SRV6_R_NO_ENTRY;
	else if (sid->behaviour != behaviour)
		reason = SRV6_R_WRONG_BEHAVIOUR;
	else
		reason = srv6_parse(ctx, &p);
	if (sid && reason == SRV6_R_OK) {
		if (srv6_behaviours[behaviour].kind == SRV6_KIND_TRANSIT)
			reason = srv6_transit(ctx, sid, behaviour, &p, &fib, &verdict);
		else
			reason = srv6_decap(ctx, sid, behaviour, &p, &fib, &verdict);
	}
	srv6_account(&srv6_sid_stats, index, reason, p.l3_end > SRV6_L3 ? p.l3_end - SRV6_L3 : 0);
	regs[0] = reason == SRV6_POPPED_LOCAL ? SRV6_R_LOCAL : reason;
	if (reason == SRV6_R_OK || reason == SRV6_POPPED_LOCAL)
		return verdict == SRV6_UNTOUCHED ? XDP_PASS : verdict;
	/* Processed (rewritten for the kernel to forward as plain IP): the kernel finishes it. */
	if (verdict != SRV6_UNTOUCHED)
		return verdict;
	/* Untouched and no kernel route runs the behaviour: the kernel would route the packet as
	 * plain IPv6 to the SID (by a default route, out of the node), so it becomes the ICMPv6
	 * error the RFCs ask for, or is dropped. */
	if (sid && sid->fallback == SRV6_FALLBACK_NONE) {
		__u32 pointer = 0;
		__u8 type = srv6_icmp_type(reason, &p, &pointer);

		return type ? srv6_icmp_error(ctx, &p, type, pointer, &fib) : XDP_DROP;
	}
	return srv6_fallback_verdict(reason);
}

#include "proxy.h"

/* ---- The programs -------------------------------------------------------------------------- */

#define SRV6_HEADEND_PROG(name, mode)                                                              \
	HIKE_PROG(name)                                                                            \
	{                                                                                          \
		return srv6_headend(ctx, __hvm_regs, mode);                                        \
	}                                                                                          \
	EXPORT_HIKE_PROG_2(name, __u64, policy);                                                   \
	EXPORT_HIKE_PROG_MAP(name, srv6_policies);                                                 \
	EXPORT_HIKE_PROG_MAP(name, srv6_policy_stats);                                             \
	EXPORT_HIKE_PROG_MAP(name, srv6_reasons)

#define SRV6_ENDPOINT_PROG(name, behaviour)                                                        \
	HIKE_PROG(name)                                                                            \
	{                                                                                          \
		return srv6_endpoint(ctx, __hvm_regs, behaviour);                                  \
	}                                                                                          \
	EXPORT_HIKE_PROG_2(name, __u64, sid);                                                      \
	HIKE_PROG_FINAL(name);                                                                     \
	EXPORT_HIKE_PROG_MAP(name, srv6_sids);                                                     \
	EXPORT_HIKE_PROG_MAP(name, srv6_sid_stats);                                                \
	EXPORT_HIKE_PROG_MAP(name, srv6_icmp);                                                     \
	EXPORT_HIKE_PROG_MAP(name, srv6_reasons)

SRV6_HEADEND_PROG(srv6_h_encaps, SRV6_HEADEND_ENCAPS);
SRV6_HEADEND_PROG(srv6_h_encaps_red, SRV6_HEADEND_ENCAPS_RED);
SRV6_HEADEND_PROG(srv6_h_insert, SRV6_HEADEND_INSERT);
SRV6_HEADEND_PROG(srv6_h_insert_red, SRV6_HEADEND_INSERT_RED);
SRV6_HEADEND_PROG(srv6_h_encaps_l2, SRV6_HEADEND_ENCAPS_L2);

SRV6_ENDPOINT_PROG(srv6_end, SRV6_END);
SRV6_ENDPOINT_PROG(srv6_end_x, SRV6_END_X);
SRV6_ENDPOINT_PROG(srv6_end_t, SRV6_END_T);
SRV6_ENDPOINT_PROG(srv6_end_dt6, SRV6_END_DT6);
SRV6_ENDPOINT_PROG(srv6_end_dt4, SRV6_END_DT4);
SRV6_ENDPOINT_PROG(srv6_end_dt46, SRV6_END_DT46);
SRV6_ENDPOINT_PROG(srv6_end_dx6, SRV6_END_DX6);
SRV6_ENDPOINT_PROG(srv6_end_dx4, SRV6_END_DX4);

#define SRV6_PROXY_PROG(name, behaviour)                                                           \
	HIKE_PROG(name)                                                                            \
	{                                                                                          \
		return srv6_proxy(ctx, __hvm_regs, behaviour);                                     \
	}                                                                                          \
	EXPORT_HIKE_PROG_2(name, __u64, sid);                                                      \
	HIKE_PROG_FINAL(name);                                                                     \
	EXPORT_HIKE_PROG_MAP(name, srv6_sids);                                                     \
	EXPORT_HIKE_PROG_MAP(name, srv6_sid_stats);                                                \
	EXPORT_HIKE_PROG_MAP(name, srv6_proxy_cache);                                              \
	EXPORT_HIKE_PROG_MAP(name, srv6_proxy_stats);                                              \
	EXPORT_HIKE_PROG_MAP(name, srv6_icmp);                                                     \
	EXPORT_HIKE_PROG_MAP(name, srv6_reasons)

SRV6_PROXY_PROG(srv6_end_as, SRV6_END_AS);
SRV6_PROXY_PROG(srv6_end_ad, SRV6_END_AD);
SRV6_PROXY_PROG(srv6_end_am, SRV6_END_AM);

/* routingpaolo's sr6_encap: H.Encaps on these policies, in this object so it shares its maps. */
#include "sr6_encap.h"

char LICENSE[] SEC("license") = "GPL";
