/* The srv6 package's ABI: the configuration and counter maps that hike's SRv6 module (Swift)
 * writes and reads, and the SRH as RFC 8754 lays it out. The Swift side mirrors every constant
 * and struct here and a test checks the mirror against a compiled object.
 *
 * Behaviours are HIKe programs taking one argument, an index: a policy index for the headend
 * programs, a SID index for the endpoint programs. hike writes the entry at that index before it
 * installs a chain that calls the program with it.
 *
 *   headends (not final: on success r0 = 0 and the chain goes on, usually to ip6_kroute):
 *     srv6_h_encaps(policy), srv6_h_encaps_red(policy), srv6_h_insert(policy),
 *     srv6_h_insert_red(policy), srv6_h_encaps_l2(policy)
 *   endpoints (final: they rewrite, look up the FIB and redirect, or hand the packet to the
 *   kernel, untouched or processed as the SID's fallback says):
 *     srv6_end(sid), srv6_end_x(sid), srv6_end_t(sid), srv6_end_dt6(sid), srv6_end_dt4(sid),
 *     srv6_end_dt46(sid), srv6_end_dx6(sid), srv6_end_dx4(sid)
 *   uN is srv6_end and uA srv6_end_x with SRV6_FLV_NEXT_CSID in the SID's flavours.
 *   SR proxies (final; one program serves both directions, told apart by the interface the
 *   packet came in on): srv6_end_as(sid), srv6_end_ad(sid), srv6_end_am(sid).
 *
 * Whatever the fast path does not finish goes to the kernel (XDP_PASS): ICMPv6 errors (hop
 * limit, parameter problem), unresolved neighbours, local delivery — untouched when the kernel
 * has a route running the same behaviour, processed when it has none (SRV6_FALLBACK_*).
 * Malformed packets that RFC 8754 says to drop are dropped. Every such outcome is counted by
 * reason in srv6_reasons. A headend that cannot finish ends the chain the same way (XDP_PASS,
 * or XDP_DROP for a packet cut short or a policy without a kernel route). Every program leaves
 * its outcome's SRV6_R_* reason in r0 (0 = processed).
 */
#ifndef HIKE_SRV6_H
#define HIKE_SRV6_H

#include <linux/types.h>
#include <linux/in6.h>
#include <linux/bpf.h>

#define SRV6_MAX_SEGMENTS 8    /* SIDs in a headend policy's segment list */
#define SRV6_MAX_POLICIES 1024 /* entries of srv6_policies / srv6_policy_stats */
#define SRV6_MAX_SIDS 1024     /* entries of srv6_sids / srv6_sid_stats */
#define SRV6_MAX_ROUTES 4096   /* entries of each srv6_localsid LPM map */

#define SRV6_ROUTING_TYPE 4 /* RFC 8754 */

/* The Segment Routing Header, RFC 8754 §2. segments[0] is the last segment of the path;
 * DA = segments[segments_left]. */
struct srv6_srh {
	__u8 nexthdr;
	__u8 hdrlen;        /* 8-octet units, not counting the first 8 */
	__u8 type;          /* 4 */
	__u8 segments_left;
	__u8 last_entry;    /* index of the last element of the segment list, 0-based */
	__u8 flags;
	__be16 tag;
	struct in6_addr segments[0];
};

/* What happens to a packet the fast path cannot finish (the `fallback` of a policy or SID):
 *  KERNEL_ROUTE: the kernel has a route for the same prefix that runs the same behaviour (hike's
 *    mirror route): the packet goes to it untouched (XDP_PASS) and the kernel does it all.
 *  NONE: the kernel has no such route (kernel-routes: false, or a kernel without seg6). An
 *    endpoint then hands the kernel the packet it has processed, for the kernel to forward by
 *    its own tables (a decapsulating behaviour: the inner packet; a transit one: the packet with
 *    its new destination), when the reason is one the kernel finishes (no neighbour yet, a route
 *    it must handle, a local destination, the MTU, the hop limit); every other packet it could
 *    not process (malformed, SL = 0 at a transit SID, …) is dropped, counted under its reason,
 *    as the kernel would route it as plain IPv6; a headend drops the packet rather than let the
 *    kernel route it around the policy. */
#define SRV6_FALLBACK_KERNEL_ROUTE 0
#define SRV6_FALLBACK_NONE 1

/* Headend policy modes (the program's own name says which one it runs; a policy whose mode
 * differs from the program's is an error). */
#define SRV6_HEADEND_ENCAPS 1
#define SRV6_HEADEND_ENCAPS_RED 2
#define SRV6_HEADEND_INSERT 3
#define SRV6_HEADEND_INSERT_RED 4
#define SRV6_HEADEND_ENCAPS_L2 5

/* srv6_policies[index]: one SR policy. segments[0] is the first SID the packet visits (the order
 * `ip -6 route … encap seg6 … segs A,B,C` takes); the programs write the SRH in reverse. */
struct srv6_policy {
	__u8 mode;      /* SRV6_HEADEND_*; 0 = empty entry */
	__u8 nsegs;     /* 1 .. SRV6_MAX_SEGMENTS */
	__u8 flags;     /* SRH flags byte */
	__u8 hop_limit; /* outer hop limit for a non-IPv6 inner packet; 0 = 64 */
	__u16 tag;      /* SRH tag, host order */
	__u16 fallback; /* SRV6_FALLBACK_*: what a failed headend does with the packet */
	struct in6_addr src; /* outer source address (the kernel's `ip sr tunsrc`) */
	struct in6_addr segments[SRV6_MAX_SEGMENTS];
	__u32 pm_flow;  /* encapsulating modes: the pm flow (hike/pm.h) this policy's packets are
			 * counted and marked as, in the mode pm_flows gives it; 0 = not monitored */
};

/* Endpoint behaviours: the kernel's SEG6_LOCAL_ACTION_* numbers. */
#define SRV6_END 1
#define SRV6_END_X 2
#define SRV6_END_T 3
#define SRV6_END_DX6 5
#define SRV6_END_DX4 6
#define SRV6_END_DT6 7
#define SRV6_END_DT4 8
#define SRV6_END_DT46 16
/* SR proxies (draft-ietf-spring-sr-service-programming §6): the kernel reserves END_AS and
 * END_AM in its UAPI but implements neither; End.AD has no kernel number, so it takes one
 * above the kernel's range. */
#define SRV6_END_AS 13
#define SRV6_END_AM 14
#define SRV6_END_AD 128

/* The behaviour table (as the kernel's seg6_action_table): one row per endpoint behaviour —
 * whether the SRH advances (TRANSIT) or the packet is decapsulated (DECAP), the inner packets a
 * decapsulation takes, and where its next lookup goes: the main table, the SID's table, or the
 * SID's next hop and interface. The dispatch in srv6.bpf.c reads it; SRv6's Swift behaviour
 * table is checked against it (SRv6ABIMirrorTests). */
#define SRV6_KIND_TRANSIT 1
#define SRV6_KIND_DECAP 2
#define SRV6_KIND_PROXY 3
#define SRV6_INNER_V6 (1u << 0)
#define SRV6_INNER_V4 (1u << 1)
#define SRV6_INNER_ETH (1u << 2) /* an Ethernet frame (next header 143): the SR proxies' L2 mode */
#define SRV6_LOOKUP_MAIN 0
#define SRV6_LOOKUP_TABLE 1
#define SRV6_LOOKUP_NEXTHOP 2

#define SRV6_BEHAVIOURS(ROW)                                                                      \
	ROW(SRV6_END, SRV6_KIND_TRANSIT, 0, SRV6_LOOKUP_MAIN)                                     \
	ROW(SRV6_END_X, SRV6_KIND_TRANSIT, 0, SRV6_LOOKUP_NEXTHOP)                                \
	ROW(SRV6_END_T, SRV6_KIND_TRANSIT, 0, SRV6_LOOKUP_TABLE)                                  \
	ROW(SRV6_END_DX6, SRV6_KIND_DECAP, SRV6_INNER_V6, SRV6_LOOKUP_NEXTHOP)                    \
	ROW(SRV6_END_DX4, SRV6_KIND_DECAP, SRV6_INNER_V4, SRV6_LOOKUP_NEXTHOP)                    \
	ROW(SRV6_END_DT6, SRV6_KIND_DECAP, SRV6_INNER_V6, SRV6_LOOKUP_TABLE)                      \
	ROW(SRV6_END_DT4, SRV6_KIND_DECAP, SRV6_INNER_V4, SRV6_LOOKUP_TABLE)                      \
	ROW(SRV6_END_DT46, SRV6_KIND_DECAP, SRV6_INNER_V6 | SRV6_INNER_V4, SRV6_LOOKUP_TABLE)     \
	ROW(SRV6_END_AS, SRV6_KIND_PROXY, SRV6_INNER_V6 | SRV6_INNER_V4 | SRV6_INNER_ETH, SRV6_LOOKUP_NEXTHOP) \
	ROW(SRV6_END_AM, SRV6_KIND_PROXY, SRV6_INNER_V6, SRV6_LOOKUP_NEXTHOP)                     \
	ROW(SRV6_END_AD, SRV6_KIND_PROXY, SRV6_INNER_V6 | SRV6_INNER_V4 | SRV6_INNER_ETH, SRV6_LOOKUP_NEXTHOP)

/* Flavours (bit set). */
#define SRV6_FLV_PSP (1u << 0)       /* pop the SRH when SL becomes 0 (penultimate segment) */
#define SRV6_FLV_USP (1u << 1)       /* pop the SRH on arrival with SL = 0 (ultimate segment) */
#define SRV6_FLV_USD (1u << 2)       /* decapsulate on arrival with SL = 0 (ultimate segment) */
#define SRV6_FLV_NEXT_CSID (1u << 3) /* RFC 9800 NEXT-C-SID: uN (End), uA (End.X) */

/* srv6_sids[index]: one local SID. */
struct srv6_sid {
	__u32 behaviour; /* SRV6_END…; 0 = empty entry */
	__u32 flavours;  /* SRV6_FLV_* */
	__u32 table;     /* End.T, End.DT*: FIB table ID (254 = main) */
	__u32 oif;       /* End.X, End.DX*: egress ifindex; 0 = the FIB chooses (lookup on nh) */
	__u8 lblen;      /* NEXT-C-SID locator-block length, bits (multiple of 8; 0 = 32) */
	__u8 nflen;      /* NEXT-C-SID locator-node + function length, bits (multiple of 8; 0 = 16) */
	__u16 fallback;  /* SRV6_FALLBACK_*: what the kernel gets when the fast path cannot forward */
	__be32 nh4;            /* End.DX4 next hop; a proxy's function, for IPv4 */
	struct in6_addr nh6;   /* End.X, End.DX6 next hop; a proxy's function, for IPv6 */
	__u32 iif;             /* proxies: the interface the function's packets come back on (IFACE-IN) */
	__u32 inner;           /* proxies: SRV6_INNER_* the function takes */
	__u32 age_ms;          /* End.AD: the least time between two learnings of the headers */
};

/* srv6_sid_stats[sid] and srv6_policy_stats[policy] (per-CPU): like the kernel's seg6local
 * `count`: packets and bytes processed by the behaviour, packets it could not process. */
struct srv6_stats {
	__u64 packets;
	__u64 bytes;
	__u64 errors;
};

/* srv6_reasons[reason] (per-CPU packets): why a packet left the fast path. */
#define SRV6_R_OK 0               /* processed by the fast path (not an error) */
#define SRV6_R_NO_SRH 1           /* endpoint behaviour but no SRH (and not a uSID shift), or a Routing header of another type */
#define SRV6_R_BAD_HDRLEN 2       /* Hdr Ext Len too small for Last Entry, or TLVs that do not fill the rest of it */
#define SRV6_R_SL_PAST_LAST 3     /* Segments Left > Last Entry + 1 */
#define SRV6_R_TRUNCATED 4        /* segment list or headers cut by the end of the packet */
#define SRV6_R_HOP_LIMIT 5        /* hop limit ≤ 1: kernel sends Time Exceeded */
#define SRV6_R_SL_ZERO 6          /* SL = 0 at a transit behaviour: kernel processes the upper layer */
#define SRV6_R_SL_NONZERO 7       /* SL ≠ 0 at a decapsulating behaviour (End.DX*, End.DT*) */
#define SRV6_R_BAD_NEXT_HEADER 8  /* unexpected next header after decapsulation */
#define SRV6_R_NO_ENTRY 9         /* the argument names an empty or invalid SID or policy entry */
#define SRV6_R_WRONG_BEHAVIOUR 10 /* the entry is for another behaviour than the program's */
#define SRV6_R_NO_ROOM 11         /* cannot grow or shrink the packet (headroom, MTU) */
#define SRV6_R_FIB_MISS 12        /* no neighbour yet, or a route the kernel must handle (unreachable, blackhole, LWT…) */
#define SRV6_R_LOCAL 13           /* the FIB does not forward it: a local destination, or no route in the table */
#define SRV6_R_NOT_IP 14          /* headend input neither IPv6 nor IPv4; endpoint input not IPv6 */
#define SRV6_R_TLV 15             /* SRH with an HMAC (flag H) or more TLVs than the fast path walks: the kernel validates it */
#define SRV6_R_TX_UNREADY 16      /* the route's interface cannot take redirected frames (hike/tx.h): the kernel forwards it */
#define SRV6_R_NO_CACHE 17        /* proxy: the function sent a packet before any headers were learned (End.AD) or set (End.AS) */
#define SRV6_R_CACHE_TOO_BIG 18   /* End.AD: the outer headers do not fit in the cache (SRV6_PROXY_HDR_MAX) */
#define SRV6_R_CONTROL 19         /* proxy: the function's own link traffic (ND, ARP, link-local, multicast): the kernel's */
#define SRV6_R_MAX 20

/* SR proxies. srv6_proxy_cache[sid]: the outer IPv6 header and its extension headers (the SRH
 * among them) that packets coming back from the function get: learned from the inbound
 * packets (End.AD) or written by hike from the SID's configuration (End.AS). Written under the
 * lock; the packet's own next header goes into hdr[nh_off], its length into the payload
 * length. */
#define SRV6_PROXY_HDR_MAX 256
struct srv6_proxy_headers {
	__u32 len;    /* bytes in hdr; 0 = nothing learned */
	__u32 nh_off; /* hdr[nh_off] is the last next-header field (the inner packet's protocol) */
	__u8 hdr[SRV6_PROXY_HDR_MAX];
};

struct srv6_proxy_cache {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 learned_ns; /* End.AD: bpf_ktime_get_ns of the last learning */
	struct srv6_proxy_headers h;
};

/* srv6_proxy_stats[sid] (per-CPU): what went to the function and what came back from it, the
 * learnings, and every outcome by SRV6_R_* reason. */
struct srv6_proxy_stats {
	__u64 to_function;
	__u64 to_function_bytes;
	__u64 from_function;
	__u64 from_function_bytes;
	__u64 learned;
	__u64 reasons[SRV6_R_MAX];
};

/* srv6_localsid loader: srv6_lpm6 (IPv6 destination → chain ID: local SIDs and headend policies
 * alike, as the kernel keeps seg6local and seg6 routes in one FIB) and srv6_lpm4 (IPv4
 * destination → chain ID, for headends that encapsulate IPv4). No match → XDP_PASS. */
struct srv6_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};
struct srv6_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

#endif
