// The reference interpreter: the exact semantics of docs/vm.md, in plain Swift.
//
// It is the oracle of the differential tests against the kernel VM, so it favours being obviously
// right over being fast: every rule of the page is one visible branch below. It never traps,
// whatever the bytes: arithmetic wraps, every index is checked, every loop is bounded by the budget.

import BPFInstructions
import HikeVM

/// The five argument registers a program sees: r1 (its own ID) and r2–r5.
public struct ProgramArguments: Hashable, Sendable {
    public var r1: UInt64, r2: UInt64, r3: UInt64, r4: UInt64, r5: UInt64

    public init(r1: UInt64 = 0, r2: UInt64 = 0, r3: UInt64 = 0, r4: UInt64 = 0, r5: UInt64 = 0) {
        (self.r1, self.r2, self.r3, self.r4, self.r5) = (r1, r2, r3, r4, r5)
    }
}

/// How a program ends.
public enum ProgramResult: Hashable, Sendable {
    /// The program returned `HIKE_XDP_VM` with `HVM_RET` = the value: the chain resumes with r0 = it.
    case continueChain(UInt64)
    /// The program returned this value. 0…4 is an XDP verdict (final); anything else, including
    /// 104 (use `.continueChain` for HIKE_XDP_VM), is a bad verdict.
    case verdict(UInt32)
}

/// A model of an eBPF program in the program table.
public protocol ProgramModel: Sendable {
    /// Runs the program for one call. `packet` and `sharedMemory` (HVM_SHMEM_SIZE bytes) may change.
    func run(id: UInt32, arguments: ProgramArguments, packet: inout [UInt8], sharedMemory: inout [UInt8]) -> ProgramResult
}

/// A program model given as a closure.
public struct ClosureProgram: ProgramModel {
    public let body: @Sendable (UInt32, ProgramArguments, inout [UInt8], inout [UInt8]) -> ProgramResult

    public init(_ body: @escaping @Sendable (UInt32, ProgramArguments, inout [UInt8], inout [UInt8]) -> ProgramResult) {
        self.body = body
    }

    public func run(id: UInt32, arguments: ProgramArguments, packet: inout [UInt8], sharedMemory: inout [UInt8]) -> ProgramResult {
        body(id, arguments, &packet, &sharedMemory)
    }
}

/// How a packet's chain ended.
public struct InterpreterResult: Hashable, Sendable, CustomStringConvertible {
    /// The XDP action the packet gets.
    public var verdict: UInt32
    public var fault: Fault
    /// r0, pc and chain of the frame active at the end (for a fault, the pc of the instruction
    /// that faulted; for a program's final verdict, the pc of its call).
    public var r0: UInt64
    public var pc: UInt32
    public var chainID: UInt32
    /// Index of the active frame (0 = root).
    public var depth: UInt32
    public var packet: [UInt8]
    public var sharedMemory: [UInt8]
    /// Instructions fetched and run (including one that faulted while running; not one refused at
    /// fetch by the budget or a bad pc).
    public var executed: UInt32
    /// Program calls made (including a failed one: an empty slot; not one refused by the call limit).
    public var programCalls: UInt32

    public var description: String {
        let hex = "0x" + String(r0, radix: 16)
        let chain = "0x" + String(chainID, radix: 16)
        return "verdict \(verdict), fault \(fault.name), r0 \(hex), chain \(chain) pc \(pc) depth \(depth), "
            + "\(executed) instruction\(executed == 1 ? "" : "s"), \(programCalls) program call\(programCalls == 1 ? "" : "s")"
    }
}

public struct Interpreter {
    /// Chains by ID, as slots and pre-decoded.
    let chains: [UInt32: DecodedChain]
    public let programs: [UInt32: any ProgramModel]
    /// The loader's verdict for faults and for chains that end without one.
    public var defaultVerdict: UInt32
    /// Nondeterministic helpers, injectable so runs are reproducible.
    public var ktime: () -> UInt64 = { 0 }
    public var random: () -> UInt32 = { 0 }
    public var cpu: () -> UInt32 = { 0 }

    struct DecodedChain {
        var operations: [VMOperation]
    }

    public init(chains: [UInt32: [BPFInstruction]], programs: [UInt32: any ProgramModel] = [:],
                defaultVerdict: UInt32 = ABI.xdpDrop) {
        self.init(chainSlots: chains.mapValues { VMSlot.slots($0) }, programs: programs, defaultVerdict: defaultVerdict)
    }

    /// Chains given as raw little-endian bytes (a trailing partial slot is ignored).
    public init(chainBytes: [UInt32: [UInt8]], programs: [UInt32: any ProgramModel] = [:],
                defaultVerdict: UInt32 = ABI.xdpDrop) {
        self.init(chainSlots: chainBytes.mapValues { VMSlot.slots(bytes: $0) }, programs: programs,
                  defaultVerdict: defaultVerdict)
    }

    public init(chainSlots: [UInt32: [VMSlot]], programs: [UInt32: any ProgramModel] = [:],
                defaultVerdict: UInt32 = ABI.xdpDrop) {
        self.chains = chainSlots.mapValues { DecodedChain(operations: VMDecoder.decodeAll($0)) }
        self.programs = programs
        self.defaultVerdict = defaultVerdict
    }

    /// Runs one packet on `rootChain`. `sharedMemory` is padded with zeros or cut to HVM_SHMEM_SIZE.
    public func run(rootChain: UInt32, packet: [UInt8], sharedMemory: [UInt8] = []) -> InterpreterResult {
        var machine = Machine(interpreter: self, packet: packet, sharedMemory: sharedMemory)
        return machine.run(root: rootChain)
    }
}

/// The state of one packet's run.
private struct Machine {
    static let frameRegisters = 16
    static let stackSize = Int(ABI.stackSize)

    let interpreter: Interpreter
    var packet: [UInt8]
    var shmem: [UInt8]
    /// Registers of all frames, 16 per frame (r0–r10 used).
    var regs: [UInt64]
    /// Stacks of all frames, HVM_STACK_SIZE bytes each.
    var stack: [UInt8]
    var pcs: [UInt32]
    var chainIDs: [UInt32]
    var depth = 0
    var executed: UInt32 = 0
    var activation: UInt32 = 0
    var calls: UInt32 = 0

    init(interpreter: Interpreter, packet: [UInt8], sharedMemory: [UInt8]) {
        self.interpreter = interpreter
        self.packet = packet
        let size = Int(ABI.shmemSize)
        var shmem = Array(sharedMemory.prefix(size))
        if shmem.count < size { shmem += [UInt8](repeating: 0, count: size - shmem.count) }
        self.shmem = shmem
        let depthMax = Int(ABI.depthMax)
        regs = [UInt64](repeating: 0, count: depthMax * Self.frameRegisters)
        stack = [UInt8](repeating: 0, count: depthMax * Self.stackSize)
        pcs = [UInt32](repeating: 0, count: depthMax)
        chainIDs = [UInt32](repeating: 0, count: depthMax)
    }

    // MARK: Registers

    private func reg(_ number: UInt8) -> UInt64 {
        regs[depth * Self.frameRegisters + Int(number & 0x0f)]
    }

    private mutating func setReg(_ number: UInt8, _ value: UInt64) {
        regs[depth * Self.frameRegisters + Int(number & 0x0f)] = value
    }

    private func value(_ operand: VMOperand) -> UInt64 {
        switch operand {
        case .imm(let value): value
        case .reg(let number): reg(number)
        }
    }

    // MARK: Frames

    /// Pushes a zeroed frame running `chain` (the caller checked the depth).
    private mutating func push(chain: UInt32, arguments: [UInt64]) {
        depth += 1
        let base = depth * Self.frameRegisters
        for index in 0..<Self.frameRegisters { regs[base + index] = 0 }
        for (index, value) in arguments.enumerated() where index < 5 { regs[base + 1 + index] = value }
        regs[base + 10] = ABI.stackTop
        let stackBase = depth * Self.stackSize
        for index in 0..<Self.stackSize { stack[stackBase + index] = 0 }
        pcs[depth] = 0
        chainIDs[depth] = chain
    }

    // MARK: Ending

    private func finish(verdict: UInt32, fault: Fault) -> InterpreterResult {
        InterpreterResult(
            verdict: verdict, fault: fault, r0: reg(0), pc: pcs[depth], chainID: chainIDs[depth],
            depth: UInt32(depth), packet: packet, sharedMemory: shmem, executed: executed, programCalls: calls)
    }

    private func fault(_ fault: Fault) -> InterpreterResult {
        finish(verdict: interpreter.defaultVerdict, fault: fault)
    }

    // MARK: The loop

    mutating func run(root: UInt32) -> InterpreterResult {
        // The loader's root frame: r1 = the chain's ID, r10 = the stack top, the rest 0.
        depth = 0
        regs[1] = UInt64(root)
        regs[10] = ABI.stackTop
        chainIDs[0] = root
        guard var chain = interpreter.chains[root] else { return fault(.unknownCallee) }

        while true {
            // Fetch: the budgets first, then the pc (docs/vm.md, "Instruction fetch").
            if executed >= ABI.packetBudget || activation >= ABI.activationBudget { return fault(.budget) }
            let pc = pcs[depth]
            guard Int(pc) < chain.operations.count else { return fault(.badJump) }
            executed &+= 1
            activation &+= 1
            let next = pc &+ 1

            switch chain.operations[Int(pc)] {
            case .invalid:
                return fault(.unknownOpcode)

            case let .alu(op, wide, dst, operand):
                let result = wide ? Self.alu64(op, reg(dst), value(operand)) : Self.alu32(op, reg(dst), value(operand))
                setReg(dst, result)
                pcs[depth] = next

            case let .neg(wide, dst):
                let negated = 0 &- reg(dst)
                setReg(dst, wide ? negated : negated & 0xffff_ffff)
                pcs[depth] = next

            case let .movsx(wide, dst, src, bits):
                let source = reg(src)
                let extended: Int64 = switch bits {
                case 8: Int64(Int8(truncatingIfNeeded: source))
                case 16: Int64(Int16(truncatingIfNeeded: source))
                default: Int64(Int32(truncatingIfNeeded: source))
                }
                let result = UInt64(bitPattern: extended)
                setReg(dst, wide ? result : result & 0xffff_ffff)
                pcs[depth] = next

            case let .end(dst, bits, swap):
                let source = reg(dst)
                let result: UInt64 = switch bits {
                case 16: UInt64(swap ? UInt16(truncatingIfNeeded: source).byteSwapped : UInt16(truncatingIfNeeded: source))
                case 32: UInt64(swap ? UInt32(truncatingIfNeeded: source).byteSwapped : UInt32(truncatingIfNeeded: source))
                default: swap ? source.byteSwapped : source
                }
                setReg(dst, result)
                pcs[depth] = next

            case let .ldImm64(dst, value):
                setReg(dst, value)
                pcs[depth] = pc &+ 2

            case let .load(dst, base, offset, size, signed):
                switch read(address: reg(base) &+ UInt64(bitPattern: Int64(offset)), size: Int(size)) {
                case .fault(let error): return fault(error)
                case .ok(let raw):
                    var loaded = raw
                    if signed {
                        loaded = switch size {
                        case 1: UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: raw)))
                        case 2: UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: raw)))
                        default: UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: raw)))
                        }
                    }
                    setReg(dst, loaded)
                }
                pcs[depth] = next

            case let .store(base, offset, size, operand):
                let address = reg(base) &+ UInt64(bitPattern: Int64(offset))
                if let error = write(address: address, size: Int(size), value: value(operand)) { return fault(error) }
                pcs[depth] = next

            case let .jump(condition, wide, dst, operand, offset):
                let taken = wide
                    ? Self.compare64(condition, reg(dst), value(operand))
                    : Self.compare32(condition, UInt32(truncatingIfNeeded: reg(dst)), UInt32(truncatingIfNeeded: value(operand)))
                // pc arithmetic is 32-bit and wraps, like the kernel VM's u32 pc: a jump before
                // the start lands far past the end and faults BAD_JUMP at that pc.
                pcs[depth] = taken ? next &+ UInt32(bitPattern: offset) : next

            case let .ja(offset):
                pcs[depth] = next &+ UInt32(bitPattern: offset)

            case .exit:
                guard depth > 0 else { return finish(verdict: interpreter.defaultVerdict, fault: .none) }
                let result = reg(0)
                depth -= 1
                setReg(0, result)
                pcs[depth] = pcs[depth] &+ 1
                guard let caller = interpreter.chains[chainIDs[depth]] else { return fault(.unknownCallee) }
                chain = caller

            case .helper(let helper):
                switch runHelper(helper) {
                case .fault(let error): return fault(error)
                case .ok(let result): setReg(0, result)
                }
                pcs[depth] = next

            case .callElement:
                let id = reg(1)
                if id < UInt64(ABI.progTableSize) {
                    // A program: a tail call, counted even when the slot turns out empty.
                    guard calls < ABI.progCallsMax else { return fault(.callLimit) }
                    calls &+= 1
                    let programID = UInt32(id)
                    guard let program = interpreter.programs[programID] else { return fault(.unknownCallee) }
                    let arguments = ProgramArguments(r1: id, r2: reg(2), r3: reg(3), r4: reg(4), r5: reg(5))
                    switch program.run(id: programID, arguments: arguments, packet: &packet, sharedMemory: &shmem) {
                    case .continueChain(let value):
                        setReg(0, value)
                        pcs[depth] = next
                        // A program's return starts a new activation.
                        activation = 0
                    case .verdict(let verdict):
                        guard verdict <= ABI.verdictMax else { return fault(.badVerdict) }
                        return finish(verdict: verdict, fault: .none)
                    }
                } else if id >> 32 == 0, UInt32(id) & ABI.chainFlag != 0 {
                    let chainID = UInt32(id)
                    guard let callee = interpreter.chains[chainID] else { return fault(.unknownCallee) }
                    guard depth + 1 < Int(ABI.depthMax) else { return fault(.depth) }
                    push(chain: chainID, arguments: [reg(1), reg(2), reg(3), reg(4), reg(5)])
                    chain = callee
                } else {
                    return fault(.unknownCallee)
                }
            }
        }
    }

    // MARK: ALU

    static func alu64(_ op: VMALUOp, _ a: UInt64, _ b: UInt64) -> UInt64 {
        switch op {
        case .add: return a &+ b
        case .sub: return a &- b
        case .mul: return a &* b
        case .div: return b == 0 ? 0 : a / b
        case .mod: return b == 0 ? a : a % b
        case .sdiv:
            let (x, y) = (Int64(bitPattern: a), Int64(bitPattern: b))
            if y == 0 { return 0 }
            if y == -1 { return 0 &- a }  // INT_MIN / -1 = INT_MIN (wrapping negation)
            return UInt64(bitPattern: x / y)
        case .smod:
            let (x, y) = (Int64(bitPattern: a), Int64(bitPattern: b))
            if y == 0 { return a }
            if y == -1 { return 0 }  // INT_MIN % -1 = 0
            return UInt64(bitPattern: x % y)
        case .or: return a | b
        case .and: return a & b
        case .xor: return a ^ b
        case .lsh: return a &<< (b & 63)
        case .rsh: return a &>> (b & 63)
        case .arsh: return UInt64(bitPattern: Int64(bitPattern: a) &>> Int64(b & 63))
        case .mov: return b
        }
    }

    /// 32-bit operations on the low halves; the result is zero-extended.
    static func alu32(_ op: VMALUOp, _ a64: UInt64, _ b64: UInt64) -> UInt64 {
        let a = UInt32(truncatingIfNeeded: a64)
        let b = UInt32(truncatingIfNeeded: b64)
        let result: UInt32
        switch op {
        case .add: result = a &+ b
        case .sub: result = a &- b
        case .mul: result = a &* b
        case .div: result = b == 0 ? 0 : a / b
        case .mod: result = b == 0 ? a : a % b
        case .sdiv:
            let (x, y) = (Int32(bitPattern: a), Int32(bitPattern: b))
            result = y == 0 ? 0 : y == -1 ? 0 &- a : UInt32(bitPattern: x / y)
        case .smod:
            let (x, y) = (Int32(bitPattern: a), Int32(bitPattern: b))
            result = y == 0 ? a : y == -1 ? 0 : UInt32(bitPattern: x % y)
        case .or: result = a | b
        case .and: result = a & b
        case .xor: result = a ^ b
        case .lsh: result = a &<< (b & 31)
        case .rsh: result = a &>> (b & 31)
        case .arsh: result = UInt32(bitPattern: Int32(bitPattern: a) &>> Int32(b & 31))
        case .mov: result = b
        }
        return UInt64(result)
    }

    static func compare64(_ condition: VMCondition, _ a: UInt64, _ b: UInt64) -> Bool {
        let (x, y) = (Int64(bitPattern: a), Int64(bitPattern: b))
        return switch condition {
        case .jeq: a == b
        case .jne: a != b
        case .jgt: a > b
        case .jge: a >= b
        case .jlt: a < b
        case .jle: a <= b
        case .jset: a & b != 0
        case .jsgt: x > y
        case .jsge: x >= y
        case .jslt: x < y
        case .jsle: x <= y
        }
    }

    static func compare32(_ condition: VMCondition, _ a: UInt32, _ b: UInt32) -> Bool {
        let (x, y) = (Int32(bitPattern: a), Int32(bitPattern: b))
        return switch condition {
        case .jeq: a == b
        case .jne: a != b
        case .jgt: a > b
        case .jge: a >= b
        case .jlt: a < b
        case .jle: a <= b
        case .jset: a & b != 0
        case .jsgt: x > y
        case .jsge: x >= y
        case .jslt: x < y
        case .jsle: x <= y
        }
    }

    // MARK: Memory

    /// A value, or the fault that prevented it.
    private enum Checked<Value> {
        case ok(Value)
        case fault(Fault)
    }

    /// Where a VM address points, after the bank's bounds check.
    private enum Place {
        case packet(Int), packetLength, shmem(Int), stack(Int)
    }

    private func locate(address: UInt64, size: Int, writing: Bool) -> Checked<Place> {
        // Only the low 32 bits hold an address.
        guard address >> 32 == 0 else { return .fault(.invalidAccess) }
        let bank = UInt32(address >> UInt64(ABI.bankShift)) & 0xff
        let offset = Int(UInt32(truncatingIfNeeded: address) & ABI.offsetMask)
        switch bank {
        case ABI.bankPacket:
            guard offset <= Int(ABI.packetMax), offset + size <= packet.count else { return .fault(.invalidAccess) }
            return .ok(.packet(offset))
        case ABI.bankPacketLength:
            guard !writing, offset == 0 else { return .fault(.invalidAccess) }
            return .ok(.packetLength)
        case ABI.bankSharedMemory:
            guard offset + size <= Int(ABI.shmemSize) else { return .fault(.invalidAccess) }
            return .ok(.shmem(offset))
        case ABI.bankStack:
            guard offset + size <= Self.stackSize else { return .fault(.stack) }
            return .ok(.stack(depth * Self.stackSize + offset))
        default:
            return .fault(.invalidAccess)
        }
    }

    /// A little-endian load, zero-extended.
    private func read(address: UInt64, size: Int) -> Checked<UInt64> {
        switch locate(address: address, size: size, writing: false) {
        case .fault(let error): return .fault(error)
        case .ok(.packetLength):
            let length = UInt64(packet.count)
            return .ok(size == 8 ? length : length & ((1 << UInt64(size * 8)) - 1))
        case .ok(.packet(let start)): return .ok(Self.littleEndian(packet, start, size))
        case .ok(.shmem(let start)): return .ok(Self.littleEndian(shmem, start, size))
        case .ok(.stack(let start)): return .ok(Self.littleEndian(stack, start, size))
        }
    }

    private mutating func write(address: UInt64, size: Int, value: UInt64) -> Fault? {
        switch locate(address: address, size: size, writing: true) {
        case .fault(let error): return error
        case .ok(.packetLength): return .invalidAccess
        case .ok(.packet(let start)): Self.storeLittleEndian(&packet, start, size, value)
        case .ok(.shmem(let start)): Self.storeLittleEndian(&shmem, start, size, value)
        case .ok(.stack(let start)): Self.storeLittleEndian(&stack, start, size, value)
        }
        return nil
    }

    private static func littleEndian(_ bytes: [UInt8], _ start: Int, _ size: Int) -> UInt64 {
        var result: UInt64 = 0
        for index in stride(from: size - 1, through: 0, by: -1) {
            result = result << 8 | UInt64(bytes[start + index])
        }
        return result
    }

    private static func storeLittleEndian(_ bytes: inout [UInt8], _ start: Int, _ size: Int, _ value: UInt64) {
        for index in 0..<size {
            bytes[start + index] = UInt8(truncatingIfNeeded: value >> UInt64(index * 8))
        }
    }

    // MARK: Helpers

    /// The packet range of a helper access: same bounds as the packet bank.
    private func packetRange(offset: UInt64, size: Int) -> Int? {
        guard offset <= UInt64(ABI.packetMax), Int(offset) + size <= packet.count else { return nil }
        return Int(offset)
    }

    private mutating func runHelper(_ helper: VMHelper) -> Checked<UInt64> {
        switch helper {
        case .pktReadU8, .pktReadU16, .pktReadU32, .pktReadU64:
            guard let start = packetRange(offset: reg(1), size: helper.accessSize) else { return .fault(.invalidAccess) }
            // Network byte order: big-endian.
            var result: UInt64 = 0
            for index in 0..<helper.accessSize { result = result << 8 | UInt64(packet[start + index]) }
            return .ok(result)
        case .pktWriteU8, .pktWriteU16, .pktWriteU32, .pktWriteU64:
            let size = helper.accessSize
            guard let start = packetRange(offset: reg(1), size: size) else { return .fault(.invalidAccess) }
            let value = reg(2)
            for index in 0..<size {
                packet[start + index] = UInt8(truncatingIfNeeded: value >> UInt64((size - 1 - index) * 8))
            }
            return .ok(0)
        case .pktLen: return .ok(UInt64(packet.count))
        case .ktimeNs: return .ok(interpreter.ktime())
        case .random: return .ok(UInt64(interpreter.random()))
        case .cpu: return .ok(UInt64(interpreter.cpu()))
        }
    }
}
