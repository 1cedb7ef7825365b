/* contribs: udp_port(port), the UDP destination port of an IPv6 packet measured against port.
 *
 *   r0 = 100000              not UDP over IPv6 (the original's sentinel: scripts test for it)
 *   r0 = 100001              UDP to destination port 0, whatever port is: port 0 is reserved
 *                            and no socket receives it, so it matches nothing (and an answer of
 *                            0 would read as a match)
 *   r0 = 0                   the UDP destination port is port (1–65535)
 *   r0 = destination port    otherwise (host order, 1–65535)
 *
 * UDP is found behind Hop-by-Hop, Routing and Destination Options headers (up to eight); a
 * Fragment header or any other next header is "not UDP". The original (hike-contribs
 * udp_port.bpf.c) took no argument, looked only at the IPv6 header's next header and answered 0
 * for every UDP packet; scripts that only test for 100000 behave the same. The packet is not
 * changed; the chain continues. No maps. */
#define HIKE_PACKAGE "contribs"
#include "hike/hike.h"
#include "hike/ip6_udp.h"

#define UDP_PORT_NOT_UDP 100000
#define UDP_PORT_ZERO 100001

HIKE_PROG(udp_port)
{
	struct hike_cursor cur;
	struct udphdr *udp = hike_ip6_udp(ctx, &cur);
	__u64 dport;

	if (!udp) {
		HVM_RET = UDP_PORT_NOT_UDP;
		return HIKE_XDP_VM;
	}
	dport = bpf_ntohs(udp->dest);
	if (dport == 0)
		HVM_RET = UDP_PORT_ZERO;
	else
		HVM_RET = dport == HVM_ARG2 ? 0 : dport;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_2(udp_port, __u64, port);

char LICENSE[] SEC("license") = "GPL";
