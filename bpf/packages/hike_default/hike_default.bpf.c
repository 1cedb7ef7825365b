/* hike_default: the programs every chain needs. */
#define HIKE_PACKAGE "hike_default"
#include "hike/hike.h"
#include "hike/counter.h"

/* Ends the chain: the packet goes on to the kernel. */
HIKE_PROG(hike_pass)
{
	return XDP_PASS;
}
EXPORT_HIKE_PROG(hike_pass);
HIKE_PROG_FINAL(hike_pass);

/* Ends the chain: the packet is dropped. */
HIKE_PROG(hike_drop)
{
	return XDP_DROP;
}
EXPORT_HIKE_PROG(hike_drop);
HIKE_PROG_FINAL(hike_drop);

/* Per-event packet counters that user space reads (`hike map dump hike_default/monitor/…`). */
#define HIKE_MONITOR_EVENTS 256

HIKE_EVENT_COUNTER_MAP(monitor_events, HIKE_MONITOR_EVENTS);

/* Counts the packet under `event` (0–255) and continues with r0 = 0; an event out of range
 * is not counted and gives r0 = -1. */
HIKE_PROG(monitor)
{
	if (HVM_ARG2 >= HIKE_MONITOR_EVENTS) {
		HVM_RET = (__u64)-1;
		return HIKE_XDP_VM;
	}
	hike_count_event(&monitor_events, (__u32)HVM_ARG2);
	HVM_RET = 0;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_2(monitor, __u64, event);
EXPORT_HIKE_PROG_MAP(monitor, monitor_events);

char LICENSE[] SEC("license") = "GPL";
