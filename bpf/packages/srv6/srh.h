/* The srv6 package's packet parsing: the IPv6 header, the extension headers before the upper
 * layer (Hop-by-Hop, Destination Options, Routing) and the SRH among them, every access
 * bounds-checked. Validation of the SRH's fields is the behaviour's (RFC 8754 §4.3.1.1 validates
 * only when Segments Left > 0), so the parser records them and checks only that each header
 * fits in the IPv6 payload. */
#ifndef SRV6_SRH_H
#define SRV6_SRH_H

#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/ip.h>
#include <linux/in.h>
#include "hike/srv6.h"

#define SRV6_L3 14            /* the IPv6 header's offset: after Ethernet */
#define SRV6_L4 (SRV6_L3 + 40) /* the first extension header's offset */
#define SRV6_EXT_MAX 4         /* extension headers walked before the upper layer */
#define SRV6_OFF_MAX 0x3fff    /* offsets beyond this are not parsed (the kernel takes them) */
#define SRV6_TLV_MAX 8         /* TLVs walked in an SRH; more go to the kernel */
#define SRV6_SR6_FLAG_HMAC (1 << 3)

#define SRV6_NH_HOP 0
#define SRV6_NH_IPIP 4
#define SRV6_NH_IPV6 41
#define SRV6_NH_ROUTING 43
#define SRV6_NH_DEST 60
#define SRV6_NH_ETHERNET 143

/* What the parser found in an IPv6 frame. Offsets are from the frame's start. */
struct srv6_pkt {
	__u32 frame_len; /* bytes in the frame */
	__u32 l3_end;    /* where the IPv6 packet ends: 54 + payload length */
	__u32 srh_off;   /* the SRH (the first Routing header, type 4); 0: none */
	__u32 srh_len;   /* its length in bytes */
	__u32 upper_off; /* the first byte after the extension headers walked */
	__u32 nh_off;    /* the next-header field that names upper: in the IPv6 header or the last extension header */
	__u8 upper;      /* the protocol there */
	__u8 other_rh;   /* the first Routing header is not an SRH */
	__u8 sl, le, flags, hdrlen;
};

static __always_inline __u32 srv6_frame_len(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	/* Opaque to the optimiser, as in hvm_packet_length: keeps packet pointers 64-bit. */
	asm volatile("" : "+r"(data), "+r"(data_end));
	return data_end - data;
}

/* Parses an Ethernet + IPv6 frame. Returns SRV6_R_OK, SRV6_R_NOT_IP (not IPv6) or
 * SRV6_R_TRUNCATED (the IPv6 payload or a header runs past the frame or the payload). */
static __always_inline __u32 srv6_parse(struct xdp_md *ctx, struct srv6_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + SRV6_L3;
	__u32 off = SRV6_L4, i;
	__u8 nh;

	__builtin_memset(p, 0, sizeof(*p));
	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6) || ip6->version != 6)
		return SRV6_R_NOT_IP;
	p->frame_len = srv6_frame_len(ctx);
	p->l3_end = SRV6_L4 + bpf_ntohs(ip6->payload_len);
	if (p->l3_end > p->frame_len)
		return SRV6_R_TRUNCATED;
	nh = ip6->nexthdr;
	p->nh_off = SRV6_L3 + 6;

	for (i = 0; i < SRV6_EXT_MAX; i++) {
		__u8 *h;
		__u32 len;

		if (nh != SRV6_NH_HOP && nh != SRV6_NH_DEST && nh != SRV6_NH_ROUTING)
			break;
		if (nh == SRV6_NH_HOP && i != 0) /* Hop-by-Hop only first (RFC 8200 §4.1) */
			break;
		if (off > SRV6_OFF_MAX)
			return SRV6_R_TRUNCATED;
		h = data + off;
		if ((void *)(h + 8) > data_end || off + 8 > p->l3_end)
			return SRV6_R_TRUNCATED;
		len = ((__u32)h[1] + 1) << 3;
		if (off + len > p->l3_end)
			return SRV6_R_TRUNCATED;
		if (nh == SRV6_NH_ROUTING && !p->srh_off && !p->other_rh) {
			if (h[2] == SRV6_ROUTING_TYPE) {
				p->srh_off = off;
				p->srh_len = len;
				p->hdrlen = h[1];
				p->sl = h[3];
				p->le = h[4];
				p->flags = h[5];
			} else {
				p->other_rh = 1;
			}
		}
		nh = h[0];
		p->nh_off = off;
		off += len;
	}
	p->upper = nh;
	p->upper_off = off;
	return SRV6_R_OK;
}

/* RFC 8754 §4.3.1.1 and the kernel's seg6_validate_srh for an SRH with Segments Left > 0:
 * Last Entry within Hdr Ext Len, Segments Left ≤ Last Entry + 1, TLVs that fill the rest (each
 * 2 + length bytes, as the kernel counts them), no HMAC (the kernel checks it). */
static __always_inline __u32 srv6_validate_srh(struct xdp_md *ctx, struct srv6_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 tlv_off, end, i;

	if (p->le > p->hdrlen / 2 - 1 || p->hdrlen < 2)
		return SRV6_R_BAD_HDRLEN;
	if (p->sl > p->le + 1)
		return SRV6_R_SL_PAST_LAST;
	if (p->flags & SRV6_SR6_FLAG_HMAC)
		return SRV6_R_TLV;
	tlv_off = p->srh_off + 8 + (((__u32)p->le + 1) << 4);
	end = p->srh_off + p->srh_len;
	for (i = 0; i < SRV6_TLV_MAX; i++) {
		__u8 *t;

		if (tlv_off == end)
			return SRV6_R_OK;
		if (tlv_off + 2 > end || tlv_off > SRV6_OFF_MAX)
			return SRV6_R_BAD_HDRLEN;
		t = data + tlv_off;
		if ((void *)(t + 2) > data_end)
			return SRV6_R_BAD_HDRLEN;
		tlv_off += 2 + t[1];
		if (tlv_off > end)
			return SRV6_R_BAD_HDRLEN;
	}
	return tlv_off == end ? SRV6_R_OK : SRV6_R_TLV;
}

/* Segment List[index] of the SRH, or NULL when it is not in the frame. */
static __always_inline struct in6_addr *srv6_segment(struct xdp_md *ctx, struct srv6_pkt *p, __u32 index)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = p->srh_off + 8 + ((index & 0xff) << 4);
	struct in6_addr *seg;

	if (off > SRV6_OFF_MAX)
		return NULL;
	seg = data + off;
	if ((void *)(seg + 1) > data_end)
		return NULL;
	return seg;
}

#endif
