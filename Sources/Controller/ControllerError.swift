import HikeErrors
import SRv6

/// What went wrong in the intent controller, said so that the user knows what to fix.
public enum ControllerError: HikeError, Equatable {
    /// Errors in a topology file, each `file:line:column: error: …`.
    case topology([ConfigurationDiagnostic])
    /// A path request that cannot be answered as asked (unknown intent, bad value, no such address).
    case request(String)
    /// An option or a metric the controller cannot take as given.
    case invalidArgument(String)
    /// The controller could not be reached, or refused the call.
    case unreachable(String)

    public var code: String {
        switch self {
        case .topology: "controller.topology"
        case .request: "controller.request"
        case .invalidArgument: "controller.invalid-argument"
        case .unreachable: "controller.unreachable"
        }
    }

    public var message: String {
        switch self {
        case .topology(let diagnostics): diagnostics.map(\.description).joined(separator: "\n")
        case .request(let message), .invalidArgument(let message), .unreachable(let message): message
        }
    }

    public var position: SourcePosition? {
        guard case .topology(let diagnostics) = self, let first = diagnostics.first, first.line > 0 else { return nil }
        return SourcePosition(file: first.file, line: first.line, column: first.column)
    }

    public var diagnosticText: String? {
        guard case .topology = self else { return nil }
        return message
    }

    public var description: String { message }
}
