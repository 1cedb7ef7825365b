import HikeErrors
import SRv6

/// What went wrong in hike wing, said so that the user knows what to fix.
public enum WingError: HikeError, Equatable {
    /// Errors in a configuration file, each `file:line:column: error: …`.
    case configuration([ConfigurationDiagnostic])
    /// A request that cannot be carried out as asked (an interface already served, none served).
    case state(String)
    /// The kernel refused a change; what had been changed was undone.
    case kernel(String)
    /// The intent controller's stream failed or sent what cannot be used.
    case controller(String)
    /// An option hike wing cannot carry out as given.
    case invalidArgument(String)

    public var code: String {
        switch self {
        case .configuration: "wing.configuration"
        case .state: "wing.state"
        case .kernel: "wing.kernel"
        case .controller: "wing.controller"
        case .invalidArgument: "wing.invalid-argument"
        }
    }

    public var message: String {
        switch self {
        case .configuration(let diagnostics): diagnostics.map(\.description).joined(separator: "\n")
        case .state(let message), .kernel(let message), .controller(let message), .invalidArgument(let message): message
        }
    }

    public var position: SourcePosition? {
        guard case .configuration(let diagnostics) = self, let first = diagnostics.first, first.line > 0 else { return nil }
        return SourcePosition(file: first.file, line: first.line, column: first.column)
    }

    public var diagnosticText: String? {
        guard case .configuration = self else { return nil }
        return message
    }

    public var description: String { message }
}
