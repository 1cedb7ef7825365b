/* Loader: IPv6 [+ one Routing header] + UDP to port 862 (STAMP, RFC 8762) runs the chain in
 * ip6_udport_cls_cfg[0]; everything else goes to the kernel. See ip6_udport_classifier.h. */
#define HIKE_PACKAGE "hike_default"
#define UDP_DPORT 862
#include "hike/hike.h"
#include "ip6_udport_classifier.h"

HIKE_LOADER(ip6_udport862_classifier)
{
	return ip6_udport_classify(ctx);
}
EXPORT_HIKE_LOADER(ip6_udport862_classifier);
EXPORT_HIKE_PROG_MAP(ip6_udport862_classifier, ip6_udport_cls_cfg);

char LICENSE[] SEC("license") = "GPL";
