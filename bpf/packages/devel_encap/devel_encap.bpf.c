/* devel_encap: the original's development package for encapsulation programs. Of it, hike carries
 * the program its example script calls, show_pkt_info(): the info package's, exported again under
 * this package's name, as the original did (two packages, one program name: a script's
 * `from programs.devel_encap import show_pkt_info` picks this one; `call show_pkt_info` in a
 * chain file stays info's). Its events and counters are
 * info's maps, shared. */
#define HIKE_PACKAGE "devel_encap"
#include "hike/info.h"

EXPORT_SHOW_PKT_INFO();
EXPORT_HIKE_PROG_COPY_OF(show_pkt_info, "info");

char LICENSE[] SEC("license") = "GPL";
