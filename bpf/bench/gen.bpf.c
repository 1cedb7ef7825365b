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
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/counter.h"

#define GEN_TMPL_MAX 128 /* bytes of the template rewritten into every frame */
#define GEN_BURST 256    /* the token bucket holds at most this many frames (one veth ring) */
#define NSEC 1000000000ULL

struct gen_cfg {
	__u32 copy_len;   /* bytes of tmpl copied per frame: a multiple of 8, ≤ GEN_TMPL_MAX */
	__u32 ifindex;    /* 0: XDP_TX out of the ingress interface; else bpf_redirect(ifindex) */
	__u32 flows;      /* distinct flows (0 or 1: no variation) */
	__u32 src_off;    /* offset of the 16-bit word varied in the source address (0: none) */
	__u32 port_off;   /* offset of the UDP source port (0: none) */
	__u32 csum_off;   /* offset of the UDP checksum to update (0: none) */
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

static __always_inline int vary(void *data, void *data_end, __u32 off, __u16 flow, __u16 *old, __u16 *new)
{
	__u16 *word;

	if (off > 512)
		return -1;
	word = data + off;
	if ((void *)(word + 1) > data_end)
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
		__u64 cap = (__u64)GEN_BURST * NSEC;

		if (delta > 1000000)
			delta = 1000000;
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

	/* Rewrite the template: 8 bytes at a time, each store bounds-checked. */
#pragma unroll
	for (int i = 0; i < GEN_TMPL_MAX / 8; i++) {
		if (i * 8 >= cfg->copy_len)
			break;
		if (data + (i + 1) * 8 > data_end)
			break;
		*(__u64 *)(data + i * 8) = *(__u64 *)(cfg->tmpl + i * 8);
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
		if (cfg->csum_off && cfg->csum_off <= 512) {
			__u16 *csum = data + cfg->csum_off;

			if ((void *)(csum + 1) <= data_end && *csum) {
				__u16 c = bpf_ntohs(*csum);

				if (v1 == 0)
					c = csum_fold_add(c, bpf_ntohs(o1), bpf_ntohs(n1));
				if (v2 == 0)
					c = csum_fold_add(c, bpf_ntohs(o2), bpf_ntohs(n2));
				*csum = bpf_htons(c ? c : 0xffff);
			}
		}
	}

	hike_count(&gen_stats, 0, len);
	if (cfg->ifindex)
		return bpf_redirect(cfg->ifindex, 0);
	return XDP_TX;
}

/* Counts the generator's frames (IPv6/UDP to port GEN_DPORT) in slot 0 and anything else (the
 * kernel's ND and MLD on the links) in slot 1; drops both. */
#define GEN_DPORT 2000

SEC("xdp")
int gen_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	__u16 *ports = (void *)(ip6 + 1);
	__u32 slot = 1;

	if ((void *)(ports + 2) <= data_end && eth->h_proto == bpf_htons(ETH_P_IPV6) && ip6->nexthdr == 17
	    && ports[1] == bpf_htons(GEN_DPORT))
		slot = 0;
	hike_count(&sink_stats, slot, data_end - data);
	return XDP_DROP;
}

SEC("xdp")
int gen_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* A plain XDP IPv6 forwarder: FIB lookup, hop limit, MACs, redirect. */
SEC("xdp")
int gen_fwd6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	struct bpf_fib_lookup fib = {};
	__u64 len = data_end - data;
	long rc;

	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6) || ip6->hop_limit <= 1)
		goto pass;

	fib.family = 10; /* AF_INET6 */
	fib.l4_protocol = ip6->nexthdr;
	fib.tot_len = bpf_ntohs(ip6->payload_len);
	__builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof(fib.ipv6_src));
	__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof(fib.ipv6_dst));
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		goto pass;

	ip6->hop_limit--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	hike_count(&fwd_stats, 0, len);
	return bpf_redirect(fib.ifindex, 0);
pass:
	hike_count(&fwd_stats, 1, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
