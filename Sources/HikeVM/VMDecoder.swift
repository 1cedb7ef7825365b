// What the VM makes of one 8-byte instruction slot: the single decoder behind the interpreter and
// the chain checker, so that "the VM runs it" means the same thing in both.
//
// The VM works on slots, not on `BPFInstruction`s: a jump may land on the second slot of an
// LD_IMM64, and the VM then runs that slot's bytes as an instruction of its own.

import BPFInstructions

/// One raw 8-byte slot of a chain.
public struct VMSlot: Hashable, Sendable {
    public var code: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var offset: Int16
    public var imm: Int32

    public init(code: UInt8, dst: UInt8, src: UInt8, offset: Int16, imm: Int32) {
        self.code = code
        self.dst = dst & 0x0f
        self.src = src & 0x0f
        self.offset = offset
        self.imm = imm
    }

    /// The slots of a little-endian byte stream; a trailing partial slot is dropped (a chain is
    /// a whole number of slots, so such bytes could never be installed).
    public static func slots(bytes: [UInt8]) -> [VMSlot] {
        var result: [VMSlot] = []
        result.reserveCapacity(bytes.count / 8)
        var position = 0
        while position + 8 <= bytes.count {
            let imm = UInt32(bytes[position + 4]) | UInt32(bytes[position + 5]) << 8
                | UInt32(bytes[position + 6]) << 16 | UInt32(bytes[position + 7]) << 24
            result.append(VMSlot(
                code: bytes[position],
                dst: bytes[position + 1] & 0x0f,
                src: bytes[position + 1] >> 4,
                offset: Int16(bitPattern: UInt16(bytes[position + 2]) | UInt16(bytes[position + 3]) << 8),
                imm: Int32(bitPattern: imm)))
            position += 8
        }
        return result
    }

    public static func slots(_ instructions: [BPFInstruction]) -> [VMSlot] {
        slots(bytes: instructions.encoded())
    }
}

/// ALU operations the VM runs, with the signed variants split out.
public enum VMALUOp: Hashable, Sendable {
    case add, sub, mul, div, sdiv, or, and, lsh, rsh, mod, smod, xor, mov, arsh
}

public enum VMOperand: Hashable, Sendable {
    /// The immediate, already extended: sign-extended for 64-bit operations, zero-extended
    /// from 32 bits for 32-bit ones (only the low 32 bits matter there).
    case imm(UInt64)
    case reg(UInt8)
}

public enum VMCondition: Hashable, Sendable {
    case jeq, jgt, jge, jset, jne, jsgt, jsge, jlt, jle, jslt, jsle
}

/// A decoded slot.
public enum VMOperation: Hashable, Sendable {
    case alu(VMALUOp, wide: Bool, dst: UInt8, operand: VMOperand)
    case neg(wide: Bool, dst: UInt8)
    /// movsx: sign-extend the low `bits` of src; a 32-bit one zero-extends the 32-bit result.
    case movsx(wide: Bool, dst: UInt8, src: UInt8, bits: UInt8)
    /// `end`: keep the low `bits` (le) or byte-swap them (be, bswap); the result is zero-extended.
    case end(dst: UInt8, bits: UInt8, swap: Bool)
    case ldImm64(dst: UInt8, value: UInt64)
    case load(dst: UInt8, base: UInt8, offset: Int16, size: UInt8, signed: Bool)
    case store(base: UInt8, offset: Int16, size: UInt8, value: VMOperand)
    /// A conditional jump; `wide` false compares the low 32 bits.
    case jump(VMCondition, wide: Bool, dst: UInt8, operand: VMOperand, offset: Int32)
    /// `goto` and `gotol`: pc + 1 + offset.
    case ja(offset: Int32)
    /// `call 0x10`…`0x15`: the program or chain whose ID is in r1.
    case callElement
    case helper(VMHelper)
    case exit
    /// An unknown opcode: the reason, and what to write instead (for the checker's messages).
    case invalid(String)

    /// Slots the instruction takes (2 for LD_IMM64).
    public var slotCount: Int {
        if case .ldImm64 = self { return 2 }
        return 1
    }
}

public enum VMDecoder {
    /// Decodes the slot at `pc` of `slots`. Fields an instruction does not use are ignored; the
    /// ones docs/vm.md constrains (ALU `off`, call `src`, LD_IMM64 `src`/`off`, registers an
    /// instruction uses) make it `.invalid`.
    public static func decode(_ slots: [VMSlot], at pc: Int) -> VMOperation {
        guard slots.indices.contains(pc) else { return .invalid("no instruction here") }
        let slot = slots[pc]
        switch slot.code & 0x07 {
        case 0x00: return ld(slot, hasNext: pc + 1 < slots.count, next: pc + 1 < slots.count ? slots[pc + 1] : nil)
        case 0x01: return ldx(slot)
        case 0x02: return st(slot)
        case 0x03: return stx(slot)
        case 0x04: return alu(slot, wide: false)
        case 0x07: return alu(slot, wide: true)
        case 0x05: return jump(slot, wide: true)
        default: return jump(slot, wide: false)
        }
    }

    /// Decodes every slot (each on its own, as a jump could land on any of them).
    public static func decodeAll(_ slots: [VMSlot]) -> [VMOperation] {
        slots.indices.map { decode(slots, at: $0) }
    }

    // MARK: Registers

    private static func badRegister(_ number: UInt8, role: String) -> VMOperation? {
        number <= 10 ? nil : .invalid("the \(role) register r\(number) does not exist (registers are r0–r10)")
    }

    /// A register the instruction writes: r0–r9.
    private static func badDestination(_ number: UInt8) -> VMOperation? {
        if number == 10 {
            return .invalid("it writes r10, the read-only frame pointer; use one of r0–r9")
        }
        return badRegister(number, role: "destination")
    }

    private static func sizeBytes(_ code: UInt8) -> UInt8 {
        switch code & 0x18 {
        case 0x00: 4
        case 0x08: 2
        case 0x10: 1
        default: 8
        }
    }

    // MARK: Classes

    private static func ld(_ slot: VMSlot, hasNext: Bool, next: VMSlot?) -> VMOperation {
        guard slot.code == 0x18 else {
            let mode = slot.code & 0xe0
            let form = mode == 0x20 ? "legacy packet load (LD_ABS)" : mode == 0x40 ? "legacy packet load (LD_IND)" : "LD form"
            return .invalid("this \(form) is not run by the HIKe VM; only LD_IMM64 (`rN = K ll`) is")
        }
        guard slot.src == 0 else {
            return .invalid("LD_IMM64 with src \(slot.src) (a map or BTF pseudo-load) is not run by the HIKe VM; only src 0 is")
        }
        guard slot.offset == 0 else {
            return .invalid("LD_IMM64 with a non-zero offset field (\(slot.offset)) is not valid; the offset must be 0")
        }
        if let bad = badDestination(slot.dst) { return bad }
        guard hasNext, let next else {
            return .invalid("LD_IMM64 takes two slots but is in the last slot of the chain; add its second slot")
        }
        let value = UInt64(UInt32(bitPattern: next.imm)) << 32 | UInt64(UInt32(bitPattern: slot.imm))
        return .ldImm64(dst: slot.dst, value: value)
    }

    private static func ldx(_ slot: VMSlot) -> VMOperation {
        let mode = slot.code & 0xe0
        let size = sizeBytes(slot.code)
        let signed: Bool
        switch mode {
        case 0x60: signed = false
        case 0x80:
            guard size != 8 else {
                return .invalid("a sign-extending load of 8 bytes does not exist; use `*(u64 *)`")
            }
            signed = true
        default:
            return .invalid("loads with mode 0x\(String(mode, radix: 16)) are not run by the HIKe VM; only MEM and MEMSX loads are")
        }
        if let bad = badDestination(slot.dst) ?? badRegister(slot.src, role: "base") { return bad }
        return .load(dst: slot.dst, base: slot.src, offset: slot.offset, size: size, signed: signed)
    }

    private static func st(_ slot: VMSlot) -> VMOperation {
        guard slot.code & 0xe0 == 0x60 else {
            return .invalid("stores of an immediate with mode 0x\(String(slot.code & 0xe0, radix: 16)) are not run by the HIKe VM; only MEM stores are")
        }
        if let bad = badRegister(slot.dst, role: "base") { return bad }
        let size = sizeBytes(slot.code)
        return .store(base: slot.dst, offset: slot.offset, size: size,
                      value: .imm(UInt64(bitPattern: Int64(slot.imm))))
    }

    private static func stx(_ slot: VMSlot) -> VMOperation {
        let mode = slot.code & 0xe0
        guard mode == 0x60 else {
            if mode == 0xc0 {
                return .invalid("atomic operations are not run by the HIKe VM (a chain's memory is its own); use a load, the operation and a store")
            }
            return .invalid("stores with mode 0x\(String(mode, radix: 16)) are not run by the HIKe VM; only MEM stores are")
        }
        if let bad = badRegister(slot.dst, role: "base") ?? badRegister(slot.src, role: "source") { return bad }
        return .store(base: slot.dst, offset: slot.offset, size: sizeBytes(slot.code), value: .reg(slot.src))
    }

    private static func alu(_ slot: VMSlot, wide: Bool) -> VMOperation {
        let op = slot.code & 0xf0
        let isX = slot.code & 0x08 != 0
        let name = wide ? "ALU64" : "ALU32"
        func operand() -> VMOperand {
            if isX { return .reg(slot.src) }
            return wide ? .imm(UInt64(bitPattern: Int64(slot.imm))) : .imm(UInt64(UInt32(bitPattern: slot.imm)))
        }
        func offsetMustBeZero(_ what: String) -> VMOperation? {
            slot.offset == 0 ? nil : .invalid("\(what) with offset field \(slot.offset) is not an instruction; the offset must be 0")
        }
        guard op <= 0xd0 else {
            return .invalid("\(name) operation 0x\(String(op, radix: 16)) does not exist")
        }
        if let bad = badDestination(slot.dst) { return bad }
        let vmOp: VMALUOp
        switch op {
        case 0x80:
            if let bad = offsetMustBeZero("neg") { return bad }
            return .neg(wide: wide, dst: slot.dst)
        case 0xd0:
            if let bad = offsetMustBeZero("a byte swap") { return bad }
            guard slot.imm == 16 || slot.imm == 32 || slot.imm == 64 else {
                return .invalid("a byte swap of \(slot.imm) bits does not exist; the width must be 16, 32 or 64")
            }
            if wide && isX {
                return .invalid("ALU64 byte swap with the X source bit does not exist; use `bswapN` (ALU64, K) or `beN` (ALU, X)")
            }
            // ALU K is le (a truncation on a little-endian host); ALU X (be) and ALU64 (bswap) swap.
            return .end(dst: slot.dst, bits: UInt8(slot.imm), swap: wide || isX)
        case 0xb0:
            if isX, slot.offset != 0 {
                let allowed: [Int16] = wide ? [8, 16, 32] : [8, 16]
                guard allowed.contains(slot.offset) else {
                    return .invalid("a sign-extending move of \(slot.offset) bits does not exist; use \(wide ? "8, 16 or 32" : "8 or 16")")
                }
                if let bad = badRegister(slot.src, role: "source") { return bad }
                return .movsx(wide: wide, dst: slot.dst, src: slot.src, bits: UInt8(slot.offset))
            }
            if let bad = offsetMustBeZero("mov") { return bad }
            vmOp = .mov
        case 0x30, 0x90:
            switch slot.offset {
            case 0: vmOp = op == 0x30 ? .div : .mod
            case 1: vmOp = op == 0x30 ? .sdiv : .smod
            default:
                return .invalid("\(op == 0x30 ? "div" : "mod") with offset field \(slot.offset) does not exist; the offset is 0 (unsigned) or 1 (signed)")
            }
        default:
            if let bad = offsetMustBeZero(name + " operation") { return bad }
            switch op {
            case 0x00: vmOp = .add
            case 0x10: vmOp = .sub
            case 0x20: vmOp = .mul
            case 0x40: vmOp = .or
            case 0x50: vmOp = .and
            case 0x60: vmOp = .lsh
            case 0x70: vmOp = .rsh
            case 0xa0: vmOp = .xor
            default: vmOp = .arsh
            }
        }
        if isX, let bad = badRegister(slot.src, role: "source") { return bad }
        return .alu(vmOp, wide: wide, dst: slot.dst, operand: operand())
    }

    private static func jump(_ slot: VMSlot, wide: Bool) -> VMOperation {
        let op = slot.code & 0xf0
        let isX = slot.code & 0x08 != 0
        let name = wide ? "JMP" : "JMP32"
        let condition: VMCondition
        switch op {
        case 0x00:
            guard !isX else { return .invalid("an indirect jump (ja with the X source bit) is not run by the HIKe VM") }
            return .ja(offset: wide ? Int32(slot.offset) : slot.imm)
        case 0x80:
            guard wide else { return .invalid("call exists only in the JMP class, not in JMP32") }
            guard !isX else { return .invalid("callx (an indirect call) is not run by the HIKe VM; put the ID in r1 and `call 0x14`") }
            switch slot.src {
            case 0: break
            case 1: return .invalid("bpf-to-bpf calls (src 1) are not run by the HIKe VM; call another chain instead")
            case 2: return .invalid("kfunc calls (src 2) are not run by the HIKe VM")
            default: return .invalid("a call with src \(slot.src) does not exist; use src 0")
            }
            if slot.imm >= ABI.fnCallFirst && slot.imm <= ABI.fnCallLast { return .callElement }
            if let helper = VMHelper(rawValue: slot.imm) { return .helper(helper) }
            return .invalid("call \(BPFDisassemblerHex.hex(Int64(slot.imm))) is neither an element call (0x10–0x15) nor a VM helper (0x20–0x2b); kernel helpers cannot be called from a chain")
        case 0x90:
            guard wide, !isX else { return .invalid("exit exists only as JMP with the K source (0x95)") }
            return .exit
        case 0x10: condition = .jeq
        case 0x20: condition = .jgt
        case 0x30: condition = .jge
        case 0x40: condition = .jset
        case 0x50: condition = .jne
        case 0x60: condition = .jsgt
        case 0x70: condition = .jsge
        case 0xa0: condition = .jlt
        case 0xb0: condition = .jle
        case 0xc0: condition = .jslt
        case 0xd0: condition = .jsle
        case 0xe0: return .invalid("may_goto is not run by the HIKe VM; the VM's budget bounds loops")
        default: return .invalid("\(name) operation 0x\(String(op, radix: 16)) does not exist")
        }
        if let bad = badRegister(slot.dst, role: "compared") { return bad }
        let operand: VMOperand
        if isX {
            if let bad = badRegister(slot.src, role: "compared") { return bad }
            operand = .reg(slot.src)
        } else {
            operand = wide ? .imm(UInt64(bitPattern: Int64(slot.imm))) : .imm(UInt64(UInt32(bitPattern: slot.imm)))
        }
        return .jump(condition, wide: wide, dst: slot.dst, operand: operand, offset: Int32(slot.offset))
    }
}

/// objdump's signed hex, for messages.
enum BPFDisassemblerHex {
    static func hex(_ value: Int64) -> String {
        value < 0 ? "-0x" + String(value.magnitude, radix: 16) : "0x" + String(value, radix: 16)
    }
}
