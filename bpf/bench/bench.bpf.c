/* bench: the HIKe package of `hike bench vm`. */
#define HIKE_PACKAGE "bench"
#include "hike/hike.h"

/* Does nothing and continues the chain with r0 = 0: what a chain pays per program call. */
HIKE_PROG(noop)
{
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG(noop);

char LICENSE[] SEC("license") = "GPL";
