// Random chains for differential testing of the kernel VM against the reference interpreter.
//
// A seed (a plain UInt64, printed by failing tests) reproduces a whole set of chains. The chains are
// built from snippets that keep them meaningful, so that they run a while before they end instead
// of faulting at once: memory accesses first load a base address of a bank, program calls pass
// arguments the test programs make sense of, loops count down a register nothing else writes.
// Faults still happen at a low rate (out-of-bounds accesses, bad banks, budgets, depth, empty
// slots, call limits); with `allowCheckerInvalid` the generator also emits what the checker would
// refuse (unknown opcodes, bad registers, jumps out of the chain, …) to test the VM's run-time guards.

import BPFInstructions
import HikeVM

/// SplitMix64: a tiny, good, seedable generator (Steele, Lea, Flood 2014).
public struct SplitMix64: RandomNumberGenerator, Hashable, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// A set of chains that call each other, with everything needed to run and check them.
public struct GeneratedChains: Hashable, Sendable {
    public var seed: UInt64
    /// Chains by ID; `order[0]` is the root.
    public var chains: [UInt32: [BPFInstruction]]
    public var order: [UInt32]
    public var root: UInt32 { order.first ?? ABI.chainFlag }
    /// Program IDs by name (the programs the chains call).
    public var programs: [String: UInt32]
    /// The IDs the checker should accept: the programs and the chains.
    public var knownIDs: Set<UInt32>
    /// Names of the chains (`c0`, `c1`, …) and programs by ID, for the chain disassembler.
    public var names: [UInt32: String]
}

public struct ChainGenerator {
    public struct Options: Hashable, Sendable {
        /// Chains per set.
        public var chainCount: ClosedRange<Int> = 1...4
        /// Snippets per chain (a snippet is 1–10 instructions).
        public var snippetsPerChain: ClosedRange<Int> = 3...40
        /// Programs to call, by name. Known names (`ReferencePrograms.names`) get arguments they
        /// make sense of; others get random ones.
        public var programs: [String: UInt32] = ReferencePrograms.defaultIDs
        /// An empty program slot to call now and then (through a computed ID, so the checker
        /// accepts the chain and the VM faults UNKNOWN_CALLEE at run time); nil for none.
        public var emptyProgramID: UInt32? = 200
        /// Chain i gets ID HVM_CHAIN_FLAG | (firstChainIndex + i).
        public var firstChainIndex: UInt32 = 1
        /// Emit what the checker refuses (unknown opcodes, bad registers, bad jumps, …).
        public var allowCheckerInvalid = false
        /// Per-snippet chance (percent) of a checker-invalid snippet, when allowed.
        public var invalidPercent = 3
        /// Emit ktime/random/cpu helper calls (off: they make runs nondeterministic).
        public var nondeterministicHelpers = false

        public init() {}
    }

    public let seed: UInt64
    public var options: Options
    public private(set) var rng: SplitMix64

    public init(seed: UInt64, options: Options = Options()) {
        self.seed = seed
        self.options = options
        rng = SplitMix64(seed: seed)
    }

    // MARK: Random helpers

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func percent(_ chance: Int) -> Bool { int(0...99) < chance }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
    mutating func bits64() -> UInt64 { rng.next() }

    /// Values that find edge cases: zero, ±1, the extremes of 8–64-bit types, powers of two.
    mutating func interestingValue() -> UInt64 {
        switch int(0...9) {
        case 0: return pick([0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 63, 64, 104, 255])
        case 1: return pick([UInt64.max, UInt64(bitPattern: Int64.min), UInt64(Int64.max), 0xffff_ffff, 0x8000_0000,
                             0x7fff_ffff, 0xffff_ffff_8000_0000, 0x80, 0xff, 0x8000, 0xffff, 0x1_0000_0000])
        case 2: return UInt64(1) << UInt64(int(0...63))
        case 3: return UInt64(bitPattern: Int64(int(-300...300)))
        case 4, 5: return UInt64(int(0...1000))
        default: return bits64()
        }
    }

    mutating func interestingImm() -> Int32 {
        if percent(70) { return Int32(truncatingIfNeeded: Int64(bitPattern: interestingValue())) }
        return Int32(truncatingIfNeeded: bits64())
    }

    /// A register the random snippets may write: r0–r8 (r9 counts loops, r10 is read-only).
    mutating func scratch() -> BPFRegister { BPFRegister(rawValue: UInt8(int(0...8))) ?? .r0 }
    mutating func anyReadable() -> BPFRegister { BPFRegister(rawValue: UInt8(int(0...10))) ?? .r0 }

    // MARK: Sets of chains

    public mutating func chains() -> GeneratedChains {
        let count = int(options.chainCount)
        let ids = (0..<count).map { ABI.chainFlag | (options.firstChainIndex &+ UInt32($0)) }
        var names: [UInt32: String] = [:]
        for (index, id) in ids.enumerated() { names[id] = "c\(index)" }
        for (name, id) in options.programs { names[id] = name }
        var chains: [UInt32: [BPFInstruction]] = [:]
        for (index, id) in ids.enumerated() {
            chains[id] = chain(index: index, ids: ids)
        }
        return GeneratedChains(seed: seed, chains: chains, order: ids, programs: options.programs,
                               knownIDs: Set(ids).union(options.programs.values), names: names)
    }

    /// A random packet of 14–200 bytes.
    public mutating func packet() -> [UInt8] {
        (0..<int(14...200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// Shared memory: mostly zero, with a few random bytes.
    public mutating func sharedMemory() -> [UInt8] {
        var memory = [UInt8](repeating: 0, count: Int(ABI.shmemSize))
        for _ in 0..<int(0...64) {
            memory[int(0...(memory.count - 1))] = UInt8(truncatingIfNeeded: rng.next())
        }
        return memory
    }

    // MARK: One chain

    /// Where a jump goes, resolved once the chain is laid out.
    enum JumpRef {
        /// The first instruction of a snippet (`snippets.count` = the final exit).
        case snippet(Int)
        /// An instruction, by its index in the chain.
        case item(Int)
        /// A raw slot (checker-invalid targets).
        case slot(Int)
    }

    struct Item {
        var insn: BPFInstruction
        var jump: JumpRef?
    }

    /// Builds the instructions of one chain.
    struct Builder {
        var items: [Item] = []
        var snippetStarts: [Int] = []  // item index of each snippet's first instruction

        mutating func add(_ insn: BPFInstruction, jump: JumpRef? = nil) {
            items.append(Item(insn: insn, jump: jump))
        }

        var slotCount: Int { items.reduce(0) { $0 + $1.insn.slotCount } }
    }

    mutating func chain(index: Int, ids: [UInt32]) -> [BPFInstruction] {
        var builder = Builder()
        let snippets = int(options.snippetsPerChain)
        for snippet in 0..<snippets {
            builder.snippetStarts.append(builder.items.count)
            if options.allowCheckerInvalid, percent(options.invalidPercent) {
                invalidSnippet(&builder, snippet: snippet, snippets: snippets)
            } else {
                validSnippet(&builder, snippet: snippet, snippets: snippets, chainIndex: index, ids: ids)
            }
            // Stay well inside HVM_CHAIN_INSNS_MAX.
            if builder.slotCount > 400 { break }
        }
        let used = builder.snippetStarts.count
        builder.snippetStarts.append(builder.items.count)
        if percent(30) { builder.add(.mov64(.r0, imm: interestingImm())) }
        // Without exit the pc runs off the end (checker-invalid; BAD_JUMP at run time).
        if !(options.allowCheckerInvalid && percent(options.invalidPercent)) { builder.add(.exit) }
        return resolve(builder, snippetCount: used)
    }

    /// Turns jump references into offsets.
    func resolve(_ builder: Builder, snippetCount: Int) -> [BPFInstruction] {
        var slots: [Int] = []
        var slot = 0
        for item in builder.items {
            slots.append(slot)
            slot += item.insn.slotCount
        }
        slots.append(slot)
        var result: [BPFInstruction] = []
        for (index, item) in builder.items.enumerated() {
            var insn = item.insn
            if let jump = item.jump {
                let target: Int = switch jump {
                case .snippet(let snippet): slots[builder.snippetStarts[min(snippet, snippetCount)]]
                case .item(let item): slots[min(item, builder.items.count)]
                case .slot(let slot): slot
                }
                let distance = target - (slots[index] + 1)
                if insn.instructionClass == .jmp32, insn.jumpOp == .ja {
                    insn.imm = Int32(clamping: distance)
                } else {
                    insn.offset = Int16(clamping: distance)
                }
            }
            result.append(insn)
        }
        return result
    }

    // MARK: Snippets

    mutating func forwardTarget(snippet: Int, snippets: Int) -> JumpRef {
        .snippet(int((snippet + 1)...snippets))
    }

    mutating func validSnippet(_ b: inout Builder, snippet: Int, snippets: Int, chainIndex: Int, ids: [UInt32]) {
        switch int(0...99) {
        case 0..<28: alu(&b)
        case 28..<36: specialALU(&b)
        case 36..<48: conditionalJump(&b, snippet: snippet, snippets: snippets)
        case 48..<51: unconditionalJump(&b, snippet: snippet, snippets: snippets)
        case 51..<55: b.add(.ldImm64(dst: scratch(), imm: Int64(bitPattern: interestingValue())))
        case 55..<72: memory(&b)
        case 72..<80: programCall(&b)
        case 80..<87: chainCall(&b, chainIndex: chainIndex, ids: ids)
        case 87..<93: helperCall(&b)
        case 93..<97: countedLoop(&b)
        case 97: backwardJump(&b, snippet: snippet)
        case 98: if percent(25) { packetBudgetLoop(&b) } else { alu(&b) }
        default: b.add(.exit)
        }
    }

    static let aluOps: [BPFALUOp] = [.add, .sub, .mul, .div, .or, .and, .lsh, .rsh, .neg, .mod, .xor, .mov, .arsh]

    /// An ALU64 or ALU32 operation with an immediate or a register (div/mod by zero included).
    mutating func alu(_ b: inout Builder) {
        let op = pick(Self.aluOps)
        let wide = percent(55)
        let dst = scratch()
        var insn: BPFInstruction
        if percent(50) {
            // Small immediates make division by zero and full-width shifts common.
            let imm = percent(30) ? Int32(int(-2...70)) : interestingImm()
            insn = wide ? .alu64(op, dst: dst, imm: imm) : .alu32(op, dst: dst, imm: imm)
        } else {
            let src = anyReadable()
            insn = wide ? .alu64(op, dst: dst, src: src) : .alu32(op, dst: dst, src: src)
            if op == .neg { insn = wide ? .neg64(dst) : .neg32(dst) }
        }
        if (op == .div || op == .mod), percent(40) { insn.offset = 1 }
        // Sometimes set the operand register first, to hit zero and INT_MIN / -1.
        if insn.source == .x, op != .neg, percent(30), let src = insn.srcRegister, src != .r10, src != .r9 {
            b.add(.mov64(src, imm: pick([0, -1, 1, Int32.min, 2])))
        }
        b.add(insn)
    }

    /// movsx, byte swaps, signed division corner cases.
    mutating func specialALU(_ b: inout Builder) {
        let dst = scratch()
        switch int(0...3) {
        case 0:
            if percent(50) {
                b.add(.movsx64(dst, anyReadable(), bits: pick([8, 16, 32])))
            } else {
                b.add(.movsx32(dst, anyReadable(), bits: pick([8, 16])))
            }
        case 1:
            b.add(.byteSwap(pick([.toLE, .toBE, .bswap]), dst, bits: pick([16, 32, 64])))
        case 2:
            // INT_MIN / -1 and INT_MIN % -1, 64 and 32 bits.
            let wide = percent(50)
            let src: BPFRegister = dst == .r8 ? .r7 : .r8
            if wide { b.add(.ldImm64(dst: dst, imm: Int64.min)) } else { b.add(.mov32(dst, imm: Int32.min)) }
            b.add(.mov64(src, imm: -1))
            let signedOps: [BPFInstruction] = wide
                ? [.sdiv64(dst: dst, src: src), .smod64(dst: dst, src: src), .sdiv64(dst: dst, imm: -1), .smod64(dst: dst, imm: -1)]
                : [.sdiv32(dst: dst, src: src), .smod32(dst: dst, src: src), .sdiv32(dst: dst, imm: -1), .smod32(dst: dst, imm: -1)]
            b.add(pick(signedOps))
        default:
            // Division and modulo by zero.
            let zero: BPFRegister = dst == .r8 ? .r7 : .r8
            b.add(.mov64(zero, imm: 0))
            let ops: [BPFInstruction] = [
                .alu64(.div, dst: dst, src: zero), .alu64(.mod, dst: dst, src: zero),
                .alu32(.div, dst: dst, src: zero), .alu32(.mod, dst: dst, src: zero),
                .sdiv64(dst: dst, src: zero), .smod64(dst: dst, src: zero),
                .sdiv32(dst: dst, src: zero), .smod32(dst: dst, src: zero),
                .alu64(.div, dst: dst, imm: 0), .alu32(.mod, dst: dst, imm: 0),
            ]
            b.add(pick(ops))
        }
    }

    static let conditions: [BPFJumpOp] = [.jeq, .jgt, .jge, .jset, .jne, .jsgt, .jsge, .jlt, .jle, .jslt, .jsle]

    mutating func conditionalJump(_ b: inout Builder, snippet: Int, snippets: Int) {
        let op = pick(Self.conditions)
        let dst = anyReadable()
        let target = forwardTarget(snippet: snippet, snippets: snippets)
        let wide = percent(50)
        if percent(50) {
            let imm = percent(50) ? Int32(int(-3...8)) : interestingImm()
            b.add(wide ? .jump(op, dst: dst, imm: imm, offset: 0) : .jump32(op, dst: dst, imm: imm, offset: 0), jump: target)
        } else {
            let src = anyReadable()
            b.add(wide ? .jump(op, dst: dst, src: src, offset: 0) : .jump32(op, dst: dst, src: src, offset: 0), jump: target)
        }
    }

    mutating func unconditionalJump(_ b: inout Builder, snippet: Int, snippets: Int) {
        let target = forwardTarget(snippet: snippet, snippets: snippets)
        b.add(percent(70) ? .ja(offset: 0) : .gotol(imm: 0), jump: target)
    }

    /// A jump back to an earlier snippet: usually a loop that only the budget ends.
    mutating func backwardJump(_ b: inout Builder, snippet: Int) {
        let target = JumpRef.snippet(int(0...snippet))
        if percent(50) {
            b.add(.ja(offset: 0), jump: target)
        } else {
            b.add(.jump(pick(Self.conditions), dst: scratch(), imm: Int32(int(-2...2)), offset: 0), jump: target)
        }
    }

    /// `r9 = n; body; r9 -= 1; if r9 != 0 goto body` with a body that leaves r9 alone. A large n
    /// spends the activation budget; a program call in the body can reach the call limit.
    mutating func countedLoop(_ b: inout Builder) {
        let count: Int32 = percent(85) ? Int32(int(1...20)) : pick([40, 1000, 2000, 5000])
        b.add(.mov64(.r9, imm: count))
        let start = b.items.count
        for _ in 0..<int(1...4) {
            switch int(0...9) {
            case 0: programCall(&b)
            case 1: memory(&b)
            case 2: helperCall(&b)
            default: alu(&b)
            }
        }
        b.add(.alu64(.sub, dst: .r9, imm: 1))
        b.add(.jump(.jne, dst: .r9, imm: 0, offset: 0), jump: .item(start))
    }

    /// Nested loops with a program call in the outer one: many activations of ~4000 instructions
    /// each, which can spend the packet budget (65,536) before the call limit.
    mutating func packetBudgetLoop(_ b: inout Builder) {
        guard let add = options.programs["test_add"] ?? options.programs.values.sorted().first else { return alu(&b) }
        b.add(.mov64(.r9, imm: Int32(int(10...25))))
        let outer = b.items.count
        b.add(.mov64(.r8, imm: Int32(int(1500...2040))))
        let inner = b.items.count
        b.add(.alu64(.sub, dst: .r8, imm: 1))
        b.add(.jump(.jne, dst: .r8, imm: 0, offset: 0), jump: .item(inner))
        b.add(.mov64(.r1, imm: Int32(bitPattern: add)))
        b.add(.call(helper: ABI.fnCall))
        b.add(.alu64(.sub, dst: .r9, imm: 1))
        b.add(.jump(.jne, dst: .r9, imm: 0, offset: 0), jump: .item(outer))
    }

    // MARK: Memory

    static let sizes: [BPFSize] = [.b, .h, .w, .dw]

    /// A load or store through a base of a bank: stack, shared memory, packet, packet length,
    /// sometimes out of bounds or through a bad address.
    mutating func memory(_ b: inout Builder) {
        let size = pick(Self.sizes)
        let bytes = size.bytes
        var base = pick([BPFRegister.r6, .r7, .r8])
        var offset: Int16 = 0
        let outOfBounds = percent(4)
        var write = percent(45)
        switch int(0...99) {
        case 0..<40:
            // The stack, through r10 or a copy of it.
            let start = outOfBounds ? pick([-264, -257, 0, 1, 250]) : int(-256...(-bytes))
            if percent(70) {
                base = .r10
                offset = Int16(start)
            } else {
                let split = int(-256...0)
                b.add(.mov64(base, .r10))
                b.add(.alu64(.add, dst: base, imm: Int32(split)))
                offset = Int16(start - split)
            }
        case 40..<65:
            let start = outOfBounds ? pick([4096 - bytes + 1, 4096, 5000, -1]) : int(0...(4096 - bytes))
            loadAddress(&b, base, bank: ABI.bankSharedMemory, start: start, offset: &offset)
        case 65..<90:
            let start = outOfBounds ? int(180...300) : int(0...(14 - bytes))
            loadAddress(&b, base, bank: ABI.bankPacket, start: percent(90) ? start : int(0...200), offset: &offset)
        case 90..<95:
            // The packet length: reads at offset 0 (a write or another offset faults).
            loadAddress(&b, base, bank: ABI.bankPacketLength, start: outOfBounds ? 1 : 0, offset: &offset)
            write = outOfBounds ? write : percent(3)
        case 95..<98:
            // A bad bank, or an address with upper bits set.
            if percent(50) {
                let bank = pick([UInt32(0), 5, 6, 0x7f, 0xff])
                b.add(.ldImm64(dst: base, imm: Int64(ABI.address(bank: bank, offset: UInt32(int(0...64))))))
            } else {
                b.add(.ldImm64(dst: base, imm: Int64(bitPattern: (UInt64(int(1...0xffff)) << 32) | ABI.address(bank: ABI.bankStack, offset: 0))))
            }
            offset = Int16(int(0...16))
        default:
            // Whatever a register holds: almost surely a fault.
            base = anyReadable()
            offset = Int16(int(-16...16))
        }
        let value = anyReadable()
        if write {
            if percent(40) {
                b.add(.store(size: size, dst: base, offset: offset, imm: interestingImm()))
            } else {
                b.add(.store(size: size, dst: base, offset: offset, src: value))
            }
        } else {
            let dst = scratch()
            if size != .dw, percent(35) {
                b.add(.loadSigned(size: size, dst: dst, src: base, offset: offset))
            } else {
                b.add(.load(size: size, dst: dst, src: base, offset: offset))
            }
        }
    }

    /// `base = ADDR(bank, start - offset)` with the rest in the instruction's offset.
    mutating func loadAddress(_ b: inout Builder, _ base: BPFRegister, bank: UInt32, start: Int, offset: inout Int16) {
        let split = percent(50) ? 0 : int(-8...8)
        offset = Int16(split)
        let address = Int64(ABI.address(bank: bank, offset: 0)) + Int64(start - split)
        b.add(.mov64(base, imm: Int32(truncatingIfNeeded: address)))
    }

    // MARK: Calls

    /// Arguments in r2–r5 and `r1 = ID; call` (the ID right before the call, as the checker reads it).
    mutating func programCall(_ b: inout Builder) {
        let programs = options.programs.sorted { $0.value < $1.value }
        guard !programs.isEmpty else { return alu(&b) }
        // An empty slot, through a computed ID so the checker cannot see it.
        if let empty = options.emptyProgramID, percent(4) {
            b.add(.mov64(.r1, imm: Int32(truncatingIfNeeded: Int64(empty) - 1)))
            b.add(.alu64(.add, dst: .r1, imm: 1))
            b.add(.call(helper: ABI.fnCall))
            return
        }
        var candidates = programs.filter { $0.key != "hike_pass" && $0.key != "hike_drop" }
        if candidates.isEmpty || percent(5) { candidates = programs }
        let (name, id) = pick(candidates)
        switch name {
        case "test_add":
            b.add(.mov64(.r2, imm: interestingImm()))
            if percent(70) { b.add(.mov64(.r3, imm: interestingImm())) }
        case "test_xor_pkt":
            b.add(.mov64(.r2, imm: Int32(percent(90) ? int(0...40) : int(0...260))))
            b.add(.mov64(.r3, imm: interestingImm()))
        case "test_verdict":
            let value: Int32 = switch int(0...99) {
            case 0..<85: Int32(ABI.hikeXDPVM)
            case 85..<95: Int32(int(0...4))
            default: pick([5, 103, 105, -1, 0x7fff_ffff])
            }
            if percent(10) {
                // A 64-bit value whose low half is a verdict: still a bad verdict.
                b.add(.ldImm64(dst: .r2, imm: Int64(1) << 32 | Int64(int(0...4))))
            } else {
                b.add(.mov64(.r2, imm: value))
            }
        case "test_shmem":
            b.add(.mov64(.r2, imm: percent(80) ? Int32(int(0...64)) : interestingImm()))
        default:
            if percent(50) { b.add(.mov64(.r2, imm: interestingImm())) }
        }
        if percent(20) { b.add(.mov64(pick([.r4, .r5]), imm: interestingImm())) }
        b.add(.mov64(.r1, imm: Int32(bitPattern: id)))
        b.add(.call(helper: percent(80) ? ABI.fnCall : Int32(int(Int(ABI.fnCallFirst)...Int(ABI.fnCallLast)))))
        if percent(40) { b.add(.mov64(scratch(), .r0)) }
    }

    /// A call to a later chain (mostly), to itself or an earlier one (recursion up to the depth
    /// limit), or to an unknown chain or a non-ID through a computed value.
    mutating func chainCall(_ b: inout Builder, chainIndex: Int, ids: [UInt32]) {
        let later = ids.count > chainIndex + 1 ? Array(ids[(chainIndex + 1)...]) : []
        for register in [BPFRegister.r2, .r3, .r4, .r5] where percent(30) {
            b.add(.mov64(register, imm: interestingImm()))
        }
        switch int(0...99) {
        case 0..<8:
            // Recursion: with a guard on r2 it may end; without, it runs into DEPTH.
            b.add(.mov64(.r1, imm: Int32(bitPattern: ids[int(0...chainIndex)])))
        case 8..<12:
            let bogus = percent(50)
                ? Int64(ABI.chainFlag | UInt32(int(0x1000...0x2000)))  // an unknown chain
                : pick([Int64(ABI.progTableSize), 0x1234_5678, Int64(ABI.chainFlag) | 1 << 32])  // neither
            b.add(.ldImm64(dst: .r1, imm: bogus - 1))
            b.add(.alu64(.add, dst: .r1, imm: 1))
        default:
            guard !later.isEmpty else { return alu(&b) }
            b.add(.mov64(.r1, imm: Int32(bitPattern: pick(later))))
        }
        b.add(.call(helper: ABI.fnCall))
        if percent(40) { b.add(.mov64(scratch(), .r0)) }
    }

    mutating func helperCall(_ b: inout Builder) {
        var helpers: [VMHelper] = [.pktReadU8, .pktReadU16, .pktReadU32, .pktReadU64,
                                   .pktWriteU8, .pktWriteU16, .pktWriteU32, .pktWriteU64, .pktLen]
        if options.nondeterministicHelpers { helpers += [.ktimeNs, .random, .cpu] }
        let helper = pick(helpers)
        if helper.accessSize > 0 {
            let offset = percent(92) ? int(0...(14 - helper.accessSize)) : int(0...260)
            b.add(.mov64(.r1, imm: Int32(offset)))
            if helper.rawValue >= VMHelper.pktWriteU8.rawValue { b.add(.mov64(.r2, imm: interestingImm())) }
        }
        b.add(.call(helper: helper.rawValue))
    }

    // MARK: Checker-invalid snippets

    /// Opcodes the VM does not run (atomics, legacy loads, callx, may_goto, undefined ones).
    static let unknownOpcodes: [UInt8] = [
        0xdb, 0xc3, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x8d, 0xe5, 0xe4, 0xe7, 0xf7, 0xf5, 0xfd, 0x96, 0x9d,
        0x86, 0x0d, 0x00, 0xa1, 0xe1, 0x99, 0x9f, 0xdf, 0x9a, 0x8a, 0xe3, 0x1a, 0x0e,
    ]

    mutating func invalidSnippet(_ b: inout Builder, snippet: Int, snippets: Int) {
        switch int(0...10) {
        case 0:
            b.add(BPFInstruction(opcode: pick(Self.unknownOpcodes), dst: UInt8(int(0...10)), src: UInt8(int(0...10)),
                                 offset: Int16(int(-4...4)), imm: interestingImm()))
        case 1:
            // A register above r10.
            let insn: BPFInstruction = percent(50)
                ? BPFInstruction(opcode: 0xbf, dst: UInt8(int(11...15)), src: 1)
                : BPFInstruction(opcode: 0x0f, dst: 1, src: UInt8(int(11...15)))
            b.add(insn)
        case 2:
            b.add(percent(50) ? .mov64(.r10, imm: 0) : .load(size: .dw, dst: .r10, src: .r10, offset: -8))
        case 3:
            // A jump out of the chain, either way.
            b.add(.ja(offset: 0), jump: .slot(percent(50) ? -int(1...5) : 600))
        case 4:
            // A jump into the second slot of an LD_IMM64.
            let wide = b.items.count
            b.add(.ja(offset: 0), jump: .slot(-1))
            b.add(.ldImm64(dst: scratch(), imm: Int64(bitPattern: interestingValue())))
            // Fix the target: the slot after the LD_IMM64's first one.
            let slot = b.items[..<(wide + 1)].reduce(0) { $0 + $1.insn.slotCount } + 1
            b.items[wide].jump = .slot(slot)
        case 5:
            // A call of an unknown program (constant ID) or a non-element immediate.
            if percent(50) {
                b.add(.mov64(.r1, imm: Int32(int(100...199))))
                b.add(.call(helper: ABI.fnCall))
            } else {
                b.add(.call(helper: pick([0, 1, 5, 0x0f, 0x16, 0x1f, 0x2c, 0x30, -1])))
            }
        case 6:
            b.add(.call(relative: 1))
        case 7:
            // Signed or movsx forms that do not exist.
            let insn: BPFInstruction = pick([
                BPFInstruction(opcode: 0xbf, dst: 1, src: 2, offset: 7),
                BPFInstruction(opcode: 0xbc, dst: 1, src: 2, offset: 32),
                BPFInstruction(opcode: 0x3f, dst: 1, src: 2, offset: 2),
                BPFInstruction(opcode: 0x07, dst: 1, offset: 1, imm: 1),
                BPFInstruction(opcode: 0xd4, dst: 1, imm: 8),
                BPFInstruction(opcode: 0xd7, dst: 1, imm: 48),
                BPFInstruction(opcode: 0x18, dst: 1, src: 1, imm: 5, imm64High: 0),
            ])
            b.add(insn)
        case 8:
            // Random bytes.
            b.add(BPFInstruction(opcode: UInt8(truncatingIfNeeded: rng.next()), dst: UInt8(int(0...15)),
                                 src: UInt8(int(0...15)), offset: Int16(truncatingIfNeeded: int(-40...40)),
                                 imm: Int32(truncatingIfNeeded: bits64())))
        case 9:
            // A lone LD_IMM64 first slot (offset ≠ 0 keeps it one slot wide, which the VM refuses).
            b.add(BPFInstruction(opcode: 0x18, dst: 1, offset: 1, imm: 5))
        default:
            // Fall off the end: a chain whose last instruction is not exit.
            b.add(.alu64(.add, dst: scratch(), imm: 1))
        }
    }
}
