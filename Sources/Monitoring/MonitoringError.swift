import HikeErrors

/// What went wrong in monitoring, said so that the person knows what to fix.
public enum MonitoringError: Error, CustomStringConvertible, Sendable, Equatable {
    case notLoaded(instance: String)
    case invalidFlow(String)
    case unknownFlow(UInt32, node: String)
    case invalidMode(String)
    case invalidArgument(String)
    case stamp(String)
    case server(String)

    public var description: String {
        switch self {
        case .notLoaded(let instance):
            "instance '\(instance)' has no pm package loaded: load it first (hike prog load pm_mark), or add a flow (hike pm flow add)"
        case .invalidFlow(let why): "flow: \(why)"
        case .unknownFlow(let flow, let node): "flow \(flow) is not configured on \(node): add it (hike pm flow add \(flow))"
        case .invalidMode(let text): "'\(text)' is not a marking mode: use dscp or altmark"
        case .invalidArgument(let why): why
        case .stamp(let why): "STAMP: \(why)"
        case .server(let why): "metrics server: \(why)"
        }
    }
}

/// A change failed half-way and taking back what it had written failed too: the node may hold
/// part of the change. Says what failed first and which undo steps failed, so the person can
/// clean up (hike pm flow list / remove).
public struct PartialChangeError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let cause: String
    public let undoFailures: [String]

    public var description: String {
        "\(operation) failed (\(cause)) and undoing it failed too, so part of it may remain: "
            + undoFailures.joined(separator: "; ") + " — check with hike pm flow list"
    }
}

extension MonitoringError: HikeError {
    public var code: String {
        switch self {
        case .notLoaded: "pm.not-loaded"
        case .invalidFlow: "pm.invalid-flow"
        case .unknownFlow: "pm.unknown-flow"
        case .invalidMode: "pm.invalid-mode"
        case .invalidArgument: "pm.invalid-argument"
        case .stamp: "pm.stamp"
        case .server: "pm.server"
        }
    }
    public var message: String { description }
}

extension PartialChangeError: HikeError {
    public var code: String { "pm.partial-change" }
    public var message: String { description }
}
