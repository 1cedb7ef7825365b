/* The HIKe VM's system maps (part of hike/vm.h). */
#ifndef HIKE_VM_MAPS_H
#define HIKE_VM_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hike/vm_abi.h"
#include "hike/hook.h"

/* ---- System maps: the same definitions in every object; hike pins them once and every
 * object it loads reuses the pins, so all programs share one VM. ------------------------- */

/* The program table: hvm_progs at XDP, hvm_progs_tc at tc (hike/hook.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, HVM_PROG_TABLE_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} HVM_PROGS SEC(".maps");

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

/* Packets that loaders started on the chain in each slot, per CPU (an array: one inlined lookup
 * per packet). hike zeroes a slot before it installs a chain there. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HVM_CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hvm_runs SEC(".maps");

#endif
