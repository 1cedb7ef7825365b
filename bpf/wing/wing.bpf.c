/* hike wing: application-centric SRv6 on hosts (HawkWing). The ABI and what each program does:
 * hike/wing.h. Both roles load this one object; wing_cfg says which of learning (server) and DNS
 * snooping (client) run. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <linux/seg6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/wing.h"

#define WING_L3 ETH_HLEN               /* the IPv6 header */
#define WING_L4 (WING_L3 + 40)         /* what follows it: the SRH pushed or popped, or L4 */
#define WING_SEGS (WING_L4 + 8)        /* an SRH's segment list */
#define WING_TCPOPT_EOL 0
#define WING_TCPOPT_NOP 1
#define WING_TCPOPT_MSS 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wing_config);
} wing_cfg SEC(".maps");

/* Destination address → service ID: the configured addresses and those DNS answers gave. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WING_SERVICES_MAX);
	__type(key, struct in6_addr);
	__type(value, __u32);
} wing_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WING_APPS_MAX);
	__type(key, struct wing_app_key);
	__type(value, struct wing_path);
} wing_apps SEC(".maps");

/* Learned flows; the LRU's size is the bound hike sets before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WING_FLOWS_MAX);
	__type(key, struct wing_flow_key);
	__type(value, struct wing_path);
} wing_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WING_LOCAL_MAX);
	__type(key, struct in6_addr);
	__type(value, __u8);
} wing_local SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WING_DNS_NAMES_MAX);
	__type(key, struct wing_dns_name);
	__type(value, __u32);
} wing_dns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WING_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} wing_stats SEC(".maps");

/* Per-CPU room for what does not fit the 512-byte stack: a path being learned, a DNS answer. */
struct wing_scratch {
	struct wing_path path;
	struct wing_dns_name name;
	__u8 dns[WING_DNS_SCAN + 16]; /* + 16: an address read at any masked offset stays inside */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wing_scratch);
} wing_scratch SEC(".maps");

static __always_inline void wing_count(__u32 slot)
{
	__u64 *count = bpf_map_lookup_elem(&wing_stats, &slot);

	if (count)
		*count += 1;
}

static __always_inline struct wing_config *wing_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&wing_cfg, &zero);
}

/* ---- Egress: insert the SRH ---------------------------------------------------------------- */

/* A SYN's MSS lowered by grow bytes: the peer's full-sized segments then still fit the MTU once
 * the path's SRH is in them (both ends push an SRH of the same size). */
static __always_inline void wing_clamp_mss(struct __sk_buff *skb, __u32 grow)
{
	struct tcphdr th;
	__u32 off, end, i;

	if (bpf_skb_load_bytes(skb, WING_L4, &th, sizeof(th)) || !th.syn)
		return;
	off = WING_L4 + sizeof(th);
	end = WING_L4 + th.doff * 4;
	for (i = 0; i < 20 && off + 4 <= end; i++) {
		__u8 kind_len[2];
		__u16 mss, clamped;

		if (bpf_skb_load_bytes(skb, off, kind_len, 1))
			return;
		if (kind_len[0] == WING_TCPOPT_EOL)
			return;
		if (kind_len[0] == WING_TCPOPT_NOP) {
			off++;
			continue;
		}
		if (bpf_skb_load_bytes(skb, off, kind_len, 2) || kind_len[1] < 2)
			return;
		if (kind_len[0] == WING_TCPOPT_MSS && kind_len[1] == 4) {
			if (bpf_skb_load_bytes(skb, off + 2, &mss, 2))
				return;
			if (bpf_ntohs(mss) <= grow + 536)
				return; /* already small: leave it */
			clamped = bpf_htons(bpf_ntohs(mss) - grow);
			if (bpf_l4_csum_replace(skb, WING_L4 + offsetof(struct tcphdr, check), mss, clamped, 2) ||
			    bpf_skb_store_bytes(skb, off + 2, &clamped, 2, 0))
				return;
			wing_count(WING_EG_MSS_CLAMPED);
			return;
		}
		off += kind_len[1];
	}
}

/* Encapsulates the packet (H.Encaps of RFC 8986 on the host): an outer IPv6 header from this
 * host to the first SID, then the SRH; the last SID decapsulates. The inner packet is untouched.
 * BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 marks the inner headers, so GSO segments the inner TCP. */
static __always_inline int wing_encap(struct __sk_buff *skb, struct ipv6hdr *ip6, struct wing_path *path)
{
	struct ipv6_sr_hdr srh = {};
	struct ipv6hdr outer = *ip6;
	__u32 entries = path->entries, last, len, list_len;

	if (entries < 1 || entries > WING_LIST_MAX) {
		wing_count(WING_EG_NO_PATH);
		return TC_ACT_OK;
	}
	/* The first SID's index, opaque and checked again, and the length from it: 6.1's verifier
	 * keeps the bounds of neither entries - 1 (entries & 127 would let 127 through) nor 16 *
	 * entries (it loses the minimum). */
	last = entries - 1;
	asm volatile("" : "+r"(last));
	if (last >= WING_LIST_MAX)
		return TC_ACT_OK;
	list_len = 16 * (last + 1);
	len = sizeof(outer) + 8 + list_len;
	if (ip6->nexthdr == IPPROTO_TCP)
		wing_clamp_mss(skb, len);
	if (bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV6)) {
		wing_count(WING_EG_FAILED);
		return TC_ACT_OK;
	}
	outer.payload_len = bpf_htons(bpf_ntohs(ip6->payload_len) + len);
	outer.nexthdr = WING_NH_ROUTING;
	outer.daddr = path->list[last];
	srh.nexthdr = IPPROTO_IPV6;
	srh.hdrlen = (8 + list_len) / 8 - 1;
	srh.type = WING_ROUTING_TYPE;
	srh.segments_left = last;
	srh.first_segment = last;
	if (bpf_skb_store_bytes(skb, WING_L3, &outer, sizeof(outer), 0) ||
	    bpf_skb_store_bytes(skb, WING_L4, &srh, 8, 0) ||
	    bpf_skb_store_bytes(skb, WING_SEGS, &path->list[0], list_len, 0)) {
		wing_count(WING_EG_DROPPED);
		return TC_ACT_SHOT;
	}
	wing_count(WING_EG_ENCAPSULATED);
	return TC_ACT_OK;
}

/* Inserts path's SRH after the IPv6 header: HawkWing's layout, slot 0 the packet's destination,
 * the destination the first segment. The L4 checksum stays valid: its pseudo-header uses the
 * final destination (RFC 8200 §8.1), which is what it was computed with. */
static __always_inline int wing_push(struct __sk_buff *skb, struct ipv6hdr *ip6, struct wing_path *path,
				     __u32 pushed)
{
	struct ipv6_sr_hdr srh = {};
	__u32 entries = path->entries, len, list_len;

	if (path->flags & WING_PATH_ENCAP)
		return wing_encap(skb, ip6, path);
	if (entries < 2 || entries > WING_LIST_MAX) {
		wing_count(WING_EG_NO_PATH);
		return TC_ACT_OK;
	}
	len = 8 + 16 * entries;
	list_len = 16 * (entries - 1);
	if (ip6->nexthdr == IPPROTO_TCP)
		wing_clamp_mss(skb, len);
	/* The kernel lowers a GSO packet's segment size by len (no BPF_F_ADJ_ROOM_FIXED_GSO), so
	 * every segment still fits after the SRH is in. */
	if (bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_NET, 0)) {
		wing_count(WING_EG_FAILED);
		return TC_ACT_OK;
	}
	srh.nexthdr = ip6->nexthdr;
	srh.hdrlen = len / 8 - 1;
	srh.type = WING_ROUTING_TYPE;
	srh.segments_left = entries - 1;
	srh.first_segment = entries - 1;
	if (bpf_skb_store_bytes(skb, WING_L4, &srh, 8, 0) ||
	    bpf_skb_store_bytes(skb, WING_SEGS, &ip6->daddr, 16, 0) ||
	    bpf_skb_store_bytes(skb, WING_SEGS + 16, &path->list[1], list_len, 0))
		goto dropped;
	ip6->payload_len = bpf_htons(bpf_ntohs(ip6->payload_len) + len);
	ip6->nexthdr = WING_NH_ROUTING;
	ip6->daddr = path->list[(entries - 1) & 127]; /* entries ≤ 127: index ≤ 126 */
	if (bpf_skb_store_bytes(skb, WING_L3, ip6, sizeof(*ip6), 0))
		goto dropped;
	wing_count(pushed);
	return TC_ACT_OK;
dropped:
	wing_count(WING_EG_DROPPED);
	return TC_ACT_SHOT;
}

SEC("tc")
int wing_egress(struct __sk_buff *skb)
{
	struct wing_flow_key flow = {};
	struct wing_config *cfg;
	struct wing_path *path;
	struct ipv6hdr ip6;
	__u16 port = 0;
	__u32 *service;

	if (skb->protocol != bpf_htons(ETH_P_IPV6) || bpf_skb_load_bytes(skb, WING_L3, &ip6, sizeof(ip6)))
		return TC_ACT_OK;
	switch (ip6.nexthdr) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (bpf_skb_load_bytes(skb, WING_L4 + 2, &port, 2))
			goto not_plain;
		port = bpf_ntohs(port);
		break;
	case IPPROTO_ICMPV6: {
		__u8 type;

		/* Echo only: neighbour discovery and errors must not take a path. */
		if (bpf_skb_load_bytes(skb, WING_L4, &type, 1) ||
		    (type != ICMPV6_ECHO_REQUEST && type != ICMPV6_ECHO_REPLY))
			goto not_plain;
		break;
	}
	default:
		goto not_plain;
	}

	flow.addr = ip6.daddr;
	flow.port = port;
	flow.proto = ip6.nexthdr;
	path = bpf_map_lookup_elem(&wing_flows, &flow);
	if (path) {
		__u64 now = bpf_ktime_get_ns(), seen = path->last_seen_ns;

		cfg = wing_config();
		/* seen may be later than now: ingress on another CPU refreshed it after now was read.
		 * That flow is fresh, not idle for 2^64 ns. */
		if (cfg && cfg->flow_idle_s && seen < now && now - seen > (__u64)cfg->flow_idle_s * 1000000000ULL) {
			bpf_map_delete_elem(&wing_flows, &flow);
			wing_count(WING_EG_EXPIRED);
		} else {
			path->last_seen_ns = now;
			return wing_push(skb, &ip6, path, WING_EG_PUSHED_LEARNED);
		}
	}
	service = bpf_map_lookup_elem(&wing_services, &ip6.daddr);
	if (service) {
		struct wing_app_key app = { .service = *service, .port = port };

		path = bpf_map_lookup_elem(&wing_apps, &app);
		if (path)
			return wing_push(skb, &ip6, path, WING_EG_PUSHED);
	}
	wing_count(WING_EG_NO_PATH);
	return TC_ACT_OK;
not_plain:
	wing_count(WING_EG_NOT_PLAIN);
	return TC_ACT_OK;
}

/* ---- Ingress: learn and remove the SRH ----------------------------------------------------- */

/* A NEXT-C-SID container (RFC 9800) of the server's format: after the block, a run of non-zero
 * 16-bit C-SIDs, then only zeros (End of Carrier). A reversed path visits the container's nodes
 * backwards too, so its run is reversed. Any other SID (one C-SID, a zero inside) stays. */
static __always_inline void wing_reverse_csids(struct in6_addr *sid, __u32 block_words)
{
	__u16 copy[8];
	__u32 count = 0, ended = 0, i;

	if (!block_words)
		return;
	for (i = 0; i < 8; i++) {
		if (i < block_words)
			continue;
		if (sid->s6_addr16[i]) {
			if (ended)
				return;
			count++;
		} else {
			ended = 1;
		}
	}
	if (count < 2)
		return;
	__builtin_memcpy(copy, sid->s6_addr16, 16);
	for (i = 0; i < 8; i++) {
		if (i >= count)
			break;
		sid->s6_addr16[(block_words + i) & 7] = copy[(block_words + count - 1 - i) & 7];
	}
}

struct wing_csid_walk {
	struct wing_path *path;
	__u32 block_words;
};

/* bpf_loop: the containers of a learned path, one SID per step (list[0] is the client). */
static long wing_reverse_step(__u32 i, void *data)
{
	struct wing_csid_walk *walk = data;

	if (i >= walk->path->entries || i >= WING_LIST_MAX)
		return 1;
	if (i > 0)
		wing_reverse_csids(&walk->path->list[i], walk->block_words);
	return 0;
}

/* Whether two paths have the same list after list[0] (the client, the same for one flow). */
static __always_inline int wing_same_path(struct wing_path *known, struct wing_path *seen)
{
	__u32 i;

	if (known->entries != seen->entries)
		return 0;
	for (i = 1; i < WING_LIST_MAX; i++) {
		if (i >= seen->entries)
			break;
		if (__builtin_memcmp(&seen->list[i], &known->list[i], 16))
			return 0;
	}
	return 1;
}

/* Server: the client's path, reversed, for the replies to (client, client port, protocol):
 * HawkWing's [client, seg[n-1], …, seg[1]] (seg[0] is this host), each uSID container's C-SIDs
 * reversed too when the configuration gives the block. */
static __always_inline void wing_learn(struct xdp_md *ctx, struct ipv6hdr *ip6, __u8 proto, __u32 upper,
				       __u32 entries, __u32 block_words)
{
	struct wing_flow_key flow = {};
	struct wing_scratch *s;
	struct wing_path *known;
	__u32 zero = 0, i;
	__u16 port = 0;

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		if (bpf_xdp_load_bytes(ctx, upper, &port, 2))
			return;
		port = bpf_ntohs(port);
	} else if (proto == IPPROTO_ICMPV6) {
		__u8 type;

		if (bpf_xdp_load_bytes(ctx, upper, &type, 1) || type != ICMPV6_ECHO_REQUEST)
			return;
	} else {
		return;
	}
	flow.addr = ip6->saddr;
	flow.port = port;
	flow.proto = proto;
	s = bpf_map_lookup_elem(&wing_scratch, &zero);
	if (!s)
		return;
	s->path.entries = entries;
	s->path.srh_len = 8 + 16 * entries;
	s->path.flags = 0;
	s->path.list[0] = ip6->saddr;
	for (i = 1; i < WING_LIST_MAX; i++) {
		if (i >= entries)
			break;
		if (bpf_xdp_load_bytes(ctx, WING_SEGS + 16 * (entries - i), &s->path.list[i], 16))
			return;
	}
	if (block_words) {
		struct wing_csid_walk walk = { .path = &s->path, .block_words = block_words };

		bpf_loop(WING_LIST_MAX, wing_reverse_step, &walk, 0);
	}
	known = bpf_map_lookup_elem(&wing_flows, &flow);
	if (known && wing_same_path(known, &s->path)) {
		known->last_seen_ns = bpf_ktime_get_ns();
		return;
	}
	s->path.last_seen_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&wing_flows, &flow, &s->path, BPF_ANY) == 0)
		wing_count(WING_IN_LEARNED);
}

/* RFC 8754 §4.3.1.1 for a host: an SRH with Segments Left 0 whose destination is ours is done
 * with; remove it so the upper layer gets the packet as sent. Anything else goes to the kernel
 * untouched. */
static __always_inline int wing_pop(struct xdp_md *ctx, struct wing_config *cfg)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + WING_L3;
	struct ipv6_sr_hdr *srh = data + WING_L4;
	struct {
		struct ethhdr eth;
		struct ipv6hdr ip6;
	} __attribute__((packed)) headers;
	__u32 len, entries, payload;

	if ((void *)(srh + 1) > data_end) {
		wing_count(WING_IN_MALFORMED);
		return XDP_PASS;
	}
	len = (srh->hdrlen + 1) * 8;
	entries = srh->first_segment + 1;
	payload = bpf_ntohs(ip6->payload_len);
	if (srh->type != WING_ROUTING_TYPE || 8 + 16 * entries > len || len > payload ||
	    data + WING_L4 + len > data_end) {
		wing_count(WING_IN_MALFORMED);
		return XDP_PASS;
	}
	if (srh->segments_left != 0) {
		wing_count(WING_IN_SEGMENTS_LEFT);
		return XDP_PASS;
	}
	if (!bpf_map_lookup_elem(&wing_local, &ip6->daddr)) {
		wing_count(WING_IN_NOT_LOCAL);
		return XDP_PASS;
	}
	if (cfg && (cfg->flags & WING_CFG_LEARN))
		wing_learn(ctx, ip6, srh->nexthdr, WING_L4 + len, entries, cfg->usid_block_words);

	__builtin_memcpy(&headers, data, sizeof(headers));
	headers.ip6.payload_len = bpf_htons(payload - len);
	headers.ip6.nexthdr = srh->nexthdr;
	if (bpf_xdp_adjust_head(ctx, (int)len))
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(headers) > data_end)
		return XDP_DROP; /* cannot happen: the frame held the headers and the SRH */
	__builtin_memcpy(data, &headers, sizeof(headers));
	wing_count(WING_IN_POPPED);
	return XDP_PASS;
}

/* ---- Ingress: DNS answers to configured names ---------------------------------------------- */

struct wing_dns_walk {
	struct wing_scratch *s;
	__u32 size; /* bytes of the DNS message in s->dns */
	__u32 pos;  /* where the next label length is (question) or the next record starts (answers) */
	__u32 count;
	__u32 service;
	int failed;
};

/* One byte of the question name, copied lower-case into s->name (length bytes are < 64, so
 * lower-casing every byte leaves them alone). Stops after the root label. */
static long wing_dns_name_byte(__u32 i, void *data)
{
	struct wing_dns_walk *w = data;
	__u32 at = 12 + i;
	__u8 b;

	if (at >= w->size || i >= WING_DNS_NAME_LEN) {
		w->failed = 1;
		return 1;
	}
	b = w->s->dns[at & (WING_DNS_SCAN - 1)];
	if (at == w->pos) { /* a length byte */
		if (b >= 64) {
			w->failed = 1; /* a pointer in a question: not from a resolver, ignore */
			return 1;
		}
		w->pos = at + b + 1;
	} else if (b >= 'A' && b <= 'Z') {
		b += 'a' - 'A';
	}
	w->s->name.name[i & (WING_DNS_NAME_LEN - 1)] = b;
	return b == 0 && at + 1 == w->pos ? 1 : 0;
}

/* One answer record: an AAAA maps its address to the service; others (CNAMEs) are stepped over. */
static long wing_dns_answer(__u32 i, void *data)
{
	struct wing_dns_walk *w = data;
	__u32 pos = w->pos, k, rdlen, type;
	__u8 *dns = w->s->dns;

	if (i >= w->count)
		return 1;
	for (k = 0; k < 64; k++) { /* the owner name: labels, ended by a root label or a pointer */
		__u8 b;

		if (pos >= w->size)
			return 1;
		b = dns[pos & (WING_DNS_SCAN - 1)];
		if ((b & 0xc0) == 0xc0) {
			pos += 2;
			break;
		}
		pos += b + 1;
		if (b == 0)
			break;
	}
	if (pos + 10 > w->size)
		return 1;
	type = dns[pos & (WING_DNS_SCAN - 1)] << 8 | dns[(pos + 1) & (WING_DNS_SCAN - 1)];
	rdlen = dns[(pos + 8) & (WING_DNS_SCAN - 1)] << 8 | dns[(pos + 9) & (WING_DNS_SCAN - 1)];
	pos += 10;
	if (pos + rdlen > w->size)
		return 1;
	if (type == 28 /* AAAA */ && rdlen == 16) {
		struct in6_addr addr;

		__builtin_memcpy(&addr, &dns[pos & (WING_DNS_SCAN - 1)], 16);
		if (bpf_map_update_elem(&wing_services, &addr, &w->service, BPF_ANY) == 0)
			wing_count(WING_IN_DNS_MAPPED);
	}
	w->pos = pos + rdlen;
	return 0;
}

static __always_inline void wing_dns_snoop(struct xdp_md *ctx, __u32 off)
{
	struct wing_dns_walk w = { .pos = 12 };
	struct wing_scratch *s;
	__u32 zero = 0, size, *service;

	size = ctx->data_end - ctx->data;
	if (size < off + 12)
		return;
	size -= off;
	if (size > WING_DNS_SCAN)
		size = WING_DNS_SCAN;
	/* Opaque to the optimiser, then checked again: older verifiers (6.1) lose the lower bound
	 * of the clamped length and refuse a load of possibly 0 bytes. */
	asm volatile("" : "+r"(size));
	if (size < 12 || size > WING_DNS_SCAN)
		return;
	s = bpf_map_lookup_elem(&wing_scratch, &zero);
	if (!s || bpf_xdp_load_bytes(ctx, off, s->dns, size))
		return;
	/* A response (QR) without error, one question, answers. */
	if (!(s->dns[2] & 0x80) || (s->dns[3] & 0x0f) || s->dns[4] != 0 || s->dns[5] != 1)
		return;
	w.s = s;
	w.size = size;
	__builtin_memset(&s->name, 0, sizeof(s->name));
	bpf_loop(WING_DNS_NAME_LEN, wing_dns_name_byte, &w, 0);
	if (w.failed)
		return;
	service = bpf_map_lookup_elem(&wing_dns, &s->name);
	if (!service)
		return;
	wing_count(WING_IN_DNS_ANSWERS);
	w.service = *service;
	w.count = s->dns[6] << 8 | s->dns[7];
	w.pos += 4; /* the question's type and class */
	bpf_loop(WING_DNS_ANSWERS_MAX, wing_dns_answer, &w, 0);
}

SEC("xdp")
int wing_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + WING_L3;
	struct wing_config *cfg = wing_config();

	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	if (ip6->nexthdr == WING_NH_ROUTING)
		return wing_pop(ctx, cfg);
	if (ip6->nexthdr == IPPROTO_UDP && cfg && (cfg->flags & WING_CFG_DNS)) {
		struct udphdr *udp = data + WING_L4;

		if ((void *)(udp + 1) <= data_end && udp->source == bpf_htons(53))
			wing_dns_snoop(ctx, WING_L4 + sizeof(*udp));
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
