/* The srv6 package's forwarding: a FIB lookup in the kernel's tables (the main rules, one table
 * without VRF, or an adjacency's next hop) whose result is either a redirect or the reason the
 * packet goes to the kernel instead. The lookup always comes before any rewrite, so a packet
 * that the fast path cannot finish can reach the kernel untouched. */
#ifndef SRV6_FWD_H
#define SRV6_FWD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/srv6.h"
#include "hike/tx.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define SRV6_TABLE_MAIN 254

/* Where to look: table 0 = the main lookup with the policy rules (as ip6_route_input), else
 * that table alone (BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID, no VRF needed); oif ≠ 0 = an
 * output lookup through that interface (the kernel's seg6local `oif`). */
struct srv6_route {
	__u32 table;
	__u32 oif;
};

static __always_inline __u32 srv6_fib_flags(struct bpf_fib_lookup *fib, struct xdp_md *ctx, const struct srv6_route *rt)
{
	__u32 flags = 0;

	fib->ifindex = ctx->ingress_ifindex;
	if (rt->oif) {
		fib->ifindex = rt->oif;
		flags |= BPF_FIB_LOOKUP_OUTPUT;
	}
	if (rt->table) {
		fib->tbid = rt->table;
		flags |= BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID;
	}
	return flags;
}

/* The reason for a bpf_fib_lookup result: OK, or why the kernel must take the packet. */
static __always_inline __u32 srv6_fib_reason(long rc, const struct bpf_fib_lookup *fib)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		return hike_tx_ready(fib->ifindex) ? SRV6_R_OK : SRV6_R_TX_UNREADY;
	case BPF_FIB_LKUP_RET_NOT_FWDED: /* a local destination, or no route in the table */
		return SRV6_R_LOCAL;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return SRV6_R_NO_ROOM;
	default: /* no neighbour yet, unreachable, blackhole, prohibit, forwarding off, LWT */
		return SRV6_R_FIB_MISS;
	}
}

/* IPv6 lookup of dst (with the packet's src, flow info and size), filling fib. */
static __always_inline __u32 srv6_fib6(struct xdp_md *ctx, struct bpf_fib_lookup *fib, const struct srv6_route *rt,
				       const struct in6_addr *src, const struct in6_addr *dst, __be32 flowinfo,
				       __u8 proto, __u32 tot_len)
{
	__u32 flags;

	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET6;
	fib->flowinfo = flowinfo & bpf_htonl(0x0fffffff);
	fib->l4_protocol = proto;
	fib->tot_len = tot_len;
	__builtin_memcpy(fib->ipv6_src, src, 16);
	__builtin_memcpy(fib->ipv6_dst, dst, 16);
	flags = srv6_fib_flags(fib, ctx, rt);
	return srv6_fib_reason(bpf_fib_lookup(ctx, fib, sizeof(*fib), flags), fib);
}

/* IPv4 lookup of dst. */
static __always_inline __u32 srv6_fib4(struct xdp_md *ctx, struct bpf_fib_lookup *fib, const struct srv6_route *rt,
				       __be32 src, __be32 dst, __u8 tos, __u8 proto, __u32 tot_len)
{
	__u32 flags;

	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->tos = tos;
	fib->l4_protocol = proto;
	fib->tot_len = tot_len;
	fib->ipv4_src = src;
	fib->ipv4_dst = dst;
	flags = srv6_fib_flags(fib, ctx, rt);
	return srv6_fib_reason(bpf_fib_lookup(ctx, fib, sizeof(*fib), flags), fib);
}

/* The kernel's ip_decrease_ttl: TTL − 1 with the checksum updated incrementally. */
static __always_inline void srv6_ip4_decrease_ttl(struct iphdr *iph)
{
	__u32 check = (__u32)iph->check;

	check += (__u32)bpf_htons(0x0100);
	iph->check = (__sum16)(check + (check >= 0xffff));
	iph->ttl--;
}

#endif
