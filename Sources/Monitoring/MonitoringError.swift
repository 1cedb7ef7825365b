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
