import HikeErrors

/// Why the daemon cannot start, or a client cannot reach it.
public enum DaemonError: HikeError {
    /// The configuration (file or flags) is wrong: nothing was started.
    case configuration(String)
    /// A listener could not be set up.
    case listen(String)
    /// The client could not reach the daemon or the daemon broke off.
    case connection(String)

    public var code: String {
        switch self {
        case .configuration: "daemon.configuration"
        case .listen: "daemon.listen"
        case .connection: "daemon.connection"
        }
    }

    public var message: String { description }

    public var description: String {
        switch self {
        case .configuration(let text), .listen(let text), .connection(let text): text
        }
    }
}
