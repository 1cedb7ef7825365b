import Foundation
import HikeErrors

/// A failed BPF operation: what was attempted, the errno the kernel or libbpf gave, what libbpf
/// said while doing it, and — when the verifier rejected a program — the verifier's log.
public struct BPFError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was attempted, e.g. `load object 'xdp_count'` or `attach XDP to veth0`.
    public let operation: String
    /// The errno, or 0 when the error is a misuse caught before any system call.
    public let errno: Int32
    /// libbpf's own messages during the operation, or an explanation of the misuse.
    public let message: String
    /// The verifier's log, when a program failed to load.
    public let verifierLog: String?

    public init(operation: String, errno: Int32, message: String = "", verifierLog: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.message = message
        self.verifierLog = verifierLog
    }

    /// A misuse of the API (wrong key size, unknown name …), reported before reaching the kernel.
    public static func invalid(_ operation: String, _ message: String) -> BPFError {
        BPFError(operation: operation, errno: EINVAL, message: message)
    }

    /// The error for the errno a libbpf call just left behind (`code` is its negative return
    /// value when it returned one).
    static func fromErrno(_ operation: String, code: Int32 = 0, messages: [String] = []) -> BPFError {
        let number = code < 0 ? -code : Glibc.errno
        return BPFError(operation: operation, errno: number, message: messages.joined(separator: "\n"))
    }

    public var errnoName: String { String(cString: strerror(errno)) }

    public var description: String {
        var text = "\(operation) failed"
        if errno != 0 { text += ": \(errnoName) (errno \(errno))" }
        let trimmed = message.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { text += "\n" + trimmed }
        if let log = verifierLog, !log.isEmpty {
            text += "\n--- verifier log ---\n" + log.trimmingCharacters(in: .newlines) + "\n--- end of verifier log ---"
        }
        return text
    }
}

extension BPFError: HikeError {
    /// `bpf.verifier` when the verifier rejected a program, `bpf.invalid` for a misuse caught
    /// before any system call, `bpf.kernel` for what the kernel or libbpf refused.
    public var code: String { verifierLog.map { !$0.isEmpty } == true ? "bpf.verifier" : errno == 0 ? "bpf.invalid" : "bpf.kernel" }
}
