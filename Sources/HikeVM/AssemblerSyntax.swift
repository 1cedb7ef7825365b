// The chain assembler's text: tokens of one line and the statements they form.

import BPFInstructions

// MARK: - Lexer

struct Token: Equatable {
    enum Kind: Equatable {
        case identifier, number, symbol, directive
    }

    var kind: Kind
    var text: String
    /// 1-based column of the first character.
    var column: Int
    /// Whether whitespace (or the line start) comes right before the token.
    var spaced: Bool
}

enum Lexer {
    /// Operators, longest first (maximal munch).
    static let operators = [
        "s>>=", "<<=", ">>=", "s>=", "s<=", "s/=", "s%=",
        "==", "!=", ">=", "<=", "+=", "-=", "*=", "/=", "|=", "&=", "%=", "^=", "s>", "s<",
        "=", ">", "<", "&", "*", "(", ")", "+", "-", ":", "@", ",",
    ].map { Array($0.unicodeScalars) }

    static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_"
    }

    static func isIdentifierPart(_ c: Unicode.Scalar) -> Bool {
        isIdentifierStart(c) || (c >= "0" && c <= "9")
    }

    static func tokens(of line: String, context: LineContext) throws(AssemblerDiagnostic) -> [Token] {
        let chars = Array(line.unicodeScalars)
        var tokens: [Token] = []
        var index = 0
        var spaced = true
        while index < chars.count {
            let c = chars[index]
            if c == " " || c == "\t" {
                index += 1
                spaced = true
                continue
            }
            if c == "#" || c == ";" { break }
            let start = index
            if c >= "0" && c <= "9" {
                while index < chars.count, isIdentifierPart(chars[index]) { index += 1 }
                tokens.append(Token(kind: .number, text: String(String.UnicodeScalarView(chars[start..<index])),
                                    column: start + 1, spaced: spaced))
            } else if c == ".", index + 1 < chars.count, isIdentifierStart(chars[index + 1]) {
                index += 1
                while index < chars.count, isIdentifierPart(chars[index]) { index += 1 }
                tokens.append(Token(kind: .directive, text: String(String.UnicodeScalarView(chars[start..<index])),
                                    column: start + 1, spaced: spaced))
            } else if let op = operators.first(where: { matches($0, chars, at: index) }),
                      // `s` starts an operator only where an identifier cannot continue it.
                      op.first != "s" || !(index + 1 < chars.count && isIdentifierPart(chars[index + 1])) {
                index += op.count
                tokens.append(Token(kind: .symbol, text: String(String.UnicodeScalarView(op)), column: start + 1,
                                    spaced: spaced))
            } else if isIdentifierStart(c) {
                while index < chars.count, isIdentifierPart(chars[index]) { index += 1 }
                tokens.append(Token(kind: .identifier, text: String(String.UnicodeScalarView(chars[start..<index])),
                                    column: start + 1, spaced: spaced))
            } else {
                throw context.error(at: start + 1, "unexpected character '\(c.escaped(asASCII: false))'")
            }
            spaced = false
        }
        return tokens
    }

    private static func matches(_ op: [Unicode.Scalar], _ chars: [Unicode.Scalar], at index: Int) -> Bool {
        guard index + op.count <= chars.count else { return false }
        for offset in 0..<op.count where chars[index + offset] != op[offset] { return false }
        return true
    }
}

// MARK: - Parser

/// What one line says.
struct Statement {
    enum Body {
        case none
        case chain(name: String, column: Int)
        case instructions([PendingInstruction], column: Int)
    }

    var labels: [(name: String, column: Int)] = []
    var body: Body = .none
}

/// A register operand: its number and whether it was written as w (32-bit).
struct RegisterOperand {
    var number: UInt8
    var is32: Bool
    var column: Int
    var register: BPFRegister { BPFRegister(rawValue: number) ?? .r0 }
}

/// A number as written: a sign and a magnitude.
struct NumberOperand {
    var negative: Bool
    var magnitude: UInt64
    var column: Int
    var text: String
}

struct LineParser {
    let tokens: [Token]
    let context: LineContext
    var position = 0

    init(tokens: [Token], context: LineContext) {
        self.tokens = tokens
        self.context = context
    }

    // MARK: Cursor

    var atEnd: Bool { position >= tokens.count }
    var peek: Token? { position < tokens.count ? tokens[position] : nil }
    func peek(_ ahead: Int) -> Token? { position + ahead < tokens.count ? tokens[position + ahead] : nil }
    /// Column for "expected …" at the end of the line.
    var endColumn: Int { context.text.unicodeScalars.count + 1 }
    var here: Int { peek?.column ?? endColumn }

    mutating func advance() -> Token? {
        defer { position += 1 }
        return peek
    }

    func error(_ message: String, at column: Int? = nil) -> AssemblerDiagnostic {
        context.error(at: column ?? here, message)
    }

    func describe(_ token: Token?) -> String {
        guard let token else { return "end of line" }
        return "'\(token.text)'"
    }

    mutating func accept(_ symbol: String) -> Bool {
        guard let token = peek, token.kind == .symbol, token.text == symbol else { return false }
        position += 1
        return true
    }

    mutating func expect(_ symbol: String, _ what: String? = nil) throws(AssemblerDiagnostic) {
        guard accept(symbol) else {
            throw error("expected '\(symbol)'\(what.map { " " + $0 } ?? "") but found \(describe(peek))")
        }
    }

    func expectEnd() throws(AssemblerDiagnostic) {
        guard let token = peek else { return }
        throw error("unexpected \(describe(token)) after the instruction", at: token.column)
    }

    // MARK: Statements

    mutating func statement() throws(AssemblerDiagnostic) -> Statement {
        var result = Statement()
        // Labels: `name:` at the start, possibly several, possibly followed by an instruction.
        while let token = peek, token.kind == .identifier, let colon = peek(1), colon.kind == .symbol, colon.text == ":" {
            if Self.parseRegister(token.text) != nil {
                throw error("a register name cannot be a label", at: token.column)
            }
            result.labels.append((token.text, token.column))
            position += 2
        }
        guard let first = peek else { return result }
        if first.kind == .identifier, first.text == "chain", let name = peek(1), name.kind == .identifier {
            position += 2
            try expectEnd()
            guard result.labels.isEmpty else { throw error("a label cannot stand before 'chain'", at: first.column) }
            result.body = .chain(name: name.text, column: name.column)
            return result
        }
        let pending = try instruction()
        try expectEnd()
        result.body = .instructions(pending, column: first.column)
        return result
    }

    mutating func instruction() throws(AssemblerDiagnostic) -> [PendingInstruction] {
        guard let first = peek else { return [] }
        switch (first.kind, first.text) {
        case (.directive, ".insn"):
            position += 1
            return [PendingInstruction(instruction: try rawInstruction())]
        case (.directive, _):
            throw error("unknown directive '\(first.text)'; the only one is '.insn'")
        case (.identifier, "chain"):
            throw error("expected a chain name after 'chain'", at: peek(1)?.column ?? endColumn)
        case (.identifier, "exit"):
            position += 1
            return [PendingInstruction(instruction: .exit)]
        case (.identifier, "goto"), (.identifier, "gotol"):
            position += 1
            let long = first.text == "gotol"
            return [try jumpTarget(long ? .gotol(imm: 0) : .ja(offset: 0), long: long)]
        case (.identifier, "call"):
            position += 1
            return try call()
        case (.identifier, "if"):
            position += 1
            return [try conditional()]
        case (.symbol, "*"):
            return [PendingInstruction(instruction: try store())]
        case (.identifier, _) where Self.registerLike(first.text):
            return try registerStatement()
        default:
            throw error("unknown instruction starting with \(describe(first)); "
                + "expected a register, '*(', 'if', 'goto', 'gotol', 'call', 'exit' or '.insn'")
        }
    }

    // MARK: Operands

    /// `r5` → (5, false), `w3` → (3, true); nil when the text is not of that shape.
    static func parseRegister(_ text: String) -> (number: Int, is32: Bool)? {
        guard registerLike(text), let number = Int(text.dropFirst()) else { return nil }
        return (number, text.first == "w")
    }

    static func registerLike(_ text: String) -> Bool {
        guard let first = text.first, first == "r" || first == "w", text.count >= 2, text.count <= 4 else { return false }
        return text.dropFirst().allSatisfy(\.isASCII) && text.dropFirst().allSatisfy(\.isNumber)
    }

    var peekIsRegister: Bool {
        guard let token = peek, token.kind == .identifier else { return false }
        return Self.registerLike(token.text)
    }

    mutating func register(_ role: String) throws(AssemblerDiagnostic) -> RegisterOperand {
        guard let token = peek, token.kind == .identifier, let (number, is32) = Self.parseRegister(token.text) else {
            throw error("expected \(role) register (r0–r10 or w0–w10) but found \(describe(peek))")
        }
        guard number <= 10 else {
            throw error("register \(token.text) does not exist; registers are r0–r10 (w0–w10)", at: token.column)
        }
        position += 1
        return RegisterOperand(number: UInt8(number), is32: is32, column: token.column)
    }

    /// An optionally signed number.
    mutating func number(_ what: String) throws(AssemblerDiagnostic) -> NumberOperand {
        let start = here
        var negative = false
        if accept("-") { negative = true } else { _ = accept("+") }
        guard let token = peek, token.kind == .number else {
            throw error("expected \(what) but found \(describe(peek))")
        }
        position += 1
        guard let magnitude = Self.parseNumber(token.text) else {
            throw error("invalid number '\(token.text)' (decimal or 0x hex, at most 64 bits)", at: token.column)
        }
        return NumberOperand(negative: negative, magnitude: magnitude, column: start,
                             text: (negative ? "-" : "") + token.text)
    }

    static func parseNumber(_ text: String) -> UInt64? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") { return lower.count > 2 ? UInt64(lower.dropFirst(2), radix: 16) : nil }
        return UInt64(lower, radix: 10)
    }

    var peekIsNumber: Bool {
        guard let token = peek else { return false }
        if token.kind == .number { return true }
        if token.kind == .symbol, token.text == "-" || token.text == "+", peek(1)?.kind == .number { return true }
        return false
    }

    /// A 32-bit immediate field. `unsigned` also accepts 2^31 ..< 2^32 (32-bit operations, where
    /// only the low 32 bits matter); otherwise the value is sign-extended and must be in Int32 range.
    func imm32(_ value: NumberOperand, unsigned: Bool, what: String = "immediate") throws(AssemblerDiagnostic) -> Int32 {
        if value.negative {
            guard value.magnitude <= 1 << 31 else {
                throw error("\(what) \(value.text) does not fit in 32 bits", at: value.column)
            }
            return Int32(truncatingIfNeeded: 0 &- Int64(value.magnitude))
        }
        if value.magnitude <= UInt64(Int32.max) { return Int32(value.magnitude) }
        guard unsigned, value.magnitude <= UInt64(UInt32.max) else {
            if value.magnitude <= UInt64(UInt32.max) {
                throw error("\(what) \(value.text) does not fit a sign-extended 32-bit immediate (it would become "
                    + "\(BPFDisassemblerHex.hex(Int64(Int32(truncatingIfNeeded: value.magnitude))))); "
                    + "write the negative value, or use 'rN = \(value.text) ll' for a 64-bit constant", at: value.column)
            }
            throw error("\(what) \(value.text) does not fit in 32 bits; use 'rN = \(value.text) ll' for a 64-bit constant",
                        at: value.column)
        }
        return Int32(bitPattern: UInt32(value.magnitude))
    }

    func imm64(_ value: NumberOperand) throws(AssemblerDiagnostic) -> Int64 {
        if value.negative {
            guard value.magnitude <= 1 << 63 else {
                throw error("immediate \(value.text) does not fit in 64 bits", at: value.column)
            }
            return Int64(bitPattern: 0 &- value.magnitude)
        }
        return Int64(bitPattern: value.magnitude)
    }

    func checkWidths(_ dst: RegisterOperand, _ src: RegisterOperand) throws(AssemblerDiagnostic) {
        guard dst.is32 == src.is32 else {
            throw error("mixed register widths: both operands must be r (64-bit) or w (32-bit) registers", at: src.column)
        }
    }

    // MARK: Instructions

    /// `rD …` statements: moves, ALU operations, loads, byte swaps.
    mutating func registerStatement() throws(AssemblerDiagnostic) -> [PendingInstruction] {
        let dst = try register("destination")
        guard let op = peek, op.kind == .symbol else {
            throw error("expected an operator ('=', '+=', …) after \(dst.is32 ? "w" : "r")\(dst.number) but found \(describe(peek))")
        }
        position += 1
        if op.text == "=" {
            return try assignment(dst)
        }
        let aluOp: BPFALUOp
        var signed = false
        switch op.text {
        case "+=": aluOp = .add
        case "-=": aluOp = .sub
        case "*=": aluOp = .mul
        case "/=": aluOp = .div
        case "s/=": aluOp = .div; signed = true
        case "%=": aluOp = .mod
        case "s%=": aluOp = .mod; signed = true
        case "|=": aluOp = .or
        case "&=": aluOp = .and
        case "^=": aluOp = .xor
        case "<<=": aluOp = .lsh
        case ">>=": aluOp = .rsh
        case "s>>=": aluOp = .arsh
        default:
            throw error("unknown operator '\(op.text)'; expected =, +=, -=, *=, /=, s/=, %=, s%=, |=, &=, ^=, <<=, >>= or s>>=",
                        at: op.column)
        }
        var insn: BPFInstruction
        if peekIsRegister {
            let src = try register("source")
            try checkWidths(dst, src)
            insn = dst.is32 ? .alu32(aluOp, dst: dst.register, src: src.register) : .alu64(aluOp, dst: dst.register, src: src.register)
        } else {
            let value = try number("a register or a number")
            let imm = try imm32(value, unsigned: dst.is32)
            insn = dst.is32 ? .alu32(aluOp, dst: dst.register, imm: imm) : .alu64(aluOp, dst: dst.register, imm: imm)
        }
        if signed { insn.offset = 1 }
        return [PendingInstruction(instruction: insn)]
    }

    /// `rD = …`.
    mutating func assignment(_ dst: RegisterOperand) throws(AssemblerDiagnostic) -> [PendingInstruction] {
        // rD = rS
        if peekIsRegister {
            let src = try register("source")
            try checkWidths(dst, src)
            return [PendingInstruction(instruction: dst.is32 ? .mov32(dst.register, src.register) : .mov64(dst.register, src.register))]
        }
        // rD = -rD (neg)
        if peek?.text == "-", peek?.kind == .symbol, let next = peek(1), next.kind == .identifier, Self.registerLike(next.text) {
            position += 1
            let src = try register("negated")
            try checkWidths(dst, src)
            guard src.number == dst.number else {
                throw error("neg works in place: write '\(dst.is32 ? "w" : "r")\(dst.number) = -\(dst.is32 ? "w" : "r")\(dst.number)'",
                            at: src.column)
            }
            return [PendingInstruction(instruction: dst.is32 ? .neg32(dst.register) : .neg64(dst.register))]
        }
        // rD = 5, rD = 5 ll
        if peekIsNumber {
            let value = try number("a number")
            if let token = peek, token.kind == .identifier, token.text == "ll" {
                position += 1
                guard !dst.is32 else { throw error("'ll' loads a 64-bit value: use an r register", at: dst.column) }
                return [PendingInstruction(instruction: .ldImm64(dst: dst.register, imm: try imm64(value)))]
            }
            let imm = try imm32(value, unsigned: dst.is32)
            return [PendingInstruction(instruction: dst.is32 ? .mov32(dst.register, imm: imm) : .mov64(dst.register, imm: imm))]
        }
        // rD = @NAME
        if accept("@") {
            guard let name = peek, name.kind == .identifier else {
                throw error("expected a program or chain name after '@' but found \(describe(peek))")
            }
            position += 1
            guard !dst.is32 else { throw error("'@\(name.text)' loads an ID into an r register", at: dst.column) }
            return [PendingInstruction(instruction: .mov64(dst.register, imm: 0), symbol: (qualified(name), name.column))]
        }
        // rD = (s8)rS
        if peek?.text == "(", peek?.kind == .symbol {
            position += 1
            guard let width = peek, width.kind == .identifier, ["s8", "s16", "s32"].contains(width.text) else {
                throw error("expected s8, s16 or s32 in a sign-extending move but found \(describe(peek))")
            }
            position += 1
            try expect(")")
            let src = try register("source")
            try checkWidths(dst, src)
            let bits = Int16(width.text.dropFirst()) ?? 8
            if dst.is32 {
                guard bits != 32 else { throw error("(s32) needs 64-bit registers: 'r\(dst.number) = (s32)r\(src.number)'", at: width.column) }
                return [PendingInstruction(instruction: .movsx32(dst.register, src.register, bits: bits))]
            }
            return [PendingInstruction(instruction: .movsx64(dst.register, src.register, bits: bits))]
        }
        // rD = *(u8 *)(rS + off)
        if peek?.text == "*", peek?.kind == .symbol {
            return [PendingInstruction(instruction: try load(dst))]
        }
        // rD = be16 rD
        if let token = peek, token.kind == .identifier, let swap = Self.byteSwap(token.text) {
            position += 1
            let src = try register("swapped")
            guard src.number == dst.number else {
                throw error("byte swaps work in place: write 'r\(dst.number) = \(token.text) r\(dst.number)'", at: src.column)
            }
            return [PendingInstruction(instruction: .byteSwap(swap.kind, dst.register, bits: swap.bits))]
        }
        throw error("expected a register, a number, '-', '@NAME', '(s8)', '*(' or a byte swap after '=' but found \(describe(peek))")
    }

    static func byteSwap(_ text: String) -> (kind: BPFByteSwap, bits: Int32)? {
        for (prefix, kind) in [("bswap", BPFByteSwap.bswap), ("be", .toBE), ("le", .toLE)] where text.hasPrefix(prefix) {
            guard let bits = Int32(text.dropFirst(prefix.count)), [16, 32, 64].contains(bits) else { return nil }
            return (kind, bits)
        }
        return nil
    }

    /// `*(u32 *)` → size and signedness.
    mutating func sizeCast() throws(AssemblerDiagnostic) -> (size: BPFSize, signed: Bool, column: Int) {
        try expect("*")
        try expect("(")
        guard let token = peek, token.kind == .identifier,
              let size = ["u8": BPFSize.b, "u16": .h, "u32": .w, "u64": .dw, "s8": .b, "s16": .h, "s32": .w][token.text]
        else {
            throw error("expected u8, u16, u32, u64, s8, s16 or s32 but found \(describe(peek))")
        }
        position += 1
        try expect("*")
        try expect(")")
        return (size, token.text.hasPrefix("s"), token.column)
    }

    /// `(rN + off)` / `(rN - off)` / `(rN)`.
    mutating func address() throws(AssemblerDiagnostic) -> (base: RegisterOperand, offset: Int16) {
        try expect("(")
        let base = try register("base")
        guard !base.is32 else { throw error("a base address is a 64-bit register: r\(base.number)", at: base.column) }
        var offset: Int16 = 0
        if let sign = peek, sign.kind == .symbol, sign.text == "+" || sign.text == "-" {
            position += 1
            let value = try number("an offset")
            let negative = (sign.text == "-") != value.negative
            let signed: Int64? = negative
                ? (value.magnitude <= 0x8000 ? -Int64(value.magnitude) : nil)
                : (value.magnitude <= 0x7fff ? Int64(value.magnitude) : nil)
            guard let signed, let fits = Int16(exactly: signed) else {
                throw error("offset \(sign.text)\(value.text) does not fit in 16 bits (-32768 ... 32767)", at: value.column)
            }
            offset = fits
        }
        try expect(")")
        return (base, offset)
    }

    mutating func load(_ dst: RegisterOperand) throws(AssemblerDiagnostic) -> BPFInstruction {
        let cast = try sizeCast()
        if dst.is32, cast.size == .dw {
            throw error("a 64-bit load needs an r register", at: dst.column)
        }
        let (base, offset) = try address()
        if cast.signed {
            return .loadSigned(size: cast.size, dst: dst.register, src: base.register, offset: offset)
        }
        return .load(size: cast.size, dst: dst.register, src: base.register, offset: offset)
    }

    mutating func store() throws(AssemblerDiagnostic) -> BPFInstruction {
        let cast = try sizeCast()
        guard !cast.signed else {
            throw error("stores use u8, u16, u32 or u64", at: cast.column)
        }
        let (base, offset) = try address()
        try expect("=", "in a store")
        if peekIsRegister {
            let src = try register("stored")
            if src.is32, cast.size == .dw { throw error("a 64-bit store takes an r register", at: src.column) }
            return .store(size: cast.size, dst: base.register, offset: offset, src: src.register)
        }
        let value = try number("a register or a number to store")
        // The immediate is sign-extended to 64 bits, then truncated to the access size.
        let imm = try imm32(value, unsigned: cast.size != .dw)
        return .store(size: cast.size, dst: base.register, offset: offset, imm: imm)
    }

    /// `goto +2`, `goto label`: `insn` gets the distance (a fixup for labels).
    mutating func jumpTarget(_ insn: BPFInstruction, long: Bool) throws(AssemblerDiagnostic) -> PendingInstruction {
        var insn = insn
        if let token = peek, token.kind == .identifier {
            position += 1
            return PendingInstruction(instruction: insn, label: (token.text, token.column))
        }
        guard let sign = peek, sign.kind == .symbol, sign.text == "+" || sign.text == "-" else {
            if peek?.kind == .number {
                throw error("a jump distance needs a sign: '+\(peek?.text ?? "")' or '-\(peek?.text ?? "")' slots from the next instruction")
            }
            throw error("expected a label or a signed distance ('+2', '-0x3') but found \(describe(peek))")
        }
        let value = try number("a jump distance")
        if long {
            insn.imm = try imm32(value, unsigned: false, what: "jump distance")
        } else {
            let distance = value.negative ? -Int64(min(value.magnitude, 1 << 20)) : Int64(min(value.magnitude, 1 << 20))
            guard let offset = Int16(exactly: distance) else {
                throw error("jump distance \(value.text) does not fit in 16 bits; use gotol", at: value.column)
            }
            insn.offset = offset
        }
        return PendingInstruction(instruction: insn)
    }

    mutating func conditional() throws(AssemblerDiagnostic) -> PendingInstruction {
        let dst = try register("compared")
        guard let op = peek, op.kind == .symbol else {
            throw error("expected a comparison (==, !=, >, >=, <, <=, s>, s>=, s<, s<=, &) but found \(describe(peek))")
        }
        let jumpOp: BPFJumpOp
        switch op.text {
        case "==": jumpOp = .jeq
        case "!=": jumpOp = .jne
        case ">": jumpOp = .jgt
        case ">=": jumpOp = .jge
        case "<": jumpOp = .jlt
        case "<=": jumpOp = .jle
        case "s>": jumpOp = .jsgt
        case "s>=": jumpOp = .jsge
        case "s<": jumpOp = .jslt
        case "s<=": jumpOp = .jsle
        case "&": jumpOp = .jset
        default:
            throw error("unknown comparison '\(op.text)'; expected ==, !=, >, >=, <, <=, s>, s>=, s<, s<= or &", at: op.column)
        }
        position += 1
        let insn: BPFInstruction
        if peekIsRegister {
            let src = try register("compared")
            try checkWidths(dst, src)
            insn = dst.is32 ? .jump32(jumpOp, dst: dst.register, src: src.register, offset: 0)
                : .jump(jumpOp, dst: dst.register, src: src.register, offset: 0)
        } else {
            let value = try number("a register or a number")
            let imm = try imm32(value, unsigned: dst.is32)
            insn = dst.is32 ? .jump32(jumpOp, dst: dst.register, imm: imm, offset: 0)
                : .jump(jumpOp, dst: dst.register, imm: imm, offset: 0)
        }
        guard let keyword = peek, keyword.kind == .identifier, keyword.text == "goto" else {
            throw error("expected 'goto' after the comparison but found \(describe(peek))")
        }
        position += 1
        return try jumpTarget(insn, long: false)
    }

    /// NAME, or `PACKAGE.NAME` (a program by its package, which no chain name shadows) when a
    /// `.NAME` follows without a space.
    mutating func qualified(_ name: Token) -> String {
        guard let member = peek, member.kind == .directive, !member.spaced else { return name.text }
        position += 1
        return name.text + member.text
    }

    mutating func call() throws(AssemblerDiagnostic) -> [PendingInstruction] {
        if peekIsNumber {
            let value = try number("a call number")
            return [PendingInstruction(instruction: .call(helper: try imm32(value, unsigned: true, what: "call number")))]
        }
        guard let name = peek, name.kind == .identifier else {
            throw error("expected a helper, program or chain name, 'elem' or a number after 'call' but found \(describe(peek))")
        }
        position += 1
        if name.text == "elem" { return [PendingInstruction(instruction: .call(helper: ABI.fnCall))] }
        if let helper = VMHelper(name: name.text) { return [PendingInstruction(instruction: .call(helper: helper.rawValue))] }
        return [
            PendingInstruction(instruction: .mov64(.r1, imm: 0), symbol: (qualified(name), name.column)),
            PendingInstruction(instruction: .call(helper: ABI.fnCall)),
        ]
    }

    /// `.insn CODE, DST, SRC, OFF, IMM [, HIGH [, RESERVED]]`.
    mutating func rawInstruction() throws(AssemblerDiagnostic) -> BPFInstruction {
        var fields: [NumberOperand] = []
        repeat {
            fields.append(try number("a field of .insn"))
        } while accept(",")
        guard fields.count >= 5, fields.count <= 7 else {
            throw error(".insn takes CODE, DST, SRC, OFF, IMM and, for a 16-byte instruction, HIGH and RESERVED: "
                + "\(fields.count) field\(fields.count == 1 ? "" : "s") given", at: fields.first?.column)
        }
        func unsigned(_ field: NumberOperand, max: UInt64, _ name: String) throws(AssemblerDiagnostic) -> UInt64 {
            guard !field.negative || field.magnitude == 0, field.magnitude <= max else {
                throw error("\(name) \(field.text) is out of range 0 ... \(max)", at: field.column)
            }
            return field.magnitude
        }
        let code = try unsigned(fields[0], max: 0xff, "opcode")
        let dst = try unsigned(fields[1], max: 15, "dst register field")
        let src = try unsigned(fields[2], max: 15, "src register field")
        let offsetField = fields[3]
        let offsetValue: Int64 = offsetField.negative ? -Int64(min(offsetField.magnitude, 1 << 20)) : Int64(min(offsetField.magnitude, 1 << 20))
        guard offsetValue >= -0x8000, offsetValue <= 0xffff else {
            throw error("offset \(offsetField.text) does not fit in 16 bits", at: offsetField.column)
        }
        let offset = Int16(truncatingIfNeeded: offsetValue)
        let imm = try imm32(fields[4], unsigned: true)
        var high: Int32?
        var reserved: UInt32 = 0
        if fields.count >= 6 { high = try imm32(fields[5], unsigned: true, what: "upper immediate") }
        if fields.count == 7 { reserved = UInt32(try unsigned(fields[6], max: UInt64(UInt32.max), "reserved field")) }
        return BPFInstruction(opcode: UInt8(code), dst: UInt8(dst), src: UInt8(src), offset: offset, imm: imm,
                              imm64High: high, wideReserved: reserved)
    }
}
