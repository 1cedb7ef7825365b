/* Programs for the VM's tests, with exactly the semantics of HikeVM.ReferencePrograms: the
 * differential test runs chains calling them both in the kernel and in the Swift interpreter. */
#define HIKE_PACKAGE "vm_tests"
#include "hike/hike.h"

/* r0 = a + b */
HIKE_PROG(test_add)
{
	HVM_RET = HVM_ARG2 + HVM_ARG3;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_3(test_add, __u64, a, __u64, b);

/* packet[off] ^= value; r0 = the new byte, or all ones when off is outside the packet. */
HIKE_PROG(test_xor_pkt)
{
	__u8 *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 off = HVM_ARG2;
	__u8 *p;

	if (off > HVM_PACKET_MAX) {
		HVM_RET = (__u64)-1;
		return HIKE_XDP_VM;
	}
	p = data + (off & HVM_PACKET_MAX);
	if ((void *)(p + 1) > data_end) {
		HVM_RET = (__u64)-1;
		return HIKE_XDP_VM;
	}
	*p ^= (__u8)HVM_ARG3;
	HVM_RET = *p;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_3(test_xor_pkt, __u64, off, __u64, value);

/* Returns v as the program's result: a verdict (0–4, r0 untouched), HIKE_XDP_VM (continue with
 * r0 = 104) or, for anything else, HIKE_XDP_VM + 1: a bad verdict the VM must fault on. */
HIKE_PROG(test_verdict)
{
	__u64 v = HVM_ARG2;

	if (v <= HVM_VERDICT_MAX)
		return (int)v;
	if (v == HIKE_XDP_VM) {
		HVM_RET = v;
		return HIKE_XDP_VM;
	}
	return HIKE_XDP_VM + 1;
}
EXPORT_HIKE_PROG_2(test_verdict, __u64, v);

/* The little-endian u64 at shared memory[off & 0xff8] += 1; r0 = the new value. */
HIKE_PROG(test_shmem)
{
	__u32 zero = 0, off = HVM_ARG2 & 0xff8;
	struct hvm_shmem_data *m = bpf_map_lookup_elem(&hvm_shmem, &zero);
	__u64 *p;

	if (!m)
		return XDP_ABORTED;
	p = (__u64 *)&m->data[off];
	*p += 1;
	HVM_RET = *p;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_2(test_shmem, __u64, off);

char LICENSE[] SEC("license") = "GPL";
