// A disassembler whose text equals `llvm-objdump -d` of LLVM 21 (with its default BPF cpu,
// which has ALU32, so 8/16/32-bit loads and stores name w registers) for the same bytes.
//
// The rules follow LLVM's BPFInstrInfo.td / BPFInstPrinter.cpp and were checked against
// llvm-objdump 21 on every opcode with random and edge-case fields:
//   * A field an instruction's encoding does not define is ignored (e.g. src of `r1 = 0x5`,
//     imm of `r1 += r2`); a field it fixes must match exactly, or the slot is `<unknown>`.
//   * Registers 0-11 decode (r11 is LLVM's internal register and prints as `r11`); 12-15 in a
//     field the instruction uses make the slot `<unknown>`.
//   * Immediates print as signed hex (`0x10`, `-0x1`), memory offsets as `r1 + 0x8` / `r1 - 0x8`.

/// A symbol of the disassembled section: its name and its byte offset from the section start.
public struct BPFSymbol: Hashable, Sendable {
    public var name: String
    public var address: UInt64

    public init(name: String, address: UInt64) {
        self.name = name
        self.address = address
    }
}

public struct BPFDisassembler: Sendable {
    /// Symbols sorted by address; among equal addresses the one given last wins (objdump prints,
    /// and resolves targets to, the last symbol of its own ordering at an address).
    public let symbols: [BPFSymbol]

    public init(symbols: [BPFSymbol] = []) {
        // Stable sort: keeps the caller's order among symbols at the same address.
        self.symbols = symbols.enumerated()
            .sorted { ($0.element.address, $0.offset) < ($1.element.address, $1.offset) }
            .map(\.element)
    }

    /// objdump's text for `insn` located at slot `index` (8-byte units from the section start):
    /// the part of a `llvm-objdump -d` line after the instruction bytes and the tab.
    public func text(for insn: BPFInstruction, at index: Int) -> String {
        guard let body = Self.body(insn) else { return "<unknown>" }
        guard let distance = Self.branchDistance(insn), let annotation = annotation(index: index, distance: distance)
        else { return body }
        return body + " " + annotation
    }

    /// One line of text per instruction, as objdump lists them from slot 0.
    public func listing(_ insns: [BPFInstruction]) -> [String] {
        var index = 0
        var lines: [String] = []
        lines.reserveCapacity(insns.count)
        for insn in insns {
            lines.append(text(for: insn, at: index))
            index += insn.slotCount
        }
        return lines
    }

    /// Full `llvm-objdump -d` instruction lines (without the symbol headers): the slot index
    /// right-aligned in 8 columns, a colon, a tab, the bytes in hex, a tab and the text.
    public func objdumpLines(_ insns: [BPFInstruction]) -> [String] {
        var index = 0
        var lines: [String] = []
        lines.reserveCapacity(insns.count)
        for insn in insns {
            let number = String(index)
            let padded = String(repeating: " ", count: max(0, 8 - number.count)) + number
            let hex = insn.encode().map { $0 < 0x10 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            lines.append("\(padded):\t\(hex.joined(separator: " "))\t\(text(for: insn, at: index))")
            index += insn.slotCount
        }
        return lines
    }

    // MARK: Branch targets

    /// Slot distance of a branch whose target objdump annotates (conditional jumps, `goto`,
    /// `gotol`, `may_goto`). Calls are not branches for objdump and get no annotation.
    static func branchDistance(_ insn: BPFInstruction) -> Int64? {
        switch insn.instructionClass {
        case .jmp:
            switch insn.jumpOp {
            case .call, .exit, nil: return nil
            default: return Int64(insn.offset)
            }
        case .jmp32:
            switch insn.jumpOp {
            case .ja: return Int64(insn.imm)  // gotol
            case .call, .exit, .jcond, nil: return nil
            default: return Int64(insn.offset)
            }
        default:
            return nil
        }
    }

    /// ` <sym+0x..>` for the branch target, computed the way llvm-objdump does: the target
    /// address is unsigned (a jump before the section start wraps around), and it is attributed
    /// to the last symbol at or before it.
    private func annotation(index: Int, distance: Int64) -> String? {
        let address = UInt64(truncatingIfNeeded: index) &* 8
        let target = address &+ 8 &+ UInt64(bitPattern: distance &* 8)
        // Binary search for the last symbol with address <= target.
        var low = 0
        var high = symbols.count
        while low < high {
            let mid = (low + high) / 2
            if symbols[mid].address <= target { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let symbol = symbols[low - 1]
        let displacement = target &- symbol.address
        return displacement == 0 ? "<\(symbol.name)>" : "<\(symbol.name)+0x\(String(displacement, radix: 16))>"
    }

    // MARK: Instruction text

    /// objdump's immediate format: signed hexadecimal.
    static func hex(_ value: Int64) -> String {
        if value < 0 {
            return "-0x" + String(value.magnitude, radix: 16)
        }
        return "0x" + String(value, radix: 16)
    }

    private static func reg(_ number: UInt8) -> String? {
        number <= 11 ? "r\(number)" : nil
    }

    private static func wreg(_ number: UInt8) -> String? {
        number <= 11 ? "w\(number)" : nil
    }

    /// `r1 + 0x8` / `r10 - 0x8`.
    private static func memory(_ base: UInt8, _ offset: Int16) -> String? {
        guard let base = reg(base) else { return nil }
        return offset >= 0 ? "\(base) + \(hex(Int64(offset)))" : "\(base) - \(hex(-Int64(offset)))"
    }

    /// The text without the branch annotation, or nil when LLVM does not decode the slot.
    static func body(_ insn: BPFInstruction) -> String? {
        switch insn.instructionClass {
        case .ld: ld(insn)
        case .ldx: ldx(insn)
        case .st: st(insn)
        case .stx: stx(insn)
        case .alu, .alu64: alu(insn)
        case .jmp, .jmp32: jump(insn)
        }
    }

    private static func ld(_ insn: BPFInstruction) -> String? {
        guard let mode = insn.mode, let size = insn.size else { return nil }
        switch mode {
        case .imm:
            guard size == .dw, insn.offset == 0, let dst = reg(insn.dst), let value = insn.imm64 else { return nil }
            if insn.src == 0 {
                return "\(dst) = \(hex(value)) ll"
            }
            // src != 0 is LLVM's LD_pseudo. Its printer shows the src field and only the low 32 bits
            // of the immediate, zero-extended (the upper half is folded into the src operand, which is
            // printed truncated to 32 bits, so it never shows).
            return "ld_pseudo\t\(dst), \(hex(Int64(insn.src))), \(hex(Int64(UInt32(bitPattern: insn.imm))))"
        case .abs:
            guard size != .dw else { return nil }
            return "r0 = *(\(size.unsignedName) *)skb[\(hex(Int64(insn.imm)))]"
        case .ind:
            guard size != .dw, let src = reg(insn.src) else { return nil }
            return "r0 = *(\(size.unsignedName) *)skb[\(src)]"
        case .mem, .memsx, .atomic:
            return nil
        }
    }

    private static func ldx(_ insn: BPFInstruction) -> String? {
        guard let mode = insn.mode, let size = insn.size, let address = memory(insn.src, insn.offset) else { return nil }
        switch mode {
        case .mem:
            guard let dst = size == .dw ? reg(insn.dst) : wreg(insn.dst) else { return nil }
            return "\(dst) = *(\(size.unsignedName) *)(\(address))"
        case .memsx:
            guard size != .dw, let dst = reg(insn.dst) else { return nil }
            return "\(dst) = *(\(size.signedName) *)(\(address))"
        default:
            return nil
        }
    }

    private static func st(_ insn: BPFInstruction) -> String? {
        guard insn.mode == .mem, let size = insn.size, let address = memory(insn.dst, insn.offset) else { return nil }
        return "*(\(size.unsignedName) *)(\(address)) = \(hex(Int64(insn.imm)))"
    }

    private static func stx(_ insn: BPFInstruction) -> String? {
        guard let mode = insn.mode, let size = insn.size else { return nil }
        switch mode {
        case .mem:
            guard let address = memory(insn.dst, insn.offset),
                  let src = size == .dw ? reg(insn.src) : wreg(insn.src) else { return nil }
            return "*(\(size.unsignedName) *)(\(address)) = \(src)"
        case .atomic:
            return atomic(insn, size: size)
        default:
            return nil
        }
    }

    /// BPF_STX | BPF_ATOMIC. LLVM decodes only some bits of imm (checked against objdump 21):
    ///   * bits 7-4 select the operation; bits 3-0 == 1 is BPF_FETCH (any other value: no fetch);
    ///   * bit 8 with bits 7-4 == 0 / 1 is load-acquire / store-release (bits 3-0 ignored);
    ///   * all other bits are ignored. A fetching op wins over acquire/release (0x101 is
    ///     atomic_fetch_add for w/dw), and acquire wins over the non-fetching add (0x100).
    private static func atomic(_ insn: BPFInstruction, size: BPFSize) -> String? {
        let wide = size == .dw
        let name = size.unsignedName
        let bits = UInt32(bitPattern: insn.imm)
        let op = (bits >> 4) & 0xf
        let fetch = bits & 0xf == 1
        let rmwSizes = size == .w || size == .dw

        if rmwSizes, fetch, [0x0, 0x4, 0x5, 0xa, 0xe, 0xf].contains(op) {
            guard let address = memory(insn.dst, insn.offset),
                  let src = wide ? reg(insn.src) : wreg(insn.src) else { return nil }
            switch op {
            case 0xe:
                return wide ? "\(src) = xchg_64(\(address), \(src))" : "\(src) = xchg32_32(\(address), \(src))"
            case 0xf:
                return wide ? "r0 = cmpxchg_64(\(address), r0, \(src))" : "w0 = cmpxchg32_32(\(address), w0, \(src))"
            default:
                return "\(src) = atomic_fetch_\(atomicName(op))((\(name) *)(\(address)), \(src))"
            }
        }
        if bits & 0x100 != 0, op == 0 {
            // Load-acquire: dst receives the value, src is the base.
            guard let address = memory(insn.src, insn.offset),
                  let dst = wide ? reg(insn.dst) : wreg(insn.dst) else { return nil }
            return "\(dst) = load_acquire((\(name) *)(\(address)))"
        }
        if bits & 0x100 != 0, op == 1 {
            guard let address = memory(insn.dst, insn.offset),
                  let src = wide ? reg(insn.src) : wreg(insn.src) else { return nil }
            return "store_release((\(name) *)(\(address)), \(src))"
        }
        guard rmwSizes, [0x0, 0x4, 0x5, 0xa].contains(op),
              let address = memory(insn.dst, insn.offset),
              let src = wide ? reg(insn.src) : wreg(insn.src) else { return nil }
        let symbol = switch op {
        case 0x0: "+="
        case 0x4: "|="
        case 0x5: "&="
        default: "^="
        }
        return "lock *(\(name) *)(\(address)) \(symbol) \(src)"
    }

    private static func atomicName(_ op: UInt32) -> String {
        switch op {
        case 0x0: "add"
        case 0x4: "or"
        case 0x5: "and"
        default: "xor"
        }
    }

    private static func alu(_ insn: BPFInstruction) -> String? {
        guard let op = insn.aluOp, let source = insn.source else { return nil }
        let is64 = insn.instructionClass == .alu64
        func r(_ number: UInt8) -> String? { is64 ? reg(number) : wreg(number) }
        guard let dst = r(insn.dst) else { return nil }
        // The second operand: the immediate (K) or the src register (X).
        func operand() -> String? { source == .k ? hex(Int64(insn.imm)) : r(insn.src) }

        // Compound assignments; the offset must be 0 except for the signed div/mod.
        let symbol: String
        switch op {
        case .add, .sub, .mul, .or, .and, .lsh, .rsh, .xor, .arsh:
            guard insn.offset == 0 else { return nil }
            symbol = switch op {
            case .add: "+="
            case .sub: "-="
            case .mul: "*="
            case .or: "|="
            case .and: "&="
            case .lsh: "<<="
            case .rsh: ">>="
            case .xor: "^="
            default: "s>>="
            }
        case .div, .mod:
            // offset 1 selects the signed variant (cpu v4).
            switch insn.offset {
            case 0: symbol = op == .div ? "/=" : "%="
            case 1: symbol = op == .div ? "s/=" : "s%="
            default: return nil
            }
        case .neg:
            guard source == .k else { return nil }
            return "\(dst) = -\(dst)"
        case .mov:
            if source == .k {
                guard insn.offset == 0 else { return nil }
                return "\(dst) = \(hex(Int64(insn.imm)))"
            }
            guard let src = r(insn.src) else { return nil }
            switch insn.offset {
            case 0: return "\(dst) = \(src)"
            case 1 where is64:
                // Arena pointer conversion (cpu v4 + arena): imm holds dst and src address spaces.
                let bits = UInt32(bitPattern: insn.imm)
                return "\(dst) = addr_space_cast(\(src), \(hex(Int64(bits >> 16))), \(hex(Int64(bits & 0xffff))))"
            case 8, 16: return "\(dst) = (s\(insn.offset))\(src)"
            case 32 where is64: return "\(dst) = (s32)\(src)"
            default: return nil
            }
        case .end:
            // Printed on the 64-bit register name even for class ALU.
            guard insn.imm == 16 || insn.imm == 32 || insn.imm == 64, let dst = reg(insn.dst) else { return nil }
            let name: String
            switch (is64, source) {
            case (false, .k): name = "le"
            case (false, .x): name = "be"
            case (true, .k): name = "bswap"
            case (true, .x): return nil
            }
            return "\(dst) = \(name)\(insn.imm) \(dst)"
        }
        guard let rhs = operand() else { return nil }
        return "\(dst) \(symbol) \(rhs)"
    }

    private static func jump(_ insn: BPFInstruction) -> String? {
        guard let op = insn.jumpOp, let source = insn.source else { return nil }
        let is64 = insn.instructionClass == .jmp
        func r(_ number: UInt8) -> String? { is64 ? reg(number) : wreg(number) }
        let symbol: String
        switch op {
        case .ja:
            guard source == .k else { return nil }
            return is64 ? "goto \(target(Int64(insn.offset)))" : "gotol \(target(Int64(insn.imm)))"
        case .call:
            guard is64 else { return nil }
            if source == .k { return "call \(hex(Int64(insn.imm)))" }
            guard let callee = reg(insn.dst) else { return nil }
            return "callx \(callee)"
        case .exit:
            guard is64, source == .k, insn.imm == 0 else { return nil }
            return "exit"
        case .jcond:
            guard is64, source == .k else { return nil }
            return "may_goto \(target(Int64(insn.offset)))"
        case .jeq: symbol = "=="
        case .jgt: symbol = ">"
        case .jge: symbol = ">="
        case .jset: symbol = "&"
        case .jne: symbol = "!="
        case .jsgt: symbol = "s>"
        case .jsge: symbol = "s>="
        case .jlt: symbol = "<"
        case .jle: symbol = "<="
        case .jslt: symbol = "s<"
        case .jsle: symbol = "s<="
        }
        guard let dst = r(insn.dst), let rhs = source == .k ? hex(Int64(insn.imm)) : r(insn.src) else { return nil }
        return "if \(dst) \(symbol) \(rhs) goto \(target(Int64(insn.offset)))"
    }

    /// `+0x5` / `-0x2`: a branch distance in slots.
    private static func target(_ distance: Int64) -> String {
        distance >= 0 ? "+" + hex(distance) : hex(distance)
    }
}

extension BPFInstruction: CustomStringConvertible {
    /// objdump's text for the instruction, without a branch-target annotation.
    public var description: String { BPFDisassembler().text(for: self, at: 0) }
}
