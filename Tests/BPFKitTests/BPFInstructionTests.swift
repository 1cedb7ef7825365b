// Encoding, decoding, errors and disassembler details that do not need the toolchain.

import Testing

#if canImport(BPFKit)
import BPFKit
#else
import BPFInstructions
#endif

@Suite("Instruction model and codec")
struct BPFInstructionTests {
    @Test func roundTripsEveryCorpusForm() throws {
        for (asm, insn) in InstructionCorpus.forms {
            let bytes = insn.encode()
            #expect(bytes.count == insn.slotCount * 8, "\(asm)")
            #expect(try BPFInstruction.decode(bytes) == [insn], "\(asm)")
        }
        let program = InstructionCorpus.forms.map(\.1)
        #expect(try BPFInstruction.decode(program.encoded()) == program)
    }

    @Test func roundTripsArbitraryBytesExactly() throws {
        var rng = SplitMix64(state: 42)
        for _ in 0..<200 {
            var bytes = (0..<(8 * Int.random(in: 1...32, using: &rng))).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Make every slot's opcode 0x18 now and then so that wide instructions occur.
            for slot in stride(from: 0, to: bytes.count, by: 8) where Int.random(in: 0..<4, using: &rng) == 0 {
                bytes[slot] = 0x18
                bytes[slot + 2] = 0
                bytes[slot + 3] = 0
            }
            let insns: [BPFInstruction]
            do {
                insns = try BPFInstruction.decode(bytes)
            } catch .truncatedWideInstruction {
                bytes += [0, 0, 0, 0, 1, 2, 3, 4]
                insns = try BPFInstruction.decode(bytes)
            }
            #expect(insns.encoded() == bytes)
            #expect(insns.reduce(0) { $0 + $1.slotCount } * 8 == bytes.count)
        }
    }

    @Test func encodesLittleEndianFields() {
        #expect(BPFInstruction.mov64(.r1, imm: 5).encode() == [0xb7, 0x01, 0, 0, 5, 0, 0, 0])
        #expect(BPFInstruction.store(size: .dw, dst: .r10, offset: -8, src: .r1).encode()
            == [0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0])
        #expect(BPFInstruction.ldImm64(dst: .r1, imm: 0x1122_3344_5566_7788).encode()
            == [0x18, 0x01, 0, 0, 0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11])
        #expect(BPFInstruction.call(relative: -1).encode() == [0x85, 0x10, 0, 0, 0xff, 0xff, 0xff, 0xff])
        #expect(BPFInstruction.exit.encode() == [0x95, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func fieldAccessors() {
        let load = BPFInstruction.loadSigned(size: .h, dst: .r3, src: .r4, offset: -2)
        #expect(load.instructionClass == .ldx)
        #expect(load.size == .h)
        #expect(load.mode == .memsx)
        #expect(load.source == nil)
        #expect(load.dstRegister == .r3 && load.srcRegister == .r4)

        let add = BPFInstruction.alu32(.add, dst: .r1, src: .r2)
        #expect(add.instructionClass == .alu && add.aluOp == .add && add.source == .x && add.size == nil)

        let jump = BPFInstruction.jump32(.jsle, dst: .r1, imm: 4, offset: 7)
        #expect(jump.instructionClass == .jmp32 && jump.jumpOp == .jsle && jump.source == .k)

        let wide = BPFInstruction.ldImm64(dst: .r2, imm: -2)
        #expect(wide.isWide && wide.slotCount == 2 && wide.imm64 == -2)
        #expect(wide.instructionClass == .ld && wide.mode == .imm && wide.size == .dw)
        #expect(!BPFInstruction.exit.isWide && BPFInstruction.exit.slotCount == 1 && BPFInstruction.exit.imm64 == nil)
    }

    @Test func registerFieldsAreFourBits() {
        let insn = BPFInstruction(opcode: 0xbf, dst: 0x1f, src: 0xf2)
        #expect(insn.dst == 0x0f && insn.src == 0x02)
        var copy = insn
        copy.dst = 0x23
        #expect(copy.dst == 0x03)
    }

    // MARK: Errors

    @Test func partialSlotThrowsWithOffset() {
        #expect(throws: BPFInstructionError.partialSlot(byteOffset: 0, remaining: 3)) {
            try BPFInstruction.decode([1, 2, 3])
        }
        let nine = BPFInstruction.exit.encode() + [0x95]
        #expect(throws: BPFInstructionError.partialSlot(byteOffset: 8, remaining: 1)) {
            try BPFInstruction.decode(nine)
        }
        #expect("\(BPFInstructionError.partialSlot(byteOffset: 8, remaining: 1))".contains("byte offset 8"))
    }

    @Test func truncatedWideInstructionThrowsWithOffset() {
        let bytes = BPFInstruction.exit.encode() + BPFInstruction.ldImm64(dst: .r1, imm: 7).encode().prefix(12)
        do {
            _ = try BPFInstruction.decode(bytes)
            Issue.record("expected an error")
        } catch {
            #expect(error == .truncatedWideInstruction(byteOffset: 8, remaining: 12))
            #expect(error.description.contains("LD_IMM64") && error.description.contains("byte offset 8"))
        }
    }

    @Test func emptyInputDecodesToNothing() throws {
        #expect(try BPFInstruction.decode([]) == [])
    }

    @Test func opcode0x18WithOffsetIsOneSlotLikeLLVM() throws {
        // LLVM only treats 0x18 as LD_IMM64 when offset is 0 and dst is r0-r11.
        let bytes: [UInt8] = [0x18, 0x21, 0x01, 0x00, 0x01, 0, 0, 0] + BPFInstruction.exit.encode()
        let insns = try BPFInstruction.decode(bytes)
        #expect(insns.count == 2 && !insns[0].isWide)
        #expect(BPFDisassembler().listing(insns) == ["<unknown>", "exit"])
    }

    // MARK: Disassembler details

    @Test func unknownEncodingsPrintUnknown() {
        let d = BPFDisassembler()
        #expect(d.text(for: BPFInstruction(opcode: 0xff), at: 0) == "<unknown>")
        #expect(d.text(for: BPFInstruction(opcode: 0xb7, dst: 12), at: 0) == "<unknown>")  // r12
        #expect(d.text(for: BPFInstruction(opcode: 0xb7, dst: 11), at: 0) == "r11 = 0x0")
        #expect(d.text(for: BPFInstruction(opcode: 0x95, imm: 1), at: 0) == "<unknown>")  // exit with imm
        #expect(d.text(for: BPFInstruction(opcode: 0x18, dst: 1), at: 0) == "<unknown>")  // 0x18 without 2nd slot
        #expect(d.text(for: BPFInstruction(opcode: 0xdf, dst: 1, imm: 16), at: 0) == "<unknown>")
        // Fields an encoding does not define are ignored, as LLVM does.
        #expect(d.text(for: BPFInstruction(opcode: 0xb7, dst: 1, src: 15, imm: 5), at: 0) == "r1 = 0x5")
    }

    @Test func formatsImmediatesAndOffsets() {
        let d = BPFDisassembler()
        #expect(d.text(for: .mov32(.r0, imm: .min), at: 0) == "w0 = -0x80000000")
        #expect(d.text(for: .ldImm64(dst: .r1, imm: .min), at: 0) == "r1 = -0x8000000000000000 ll")
        #expect(d.text(for: .load(size: .b, dst: .r1, src: .r1, offset: .min), at: 0) == "w1 = *(u8 *)(r1 - 0x8000)")
        #expect(d.text(for: .ldImm64(dst: .r1, pseudo: .mapValue, imm: -1, high: 8), at: 0)
            == "ld_pseudo\tr1, 0x2, 0xffffffff")
        #expect(d.text(for: .call(relative: -1), at: 0) == "call -0x1")
        #expect("\(BPFInstruction.byteSwap(.toBE, .r3, bits: 16))" == "r3 = be16 r3")
    }

    @Test func annotatesBranchTargetsFromSymbols() {
        let plain = BPFDisassembler()
        #expect(plain.text(for: .ja(offset: 1), at: 0) == "goto +0x1")

        let d = BPFDisassembler(symbols: [BPFSymbol(name: "second", address: 0x20), BPFSymbol(name: "prog", address: 0)])
        #expect(d.text(for: .ja(offset: 1), at: 0) == "goto +0x1 <prog+0x10>")
        #expect(d.text(for: .ja(offset: -1), at: 0) == "goto -0x1 <prog>")
        #expect(d.text(for: .jump(.jne, dst: .r1, imm: 0, offset: 2), at: 1) == "if r1 != 0x0 goto +0x2 <second>")
        #expect(d.text(for: .gotol(imm: 3), at: 4) == "gotol +0x3 <second+0x20>")
        #expect(d.text(for: .mayGoto(offset: 0), at: 0) == "may_goto +0x0 <prog+0x8>")
        // objdump computes the target address unsigned: before the section start it wraps around
        // and lands on the last symbol.
        #expect(d.text(for: .ja(offset: -3), at: 0) == "goto -0x3 <second+0xffffffffffffffd0>")
        // Calls are not branches for objdump, even bpf-to-bpf calls.
        #expect(d.text(for: .call(relative: 2), at: 0) == "call 0x2")

        // No symbol at or before the target: no annotation.
        let late = BPFDisassembler(symbols: [BPFSymbol(name: "late", address: 0x40)])
        #expect(late.text(for: .ja(offset: 0), at: 0) == "goto +0x0")
    }

    @Test func listingAdvancesByWideInstructions() {
        let program: [BPFInstruction] = [
            .ldImm64(dst: .r1, imm: 1), .jump(.jeq, dst: .r1, imm: 1, offset: 1), .mov64(.r0, imm: 0), .exit,
        ]
        let d = BPFDisassembler(symbols: [BPFSymbol(name: "prog", address: 0)])
        #expect(d.listing(program) == [
            "r1 = 0x1 ll", "if r1 == 0x1 goto +0x1 <prog+0x20>", "r0 = 0x0", "exit",
        ])
        #expect(d.objdumpLines(program) == [
            "       0:\t18 01 00 00 01 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0x1 ll",
            "       2:\t15 01 01 00 01 00 00 00\tif r1 == 0x1 goto +0x1 <prog+0x20>",
            "       3:\tb7 00 00 00 00 00 00 00\tr0 = 0x0",
            "       4:\t95 00 00 00 00 00 00 00\texit",
        ])
    }
}
