// The static chain checker: each problem it reports, with its pc, text and fix.

import BPFInstructions
import Testing
@testable import HikeVM
import HikeVMTestSupport

@Suite("Chain checker")
struct CheckerTests {
    static let known: Set<UInt32> = Set(ReferencePrograms.defaultIDs.values).union([ABI.chainFlag | 1, ABI.chainFlag | 2])
    let checker = ChainChecker(knownIDs: known)

    func issues(_ body: String) throws -> [ChainCheckIssue] {
        checker.issues(try TestSupport.instructions(body))
    }

    @Test func aValidChainPasses() throws {
        let code = try TestSupport.link("""
            chain c
                r2 = 1
                call test_add
                r1 = 0x40000002 ll
                call elem
                if r0 == 0 goto out
                r1 = 0x1000000
                r0 = *(u8 *)(r1 + 0)
            out:
                exit
            chain d
                exit
            """)
        for chain in code.chains.values {
            #expect(throws: Never.self) { try checker.check(chain) }
        }
    }

    @Test func unknownOpcodesSayWhy() throws {
        let found = try issues("r0 = 1\n.insn 0xdb, 10, 1, -8, 0x1\nexit")
        #expect(found.count == 1)
        #expect(found.first?.pc == 1)
        #expect(found.first?.instruction == "r1 = atomic_fetch_add((u64 *)(r10 - 0x8), r1)")
        #expect(found.first?.message.contains("atomic operations are not run by the HIKe VM") == true)
        // The assembler refuses r12; a raw slot can hold it.
        let raw = try issues(".insn 0xbf, 1, 12, 0, 0\nexit")
        #expect(raw.first?.instruction == ".insn 0xbf, 1, 12, 0, 0x0")
        #expect(raw.first?.message.contains("r12 does not exist") == true)
    }

    @Test func writesToR10() throws {
        let found = try issues("r10 = 0\nexit")
        #expect(found.first?.description == "pc 0: 'r10 = 0x0': the HIKe VM does not run this: it writes r10, the read-only frame pointer; use one of r0–r9")
    }

    @Test func jumpTargets() throws {
        let outside = try issues("goto +5\nexit")
        #expect(outside.first?.message.contains("outside the chain") == true)
        #expect(outside.first?.pc == 0)
        let before = try issues("r0 = 0\nif r0 == 0 goto -3\nexit")
        #expect(before.first?.message.contains("jumps to slot -1") == true)
        let middle = try issues("goto +1\nr1 = 0x123456789 ll\nexit")
        #expect(middle.first?.message.contains("second half of an LD_IMM64") == true)
        #expect(try issues("gotol +1\nr1 = 0x123456789 ll\nexit").first?.pc == 0)
        // The end of the chain is outside too.
        #expect(try issues("if r1 > 2 goto +1\nexit").first?.message.contains("slot 2, outside") == true)
    }

    @Test func ldImm64InTheLastSlot() throws {
        let found = checker.issues([.mov64(.r0, imm: 0), BPFInstruction(opcode: 0x18, dst: 1, imm: 5)])
        #expect(found.contains { $0.message.contains("last slot") })
    }

    @Test func callImmediates() throws {
        #expect(try issues("call 0x5\nexit").first?.message.contains("neither an element call") == true)
        #expect(try issues("call 0x2c\nexit").isEmpty == false)
        #expect(try issues("call 0x2b\nexit").isEmpty)
        #expect(checker.issues([.call(relative: 0), .exit]).first?.message.contains("bpf-to-bpf") == true)
    }

    @Test func programCallIDs() throws {
        let empty = try issues("r1 = 200\ncall elem\nexit")
        #expect(empty.first?.pc == 1)
        #expect(empty.first?.message.contains("program 200, which is not installed") == true)
        #expect(try issues("r1 = 0x40000009\ncall elem\nexit").first?.message.contains("chain 0x40000009") == true)
        #expect(try issues("r1 = 0x1000\ncall elem\nexit").first?.message.contains("neither a program") == true)
        #expect(try issues("r1 = 0x140000001 ll\ncall 0x10\nexit").first?.message.contains("neither a program") == true)
        #expect(try issues("w1 = 3\ncall elem\nexit").isEmpty)
        // Not a constant right before the call: left to the VM.
        #expect(try issues("r1 = 199\nr1 += 1\ncall elem\nexit").isEmpty)
    }

    @Test func theChainMustEnd() throws {
        #expect(try issues("r0 = 1").first?.message.contains("ends without 'exit'") == true)
        #expect(checker.issues([]).first?.message.contains("empty") == true)
        #expect(try issues("r0 = 1\ngoto -2").isEmpty)
    }

    @Test func tooLong() throws {
        let long = [BPFInstruction](repeating: .mov64(.r0, imm: 0), count: 512) + [.exit]
        let found = checker.issues(long)
        #expect(found.count == 1)
        #expect(found.first?.message.contains("513 instruction slots") == true)
        #expect(checker.issues(Array(long.suffix(512))).isEmpty)
    }

    @Test func allProblemsAtOnce() throws {
        let code = try TestSupport.instructions("r10 = 1\ncall 0x3\ngoto +9\nr0 = 1")
        do {
            try checker.check(code, chain: "bad")
            Issue.record("no error")
        } catch {
            #expect(error.issues.map(\.pc) == [0, 1, 2, 3])
            #expect(error.description.hasPrefix("chain bad: 4 problems\n  pc 0: 'r10 = 0x1'"))
        }
    }
}
