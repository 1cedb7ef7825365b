/// The chain assembler: a text format for writing HIKe VM chains by hand.
///
/// A file holds one or more chains. `chain NAME` starts a chain; the instructions follow, one per
/// line. `LABEL:` names the next instruction (it may share the line with it). `#` and `;` start a
/// comment that runs to the end of the line; blank lines are ignored.
///
/// Instructions are written in the LLVM BPF assembly that `BPFDisassembler` (and llvm-objdump)
/// prints, with decimal or hex numbers:
///
///     r1 = 0x5            w1 = w2            r1 = -1             r1 = 0x123456789 ll
///     r1 += r2            w1 s/= 3           r1 s>>= 4           r1 = -r1
///     r1 = (s8)r2         w1 = (s16)w2       r1 = be16 r1        r1 = bswap32 r1    r1 = le64 r1
///     r0 = *(u8 *)(r1 + 0x2)      w0 = *(u32 *)(r10 - 8)      r0 = *(s16 *)(r1 + 2)
///     *(u32 *)(r10 - 0x8) = w1    *(u64 *)(r10 - 8) = 42
///     if r1 > 0x3 goto +2         if w1 s< -5 goto done       if r1 == r2 goto -0x3
///     goto loop                   gotol far                   exit
///     call 0x20
///
/// Registers are r0–r10 (64-bit) and w0–w10 (their low 32 bits; an operation on w registers is
/// an ALU32/JMP32 instruction). A 64-bit operation's immediate is sign-extended, so it must lie
/// in -2^31 ..< 2^31; `ll` loads any 64-bit value (LD_IMM64, two slots). Jump targets are labels or
/// signed slot distances from the next instruction (`+2`, `-0x3`).
///
/// HIKe extensions:
///
/// - `call NAME`, where NAME is a VM helper (`pkt_read_u8` … `pkt_read_u64`, `pkt_write_u8` …
///   `pkt_write_u64`, `pkt_len`, `ktime_ns`, `random`, `cpu`), calls that helper.
/// - `call NAME` for any other NAME calls the program or chain NAME: two instructions,
///   `r1 = <ID of NAME>` and `call 0x14` (`HVM_FN_CALL`). The ID is filled in by `link`.
///   `call PACKAGE.NAME` names a program by its package (a chain named like a program shadows
///   the plain name; compiled eCLAT calls programs this way); `rN = @PACKAGE.NAME` likewise.
/// - `rN = @NAME` loads the ID of a program or chain (one 64-bit mov, linked).
/// - `call elem` is `call 0x14`: call the element whose ID is already in r1.
/// - `.insn CODE, DST, SRC, OFF, IMM` writes one raw slot; `.insn CODE, DST, SRC, OFF, IMM, HIGH`
///   (and an optional 7th field, the reserved bytes 8–11) a raw 16-byte instruction. The chain
///   disassembler uses it for slots that have no assembly text of their own.
///
/// Errors are reported as `file:line:col: error: message`, with the line and a caret; every error
/// of a file is reported in one run (`AssemblerError`).

import BPFInstructions

public enum ChainAssembler {
    /// Assembles every chain of `source`.
    /// - Throws: `AssemblerError` with every error of the file.
    public static func assemble(_ source: String, file: String = "<input>") throws(AssemblerError) -> [AssembledChain] {
        var chains: [AssembledChain] = []
        var diagnostics: [AssemblerDiagnostic] = []
        var current: ChainBuilder?
        var lineNumber = 0

        func finish() {
            guard let builder = current else { return }
            let (chain, errors) = builder.finish()
            diagnostics += errors
            chains.append(chain)
            current = nil
        }

        // "\r\n" is one Character in Swift: split on it as well as on "\n".
        let lines = source.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        for rawLine in lines {
            lineNumber += 1
            var text = String(rawLine)
            if text.hasSuffix("\r") { text.removeLast() }
            let context = LineContext(file: file, line: lineNumber, text: text)
            do throws(AssemblerDiagnostic) {
                let tokens = try Lexer.tokens(of: text, context: context)
                var parser = LineParser(tokens: tokens, context: context)
                let statement = try parser.statement()
                for label in statement.labels {
                    guard current != nil else {
                        throw context.error(at: label.column, "label '\(label.name)' outside a chain; start one with 'chain NAME'")
                    }
                    try current?.define(label: label.name, column: label.column, context: context)
                }
                switch statement.body {
                case .none:
                    break
                case let .chain(name, column):
                    finish()
                    // Assemble a duplicate anyway, so its lines are checked too.
                    current = ChainBuilder(name: name, file: file)
                    if chains.contains(where: { $0.name == name }) {
                        throw context.error(at: column, "duplicate chain '\(name)'")
                    }
                case let .instructions(pending, column):
                    guard current != nil else {
                        throw context.error(at: column, "instruction outside a chain; start one with 'chain NAME'")
                    }
                    current?.append(pending, context: context)
                }
            } catch {
                diagnostics.append(error)
            }
        }
        finish()
        if !diagnostics.isEmpty {
            // In source order (label errors are found at the end of their chain).
            let sorted = diagnostics.enumerated().sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }
            throw AssemblerError(diagnostics: sorted.map(\.element))
        }
        return chains
    }

    /// Assembles one line holding one instruction (numeric jump offsets only; `call NAME` of a
    /// program or chain gives its two instructions with an unresolved immediate). Nil on an error.
    static func assembleLine(_ text: String) -> [BPFInstruction]? {
        let context = LineContext(file: "<line>", line: 1, text: text)
        do throws(AssemblerDiagnostic) {
            var parser = LineParser(tokens: try Lexer.tokens(of: text, context: context), context: context)
            let statement = try parser.statement()
            guard statement.labels.isEmpty, case let .instructions(pending, _) = statement.body,
                  pending.allSatisfy({ $0.label == nil }) else { return nil }
            return pending.map(\.instruction)
        } catch {
            return nil
        }
    }
}

// MARK: - Building a chain

/// An instruction with what remains to resolve: a jump label, a program or chain name.
struct PendingInstruction {
    var instruction: BPFInstruction
    /// A jump to a label (the offset or, for gotol, the immediate gets its distance).
    var label: (name: String, column: Int)?
    var symbol: (name: String, column: Int)?
}

private struct ChainBuilder {
    let name: String
    let file: String
    var instructions: [BPFInstruction] = []
    var sourceLines: [Int] = []
    var relocations: [Relocation] = []
    var labels: [String: Int] = [:]
    var slot = 0
    /// Jumps to labels, resolved at the end: instruction index, slot, label, where.
    var fixups: [(index: Int, slot: Int, label: String, column: Int, context: LineContext)] = []

    init(name: String, file: String) {
        self.name = name
        self.file = file
    }

    mutating func define(label: String, column: Int, context: LineContext) throws(AssemblerDiagnostic) {
        guard labels[label] == nil else {
            throw context.error(at: column, "duplicate label '\(label)' in chain '\(name)'")
        }
        labels[label] = slot
    }

    mutating func append(_ pending: [PendingInstruction], context: LineContext) {
        let line = context.line
        for item in pending {
            let index = instructions.count
            if let label = item.label {
                fixups.append((index, slot, label.name, label.column, context))
            }
            if let symbol = item.symbol {
                relocations.append(Relocation(index: index, symbol: symbol.name, line: line, column: symbol.column,
                                              sourceText: context.text))
            }
            instructions.append(item.instruction)
            sourceLines.append(line)
            slot += item.instruction.slotCount
        }
    }

    func finish() -> (AssembledChain, [AssemblerDiagnostic]) {
        var chain = AssembledChain(name: name, file: file, instructions: instructions, relocations: relocations,
                                   sourceLines: sourceLines)
        var diagnostics: [AssemblerDiagnostic] = []
        for fixup in fixups {
            guard let target = labels[fixup.label] else {
                let known = labels.keys.sorted()
                diagnostics.append(fixup.context.error(
                    at: fixup.column,
                    "undefined label '\(fixup.label)' in chain '\(name)'"
                        + (known.isEmpty ? "" : "; labels: " + known.joined(separator: ", "))))
                continue
            }
            let distance = target - (fixup.slot + 1)
            var insn = chain.instructions[fixup.index]
            if insn.instructionClass == .jmp32 && insn.jumpOp == .ja {
                guard let imm = Int32(exactly: distance) else {
                    diagnostics.append(fixup.context.error(at: fixup.column, "label '\(fixup.label)' is too far away"))
                    continue
                }
                insn.imm = imm
            } else {
                guard let offset = Int16(exactly: distance) else {
                    diagnostics.append(fixup.context.error(
                        at: fixup.column, "label '\(fixup.label)' is \(distance) slots away, beyond a 16-bit jump offset; use gotol"))
                    continue
                }
                insn.offset = offset
            }
            chain.instructions[fixup.index] = insn
        }
        return (chain, diagnostics)
    }
}

/// Where a line came from, to make diagnostics.
struct LineContext {
    var file: String
    var line: Int
    var text: String

    func error(at column: Int, _ message: String) -> AssemblerDiagnostic {
        AssemblerDiagnostic(file: file, line: line, column: column, message: message, sourceLine: text)
    }
}
