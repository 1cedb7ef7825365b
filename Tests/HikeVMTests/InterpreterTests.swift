// One focused test per rule of docs/vm.md.

import BPFInstructions
import Testing
@testable import HikeVM
import HikeVMTestSupport

@Suite("Reference interpreter")
struct InterpreterTests {
    typealias T = TestSupport

    // MARK: Machine

    @Test func rootFrameStartsWithTheChainIDInR1AndTheStackTopInR10() throws {
        #expect(try T.r0("r0 = r1") == UInt64(ABI.chainFlag | 1))
        #expect(try T.r0("r0 = r10") == ABI.stackTop)
        #expect(try T.r0("r0 = r2\nr0 |= r9") == 0)
    }

    @Test func rootExitGivesTheDefaultVerdict() throws {
        let result = try T.run("chain c\n r0 = 7\n exit\n", defaultVerdict: ABI.xdpPass)
        #expect(result.verdict == ABI.xdpPass)
        #expect(result.fault == .none)
        #expect(result.r0 == 7)
        #expect(result.pc == 1)
        #expect(result.executed == 2)
        #expect(result.depth == 0)
    }

    // MARK: ALU

    @Test func divisionByZeroGivesZero() throws {
        #expect(try T.r0("r0 = 7\nr1 = 0\nr0 /= r1") == 0)
        #expect(try T.r0("r0 = 7\nr0 /= 0") == 0)
        #expect(try T.r0("r0 = -1\nw0 /= 0") == 0)
        #expect(try T.r0("r0 = 7\nr1 = 0\nr0 s/= r1") == 0)
        #expect(try T.r0("r0 = 7\nw0 s/= 0") == 0)
    }

    @Test func moduloByZeroLeavesDst() throws {
        #expect(try T.r0("r0 = -7\nr1 = 0\nr0 %= r1") == UInt64(bitPattern: -7))
        #expect(try T.r0("r0 = -7\nr0 s%= 0") == UInt64(bitPattern: -7))
        // ALU32: the low 32 bits, zero-extended.
        #expect(try T.r0("r0 = -7\nw0 %= 0") == 0xffff_fff9)
        #expect(try T.r0("r0 = -7\nw0 s%= 0") == 0xffff_fff9)
    }

    @Test func signedDivisionOverflow() throws {
        #expect(try T.r0("r0 = -0x8000000000000000 ll\nr0 s/= -1") == UInt64(bitPattern: Int64.min))
        #expect(try T.r0("r0 = -0x8000000000000000 ll\nr1 = -1\nr0 s%= r1") == 0)
        #expect(try T.r0("w0 = 0x80000000\nw0 s/= -1") == 0x8000_0000)
        #expect(try T.r0("w0 = 0x80000000\nw0 s%= -1") == 0)
        // Ordinary signed division truncates toward zero; the remainder follows the dividend.
        #expect(try T.r0("r0 = -7\nr0 s/= 2") == UInt64(bitPattern: -3))
        #expect(try T.r0("r0 = -7\nr0 s%= 2") == UInt64(bitPattern: -1))
        #expect(try T.r0("w0 = -7\nw0 s%= 2") == 0xffff_ffff)
        // Unsigned division of a negative number.
        #expect(try T.r0("r0 = -8\nr0 /= 2") == UInt64.max / 2 - 3)
    }

    @Test func shiftsAreMasked() throws {
        #expect(try T.r0("r0 = 1\nr0 <<= 65") == 2)
        #expect(try T.r0("r0 = 1\nr1 = 64\nr0 <<= r1") == 1)
        #expect(try T.r0("w0 = 1\nw0 <<= 33") == 2)
        #expect(try T.r0("r0 = -1\nw0 >>= 36") == 0x0fff_ffff)
        #expect(try T.r0("r0 = -0x10\nr0 s>>= 68") == UInt64(bitPattern: -1))
        #expect(try T.r0("w0 = 0x80000000\nw0 s>>= 35") == 0xf000_0000)
    }

    @Test func alu32ZeroExtends() throws {
        #expect(try T.r0("r0 = -1\nw0 += 1") == 0)
        #expect(try T.r0("r0 = -1\nw0 = w0") == 0xffff_ffff)
        #expect(try T.r0("r0 = -1\nw0 = -w0") == 1)
        #expect(try T.r0("r0 = 0x100000000 ll\nw0 |= 0") == 0)
        #expect(try T.r0("w0 = -1") == 0xffff_ffff)
        // ALU64 immediates are sign-extended.
        #expect(try T.r0("r0 = 0\nr0 += -1") == UInt64.max)
        #expect(try T.r0("r0 = 0\nr0 = -r0\nr0 -= 1") == UInt64.max)
    }

    @Test func movsx() throws {
        #expect(try T.r0("r1 = 0x80\nr0 = (s8)r1") == UInt64(bitPattern: -128))
        #expect(try T.r0("r1 = 0x17fff\nr0 = (s16)r1") == 0x7fff)
        #expect(try T.r0("r1 = 0x80000000 ll\nr0 = (s32)r1") == 0xffff_ffff_8000_0000)
        #expect(try T.r0("w1 = 0xff\nw0 = (s8)w1") == 0xffff_ffff)
        #expect(try T.r0("w1 = 0x8000\nw0 = (s16)w1") == 0xffff_8000)
    }

    @Test func endAndBswap() throws {
        let value = "r0 = 0x1122334455667788 ll\n"
        #expect(try T.r0(value + "r0 = le16 r0") == 0x7788)
        #expect(try T.r0(value + "r0 = le32 r0") == 0x5566_7788)
        #expect(try T.r0(value + "r0 = le64 r0") == 0x1122_3344_5566_7788)
        #expect(try T.r0(value + "r0 = be16 r0") == 0x8877)
        #expect(try T.r0(value + "r0 = be32 r0") == 0x8877_6655)
        #expect(try T.r0(value + "r0 = be64 r0") == 0x8877_6655_4433_2211)
        #expect(try T.r0(value + "r0 = bswap16 r0") == 0x8877)
        #expect(try T.r0(value + "r0 = bswap32 r0") == 0x8877_6655)
        #expect(try T.r0(value + "r0 = bswap64 r0") == 0x8877_6655_4433_2211)
        // Other widths and ALU64 with the X bit are unknown opcodes.
        let bad = T.run([.ldImm64(dst: .r0, imm: 1), BPFInstruction(opcode: 0xd4, imm: 8), .exit])
        #expect(bad.fault == .unknownOpcode)
        #expect(bad.pc == 2)
        #expect(T.run([BPFInstruction(opcode: 0xdf, imm: 16), .exit]).fault == .unknownOpcode)
    }

    @Test func nonZeroOffsetsOutsideTheSignedFormsAreUnknownOpcodes() {
        for insn in [
            BPFInstruction(opcode: 0x07, dst: 1, offset: 1, imm: 1),  // add with off
            BPFInstruction(opcode: 0x37, dst: 1, offset: 2, imm: 1),  // div off 2
            BPFInstruction(opcode: 0xb7, dst: 1, offset: 8, imm: 1),  // mov K with off
            BPFInstruction(opcode: 0xbc, dst: 1, src: 2, offset: 32),  // movsx32 from 32
            BPFInstruction(opcode: 0xbf, dst: 1, src: 2, offset: 4),
            BPFInstruction(opcode: 0x87, dst: 1, offset: 1),  // neg with off
        ] {
            #expect(T.run([insn, .exit]).fault == .unknownOpcode, "\(insn)")
        }
        // neg ignores the source (K or X, any src field).
        let neg = T.run([.mov64(.r0, imm: 5), BPFInstruction(opcode: 0x8f, dst: 0, src: 15), .exit])
        #expect(neg.fault == .none)
        #expect(neg.r0 == UInt64(bitPattern: -5))
    }

    @Test func registersAboveR10AndWritesToR10AreUnknownOpcodes() {
        #expect(T.run([BPFInstruction(opcode: 0xbf, dst: 11, src: 1), .exit]).fault == .unknownOpcode)
        #expect(T.run([BPFInstruction(opcode: 0xbf, dst: 1, src: 11), .exit]).fault == .unknownOpcode)
        #expect(T.run([.mov64(.r10, imm: 0), .exit]).fault == .unknownOpcode)
        #expect(T.run([.load(size: .dw, dst: .r10, src: .r10, offset: -8), .exit]).fault == .unknownOpcode)
        #expect(T.run([.ldImm64(dst: .r10, imm: 0), .exit]).fault == .unknownOpcode)
        // An unused field may hold anything: the src of a K operation.
        #expect(T.run([BPFInstruction(opcode: 0xb7, dst: 0, src: 15, imm: 3), .exit]).r0 == 3)
        // Reading r10 and storing through it are fine.
        #expect(T.run([.mov64(.r0, .r10), .store(size: .dw, dst: .r10, offset: -8, src: .r10), .exit]).fault == .none)
    }

    // MARK: Jumps

    @Test func jumpsAndComparisons() throws {
        #expect(try T.r0("r0 = 0\nr1 = -1\nif r1 > 5 goto +1\nexit\nr0 = 1") == 1)
        #expect(try T.r0("r0 = 0\nr1 = -1\nif r1 s> 5 goto +1\nexit\nr0 = 1") == 0)
        // JMP32 compares the low 32 bits.
        #expect(try T.r0("r0 = 0\nr1 = 0x100000000 ll\nif w1 == 0 goto +1\nexit\nr0 = 1") == 1)
        #expect(try T.r0("r0 = 0\nr1 = 6\nif r1 & 4 goto +1\nexit\nr0 = 1") == 1)
        #expect(try T.r0("r0 = 0\nr1 = 6\nr2 = 6\nif r1 != r2 goto +1\nr0 = 1") == 1)
        #expect(try T.r0("r0 = 0\nr1 = -1\nif w1 s< 0 goto +1\nexit\nr0 = 1") == 1)
        #expect(try T.r0("r0 = 1\ngotol +1\nr0 = 2") == 1)
    }

    @Test func badJumpFaultsAtTheTargetPC() {
        let forward = T.run([.ja(offset: 5), .exit])
        #expect(forward.fault == .badJump)
        #expect(forward.pc == 6)
        // A jump before the start wraps around the 32-bit pc.
        let backward = T.run([.ja(offset: -3), .exit])
        #expect(backward.fault == .badJump)
        #expect(backward.pc == UInt32.max - 1)
        // Falling off the end.
        let off = T.run([.mov64(.r0, imm: 1)])
        #expect(off.fault == .badJump)
        #expect(off.pc == 1)
        #expect(off.executed == 1)
        // An empty chain.
        #expect(T.run([]).fault == .badJump)
    }

    @Test func jumpIntoTheSecondSlotOfLdImm64RunsItsBytes() {
        // The second slot of LD_IMM64 has opcode 0: an unknown opcode.
        let result = T.run([.ja(offset: 1), .ldImm64(dst: .r0, imm: 5), .exit])
        #expect(result.fault == .unknownOpcode)
        #expect(result.pc == 2)
    }

    @Test func ldImm64InTheLastSlotAndOtherLdFormsAreUnknownOpcodes() {
        let last = T.run([.mov64(.r0, imm: 1), BPFInstruction(opcode: 0x18, dst: 0, imm: 5)])
        #expect(last.fault == .unknownOpcode)
        #expect(last.pc == 1)
        #expect(T.run([.ldImm64(dst: .r1, pseudo: .mapFD, imm: 3), .exit]).fault == .unknownOpcode)
        #expect(T.run([.loadAbsolute(size: .b, imm: 0), .exit]).fault == .unknownOpcode)
        #expect(T.run([BPFInstruction(opcode: 0x18, dst: 0, offset: 1, imm: 5), .exit, .exit]).fault == .unknownOpcode)
        #expect(T.run([.atomic(.add, size: .dw, dst: .r10, offset: -8, src: .r1), .exit]).fault == .unknownOpcode)
    }

    // MARK: Memory

    @Test func stackBankBoundsAndStackFault() throws {
        #expect(try T.r0("*(u64 *)(r10 - 8) = -2\nr0 = *(u64 *)(r10 - 8)") == UInt64(bitPattern: -2))
        #expect(try T.r0("*(u8 *)(r10 - 256) = 9\nr0 = *(u8 *)(r10 - 256)") == 9)
        #expect(try T.r0("r1 = 0x4000000 ll\n*(u8 *)(r1 + 0) = 3\nr0 = *(u8 *)(r10 - 256)") == 3)
        for access in ["r0 = *(u8 *)(r10 + 0)", "r0 = *(u64 *)(r10 - 7)", "*(u16 *)(r10 - 1) = 1", "r0 = *(u8 *)(r10 + 0x7fff)"] {
            let result = try T.run("chain c\n r1 = 1\n \(access)\n exit\n")
            #expect(result.fault == .stack, "\(access)")
            #expect(result.pc == 1)
            #expect(result.verdict == ABI.xdpDrop)
        }
        // Below the stack: the address borrows into bank 3 at offset 0xffffff.
        #expect(try T.run("chain c\n r0 = *(u8 *)(r10 - 257)\n exit\n").fault == .invalidAccess)
    }

    @Test func stackIsLittleEndianAndUnaligned() throws {
        #expect(try T.r0("r1 = 0x0102030405060708 ll\n*(u64 *)(r10 - 9) = r1\nr0 = *(u32 *)(r10 - 9)") == 0x0506_0708)
        #expect(try T.r0("r1 = 0x0102030405060708 ll\n*(u64 *)(r10 - 8) = r1\nr0 = *(u16 *)(r10 - 2)") == 0x0102)
    }

    @Test func signExtendingLoads() throws {
        #expect(try T.r0("*(u8 *)(r10 - 1) = 0x80\nr0 = *(s8 *)(r10 - 1)") == UInt64(bitPattern: -128))
        #expect(try T.r0("*(u16 *)(r10 - 2) = 0x8000\nr0 = *(s16 *)(r10 - 2)") == UInt64(bitPattern: -32768))
        #expect(try T.r0("*(u32 *)(r10 - 4) = -1\nr0 = *(s32 *)(r10 - 4)") == UInt64.max)
        #expect(try T.r0("*(u32 *)(r10 - 4) = -1\nr0 = *(u32 *)(r10 - 4)") == 0xffff_ffff)
    }

    @Test func packetBankBounds() throws {
        let packet: [UInt8] = Array(1...20)
        let base = "r1 = 0x1000000\n"
        #expect(try T.run("chain c\n\(base) r0 = *(u32 *)(r1 + 16)\n exit", packet: packet).r0 == 0x1413_1211)
        let past = try T.run("chain c\n\(base) r0 = *(u32 *)(r1 + 17)\n exit", packet: packet)
        #expect(past.fault == .invalidAccess)
        #expect(past.pc == 1)
        // Stores change the packet.
        let stored = try T.run("chain c\n\(base) *(u16 *)(r1 + 2) = 0xabcd\n exit", packet: packet)
        #expect(stored.packet[2...3] == [0xcd, 0xab])
        // Offsets above HVM_PACKET_MAX fault even inside a long packet.
        let long = [UInt8](repeating: 1, count: 0x5000)
        #expect(try T.run("chain c\n r1 = 0x1003fff\n r0 = *(u8 *)(r1 + 0)\n exit", packet: long).r0 == 1)
        #expect(try T.run("chain c\n r1 = 0x1004000\n r0 = *(u8 *)(r1 + 0)\n exit", packet: long).fault == .invalidAccess)
    }

    @Test func packetLengthBank() throws {
        let packet = [UInt8](repeating: 0, count: 300)
        #expect(try T.run("chain c\n r1 = 0x2000000\n r0 = *(u64 *)(r1 + 0)\n exit", packet: packet).r0 == 300)
        // Truncated to the access size, then sign-extended by a MEMSX load.
        #expect(try T.run("chain c\n r1 = 0x2000000\n r0 = *(u8 *)(r1 + 0)\n exit", packet: packet).r0 == 44)
        let signed = try T.run("chain c\n r1 = 0x2000000\n r0 = *(s8 *)(r1 + 0)\n exit", packet: Array(repeating: 0, count: 200))
        #expect(signed.r0 == UInt64(bitPattern: -56))
        #expect(try T.run("chain c\n r1 = 0x2000000\n r0 = *(u8 *)(r1 + 1)\n exit").fault == .invalidAccess)
        #expect(try T.run("chain c\n r1 = 0x2000000\n *(u8 *)(r1 + 0) = 1\n exit").fault == .invalidAccess)
    }

    @Test func sharedMemoryBank() throws {
        let result = try T.run("chain c\n r1 = 0x3000ff8\n *(u64 *)(r1 + 0) = 5\n r0 = *(u64 *)(r1 + 0)\n exit")
        #expect(result.r0 == 5)
        #expect(result.sharedMemory.count == 4096)
        #expect(result.sharedMemory[4088] == 5)
        #expect(try T.run("chain c\n r1 = 0x3000ff9\n r0 = *(u64 *)(r1 + 0)\n exit").fault == .invalidAccess)
        // Kept from the caller's shared memory (not zeroed).
        var memory = [UInt8](repeating: 0, count: 4096)
        memory[10] = 77
        #expect(try T.run("chain c\n r1 = 0x300000a\n r0 = *(u8 *)(r1 + 0)\n exit", sharedMemory: memory).r0 == 77)
    }

    @Test func badBanksAndUpperBits() throws {
        for address in ["0x0000010", "0x5000000", "0xff000000 ll", "0x104000000 ll"] {
            let result = try T.run("chain c\n r1 = \(address)\n r0 = *(u8 *)(r1 + 0)\n exit")
            #expect(result.fault == .invalidAccess, "\(address)")
        }
        // The address is base + off, wrapping: off can move between banks.
        #expect(try T.r0("r1 = 0x3000000\n*(u8 *)(r1 + 0) = 4\nr2 = 0x3000100\nr0 = *(u8 *)(r2 - 0x100)") == 4)
    }

    // MARK: Helpers

    @Test func packetHelpersUseNetworkByteOrder() throws {
        let packet: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99]
        #expect(try T.run("chain c\n r1 = 1\n call pkt_read_u16\n exit", packet: packet).r0 == 0x2233)
        #expect(try T.run("chain c\n r1 = 1\n call pkt_read_u64\n exit", packet: packet).r0 == 0x2233_4455_6677_8899)
        #expect(try T.run("chain c\n r1 = 2\n call pkt_read_u64\n exit", packet: packet).fault == .invalidAccess)
        let written = try T.run("chain c\n r1 = 0\n r2 = 0xaabbccdd ll\n call pkt_write_u32\n exit", packet: packet)
        #expect(written.packet.prefix(5) == [0xaa, 0xbb, 0xcc, 0xdd, 0x55])
        #expect(written.r0 == 0)
        #expect(try T.run("chain c\n call pkt_len\n exit", packet: packet).r0 == 9)
        // Calls leave r1–r5 alone.
        #expect(try T.run("chain c\n r1 = 3\n r2 = 4\n call pkt_read_u8\n r0 = r1\n r0 += r2\n exit", packet: packet).r0 == 7)
    }

    @Test func nondeterministicHelpersAreInjected() throws {
        let linked = try T.link("chain c\n call ktime_ns\n r6 = r0\n call random\n r6 += r0\n call cpu\n r0 += r6\n exit\n")
        var interpreter = Interpreter(chains: linked.chains)
        interpreter.ktime = { 1000 }
        interpreter.random = { 20 }
        interpreter.cpu = { 3 }
        #expect(interpreter.run(rootChain: ABI.chainFlag | 1, packet: []).r0 == 1023)
    }

    @Test func invalidCallImmediatesAreUnknownOpcodes() {
        for imm: Int32 in [0, 1, 5, 0x0f, 0x16, 0x1f, 0x2c, -1] {
            #expect(T.run([.call(helper: imm), .exit]).fault == .unknownOpcode, "call \(imm)")
        }
        #expect(T.run([.call(relative: 1), .exit, .exit]).fault == .unknownOpcode)
        #expect(T.run([.call(kfunc: 5), .exit]).fault == .unknownOpcode)
        #expect(T.run([.callx(.r1), .exit]).fault == .unknownOpcode)
    }

    // MARK: Program calls

    @Test func programCallResumesWithR0() throws {
        let result = try T.run("""
            chain c
                r2 = 40
                r3 = 2
                r6 = 9
                call test_add
                r0 += r6
                exit
            """)
        #expect(result.fault == .none)
        #expect(result.r0 == 51)
        #expect(result.programCalls == 1)
    }

    @Test func everyElementCallImmediateCalls() throws {
        for imm in ABI.fnCallFirst...ABI.fnCallLast {
            let result = try T.run("chain c\n r2 = 1\n r3 = 2\n r1 = @test_add\n call \(imm)\n exit\n")
            #expect(result.r0 == 3, "call \(imm)")
        }
    }

    @Test func programVerdictEndsTheChain() throws {
        let result = try T.run("chain c\n r0 = 5\n call hike_pass\n r0 = 1\n exit\n")
        #expect(result.verdict == ABI.xdpPass)
        #expect(result.fault == .none)
        #expect(result.pc == 2)
        #expect(result.r0 == 5)
    }

    @Test func badVerdictFaultsAtTheCall() throws {
        for value in ["5", "103", "0x100000002 ll"] {
            let result = try T.run("chain c\n r2 = \(value)\n call test_verdict\n exit\n", defaultVerdict: ABI.xdpAborted)
            #expect(result.fault == .badVerdict, "\(value)")
            #expect(result.verdict == ABI.xdpAborted)
            #expect(result.pc == (value.hasSuffix("ll") ? 3 : 2))
        }
        let verdict = try T.run("chain c\n r2 = 3\n call test_verdict\n exit\n")
        #expect(verdict.verdict == ABI.xdpTX)
        let resumed = try T.run("chain c\n r2 = 104\n call test_verdict\n exit\n")
        #expect(resumed.fault == .none)
        #expect(resumed.r0 == 104)
    }

    @Test func emptyProgramSlotAndNonIDsAreUnknownCallees() throws {
        let empty = try T.run("chain c\n r1 = 200\n call elem\n exit\n")
        #expect(empty.fault == .unknownCallee)
        #expect(empty.pc == 1)
        #expect(empty.programCalls == 1)
        for id in ["256", "0x3fffffff", "0x140000001 ll", "0x40000063"] {
            #expect(try T.run("chain c\n r1 = \(id)\n call elem\n exit\n").fault == .unknownCallee, "\(id)")
        }
        // An unknown root chain.
        let interpreter = Interpreter(chains: [:])
        #expect(interpreter.run(rootChain: ABI.chainFlag | 7, packet: []).fault == .unknownCallee)
    }

    @Test func programsSeeTheirIDAndArguments() throws {
        let seen = ClosureProgram { id, args, _, _ in
            .continueChain(UInt64(id) << 40 | args.r1 << 32 | args.r2 << 24 | args.r3 << 16 | args.r4 << 8 | args.r5)
        }
        let linked = try T.link("chain c\n r2 = 2\n r3 = 3\n r4 = 4\n r5 = 5\n r1 = 9\n call elem\n exit\n")
        let result = Interpreter(chains: linked.chains, programs: [9: seen]).run(rootChain: ABI.chainFlag | 1, packet: [])
        #expect(result.r0 == 9 << 40 | 9 << 32 | 2 << 24 | 3 << 16 | 4 << 8 | 5)
    }

    @Test func programsChangePacketAndSharedMemory() throws {
        let result = try T.run("""
            chain c
                r2 = 3
                r3 = 0xff
                call test_xor_pkt
                r6 = r0
                r2 = 100
                call test_xor_pkt
                r7 = r0
                r2 = 0x10f
                call test_shmem
                call test_shmem
                r0 += r6
                exit
            """, packet: [0, 1, 2, 3])
        #expect(result.packet == [0, 1, 2, 0xfc])
        #expect(result.r0 == 2 + 0xfc)
        #expect(result.sharedMemory[0x108] == 2)
    }

    @Test func callLimitAt32() throws {
        // A loop of n program calls: 32 are fine, the 33rd faults at the call.
        func loop(_ n: Int) throws -> InterpreterResult {
            try T.run("""
                chain c
                    r9 = \(n)
                loop:
                    r2 = r0
                    r3 = 1
                    call test_add
                    r9 -= 1
                    if r9 != 0 goto loop
                    exit
                """)
        }
        let ok = try loop(32)
        #expect(ok.fault == .none)
        #expect(ok.r0 == 32)
        #expect(ok.programCalls == 32)
        let over = try loop(33)
        #expect(over.fault == .callLimit)
        #expect(over.pc == 4)  // r9 = n, then the loop: r2 = r0, r3 = 1, r1 = ID, call
        #expect(over.programCalls == 32)
        #expect(over.r0 == 32)
    }

    // MARK: Budgets

    /// A chain that runs exactly `n` instructions (n ≥ 4, n even) and exits.
    func countedChain(_ n: Int) -> String {
        // r1 = k; loop: r1 -= 1; if r1 != 0 goto loop; exit: 1 + 2k + 1 instructions.
        "chain c\n r1 = \((n - 2) / 2)\nloop:\n r1 -= 1\n if r1 != 0 goto loop\n exit\n"
    }

    @Test func activationBudgetAtExactly4096() throws {
        let exact = try T.run(countedChain(4096))
        #expect(exact.fault == .none)
        #expect(exact.executed == 4096)
        let over = try T.run(countedChain(4098))
        #expect(over.fault == .budget)
        #expect(over.executed == 4096)
        #expect(over.pc == 2)  // the 4097th fetch: the loop's `if`
    }

    @Test func programReturnStartsANewActivation() throws {
        // 4000 instructions, a program call, 4000 more: fine, as each activation is < 4096.
        let result = try T.run("""
            chain c
                r6 = 1999
            a:  r6 -= 1
                if r6 != 0 goto a
                call test_add
                r6 = 2000
            b:  r6 -= 1
                if r6 != 0 goto b
                exit
            """)
        #expect(result.fault == .none)
        #expect(result.executed == 1 + 3998 + 2 + 1 + 4000 + 1)
        // Chain calls do not start an activation.
        let nested = try T.run("""
            chain c
                r6 = 1500
            a:  r6 -= 1
                if r6 != 0 goto a
                call d
                exit
            chain d
                r6 = 1500
            b:  r6 -= 1
                if r6 != 0 goto b
                exit
            """)
        #expect(nested.fault == .budget)
        #expect(nested.chainID == ABI.chainFlag | 2)
        #expect(nested.depth == 1)
    }

    @Test func packetBudgetAt65536() throws {
        // 16 activations of 4095 instructions, then the 17th runs 16 more: 65,536 in all, and
        // the next fetch faults although that activation has run only 16.
        let result = try T.run("""
            chain c
                r9 = 17
            outer:
                r8 = 2045
            inner:
                r8 -= 1
                if r8 != 0 goto inner
                r9 -= 1
                call test_add
                if r9 != 0 goto outer
                exit
            """)
        // pcs: 0 r9 = 17, 1 r8 = 2045, 2 r8 -= 1, 3 if, 4 r9 -= 1, 5 r1 = ID, 6 call, 7 if, 8 exit.
        // Activation 1: 1 + 1 + 4090 + 1 + 2 = 4095; activations 2–16 the same with the `if` at 7.
        // Activation 17: if, r8 = …, then 7 rounds of the inner loop: 16 instructions.
        #expect(result.fault == .budget)
        #expect(result.executed == 65536)
        #expect(result.programCalls == 16)
        #expect(result.pc == 2)
    }

    // MARK: Chain calls

    @Test func chainCallCopiesR1ToR5AndReturnsR0() throws {
        let result = try T.run("""
            chain main
                r2 = 2
                r3 = 3
                r4 = 4
                r5 = 5
                r6 = 6
                r0 = 100
                *(u64 *)(r10 - 8) = 77
                call sub
                r0 += r6
                r1 = *(u64 *)(r10 - 8)
                r0 += r1
                exit
            chain sub
                r0 = r1
                r0 += r2
                r0 += r3
                r0 += r4
                r0 += r5
                r0 += r6        # zero in a new frame
                r0 += r7
                r1 = *(u64 *)(r10 - 8)   # the new frame's stack is zeroed
                r0 += r1
                *(u64 *)(r10 - 8) = 1    # and its own
                r6 = 1000
                exit
            """)
        #expect(result.fault == .none)
        let subID = UInt64(ABI.chainFlag | 2)
        #expect(result.r0 == subID + 2 + 3 + 4 + 5 + 6 + 77)
    }

    @Test func depthAt16() throws {
        // Each frame calls the next until r2 reaches n: n frames in all.
        func nest(_ n: Int) throws -> InterpreterResult {
            try T.run("""
                chain rec
                    r2 += 1
                    if r2 >= \(n) goto done
                    call rec
                    r0 += 1
                    exit
                done:
                    r0 = 0
                    exit
                """)
        }
        let sixteen = try nest(16)
        #expect(sixteen.fault == .none)
        #expect(sixteen.r0 == 15)
        let seventeen = try nest(17)
        #expect(seventeen.fault == .depth)
        #expect(seventeen.depth == 15)
        #expect(seventeen.pc == 3)  // the call: r2 += 1, if, r1 = ID, call
    }

    @Test func unknownChainFaults() throws {
        let result = try T.run("chain c\n r1 = 0x40000077\n call elem\n exit\n")
        #expect(result.fault == .unknownCallee)
        #expect(result.pc == 1)
    }

    @Test func faultPCAndChainAreTheActiveFrames() throws {
        let result = try T.run("""
            chain main
                call sub
                exit
            chain sub
                r0 = 42
                r1 = 0
                r0 = *(u8 *)(r1 + 0)
                exit
            """)
        #expect(result.fault == .invalidAccess)
        #expect(result.chainID == ABI.chainFlag | 2)
        #expect(result.pc == 2)
        #expect(result.r0 == 42)
        #expect(result.depth == 1)
        #expect(result.executed == 5)
    }

    @Test func faultsGiveTheDefaultVerdict() throws {
        let result = try T.run("chain c\n .insn 0xdb, 0, 0, 0, 0\n exit\n", defaultVerdict: ABI.xdpPass)
        #expect(result.fault == .unknownOpcode)
        #expect(result.verdict == ABI.xdpPass)
        #expect(result.pc == 0)
        #expect(result.executed == 1)
    }
}
