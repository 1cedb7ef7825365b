/* The pm package's ABI: per-flow loss monitoring by alternate marking (RFC 9341), the mark in
 * the DSCP bits (as the thesis did) or in the RFC 9343 AltMark option of a Destination Options
 * header placed before the SRH. hike's Monitoring module (Swift) mirrors every constant and
 * struct here and a test checks the mirror against the compiled object.
 *
 * A flow is an ID 1 .. PM_FLOW_MAX: in AltMark mode it is the option's FlowMonID (a 20-bit field;
 * hike uses its low 12 bits so that every per-flow table is an array indexed by the flow, with no
 * hash on the fast path). The ingress node marks a flow either in the SR policy that defines it
 * (srv6_policy.pm_flow: the headend counts and marks as it encapsulates, at no extra program
 * call) or with pm_mark(flow) in the chain; the egress node takes it from the AltMark option, or
 * from the chain (pm_count(flow)), or from the outer destination (pm_dst_flow: the SID the SID
 * list ends at).
 *
 * Programs (HIKe programs, not final: r0 = 0 on success and the chain goes on to forwarding):
 *   pm_mark(flow)          ingress: count under (flow, active colour) in pm_sent, mark the colour
 *   pm_count(flow, strip)  egress: read the colour from the mark, count in pm_recv; strip = 1
 *                          removes the AltMark DOH (and clears the DSCP bits)
 *   pm_loss(flow)          fault injection for tests and demos: drops the next packets of one
 *                          (flow, colour) as armed in pm_loss_cfg; XDP_DROP ends the chain
 */
#ifndef HIKE_PM_H
#define HIKE_PM_H

#include <linux/types.h>
#include <linux/in6.h>

#define PM_MAX_FLOWS 4096           /* entries of pm_flows (entry 0 unused) */
#define PM_FLOW_MAX (PM_MAX_FLOWS - 1) /* flow IDs 1 .. 4095; 0 means "from the packet" */

/* pm_sent / pm_recv (per-CPU arrays of 2 * PM_MAX_FLOWS): the counter of (flow, colour). */
#define PM_COUNTER_INDEX(flow, colour) ((flow) * 2 + (colour))

/* pm_flows[flow].mode */
#define PM_MODE_DSCP 1
#define PM_MODE_ALTMARK 2
#define PM_MODE_COUNT 3 /* egress only: counts, reading the mode from the mark; never marks */

/* DSCP mode: two bits of the Traffic Class byte, the two low bits of the DSCP (ECN untouched).
 * Monitored traffic of the domain must not use them for DiffServ. */
#define PM_TC_MONITORED 0x08 /* DSCP bit 1: the packet belongs to a monitored flow */
#define PM_TC_COLOUR 0x04    /* DSCP bit 0: the colour (L) */

/* AltMark mode: RFC 9343 option in an 8-byte Destination Options header right after the outer
 * IPv6 header (so before the SRH: every SR endpoint may read it). */
#define PM_ALTMARK_OPTION 0x12 /* act 00 (skip if unknown), chg 0 */
#define PM_ALTMARK_OPTLEN 4
#define PM_DOH_LEN 8
#define PM_NEXTHDR_DOH 60
#define PM_NEXTHDR_HBH 0

/* pm_colour[0]: the colour the ingress (pm_mark, a monitored policy's headend) gives now (0 or 1).
 * User space flips it every period. */

/* pm_flows[flow] (array): the flows this node marks (ingress) or counts (egress); mode 0 = not
 * configured here (its packets are neither marked nor counted). An egress node's mode is
 * informational: it reads the mode from the mark. */
struct pm_flow {
	__u32 mode;     /* PM_MODE_*; 0 = not configured */
	__u32 reserved;
};

/* pm_sent / pm_recv value (per-CPU): packets, and bytes of the frame without the AltMark DOH
 * (the same figure at both ends). Same layout as struct hike_counter. */
struct pm_counter {
	__u64 packets;
	__u64 bytes;
};

/* pm_loss_cfg[0]: drop the next `remaining` packets of (flow, colour); `dropped` counts them
 * since user space last armed it (arming writes the whole entry, dropped = 0: user space never
 * read-modify-writes it, the program increments it atomically). The total over every arming is
 * pm_stats[PM_S_DROPPED]. */
struct pm_loss {
	__s64 remaining;
	__u32 flow;
	__u32 colour;
	__u64 dropped;
};

/* pm_stats[reason] (per-CPU packets). */
#define PM_S_MARKED 0        /* pm_mark counted and marked (a monitored policy's headend counts in pm_sent only) */
#define PM_S_COUNTED 1       /* pm_count counted */
#define PM_S_UNKNOWN_FLOW 2  /* flow out of range or not configured in pm_flows */
#define PM_S_NOT_IPV6 3      /* not Ethernet + IPv6 */
#define PM_S_NOT_MARKED 4    /* pm_count: no AltMark option and no DSCP monitored bit */
#define PM_S_NO_ROOM 5       /* pm_mark: no headroom for the DOH */
#define PM_S_HAS_DOH 6       /* pm_mark AltMark: a DOH already follows the IPv6 header */
#define PM_S_DROPPED 7       /* pm_loss, or a link's loss injection, dropped it */
#define PM_S_HAS_HBH 8       /* pm_mark AltMark: a Hop-by-Hop header follows the IPv6 header (refused) */
#define PM_S_MAX 9

/* pm_links[ifindex] (array): a monitored link at this node, by its interface. Frames hike's XDP
 * forwarders redirect to the interface are counted in pm_sent under send_flow and marked (DSCP);
 * marked frames the loader receives on it are counted in pm_recv under receive_flow and
 * unmarked; drop_ppm of the frames received (neighbour discovery excepted) are dropped and
 * counted as PM_S_DROPPED. 0 = off, for each. Both flows must be configured in pm_flows. */
#define PM_LINK_MAX_IFINDEX 1024 /* interfaces with a larger ifindex cannot be monitored */
#define PM_LINK_PPM 1000000
struct pm_link {
	__u32 send_flow;
	__u32 receive_flow;
	__u32 drop_ppm; /* 0 .. PM_LINK_PPM */
	__u32 reserved;
};

/* r0 of the programs (negative errno as two's complement, as the other packages). */
#define PM_R_OK 0
#define PM_R_NOT_MARKED 1 /* pm_count: an unmarked packet, not counted */

#endif
