/* The HIKe VM's run state, faults and memory banks: every load and store of a chain goes
 * through hvm_access (part of hike/vm.h). */
#ifndef HIKE_VM_ACCESS_H
#define HIKE_VM_ACCESS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/vm_abi.h"
#include "hike/hook.h"
#include "hike/vm_maps.h"

/* ---- Interpreter ------------------------------------------------------------------------- */

#define HVM_RUN_GOING 0
#define HVM_RUN_CALL 1  /* stopped to call program `target` */
#define HVM_RUN_END 2   /* the root frame exited */
#define HVM_RUN_FAULT 3 /* `fault` */

/* What the bpf_loop callback works on: pointers into the VM's maps, kept on the caller's stack. */
struct hvm_run {
	struct hike_ctx *ctx;
	struct hvm_state *vm;
	struct hvm_frame *frame;
	struct hvm_chain *chain;
};

static __always_inline struct hvm_state *hvm_state_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&hvm_state, &zero);
}

/* The packet's length: the frame at XDP, the whole skb at tc. */
static __always_inline __u64 hvm_packet_length(struct hike_ctx *ctx)
{
	return hike_hook_packet_length(ctx);
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

#endif
