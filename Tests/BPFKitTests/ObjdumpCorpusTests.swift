// Every instruction form, written both as clang BPF assembly and with the Swift builders:
// the assembled object must disassemble identically (llvm-objdump vs BPFDisassembler), and the
// builders must produce the bytes clang produced.

import Foundation
import Testing

#if canImport(BPFKit)
import BPFKit
#else
import BPFInstructions
#endif

enum InstructionCorpus {
    typealias I = BPFInstruction

    /// (assembly, the same instruction built in Swift). Labels and directives are not allowed
    /// here; the program is laid out from slot 0 of `.text` in this order.
    static let forms: [(String, BPFInstruction)] = {
        var forms: [(String, BPFInstruction)] = [
            // LD: 64-bit immediates, pseudo sources, legacy packet access.
            ("r1 = 0x1122334455667788 ll", I.ldImm64(dst: .r1, imm: 0x1122_3344_5566_7788)),
            ("r2 = -1 ll", I.ldImm64(dst: .r2, imm: -1)),
            ("r3 = 0x7fffffffffffffff ll", I.ldImm64(dst: .r3, imm: .max)),
            ("r4 = 0 ll", I.ldImm64(dst: .r4, imm: 0)),
            ("ld_pseudo r1, 1, 3", I.ldImm64(dst: .r1, pseudo: .mapFD, imm: 3)),
            ("ld_pseudo r9, 2, -1", I.ldImm64(dst: .r9, pseudo: .mapValue, imm: -1)),
            ("r0 = *(u8 *)skb[5]", I.loadAbsolute(size: .b, imm: 5)),
            ("r0 = *(u16 *)skb[-2]", I.loadAbsolute(size: .h, imm: -2)),
            ("r0 = *(u32 *)skb[0x100]", I.loadAbsolute(size: .w, imm: 0x100)),
            ("r0 = *(u8 *)skb[r1]", I.loadIndirect(size: .b, src: .r1)),
            ("r0 = *(u16 *)skb[r7]", I.loadIndirect(size: .h, src: .r7)),
            ("r0 = *(u32 *)skb[r9]", I.loadIndirect(size: .w, src: .r9)),
            // LDX, zero- and sign-extending.
            ("r0 = *(u8 *)(r1 + 2)", I.load(size: .b, dst: .r0, src: .r1, offset: 2)),
            ("r3 = *(u16 *)(r10 - 8)", I.load(size: .h, dst: .r3, src: .r10, offset: -8)),
            ("r4 = *(u32 *)(r1 + 0x7fff)", I.load(size: .w, dst: .r4, src: .r1, offset: .max)),
            ("r5 = *(u64 *)(r1 - 0x8000)", I.load(size: .dw, dst: .r5, src: .r1, offset: .min)),
            ("r0 = *(s8 *)(r1 + 2)", I.loadSigned(size: .b, dst: .r0, src: .r1, offset: 2)),
            ("r0 = *(s16 *)(r1 - 2)", I.loadSigned(size: .h, dst: .r0, src: .r1, offset: -2)),
            ("r0 = *(s32 *)(r1 + 0)", I.loadSigned(size: .w, dst: .r0, src: .r1, offset: 0)),
            // ST (immediate) and STX.
            ("*(u8 *)(r1 + 4) = 5", I.store(size: .b, dst: .r1, offset: 4, imm: 5)),
            ("*(u16 *)(r1 + 4) = -5", I.store(size: .h, dst: .r1, offset: 4, imm: -5)),
            ("*(u32 *)(r10 - 4) = 0x7fffffff", I.store(size: .w, dst: .r10, offset: -4, imm: .max)),
            ("*(u64 *)(r10 - 8) = -0x80000000", I.store(size: .dw, dst: .r10, offset: -8, imm: .min)),
            ("*(u8 *)(r1 + 1) = w2", I.store(size: .b, dst: .r1, offset: 1, src: .r2)),
            ("*(u16 *)(r1 + 2) = w3", I.store(size: .h, dst: .r1, offset: 2, src: .r3)),
            ("*(u32 *)(r1 + 4) = w4", I.store(size: .w, dst: .r1, offset: 4, src: .r4)),
            ("*(u64 *)(r10 - 8) = r1", I.store(size: .dw, dst: .r10, offset: -8, src: .r1)),
            // Atomics.
            ("lock *(u32 *)(r1 + 0) += w2", I.atomic(.add, size: .w, dst: .r1, offset: 0, src: .r2)),
            ("lock *(u32 *)(r1 + 4) |= w2", I.atomic(.or, size: .w, dst: .r1, offset: 4, src: .r2)),
            ("lock *(u32 *)(r1 - 4) &= w2", I.atomic(.and, size: .w, dst: .r1, offset: -4, src: .r2)),
            ("lock *(u32 *)(r1 + 0) ^= w2", I.atomic(.xor, size: .w, dst: .r1, offset: 0, src: .r2)),
            ("lock *(u64 *)(r1 + 0) += r2", I.atomic(.add, size: .dw, dst: .r1, offset: 0, src: .r2)),
            ("lock *(u64 *)(r1 + 8) |= r2", I.atomic(.or, size: .dw, dst: .r1, offset: 8, src: .r2)),
            ("lock *(u64 *)(r1 + 0) &= r2", I.atomic(.and, size: .dw, dst: .r1, offset: 0, src: .r2)),
            ("lock *(u64 *)(r1 + 0) ^= r2", I.atomic(.xor, size: .dw, dst: .r1, offset: 0, src: .r2)),
            ("w2 = atomic_fetch_add((u32 *)(r1 + 0), w2)", I.atomic(.add, size: .w, dst: .r1, offset: 0, src: .r2, fetch: true)),
            ("w2 = atomic_fetch_or((u32 *)(r1 + 0), w2)", I.atomic(.or, size: .w, dst: .r1, offset: 0, src: .r2, fetch: true)),
            ("w2 = atomic_fetch_and((u32 *)(r1 + 0), w2)", I.atomic(.and, size: .w, dst: .r1, offset: 0, src: .r2, fetch: true)),
            ("w2 = atomic_fetch_xor((u32 *)(r1 + 0), w2)", I.atomic(.xor, size: .w, dst: .r1, offset: 0, src: .r2, fetch: true)),
            ("r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)", I.atomic(.add, size: .dw, dst: .r1, offset: 0, src: .r2, fetch: true)),
            ("r2 = atomic_fetch_or((u64 *)(r1 + 0), r2)", I.atomic(.or, size: .dw, dst: .r1, offset: 0, src: .r2, fetch: true)),
            ("r2 = atomic_fetch_and((u64 *)(r1 + 0), r2)", I.atomic(.and, size: .dw, dst: .r1, offset: 0, src: .r2, fetch: true)),
            ("r2 = atomic_fetch_xor((u64 *)(r1 - 16), r2)", I.atomic(.xor, size: .dw, dst: .r1, offset: -16, src: .r2, fetch: true)),
            ("w2 = xchg32_32(r1 + 0, w2)", I.atomic(.xchg, size: .w, dst: .r1, offset: 0, src: .r2)),
            ("r2 = xchg_64(r1 + 8, r2)", I.atomic(.xchg, size: .dw, dst: .r1, offset: 8, src: .r2)),
            ("w0 = cmpxchg32_32(r1 + 0, w0, w2)", I.atomic(.cmpxchg, size: .w, dst: .r1, offset: 0, src: .r2)),
            ("r0 = cmpxchg_64(r1 + 0, r0, r2)", I.atomic(.cmpxchg, size: .dw, dst: .r1, offset: 0, src: .r2)),
            ("w0 = load_acquire((u8 *)(r1 + 0))", I.loadAcquire(size: .b, dst: .r0, src: .r1, offset: 0)),
            ("w0 = load_acquire((u16 *)(r1 + 2))", I.loadAcquire(size: .h, dst: .r0, src: .r1, offset: 2)),
            ("w0 = load_acquire((u32 *)(r1 + 4))", I.loadAcquire(size: .w, dst: .r0, src: .r1, offset: 4)),
            ("r0 = load_acquire((u64 *)(r1 - 8))", I.loadAcquire(size: .dw, dst: .r0, src: .r1, offset: -8)),
            ("store_release((u8 *)(r1 + 0), w2)", I.storeRelease(size: .b, dst: .r1, offset: 0, src: .r2)),
            ("store_release((u16 *)(r1 + 0), w2)", I.storeRelease(size: .h, dst: .r1, offset: 0, src: .r2)),
            ("store_release((u32 *)(r1 + 0), w2)", I.storeRelease(size: .w, dst: .r1, offset: 0, src: .r2)),
            ("store_release((u64 *)(r1 + 0), r2)", I.storeRelease(size: .dw, dst: .r1, offset: 0, src: .r2)),
        ]

        // ALU and ALU64, every two-operand op with K and X sources.
        let binary: [(BPFALUOp, String)] = [
            (.add, "+="), (.sub, "-="), (.mul, "*="), (.div, "/="), (.or, "|="), (.and, "&="),
            (.lsh, "<<="), (.rsh, ">>="), (.mod, "%="), (.xor, "^="), (.arsh, "s>>="),
        ]
        for (op, symbol) in binary {
            forms.append(("r1 \(symbol) 3", I.alu64(op, dst: .r1, imm: 3)))
            forms.append(("r1 \(symbol) r2", I.alu64(op, dst: .r1, src: .r2)))
            forms.append(("w3 \(symbol) -7", I.alu32(op, dst: .r3, imm: -7)))
            forms.append(("w3 \(symbol) w4", I.alu32(op, dst: .r3, src: .r4)))
        }
        forms += [
            ("r1 s/= 3", I.sdiv64(dst: .r1, imm: 3)),
            ("r1 s/= r2", I.sdiv64(dst: .r1, src: .r2)),
            ("r1 s%= -3", I.smod64(dst: .r1, imm: -3)),
            ("r1 s%= r2", I.smod64(dst: .r1, src: .r2)),
            ("w1 s/= 3", I.sdiv32(dst: .r1, imm: 3)),
            ("w1 s/= w2", I.sdiv32(dst: .r1, src: .r2)),
            ("w1 s%= 3", I.smod32(dst: .r1, imm: 3)),
            ("w1 s%= w2", I.smod32(dst: .r1, src: .r2)),
            ("r1 = -r1", I.neg64(.r1)),
            ("w1 = -w1", I.neg32(.r1)),
            ("r0 = 0", I.mov64(.r0, imm: 0)),
            ("r0 = -1", I.mov64(.r0, imm: -1)),
            ("r6 = r1", I.mov64(.r6, .r1)),
            ("w0 = 0x7fffffff", I.mov32(.r0, imm: .max)),
            ("w0 = -0x80000000", I.mov32(.r0, imm: .min)),
            ("w7 = w8", I.mov32(.r7, .r8)),
            ("r1 = (s8)r2", I.movsx64(.r1, .r2, bits: 8)),
            ("r1 = (s16)r2", I.movsx64(.r1, .r2, bits: 16)),
            ("r1 = (s32)r2", I.movsx64(.r1, .r2, bits: 32)),
            ("w1 = (s8)w2", I.movsx32(.r1, .r2, bits: 8)),
            ("w1 = (s16)w2", I.movsx32(.r1, .r2, bits: 16)),
            ("r3 = addr_space_cast(r2, 0, 1)", BPFInstruction(opcode: 0xbf, dst: 3, src: 2, offset: 1, imm: 1)),
        ]
        for bits in [16, 32, 64] {
            forms.append(("r1 = le\(bits) r1", I.byteSwap(.toLE, .r1, bits: Int32(bits))))
            forms.append(("r2 = be\(bits) r2", I.byteSwap(.toBE, .r2, bits: Int32(bits))))
            forms.append(("r3 = bswap\(bits) r3", I.byteSwap(.bswap, .r3, bits: Int32(bits))))
        }

        // Jumps: every comparison with K and X, 64 and 32 bit; offsets count from the next slot.
        let conditions: [(BPFJumpOp, String)] = [
            (.jeq, "=="), (.jgt, ">"), (.jge, ">="), (.jset, "&"), (.jne, "!="), (.jsgt, "s>"),
            (.jsge, "s>="), (.jlt, "<"), (.jle, "<="), (.jslt, "s<"), (.jsle, "s<="),
        ]
        for (op, symbol) in conditions {
            forms.append(("if r1 \(symbol) 3 goto +1", I.jump(op, dst: .r1, imm: 3, offset: 1)))
            forms.append(("if r1 \(symbol) r2 goto -2", I.jump(op, dst: .r1, src: .r2, offset: -2)))
            forms.append(("if w1 \(symbol) -3 goto +0", I.jump32(op, dst: .r1, imm: -3, offset: 0)))
            forms.append(("if w1 \(symbol) w2 goto +5", I.jump32(op, dst: .r1, src: .r2, offset: 5)))
        }
        forms += [
            ("goto +1", I.ja(offset: 1)),
            ("goto -3", I.ja(offset: -3)),
            ("gotol +2", I.gotol(imm: 2)),
            ("gotol -30000", I.gotol(imm: -30_000)),  // the assembler takes 16-bit literals only
            ("may_goto +3", I.mayGoto(offset: 3)),
            ("call 1", I.call(helper: 1)),
            ("call 0x7fffffff", I.call(helper: .max)),
            ("callx r1", I.callx(.r1)),
            // A jump far past the end and one far before the start (objdump wraps the address).
            ("goto +0x7fff", I.ja(offset: .max)),
            ("goto -0x8000", I.ja(offset: .min)),
            ("exit", I.exit),
        ]
        return forms
    }()

    static var assembly: String {
        var text = "\t.text\n\t.globl prog\n\t.type prog,@function\nprog:\n"
        for (i, (line, _)) in forms.enumerated() {
            // A second symbol in the middle, so annotations switch symbols.
            if i == forms.count / 2 { text += "\t.globl second\n\t.type second,@function\nsecond:\n" }
            text += "\t\(line)\n"
        }
        // A bpf-to-bpf call to a local function (src=1, imm = distance), then that function.
        text += "\tcall callee\n\texit\ncallee:\n\tr0 = 0\n\texit\n"
        // Slots LLVM cannot decode.
        text += "\t.byte 0xff,0x12,0x34,0x00,0x01,0x02,0x03,0x04\n"
        text += "\t.byte 0x18,0x21,0x01,0x00,0x01,0x00,0x00,0x00\n"  // LD_IMM64 with offset != 0: 8 bytes
        text += "\t.byte 0xb7,0x0c,0x00,0x00,0x00,0x00,0x00,0x00\n"  // dst r12
        text += "\texit\n"
        return text
    }
}

/// C code that clang compiles into maps relocations, static calls and a second section.
let instructionCorpusC = """
    typedef unsigned int u32;
    typedef unsigned long long u64;
    struct xdp_md { u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
    struct { int (*type)[2]; int (*max_entries)[4]; u32 *key; u64 *value; } counters
        __attribute__((section(".maps"), used));
    static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
    static u64 glob = 5;
    const volatile u32 cfg = 3;
    static __attribute__((noinline)) int helper(int x) { return x * 3 + (int)glob; }
    __attribute__((section("xdp"), used)) int prog(struct xdp_md *ctx) {
        u32 k = ctx->ingress_ifindex & 3;
        u64 *v = bpf_map_lookup_elem(&counters, &k);
        if (!v) return 2;
        __sync_fetch_and_add(v, 1);
        if (cfg == 7) return helper(k);
        for (int i = 0; i < 4; i++) if (ctx->data + i == ctx->data_end) return i;
        return helper(k + 1) ? 1 : 2;
    }
    __attribute__((section("tc"), used)) int prog2(struct xdp_md *ctx) {
        long long x = (signed char)ctx->data;
        return helper((int)(x / 3)) + (int)__builtin_bswap64(x);
    }
    char LICENSE[] __attribute__((section("license"), used)) = "GPL";
    """

@Suite("InstructionCorpus against llvm-objdump")
struct ObjdumpCorpusTests {
    @Test func assemblyCorpusDisassemblesLikeObjdump() throws {
        let object = try compileBPF(source: InstructionCorpus.assembly, named: "corpus.s")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: object).deletingLastPathComponent().path) }
        let result = try objdumpComparison(objectPath: object)
        #expect(result.compared >= InstructionCorpus.forms.count + 8)
        #expect(result.mismatches.isEmpty, "\(result.mismatches.map(\.description).joined(separator: "\n"))")
    }

    @Test func buildersProduceClangBytes() throws {
        let object = try compileBPF(source: InstructionCorpus.assembly, named: "corpus.s")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: object).deletingLastPathComponent().path) }
        let output = try runLLVMTool(LLVMTools.objdump, ["-d", object])
        let lines = parseObjdump(output.stdout).flatMap(\.lines)
        try #require(lines.count >= InstructionCorpus.forms.count)
        for ((asm, built), line) in zip(InstructionCorpus.forms, lines) {
            #expect(built.encode() == line.bytes, "\(asm): builder gave \(built.encode()), clang \(line.bytes)")
        }
        // The listing of the whole program agrees too (same slot indices, same symbols).
        let all = try BPFInstruction.decode(lines.prefix(InstructionCorpus.forms.count).flatMap(\.bytes))
        let symbols = parseObjdump(output.stdout).first?.symbols ?? []
        let listing = BPFDisassembler(symbols: symbols).listing(all)
        #expect(listing == lines.prefix(InstructionCorpus.forms.count).map(\.text))
        // And whole lines, index and hex bytes included.
        let rawLines = output.stdout.split(separator: "\n").map(String.init)
            .filter { $0.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).count == 3 }
        for (mine, theirs) in zip(BPFDisassembler(symbols: symbols).objdumpLines(all), rawLines) {
            #expect(mine == theirs)
        }
    }

    @Test func compiledCCorpusDisassemblesLikeObjdump() throws {
        let object = try compileBPF(source: instructionCorpusC, named: "corpus.bpf.c")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: object).deletingLastPathComponent().path) }
        let result = try objdumpComparison(objectPath: object)
        #expect(result.compared > 20)
        #expect(result.mismatches.isEmpty, "\(result.mismatches.map(\.description).joined(separator: "\n"))")
    }
}
