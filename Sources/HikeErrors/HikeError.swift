/// Where in an input (an eCLAT script, a chain file, a YAML configuration) an error is.
public struct SourcePosition: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int?

    public init(file: String, line: Int, column: Int? = nil) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:col`, as compilers print it.
    public var description: String { "\(file):\(line)" + (column.map { ":\($0)" } ?? "") }
}

/// What every error hike reports says: a stable code a program can match on (`source`,
/// `runtime.no-free-slot`, …: dotted, the area first), a message for people, and the place in
/// the input where there is one. The daemon sends these three; the CLI prints the description.
public protocol HikeError: Error, Sendable, CustomStringConvertible {
    var code: String { get }
    var message: String { get }
    var position: SourcePosition? { get }
    /// For errors in an input file, the compiler-style text (`file:line:col: error: …`, the line
    /// and a caret) that is printed as it is, without an `error:` prefix.
    var diagnosticText: String? { get }
}

extension HikeError {
    public var position: SourcePosition? { nil }
    public var diagnosticText: String? { nil }
}
