/* The HIKe VM: interprets chains (eBPF bytecode held in a map) inside XDP programs.
 *
 * Every HIKe program and loader includes this file: the VM is a library in each of them. A
 * packet starts in a loader (hvm_start), runs its chain until the chain calls a program, which
 * the VM reaches by tail call; the program does its work and resumes the VM (hvm_program_done),
 * and so on until a program gives a final verdict, the chain ends or it faults.
 * Semantics: docs/vm.md. Constants and layouts: vm_abi.h.
 */
#ifndef HIKE_VM_H
#define HIKE_VM_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/vm_abi.h"

/* Debian 12's kernel headers (6.1) predate the sign-extending load mode. */
#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80
#endif

/* ---- System maps: the same definitions in every object; hike pins them once and every
 * object it loads reuses the pins, so all programs share one VM. ------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, HVM_PROG_TABLE_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} hvm_progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HVM_CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, struct hvm_chain);
} hvm_chains SEC(".maps");

/* chain ID → slot in hvm_chains. Switching an ID to a new slot is the atomic replacement. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HVM_CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} hvm_chain_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hvm_state);
} hvm_state SEC(".maps");

struct hvm_shmem_data {
	__u8 data[HVM_SHMEM_SIZE];
	__u8 guard[8]; /* never addressed by chains: lets the verifier see 8 bytes behind any offset */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hvm_shmem_data);
} hvm_shmem SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hvm_fault_key);
	__type(value, __u64);
} hvm_faults SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} hvm_events SEC(".maps");

/* ---- Interpreter ------------------------------------------------------------------------- */

#define HVM_RUN_GOING 0
#define HVM_RUN_CALL 1  /* stopped to call program `target` */
#define HVM_RUN_END 2   /* the root frame exited */
#define HVM_RUN_FAULT 3 /* `fault` */

/* What the bpf_loop callback works on: pointers into the VM's maps, kept on the caller's stack. */
struct hvm_run {
	struct xdp_md *ctx;
	struct hvm_state *vm;
	struct hvm_frame *frame;
	struct hvm_chain *chain;
};

static __always_inline struct hvm_state *hvm_state_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&hvm_state, &zero);
}

/* As pointers, so that the compiler never spills a packet pointer as a 32-bit value. */
static __always_inline __u64 hvm_packet_length(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	/* Opaque to the optimiser: else it subtracts the 32-bit ctx fields and spills a packet
	 * pointer in 4 bytes, which the verifier refuses. */
	asm volatile("" : "+r"(data), "+r"(data_end));
	return data_end - data;
}

static __always_inline long hvm_fault(struct hvm_run *run, __u32 reason)
{
	run->vm->run_status = HVM_RUN_FAULT;
	run->vm->run_fault = reason;
	return 1;
}

/* Loads or stores `size` bytes at a VM address. Little-endian memory; returns a fault or 0. */
static __always_inline __u32 hvm_access(struct hvm_run *run, __u64 addr, __u32 size, __u64 *value, int write)
{
	__u32 bank, off;
	__u8 *p;

	if (addr >> 32)
		return HVM_FAULT_INVALID_ACCESS;
	bank = (addr >> HVM_BANK_SHIFT) & 0xff;
	off = addr & HVM_OFFSET_MASK;

	if (bank == HVM_BANK_STACK) {
		struct hvm_frame *f = run->frame;

		if (off + size > HVM_STACK_SIZE)
			return HVM_FAULT_STACK;
		p = &f->stack[off & (HVM_STACK_SIZE - 1)];
	} else if (bank == HVM_BANK_SHMEM) {
		/* Looked up here, not per activation: most chains never touch shared memory. */
		__u32 zero = 0;
		struct hvm_shmem_data *m = bpf_map_lookup_elem(&hvm_shmem, &zero);

		if (!m)
			return HVM_FAULT_INVALID_ACCESS;

		if (off + size > HVM_SHMEM_SIZE)
			return HVM_FAULT_INVALID_ACCESS;
		/* The mask bounds the offset for the verifier; the guard bytes keep 8 bytes behind it. */
		off &= HVM_SHMEM_SIZE - 1;
		p = &m->data[off];
	} else if (bank == HVM_BANK_PACKET) {
		void *data = (void *)(long)run->ctx->data;
		void *data_end = (void *)(long)run->ctx->data_end;

		if (off > HVM_PACKET_MAX)
			return HVM_FAULT_INVALID_ACCESS;
		p = data + (off & HVM_PACKET_MAX);
		switch (size) {
		case 1:
			if ((void *)(p + 1) > data_end)
				return HVM_FAULT_INVALID_ACCESS;
			if (write)
				*p = (__u8)*value;
			else
				*value = *p;
			return HVM_FAULT_NONE;
		case 2:
			if ((void *)(p + 2) > data_end)
				return HVM_FAULT_INVALID_ACCESS;
			if (write)
				*(__u16 *)p = (__u16)*value;
			else
				*value = *(__u16 *)p;
			return HVM_FAULT_NONE;
		case 4:
			if ((void *)(p + 4) > data_end)
				return HVM_FAULT_INVALID_ACCESS;
			if (write)
				*(__u32 *)p = (__u32)*value;
			else
				*value = *(__u32 *)p;
			return HVM_FAULT_NONE;
		default:
			if ((void *)(p + 8) > data_end)
				return HVM_FAULT_INVALID_ACCESS;
			if (write)
				*(__u64 *)p = *value;
			else
				*value = *(__u64 *)p;
			return HVM_FAULT_NONE;
		}
	} else if (bank == HVM_BANK_PKTLEN) {
		if (write || off != 0)
			return HVM_FAULT_INVALID_ACCESS;
		*value = hvm_packet_length(run->ctx);
		if (size < 8)
			*value &= (1ULL << (8 * size)) - 1;
		return HVM_FAULT_NONE;
	} else {
		return HVM_FAULT_INVALID_ACCESS;
	}

	/* Stack and shared memory: p has at least 8 bytes of map value behind it. */
	switch (size) {
	case 1:
		if (write)
			*p = (__u8)*value;
		else
			*value = *p;
		break;
	case 2:
		if (write)
			*(__u16 *)p = (__u16)*value;
		else
			*value = *(__u16 *)p;
		break;
	case 4:
		if (write)
			*(__u32 *)p = (__u32)*value;
		else
			*value = *(__u32 *)p;
		break;
	default:
		if (write)
			*(__u64 *)p = *value;
		else
			*value = *(__u64 *)p;
		break;
	}
	return HVM_FAULT_NONE;
}

static __always_inline __u64 hvm_sdiv(__u64 a, __u64 b, int is64)
{
	__u64 ua, ub, q;
	int na, nb;

	if (is64) {
		na = (__s64)a < 0;
		nb = (__s64)b < 0;
		ua = na ? -a : a;
		ub = nb ? -b : b;
		q = ua / ub;
		return (na ^ nb) ? -q : q;
	}
	na = (__s32)a < 0;
	nb = (__s32)b < 0;
	ua = (__u32)(na ? -(__u32)a : (__u32)a);
	ub = (__u32)(nb ? -(__u32)b : (__u32)b);
	q = (__u32)ua / (__u32)ub;
	return (__u32)((na ^ nb) ? -(__u32)q : (__u32)q);
}

static __always_inline __u64 hvm_smod(__u64 a, __u64 b, int is64)
{
	__u64 ua, ub, r;
	int na;

	if (is64) {
		na = (__s64)a < 0;
		ua = na ? -a : a;
		ub = (__s64)b < 0 ? -b : b;
		r = ua % ub;
		return na ? -r : r;
	}
	na = (__s32)a < 0;
	ua = (__u32)(na ? -(__u32)a : (__u32)a);
	ub = (__u32)((__s32)b < 0 ? -(__u32)b : (__u32)b);
	r = (__u32)ua % (__u32)ub;
	return (__u32)(na ? -(__u32)r : (__u32)r);
}

static __always_inline long hvm_alu(struct hvm_run *run, struct hvm_frame *f, struct hvm_insn *insn,
				    __u32 dst, __u32 src)
{
	int is64 = (insn->code & 0x07) == BPF_ALU64;
	int x = insn->code & BPF_X;
	__u8 op = insn->code & 0xf0;
	__s16 off = insn->off;
	__u64 a, b, r;

	if (dst >= 10 || (x && src > 10 && op != BPF_NEG && op != BPF_END))
		return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
	a = f->regs[dst & 15];

	if (op == BPF_END) {
		__s32 bits = insn->imm;

		if (off || (is64 && x) || (bits != 16 && bits != 32 && bits != 64))
			return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
		if (!is64 && !x) /* to little-endian on a little-endian host: truncate */
			r = bits == 16 ? (__u16)a : bits == 32 ? (__u32)a : a;
		else /* to big-endian, or bswap */
			r = bits == 16 ? __builtin_bswap16((__u16)a)
			  : bits == 32 ? __builtin_bswap32((__u32)a)
				       : __builtin_bswap64(a);
		f->regs[dst & 15] = r;
		f->pc++;
		return 0;
	}

	b = x ? f->regs[src & 15] : (__u64)(__s64)insn->imm;
	if (!is64) {
		a = (__u32)a;
		b = (__u32)b;
	}
	if (off && !((op == BPF_DIV || op == BPF_MOD) && off == 1) &&
	    !(op == BPF_MOV && x && (off == 8 || off == 16 || (off == 32 && is64))))
		return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);

	switch (op) {
	case BPF_ADD:
		r = a + b;
		break;
	case BPF_SUB:
		r = a - b;
		break;
	case BPF_MUL:
		r = a * b;
		break;
	case BPF_DIV:
		r = !b ? 0 : off ? hvm_sdiv(a, b, is64) : is64 ? a / b : (__u32)a / (__u32)b;
		break;
	case BPF_MOD:
		r = !b ? a : off ? hvm_smod(a, b, is64) : is64 ? a % b : (__u32)a % (__u32)b;
		break;
	case BPF_OR:
		r = a | b;
		break;
	case BPF_AND:
		r = a & b;
		break;
	case BPF_XOR:
		r = a ^ b;
		break;
	case BPF_LSH:
		r = is64 ? a << (b & 63) : (__u32)(a << (b & 31));
		break;
	case BPF_RSH:
		r = is64 ? a >> (b & 63) : (__u32)a >> (b & 31);
		break;
	case BPF_ARSH:
		r = is64 ? (__u64)((__s64)a >> (b & 63)) : (__u32)((__s32)a >> (b & 31));
		break;
	case BPF_NEG:
		r = -a;
		break;
	case BPF_MOV:
		r = off == 8 ? (__u64)(__s64)(__s8)b
		  : off == 16 ? (__u64)(__s64)(__s16)b
		  : off == 32 ? (__u64)(__s64)(__s32)b
			      : b;
		break;
	default:
		return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
	}
	f->regs[dst & 15] = is64 ? r : (__u32)r;
	f->pc++;
	return 0;
}

/* A call to the program or chain in r1, or to a VM helper. */
static __always_inline long hvm_call(struct hvm_run *run, struct hvm_frame *f, __s32 imm)
{
	struct hvm_state *vm = run->vm;
	__u64 value = 0;
	__u32 size;

	if (imm >= HVM_FN_CALL_FIRST && imm <= HVM_FN_CALL_LAST) {
		__u64 id = f->regs[1];

		if (id >> 32)
			return hvm_fault(run, HVM_FAULT_UNKNOWN_CALLEE);
		if (id & HVM_CHAIN_FLAG) {
			__u32 chain_id = (__u32)id;
			__u32 *slot = bpf_map_lookup_elem(&hvm_chain_ids, &chain_id);
			struct hvm_chain *chain;
			struct hvm_frame *next;
			__u32 depth, i;

			if (!slot)
				return hvm_fault(run, HVM_FAULT_UNKNOWN_CALLEE);
			chain = bpf_map_lookup_elem(&hvm_chains, slot);
			if (!chain || chain->id != chain_id)
				return hvm_fault(run, HVM_FAULT_UNKNOWN_CALLEE);
			depth = vm->depth + 1;
			if (depth >= HVM_DEPTH_MAX)
				return hvm_fault(run, HVM_FAULT_DEPTH);
			next = &vm->frames[depth & (HVM_DEPTH_MAX - 1)];
			next->regs[0] = 0;
			for (i = 1; i <= 5; i++)
				next->regs[i] = f->regs[i];
			for (i = 6; i <= 9; i++)
				next->regs[i] = 0;
			next->regs[10] = HVM_STACK_TOP;
			__builtin_memset(next->stack, 0, HVM_STACK_SIZE);
			next->chain_id = chain_id;
			next->slot = *slot;
			next->pc = 0;
			f->pc++;
			vm->depth = depth;
			run->frame = next;
			run->chain = chain;
			return 0;
		}
		if (id >= HVM_PROG_TABLE_SIZE)
			return hvm_fault(run, HVM_FAULT_UNKNOWN_CALLEE);
		if (vm->calls >= HVM_PROG_CALLS_MAX)
			return hvm_fault(run, HVM_FAULT_CALL_LIMIT);
		/* The pc stays on the call: a final verdict or a failed tail call reports it there;
		 * the program moves it on when the chain continues. */
		vm->run_status = HVM_RUN_CALL;
		vm->run_target = (__u32)id;
		return 1;
	}

	switch (imm) {
	case HVM_FN_PKT_READ_U8:
	case HVM_FN_PKT_READ_U16:
	case HVM_FN_PKT_READ_U32:
	case HVM_FN_PKT_READ_U64:
		size = 1u << (imm - HVM_FN_PKT_READ_U8);
		if (f->regs[1] > HVM_PACKET_MAX)
			return hvm_fault(run, HVM_FAULT_INVALID_ACCESS);
		if (hvm_access(run, HVM_ADDR(HVM_BANK_PACKET, f->regs[1]), size, &value, 0))
			return hvm_fault(run, HVM_FAULT_INVALID_ACCESS);
		f->regs[0] = size == 1 ? value
			   : size == 2 ? bpf_ntohs((__u16)value)
			   : size == 4 ? bpf_ntohl((__u32)value)
				       : bpf_be64_to_cpu(value);
		break;
	case HVM_FN_PKT_WRITE_U8:
	case HVM_FN_PKT_WRITE_U16:
	case HVM_FN_PKT_WRITE_U32:
	case HVM_FN_PKT_WRITE_U64:
		size = 1u << (imm - HVM_FN_PKT_WRITE_U8);
		value = f->regs[2];
		value = size == 1 ? value
		      : size == 2 ? bpf_htons((__u16)value)
		      : size == 4 ? bpf_htonl((__u32)value)
				  : bpf_cpu_to_be64(value);
		if (f->regs[1] > HVM_PACKET_MAX)
			return hvm_fault(run, HVM_FAULT_INVALID_ACCESS);
		if (hvm_access(run, HVM_ADDR(HVM_BANK_PACKET, f->regs[1]), size, &value, 1))
			return hvm_fault(run, HVM_FAULT_INVALID_ACCESS);
		f->regs[0] = 0;
		break;
	case HVM_FN_PKT_LEN:
		f->regs[0] = hvm_packet_length(run->ctx);
		break;
	case HVM_FN_KTIME_NS:
		f->regs[0] = bpf_ktime_get_ns();
		break;
	case HVM_FN_RANDOM:
		f->regs[0] = bpf_get_prandom_u32();
		break;
	case HVM_FN_CPU:
		f->regs[0] = bpf_get_smp_processor_id();
		break;
	default:
		return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
	}
	f->pc++;
	return 0;
}

static __always_inline long hvm_exit(struct hvm_run *run, struct hvm_frame *f)
{
	struct hvm_state *vm = run->vm;
	struct hvm_frame *caller;
	struct hvm_chain *chain;
	__u32 slot;

	if (vm->depth == 0) {
		vm->run_status = HVM_RUN_END;
		return 1;
	}
	caller = &vm->frames[(vm->depth - 1) & (HVM_DEPTH_MAX - 1)];
	slot = caller->slot;
	chain = bpf_map_lookup_elem(&hvm_chains, &slot);
	if (!chain || chain->id != caller->chain_id)
		return hvm_fault(run, HVM_FAULT_UNKNOWN_CALLEE);
	caller->regs[0] = f->regs[0];
	vm->depth--;
	run->frame = caller;
	run->chain = chain;
	return 0;
}

static __always_inline long hvm_jump(struct hvm_run *run, struct hvm_frame *f, struct hvm_insn *insn,
				     __u32 dst, __u32 src)
{
	int is32 = (insn->code & 0x07) == BPF_JMP32;
	int x = insn->code & BPF_X;
	__u8 op = insn->code & 0xf0;
	__u64 a, b;
	int taken;

	if (op == BPF_JA) {
		if (x)
			return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
		f->pc += 1 + (is32 ? insn->imm : insn->off);
		return 0;
	}
	if (op == BPF_CALL) {
		if (is32 || x || src != 0)
			return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
		return hvm_call(run, f, insn->imm);
	}
	if (op == BPF_EXIT) {
		if (is32 || x)
			return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
		return hvm_exit(run, f);
	}
	if (dst > 10 || (x && src > 10))
		return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
	a = f->regs[dst & 15];
	b = x ? f->regs[src & 15] : (__u64)(__s64)insn->imm;
	if (is32) {
		a = (__u32)a;
		b = (__u32)b;
	}
	switch (op) {
	case BPF_JEQ:
		taken = a == b;
		break;
	case BPF_JNE:
		taken = a != b;
		break;
	case BPF_JGT:
		taken = a > b;
		break;
	case BPF_JGE:
		taken = a >= b;
		break;
	case BPF_JLT:
		taken = a < b;
		break;
	case BPF_JLE:
		taken = a <= b;
		break;
	case BPF_JSET:
		taken = (a & b) != 0;
		break;
	case BPF_JSGT:
		taken = is32 ? (__s32)a > (__s32)b : (__s64)a > (__s64)b;
		break;
	case BPF_JSGE:
		taken = is32 ? (__s32)a >= (__s32)b : (__s64)a >= (__s64)b;
		break;
	case BPF_JSLT:
		taken = is32 ? (__s32)a < (__s32)b : (__s64)a < (__s64)b;
		break;
	case BPF_JSLE:
		taken = is32 ? (__s32)a <= (__s32)b : (__s64)a <= (__s64)b;
		break;
	default:
		return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
	}
	f->pc += taken ? 1 + insn->off : 1;
	return 0;
}

static __always_inline long hvm_memory(struct hvm_run *run, struct hvm_frame *f, struct hvm_insn *insn,
				       __u32 dst, __u32 src)
{
	__u8 class = insn->code & 0x07;
	__u8 mode = insn->code & 0xe0;
	__u32 bits = (insn->code >> 3) & 3;
	__u32 size = bits == 0 ? 4 : bits == 1 ? 2 : bits == 2 ? 1 : 8; /* BPF_W, BPF_H, BPF_B, BPF_DW */
	__u64 value;
	__u32 fault;

	if (class == BPF_LDX) {
		if (dst >= 10 || src > 10 || (mode != BPF_MEM && mode != BPF_MEMSX) ||
		    (mode == BPF_MEMSX && size == 8))
			return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
		fault = hvm_access(run, f->regs[src & 15] + (__s64)insn->off, size, &value, 0);
		if (fault)
			return hvm_fault(run, fault);
		if (mode == BPF_MEMSX)
			value = size == 1 ? (__u64)(__s64)(__s8)value
			      : size == 2 ? (__u64)(__s64)(__s16)value
					  : (__u64)(__s64)(__s32)value;
		f->regs[dst & 15] = value;
		f->pc++;
		return 0;
	}
	/* ST (immediate) and STX (register) */
	if (dst > 10 || mode != BPF_MEM || (class == BPF_STX && src > 10))
		return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
	value = class == BPF_STX ? f->regs[src & 15] : (__u64)(__s64)insn->imm;
	fault = hvm_access(run, f->regs[dst & 15] + (__s64)insn->off, size, &value, 1);
	if (fault)
		return hvm_fault(run, fault);
	f->pc++;
	return 0;
}

/* One instruction: the bpf_loop callback. Returns 1 to stop the loop. */
static long hvm_step(__u32 index, void *data)
{
	struct hvm_run *run = data;
	struct hvm_state *vm = run->vm;
	struct hvm_frame *f = run->frame;
	struct hvm_chain *chain = run->chain;
	struct hvm_insn insn;
	__u32 pc = f->pc, dst, src;

	if (vm->executed >= HVM_PACKET_BUDGET)
		return hvm_fault(run, HVM_FAULT_BUDGET);
	if (pc >= chain->ninsn || pc >= HVM_CHAIN_INSNS_MAX)
		return hvm_fault(run, HVM_FAULT_BAD_JUMP);
	insn = chain->insns[pc & (HVM_CHAIN_INSNS_MAX - 1)];
	vm->executed++;
	dst = insn.regs & 0x0f;
	src = insn.regs >> 4;

	/* Fast path for `rN = imm`, the first half of every call. `r1 = program; call` is the
	 * VM's hottest pair: make the call in this same step, with the same budget checks the next
	 * step would make, so counts and faults are exactly those of two steps. */
	if (insn.code == (BPF_ALU64 | BPF_MOV | BPF_K) && insn.off == 0 && dst < 10) {
		f->regs[dst & 15] = (__u64)(__s64)insn.imm;
		f->pc++;
		if (dst == 1 && insn.imm >= 0 && insn.imm < HVM_PROG_TABLE_SIZE && index + 1 < HVM_ACTIVATION_BUDGET &&
		    vm->executed < HVM_PACKET_BUDGET && pc + 1 < chain->ninsn && pc + 1 < HVM_CHAIN_INSNS_MAX) {
			__u32 next_pc = pc + 1;
			struct hvm_insn next;

			/* Opaque, so that clang keeps the mask: the 6.1 and 6.12 verifiers do not carry
			 * pc's bound to pc + 1. */
			barrier_var(next_pc);
			next = chain->insns[next_pc & (HVM_CHAIN_INSNS_MAX - 1)];

			if (next.code == (BPF_JMP | BPF_CALL) && (next.regs >> 4) == 0 &&
			    next.imm >= HVM_FN_CALL_FIRST && next.imm <= HVM_FN_CALL_LAST) {
				vm->executed++;
				if (vm->calls >= HVM_PROG_CALLS_MAX)
					return hvm_fault(run, HVM_FAULT_CALL_LIMIT);
				vm->run_status = HVM_RUN_CALL;
				vm->run_target = (__u32)insn.imm;
				return 1;
			}
		}
		return 0;
	}

	switch (insn.code & 0x07) {
	case BPF_ALU:
	case BPF_ALU64:
		return hvm_alu(run, f, &insn, dst, src);
	case BPF_JMP:
	case BPF_JMP32:
		return hvm_jump(run, f, &insn, dst, src);
	case BPF_LDX:
	case BPF_ST:
	case BPF_STX:
		return hvm_memory(run, f, &insn, dst, src);
	default: /* BPF_LD: only LD_IMM64 */
		if (insn.code != (BPF_LD | BPF_IMM | BPF_DW) || src != 0 || insn.off != 0 || dst >= 10 ||
		    pc + 1 >= chain->ninsn || pc + 1 >= HVM_CHAIN_INSNS_MAX)
			return hvm_fault(run, HVM_FAULT_UNKNOWN_OPCODE);
		/* As in the fast path above: the barrier keeps the mask (6.1 needs it). */
		pc++;
		barrier_var(pc);
		f->regs[dst & 15] = (__u64)(__u32)insn.imm |
				    ((__u64)(__u32)chain->insns[pc & (HVM_CHAIN_INSNS_MAX - 1)].imm << 32);
		f->pc += 2;
		return 0;
	}
}

/* ---- Ending a packet --------------------------------------------------------------------- */

static __always_inline void hvm_count_fault(struct hvm_state *vm, struct hvm_frame *f, __u32 reason,
					    __u32 packet_length)
{
	struct hvm_fault_key key = { .chain_id = f->chain_id, .reason = reason };
	__u64 one = 1, *count;
	struct hvm_event *event;

	count = bpf_map_lookup_elem(&hvm_faults, &key);
	if (count)
		*count += 1;
	else
		bpf_map_update_elem(&hvm_faults, &key, &one, BPF_NOEXIST);

	event = bpf_ringbuf_reserve(&hvm_events, sizeof(*event), 0);
	if (event) {
		event->timestamp_ns = bpf_ktime_get_ns();
		event->chain_id = f->chain_id;
		event->pc = f->pc;
		event->reason = reason;
		event->packet_length = packet_length;
		event->depth = vm->depth;
		event->cpu = bpf_get_smp_processor_id();
		bpf_ringbuf_submit(event, 0);
	}
}

/* Records how the packet ended and returns its verdict. */
static __always_inline int hvm_finish(struct xdp_md *ctx, struct hvm_state *vm, __u32 verdict, __u32 fault)
{
	struct hvm_frame *f = &vm->frames[vm->depth & (HVM_DEPTH_MAX - 1)];

	if (fault)
		hvm_count_fault(vm, f, fault, hvm_packet_length(ctx));
	vm->last.r0 = f->regs[0];
	vm->last.verdict = verdict;
	vm->last.fault = fault;
	vm->last.chain_id = f->chain_id;
	vm->last.pc = f->pc;
	vm->last.sequence++;
	vm->active = 0;
	return verdict;
}

#define __HVM_TAIL(n)                                                                              \
	case n:                                                                                    \
		bpf_tail_call_static(ctx, &hvm_progs, n);                                          \
		break;
#define __HVM_TAIL4(n) __HVM_TAIL(n) __HVM_TAIL(n + 1) __HVM_TAIL(n + 2) __HVM_TAIL(n + 3)
#define __HVM_TAIL16(n) __HVM_TAIL4(n) __HVM_TAIL4(n + 4) __HVM_TAIL4(n + 8) __HVM_TAIL4(n + 12)
#define __HVM_TAIL64(n) __HVM_TAIL16(n) __HVM_TAIL16(n + 16) __HVM_TAIL16(n + 32) __HVM_TAIL16(n + 48)

/* Tail-calls program `id`. Each case has a constant index, which the JIT turns into a direct
 * jump; a runtime index would cost an indirect (retpoline) jump. Returns only when the slot is
 * empty. */
static __always_inline void hvm_dispatch(struct xdp_md *ctx, __u32 id)
{
	switch (id) {
		__HVM_TAIL64(0)
		__HVM_TAIL64(64)
		__HVM_TAIL64(128)
		__HVM_TAIL64(192)
	}
}

/* Runs the active frame's chain from its pc until the packet leaves the VM or a program is due. */
static __always_inline int hvm_resume(struct xdp_md *ctx, struct hvm_state *vm)
{
	struct hvm_frame *f = &vm->frames[vm->depth & (HVM_DEPTH_MAX - 1)];
	struct hvm_chain *chain;
	__u32 slot = f->slot;

	chain = bpf_map_lookup_elem(&hvm_chains, &slot);
	if (!chain || chain->id != f->chain_id)
		return hvm_finish(ctx, vm, vm->default_verdict, HVM_FAULT_UNKNOWN_CALLEE);

	struct hvm_run run = { .ctx = ctx, .vm = vm, .frame = f, .chain = chain };

	vm->run_status = HVM_RUN_GOING;
	bpf_loop(HVM_ACTIVATION_BUDGET, hvm_step, &run, 0);

	switch (vm->run_status) {
	case HVM_RUN_CALL:
		vm->calls++;
		hvm_dispatch(ctx, vm->run_target);
		return hvm_finish(ctx, vm, vm->default_verdict, HVM_FAULT_UNKNOWN_CALLEE);
	case HVM_RUN_END:
		return hvm_finish(ctx, vm, vm->default_verdict, HVM_FAULT_NONE);
	case HVM_RUN_FAULT:
		return hvm_finish(ctx, vm, vm->default_verdict, vm->run_fault);
	default: /* the loop ran out: the activation's budget is spent */
		return hvm_finish(ctx, vm, vm->default_verdict, HVM_FAULT_BUDGET);
	}
}

/* A loader starts a packet on a chain. */
static __always_inline int hvm_start(struct xdp_md *ctx, __u32 chain_id, __u32 default_verdict)
{
	struct hvm_state *vm = hvm_state_get();
	struct hvm_frame *f;
	__u32 *slot, i;

	if (!vm)
		return XDP_ABORTED;
	vm->depth = 0;
	vm->executed = 0;
	vm->calls = 0;
	vm->active = 1;
	vm->default_verdict = default_verdict;
	f = &vm->frames[0];
	for (i = 0; i < 16; i++)
		f->regs[i] = 0;
	f->regs[1] = chain_id;
	f->regs[10] = HVM_STACK_TOP;
	__builtin_memset(f->stack, 0, HVM_STACK_SIZE);
	f->chain_id = chain_id;
	f->pc = 0;
	slot = bpf_map_lookup_elem(&hvm_chain_ids, &chain_id);
	if (!slot) {
		f->slot = 0;
		return hvm_finish(ctx, vm, default_verdict, HVM_FAULT_UNKNOWN_CALLEE);
	}
	f->slot = *slot;
	return hvm_resume(ctx, vm);
}

/* A program returns here: a final verdict ends the packet, HIKE_XDP_VM resumes the chain. */
static __always_inline int hvm_program_done(struct xdp_md *ctx, struct hvm_state *vm, struct hvm_frame *f,
					    int action)
{
	if (action == HIKE_XDP_VM) {
		f->pc++;
		return hvm_resume(ctx, vm);
	}
	if (action >= 0 && action <= HVM_VERDICT_MAX)
		return hvm_finish(ctx, vm, action, HVM_FAULT_NONE);
	return hvm_finish(ctx, vm, vm->default_verdict, HVM_FAULT_BAD_VERDICT);
}

#endif
