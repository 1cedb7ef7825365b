import HikeErrors

/// The one error the service layer throws: what a caller (the CLI, the daemon, a test) reports
/// or maps to a status. Errors of the layers below keep their code, message and position.
public struct ControlError: HikeError {
    public var code: String
    public var message: String
    public var position: SourcePosition?
    /// The compiler's text for errors in a source file (`file:line:col: error: …`, the line and a
    /// caret, a count): printed as it is.
    public var diagnosticText: String?

    public init(code: String, message: String, position: SourcePosition? = nil, diagnosticText: String? = nil) {
        self.code = code
        self.message = message
        self.position = position
        self.diagnosticText = diagnosticText
    }

    /// Bad input that the request itself shows (no chain in the script, a device that is not
    /// there, …): nothing was changed.
    static func invalid(_ message: String, code: String = "request.invalid", position: SourcePosition? = nil) -> ControlError {
        ControlError(code: code, message: message, position: position)
    }

    /// Any error of the layers below, keeping what it says.
    public init(_ error: any Error) {
        switch error {
        case let error as ControlError: self = error
        case let error as any HikeError:
            self.init(code: error.code, message: error.diagnosticText == nil ? error.description : error.message, position: error.position,
                      diagnosticText: error.diagnosticText)
        default:
            self.init(code: "internal", message: String(describing: error))
        }
    }

    public var description: String { diagnosticText ?? message }

    /// Runs body; whatever it throws comes out as a ControlError.
    static func wrapping<T>(_ body: () throws -> T) throws(ControlError) -> T {
        do {
            return try body()
        } catch {
            throw ControlError(error)
        }
    }
}
