/* The HIKe VM ABI: every constant and layout that eBPF programs and hike's Swift side share.
 *
 * This header is the single source of truth. The Swift side (HikeVM.ABI) reads these constants
 * back from a compiled object (bpf/vm/vm_abi_export.bpf.c) in a test, so the two cannot drift.
 *
 * Chains are eBPF bytecode (the 8-byte instruction format) interpreted by the VM. Registers are
 * eBPF's: r0 return value, r1–r5 arguments (r1 = callee ID on a call), r6–r9 callee-saved, r10 the
 * read-only frame pointer. Each chain activation (frame) has its own registers and stack.
 */
#ifndef HIKE_VM_ABI_H
#define HIKE_VM_ABI_H

#include <linux/types.h>

/* ---- Identifiers ------------------------------------------------------------------------ */

/* Program IDs are indexes in the program table (0 .. HVM_PROG_TABLE_SIZE-1). Chain IDs have this
 * bit set (as in the original HIKe VM); any other ID names a program. */
#define HVM_CHAIN_FLAG (1u << 30)
#define HVM_PROG_TABLE_SIZE 256

/* ---- Limits ----------------------------------------------------------------------------- */

#define HVM_CHAIN_SLOTS 256        /* chains installed at once (+ free slots for replacement) */
#define HVM_CHAIN_INSNS_MAX 512    /* instruction slots per chain (LD_IMM64 takes two) */
#define HVM_DEPTH_MAX 16           /* nested chain frames, root included (power of two) */
#define HVM_STACK_SIZE 256         /* bytes of stack per frame (power of two) */
#define HVM_SHMEM_SIZE 4096        /* bytes of per-CPU shared memory (power of two) */
#define HVM_ACTIVATION_BUDGET 4096 /* instructions per activation (between program calls) */
#define HVM_PACKET_BUDGET 65536    /* instructions per packet, all activations together */
#define HVM_PROG_CALLS_MAX 32      /* program calls per packet: the kernel allows 33 tail calls */
#define HVM_NREGS 11               /* r0 .. r10 */
#define HVM_PACKET_MAX 0x3fff      /* highest packet offset the VM addresses */

/* ---- Memory banks ----------------------------------------------------------------------- */

/* A VM address is bank:8 | offset:24 in the low 32 bits of a register; higher bits must be 0. */
#define HVM_BANK_SHIFT 24
#define HVM_OFFSET_MASK 0xffffff
#define HVM_BANK_PACKET 1 /* packet bytes from the start of the frame, checked against its end */
#define HVM_BANK_PKTLEN 2 /* read-only: any read at offset 0 gives the packet length */
#define HVM_BANK_SHMEM 3  /* per-CPU shared memory, HVM_SHMEM_SIZE bytes, not zeroed per packet */
#define HVM_BANK_STACK 4  /* the frame's own stack; r10 = HVM_STACK_TOP */
#define HVM_ADDR(bank, off) ((((__u64)(bank)) << HVM_BANK_SHIFT) | (__u64)(off))
#define HVM_STACK_TOP HVM_ADDR(HVM_BANK_STACK, HVM_STACK_SIZE)

/* ---- Calls (the immediate of BPF_JMP|BPF_CALL, src_reg 0) -------------------------------- */

/* Call the program or chain whose ID is in r1 with arguments r2–r5. The original VM used
 * 0x11–0x14 for 1–4 arguments; every value in [HVM_FN_CALL_FIRST, HVM_FN_CALL_LAST] is a call. */
#define HVM_FN_CALL_FIRST 0x10
#define HVM_FN_CALL_LAST 0x15
#define HVM_FN_CALL 0x14

/* VM helpers: r1.. in, r0 out. Packet values are in network byte order on the wire and host
 * order in registers. An access outside the packet faults. */
#define HVM_FN_PKT_READ_U8 0x20  /* r0 = packet[r1] */
#define HVM_FN_PKT_READ_U16 0x21
#define HVM_FN_PKT_READ_U32 0x22
#define HVM_FN_PKT_READ_U64 0x23
#define HVM_FN_PKT_WRITE_U8 0x24 /* packet[r1] = r2 */
#define HVM_FN_PKT_WRITE_U16 0x25
#define HVM_FN_PKT_WRITE_U32 0x26
#define HVM_FN_PKT_WRITE_U64 0x27
#define HVM_FN_PKT_LEN 0x28      /* r0 = packet length */
#define HVM_FN_KTIME_NS 0x29     /* r0 = bpf_ktime_get_ns() */
#define HVM_FN_RANDOM 0x2a       /* r0 = bpf_get_prandom_u32() */
#define HVM_FN_CPU 0x2b          /* r0 = bpf_get_smp_processor_id() */

/* ---- Program results -------------------------------------------------------------------- */

/* A program returns an XDP verdict (final: the packet's fate) or this, to continue the chain
 * with r0 = HVM_RET. The value is the original HIKe VM's (XDP_REDIRECT + 100). */
#define HIKE_XDP_VM 104
#define HVM_VERDICT_MAX 4 /* XDP_ABORTED..XDP_REDIRECT */

/* ---- Faults ----------------------------------------------------------------------------- */

/* A fault ends the packet's chain: the packet gets the loader's default verdict, the
 * (chain, reason) counter in hvm_faults goes up and an hvm_event goes to hvm_events. */
#define HVM_FAULT_NONE 0
#define HVM_FAULT_INVALID_ACCESS 1  /* memory outside a bank, bad bank, or a write to a read-only one */
#define HVM_FAULT_UNKNOWN_OPCODE 2  /* an instruction the VM does not run, or a bad register */
#define HVM_FAULT_BUDGET 3          /* too many instructions in one activation or one packet */
#define HVM_FAULT_STACK 4           /* a stack access outside the frame's HVM_STACK_SIZE bytes */
#define HVM_FAULT_DEPTH 5           /* a chain call deeper than HVM_DEPTH_MAX frames */
#define HVM_FAULT_UNKNOWN_CALLEE 6  /* no program in that table slot, or no chain with that ID */
#define HVM_FAULT_BAD_JUMP 7        /* the pc left the chain */
#define HVM_FAULT_CALL_LIMIT 8      /* more than HVM_PROG_CALLS_MAX program calls in one packet */
#define HVM_FAULT_BAD_VERDICT 9     /* a program returned neither a verdict nor HIKE_XDP_VM */
#define HVM_FAULT_REASONS 10

/* ---- Layouts ---------------------------------------------------------------------------- */

struct hvm_insn {
	__u8 code;
	__u8 regs; /* dst in the low nibble, src in the high one */
	__s16 off;
	__s32 imm;
};

/* A chain in a slot of hvm_chains. It runs in place: frames keep the slot, not a copy. */
struct hvm_chain {
	__u32 id;    /* the chain's ID (HVM_CHAIN_FLAG set) */
	__u16 ninsn; /* instruction slots used */
	__u16 flags;
	__u64 reserved;
	struct hvm_insn insns[HVM_CHAIN_INSNS_MAX];
};

/* One chain activation. The stack is not last, so an 8-byte access at a masked offset stays
 * inside the frame (what the verifier checks). */
struct hvm_frame {
	__u64 regs[16]; /* r0–r10; 11–15 are padding so a masked index stays inside */
	__u8 stack[HVM_STACK_SIZE];
	__u32 chain_id;
	__u32 slot;
	__u32 pc;
	__u32 reserved;
};

/* What the last packet on a CPU ended with (read by tests and `hike faults`). */
struct hvm_result {
	__u64 r0;        /* the active frame's r0 when the packet left the VM */
	__u32 verdict;   /* the XDP action the packet got */
	__u32 fault;     /* HVM_FAULT_* */
	__u32 chain_id;  /* the chain running when it ended */
	__u32 pc;        /* its pc */
	__u64 sequence;  /* packets that ran a chain on this CPU */
};

/* The VM's per-CPU state while a packet runs a chain (value of hvm_state). */
struct hvm_state {
	__u32 depth;           /* index of the active frame */
	__u32 default_verdict; /* from the loader: for faults and chains that end without one */
	__u32 executed;        /* instructions run for this packet */
	__u32 calls;           /* program calls made for this packet */
	__u32 active;          /* 1 while a packet runs a chain */
	__u32 reserved;
	struct hvm_result last;
	/* How the interpreter loop stopped (HVM_RUN_*), with its fault or program to call. Kept
	 * here rather than on the BPF stack: the verifier does not track map values per constant,
	 * so the loop's callback converges in fewer passes. */
	__u32 run_status;
	__u32 run_fault;
	__u32 run_target;
	__u32 run_reserved;
	struct hvm_frame frames[HVM_DEPTH_MAX];
};

struct hvm_fault_key {
	__u32 chain_id;
	__u32 reason;
};

/* A fault, as hike reads it from the hvm_events ring buffer. */
struct hvm_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns() */
	__u32 chain_id;
	__u32 pc;
	__u32 reason;
	__u32 packet_length;
	__u32 depth;
	__u32 cpu;
};

/* Configuration of a loader (value 0 of its <loader>_cfg map). */
struct hvm_loader_config {
	__u32 chain_id;        /* the chain for all matching packets; 0 = none (XDP_PASS) */
	__u32 default_verdict; /* XDP_DROP unless configured */
};

/* ---- Metadata: what an object says about its programs (the catalog) ----------------------- */

#define HIKE_NAME_LEN 32
#define HIKE_ARGS_MAX 4
#define HIKE_ARG_NAME_LEN 24
#define HIKE_ARG_TYPE_LEN 8

/* One per exported program, in the ELF section ".hike.meta". */
struct hike_prog_meta {
	char name[HIKE_NAME_LEN];    /* the program (and its ELF function) */
	char package[HIKE_NAME_LEN]; /* HIKE_PACKAGE of its source */
	__u32 kind;                  /* HIKE_META_PROGRAM or HIKE_META_LOADER */
	__u32 nargs;                 /* user arguments, r2.. */
	char arg_types[HIKE_ARGS_MAX][HIKE_ARG_TYPE_LEN];
	char arg_names[HIKE_ARGS_MAX][HIKE_ARG_NAME_LEN];
};

#define HIKE_META_PROGRAM 1
#define HIKE_META_LOADER 2

/* A fact about a program (".hike.facts"): it always ends the chain ("final"), it uses a map, or a
 * map of it holds the boot-time → wall-clock offset that hike keeps current. */
struct hike_prog_fact {
	char program[HIKE_NAME_LEN];
	__u32 kind; /* HIKE_FACT_* */
	char value[HIKE_NAME_LEN];
};

#define HIKE_FACT_FINAL 1
#define HIKE_FACT_MAP 2
#define HIKE_FACT_CLOCK 3 /* value "<map>:ntp" or "<map>:unix": hike keeps the map's key 0 current */
#define HIKE_FACT_COPY 4  /* value: the package whose program this one copies (it keeps the plain name) */

#endif
