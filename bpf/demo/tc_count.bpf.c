/* Counts packets at a tc clsact hook (ingress or egress) by kind, and lets them through. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "hike/counter.h"
#include "hike/packet.h"

HIKE_COUNTER_MAP(tc_counters, HIKE_KIND_MAX);

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	hike_count(&tc_counters, hike_classify(data, data_end), skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
