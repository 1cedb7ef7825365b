import Foundation
import HikeErrors

/// The kernel refused a change to its network stack, or a name did not resolve: what was
/// attempted, the errno, and the kernel's own explanation (the netlink extended ack) when it
/// gave one — "lwt encapsulation type not supported", "Nexthop device is not up".
public struct NetworkError: HikeError, Equatable {
    public let operation: String
    public let errno: Int32
    public let kernelMessage: String?

    public init(operation: String, errno: Int32, kernelMessage: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.kernelMessage = kernelMessage
    }

    /// A stable code by what a caller can do about it.
    public var code: String {
        switch errno {
        case EEXIST: "network.exists"
        case ENODEV, ENOENT, ESRCH, ENETUNREACH: "network.not-found"
        case EOPNOTSUPP, EAFNOSUPPORT, EPROTONOSUPPORT: "network.unsupported"
        case EPERM, EACCES: "network.permission"
        case EINVAL, ERANGE: "network.invalid"
        default: "network.failed"
        }
    }

    /// Whether the kernel lacks what was asked for (a route encapsulation, a flavour).
    public var isUnsupported: Bool { code == "network.unsupported" }

    public var message: String {
        let reason = String(cString: strerror(errno))
        return "\(operation): " + (kernelMessage.map { "\($0) (\(reason))" } ?? reason)
    }

    public var description: String { message }
}
