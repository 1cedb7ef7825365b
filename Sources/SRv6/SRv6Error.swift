import HikeErrors
import NetKit

/// What went wrong in the SRv6 module, said so that the user knows what to fix.
public enum SRv6Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// A value that does not parse or is out of range (an address, a prefix, a length).
    case invalidValue(String)
    /// Bytes that are not a well-formed Segment Routing Header (RFC 8754).
    case malformedSRH(String)
    /// Errors in a configuration file, each `file:line:column: error: …` (line 0 when Yams gave no mark).
    case configuration([ConfigurationDiagnostic])
    /// The kernel or the HIKe runtime refused a change; what had been changed was rolled back.
    case apply(String)
    /// Reading the state of an instance failed.
    case state(String)

    public var description: String {
        switch self {
        case .invalidValue(let message): message
        case .malformedSRH(let message): "malformed SRH: \(message)"
        case .configuration(let diagnostics): diagnostics.map(\.description).joined(separator: "\n")
        case .apply(let message): "srv6 apply: \(message)"
        case .state(let message): "srv6: \(message)"
        }
    }
}

/// One error in a configuration file, where Yams says it is.
public struct ConfigurationDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    public let message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        line > 0 ? "\(file):\(line):\(column): error: \(message)" : "\(file): error: \(message)"
    }

    /// The text of a configuration file, or the diagnostic that says why it cannot be read.
    public static func readFile(_ path: String) -> Result<String, ConfigurationDiagnostic> {
        do {
            return .success(try String(contentsOfFile: path, encoding: .utf8))
        } catch {
            return .failure(ConfigurationDiagnostic(file: path, line: 0, column: 0,
                                                    message: "cannot read the file: \(error.localizedDescription)"))
        }
    }
}

extension SRv6Error: HikeError {
    public var code: String {
        switch self {
        case .invalidValue: "srv6.invalid-value"
        case .malformedSRH: "srv6.malformed-srh"
        case .configuration: "srv6.configuration"
        case .apply: "srv6.apply"
        case .state: "srv6.state"
        }
    }
    public var message: String { description }
    public var diagnosticText: String? {
        if case .configuration = self { return description }
        return nil
    }
    /// The first configuration error's place.
    public var position: SourcePosition? {
        guard case .configuration(let diagnostics) = self, let first = diagnostics.first, first.line > 0 else { return nil }
        return SourcePosition(file: first.file, line: first.line, column: first.column)
    }
}

extension SRv6Error {
    /// An address or prefix parsed inside the SRv6 module: its error becomes invalidValue.
    static func parsing<T>(_ body: () throws(AddressError) -> T) throws(SRv6Error) -> T {
        do { return try body() } catch { throw .invalidValue(error.message) }
    }
}
