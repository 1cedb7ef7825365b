// Little-endian encoding and decoding of instruction streams.

import HikeErrors

public enum BPFInstructionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input ended with fewer than 8 bytes left at `byteOffset`.
    case partialSlot(byteOffset: Int, remaining: Int)
    /// A 16-byte LD_IMM64 starts at `byteOffset` but only `remaining` (8…15) bytes are left.
    case truncatedWideInstruction(byteOffset: Int, remaining: Int)

    public var description: String {
        switch self {
        case let .partialSlot(offset, remaining):
            "BPF instruction stream length is not a multiple of 8: \(remaining) trailing byte(s) at byte offset \(offset)"
        case let .truncatedWideInstruction(offset, remaining):
            "truncated 16-byte LD_IMM64 instruction at byte offset \(offset): only \(remaining) byte(s) left"
        }
    }
}

extension BPFInstruction {
    /// Whether an 8-byte slot starts a 16-byte instruction.
    ///
    /// This follows LLVM's disassembler rather than the kernel: opcode 0x18 is wide only when the
    /// slot also decodes as LD_IMM64 (offset 0 and a dst register r0–r11); otherwise objdump prints
    /// the slot as an 8-byte `<unknown>` and decodes the next slot on its own. Valid programs
    /// always have offset 0 there, so the two views agree on them.
    static func startsWideInstruction(opcode: UInt8, regs: UInt8, offset: Int16) -> Bool {
        opcode == 0x18 && offset == 0 && (regs & 0x0f) <= 11
    }

    /// Decodes a little-endian instruction stream.
    /// - Throws: `BPFInstructionError` for a trailing partial slot or a truncated LD_IMM64.
    public static func decode(_ bytes: [UInt8]) throws(BPFInstructionError) -> [BPFInstruction] {
        var result: [BPFInstruction] = []
        result.reserveCapacity(bytes.count / 8)
        var position = 0
        while position < bytes.count {
            let remaining = bytes.count - position
            guard remaining >= 8 else {
                throw .partialSlot(byteOffset: position, remaining: remaining)
            }
            let opcode = bytes[position]
            let regs = bytes[position + 1]
            let offset = Int16(bitPattern: UInt16(bytes[position + 2]) | UInt16(bytes[position + 3]) << 8)
            let imm = Int32(bitPattern: readUInt32(bytes, at: position + 4))
            var insn = BPFInstruction(opcode: opcode, dst: regs & 0x0f, src: regs >> 4, offset: offset, imm: imm)
            if startsWideInstruction(opcode: opcode, regs: regs, offset: offset) {
                guard remaining >= 16 else {
                    throw .truncatedWideInstruction(byteOffset: position, remaining: remaining)
                }
                insn.imm64High = Int32(bitPattern: readUInt32(bytes, at: position + 12))
                insn.wideReserved = readUInt32(bytes, at: position + 8)
                position += 16
            } else {
                position += 8
            }
            result.append(insn)
        }
        return result
    }

    private static func readUInt32(_ bytes: [UInt8], at index: Int) -> UInt32 {
        UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16
            | UInt32(bytes[index + 3]) << 24
    }

    /// The 8 or 16 little-endian bytes of the instruction.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(slotCount * 8)
        append(to: &out)
        return out
    }

    func append(to out: inout [UInt8]) {
        out.append(opcode)
        out.append((src & 0x0f) << 4 | (dst & 0x0f))
        let off = UInt16(bitPattern: offset)
        out.append(UInt8(truncatingIfNeeded: off))
        out.append(UInt8(truncatingIfNeeded: off >> 8))
        Self.appendUInt32(UInt32(bitPattern: imm), to: &out)
        if let high = imm64High {
            Self.appendUInt32(wideReserved, to: &out)
            Self.appendUInt32(UInt32(bitPattern: high), to: &out)
        }
    }

    private static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 24))
    }
}

extension Array where Element == BPFInstruction {
    /// The concatenated encodings of the instructions.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(reduce(0) { $0 + $1.slotCount } * 8)
        for insn in self { insn.append(to: &out) }
        return out
    }
}

extension BPFInstructionError: HikeError {
    public var code: String { "bpf.instructions" }
    public var message: String { description }
}
