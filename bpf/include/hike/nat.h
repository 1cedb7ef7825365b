/* The nat package's ABI: its maps' keys and values, its reasons and results. Swift reads and
 * writes these through BTF (`hike map update nat_snat …`); docs/packages.md describes them.
 *
 * Addresses are 16 bytes for both families: an IPv4 address is held IPv4-mapped
 * (::ffff:a.b.c.d, RFC 4291 §2.5.5.2), which never appears in an IPv6 header on the wire. */
#ifndef HIKE_NAT_H
#define HIKE_NAT_H

#include <linux/types.h>

#define NAT_CT_ENTRIES 65536
#define NAT_RULE_ENTRIES 4096
/* Ports tried (from the preferred one on) before a new SNAT session is refused. */
#define NAT_PORT_TRIES 32

/* r0 of the nat program. */
#define NAT_RET_TRANSLATED 0
#define NAT_RET_UNTOUCHED 1 /* no session and no rule for it, or a packet nat does not translate */
#define NAT_RET_NOT_IP ((__u64)-22) /* -EINVAL: neither IPv4 nor IPv6, or a truncated header */
#define NAT_RET_NO_PORT ((__u64)-28) /* -ENOSPC: every port tried is held by a live session */

/* Default idle timeouts (s): RFC 5382 (TCP, established), RFC 4787 (UDP), RFC 5508 (ICMP). */
#define NAT_TCP_TIMEOUT_S 7440
#define NAT_UDP_TIMEOUT_S 300
#define NAT_ICMP_TIMEOUT_S 60

/* Why a packet was or was not translated: slots of nat_stats. */
enum nat_reason {
	NAT_R_SESSION = 0,     /* translated by a live session */
	NAT_R_NEW_SNAT = 1,    /* a new session from a nat_snat rule */
	NAT_R_NEW_DNAT = 2,    /* a new session from a nat_dnat rule */
	NAT_R_ICMP_ERROR = 3,  /* an ICMP error about a session's packet, inner and outer translated */
	NAT_R_NO_RULE = 4,     /* no session, no rule */
	NAT_R_NOT_IP = 5,      /* neither IPv4 nor IPv6 */
	NAT_R_UNSUPPORTED = 6, /* another protocol, a fragment, IPv4 options, IPv6 extension headers */
	NAT_R_MALFORMED = 7,   /* a header cut short */
	NAT_R_NO_PORT = 8,     /* SNAT: every port tried is in use */
	NAT_R_EXPIRED = 9,     /* a session idle past its timeout, replaced by a new one */
	NAT_R_MAX = 10,
};

/* A packet as it arrives (the key of nat_ct). ICMP echo: the identifier is sport in a request,
 * dport in a reply, the other 0, so that a request's reversed tuple is its reply's. */
struct nat_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* What a session rewrites a packet's fields to (the value of nat_ct). */
struct nat_session {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 origin;    /* NAT_R_NEW_SNAT or NAT_R_NEW_DNAT: the rule kind that made it */
	__u8 reply;     /* 1: the session's reply direction */
	__u8 pad[2];
	__u64 last_ns;  /* bpf_ktime_get_ns of the last packet, either direction */
};

/* nat_snat (LPM trie): packets from this source prefix get this address, and a port (an ICMP
 * identifier) from [port_min, port_max]; port_min = port_max = 0 keeps the port. An IPv4
 * prefix a.b.c.d/n is ::ffff:a.b.c.d/(96 + n). */
struct nat_snat_key {
	__u32 prefixlen;
	__u8 saddr[16];
};

struct nat_snat_rule {
	__u8 addr[16];
	__u16 port_min;
	__u16 port_max;
};

/* nat_dnat (hash): packets to (daddr, proto, dport) go to (addr, port); port 0 keeps the port.
 * proto 0 and dport 0: every packet to daddr (tried after the exact key). */
struct nat_dnat_key {
	__u8 daddr[16];
	__be16 dport;
	__u8 proto;
	__u8 pad;
};

struct nat_dnat_rule {
	__u8 addr[16];
	__be16 port;
	__u8 pad[2];
};

/* nat_cfg[0]: idle timeouts in seconds (0: the default). */
struct nat_cfg {
	__u32 tcp_timeout_s;
	__u32 udp_timeout_s;
	__u32 icmp_timeout_s;
	__u32 pad;
};

#endif
