// The chain assembler: every syntax form, labels, names, linking and diagnostics.

import BPFInstructions
import Testing
@testable import HikeVM

@Suite("Chain assembler")
struct AssemblerTests {
    /// Every form the brief and BPFDisassembler use, with the instruction it must give.
    static let forms: [(String, [BPFInstruction])] = [
        ("r1 = 0x5", [.mov64(.r1, imm: 5)]),
        ("r1 = 5", [.mov64(.r1, imm: 5)]),
        ("r1 = -1", [.mov64(.r1, imm: -1)]),
        ("r1 = -0x80000000", [.mov64(.r1, imm: Int32.min)]),
        ("w1 = 0xffffffff", [.mov32(.r1, imm: -1)]),
        ("w1 = -0x1", [.mov32(.r1, imm: -1)]),
        ("r1 = r2", [.mov64(.r1, .r2)]),
        ("w1 = w2", [.mov32(.r1, .r2)]),
        ("w1 += w2", [.alu32(.add, dst: .r1, src: .r2)]),
        ("r1 += r2", [.alu64(.add, dst: .r1, src: .r2)]),
        ("r1 -= 3", [.alu64(.sub, dst: .r1, imm: 3)]),
        ("r1 *= -2", [.alu64(.mul, dst: .r1, imm: -2)]),
        ("r1 /= r3", [.alu64(.div, dst: .r1, src: .r3)]),
        ("r1 s/= r2", [.sdiv64(dst: .r1, src: .r2)]),
        ("w1 s/= 3", [.sdiv32(dst: .r1, imm: 3)]),
        ("r1 %= 7", [.alu64(.mod, dst: .r1, imm: 7)]),
        ("r1 s%= r2", [.smod64(dst: .r1, src: .r2)]),
        ("w4 s%= -3", [.smod32(dst: .r4, imm: -3)]),
        ("r1 |= 0x10", [.alu64(.or, dst: .r1, imm: 0x10)]),
        ("r1 &= r9", [.alu64(.and, dst: .r1, src: .r9)]),
        ("r1 ^= 1", [.alu64(.xor, dst: .r1, imm: 1)]),
        ("r1 <<= 3", [.alu64(.lsh, dst: .r1, imm: 3)]),
        ("w1 >>= w2", [.alu32(.rsh, dst: .r1, src: .r2)]),
        ("r1 s>>= 4", [.alu64(.arsh, dst: .r1, imm: 4)]),
        ("w1 s>>= 4", [.alu32(.arsh, dst: .r1, imm: 4)]),
        ("r1 = -r1", [.neg64(.r1)]),
        ("w2 = -w2", [.neg32(.r2)]),
        ("r1 = (s8)r2", [.movsx64(.r1, .r2, bits: 8)]),
        ("r1 = (s16)r2", [.movsx64(.r1, .r2, bits: 16)]),
        ("r1 = (s32)r2", [.movsx64(.r1, .r2, bits: 32)]),
        ("w1 = (s8)w2", [.movsx32(.r1, .r2, bits: 8)]),
        ("w1 = (s16)w2", [.movsx32(.r1, .r2, bits: 16)]),
        ("r1 = be16 r1", [.byteSwap(.toBE, .r1, bits: 16)]),
        ("r1 = be64 r1", [.byteSwap(.toBE, .r1, bits: 64)]),
        ("r1 = le32 r1", [.byteSwap(.toLE, .r1, bits: 32)]),
        ("r1 = bswap32 r1", [.byteSwap(.bswap, .r1, bits: 32)]),
        ("r3 = bswap16 r3", [.byteSwap(.bswap, .r3, bits: 16)]),
        ("r1 = 0x123456789 ll", [.ldImm64(dst: .r1, imm: 0x1_2345_6789)]),
        ("r1 = -0x1 ll", [.ldImm64(dst: .r1, imm: -1)]),
        ("r1 = 0xffffffffffffffff ll", [.ldImm64(dst: .r1, imm: -1)]),
        ("r1 = -0x8000000000000000 ll", [.ldImm64(dst: .r1, imm: Int64.min)]),
        ("*(u32 *)(r10 - 0x8) = r1", [.store(size: .w, dst: .r10, offset: -8, src: .r1)]),
        ("*(u32 *)(r10 - 0x8) = w1", [.store(size: .w, dst: .r10, offset: -8, src: .r1)]),
        ("*(u64 *)(r10 - 8) = 42", [.store(size: .dw, dst: .r10, offset: -8, imm: 42)]),
        ("*(u8 *)(r1 + 0x2) = -1", [.store(size: .b, dst: .r1, offset: 2, imm: -1)]),
        ("*(u16 *)(r1) = r2", [.store(size: .h, dst: .r1, offset: 0, src: .r2)]),
        ("r0 = *(u8 *)(r1 + 0x2)", [.load(size: .b, dst: .r0, src: .r1, offset: 2)]),
        ("w0 = *(u16 *)(r1 + 0x2)", [.load(size: .h, dst: .r0, src: .r1, offset: 2)]),
        ("r0 = *(u64 *)(r10 - 256)", [.load(size: .dw, dst: .r0, src: .r10, offset: -256)]),
        ("r0 = *(s16 *)(r1 + 2)", [.loadSigned(size: .h, dst: .r0, src: .r1, offset: 2)]),
        ("r0 = *(s8 *)(r1 - 0x7fff)", [.loadSigned(size: .b, dst: .r0, src: .r1, offset: -0x7fff)]),
        ("r0 = *(s32 *)(r1 - 32768)", [.loadSigned(size: .w, dst: .r0, src: .r1, offset: Int16.min)]),
        ("if r1 > 0x3 goto +2", [.jump(.jgt, dst: .r1, imm: 3, offset: 2)]),
        ("if r1 == r2 goto -0x3", [.jump(.jeq, dst: .r1, src: .r2, offset: -3)]),
        ("if w1 s< -5 goto +0", [.jump32(.jslt, dst: .r1, imm: -5, offset: 0)]),
        ("if w1 != w2 goto +1", [.jump32(.jne, dst: .r1, src: .r2, offset: 1)]),
        ("if r1 & 0x4 goto +1", [.jump(.jset, dst: .r1, imm: 4, offset: 1)]),
        ("if r1 s>= r2 goto +1", [.jump(.jsge, dst: .r1, src: .r2, offset: 1)]),
        ("if r1 s> 1 goto +1", [.jump(.jsgt, dst: .r1, imm: 1, offset: 1)]),
        ("if r1 s<= 1 goto +1", [.jump(.jsle, dst: .r1, imm: 1, offset: 1)]),
        ("if r1 < 1 goto +1", [.jump(.jlt, dst: .r1, imm: 1, offset: 1)]),
        ("if r1 <= 1 goto +1", [.jump(.jle, dst: .r1, imm: 1, offset: 1)]),
        ("if r1 >= 1 goto +1", [.jump(.jge, dst: .r1, imm: 1, offset: 1)]),
        ("if w1 > 0xffffffff goto +1", [.jump32(.jgt, dst: .r1, imm: -1, offset: 1)]),
        ("goto +0x5", [.ja(offset: 5)]),
        ("goto -1", [.ja(offset: -1)]),
        ("gotol +0x10000", [.gotol(imm: 0x10000)]),
        ("call 0x14", [.call(helper: 0x14)]),
        ("call 20", [.call(helper: 0x14)]),
        ("call elem", [.call(helper: ABI.fnCall)]),
        ("call pkt_read_u8", [.call(helper: 0x20)]),
        ("call pkt_write_u64", [.call(helper: 0x27)]),
        ("call pkt_len", [.call(helper: 0x28)]),
        ("call ktime_ns", [.call(helper: 0x29)]),
        ("call random", [.call(helper: 0x2a)]),
        ("call cpu", [.call(helper: 0x2b)]),
        ("exit", [.exit]),
        (".insn 0xdb, 1, 2, -8, 0x1", [BPFInstruction(opcode: 0xdb, dst: 1, src: 2, offset: -8, imm: 1)]),
        (".insn 0x18, 1, 0, 0, 5, 0x1", [.ldImm64(dst: .r1, imm: 0x1_0000_0005)]),
        (".insn 0x18, 1, 0, 0, 5, 0, 0xff", [BPFInstruction(opcode: 0x18, dst: 1, imm: 5, imm64High: 0, wideReserved: 0xff)]),
    ]

    @Test func everySyntaxForm() throws {
        for (text, expected) in Self.forms {
            let chains = try ChainAssembler.assemble("chain c\n    \(text)\n")
            #expect(chains.count == 1)
            #expect(try chains[0].link(symbols: [:]) == expected, "\(text)")
        }
    }

    @Test func formsMatchTheInstructionDisassembler() {
        // The assembler reads exactly what BPFDisassembler prints.
        for (text, expected) in Self.forms where !text.hasPrefix(".insn") {
            for insn in expected where insn.description != "<unknown>" {
                #expect(ChainAssembler.assembleLine(insn.description) == [insn], "\(insn.description)")
            }
        }
    }

    @Test func labelsCommentsAndSeveralChains() throws {
        let source = """
            # a comment line
            chain first ; chain comment
            start:  r1 = 0          # a label on the line of an instruction
            loop:
                r1 += 1
                if r1 < 10 goto loop
                if w1 == 10 goto done
                gotol start
            done:
                exit

            chain second
                goto end
                r0 = 0x123456789 ll
            end: exit
            """
        let chains = try ChainAssembler.assemble(source, file: "x.hvm")
        #expect(chains.map(\.name) == ["first", "second"])
        #expect(chains[0].instructions == [
            .mov64(.r1, imm: 0),
            .alu64(.add, dst: .r1, imm: 1),
            .jump(.jlt, dst: .r1, imm: 10, offset: -2),
            .jump32(.jeq, dst: .r1, imm: 10, offset: 1),
            .gotol(imm: -5),
            .exit,
        ])
        #expect(chains[0].sourceLines == [3, 5, 6, 7, 8, 10])
        // The label counts slots: LD_IMM64 takes two.
        #expect(chains[1].instructions == [.ja(offset: 2), .ldImm64(dst: .r0, imm: 0x1_2345_6789), .exit])
    }

    @Test func programAndChainNamesAreRelocatedAndLinked() throws {
        let source = """
            chain main
                r2 = 1
                r3 = 2
                call test_add
                r6 = @helper_chain
                r1 = r6
                call elem
                call helper_chain
                exit
            chain helper_chain
                exit
            """
        let chains = try ChainAssembler.assemble(source)
        let main = chains[0]
        #expect(main.relocations.map(\.index) == [2, 4, 7])
        #expect(main.relocations.map(\.symbol) == ["test_add", "helper_chain", "helper_chain"])
        #expect(main.instructions[3] == .call(helper: 0x14))
        let linked = try chains.link(programs: ["test_add": 2])
        let helperID = ABI.chainFlag | 2
        #expect(linked.ids == ["main": ABI.chainFlag | 1, "helper_chain": helperID])
        let code = try #require(linked.chains[ABI.chainFlag | 1])
        #expect(code[2] == .mov64(.r1, imm: 2))
        #expect(code[4] == .mov64(.r6, imm: Int32(helperID)))
        #expect(code[7] == .mov64(.r1, imm: Int32(helperID)))
        #expect(code[8] == .call(helper: 0x14))
    }

    /// `call PACKAGE.NAME` and `@PACKAGE.NAME` name a program by its package (what compiled eCLAT
    /// emits); a space before the dot keeps them apart.
    @Test func programsByPackage() throws {
        let chains = try ChainAssembler.assemble("chain stamp\n    call stamp.stamp_mono\n    r6 = @hike_default.hike_pass\n    call stamp\n    exit\n")
        #expect(chains[0].relocations.map(\.symbol) == ["stamp.stamp_mono", "hike_default.hike_pass", "stamp"])
        let linked = try chains.link(programs: ["stamp.stamp_mono": 7, "hike_default.hike_pass": 1, "stamp": 9])
        let code = try #require(linked.chains[ABI.chainFlag | 1])
        #expect(code[0] == .mov64(.r1, imm: 7))
        #expect(code[2] == .mov64(.r6, imm: 1))
        #expect(code[3] == .mov64(.r1, imm: Int32(ABI.chainFlag | 1)))  // the chain's own name is the chain
        #expect(throws: AssemblerError.self) { try ChainAssembler.assemble("chain c\n    call stamp .stamp_mono\n    exit\n") }
    }

    @Test func linkErrorsListTheKnownNames() throws {
        let chains = try ChainAssembler.assemble("chain c\n    call nosuch\n    r2 = @other\n    exit\n", file: "l.hvm")
        #expect(throws: AssemblerError.self) { try chains[0].link(symbols: ["test_add": 2, "hike_pass": 0]) }
        do {
            _ = try chains[0].link(symbols: ["test_add": 2, "hike_pass": 0])
        } catch {
            #expect(error.diagnostics.count == 2)
            #expect(error.diagnostics[0].description == """
                l.hvm:2:10: error: unknown program or chain 'nosuch'; known: hike_pass, test_add
                    call nosuch
                         ^
                """)
            #expect(error.diagnostics[1].line == 3)
            #expect(error.diagnostics[1].column == 11)
        }
        // An ID with bit 31 set cannot be a sign-extended immediate.
        #expect(throws: AssemblerError.self) { try chains[0].link(symbols: ["nosuch": 0x8000_0000, "other": 1]) }
    }

    /// The diagnostics of a source that must not assemble.
    func diagnostics(_ source: String) -> [AssemblerDiagnostic] {
        do {
            _ = try ChainAssembler.assemble(source, file: "bad.hvm")
            Issue.record("assembled: \(source)")
            return []
        } catch {
            return error.diagnostics
        }
    }

    @Test func errorsHaveLineColumnAndCaret() {
        let found = diagnostics("chain c\n    r1 = 0x1ffffffff\n")
        #expect(found.count == 1)
        #expect(found.first?.description == """
            bad.hvm:2:10: error: immediate 0x1ffffffff does not fit in 32 bits; use 'rN = 0x1ffffffff ll' for a 64-bit constant
                r1 = 0x1ffffffff
                     ^
            """)
        // Tabs stay tabs under the caret.
        let tabbed = diagnostics("chain c\n\tr11 = 1\n")
        #expect(tabbed.first?.description == """
            bad.hvm:2:2: error: register r11 does not exist; registers are r0–r10 (w0–w10)
            \tr11 = 1
            \t^
            """)
    }

    @Test func everyErrorOfAFileAtOnce() {
        let source = """
            r0 = 1
            chain c
                r1 = r2 +
                r1 += w2
                if r1 ~ 3 goto +1
                goto nowhere
                r1 = 0xffffffff
                call
                *(s8 *)(r10 - 8) = 1
                r1 = (s32)r2
                w1 = (s32)w2
                r1 = *(u64 *)(r10 + 0x8000)
                .foo 1
                goto 3
                r1 = be16 r2
            dup: exit
            dup: exit
            chain c
                exit
            """
        let found = diagnostics(source)
        let positions = found.map { "\($0.line):\($0.column)" }
        #expect(positions == [
            "1:1", "3:13", "4:11", "5:11", "6:10", "7:10", "8:9", "9:7", "11:11", "12:25", "13:5", "14:10", "15:15",
            "17:1", "18:7",
        ], "\(found.map(\.description).joined(separator: "\n"))")
        let error = AssemblerError(diagnostics: found)
        #expect(error.description.hasSuffix("\(found.count) errors generated."))
        #expect(found.first?.message == "instruction outside a chain; start one with 'chain NAME'")
        #expect(found[4].message == "undefined label 'nowhere' in chain 'c'; labels: dup")
        #expect(found.last?.message == "duplicate chain 'c'")
        #expect(found.contains { $0.message.contains("would become -0x1") })
    }

    @Test func moreErrors() {
        #expect(diagnostics("chain c\n    r1 = -r2\n").first?.message.contains("neg works in place") == true)
        #expect(diagnostics("chain c\n    w1 = 1 ll\n").first?.message.contains("'ll' loads a 64-bit value") == true)
        #expect(diagnostics("chain c\n    r1 = @\n").first?.column == 11)
        #expect(diagnostics("chain c\n    .insn 1, 2\n").first?.message.contains("5 fields") == false)
        #expect(diagnostics("chain c\n    .insn 0x100, 0, 0, 0, 0\n").first?.message.contains("opcode") == true)
        #expect(diagnostics("chain c\n    r1 = 99999999999999999999999\n").first?.message.contains("invalid number") == true)
        #expect(diagnostics("chain c\n    r1 = 1 $\n").first?.message.contains("unexpected character") == true)
        #expect(diagnostics("chain c\n    exit now\n").first?.message.contains("after the instruction") == true)
        #expect(diagnostics("chain c\n    r1: exit\n").first?.message.contains("register name") == true)
        #expect(diagnostics("chain c\n    if r1 > r2\n").first?.message.contains("expected 'goto'") == true)
        #expect(diagnostics("chain\n").first?.message.contains("chain name") == true)
    }

    @Test func crlfAndEmptyInput() throws {
        #expect(try ChainAssembler.assemble("").isEmpty)
        let chains = try ChainAssembler.assemble("chain c\r\n  exit\r\n")
        #expect(chains.first?.instructions == [.exit])
    }
}
