// The eCLAT lexer: Python-like lines, indentation as INDENT/DEDENT, `;` as a line break,
// `#` comments, backslash continuation, and no line breaks inside brackets. See docs/eclat.md.

import HikeVM

/// A 1-based place in the source (columns count Unicode scalars).
public struct SourceLocation: Hashable, Sendable, Comparable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

enum TokenKind: Hashable, Sendable {
    case name(String)
    case integer(UInt64)
    case string(String)
    case op(String)
    case newline
    case indent
    case dedent
    case end
}

struct Token: Sendable {
    var kind: TokenKind
    var location: SourceLocation

    var text: String {
        switch kind {
        case .name(let n): "'\(n)'"
        case .integer(let v): "'\(v)'"
        case .string(let s): "'\"\(s)\"'"
        case .op(let o): "'\(o)'"
        case .newline: "end of line"
        case .indent: "indentation"
        case .dedent: "end of block"
        case .end: "end of file"
        }
    }
}

/// Collects diagnostics for one source file.
struct DiagnosticSink {
    let file: String
    let lines: [String]
    var diagnostics: [AssemblerDiagnostic] = []
    /// Lines with a lexical error: the parser's follow-on errors there would only repeat it.
    var quietLines: Set<Int> = []
    /// `-D` names the source used.
    var usedDefines: Set<String> = []

    init(file: String, source: String) {
        self.file = file
        // Split on scalars: "\r\n" is one Character, so a Character split would miss CRLF lines.
        lines = source.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var view = String.UnicodeScalarView(line)
            if view.last == "\r" { view.removeLast() }
            return String(view)
        }
    }

    mutating func error(_ location: SourceLocation, _ message: String) {
        // Clamp into the file so every diagnostic points at a real place (the fuzz test checks it).
        let line = min(max(location.line, 1), max(lines.count, 1))
        let text = lines.indices.contains(line - 1) ? lines[line - 1] : ""
        let column = min(max(location.column, 1), text.unicodeScalars.count + 1)
        let diagnostic = AssemblerDiagnostic(file: file, line: line, column: column, message: message, sourceLine: text)
        if !diagnostics.contains(diagnostic) { diagnostics.append(diagnostic) }
    }
}

struct Lexer {
    static let operators3 = ["<<=", ">>="]
    static let operators2 = ["==", "!=", "<=", ">=", "<<", ">>", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^="]
    static let operators1 = Set("+-*/%&|^~<>=()[]{},:.".unicodeScalars)
    /// The original's boolean literals (lower case, as it spelled them).
    static let booleans: [String: UInt64] = ["true": 1, "false": 0]

    /// Tokens of `source`; `-D` names are replaced by their values (identifiers, and strings whose
    /// whole text is a defined name).
    static func tokens(_ source: String, defines: [String: String], sink: inout DiagnosticSink) -> [Token] {
        var tokens: [Token] = []
        var indents: [Int] = [0]
        var depth = 0  // open brackets: no line structure inside them
        var atLineStart = true
        var continued = false  // the previous physical line ended with a backslash
        let lines = sink.lines
        for (lineIndex, lineText) in lines.enumerated() {
            let line = lineIndex + 1
            let s = Array(lineText.unicodeScalars)
            var i = 0
            func loc(_ at: Int) -> SourceLocation { SourceLocation(line: line, column: at + 1) }
            // Indentation only counts on a fresh logical line outside brackets.
            if atLineStart && depth == 0 && !continued {
                var width = 0
                while i < s.count, s[i] == " " || s[i] == "\t" {
                    // The original replaced every tab by four spaces before counting.
                    width += s[i] == "\t" ? 4 : 1
                    i += 1
                }
                if i == s.count || s[i] == "#" { continue }  // blank or comment-only line
                let current = indents.last ?? 0
                if width > current {
                    indents.append(width)
                    tokens.append(Token(kind: .indent, location: loc(i)))
                } else if width < current {
                    while let last = indents.last, last > width {
                        indents.removeLast()
                        tokens.append(Token(kind: .dedent, location: loc(i)))
                    }
                    if (indents.last ?? 0) != width {
                        sink.error(loc(i), "unindent does not match any outer indentation level")
                        sink.quietLines.insert(line)
                    }
                }
            }
            continued = false
            atLineStart = false
            while i < s.count {
                let c = s[i]
                if c == " " || c == "\t" || c == "\r" { i += 1; continue }
                if c == "#" { break }
                if c == "\\" {
                    if s[(i + 1)...].allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) {
                        continued = true
                        break
                    }
                    sink.error(loc(i), "a backslash continues a line only at its end")
                    i += 1
                    continue
                }
                if c == ";" {
                    if depth == 0, let last = tokens.last, last.kind != .newline, last.kind != .indent, last.kind != .dedent {
                        tokens.append(Token(kind: .newline, location: loc(i)))
                    }
                    i += 1
                    continue
                }
                if isIdentifierStart(c) {
                    let start = i
                    while i < s.count, isIdentifierPart(s[i]) { i += 1 }
                    let word = string(s[start..<i])
                    if let value = defines[word] {
                        sink.usedDefines.insert(word)
                        tokens.append(substitute(value, at: loc(start)))
                    } else if let value = booleans[word] {
                        tokens.append(Token(kind: .integer(value), location: loc(start)))
                    } else {
                        tokens.append(Token(kind: .name(word), location: loc(start)))
                    }
                    continue
                }
                if isDigit(c) {
                    let start = i
                    while i < s.count, isIdentifierPart(s[i]) { i += 1 }
                    let word = string(s[start..<i])
                    if let value = parseInteger(word) {
                        tokens.append(Token(kind: .integer(value), location: loc(start)))
                    } else {
                        sink.error(loc(start), "invalid integer '\(word)' (decimal, 0x hex or 0b binary, at most 64 bits)")
                        tokens.append(Token(kind: .integer(0), location: loc(start)))
                    }
                    continue
                }
                if c == "'" || c == "\"" {
                    let start = i
                    if i + 2 < s.count, s[i + 1] == c, s[i + 2] == c {
                        // A triple-quoted string: on one line, as the original's lexer took it.
                        var end = i + 3
                        while end + 2 < s.count, !(s[end] == c && s[end + 1] == c && s[end + 2] == c) { end += 1 }
                        guard end + 2 < s.count else {
                            sink.error(loc(start), "unterminated triple-quoted string (it must close on the line it opens, as in the original)")
                            sink.quietLines.insert(line)
                            break
                        }
                        tokens.append(Token(kind: .string(string(s[(i + 3)..<end])), location: loc(start)))
                        i = end + 3
                        continue
                    }
                    i += 1
                    while i < s.count, s[i] != c { i += 1 }
                    if i >= s.count {
                        sink.error(loc(start), "unterminated string")
                        sink.quietLines.insert(line)
                        break
                    }
                    let text = string(s[(start + 1)..<i])
                    i += 1
                    if defines[text] != nil { sink.usedDefines.insert(text) }
                    tokens.append(Token(kind: .string(defines[text] ?? text), location: loc(start)))
                    continue
                }
                let rest3 = string(s[i..<min(i + 3, s.count)])
                if let op = operators3.first(where: { rest3.hasPrefix($0) }) ?? operators2.first(where: { rest3.hasPrefix($0) }) {
                    tokens.append(Token(kind: .op(op), location: loc(i)))
                    i += op.unicodeScalars.count
                    continue
                }
                if operators1.contains(c) {
                    if c == "(" || c == "[" || c == "{" { depth += 1 }
                    if c == ")" || c == "]" || c == "}" { depth = max(0, depth - 1) }
                    tokens.append(Token(kind: .op(String(c)), location: loc(i)))
                    i += 1
                    continue
                }
                sink.quietLines.insert(line)
                sink.error(loc(i), "unexpected character '\(String(c).debugDescription.dropFirst().dropLast())'")
                i += 1
            }
            if continued || depth > 0 { continue }
            // End of a logical line: one NEWLINE after its last token.
            if let last = tokens.last, last.kind != .newline, last.kind != .indent, last.kind != .dedent {
                tokens.append(Token(kind: .newline, location: loc(s.count)))
            }
            atLineStart = true
        }
        let endLine = max(lines.count, 1)
        let endColumn = (lines.last?.unicodeScalars.count ?? 0) + 1
        let endLocation = SourceLocation(line: endLine, column: endColumn)
        if depth > 0 { sink.error(endLocation, "unclosed bracket at the end of the file") }
        if let last = tokens.last, last.kind != .newline, last.kind != .dedent, last.kind != .indent {
            tokens.append(Token(kind: .newline, location: endLocation))
        }
        while indents.count > 1 {
            indents.removeLast()
            tokens.append(Token(kind: .dedent, location: endLocation))
        }
        tokens.append(Token(kind: .end, location: endLocation))
        return tokens
    }

    static func substitute(_ value: String, at location: SourceLocation) -> Token {
        let trimmed = value.trimmingSpaces
        if let number = parseInteger(trimmed) { return Token(kind: .integer(number), location: location) }
        if trimmed.hasPrefix("-"), let number = parseInteger(String(trimmed.dropFirst())) {
            // A negative value: the two's complement bit pattern, like the literal `-N` folds to.
            return Token(kind: .integer(0 &- number), location: location)
        }
        if isIdentifier(trimmed) { return Token(kind: .name(trimmed), location: location) }
        return Token(kind: .string(value), location: location)
    }

    static func parseInteger(_ word: String) -> UInt64? {
        let lower = word.lowercased().replacingUnderscores
        if lower.hasPrefix("0x") { return UInt64(lower.dropFirst(2), radix: 16) }
        if lower.hasPrefix("0b") { return UInt64(lower.dropFirst(2), radix: 2) }
        guard !lower.isEmpty, lower.unicodeScalars.allSatisfy(isDigit) else { return nil }
        return UInt64(lower, radix: 10)
    }

    static func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
    static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" }
    static func isIdentifierPart(_ c: Unicode.Scalar) -> Bool { isIdentifierStart(c) || isDigit(c) }

    public static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isIdentifierStart(first) else { return false }
        return text.unicodeScalars.allSatisfy(isIdentifierPart)
    }

    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }

    var replacingUnderscores: String { String(filter { $0 != "_" }) }
}
