/* routingpaolo's sr6_encap(nsids, index), the original hikepkg-routingpaolo program (the same as
 * the original hike's hike_sr6_encap), mapped onto the srv6 package's H.Encaps. Included at the
 * end of srv6.bpf.c, so it is a program of the srv6 object, whose maps hike pins once per object
 * (maps/srv6/…): sr6_encap reads the very srv6_policies that `hike srv6 apply` fills and
 * srv6_h_encaps reads, and encapsulates with srv6_h_encaps's code (srv6_encap_policy). Its
 * catalog package is routingpaolo (HIKE_PACKAGE is switched for its metadata only).
 * docs/packages.md#routingpaolo.
 *
 * The original took its SRH from one of eight maps per segment count and the tunnel source from a
 * map of its own; here the policy at `index` gives both, and `nsids` must equal its segment
 * count. Unlike srv6_h_encaps, a packet it cannot encapsulate is not given a verdict: as the
 * original did for a missing policy, the chain goes on with a negative errno in r0 and the IP
 * packet untouched. One exception to "untouched": the encapsulation trims Ethernet padding after
 * the IP packet before it grows the frame, so when growing then fails (-ENOSPC) the frame has
 * lost that padding. */
#ifndef SRV6_SR6_ENCAP_H
#define SRV6_SR6_ENCAP_H

#include "hike/counter.h"

/* sr6_encap_stats[outcome] (per-CPU packets and frame bytes). */
#define SR6_ENCAP_OK 0         /* encapsulated: r0 = 0 */
#define SR6_ENCAP_NO_POLICY 1  /* no encaps policy at index: -ENOENT */
#define SR6_ENCAP_NSIDS 2      /* nsids not 1..8 or not the policy's segment count: -EINVAL */
#define SR6_ENCAP_NOT_IP 3     /* neither IPv6 nor IPv4: -EOPNOTSUPP */
#define SR6_ENCAP_TRUNCATED 4  /* the IP packet runs past the frame: -EBADMSG */
#define SR6_ENCAP_NO_ROOM 5    /* the frame cannot grow, or the result would exceed 64 KiB: -ENOSPC */
#define SR6_ENCAP_OTHER 6      /* a reason srv6_encap_packet does not give today: -EIO */
#define SR6_ENCAP_OUTCOMES 8

#define SR6_EIO 5
#define SR6_ENOENT 2
#define SR6_ENOSPC 28
#define SR6_EINVAL 22
#define SR6_EBADMSG 74
#define SR6_EOPNOTSUPP 95

HIKE_COUNTER_MAP(sr6_encap_stats, SR6_ENCAP_OUTCOMES);

static __always_inline int sr6_encap_done(__u64 *regs, __u32 outcome, __u64 bytes, __s64 rc)
{
	hike_count(&sr6_encap_stats, outcome, bytes);
	regs[0] = (__u64)rc;
	return HIKE_XDP_VM;
}

static __always_inline int sr6_encap_run(struct xdp_md *ctx, __u64 *regs)
{
	/* The arguments are truncated to the original's types, as it did. */
	__u8 nsids = (__u8)regs[2];
	__u32 index = (__u32)regs[3];
	__u64 frame = srv6_frame_len(ctx), bytes = 0;
	const struct srv6_policy *pol;
	__u32 reason;

	if (nsids < 1 || nsids > SRV6_MAX_SEGMENTS)
		return sr6_encap_done(regs, SR6_ENCAP_NSIDS, frame, -SR6_EINVAL);
	pol = srv6_policy_get(index, SRV6_HEADEND_ENCAPS, &reason);
	if (!pol)
		return sr6_encap_done(regs, SR6_ENCAP_NO_POLICY, frame, -SR6_ENOENT);
	if (pol->nsegs != nsids)
		return sr6_encap_done(regs, SR6_ENCAP_NSIDS, frame, -SR6_EINVAL);
	/* From here on exactly srv6_h_encaps on this policy, counted in its statistics. */
	reason = srv6_encap_policy(ctx, pol, SRV6_HEADEND_ENCAPS, &bytes);
	srv6_account(&srv6_policy_stats, index, reason, bytes);
	switch (reason) {
	case SRV6_R_OK:
		return sr6_encap_done(regs, SR6_ENCAP_OK, frame, 0);
	case SRV6_R_NOT_IP:
		return sr6_encap_done(regs, SR6_ENCAP_NOT_IP, frame, -SR6_EOPNOTSUPP);
	case SRV6_R_TRUNCATED:
		return sr6_encap_done(regs, SR6_ENCAP_TRUNCATED, frame, -SR6_EBADMSG);
	case SRV6_R_NO_ROOM:
		return sr6_encap_done(regs, SR6_ENCAP_NO_ROOM, frame, -SR6_ENOSPC);
	default:
		return sr6_encap_done(regs, SR6_ENCAP_OTHER, frame, -SR6_EIO);
	}
}

#pragma push_macro("HIKE_PACKAGE")
#undef HIKE_PACKAGE
#define HIKE_PACKAGE "routingpaolo"

HIKE_PROG(sr6_encap)
{
	return sr6_encap_run(ctx, __hvm_regs);
}
EXPORT_HIKE_PROG_3(sr6_encap, __u8, nsids, __u32, index);
EXPORT_HIKE_PROG_MAP(sr6_encap, srv6_policies);
EXPORT_HIKE_PROG_MAP(sr6_encap, srv6_policy_stats);
EXPORT_HIKE_PROG_MAP(sr6_encap, srv6_reasons);
EXPORT_HIKE_PROG_MAP(sr6_encap, sr6_encap_stats);

#pragma pop_macro("HIKE_PACKAGE")

#endif
