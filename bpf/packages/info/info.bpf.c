/* info: describes packets to user space (the original printed them with bpf_trace_printk;
 * here each description is an event in the info_events ring buffer). */
#define HIKE_PACKAGE "info"
#include "hike/info.h"

EXPORT_SHOW_PKT_INFO();

char LICENSE[] SEC("license") = "GPL";
