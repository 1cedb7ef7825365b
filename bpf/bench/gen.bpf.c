/* gen: the traffic generator, sink and forwarder of `hike bench run`.
 *
 * gen_live runs under BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES. Live frames are recycled
 * (zero copy through veth), so edits a DUT makes (hop limit, MACs) would persist: gen_live copies
 * the first gen_cfg.copy_len bytes of the template into every frame, then varies the flow from a
 * per-CPU counter (the low 16 bits of the IPv6 source address and the UDP source port, with the
 * UDP checksum updated incrementally), and paces itself with a per-CPU token bucket on
 * bpf_ktime_get_ns(): frames over the budget are dropped here and counted as paced.
 *
 * gen_sink counts what arrives (per CPU) and drops it; gen_pass lets frames through (a veth that
 * receives redirected frames or XDP_TX needs an XDP program on it); gen_fwd6 forwards IPv6 with
 * bpf_fib_lookup and bpf_redirect.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/counter.h"
#include "hike/fib.h"

#define GEN_TMPL_MAX 256 /* bytes of the template rewritten into every frame (every header) */
#define GEN_BURST 256    /* the token bucket holds at least this many frames (one veth ring) */
#define GEN_CATCHUP_NS 4000000ULL /* and the rate's frames of this long (4 ms: a scheduler slice) */
#define NSEC 1000000000ULL

struct gen_cfg {
	__u32 copy_len;   /* bytes of tmpl copied per frame: a multiple of 8, ≤ GEN_TMPL_MAX */
	__u32 ifindex;    /* 0: XDP_TX out of the ingress interface; else bpf_redirect(ifindex) */
	__u32 flows;      /* distinct flows (0 or 1: no variation) */
	__u32 src_off;    /* offset of the 16-bit word varied in the source address (0: none) */
	__u32 port_off;   /* offset of the UDP source port (0: none) */
	__u32 csum_off;   /* offset of the UDP checksum to update (0: none) */
	__u32 l3csum_off; /* offset of the IPv4 header checksum (covers the source address; 0: none) */
	__u32 pad;
	__u64 rate_pps;   /* offered rate per CPU; 0: as fast as possible */
	__u8 tmpl[GEN_TMPL_MAX];
};

struct gen_state {
	__u64 seq;
	__u64 last_ns;
	__u64 tokens; /* in frame·ns/s: one frame costs NSEC */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_cfg);
} gen_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_state);
} gen_state SEC(".maps");

/* Slot 0: frames sent; 1: frames paced (dropped by the generator). */
HIKE_COUNTER_MAP(gen_stats, 2);
/* Slot 0: the generator's frames the sink received; 1: other frames. */
HIKE_COUNTER_MAP(sink_stats, 2);
/* Slot 0: forwarded; 1: passed to the kernel (no route, no neighbour, not IPv6, …). */
HIKE_COUNTER_MAP(fwd_stats, 2);

static __always_inline __u16 csum_fold_add(__u16 csum, __u16 old, __u16 new)
{
	/* RFC 1624: HC' = ~(~HC + ~m + m') */
	__u32 sum = (__u16)~csum + (__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* *word = the 16-bit word at offset off (≤ 512) of the frame: 0, or -1 when it is not there. */
static __always_inline int frame_word(void *data, void *data_end, __u32 off, __u16 **word)
{
	/* Opaque: else clang merges the caller's off != 0 into this test, made on a copy of off
	 * whose bound the 6.1 and 6.12 verifiers do not carry back to off. */
	barrier_var(off);
	if (off > 512)
		return -1;
	*word = data + off;
	if ((void *)(*word + 1) > data_end)
		return -1;
	return 0;
}

static __always_inline int vary(void *data, void *data_end, __u32 off, __u16 flow, __u16 *old, __u16 *new)
{
	__u16 *word;

	if (frame_word(data, data_end, off, &word))
		return -1;
	*old = *word;
	*new = bpf_htons(bpf_ntohs(*word) + flow);
	*word = *new;
	return 0;
}

SEC("xdp")
int gen_live(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct gen_cfg *cfg = bpf_map_lookup_elem(&gen_config, &zero);
	struct gen_state *st = bpf_map_lookup_elem(&gen_state, &zero);
	__u64 len = data_end - data;

	if (!cfg || !st)
		return XDP_ABORTED;

	if (cfg->rate_pps) {
		__u64 now = bpf_ktime_get_ns();
		__u64 delta = now - st->last_ns;
		/* The bucket holds GEN_CATCHUP_NS of the rate (at least GEN_BURST frames): when other
		 * tasks preempt the generator for up to that long, it catches up afterwards, so the
		 * offered rate is the requested one on average (inline, the DUT drains each batch of
		 * 64 before the next is sent, so a burst does not overflow a ring). */
		__u64 cap = cfg->rate_pps * GEN_CATCHUP_NS;

		if (cap < (__u64)GEN_BURST * NSEC)
			cap = (__u64)GEN_BURST * NSEC;
		if (delta > GEN_CATCHUP_NS)
			delta = GEN_CATCHUP_NS;
		st->last_ns = now;
		st->tokens += delta * cfg->rate_pps;
		if (st->tokens > cap)
			st->tokens = cap;
		if (st->tokens < NSEC) {
			hike_count(&gen_stats, 1, len);
			return XDP_DROP;
		}
		st->tokens -= NSEC;
	}

	/* Rewrite the template: whole 8-byte words, then the last copy_len % 8 bytes one at a time
	 * (a frame need not be a multiple of 8 long); each store bounds-checked. */
	__u32 copy = cfg->copy_len < GEN_TMPL_MAX ? cfg->copy_len : GEN_TMPL_MAX;
	__u32 words = copy / 8;

	/* Opaque, so that clang clamps copy in place, not in a second register whose bound 6.1 does
	 * not carry over: words ≤ GEN_TMPL_MAX / 8 is the verifier's bound on i. */
	barrier_var(words);

	for (int i = 0; i < words; i++) {
		if (data + (i + 1) * 8 > data_end)
			break;
		*(__u64 *)(data + i * 8) = *(__u64 *)(cfg->tmpl + i * 8);
	}
	for (int j = 0; j < 8; j++) {
		__u32 at = words * 8 + j;

		if (at >= copy)
			break;
		/* at < copy ≤ GEN_TMPL_MAX already; the mask tells the verifier (6.1 does not bound
		 * at by copy), and the barrier keeps clang from dropping it. */
		barrier_var(at);
		at &= GEN_TMPL_MAX - 1;
		if (data + at + 1 > data_end)
			break;
		*(__u8 *)(data + at) = cfg->tmpl[at];
	}

	if (cfg->flows > 1) {
		__u16 flow = st->seq % cfg->flows;
		__u16 o1 = 0, n1 = 0, o2 = 0, n2 = 0;
		int v1 = -1, v2 = -1;

		st->seq++;
		if (cfg->src_off)
			v1 = vary(data, data_end, cfg->src_off, flow, &o1, &n1);
		if (cfg->port_off)
			v2 = vary(data, data_end, cfg->port_off, flow, &o2, &n2);
		if (cfg->csum_off) {
			__u16 *csum;

			if (!frame_word(data, data_end, cfg->csum_off, &csum) && *csum) {
				__u16 c = bpf_ntohs(*csum);

				if (v1 == 0)
					c = csum_fold_add(c, bpf_ntohs(o1), bpf_ntohs(n1));
				if (v2 == 0)
					c = csum_fold_add(c, bpf_ntohs(o2), bpf_ntohs(n2));
				*csum = bpf_htons(c ? c : 0xffff);
			}
		}
		/* The IPv4 header checksum covers the source address (never 0 on the wire). */
		if (cfg->l3csum_off && v1 == 0) {
			__u16 *csum;

			if (!frame_word(data, data_end, cfg->l3csum_off, &csum))
				*csum = bpf_htons(csum_fold_add(bpf_ntohs(*csum), bpf_ntohs(o1), bpf_ntohs(n1)));
		}
	}

	hike_count(&gen_stats, 0, len);
	if (cfg->ifindex)
		return bpf_redirect(cfg->ifindex, 0);
	return XDP_TX;
}

/* The generator's frames are UDP to GEN_DPORT, in IPv4, IPv6, or IPv6 [+ DOH] [+ SRH] [+ IPv6]: what the
 * templates send and what the DUTs make of them (forwarded, SRv6-encapsulated, End-processed,
 * decapsulated). */
#define GEN_DPORT 2000
#define IPPROTO_ROUTING_HDR 43
#define IPPROTO_IPV6_ENCAP 41
#define IPPROTO_DSTOPTS_HDR 60

/* What gen_parse found: gen_inspect counts frames per shape (in the tests). */
struct gen_shape {
	__u16 length;       /* frame bytes */
	__u16 dport;        /* innermost UDP destination port */
	__u8 outer;         /* 4 or 6 */
	__u8 srh;           /* 1: a routing header type 4 follows the outer IPv6 header */
	__u8 last_entry;    /* SRH Last Entry */
	__u8 segments_left; /* SRH Segments Left */
	__u8 inner;         /* 6: an IPv6 packet is encapsulated; 0: none */
	__u8 hop_limit;     /* innermost hop limit or TTL */
	__u16 pad;
};

/* 0 when the frame is one of the generator's (UDP to GEN_DPORT), filling *s; else -1. */
static __always_inline int gen_parse(void *data, void *data_end, struct gen_shape *s)
{
	struct ethhdr *eth = data;
	__u8 proto;
	void *l4;
	__u16 *ports;

	if ((void *)(eth + 1) > data_end)
		return -1;
	s->length = data_end - data;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ihl != 5)
			return -1;
		s->outer = 4;
		s->hop_limit = ip->ttl;
		proto = ip->protocol;
		l4 = ip + 1;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		s->outer = 6;
		s->hop_limit = ip6->hop_limit;
		proto = ip6->nexthdr;
		l4 = ip6 + 1;
		if (proto == IPPROTO_DSTOPTS_HDR) { /* the pm package's AltMark option (RFC 9343) */
			__u8 *doh = l4;

			if ((void *)(doh + 2) > data_end)
				return -1;
			proto = doh[0];
			l4 = doh + ((__u32)doh[1] + 1) * 8;
		}
		if (proto == IPPROTO_ROUTING_HDR) {
			__u8 *rh = l4;

			if ((void *)(rh + 8) > data_end || rh[2] != 4)
				return -1;
			s->srh = 1;
			s->segments_left = rh[3];
			s->last_entry = rh[4];
			proto = rh[0];
			l4 = rh + ((__u32)rh[1] + 1) * 8;
		}
		if (proto == IPPROTO_IPV6_ENCAP) {
			struct ipv6hdr *in6 = l4;

			if ((void *)(in6 + 1) > data_end)
				return -1;
			s->inner = 6;
			s->hop_limit = in6->hop_limit;
			proto = in6->nexthdr;
			l4 = in6 + 1;
		}
	} else {
		return -1;
	}
	ports = l4;
	if (proto != 17 || (void *)(ports + 2) > data_end)
		return -1;
	s->dport = bpf_ntohs(ports[1]);
	return s->dport == GEN_DPORT ? 0 : -1;
}

/* Counts the generator's frames in slot 0 and anything else (the kernel's ND and MLD on the
 * links) in slot 1; drops both. */
SEC("xdp")
int gen_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct gen_shape shape = {};
	__u32 slot = gen_parse(data, data_end, &shape) == 0 ? 0 : 1;

	hike_count(&sink_stats, slot, data_end - data);
	return XDP_DROP;
}

/* gen_sink that also counts the generator's frames per shape (what the tests compare with the
 * template). Not used while measuring: the hash update would be part of the baseline. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, struct gen_shape);
	__type(value, __u64);
} sink_shapes SEC(".maps");

SEC("xdp")
int gen_inspect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct gen_shape shape = {};
	__u64 one = 1, *count;

	if (gen_parse(data, data_end, &shape) != 0) {
		hike_count(&sink_stats, 1, data_end - data);
		return XDP_DROP;
	}
	hike_count(&sink_stats, 0, data_end - data);
	count = bpf_map_lookup_elem(&sink_shapes, &shape);
	if (count)
		*count += 1;
	else
		bpf_map_update_elem(&sink_shapes, &shape, &one, BPF_NOEXIST);
	return XDP_DROP;
}

SEC("xdp")
int gen_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* A network function that sends every frame back where it came from (MACs swapped): the SR
 * proxies' function in the srv6-proxy scenario. */
SEC("xdp")
int gen_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 mac[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	return XDP_TX;
}

/* A plain XDP IPv6 forwarder (hike/fib.h), counting what it forwards and what it passes. */
SEC("xdp")
int gen_fwd6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	struct bpf_fib_lookup fib;
	__u64 len = data_end - data;

	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6) || !hike_fib_lookup6(ctx, ip6, &fib))
		goto pass;
	hike_count(&fwd_stats, 0, len);
	return hike_fib_redirect6(eth, ip6, &fib);
pass:
	hike_count(&fwd_stats, 1, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
