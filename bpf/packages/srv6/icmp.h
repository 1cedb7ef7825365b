/* ICMPv6 errors an endpoint sends itself where no kernel seg6local route runs its behaviour
 * (fallback none): Time Exceeded for hop limit ≤ 1 at a transit SID (RFC 8986 §4.1 S04), and
 * Parameter Problem, code 0, pointing at Segments Left, for Segments Left > Last Entry + 1 or a
 * Last Entry the header cannot hold (§4.1 S09, RFC 8754 §4.3.1.1) and for Segments Left ≠ 0 at
 * a decapsulating SID (§4.4 S02). The frame becomes the error in place: from the SID the packet
 * was sent to (RFC 4443 §2.2) to its source, quoting the packet as received, as much as fits in
 * the minimum MTU; forwarded by the FIB like any packet, or handed to the kernel to forward.
 * Rate-limited per CPU (RFC 4443 §2.4 f); errors about multicast or unspecified sources are
 * never sent (§2.4 e). */
#ifndef SRV6_ICMP_H
#define SRV6_ICMP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/counter.h"
#include "hike/srv6.h"
#include "srh.h"
#include "fwd.h"

#define SRV6_ICMP_HDR 8
#define SRV6_ICMP_QUOTE_MAX (1280 - 40 - SRV6_ICMP_HDR) /* the error fits the IPv6 minimum MTU */
#define SRV6_ICMP_PER_SEC 100                            /* per CPU */
#define SRV6_ICMP_CHUNK 64                               /* checksummed per bpf_csum_diff call */
#define SRV6_ICMP_TIME_EXCEEDED 3
#define SRV6_ICMP_PARAM_PROBLEM 4
#define SRV6_NH_ICMPV6 58

/* srv6_icmp slots: Time Exceeded sent, Parameter Problem sent, not sent (rate limit, a
 * multicast or unspecified source, no room). */
#define SRV6_ICMP_SENT_TIME_EXCEEDED 0
#define SRV6_ICMP_SENT_PARAM_PROBLEM 1
#define SRV6_ICMP_SUPPRESSED 2
HIKE_COUNTER_MAP(srv6_icmp, 3);

struct srv6_icmp_window {
	__u64 second; /* bpf_ktime_get_ns() / 1e9 of the current window */
	__u64 sent;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct srv6_icmp_window);
} srv6_icmp_limit SEC(".maps");

/* Per-CPU scratch for the checksum: the endpoints' stack has no room left for it. */
struct srv6_icmp_scratch {
	struct in6_addr src;
	struct in6_addr dst;
	__be32 length;
	__be32 next_header; /* the pseudo-header ends here */
	__u8 chunk[SRV6_ICMP_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct srv6_icmp_scratch);
} srv6_icmp_scratch SEC(".maps");

static __always_inline int srv6_icmp_allowed(void)
{
	__u32 zero = 0;
	struct srv6_icmp_window *w = bpf_map_lookup_elem(&srv6_icmp_limit, &zero);
	__u64 second = bpf_ktime_get_ns() / 1000000000ULL;

	if (!w)
		return 0;
	if (w->second != second) {
		w->second = second;
		w->sent = 0;
	}
	if (w->sent >= SRV6_ICMP_PER_SEC)
		return 0;
	w->sent++;
	return 1;
}

/* The ICMPv6 error an outcome calls for: its type (0: none) and, for a Parameter Problem, the
 * pointer (the offset of Segments Left from the start of the IPv6 header). */
static __always_inline __u8 srv6_icmp_type(__u32 reason, const struct srv6_pkt *p, __u32 *pointer)
{
	switch (reason) {
	case SRV6_R_HOP_LIMIT:
		*pointer = 0;
		return SRV6_ICMP_TIME_EXCEEDED;
	case SRV6_R_SL_PAST_LAST:
	case SRV6_R_BAD_HDRLEN:
	case SRV6_R_SL_NONZERO:
		if (!p->srh_off)
			return 0;
		*pointer = p->srh_off - SRV6_L3 + 3;
		return SRV6_ICMP_PARAM_PROBLEM;
	default:
		return 0;
	}
}

static __always_inline __u16 srv6_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* Turns the frame (an untouched endpoint input, parsed into p) into the ICMPv6 error `type` and
 * returns its verdict; XDP_DROP when it is not sent (counted). */
static __always_inline int srv6_icmp_error(struct xdp_md *ctx, const struct srv6_pkt *p, __u8 type, __u32 pointer,
					   struct bpf_fib_lookup *fib)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + SRV6_L3;
	struct srv6_route rt = {};
	struct ethhdr saved_eth;
	struct srv6_icmp_scratch *scratch;
	__u32 quote, length, excess, off, i, zero = 0;
	__be32 *icmp;
	__u64 sum;
	long partial;

	if ((void *)(ip6 + 1) > data_end)
		goto suppressed;
	/* Never about a multicast or unspecified source; never more than the rate allows. */
	if (ip6->saddr.s6_addr[0] == 0xff ||
	    !(ip6->saddr.s6_addr32[0] | ip6->saddr.s6_addr32[1] | ip6->saddr.s6_addr32[2] | ip6->saddr.s6_addr32[3]) ||
	    !srv6_icmp_allowed())
		goto suppressed;
	scratch = bpf_map_lookup_elem(&srv6_icmp_scratch, &zero);
	if (!scratch)
		goto suppressed;
	__builtin_memcpy(&saved_eth, eth, sizeof(saved_eth));
	scratch->src = ip6->daddr;
	scratch->dst = ip6->saddr;
	quote = p->l3_end - SRV6_L3;
	if (quote > SRV6_ICMP_QUOTE_MAX)
		quote = SRV6_ICMP_QUOTE_MAX;
	length = SRV6_ICMP_HDR + quote;
	scratch->length = bpf_htonl(length);
	scratch->next_header = bpf_htonl(SRV6_NH_ICMPV6);

	/* The quote stays where it is: trim what follows it, then grow the head by the new IPv6 and
	 * ICMPv6 headers (the old Ethernet header's place is taken by the new headers). */
	excess = p->frame_len - SRV6_L3 - quote;
	if (excess && bpf_xdp_adjust_tail(ctx, -(int)excess))
		goto suppressed;
	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct ipv6hdr) + SRV6_ICMP_HDR)))
		goto suppressed;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip6 = data + SRV6_L3;
	icmp = data + SRV6_L4;
	if ((void *)(icmp + 2) > data_end)
		goto suppressed;
	__builtin_memcpy(eth->h_dest, saved_eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, saved_eth.h_dest, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	*(__be32 *)ip6 = bpf_htonl(6U << 28);
	ip6->payload_len = bpf_htons(length);
	ip6->nexthdr = SRV6_NH_ICMPV6;
	ip6->hop_limit = 64;
	ip6->saddr = scratch->src;
	ip6->daddr = scratch->dst;
	icmp[0] = bpf_htonl((__u32)type << 24); /* code 0, checksum 0 for now */
	icmp[1] = bpf_htonl(pointer);

	/* Checksum: the pseudo-header, then the message in chunks copied to the stack (zero-padded:
	 * a trailing odd byte counts as if followed by a zero). */
	partial = bpf_csum_diff(NULL, 0, (__be32 *)scratch, offsetof(struct srv6_icmp_scratch, chunk), 0);
	if (partial < 0)
		goto suppressed;
	sum = (__u32)partial;
#pragma clang loop unroll(disable)
	for (i = 0; i < (SRV6_ICMP_HDR + SRV6_ICMP_QUOTE_MAX + SRV6_ICMP_CHUNK - 1) / SRV6_ICMP_CHUNK; i++) {
		__u32 n;

		off = i * SRV6_ICMP_CHUNK;
		if (off >= length)
			break;
		n = length - off;
		if (n > SRV6_ICMP_CHUNK)
			n = SRV6_ICMP_CHUNK;
		/* 1…64 by arithmetic the verifier follows (older ones lose a checked range): after
		 * the barrier, clang cannot drop it as the identity it is. */
		barrier_var(n);
		n = ((n - 1) & (SRV6_ICMP_CHUNK - 1)) + 1;
		__builtin_memset(scratch->chunk, 0, sizeof(scratch->chunk));
		if (bpf_xdp_load_bytes(ctx, SRV6_L4 + off, scratch->chunk, n))
			goto suppressed;
		partial = bpf_csum_diff(NULL, 0, (__be32 *)scratch->chunk, sizeof(scratch->chunk), 0);
		if (partial < 0)
			goto suppressed;
		sum += (__u32)partial;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	icmp = data + SRV6_L4;
	if ((void *)(icmp + 2) > data_end)
		goto suppressed;
	((__u16 *)icmp)[1] = srv6_csum_fold(sum);
	hike_count(&srv6_icmp, type == SRV6_ICMP_TIME_EXCEEDED ? SRV6_ICMP_SENT_TIME_EXCEEDED : SRV6_ICMP_SENT_PARAM_PROBLEM,
		   SRV6_L4 + length - SRV6_L3);

	/* Out by the FIB towards the source, or to the kernel, which forwards it (its neighbour,
	 * its route) as it would a packet of its own. */
	if (srv6_fib6(ctx, fib, &rt, &scratch->src, &scratch->dst, 0, SRV6_NH_ICMPV6, sizeof(struct ipv6hdr) + length) ==
	    SRV6_R_OK) {
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		eth = data;
		if ((void *)(eth + 1) > data_end)
			return XDP_DROP;
		__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
		return bpf_redirect(fib->ifindex, 0);
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	/* Addressed to this node, as the frame came: the kernel forwards it. */
	__builtin_memcpy(eth->h_dest, saved_eth.h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_source, saved_eth.h_source, ETH_ALEN);
	return XDP_PASS;

suppressed:
	hike_count(&srv6_icmp, SRV6_ICMP_SUPPRESSED, 0);
	return XDP_DROP;
}

#endif
