/* Swift over libbpf 1.1.
 *
 * libbpf's option structs must be zeroed and carry their own size in .sz; the LIBBPF_OPTS macro
 * that does this cannot be imported into Swift. Each cbpf_*_opts() below returns a struct made by
 * that macro, so Swift only fills in the fields it needs.
 */
#ifndef HIKE_CBPF_SHIM_H
#define HIKE_CBPF_SHIM_H

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#define CBPF_OPTS(type)                                                                    \
    static inline struct type cbpf_##type(void)                                           \
    {                                                                                      \
        LIBBPF_OPTS(type, opts);                                                           \
        return opts;                                                                       \
    }

CBPF_OPTS(bpf_object_open_opts)
CBPF_OPTS(bpf_test_run_opts)
CBPF_OPTS(bpf_link_create_opts)
CBPF_OPTS(bpf_link_update_opts)
CBPF_OPTS(bpf_map_batch_opts)
CBPF_OPTS(bpf_map_create_opts)
CBPF_OPTS(bpf_prog_load_opts)
CBPF_OPTS(bpf_tc_hook)
CBPF_OPTS(bpf_tc_opts)

#undef CBPF_OPTS

/* Flags Swift sees as macros it cannot import (they use shifts of enum constants). */
static const unsigned int cbpf_xdp_flags_update_if_noexist = XDP_FLAGS_UPDATE_IF_NOEXIST;
static const unsigned int cbpf_xdp_flags_skb_mode = XDP_FLAGS_SKB_MODE;
static const unsigned int cbpf_xdp_flags_drv_mode = XDP_FLAGS_DRV_MODE;
static const unsigned int cbpf_xdp_flags_hw_mode = XDP_FLAGS_HW_MODE;
static const unsigned int cbpf_xdp_flags_replace = XDP_FLAGS_REPLACE;
static const unsigned int cbpf_test_xdp_live_frames = BPF_F_TEST_XDP_LIVE_FRAMES;
static const unsigned long cbpf_bpf_fs_magic = BPF_FS_MAGIC;

#endif
