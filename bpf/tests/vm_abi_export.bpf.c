/* Exports every numeric constant of vm_abi.h into section .hike.abi, so that a Swift test can
 * check HikeVM.ABI against what the C side compiles with. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "hike/vm_abi.h"

struct abi_constant {
	char name[40];
	__u64 value;
};

#define C(x) { #x, (__u64)(x) }

static const struct abi_constant abi_constants[] SEC(".hike.abi") __attribute__((used)) = {
	C(HVM_CHAIN_FLAG), C(HVM_PROG_TABLE_SIZE), C(HVM_CHAIN_SLOTS), C(HVM_CHAIN_INSNS_MAX),
	C(HVM_DEPTH_MAX), C(HVM_STACK_SIZE), C(HVM_SHMEM_SIZE), C(HVM_ACTIVATION_BUDGET),
	C(HVM_PACKET_BUDGET), C(HVM_PROG_CALLS_MAX), C(HVM_NREGS), C(HVM_PACKET_MAX),
	C(HVM_BANK_SHIFT), C(HVM_OFFSET_MASK), C(HVM_BANK_PACKET), C(HVM_BANK_PKTLEN),
	C(HVM_BANK_SHMEM), C(HVM_BANK_STACK), C(HVM_STACK_TOP),
	C(HVM_FN_CALL_FIRST), C(HVM_FN_CALL_LAST), C(HVM_FN_CALL),
	C(HVM_FN_PKT_READ_U8), C(HVM_FN_PKT_READ_U16), C(HVM_FN_PKT_READ_U32), C(HVM_FN_PKT_READ_U64),
	C(HVM_FN_PKT_WRITE_U8), C(HVM_FN_PKT_WRITE_U16), C(HVM_FN_PKT_WRITE_U32), C(HVM_FN_PKT_WRITE_U64),
	C(HVM_FN_PKT_LEN), C(HVM_FN_KTIME_NS), C(HVM_FN_RANDOM), C(HVM_FN_CPU),
	C(HIKE_XDP_VM), C(HVM_VERDICT_MAX),
	C(HVM_FAULT_NONE), C(HVM_FAULT_INVALID_ACCESS), C(HVM_FAULT_UNKNOWN_OPCODE), C(HVM_FAULT_BUDGET),
	C(HVM_FAULT_STACK), C(HVM_FAULT_DEPTH), C(HVM_FAULT_UNKNOWN_CALLEE), C(HVM_FAULT_BAD_JUMP),
	C(HVM_FAULT_CALL_LIMIT), C(HVM_FAULT_BAD_VERDICT), C(HVM_FAULT_REASONS),
	C(HIKE_NAME_LEN), C(HIKE_ARGS_MAX), C(HIKE_ARG_NAME_LEN), C(HIKE_ARG_TYPE_LEN),
	C(HIKE_META_PROGRAM), C(HIKE_META_LOADER), C(HIKE_FACT_FINAL), C(HIKE_FACT_MAP), C(HIKE_FACT_CLOCK), C(HIKE_FACT_COPY),
	C(sizeof(struct hvm_insn)), C(sizeof(struct hvm_chain)), C(sizeof(struct hvm_frame)),
	C(sizeof(struct hvm_result)), C(sizeof(struct hvm_state)), C(sizeof(struct hvm_event)),
	C(sizeof(struct hvm_loader_config)), C(sizeof(struct hvm_fault_key)), C(sizeof(struct hike_prog_meta)), C(sizeof(struct hike_prog_fact)),
	{ "offsetof(hvm_state, last)", __builtin_offsetof(struct hvm_state, last) },
};

/* A program, so the object is a loadable eBPF object like the others. */
SEC("xdp")
int abi_export(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
