/* info: describes packets to user space (the original printed them with bpf_trace_printk;
 * here each description is an event in the info_events ring buffer). */
#define HIKE_PACKAGE "info"
#include "hike/info.h"

EXPORT_HIKE_PROG_3(show_pkt_info, __u64, select_layers, __u64, user_info);
EXPORT_HIKE_PROG_MAP(show_pkt_info, info_events);
EXPORT_HIKE_PROG_MAP(show_pkt_info, info_stats);

char LICENSE[] SEC("license") = "GPL";
