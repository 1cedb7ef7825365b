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
#include "hike/hook.h"

#include "hike/vm_maps.h"
#include "hike/vm_access.h"
#include "hike/vm_insn.h"

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
static __always_inline int hvm_finish(struct hike_ctx *ctx, struct hvm_state *vm, __u32 verdict, __u32 fault)
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
		bpf_tail_call_static(ctx, &HVM_PROGS, n);                                          \
		break;
#define __HVM_TAIL4(n) __HVM_TAIL(n) __HVM_TAIL(n + 1) __HVM_TAIL(n + 2) __HVM_TAIL(n + 3)
#define __HVM_TAIL16(n) __HVM_TAIL4(n) __HVM_TAIL4(n + 4) __HVM_TAIL4(n + 8) __HVM_TAIL4(n + 12)
#define __HVM_TAIL64(n) __HVM_TAIL16(n) __HVM_TAIL16(n + 16) __HVM_TAIL16(n + 32) __HVM_TAIL16(n + 48)

/* Tail-calls program `id`. Each case has a constant index, which the JIT turns into a direct
 * jump; a runtime index would cost an indirect (retpoline) jump. Returns only when the slot is
 * empty. */
static __always_inline void hvm_dispatch(struct hike_ctx *ctx, __u32 id)
{
	switch (id) {
		__HVM_TAIL64(0)
		__HVM_TAIL64(64)
		__HVM_TAIL64(128)
		__HVM_TAIL64(192)
	}
}

/* Runs the active frame's chain from its pc until the packet leaves the VM or a program is due. */
static __always_inline int hvm_resume(struct hike_ctx *ctx, struct hvm_state *vm)
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
static __always_inline int hvm_start(struct hike_ctx *ctx, __u32 chain_id, __u32 default_verdict)
{
	struct hvm_state *vm = hvm_state_get();
	struct hvm_frame *f;
	__u32 *slot, i;
	__u64 *runs;

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
	runs = bpf_map_lookup_elem(&hvm_runs, slot);
	if (runs)
		(*runs)++;
	return hvm_resume(ctx, vm);
}

/* A program returns here: a final verdict ends the packet, HIKE_XDP_VM resumes the chain. */
static __always_inline int hvm_program_done(struct hike_ctx *ctx, struct hvm_state *vm, struct hvm_frame *f,
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
