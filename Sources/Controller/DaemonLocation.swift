import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// Where a router's hike daemon listens, and which of its instances and namespaces are the
/// router's: `unix:/run/hike/r1.sock` (or an absolute path), or `HOST:PORT` (plaintext: a daemon
/// run with --insecure).
public struct DaemonLocation: Sendable, Hashable, CustomStringConvertible {
    public enum Endpoint: Sendable, Hashable {
        case unix(String)
        case tcp(ControllerAddress)
    }

    public var endpoint: Endpoint
    /// The HIKe instance ("default" when not named).
    public var instance: String
    /// The namespace of the router's interfaces (nil: the daemon's own).
    public var netns: String?

    public init(parsing text: String, instance: String? = nil, netns: String? = nil) throws(ControllerError) {
        if text.hasPrefix("unix:") || text.hasPrefix("/") {
            let path = text.hasPrefix("unix:") ? String(text.dropFirst(5)) : text
            guard path.hasPrefix("/") else { throw .invalidArgument("'\(text)': a daemon's socket is unix:/ABSOLUTE/PATH") }
            endpoint = .unix(path)
        } else {
            endpoint = .tcp(try ControllerAddress(parsing: text))
        }
        if let instance, instance.isEmpty || instance.contains("/") { throw .invalidArgument("instance '\(instance)' is not a valid name") }
        self.instance = instance ?? "default"
        self.netns = netns
    }

    public var description: String {
        switch endpoint {
        case .unix(let path): "unix:\(path)"
        case .tcp(let address): address.description
        }
    }

    var target: any ResolvableTarget {
        switch endpoint {
        case .unix(let path): .unixDomainSocket(path: path) as ResolvableTargets.UnixDomainSocket
        case .tcp(let address): address.target
        }
    }
}
