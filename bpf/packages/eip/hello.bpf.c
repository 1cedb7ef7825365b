/* eip: hello(), the package's "Hello World": the original printed it to the trace pipe on every
 * call. Nothing on the fast path prints here; hello counts its calls instead, per CPU, in
 * hello_calls[0] (add the CPUs up). r0 = 0; the chain continues. */
#define HIKE_PACKAGE "eip"
#include "hike/hike.h"
#include "hike/counter.h"

HIKE_EVENT_COUNTER_MAP(hello_calls, 1);

HIKE_PROG(hello)
{
	hike_count_event(&hello_calls, 0);
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(hello);
EXPORT_HIKE_PROG_MAP(hello, hello_calls);

char LICENSE[] SEC("license") = "GPL";
