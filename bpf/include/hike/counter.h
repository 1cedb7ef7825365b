/* Counters shared by eBPF programs and the Swift side (BPFKit's PacketCounter has this layout). */
#ifndef HIKE_COUNTER_H
#define HIKE_COUNTER_H

#include <linux/types.h>

struct hike_counter {
	__u64 packets;
	__u64 bytes;
};

/* Per-CPU counter arrays: each CPU bumps its own slot, so no atomics on the fast path. */
#define HIKE_COUNTER_MAP(_name, _entries)                                                          \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, _entries);                                                     \
		__type(key, __u32);                                                                \
		__type(value, struct hike_counter);                                                \
	} _name SEC(".maps")

static __always_inline void hike_count(void *map, __u32 slot, __u64 bytes)
{
	struct hike_counter *c = bpf_map_lookup_elem(map, &slot);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* Per-CPU arrays of plain u64 counts (events, calls, outcomes: no bytes), each CPU bumping its
 * own slot; user space adds the CPUs up. */
#define HIKE_EVENT_COUNTER_MAP(_name, _entries)                                                    \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, _entries);                                                     \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} _name SEC(".maps")

/* One more in slot of a HIKE_EVENT_COUNTER_MAP (a slot out of range counts nowhere). */
static __always_inline void hike_count_event(void *map, __u32 slot)
{
	__u64 *count = bpf_map_lookup_elem(map, &slot);

	if (count)
		*count += 1;
}

#endif
