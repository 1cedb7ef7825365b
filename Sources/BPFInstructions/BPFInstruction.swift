// The eBPF instruction: one 8-byte slot, or the 16-byte LD_IMM64 that spans two slots.
//
// Layout of a slot (little-endian):
//   byte 0     opcode
//   byte 1     dst register (low nibble), src register (high nibble)
//   bytes 2-3  offset (signed 16 bit)
//   bytes 4-7  immediate (signed 32 bit)
// LD_IMM64 (opcode 0x18) is followed by a second slot whose bytes 4-7 hold the upper
// 32 bits of the 64-bit immediate; its bytes 0-3 are reserved (zero in valid programs).

/// The general-purpose registers. r10 is the read-only frame pointer.
public enum BPFRegister: UInt8, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case r0 = 0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10

    public var description: String { "r\(rawValue)" }
}

/// The low three bits of the opcode.
public enum BPFInstructionClass: UInt8, CaseIterable, Hashable, Sendable {
    case ld = 0x00, ldx = 0x01, st = 0x02, stx = 0x03, alu = 0x04, jmp = 0x05, jmp32 = 0x06, alu64 = 0x07

    /// Load/store classes use the size/mode layout of the opcode; the others use op/source.
    public var isLoadStore: Bool { rawValue <= 0x03 }
}

/// Access width of load/store instructions (opcode bits 3-4, kept in place).
public enum BPFSize: UInt8, CaseIterable, Hashable, Sendable {
    case w = 0x00, h = 0x08, b = 0x10, dw = 0x18

    public var bytes: Int {
        switch self {
        case .b: 1
        case .h: 2
        case .w: 4
        case .dw: 8
        }
    }

    /// `u8`, `u16`, `u32`, `u64`: the spelling llvm-objdump uses in `*(u32 *)`.
    var unsignedName: String { "u\(bytes * 8)" }
    var signedName: String { "s\(bytes * 8)" }
}

/// Addressing mode of load/store instructions (opcode bits 5-7, kept in place).
public enum BPFMode: UInt8, CaseIterable, Hashable, Sendable {
    case imm = 0x00, abs = 0x20, ind = 0x40, mem = 0x60, memsx = 0x80, atomic = 0xc0
}

/// Operand source of ALU and jump instructions (opcode bit 3): the immediate or the src register.
public enum BPFSource: UInt8, CaseIterable, Hashable, Sendable {
    case k = 0x00, x = 0x08
}

/// ALU operations (opcode bits 4-7, kept in place).
public enum BPFALUOp: UInt8, CaseIterable, Hashable, Sendable {
    case add = 0x00, sub = 0x10, mul = 0x20, div = 0x30, or = 0x40, and = 0x50, lsh = 0x60, rsh = 0x70
    case neg = 0x80, mod = 0x90, xor = 0xa0, mov = 0xb0, arsh = 0xc0, end = 0xd0
}

/// Jump operations (opcode bits 4-7, kept in place).
public enum BPFJumpOp: UInt8, CaseIterable, Hashable, Sendable {
    case ja = 0x00, jeq = 0x10, jgt = 0x20, jge = 0x30, jset = 0x40, jne = 0x50, jsgt = 0x60, jsge = 0x70
    case call = 0x80, exit = 0x90, jlt = 0xa0, jle = 0xb0, jslt = 0xc0, jsle = 0xd0
    /// `may_goto` (BPF_JCOND).
    case jcond = 0xe0

    /// The conditional comparisons, usable with `.jump(_:dst:imm:offset:)`.
    public var isConditional: Bool {
        switch self {
        case .ja, .call, .exit, .jcond: false
        default: true
        }
    }
}

/// Read-modify-write operations of BPF_STX | BPF_ATOMIC, encoded in the immediate.
public enum BPFAtomicOp: Int32, CaseIterable, Hashable, Sendable {
    case add = 0x00, or = 0x40, and = 0x50, xor = 0xa0
    /// Always fetches (the `fetch` flag is implied).
    case xchg = 0xe0
    /// Always fetches; compares with r0 and returns the old value in r0.
    case cmpxchg = 0xf0
}

/// Byte-order conversions of BPF_END.
public enum BPFByteSwap: Hashable, Sendable {
    /// To little endian (`le16`/`le32`/`le64`, class ALU, source K).
    case toLE
    /// To big endian (`be16`/…, class ALU, source X).
    case toBE
    /// Unconditional swap (`bswap16`/…, class ALU64, source K; cpu v4).
    case bswap
}

public struct BPFInstruction: Hashable, Sendable {
    /// Special `imm` values of the atomic mode.
    public static let atomicFetchFlag: Int32 = 0x01
    public static let atomicLoadAcquire: Int32 = 0x100
    public static let atomicStoreRelease: Int32 = 0x110

    /// src_reg values of LD_IMM64 that make the kernel rewrite the immediate (`BPF_PSEUDO_*`).
    public enum PseudoSource: UInt8, Sendable {
        case mapFD = 1, mapValue = 2, btfID = 3, function = 4, mapIndex = 5, mapIndexValue = 6
    }

    /// `src_reg` of a `call` to another BPF function in the same program (BPF_PSEUDO_CALL);
    /// `imm` is then the slot distance from the next instruction.
    public static let pseudoCall: UInt8 = 1
    /// `src_reg` of a kfunc call (BPF_PSEUDO_KFUNC_CALL); `imm` is a BTF id.
    public static let pseudoKfuncCall: UInt8 = 2

    public var opcode: UInt8
    /// Destination register number (4 bits; 0–10 in valid programs).
    public var dst: UInt8 {
        didSet { dst &= 0x0f }
    }
    /// Source register number (4 bits).
    public var src: UInt8 {
        didSet { src &= 0x0f }
    }
    public var offset: Int16
    /// The immediate; for LD_IMM64 its lower 32 bits.
    public var imm: Int32
    /// For the 16-byte LD_IMM64 only: the upper 32 bits of the immediate (bytes 12-15).
    /// Non-nil exactly when the instruction is wide.
    public var imm64High: Int32?
    /// Bytes 8-11 of a wide instruction (opcode, registers and offset of the second slot),
    /// reserved and zero in valid programs; kept so that decode/encode round-trips any bytes.
    public var wideReserved: UInt32

    public init(
        opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0,
        imm64High: Int32? = nil, wideReserved: UInt32 = 0
    ) {
        self.opcode = opcode
        self.dst = dst & 0x0f
        self.src = src & 0x0f
        self.offset = offset
        self.imm = imm
        self.imm64High = imm64High
        self.wideReserved = imm64High == nil ? 0 : wideReserved
    }

    public var instructionClass: BPFInstructionClass {
        // Three bits always name a class.
        BPFInstructionClass(rawValue: opcode & 0x07) ?? .ld
    }

    /// Load/store width; nil for ALU and jump classes.
    public var size: BPFSize? {
        instructionClass.isLoadStore ? BPFSize(rawValue: opcode & 0x18) : nil
    }

    /// Load/store addressing mode; nil for ALU and jump classes and for the undefined modes 5 and 7.
    public var mode: BPFMode? {
        instructionClass.isLoadStore ? BPFMode(rawValue: opcode & 0xe0) : nil
    }

    /// Operand source; nil for load/store classes.
    public var source: BPFSource? {
        instructionClass.isLoadStore ? nil : BPFSource(rawValue: opcode & 0x08)
    }

    /// ALU operation for classes ALU and ALU64; nil for 0xe0/0xf0 and other classes.
    public var aluOp: BPFALUOp? {
        switch instructionClass {
        case .alu, .alu64: BPFALUOp(rawValue: opcode & 0xf0)
        default: nil
        }
    }

    /// Jump operation for classes JMP and JMP32; nil for 0xf0 and other classes.
    public var jumpOp: BPFJumpOp? {
        switch instructionClass {
        case .jmp, .jmp32: BPFJumpOp(rawValue: opcode & 0xf0)
        default: nil
        }
    }

    public var dstRegister: BPFRegister? { BPFRegister(rawValue: dst) }
    public var srcRegister: BPFRegister? { BPFRegister(rawValue: src) }

    /// True for the 16-byte LD_IMM64 form.
    public var isWide: Bool { imm64High != nil }

    /// Number of 8-byte slots the instruction occupies (1 or 2).
    public var slotCount: Int { isWide ? 2 : 1 }

    /// The full 64-bit immediate of a wide instruction (nil otherwise).
    public var imm64: Int64? {
        guard let high = imm64High else { return nil }
        return Int64(bitPattern: UInt64(UInt32(bitPattern: high)) << 32 | UInt64(UInt32(bitPattern: imm)))
    }
}
