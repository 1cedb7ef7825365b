// Diagnostics of the chain assembler and linker, in the compiler format editors understand.

import HikeErrors

/// One error at a place in a source file.
public struct AssemblerDiagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based line and column (columns count Unicode scalars).
    public var line: Int
    public var column: Int
    public var message: String
    /// The text of the line, shown under the message with a caret.
    public var sourceLine: String

    public init(file: String, line: Int, column: Int, message: String, sourceLine: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.sourceLine = sourceLine
    }

    /// `file:line:col: error: message`, the source line and a caret under the column.
    public var description: String {
        // Keep tabs in the caret's indentation so it lines up under tab-indented source.
        let prefix = sourceLine.unicodeScalars.prefix(max(0, column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
        return "\(file):\(line):\(column): error: \(message)\n\(sourceLine)\n\(prefix)^"
    }
}

/// Every error found in one run over a file (the assembler does not stop at the first).
public struct AssemblerError: Error, Hashable, Sendable, CustomStringConvertible {
    public var diagnostics: [AssemblerDiagnostic]

    public init(diagnostics: [AssemblerDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String {
        let count = diagnostics.count
        return diagnostics.map(\.description).joined(separator: "\n")
            + "\n\(count) error\(count == 1 ? "" : "s") generated."
    }
}

extension AssemblerError: HikeError {
    public var code: String { "source" }
    public var diagnosticText: String? { description }
    public var message: String { diagnostics.map(\.message).joined(separator: "\n") }
    /// The first error's place.
    public var position: SourcePosition? {
        diagnostics.first.map { SourcePosition(file: $0.file, line: $0.line, column: $0.column) }
    }
}
