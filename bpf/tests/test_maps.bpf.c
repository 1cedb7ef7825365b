/* Maps of the kinds BPFKit's map tests exercise, and a program so that libbpf loads them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "hike/counter.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} test_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct hike_counter);
} test_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} test_percpu SEC(".maps");

/* Adds the packet length to test_hash[1] so a test run leaves a visible trace. */
SEC("xdp")
int touch_maps(struct xdp_md *ctx)
{
	__u32 key = 1;
	__u64 *value = bpf_map_lookup_elem(&test_hash, &key);

	if (value)
		__sync_fetch_and_add(value, ctx->data_end - ctx->data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
