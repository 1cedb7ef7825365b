/* stamp: a STAMP session-reflector (RFC 8762, unauthenticated mode, with the RFC 8972 SSID) in
 * HIKe programs, and a collector for the sender side.
 *
 * A modular reflector chain:
 *
 *	call filter            r0 = 0: a STAMP test packet to our reflector port
 *	if r0 != 0 goto pass
 *	call stamp             fill the reflector fields (r0 = 0 when done)
 *	if r0 != 0 goto pass
 *	call l234_addr_swap    swap MACs, IPv6 addresses and UDP ports
 *	call udp_checksum      recompute the UDP checksum
 *	call hike_tx           XDP_TX: back out of the interface it came in on
 *	pass: call hike_pass
 *
 * stamp_mono does all of it in one program. Timestamps are NTP (RFC 5905, 32.32 since 1900):
 * eBPF only reads CLOCK_BOOTTIME, so hike keeps `stamp_time` (boot time → NTP time offset, ns)
 * current; a program whose offset is unset leaves the packet alone (r0 = 2).
 *
 * All programs share the maps of this object: keep them in this one file.
 */
#define HIKE_PACKAGE "stamp"
#include "hike/hike.h"
#include "hike/ip6.h"
#include "hike/counter.h"
#include <linux/udp.h>

#define STAMP_PORT 862
#define STAMP_MIN_LEN 44 /* the unauthenticated test packet, both directions */
#define STAMP_EXT_MAX 4  /* IPv6 extension headers skipped before UDP */
#define STAMP_CSUM_MAX 1500 /* UDP bytes udp_checksum sums (a 1500-byte MTU) */

/* The unauthenticated reflector packet (RFC 8762 §4.3.1 with the RFC 8972 SSID); the sender's
 * packet is the first 16 bytes of it followed by zeros. */
struct stamp_pkt {
	__be32 seq;           /* 0: reflector's sequence number */
	__be64 timestamp;     /* 4: reflector's transmit timestamp */
	__be16 error_est;     /* 12 */
	__be16 ssid;          /* 14: RFC 8972 session-sender identifier */
	__be64 rx_timestamp;  /* 16: when the reflector received the test packet */
	__be32 sender_seq;    /* 24 */
	__be64 sender_ts;     /* 28 */
	__be16 sender_err;    /* 36 */
	__be16 mbz1;          /* 38 */
	__u8 sender_ttl;      /* 40: the received packet's hop limit */
	__u8 mbz2[3];         /* 41 */
} __attribute__((packed));

/* Value 0: ns to add to bpf_ktime_get_boot_ns() to get ns since 1900-01-01 (NTP era 0).
 * Written by hike when the object loads and on `hike clock sync`; 0 = not set. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stamp_time SEC(".maps");

/* The reflector's configuration: 0 fields take the defaults. */
struct stamp_config {
	__u16 port;      /* reflector UDP port; 0 = 862 */
	__u16 error_est; /* the reflector's Error Estimate (host order); 0 = 0x0001 (S=0, Z=0, ×1) */
	__u32 stateless; /* 1: the reflector's sequence number is the sender's (RFC 8762 §4.2.1) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stamp_config);
} stamp_cfg SEC(".maps");

/* Stateful reflector sequence numbers, per test session (sender address, port and SSID). */
struct stamp_session_key {
	__u8 sender[16];
	__be16 sender_port;
	__be16 ssid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct stamp_session_key);
	__type(value, __u32);
} stamp_sessions SEC(".maps");

/* Per-CPU counters: see enum stamp_stat. */
enum stamp_stat {
	STAMP_STAT_REFLECTED = 0, /* stamp / stamp_mono filled a reply */
	STAMP_STAT_NOT_STAMP = 1, /* filter said no */
	STAMP_STAT_NO_CLOCK = 2,  /* no boot → NTP offset in stamp_time */
	STAMP_STAT_COLLECTED = 3, /* collector recorded a reply */
	STAMP_STAT_MAX = 8,
};

HIKE_EVENT_COUNTER_MAP(stamp_stats, STAMP_STAT_MAX);

/* Collector: the four timestamps of each reply, by (SSID, sender sequence number). */
struct stamp_collect_key {
	__u16 ssid;
	__u16 pad;
	__u32 seq; /* the sender's sequence number, host order */
};

struct stamp_collect_value {
	__u64 t1; /* sender transmit (NTP, host order) */
	__u64 t2; /* reflector receive */
	__u64 t3; /* reflector transmit */
	__u64 t4; /* collector receive */
	__u32 reflector_seq;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct stamp_collect_key);
	__type(value, struct stamp_collect_value);
} stamp_collect SEC(".maps");


static __always_inline __u16 stamp_port(void)
{
	__u32 zero = 0;
	struct stamp_config *cfg = bpf_map_lookup_elem(&stamp_cfg, &zero);

	return cfg && cfg->port ? cfg->port : STAMP_PORT;
}

/* ns since the NTP epoch as an NTP 32.32 timestamp; 0 when hike has not set the offset. */
static __always_inline __u64 stamp_ntp_now(void)
{
	__u32 zero = 0;
	__u64 *offset = bpf_map_lookup_elem(&stamp_time, &zero);
	__u64 ns, secs, frac;

	if (!offset || !*offset)
		return 0;
	ns = bpf_ktime_get_boot_ns() + *offset;
	secs = ns / 1000000000ULL;
	frac = ((ns % 1000000000ULL) << 32) / 1000000000ULL;
	return secs << 32 | frac;
}

/* The parsed headers of a UDP-over-IPv6 packet. */
struct stamp_headers {
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	struct udphdr *udp;
	struct stamp_pkt *stamp; /* NULL when the UDP payload is shorter than STAMP_MIN_LEN */
};

/* Finds UDP after at most STAMP_EXT_MAX extension headers (hop-by-hop, routing, destination
 * options: hike_ip6_skip_ext). Returns 0 when the packet is UDP over IPv6. */
static __always_inline int stamp_parse(struct xdp_md *ctx, struct stamp_headers *h)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct hike_cursor cur = { .pos = data, .end = end };

	h->eth = HIKE_TAKE(&cur, struct ethhdr);
	if (!h->eth || h->eth->h_proto != bpf_htons(ETH_P_IPV6))
		return -1;
	h->ip6 = HIKE_TAKE(&cur, struct ipv6hdr);
	if (!h->ip6)
		return -1;
	if (hike_ip6_skip_ext(&cur, h->ip6->nexthdr, STAMP_EXT_MAX, HIKE_NEXTHDR_NO_STOP) != IPPROTO_UDP)
		return -1;
	h->udp = HIKE_TAKE(&cur, struct udphdr);
	if (!h->udp)
		return -1;
	h->stamp = HIKE_TAKE(&cur, struct stamp_pkt);
	return 0;
}

/* 0: a STAMP test packet to our reflector port. */
static __always_inline int stamp_filter(struct stamp_headers *h, __u16 port)
{
	if (!h->stamp || h->udp->dest != bpf_htons(port))
		return 1;
	if (bpf_ntohs(h->udp->len) < sizeof(struct udphdr) + STAMP_MIN_LEN)
		return 1;
	return 0;
}

/* Fills the reflector fields. 0 when done, 2 when the clock offset is unset. */
static __always_inline int stamp_reflect(struct stamp_headers *h)
{
	struct stamp_pkt *s = h->stamp;
	struct stamp_session_key key = {};
	struct stamp_config *cfg;
	__u32 zero = 0, seq;
	__u16 error_est = 1;
	__u64 rx;
	__u32 *next;

	rx = stamp_ntp_now();
	if (!rx) {
		hike_count_event(&stamp_stats, STAMP_STAT_NO_CLOCK);
		return 2;
	}
	cfg = bpf_map_lookup_elem(&stamp_cfg, &zero);
	if (cfg && cfg->error_est)
		error_est = cfg->error_est;

	/* The sender's fields first: the reflector's overwrite them. */
	s->sender_seq = s->seq;
	s->sender_ts = s->timestamp;
	s->sender_err = s->error_est;
	s->mbz1 = 0;
	s->sender_ttl = h->ip6->hop_limit;
	s->mbz2[0] = 0;
	s->mbz2[1] = 0;
	s->mbz2[2] = 0;
	s->rx_timestamp = bpf_cpu_to_be64(rx);

	seq = bpf_ntohl(s->sender_seq);
	if (!cfg || !cfg->stateless) {
		__builtin_memcpy(key.sender, &h->ip6->saddr, 16);
		key.sender_port = h->udp->source;
		key.ssid = s->ssid;
		next = bpf_map_lookup_elem(&stamp_sessions, &key);
		if (next) {
			seq = __sync_fetch_and_add(next, 1);
		} else {
			__u32 one = 1;

			/* A new session starts at 0. */
			seq = 0;
			bpf_map_update_elem(&stamp_sessions, &key, &one, BPF_NOEXIST);
		}
	}
	s->seq = bpf_htonl(seq);
	s->error_est = bpf_htons(error_est);
	s->timestamp = bpf_cpu_to_be64(stamp_ntp_now());
	hike_count_event(&stamp_stats, STAMP_STAT_REFLECTED);
	return 0;
}

static __always_inline void stamp_swap(struct stamp_headers *h)
{
	__u8 mac[ETH_ALEN];
	struct in6_addr addr;
	__be16 port;

	__builtin_memcpy(mac, h->eth->h_dest, ETH_ALEN);
	__builtin_memcpy(h->eth->h_dest, h->eth->h_source, ETH_ALEN);
	__builtin_memcpy(h->eth->h_source, mac, ETH_ALEN);
	addr = h->ip6->saddr;
	h->ip6->saddr = h->ip6->daddr;
	h->ip6->daddr = addr;
	port = h->udp->source;
	h->udp->source = h->udp->dest;
	h->udp->dest = port;
}

static __always_inline __u32 csum_add_be16(__u32 sum, const __u8 *p)
{
	return sum + ((__u32)p[0] << 8 | p[1]);
}

/* Recomputes the UDP checksum (RFC 8200 §8.1 pseudo-header with the IPv6 header's addresses:
 * no routing header). 0 when done, 1 when the datagram is longer than STAMP_CSUM_MAX or does
 * not fit the packet. */
static __always_inline int stamp_udp_checksum(struct xdp_md *ctx, struct stamp_headers *h)
{
	void *end = (void *)(long)ctx->data_end;
	__u8 *udp = (__u8 *)h->udp;
	__u32 len = bpf_ntohs(h->udp->len);
	__u32 sum = 0, i;
	__u16 csum;

	/* Two tests: clang merges them into one on a copy of len, whose bound the 6.1 and 6.12
	 * verifiers do not carry back to len. */
	if (len > STAMP_CSUM_MAX)
		return 1;
	barrier_var(len);
	if (len < sizeof(struct udphdr))
		return 1;
	if ((void *)udp + len > end)
		return 1;
	for (i = 0; i < 16; i += 2) {
		sum = csum_add_be16(sum, (__u8 *)&h->ip6->saddr + i);
		sum = csum_add_be16(sum, (__u8 *)&h->ip6->daddr + i);
	}
	sum += len + IPPROTO_UDP;
	h->udp->check = 0;
	{
		__u8 *p = udp;

#pragma clang loop unroll(disable)
		for (i = 0; i + 1 < len && i < STAMP_CSUM_MAX; i += 2) {
			if ((void *)(p + 2) > end)
				return 1;
			sum = csum_add_be16(sum, p);
			p += 2;
			asm volatile("" : "+r"(p));
		}
	}
	if (len & 1) {
		__u8 *p = udp + ((len - 1) & 0x7ff);

		if ((void *)(p + 1) > end)
			return 1;
		sum += (__u32)p[0] << 8;
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	csum = ~sum & 0xffff;
	h->udp->check = bpf_htons(csum ? csum : 0xffff);
	return 0;
}

/* r0 = 0 if the packet is a STAMP test packet (UDP over IPv6, at least 44 bytes of payload) to
 * the reflector port (stamp_cfg, default 862), else 1. */
HIKE_PROG(filter)
{
	struct stamp_headers h = {};

	if (stamp_parse(ctx, &h) || stamp_filter(&h, stamp_port())) {
		hike_count_event(&stamp_stats, STAMP_STAT_NOT_STAMP);
		HVM_RET = 1;
	} else {
		HVM_RET = 0;
	}
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(filter);
EXPORT_HIKE_PROG_MAP(filter, stamp_cfg);
EXPORT_HIKE_PROG_MAP(filter, stamp_stats);

/* Turns a STAMP test packet into the reflector's reply (addresses untouched): r0 = 0 done,
 * 1 not a STAMP packet (too short), 2 no clock offset (packet untouched). */
HIKE_PROG(stamp)
{
	struct stamp_headers h = {};

	if (stamp_parse(ctx, &h) || !h.stamp) {
		HVM_RET = 1;
		return HIKE_XDP_VM;
	}
	HVM_RET = stamp_reflect(&h);
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(stamp);
EXPORT_HIKE_PROG_MAP(stamp, stamp_time);
EXPORT_HIKE_CLOCK_MAP(stamp, stamp_time, HIKE_CLOCK_NTP);
EXPORT_HIKE_PROG_MAP(stamp, stamp_cfg);
EXPORT_HIKE_PROG_MAP(stamp, stamp_sessions);
EXPORT_HIKE_PROG_MAP(stamp, stamp_stats);

/* Recomputes the UDP checksum of a UDP-over-IPv6 packet: r0 = 0 done, 1 not UDP over IPv6 or
 * longer than 1500 bytes (left alone). */
HIKE_PROG(udp_checksum)
{
	struct stamp_headers h = {};

	if (stamp_parse(ctx, &h)) {
		HVM_RET = 1;
		return HIKE_XDP_VM;
	}
	HVM_RET = stamp_udp_checksum(ctx, &h);
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(udp_checksum);

/* Swaps the Ethernet addresses, the IPv6 addresses and the UDP ports: r0 = 0, or 1 when the
 * packet is not UDP over IPv6 (left alone). The UDP checksum does not change. */
HIKE_PROG(l234_addr_swap)
{
	struct stamp_headers h = {};

	if (stamp_parse(ctx, &h)) {
		HVM_RET = 1;
		return HIKE_XDP_VM;
	}
	stamp_swap(&h);
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(l234_addr_swap);

/* Ends the chain: the packet goes back out of the interface it came in on (XDP_TX). */
HIKE_PROG(hike_tx)
{
	return XDP_TX;
}
EXPORT_HIKE_PROG(hike_tx);
HIKE_PROG_FINAL(hike_tx);

/* The whole reflector in one program: a STAMP test packet is answered (XDP_TX, the chain
 * ends); anything else continues the chain with r0 = 1 (2: no clock offset). */
HIKE_PROG(stamp_mono)
{
	struct stamp_headers h = {};
	int ret;

	if (stamp_parse(ctx, &h) || stamp_filter(&h, stamp_port())) {
		hike_count_event(&stamp_stats, STAMP_STAT_NOT_STAMP);
		HVM_RET = 1;
		return HIKE_XDP_VM;
	}
	ret = stamp_reflect(&h);
	if (ret) {
		HVM_RET = ret;
		return HIKE_XDP_VM;
	}
	stamp_swap(&h);
	if (stamp_udp_checksum(ctx, &h)) {
		HVM_RET = 1;
		return HIKE_XDP_VM;
	}
	return XDP_TX;
}
EXPORT_HIKE_PROG(stamp_mono);
EXPORT_HIKE_PROG_MAP(stamp_mono, stamp_time);
EXPORT_HIKE_PROG_MAP(stamp_mono, stamp_cfg);
EXPORT_HIKE_PROG_MAP(stamp_mono, stamp_sessions);
EXPORT_HIKE_PROG_MAP(stamp_mono, stamp_stats);

/* On the sender's side: a reflected STAMP packet (UDP from the reflector port) gets its
 * four timestamps recorded in stamp_collect under (SSID, sender sequence number): r0 = 0;
 * 1 not a reply, 2 no clock offset. The packet is not changed: chain hike_pass after it
 * so the sender's socket gets it too. */
HIKE_PROG(collector)
{
	struct stamp_headers h = {};
	struct stamp_collect_key key = {};
	struct stamp_collect_value value = {};
	__u64 now;

	if (stamp_parse(ctx, &h) || !h.stamp || h.udp->source != bpf_htons(stamp_port())) {
		HVM_RET = 1;
		return HIKE_XDP_VM;
	}
	now = stamp_ntp_now();
	if (!now) {
		hike_count_event(&stamp_stats, STAMP_STAT_NO_CLOCK);
		HVM_RET = 2;
		return HIKE_XDP_VM;
	}
	key.ssid = bpf_ntohs(h.stamp->ssid);
	key.seq = bpf_ntohl(h.stamp->sender_seq);
	value.t1 = bpf_be64_to_cpu(h.stamp->sender_ts);
	value.t2 = bpf_be64_to_cpu(h.stamp->rx_timestamp);
	value.t3 = bpf_be64_to_cpu(h.stamp->timestamp);
	value.t4 = now;
	value.reflector_seq = bpf_ntohl(h.stamp->seq);
	bpf_map_update_elem(&stamp_collect, &key, &value, BPF_ANY);
	hike_count_event(&stamp_stats, STAMP_STAT_COLLECTED);
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(collector);
EXPORT_HIKE_PROG_MAP(collector, stamp_time);
EXPORT_HIKE_PROG_MAP(collector, stamp_collect);
EXPORT_HIKE_PROG_MAP(collector, stamp_stats);

char LICENSE[] SEC("license") = "GPL";
