/* hike wing's ABI: application-centric SRv6 on hosts (HawkWing, seed 001). The Swift side (Wing
 * module) mirrors every constant and struct here; a test checks the mirror against the object.
 *
 * One object, bpf/wing/wing.bpf.c, serves both roles:
 *   wing_egress (tc egress): a packet to a configured service and application port (the client)
 *     or to a learned flow (the server's replies) gets an SRH inserted after its IPv6 header,
 *     HawkWing's layout: no outer header, segments in SRH order, slot 0 the final destination,
 *     the destination address the first segment, Segments Left = last entry.
 *   wing_ingress (XDP): an SRH addressed to this host is removed after RFC 8754's checks
 *     (Segments Left 0, destination one of the host's addresses); on a server the path is
 *     learned first, reversed, for the replies. On a client, DNS answers to a configured name
 *     map every AAAA of the answer section to the service (CNAME chains included).
 */
#ifndef HIKE_WING_H
#define HIKE_WING_H

#include <linux/types.h>
#include <linux/in6.h>

#define WING_LIST_MAX 127       /* SRH entries, slot 0 included: what hdr_ext_len (8 bits) holds */
#define WING_SERVICES_MAX 4096  /* destination addresses → service (configured or from DNS) */
#define WING_APPS_MAX 4096      /* (service, port) → path */
#define WING_FLOWS_MAX 65536    /* learned flows: the default size bound (set before load) */
#define WING_LOCAL_MAX 64       /* the host's own addresses */
#define WING_DNS_NAMES_MAX 256  /* configured domain names */
#define WING_DNS_NAME_LEN 256   /* a name in DNS wire format, lower case, zero padded */
#define WING_DNS_SCAN 512       /* DNS payload bytes parsed */
#define WING_DNS_ANSWERS_MAX 16 /* answer records walked */

#define WING_ROUTING_TYPE 4
#define WING_NH_ROUTING 43

/* wing_cfg flags */
#define WING_CFG_LEARN (1 << 0) /* server: learn flows' reversed paths from incoming SRHs */
#define WING_CFG_DNS (1 << 1)   /* client: map DNS answers to services */

/* The one entry of wing_cfg. */
struct wing_config {
	__u32 flags;
	__u32 flow_idle_s; /* a learned flow unused this long is forgotten at the next reply; 0: never */
	/* server: the uSID block in 16-bit words (1–6), whose 16-bit C-SIDs a learned container has
	 * reversed too; 0: SIDs are reversed as they are */
	__u32 usid_block_words;
};

/* wing_path flags */
#define WING_PATH_ENCAP (1 << 0) /* an outer IPv6 header and the SRH (H.Encaps), not an insertion */

/* A path: an SRH's segment list in SRH order; list[entries - 1] is the first segment visited,
 * srh_len = 8 + 16 * entries. Inserted (the default), list[0] is the final destination, written
 * per packet. Encapsulated (WING_PATH_ENCAP), list[0] is the last SID, which decapsulates. */
struct wing_path {
	__u32 entries;
	__u32 srh_len;
	__u64 last_seen_ns; /* learned flows: the last packet seen either way (bpf_ktime_get_ns) */
	__u32 flags;
	__u32 pad;
	struct in6_addr list[WING_LIST_MAX];
};

/* wing_apps key: a service's application port. Port 0 is ICMPv6 echo (ping's path). */
struct wing_app_key {
	__u32 service;
	__u16 port;
	__u16 pad;
};

/* wing_flows key: the remote end of a flow as the server sees it (the client's address, its
 * source port, the protocol); ICMPv6 echo has port 0. */
struct wing_flow_key {
	struct in6_addr addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct wing_dns_name {
	__u8 name[WING_DNS_NAME_LEN];
};

/* wing_stats slots (per CPU). */
enum wing_stat {
	WING_EG_PUSHED = 0,     /* SRH inserted from a configured application's path */
	WING_EG_PUSHED_LEARNED, /* SRH inserted from a learned flow's path (a server's reply) */
	WING_EG_NO_PATH,        /* IPv6 without a path: left alone */
	WING_EG_NOT_PLAIN,      /* extension headers already there, or not TCP/UDP/ICMPv6 echo */
	WING_EG_EXPIRED,        /* a learned flow idle past flow_idle_s: forgotten, reply left alone */
	WING_EG_MSS_CLAMPED,    /* a SYN's MSS lowered by the SRH's length */
	WING_EG_FAILED,         /* the kernel refused to grow the packet: sent without SRH */
	WING_EG_DROPPED,        /* grown but not written: dropped rather than sent half-made */
	WING_IN_POPPED,         /* an SRH for this host removed */
	WING_IN_SEGMENTS_LEFT,  /* an SRH with Segments Left > 0: not ours to remove, to the kernel */
	WING_IN_NOT_LOCAL,      /* an SRH whose destination is not this host's: to the kernel */
	WING_IN_MALFORMED,      /* an SRH cut short or not type 4: to the kernel */
	WING_IN_LEARNED,        /* a new or changed path learned (server) */
	WING_IN_DNS_ANSWERS,    /* DNS answers to a configured name */
	WING_IN_DNS_MAPPED,     /* AAAA records mapped to a service */
	WING_EG_ENCAPSULATED,   /* an outer IPv6 header and SRH pushed (an encap application) */
	WING_STAT_MAX = 16,
};

#endif
