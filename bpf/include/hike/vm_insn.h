/* The HIKe VM's instruction classes: ALU, calls, exit, jumps, loads and stores (part of
 * hike/vm.h). */
#ifndef HIKE_VM_INSN_H
#define HIKE_VM_INSN_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/vm_abi.h"
#include "hike/vm_access.h"

/* Debian 12's kernel headers (6.1) predate the sign-extending load mode. */
#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80
#endif

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

#endif
