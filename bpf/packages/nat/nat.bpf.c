/* nat: stateful address and port translation for IPv4 (NAT44) and IPv6 (NAT66) in XDP.
 *
 * nat() rewrites a packet of a live session (either direction) to the session's addresses and
 * ports. The first packet of a flow that matches a nat_dnat rule (by destination) or a nat_snat
 * rule (by source prefix) makes the session, both directions at once. An ICMP error about a
 * session's packet is translated inside (the quoted packet) and out. Checksums are updated
 * incrementally (RFC 1624). What happens to the packet next is the chain's: hike_pass hands it
 * to the kernel, which forwards it. ABI: hike/nat.h; docs/packages.md. */
#define HIKE_PACKAGE "nat"
#include "hike/hike.h"
#include "hike/counter.h"
#include "hike/nat.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NAT_CT_ENTRIES);
	__type(key, struct nat_tuple);
	__type(value, struct nat_session);
} nat_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NAT_RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nat_snat_key);
	__type(value, struct nat_snat_rule);
} nat_snat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NAT_RULE_ENTRIES);
	__type(key, struct nat_dnat_key);
	__type(value, struct nat_dnat_rule);
} nat_dnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_cfg);
} nat_cfg SEC(".maps");

HIKE_EVENT_COUNTER_MAP(nat_stats, NAT_R_MAX);

#define NAT_ICMP_ECHO_REQUEST 1
#define NAT_ICMP_ECHO_REPLY 2
#define NAT_ICMP_ERROR 3

/* An IP header in the packet: the family's address fields and the IPv4 header checksum. */
struct nat_ip {
	void *saddr;
	void *daddr;
	__u16 *check; /* IPv4 header checksum; NULL for IPv6 */
	void *l4;
	__u8 v4;
	__u8 proto;
};

/* The transport header's fields nat rewrites. In a quoted packet (ICMP error) the checksum may
 * lie beyond what was quoted: check is NULL then. */
struct nat_l4 {
	__u16 *sport;
	__u16 *dport;
	__u16 *id;    /* ICMP echo identifier */
	__u16 *check;
	__u8 icmp;    /* NAT_ICMP_*, 0 for TCP and UDP */
	__u8 pseudo;  /* the checksum covers the addresses (TCP, UDP, ICMPv6) */
	__u8 zero_ok; /* IPv4 UDP: 0 means no checksum */
};

/* New values for a packet's fields (the leading part of a struct nat_session). */
struct nat_target {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
};

/* The working copies of one packet: too big for the 512-byte stack with the VM's frame. */
struct nat_scratch {
	struct nat_tuple t;     /* the packet */
	struct nat_tuple rk;    /* a reply half's key */
	struct nat_session s;   /* the packet's session */
	struct nat_session rv;  /* a reply half */
	struct nat_target mirror;
	struct nat_target out;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_scratch);
} nat_scratch SEC(".maps");

static __always_inline __u32 nat_csum_add(__u32 sum, __u32 v)
{
	sum += v;
	return sum + (sum < v);
}

static __always_inline __u16 nat_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* acc plus the one's complement difference of words 16-bit words old → new (memory order: the
 * sum does not depend on byte order, RFC 1071). */
static __always_inline __u32 nat_csum_diff(__u32 acc, const void *old, const void *new, int words)
{
	const __u16 *o = old, *n = new;

#pragma unroll
	for (int i = 0; i < words; i++) {
		if (o[i] == n[i])
			continue;
		acc = nat_csum_add(acc, (__u16)~o[i]);
		acc = nat_csum_add(acc, n[i]);
	}
	return acc;
}

/* Applies a difference to a checksum field (RFC 1624 eq. 3). */
static __always_inline void nat_csum_apply(__u16 *check, __u32 acc)
{
	*check = ~nat_csum_fold(nat_csum_add((__u16)~*check, acc));
}

static __always_inline int nat_is_icmp(const struct nat_ip *ip)
{
	return ip->proto == (ip->v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
}

/* The transport header at ip->l4: 0, or NAT_R_MALFORMED / NAT_R_UNSUPPORTED. quoted: the header
 * of a packet inside an ICMP error (8 bytes are enough; no error about an error). */
static __always_inline int nat_parse_l4(const struct nat_ip *ip, void *end, struct nat_l4 *l4, int quoted)
{
	__u8 *h = ip->l4;

	__builtin_memset(l4, 0, sizeof(*l4));
	if ((void *)(h + 8) > end)
		return NAT_R_MALFORMED;
	if (ip->proto == IPPROTO_TCP || ip->proto == IPPROTO_UDP) {
		int tcp = ip->proto == IPPROTO_TCP;
		__u16 *check = (__u16 *)(h + (tcp ? 16 : 6));

		l4->sport = (__u16 *)h;
		l4->dport = (__u16 *)(h + 2);
		if ((void *)(check + 1) <= end)
			l4->check = check;
		else if (!quoted)
			return NAT_R_MALFORMED;
		l4->pseudo = 1;
		l4->zero_ok = !tcp && ip->v4;
		return 0;
	}
	if (!nat_is_icmp(ip))
		return NAT_R_UNSUPPORTED;
	l4->check = (__u16 *)(h + 2);
	l4->pseudo = !ip->v4;
	if (h[0] == (ip->v4 ? 8 : 128))
		l4->icmp = NAT_ICMP_ECHO_REQUEST;
	else if (h[0] == (ip->v4 ? 0 : 129))
		l4->icmp = NAT_ICMP_ECHO_REPLY;
	else if (!quoted && (ip->v4 ? (h[0] == 3 || h[0] == 11 || h[0] == 12) : (h[0] >= 1 && h[0] <= 4)))
		l4->icmp = NAT_ICMP_ERROR;
	else
		return NAT_R_UNSUPPORTED;
	if (l4->icmp != NAT_ICMP_ERROR)
		l4->id = (__u16 *)(h + 4);
	return 0;
}

/* The IP header at l3: 0, or a reason. IPv4 with options, fragments and IPv6 with extension
 * headers are not translated. */
static __always_inline int nat_parse_ip(void *l3, void *end, int v4, struct nat_ip *ip)
{
	if (v4) {
		struct iphdr *iph = l3;

		if ((void *)(iph + 1) > end)
			return NAT_R_MALFORMED;
		if (iph->ihl != 5 || iph->frag_off & bpf_htons(0x3fff))
			return NAT_R_UNSUPPORTED;
		ip->saddr = &iph->saddr;
		ip->daddr = &iph->daddr;
		ip->check = &iph->check;
		ip->l4 = iph + 1;
		ip->proto = iph->protocol;
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return NAT_R_MALFORMED;
		ip->saddr = &ip6->saddr;
		ip->daddr = &ip6->daddr;
		ip->check = NULL;
		ip->l4 = ip6 + 1;
		ip->proto = ip6->nexthdr;
	}
	ip->v4 = v4;
	return 0;
}

/* An address of the packet as nat's maps hold it (IPv4-mapped for IPv4). */
static __always_inline void nat_addr_load(__u8 *to, const void *from, int v4)
{
	if (v4) {
		__builtin_memset(to, 0, 10);
		to[10] = 0xff;
		to[11] = 0xff;
		__builtin_memcpy(to + 12, from, 4);
	} else {
		__builtin_memcpy(to, from, 16);
	}
}

static __always_inline void nat_tuple_of(const struct nat_ip *ip, const struct nat_l4 *l4, struct nat_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
	nat_addr_load(t->saddr, ip->saddr, ip->v4);
	nat_addr_load(t->daddr, ip->daddr, ip->v4);
	t->proto = ip->proto;
	if (l4->sport) {
		t->sport = *l4->sport;
		t->dport = *l4->dport;
	} else if (l4->icmp == NAT_ICMP_ECHO_REQUEST) {
		t->sport = *l4->id;
	} else if (l4->icmp == NAT_ICMP_ECHO_REPLY) {
		t->dport = *l4->id;
	}
}

/* Rewrites the packet's addresses and ports (the ICMP identifier) to to's, with its checksums.
 * Returns the difference of every byte it changed, checksums included, for a checksum that
 * covers the whole header (the ICMP error quoting it). */
static __always_inline __u32 nat_rewrite(struct nat_ip *ip, struct nat_l4 *l4, const struct nat_target *to)
{
	const __u8 *ns = ip->v4 ? to->saddr + 12 : to->saddr;
	const __u8 *nd = ip->v4 ? to->daddr + 12 : to->daddr;
	__u16 old_ip_check = 0, old_l4_check = 0;
	__u32 addrs = 0, ports = 0, all;
	__be16 id = 0;

	if (ip->v4) {
		addrs = nat_csum_diff(addrs, ip->saddr, ns, 2);
		addrs = nat_csum_diff(addrs, ip->daddr, nd, 2);
	} else {
		addrs = nat_csum_diff(addrs, ip->saddr, ns, 8);
		addrs = nat_csum_diff(addrs, ip->daddr, nd, 8);
	}
	if (l4->sport) {
		ports = nat_csum_diff(ports, l4->sport, &to->sport, 1);
		ports = nat_csum_diff(ports, l4->dport, &to->dport, 1);
	} else if (l4->id) {
		id = l4->icmp == NAT_ICMP_ECHO_REQUEST ? to->sport : to->dport;
		ports = nat_csum_diff(ports, l4->id, &id, 1);
	}
	all = nat_csum_add(addrs, ports);

	if (ip->check) {
		old_ip_check = *ip->check;
		nat_csum_apply(ip->check, addrs);
		all = nat_csum_diff(all, &old_ip_check, ip->check, 1);
	}
	if (l4->check && !(l4->zero_ok && *l4->check == 0)) {
		old_l4_check = *l4->check;
		nat_csum_apply(l4->check, l4->pseudo ? nat_csum_add(addrs, ports) : ports);
		/* A UDP checksum that comes out 0 is sent as all ones (RFC 768). */
		if (l4->zero_ok && *l4->check == 0)
			*l4->check = 0xffff;
		all = nat_csum_diff(all, &old_l4_check, l4->check, 1);
	}
	if (ip->v4) {
		__builtin_memcpy(ip->saddr, ns, 4);
		__builtin_memcpy(ip->daddr, nd, 4);
	} else {
		__builtin_memcpy(ip->saddr, ns, 16);
		__builtin_memcpy(ip->daddr, nd, 16);
	}
	if (l4->sport) {
		*l4->sport = to->sport;
		*l4->dport = to->dport;
	} else if (l4->id) {
		*l4->id = id;
	}
	return all;
}

static __always_inline __u64 nat_timeout_ns(__u8 proto)
{
	__u32 zero = 0;
	struct nat_cfg *cfg = bpf_map_lookup_elem(&nat_cfg, &zero);
	__u32 s;

	if (proto == IPPROTO_TCP)
		s = cfg && cfg->tcp_timeout_s ? cfg->tcp_timeout_s : NAT_TCP_TIMEOUT_S;
	else if (proto == IPPROTO_UDP)
		s = cfg && cfg->udp_timeout_s ? cfg->udp_timeout_s : NAT_UDP_TIMEOUT_S;
	else
		s = cfg && cfg->icmp_timeout_s ? cfg->icmp_timeout_s : NAT_ICMP_TIMEOUT_S;
	return (__u64)s * 1000000000ULL;
}

/* The session entry of the reply to a packet t translated to s: its key and its value. */
static __always_inline void nat_reverse(const struct nat_tuple *t, const struct nat_session *s, struct nat_tuple *rk,
					struct nat_session *rv)
{
	__builtin_memset(rk, 0, sizeof(*rk));
	__builtin_memcpy(rk->saddr, s->daddr, 16);
	__builtin_memcpy(rk->daddr, s->saddr, 16);
	rk->sport = s->dport;
	rk->dport = s->sport;
	rk->proto = t->proto;
	__builtin_memset(rv, 0, sizeof(*rv));
	__builtin_memcpy(rv->saddr, t->daddr, 16);
	__builtin_memcpy(rv->daddr, t->saddr, 16);
	rv->sport = t->dport;
	rv->dport = t->sport;
	rv->origin = s->origin;
	rv->reply = !s->reply;
	rv->last_ns = s->last_ns;
}

static __always_inline int nat_addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Whether two sessions rewrite to the same addresses and ports. */
static __always_inline int nat_same(const struct nat_session *a, const struct nat_session *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

#pragma unroll
	for (int i = 0; i < 9; i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/* The live session of t (its reply half in place and pointing back), refreshed: 1 and *out,
 * or 0 (*reason NAT_R_EXPIRED when it was idle too long). */
static __always_inline int nat_find(struct nat_scratch *w, __u64 now, __u32 *reason)
{
	struct nat_session *s = bpf_map_lookup_elem(&nat_ct, &w->t), *partner;

	if (!s)
		return 0;
	nat_reverse(&w->t, s, &w->rk, &w->rv);
	partner = bpf_map_lookup_elem(&nat_ct, &w->rk);
	if (!partner || !nat_same(partner, &w->rv))
		return 0;
	if (now - s->last_ns > nat_timeout_ns(w->t.proto)) {
		*reason = NAT_R_EXPIRED;
		return 0;
	}
	s->last_ns = now;
	partner->last_ns = now;
	w->s = *s;
	return 1;
}

/* Stores a session and its reply half. For SNAT, the reply half takes the first free port of
 * the rule's range from the preferred one on (a port is free when no live session holds it). */
static __always_inline int nat_store(struct nat_scratch *w, const struct nat_snat_rule *snat, __u64 now)
{
	const struct nat_tuple *t = &w->t;
	struct nat_session *s = &w->s, *held;
	__u16 own, min = 0, range = 1, start = 0;
	__be16 *port = &s->sport; /* an ICMP echo request: its identifier */

	own = bpf_ntohs(*port);
	if (snat && (snat->port_min || snat->port_max) && snat->port_max >= snat->port_min) {
		min = snat->port_min;
		range = snat->port_max - snat->port_min + 1;
		start = own >= min && own - min < range ? own - min : (__u16)(own * 0x9e37u) % range;
	}
	for (int i = 0; i < NAT_PORT_TRIES; i++) {
		if (range == 1 ? i > 0 : i >= range)
			break;
		if (range > 1)
			*port = bpf_htons(min + (start + i) % range);
		nat_reverse(t, s, &w->rk, &w->rv);
		held = bpf_map_lookup_elem(&nat_ct, &w->rk);
		if (!held) {
			if (bpf_map_update_elem(&nat_ct, &w->rk, &w->rv, BPF_NOEXIST))
				continue;
		} else if (nat_same(held, &w->rv) || now - held->last_ns > nat_timeout_ns(t->proto)) {
			bpf_map_update_elem(&nat_ct, &w->rk, &w->rv, BPF_ANY);
		} else {
			continue;
		}
		bpf_map_update_elem(&nat_ct, t, s, BPF_ANY);
		return 0;
	}
	return -1;
}

/* A new session for t from the rules: *reason NAT_R_NEW_DNAT / NAT_R_NEW_SNAT with *out, or
 * NAT_R_NO_RULE / NAT_R_NO_PORT. Only a flow's first packet makes one: not an echo reply. */
static __always_inline __u32 nat_create(struct nat_scratch *w, const struct nat_l4 *l4, __u64 now)
{
	const struct nat_tuple *t = &w->t;
	struct nat_session *out = &w->s;
	struct nat_dnat_key dk = {};
	struct nat_snat_key sk = { .prefixlen = 128 };
	struct nat_dnat_rule *dnat;
	struct nat_snat_rule *snat;

	if (l4->icmp == NAT_ICMP_ECHO_REPLY)
		return NAT_R_NO_RULE;
	__builtin_memset(out, 0, sizeof(*out));
	__builtin_memcpy(out->saddr, t->saddr, 16);
	__builtin_memcpy(out->daddr, t->daddr, 16);
	out->sport = t->sport;
	out->dport = t->dport;
	out->last_ns = now;

	__builtin_memcpy(dk.daddr, t->daddr, 16);
	dk.dport = t->dport;
	dk.proto = t->proto;
	dnat = bpf_map_lookup_elem(&nat_dnat, &dk);
	if (!dnat) {
		dk.dport = 0;
		dk.proto = 0;
		dnat = bpf_map_lookup_elem(&nat_dnat, &dk);
	}
	if (dnat) {
		__builtin_memcpy(out->daddr, dnat->addr, 16);
		if (dnat->port && l4->sport)
			out->dport = dnat->port;
		out->origin = NAT_R_NEW_DNAT;
		return nat_store(w, NULL, now) ? NAT_R_NO_PORT : NAT_R_NEW_DNAT;
	}

	__builtin_memcpy(sk.saddr, t->saddr, 16);
	snat = bpf_map_lookup_elem(&nat_snat, &sk);
	if (!snat)
		return NAT_R_NO_RULE;
	__builtin_memcpy(out->saddr, snat->addr, 16);
	out->origin = NAT_R_NEW_SNAT;
	return nat_store(w, snat, now) ? NAT_R_NO_PORT : NAT_R_NEW_SNAT;
}

/* An ICMP error (outer ip, its ICMP header icmp): the quoted packet went out translated, so its
 * reversed tuple is a session's key; the quote takes the session's mirror image and the outer
 * addresses that were the quote's follow. */
static __always_inline __u32 nat_icmp_error(struct nat_scratch *w, struct nat_ip *outer, struct nat_l4 *icmp, void *end)
{
	struct nat_tuple *t = &w->t, *key = &w->rk;
	struct nat_target *mirror = &w->mirror, *out = &w->out;
	struct nat_ip inner = {};
	struct nat_l4 quoted;
	struct nat_session *s;
	__u32 changed;
	int err;

	err = nat_parse_ip((__u8 *)outer->l4 + 8, end, outer->v4, &inner);
	if (err)
		return err;
	err = nat_parse_l4(&inner, end, &quoted, 1);
	if (err)
		return err;
	nat_tuple_of(&inner, &quoted, t);
	__builtin_memset(key, 0, sizeof(*key));
	__builtin_memcpy(key->saddr, t->daddr, 16);
	__builtin_memcpy(key->daddr, t->saddr, 16);
	key->sport = t->dport;
	key->dport = t->sport;
	key->proto = t->proto;
	s = bpf_map_lookup_elem(&nat_ct, key);
	if (!s)
		return NAT_R_NO_RULE;
	__builtin_memcpy(mirror->saddr, s->daddr, 16);
	__builtin_memcpy(mirror->daddr, s->saddr, 16);
	mirror->sport = s->dport;
	mirror->dport = s->sport;

	nat_addr_load(out->saddr, outer->saddr, outer->v4);
	nat_addr_load(out->daddr, outer->daddr, outer->v4);
	out->sport = 0;
	out->dport = 0;
	if (nat_addr_eq(out->saddr, t->daddr))
		__builtin_memcpy(out->saddr, mirror->daddr, 16);
	if (nat_addr_eq(out->daddr, t->saddr))
		__builtin_memcpy(out->daddr, mirror->saddr, 16);

	changed = nat_rewrite(&inner, &quoted, mirror);
	nat_rewrite(outer, icmp, out);
	nat_csum_apply(icmp->check, changed);
	return NAT_R_ICMP_ERROR;
}

HIKE_PROG(nat)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct nat_scratch *w;
	struct nat_ip ip = {};
	struct nat_l4 l4;
	__u32 reason = NAT_R_NO_RULE;
	__u32 zero = 0;
	__u64 now;
	int v4;

	w = bpf_map_lookup_elem(&nat_scratch, &zero);
	if (!w || (void *)(eth + 1) > end)
		goto not_ip;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		v4 = 1;
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		v4 = 0;
	else
		goto not_ip;
	reason = nat_parse_ip(eth + 1, end, v4, &ip);
	if (!reason)
		reason = nat_parse_l4(&ip, end, &l4, 0);
	if (reason)
		goto done;
	if (l4.icmp == NAT_ICMP_ERROR) {
		reason = nat_icmp_error(w, &ip, &l4, end);
		goto done;
	}

	now = bpf_ktime_get_ns();
	nat_tuple_of(&ip, &l4, &w->t);
	reason = NAT_R_SESSION;
	if (!nat_find(w, now, &reason)) {
		__u32 created = nat_create(w, &l4, now);

		/* An expired session replaced counts as expired. */
		if (created == NAT_R_NEW_DNAT || created == NAT_R_NEW_SNAT)
			reason = reason == NAT_R_EXPIRED ? NAT_R_EXPIRED : created;
		else
			reason = created;
	}
	if (reason == NAT_R_SESSION || reason == NAT_R_NEW_DNAT || reason == NAT_R_NEW_SNAT || reason == NAT_R_EXPIRED)
		nat_rewrite(&ip, &l4, (const struct nat_target *)&w->s);
done:
	hike_count_event(&nat_stats, reason);
	switch (reason) {
	case NAT_R_SESSION:
	case NAT_R_NEW_DNAT:
	case NAT_R_NEW_SNAT:
	case NAT_R_EXPIRED:
	case NAT_R_ICMP_ERROR:
		HVM_RET = NAT_RET_TRANSLATED;
		break;
	case NAT_R_MALFORMED:
		HVM_RET = NAT_RET_NOT_IP;
		break;
	case NAT_R_NO_PORT:
		HVM_RET = NAT_RET_NO_PORT;
		break;
	default:
		HVM_RET = NAT_RET_UNTOUCHED;
	}
	return HIKE_XDP_VM;
not_ip:
	hike_count_event(&nat_stats, NAT_R_NOT_IP);
	HVM_RET = NAT_RET_NOT_IP;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(nat);
EXPORT_HIKE_PROG_MAP(nat, nat_ct);
EXPORT_HIKE_PROG_MAP(nat, nat_snat);
EXPORT_HIKE_PROG_MAP(nat, nat_dnat);
EXPORT_HIKE_PROG_MAP(nat, nat_cfg);
EXPORT_HIKE_PROG_MAP(nat, nat_stats);

char LICENSE[] SEC("license") = "GPL";
