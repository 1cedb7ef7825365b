/* eip: hello(), the package's "Hello World": the original printed it to the trace pipe on every
 * call. Nothing on the fast path prints here; hello counts its calls instead, per CPU, in
 * hello_calls[0] (add the CPUs up). r0 = 0; the chain continues. */
#define HIKE_PACKAGE "eip"
#include "hike/hike.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hello_calls SEC(".maps");

HIKE_PROG(hello)
{
	__u32 zero = 0;
	__u64 *calls = bpf_map_lookup_elem(&hello_calls, &zero);

	if (calls)
		*calls += 1;
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(hello);
EXPORT_HIKE_PROG_MAP(hello, hello_calls);

char LICENSE[] SEC("license") = "GPL";
