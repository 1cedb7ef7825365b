// The chain disassembler: instructions back to the chain assembler's text.
//
// Jump targets get labels (L1, L2, … in address order), `r1 = K` + `call 0x14` becomes
// `call NAME` when the reverse symbol table names K, helpers print by name. Every line is checked
// by assembling it again; a slot whose text would not give the same bits back (an unknown opcode,
// a field the text does not show) prints as a raw `.insn`. So disassembling and assembling again
// (and linking with the same table) always gives the identical instructions.

import BPFInstructions

public struct ChainDisassembler: Sendable {
    /// Names of program and chain IDs.
    public var symbols: [UInt32: String]

    public init(symbols: [UInt32: String] = [:]) {
        self.symbols = symbols
    }

    /// A whole chain: `chain NAME` and its indented lines.
    public func text(chain name: String, _ instructions: [BPFInstruction]) -> String {
        (["chain \(name)"] + lines(instructions)).joined(separator: "\n") + "\n"
    }

    /// The chain's lines: labels (`L1:`, unindented) and instructions (indented by four spaces).
    public func lines(_ instructions: [BPFInstruction]) -> [String] {
        var slots: [Int] = []
        var slot = 0
        for insn in instructions {
            slots.append(slot)
            slot += insn.slotCount
        }
        let totalSlots = slot
        // Labels can go where an instruction starts, or at the very end.
        let starts = Set(slots).union([totalSlots])

        // Pass 1: branch targets that can carry a label.
        var targets: [Int: Int] = [:]  // instruction index → target slot
        for (index, insn) in instructions.enumerated() {
            guard let distance = Self.branchDistance(insn), Self.canonicalText(insn) != nil else { continue }
            let target = slots[index] + 1 + Int(distance)
            if starts.contains(target) { targets[index] = target }
        }
        var labelNames: [Int: String] = [:]
        for (number, target) in Set(targets.values).sorted().enumerated() {
            labelNames[target] = "L\(number + 1)"
        }

        // Pass 2: the text.
        var lines: [String] = []
        var index = 0
        while index < instructions.count {
            if let label = labelNames[slots[index]] { lines.append("\(label):") }
            let insn = instructions[index]
            if index + 1 < instructions.count, labelNames[slots[index + 1]] == nil,
               let folded = foldedCall(insn, instructions[index + 1]) {
                lines.append(contentsOf: folded.map { "    " + $0 })
                index += 2
                continue
            }
            lines.append("    " + line(insn, target: targets[index].flatMap { labelNames[$0] }))
            index += 1
        }
        if let label = labelNames[totalSlots] { lines.append("\(label):") }
        return lines
    }

    /// `r1 = K` + `call 0x10…0x15` with K named: `call NAME` (for 0x14) or `r1 = @NAME` + the call.
    private func foldedCall(_ mov: BPFInstruction, _ call: BPFInstruction) -> [String]? {
        guard mov == .mov64(.r1, imm: mov.imm), mov.imm >= 0, let name = symbols[UInt32(mov.imm)],
              Self.isSymbolName(name),
              call == .call(helper: call.imm), call.imm >= ABI.fnCallFirst, call.imm <= ABI.fnCallLast
        else { return nil }
        if call.imm == ABI.fnCall { return ["call \(name)"] }
        return ["r1 = @\(name)", "call \(BPFDisassemblerHex.hex(Int64(call.imm)))"]
    }

    /// A name the assembler reads back as a program or chain (not a helper, `elem` or a keyword).
    /// `PACKAGE.NAME` too (a program by its package).
    static func isSymbolName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ part in
            guard let first = part.unicodeScalars.first, Lexer.isIdentifierStart(first) else { return false }
            return part.unicodeScalars.allSatisfy(Lexer.isIdentifierPart)
        }) else { return false }
        return VMHelper(name: name) == nil && name != "elem" && !LineParser.registerLike(name)
    }

    /// One instruction's line; `target` is the label of its branch target, if it has one.
    private func line(_ insn: BPFInstruction, target: String?) -> String {
        guard var text = Self.canonicalText(insn) else { return Self.raw(insn) }
        if insn == .call(helper: insn.imm) {
            if insn.imm == ABI.fnCall { return "call elem" }
            if let helper = VMHelper(rawValue: insn.imm) { return "call \(helper.name)" }
        }
        if let target, let space = text.lastIndex(of: " ") {
            text = String(text[..<space]) + " " + target
        }
        return text
    }

    /// objdump's text when it assembles back to exactly `insn`; nil otherwise.
    static func canonicalText(_ insn: BPFInstruction) -> String? {
        let text = insn.description
        guard text != "<unknown>", let assembled = ChainAssembler.assembleLine(text), assembled == [insn] else { return nil }
        return text
    }

    /// `.insn CODE, DST, SRC, OFF, IMM[, HIGH[, RESERVED]]`.
    static func raw(_ insn: BPFInstruction) -> String {
        var fields = ["0x" + String(insn.opcode, radix: 16), String(insn.dst), String(insn.src), String(insn.offset),
                      BPFDisassemblerHex.hex(Int64(insn.imm))]
        if let high = insn.imm64High {
            fields.append(BPFDisassemblerHex.hex(Int64(high)))
            if insn.wideReserved != 0 { fields.append("0x" + String(insn.wideReserved, radix: 16)) }
        }
        return ".insn " + fields.joined(separator: ", ")
    }

    /// Slot distance of a jump that gets a label: conditionals and `goto` (offset), `gotol` (imm).
    static func branchDistance(_ insn: BPFInstruction) -> Int64? {
        switch insn.instructionClass {
        case .jmp:
            switch insn.jumpOp {
            case .call, .exit, .jcond, nil: return nil
            default: return Int64(insn.offset)
            }
        case .jmp32:
            switch insn.jumpOp {
            case .ja: return Int64(insn.imm)
            case .call, .exit, .jcond, nil: return nil
            default: return Int64(insn.offset)
            }
        default:
            return nil
        }
    }
}
