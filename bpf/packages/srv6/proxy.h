/* SR proxies (draft-ietf-spring-sr-service-programming §6; the thesis' SRNK, ch. 4): an
 * SR-unaware network function sits behind a local SID and sees plain packets.
 *
 *   End.AS (static): inbound, the outer IPv6 header and its extension headers are removed and
 *     the inner packet goes to the function (IFACE-OUT = oif, towards nh6 / nh4); what comes
 *     back on IFACE-IN (iif) gets the headers hike wrote from the SID's configuration.
 *   End.AD (dynamic): the same, but the headers are learned from the inbound packets (after
 *     End's SL − 1 and DA update), at most once per age_ms, so many CPUs do not fight over them.
 *   With inner Ethernet (SRV6_INNER_ETH, L2 mode), End.AS and End.AD take an Ethernet frame
 *     (next header 143): it goes to the function as it came, and every frame the function sends
 *     back on iif is carried whole behind the headers.
 *   End.AM (masquerading, IPv6 only): inbound, DA := Segment List[0] and SL stays, so the
 *     function sees the packet's real destination; coming back, End processing restores the
 *     DA from the SRH.
 *
 * One program serves both directions, as SRNKv2's bidirectional LWT: a packet that came in on
 * iif is the function's; the srv6_localsid loader sends every frame of iif to the proxy's chain
 * (its one lookup by incoming interface). A decapsulated packet never goes to the kernel, which
 * would route its inner destination around the function: what the fast path cannot send to
 * the function is dropped and counted. */
#ifndef SRV6_PROXY_H
#define SRV6_PROXY_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SRV6_MAX_SIDS);
	__type(key, __u32);
	__type(value, struct srv6_proxy_cache);
} srv6_proxy_cache SEC(".maps");

/* The headers between the cache and the packet: no helper may run under the lock. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct srv6_proxy_headers);
} srv6_proxy_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SRV6_MAX_SIDS);
	__type(key, __u32);
	__type(value, struct srv6_proxy_stats);
} srv6_proxy_stats SEC(".maps");

#define SRV6_PROXY_IN 0   /* from the SR network to the function */
#define SRV6_PROXY_BACK 1 /* from the function back into the SR network */

static __always_inline void srv6_proxy_account(__u32 index, int dir, __u32 reason, __u64 bytes, int learned)
{
	struct srv6_proxy_stats *s = bpf_map_lookup_elem(&srv6_proxy_stats, &index);

	if (!s)
		return;
	if (reason < SRV6_R_MAX)
		s->reasons[reason]++;
	s->learned += learned;
	if (reason != SRV6_R_OK)
		return;
	if (dir == SRV6_PROXY_IN) {
		s->to_function++;
		s->to_function_bytes += bytes;
	} else {
		s->from_function++;
		s->from_function_bytes += bytes;
	}
}

/* The function's own link traffic, for the kernel: every frame that is not IP (ARP), IPv6 from
 * or to a link-local address or to a multicast one (ND, MLD), IPv4 to multicast or broadcast. */
static __always_inline int srv6_proxy_control(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return 0;
		return ip6->daddr.s6_addr[0] == 0xff || (ip6->saddr.s6_addr[0] == 0xfe && (ip6->saddr.s6_addr[1] & 0xc0) == 0x80) ||
		       (ip6->daddr.s6_addr[0] == 0xfe && (ip6->daddr.s6_addr[1] & 0xc0) == 0x80);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);
		__u8 first;

		if ((void *)(ip4 + 1) > data_end)
			return 0;
		first = ((__u8 *)&ip4->daddr)[0];
		return (first & 0xf0) == 0xe0 || ip4->daddr == 0xffffffff;
	}
	return 1;
}

/* Copies len bytes between the packet at SRV6_L3 and h->hdr (into the packet when to_packet),
 * 8 at a time: header lengths are multiples of 8. */
static __always_inline int srv6_proxy_copy(struct xdp_md *ctx, struct srv6_proxy_headers *h, __u32 len, int to_packet)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 i;

#pragma unroll
	for (i = 0; i < SRV6_PROXY_HDR_MAX / 8; i++) {
		__u64 *packet = data + SRV6_L3 + i * 8, *cache = (__u64 *)&h->hdr[i * 8];

		if (i * 8 >= len)
			break;
		if ((void *)(packet + 1) > data_end)
			return -1;
		if (to_packet)
			*packet = *cache;
		else
			*cache = *packet;
	}
	return 0;
}

/* The SRH a proxy needs (SL > 0, validated) and its next segment, Segment List[SL − 1], or with
 * final its last, Segment List[0]; NULL with the reason when there is none. */
static __always_inline struct in6_addr *srv6_proxy_segment(struct xdp_md *ctx, struct srv6_pkt *p, int final, __u32 *reason)
{
	struct in6_addr *seg;

	*reason = SRV6_R_OK;
	if (!p->srh_off || p->other_rh)
		*reason = SRV6_R_NO_SRH;
	else if (p->sl == 0)
		*reason = SRV6_R_SL_ZERO;
	else
		*reason = srv6_validate_srh(ctx, p);
	if (*reason)
		return NULL;
	seg = srv6_segment(ctx, p, final ? 0 : p->sl - 1);
	if (!seg)
		*reason = SRV6_R_TRUNCATED;
	return seg;
}

/* End.AD: the outer headers as End would forward them (SL − 1, DA = the next segment, hop limit
 * − 1) into the SID's cache, unless they were learned less than age_ms ago. */
static __always_inline __u32 srv6_proxy_learn(struct xdp_md *ctx, const struct srv6_sid *sid, __u32 index,
					     struct srv6_pkt *p, const struct in6_addr *da, int *learned)
{
	struct srv6_proxy_cache *c = bpf_map_lookup_elem(&srv6_proxy_cache, &index);
	__u32 zero = 0, len = p->upper_off - SRV6_L3, sl_off = p->srh_off - SRV6_L3 + 3, nh_off = p->nh_off - SRV6_L3;
	struct srv6_proxy_headers *h;
	__u64 now = bpf_ktime_get_ns();

	if (!c)
		return SRV6_R_NO_ENTRY;
	/* Read without the lock: a stale value only means one learning more or less. */
	if (c->h.len && now - c->learned_ns < (__u64)sid->age_ms * 1000000)
		return SRV6_R_OK;
	if (len > SRV6_PROXY_HDR_MAX || sl_off >= SRV6_PROXY_HDR_MAX || nh_off >= SRV6_PROXY_HDR_MAX)
		return SRV6_R_CACHE_TOO_BIG;
	h = bpf_map_lookup_elem(&srv6_proxy_scratch, &zero);
	if (!h)
		return SRV6_R_NO_ENTRY;
	if (srv6_proxy_copy(ctx, h, len, 0))
		return SRV6_R_TRUNCATED;
	h->len = len;
	h->nh_off = nh_off;
	h->hdr[7] -= 1;
	__builtin_memcpy(&h->hdr[24], da, sizeof(*da));
	/* Bounded above, but clang may hand the verifier a copy from before the check (6.1 refuses
	 * it): the mask, behind an empty asm, keeps the bound in the instruction. */
	asm volatile("" : "+r"(sl_off));
	h->hdr[sl_off & (SRV6_PROXY_HDR_MAX - 1)] = p->sl - 1;
	bpf_spin_lock(&c->lock);
	c->h = *h;
	c->learned_ns = now;
	bpf_spin_unlock(&c->lock);
	*learned = 1;
	return SRV6_R_OK;
}

/* L2 mode inbound: the inner Ethernet frame, as it came, out of the function's interface. */
static __always_inline __u32 srv6_proxy_in_l2(struct xdp_md *ctx, const struct srv6_sid *sid, struct srv6_pkt *p, int *verdict)
{
	__u32 frame_len = srv6_frame_len(ctx);

	if (p->l3_end < p->upper_off + ETH_HLEN || p->l3_end > frame_len)
		return SRV6_R_TRUNCATED;
	if (frame_len > p->l3_end && bpf_xdp_adjust_tail(ctx, -(int)(frame_len - p->l3_end)))
		return SRV6_R_NO_ROOM;
	if (bpf_xdp_adjust_head(ctx, (int)p->upper_off))
		return SRV6_R_NO_ROOM;
	*verdict = bpf_redirect(sid->oif, 0);
	return SRV6_R_OK;
}

/* End.AS, End.AD inbound: (End.AD: learn) then remove the outer headers and send the inner
 * packet to the function. */
static __always_inline __u32 srv6_proxy_in(struct xdp_md *ctx, const struct srv6_sid *sid, __u32 index, __u32 behaviour,
					  struct srv6_pkt *p, struct bpf_fib_lookup *fib, int *verdict, int *learned)
{
	struct srv6_route rt = { .oif = sid->oif };
	__u32 r;

	if (p->other_rh)
		return SRV6_R_NO_SRH;
	if (!((sid->inner & SRV6_INNER_V6) && p->upper == SRV6_NH_IPV6) &&
	    !((sid->inner & SRV6_INNER_V4) && p->upper == SRV6_NH_IPIP) &&
	    !((sid->inner & SRV6_INNER_ETH) && p->upper == SRV6_NH_ETHERNET))
		return SRV6_R_BAD_NEXT_HEADER;
	if (behaviour == SRV6_END_AD) {
		/* The packet must go on after the function: a dynamic proxy is never the last segment. */
		struct in6_addr *seg = srv6_proxy_segment(ctx, p, 0, &r);
		struct ipv6hdr *ip6 = (void *)(long)ctx->data + SRV6_L3;

		if (!seg)
			return r;
		/* The learned headers go on with hop limit − 1, as End's would. */
		if ((void *)(ip6 + 1) > (void *)(long)ctx->data_end)
			return SRV6_R_TRUNCATED;
		if (ip6->hop_limit <= 1)
			return SRV6_R_HOP_LIMIT;
		r = srv6_proxy_learn(ctx, sid, index, p, seg, learned);
		if (r)
			return r;
	}
	if (p->upper == SRV6_NH_ETHERNET)
		return srv6_proxy_in_l2(ctx, sid, p, verdict);
	return srv6_decap_forward(ctx, p, fib, &rt, &sid->nh6, sid->nh4, 0, verdict);
}

/* The SID's cached headers into the scratch copy (read under the lock); 0, or a reason. */
static __always_inline __u32 srv6_proxy_cached(__u32 index, struct srv6_proxy_headers **out)
{
	__u32 zero = 0;
	struct srv6_proxy_cache *c = bpf_map_lookup_elem(&srv6_proxy_cache, &index);
	struct srv6_proxy_headers *h = bpf_map_lookup_elem(&srv6_proxy_scratch, &zero);

	if (!c || !h)
		return SRV6_R_NO_ENTRY;
	bpf_spin_lock(&c->lock);
	*h = c->h;
	bpf_spin_unlock(&c->lock);
	if (h->len < sizeof(struct ipv6hdr) || h->len > SRV6_PROXY_HDR_MAX || h->nh_off >= h->len)
		return SRV6_R_NO_CACHE;
	*out = h;
	return SRV6_R_OK;
}

/* The frame grown by grow bytes in front, the cached headers written at SRV6_L3 for a payload
 * of payload bytes whose protocol is proto (the last next header), the Ethernet header put back
 * from saved (or left for the caller) with type IPv6: the new outer IPv6 header, or NULL. */
static __always_inline struct ipv6hdr *srv6_proxy_push(struct xdp_md *ctx, struct srv6_proxy_headers *h, __u32 grow, __u32 payload,
						      __u8 proto, const struct ethhdr *saved)
{
	__u32 len = h->len, nh_off = h->nh_off;
	void *data, *data_end;
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	__u8 *nh;

	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return NULL;
	if (srv6_proxy_copy(ctx, h, len, 1))
		return NULL; /* cannot happen: the frame just grew by at least len */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > data_end)
		return NULL;
	if (saved)
		__builtin_memcpy(eth, saved, sizeof(*eth));
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	ip6->payload_len = bpf_htons(len - sizeof(*ip6) + payload);
	/* The mask must reach the verifier (6.12 and 6.1 need the offset bounded): clang would drop
	 * it, knowing nh_off < len; the empty asm hides that. */
	asm volatile("" : "+r"(nh_off));
	nh = data + SRV6_L3 + (nh_off & (SRV6_PROXY_HDR_MAX - 1));
	if ((void *)(nh + 1) > data_end)
		return NULL;
	*nh = proto;
	return ip6;
}

/* Out of the interface the FIB gave, with its addresses. */
static __always_inline void srv6_proxy_redirect(struct xdp_md *ctx, struct bpf_fib_lookup *fib, int *verdict)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return;
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	*verdict = bpf_redirect(fib->ifindex, 0);
}

/* L2 mode coming back: the whole frame the function sent, behind a new Ethernet header and the
 * cached headers (next header 143), to where their DA leads. */
static __always_inline __u32 srv6_proxy_back_l2(struct xdp_md *ctx, __u32 index, struct bpf_fib_lookup *fib, int *verdict,
					       __u64 *bytes)
{
	struct srv6_route rt = {};
	struct srv6_proxy_headers *h;
	struct ipv6hdr *ip6;
	__u32 frame_len = srv6_frame_len(ctx), r;

	if (frame_len < ETH_HLEN)
		return SRV6_R_TRUNCATED;
	r = srv6_proxy_cached(index, &h);
	if (r)
		return r;
	if (h->len - sizeof(*ip6) + frame_len > 0xffff)
		return SRV6_R_NO_ROOM;
	*bytes = frame_len;
	ip6 = srv6_proxy_push(ctx, h, h->len + ETH_HLEN, frame_len, SRV6_NH_ETHERNET, NULL);
	if (!ip6)
		return SRV6_R_NO_ROOM;
	/* No route: dropped (the new Ethernet header has no addresses the kernel could use). */
	r = srv6_fib6(ctx, fib, &rt, &ip6->saddr, &ip6->daddr, *(__be32 *)ip6, ip6->nexthdr, h->len + frame_len);
	if (r != SRV6_R_OK)
		return r;
	srv6_proxy_redirect(ctx, fib, verdict);
	return SRV6_R_OK;
}

/* End.AS, End.AD coming back: the function's IPv6 or IPv4 packet, forwarded by this node (hop
 * limit or TTL − 1), gets the SID's outer headers and goes where their DA leads. */
static __always_inline __u32 srv6_proxy_back(struct xdp_md *ctx, const struct srv6_sid *sid, __u32 index,
					    struct bpf_fib_lookup *fib, int *verdict, __u64 *bytes)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct srv6_route rt = {};
	struct srv6_proxy_headers *h;
	struct ipv6hdr *ip6;
	struct ethhdr saved;
	__u32 inner_len, frame_len, excess, len, r;
	__u8 proto;

	if (sid->inner & SRV6_INNER_ETH)
		return srv6_proxy_back_l2(ctx, index, fib, verdict, bytes);
	if ((void *)(eth + 1) > data_end)
		return SRV6_R_TRUNCATED;
	if (srv6_proxy_control(data, data_end))
		return SRV6_R_CONTROL;
	frame_len = srv6_frame_len(ctx);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *in6 = (void *)(eth + 1);

		if ((void *)(in6 + 1) > data_end)
			return SRV6_R_TRUNCATED;
		if (in6->version != 6 || !(sid->inner & SRV6_INNER_V6))
			return SRV6_R_BAD_NEXT_HEADER;
		if (in6->hop_limit <= 1)
			return SRV6_R_HOP_LIMIT;
		inner_len = sizeof(*in6) + bpf_ntohs(in6->payload_len);
		proto = SRV6_NH_IPV6;
	} else {
		struct iphdr *in4 = (void *)(eth + 1);

		if ((void *)(in4 + 1) > data_end)
			return SRV6_R_TRUNCATED;
		if (in4->version != 4 || in4->ihl < 5 || !(sid->inner & SRV6_INNER_V4))
			return SRV6_R_BAD_NEXT_HEADER;
		if (in4->ttl <= 1)
			return SRV6_R_HOP_LIMIT;
		inner_len = bpf_ntohs(in4->tot_len);
		proto = SRV6_NH_IPIP;
	}
	if (ETH_HLEN + inner_len > frame_len)
		return SRV6_R_TRUNCATED;

	r = srv6_proxy_cached(index, &h);
	if (r)
		return r;
	len = h->len;
	if (len - sizeof(*ip6) + inner_len > 0xffff)
		return SRV6_R_NO_ROOM;
	*bytes = inner_len;

	if (proto == SRV6_NH_IPV6) {
		struct ipv6hdr *in6 = (void *)(eth + 1);

		if ((void *)(in6 + 1) > data_end)
			return SRV6_R_TRUNCATED;
		in6->hop_limit--;
	} else {
		struct iphdr *in4 = (void *)(eth + 1);

		if ((void *)(in4 + 1) > data_end)
			return SRV6_R_TRUNCATED;
		srv6_ip4_decrease_ttl(in4);
	}
	__builtin_memcpy(&saved, eth, sizeof(saved));
	excess = frame_len - ETH_HLEN - inner_len;
	if (excess && bpf_xdp_adjust_tail(ctx, -(int)excess))
		return SRV6_R_NO_ROOM;
	ip6 = srv6_proxy_push(ctx, h, len, inner_len, proto, &saved);
	if (!ip6)
		return SRV6_R_NO_ROOM;
	r = srv6_fib6(ctx, fib, &rt, &ip6->saddr, &ip6->daddr, *(__be32 *)ip6, ip6->nexthdr, len + inner_len);
	if (r != SRV6_R_OK) {
		/* Encapsulated, addressed as the frame came: the kernel routes it to its next SID. */
		*verdict = XDP_PASS;
		return r;
	}
	srv6_proxy_redirect(ctx, fib, verdict);
	return SRV6_R_OK;
}

/* End.AM inbound: DA := Segment List[0], SL unchanged, to the function. */
static __always_inline __u32 srv6_proxy_masquerade(struct xdp_md *ctx, const struct srv6_sid *sid, struct srv6_pkt *p,
						  struct bpf_fib_lookup *fib, int *verdict)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + SRV6_L3;
	struct srv6_route rt = { .oif = sid->oif };
	struct in6_addr *seg, da;
	__u32 r;

	if ((void *)(ip6 + 1) > data_end)
		return SRV6_R_NOT_IP;
	seg = srv6_proxy_segment(ctx, p, 1, &r);
	if (!seg)
		return r;
	da = *seg;
	if (ip6->hop_limit <= 1)
		return SRV6_R_HOP_LIMIT;
	r = srv6_fib6(ctx, fib, &rt, &ip6->saddr, srv6_addr_is_zero(&sid->nh6) ? &da : &sid->nh6, *(__be32 *)ip6,
		      ip6->nexthdr, p->l3_end - SRV6_L3);
	if (r)
		return r;
	return srv6_transit_rewrite(ctx, p, fib, &da, 0, 0, 0, 0, verdict);
}

static __always_inline int srv6_proxy(struct xdp_md *ctx, __u64 *regs, __u32 behaviour)
{
	__u32 index = regs[2] < SRV6_MAX_SIDS ? (__u32)regs[2] : SRV6_MAX_SIDS;
	struct bpf_fib_lookup fib;
	const struct srv6_sid *sid;
	struct srv6_pkt p;
	int verdict = SRV6_UNTOUCHED, dir = SRV6_PROXY_IN, learned = 0;
	__u64 bytes = 0;
	__u32 reason;

	__builtin_memset(&p, 0, sizeof(p));
	sid = bpf_map_lookup_elem(&srv6_sids, &index);
	if (!sid || !sid->behaviour) {
		reason = SRV6_R_NO_ENTRY;
	} else if (sid->behaviour != behaviour) {
		reason = SRV6_R_WRONG_BEHAVIOUR;
	} else if (ctx->ingress_ifindex == sid->iif) {
		dir = SRV6_PROXY_BACK;
		if (behaviour != SRV6_END_AM) {
			reason = srv6_proxy_back(ctx, sid, index, &fib, &verdict, &bytes);
		} else {
			void *data = (void *)(long)ctx->data;
			void *data_end = (void *)(long)ctx->data_end;

			if (data + ETH_HLEN > data_end)
				reason = SRV6_R_TRUNCATED;
			else if (srv6_proxy_control(data, data_end))
				reason = SRV6_R_CONTROL;
			else
				reason = srv6_parse(ctx, &p);
			/* De-masquerading is End: SL − 1, DA := Segment List[SL]. */
			if (reason == SRV6_R_OK && (!p.srh_off || p.other_rh))
				reason = SRV6_R_NO_SRH;
			if (reason == SRV6_R_OK)
				reason = srv6_transit(ctx, sid, SRV6_END, &p, &fib, &verdict);
			bytes = p.l3_end > SRV6_L3 ? p.l3_end - SRV6_L3 : 0;
		}
	} else {
		reason = srv6_parse(ctx, &p);
		if (reason == SRV6_R_OK)
			reason = behaviour == SRV6_END_AM ? srv6_proxy_masquerade(ctx, sid, &p, &fib, &verdict)
							  : srv6_proxy_in(ctx, sid, index, behaviour, &p, &fib, &verdict, &learned);
		bytes = p.l3_end > SRV6_L3 ? p.l3_end - SRV6_L3 : 0;
	}
	srv6_account(&srv6_sid_stats, index, reason, bytes);
	srv6_proxy_account(index, dir, reason, bytes, learned);
	regs[0] = reason;
	if (reason == SRV6_R_OK)
		return verdict == SRV6_UNTOUCHED ? XDP_PASS : verdict;
	if (verdict != SRV6_UNTOUCHED) /* processed, and the kernel forwards it */
		return verdict;
	if (reason == SRV6_R_CONTROL || (dir == SRV6_PROXY_BACK && reason == SRV6_R_HOP_LIMIT))
		return XDP_PASS; /* the kernel answers: ND, ARP, Time Exceeded */
	if (dir == SRV6_PROXY_IN && sid) {
		__u32 pointer = 0;
		__u8 type = srv6_icmp_type(reason, &p, &pointer);

		if (type)
			return srv6_icmp_error(ctx, &p, type, pointer, &fib);
	}
	return XDP_DROP;
}

#endif
