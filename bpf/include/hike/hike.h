/* Writing HIKe programs and loaders: the decorators of the original HIKe (HIKE_PROG,
 * EXPORT_HIKE_PROG_N, HVM_ARGn, HVM_RET), which also record each program's metadata in the object
 * (section .hike.meta): hike's catalog is read from the objects, not kept by hand.
 *
 *	#define HIKE_PACKAGE "hike_default"
 *	#include "hike/hike.h"
 *
 *	HIKE_PROG(monitor)
 *	{
 *		... HVM_ARG2 is the first user argument ...
 *		HVM_RET = 0;
 *		return HIKE_XDP_VM;     // continue the chain, r0 = HVM_RET
 *	}
 *	EXPORT_HIKE_PROG_2(monitor, __u64, event);
 *
 * A program returns HIKE_XDP_VM to continue the chain, or an XDP verdict to end it.
 * As in the original, EXPORT_HIKE_PROG_N counts the program's own ID (HVM_ARG1) among its N
 * arguments: EXPORT_HIKE_PROG_3(p, T, a, U, b) takes two user arguments, HVM_ARG2 and HVM_ARG3.
 */
#ifndef HIKE_HIKE_H
#define HIKE_HIKE_H

#include "hike/vm.h"

#ifndef HIKE_PACKAGE
#error "define HIKE_PACKAGE (the package name, a string) before including hike/hike.h"
#endif

#define HVM_ARG1 (__hvm_regs[1])
#define HVM_ARG2 (__hvm_regs[2])
#define HVM_ARG3 (__hvm_regs[3])
#define HVM_ARG4 (__hvm_regs[4])
#define HVM_ARG5 (__hvm_regs[5])
#define HVM_RET (__hvm_regs[0])

/* The body of a program: ctx is the packet, HVM_ARGn and HVM_RET its registers. */
#define HIKE_PROG(name) static __always_inline int __hike_body_##name(struct hike_ctx *ctx, __u64 *__hvm_regs)

/* The metadata goes into the XDP object only: a tc twin (-DHIKE_TC) is loaded beside its XDP
 * object, whose catalog entries it shares. */
#ifdef HIKE_TC
#define __HIKE_META(_name, _kind, _nargs, t1, a1, t2, a2, t3, a3, t4, a4)
#else
#define __HIKE_META(_name, _kind, _nargs, t1, a1, t2, a2, t3, a3, t4, a4)                            \
	static const struct hike_prog_meta __hike_meta_##_name SEC(".hike.meta")                      \
		__attribute__((used)) = {                                                          \
			.name = #_name,                                                            \
			.package = HIKE_PACKAGE,                                                   \
			.kind = _kind,                                                             \
			.nargs = _nargs,                                                           \
			.arg_types = { #t1, #t2, #t3, #t4 },                                       \
			.arg_names = { #a1, #a2, #a3, #a4 },                                       \
	}
#endif

/* The entry of a program (XDP, or tc in a twin): runs the body on the active frame's
 * registers, then hands the result back to the VM; the packet's verdict leaves as the hook's
 * action. Called without a chain (not through the VM), it aborts. */
#define __HIKE_ENTRY(name)                                                                         \
	SEC(HIKE_SEC)                                                                              \
	int name(struct hike_ctx *ctx)                                                             \
	{                                                                                          \
		struct hvm_state *vm = hvm_state_get();                                            \
		struct hvm_frame *f;                                                               \
                                                                                                   \
		if (!vm || !vm->active)                                                            \
			return hike_hook_verdict(XDP_ABORTED);                                     \
		f = &vm->frames[vm->depth & (HVM_DEPTH_MAX - 1)];                                  \
		return hike_hook_verdict(hvm_program_done(ctx, vm, f, __hike_body_##name(ctx, f->regs))); \
	}

#define EXPORT_HIKE_PROG(name)                                                                     \
	__HIKE_ENTRY(name)                                                                         \
	__HIKE_META(name, HIKE_META_PROGRAM, 0, , , , , , , , )
#define EXPORT_HIKE_PROG_2(name, t1, a1)                                                           \
	__HIKE_ENTRY(name)                                                                         \
	__HIKE_META(name, HIKE_META_PROGRAM, 1, t1, a1, , , , , , )
#define EXPORT_HIKE_PROG_3(name, t1, a1, t2, a2)                                                   \
	__HIKE_ENTRY(name)                                                                         \
	__HIKE_META(name, HIKE_META_PROGRAM, 2, t1, a1, t2, a2, , , , )
#define EXPORT_HIKE_PROG_4(name, t1, a1, t2, a2, t3, a3)                                           \
	__HIKE_ENTRY(name)                                                                         \
	__HIKE_META(name, HIKE_META_PROGRAM, 3, t1, a1, t2, a2, t3, a3, , )
#define EXPORT_HIKE_PROG_5(name, t1, a1, t2, a2, t3, a3, t4, a4)                                   \
	__HIKE_ENTRY(name)                                                                         \
	__HIKE_META(name, HIKE_META_PROGRAM, 4, t1, a1, t2, a2, t3, a3, t4, a4)

/* Facts about a program, in section .hike.facts. */
#ifdef HIKE_TC
#define __HIKE_FACT(prog, _kind, _value, tag)
#else
#define __HIKE_FACT(prog, _kind, _value, tag)                                                      \
	static const struct hike_prog_fact __hike_fact_##prog##_##tag SEC(".hike.facts")              \
		__attribute__((used)) = { .program = #prog, .kind = _kind, .value = _value }
#endif

/* The program always ends the chain with a verdict (hike_pass, hike_drop …). */
#define HIKE_PROG_FINAL(prog) __HIKE_FACT(prog, HIKE_FACT_FINAL, "", final)
/* The program uses this map: hike pins it as <package>/<program>/<map> and `hike map` shows it. */
#define EXPORT_HIKE_PROG_MAP(prog, map) __HIKE_FACT(prog, HIKE_FACT_MAP, #map, map)

/* The program is another package's, exported again under this one (as the original's packages
 * carried copies): a script names it by this package; the plain name stays the other's. */
#define EXPORT_HIKE_PROG_COPY_OF(prog, package) __HIKE_FACT(prog, HIKE_FACT_COPY, package, copy)

/* eBPF reads only the boot-time clock: a program that needs wall-clock time names the array map
 * whose key 0 holds the ns to add to bpf_ktime_get_boot_ns(), since 1900 (HIKE_CLOCK_NTP) or
 * 1970 (HIKE_CLOCK_UNIX). hike writes it when the object loads and on `hike clock sync`. */
#define HIKE_CLOCK_NTP "ntp"
#define HIKE_CLOCK_UNIX "unix"
#define EXPORT_HIKE_CLOCK_MAP(prog, map, epoch) __HIKE_FACT(prog, HIKE_FACT_CLOCK, #map ":" epoch, clock_##map)

/* A loader: an entry program that picks a chain for a packet (hvm_start) or passes it to the
 * kernel. Its configuration maps are exported with EXPORT_HIKE_PROG_MAP. The body returns XDP
 * verdicts at either hook:
 *
 *	HIKE_LOADER(my_classifier)
 *	{
 *		return hvm_start(ctx, chain, XDP_DROP);
 *	}
 *	EXPORT_HIKE_LOADER(my_classifier);
 */
#define HIKE_LOADER(name)                                                                          \
	static __always_inline int __hike_loader_##name(struct hike_ctx *ctx);                     \
	SEC(HIKE_SEC)                                                                              \
	int name(struct hike_ctx *ctx)                                                             \
	{                                                                                          \
		hike_hook_prepare(ctx);                                                            \
		return hike_hook_verdict(__hike_loader_##name(ctx));                               \
	}                                                                                          \
	static __always_inline int __hike_loader_##name(struct hike_ctx *ctx)

#define EXPORT_HIKE_LOADER(name) __HIKE_META(name, HIKE_META_LOADER, 0, , , , , , , , )

#endif
