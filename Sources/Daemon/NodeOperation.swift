import HikeRPC

/// One request of the hike.v1 API: what a node is asked to do. The CLI builds one from its
/// arguments and runs it in-process or sends it to a daemon; the daemon runs what it receives
/// through the same executor, so both print the same.
public enum NodeOperation: Sendable {
    case info(Hike_V1_InfoRequest)
    case listPrograms(Hike_V1_ListProgramsRequest)
    case loadPrograms(Hike_V1_LoadProgramsRequest)
    case showProgram(Hike_V1_ShowProgramRequest)
    case loadChains(Hike_V1_LoadChainsRequest)
    case listChains(Hike_V1_ListChainsRequest)
    case showChain(Hike_V1_ShowChainRequest)
    case removeChains(Hike_V1_RemoveChainsRequest)
    case loadScript(Hike_V1_ScriptRequest)
    case unloadScript(Hike_V1_ScriptRequest)
    case listLoaders(Hike_V1_ListLoadersRequest)
    case attachLoader(Hike_V1_AttachLoaderRequest)
    case detachLoader(Hike_V1_DetachLoaderRequest)
    case listMaps(Hike_V1_ListMapsRequest)
    case dumpMap(Hike_V1_DumpMapRequest)
    case updateMap(Hike_V1_UpdateMapRequest)
    case deleteMapEntry(Hike_V1_DeleteMapEntryRequest)
    case faults(Hike_V1_FaultsRequest)
    case reset(Hike_V1_ResetRequest)
    case validateSRv6(Hike_V1_SRv6ConfigurationRequest)
    case applySRv6(Hike_V1_SRv6ConfigurationRequest)
    case showSRv6(Hike_V1_ShowSRv6Request)
    case listFlows(Hike_V1_ListFlowsRequest)
    case addFlow(Hike_V1_AddFlowRequest)
    case removeFlow(Hike_V1_RemoveFlowRequest)
    case monitoringStats(Hike_V1_MonitoringStatsRequest)
    case setLink(Hike_V1_SetLinkRequest)
    case removeLink(Hike_V1_RemoveLinkRequest)
    case listLinks(Hike_V1_ListLinksRequest)

    /// The instance the request names ("default" when it names none).
    public var instance: String {
        let name = target.instance
        return name.isEmpty ? "default" : name
    }

    public var target: Hike_V1_Target {
        switch self {
        case .info(let r): r.target
        case .listPrograms(let r): r.target
        case .loadPrograms(let r): r.target
        case .showProgram(let r): r.target
        case .loadChains(let r): r.target
        case .listChains(let r): r.target
        case .showChain(let r): r.target
        case .removeChains(let r): r.target
        case .loadScript(let r), .unloadScript(let r): r.target
        case .listLoaders(let r): r.target
        case .attachLoader(let r): r.target
        case .detachLoader(let r): r.target
        case .listMaps(let r): r.target
        case .dumpMap(let r): r.target
        case .updateMap(let r): r.target
        case .deleteMapEntry(let r): r.target
        case .faults(let r): r.target
        case .reset(let r): r.target
        case .validateSRv6(let r), .applySRv6(let r): r.target
        case .showSRv6(let r): r.target
        case .listFlows(let r): r.target
        case .addFlow(let r): r.target
        case .removeFlow(let r): r.target
        case .monitoringStats(let r): r.target
        case .setLink(let r): r.target
        case .removeLink(let r): r.target
        case .listLinks(let r): r.target
        }
    }

    /// Whether the request changes the data plane (the daemon counts and logs these).
    public var changes: Bool {
        switch self {
        case .loadPrograms, .loadChains, .removeChains, .loadScript, .unloadScript, .attachLoader, .detachLoader,
             .updateMap, .deleteMapEntry, .reset, .applySRv6, .addFlow, .removeFlow, .setLink, .removeLink: true
        default: false
        }
    }

    /// The RPC's name, for logs and metrics.
    public var name: String {
        switch self {
        case .info: "Info"
        case .listPrograms: "ListPrograms"
        case .loadPrograms: "LoadPrograms"
        case .showProgram: "ShowProgram"
        case .loadChains: "LoadChains"
        case .listChains: "ListChains"
        case .showChain: "ShowChain"
        case .removeChains: "RemoveChains"
        case .loadScript: "LoadScript"
        case .unloadScript: "UnloadScript"
        case .listLoaders: "ListLoaders"
        case .attachLoader: "AttachLoader"
        case .detachLoader: "DetachLoader"
        case .listMaps: "ListMaps"
        case .dumpMap: "DumpMap"
        case .updateMap: "UpdateMap"
        case .deleteMapEntry: "DeleteMapEntry"
        case .faults: "Faults"
        case .reset: "Reset"
        case .validateSRv6: "ValidateSRv6"
        case .applySRv6: "ApplySRv6"
        case .showSRv6: "ShowSRv6"
        case .listFlows: "ListFlows"
        case .addFlow: "AddFlow"
        case .removeFlow: "RemoveFlow"
        case .monitoringStats: "MonitoringStats"
        case .setLink: "SetLink"
        case .removeLink: "RemoveLink"
        case .listLinks: "ListLinks"
        }
    }
}

/// What an operation printed: stdout and the warnings for stderr.
public struct NodeOutput: Sendable, Equatable {
    public var text: String
    public var warnings: [String]

    public init(text: String = "", warnings: [String] = []) {
        self.text = text
        self.warnings = warnings
    }

    init(_ message: Hike_V1_Output) {
        self.init(text: message.text, warnings: message.warnings)
    }

    var message: Hike_V1_Output {
        .with {
            $0.text = text
            $0.warnings = warnings
        }
    }
}

/// Why an operation failed, as the CLI would print it.
public struct NodeFailure: Error, Sendable {
    public enum Kind: Sendable {
        /// The request is wrong (a name, a file, a value): nothing changed.
        case invalidArgument
        /// Something it names does not exist.
        case notFound
        /// The node's state or kernel refused it: nothing changed.
        case failedPrecondition
    }

    public let kind: Kind
    /// What the CLI writes to stderr: `error: …` lines or file:line:col diagnostics.
    public let text: String

    public init(kind: Kind, text: String) {
        self.kind = kind
        self.text = text
    }
}

/// Runs operations on this machine's data plane. The CLI implements it with its commands; the
/// daemon serves it. Calls may block on the kernel: the daemon runs them off its event loops.
public protocol NodeExecutor: Sendable {
    /// Runs one operation; throws a NodeFailure.
    func execute(_ operation: NodeOperation) throws(NodeFailure) -> NodeOutput
}

extension NodeExecutor {
    /// Events waiting for a watch, one Output line each; the default has none.
    public func drainEvents(_ request: Hike_V1_WatchEventsRequest) throws(NodeFailure) -> NodeOutput { NodeOutput() }
}

/// The reads a watch repeats (`hike … --watch`): counters that change with the traffic.
extension NodeOperation {
    /// The watch of this read, every interval; nil for an operation that is no such read.
    public func watch(every interval: Duration) -> Hike_V1_WatchRequest? {
        let read: Hike_V1_WatchRequest.OneOf_Read
        switch self {
        case .faults(let r): read = .faults(r)
        case .showSRv6(let r): read = .srv6(r)
        case .listFlows(let r): read = .flows(r)
        case .listChains(let r): read = .chains(r)
        case .monitoringStats(let r): read = .stats(r)
        case .listLoaders(let r): read = .loaders(r)
        default: return nil
        }
        let (seconds, attoseconds) = interval.components
        return .with {
            $0.intervalMs = UInt32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
            $0.read = read
        }
    }

    /// The read a watch repeats.
    public init?(watching request: Hike_V1_WatchRequest) {
        switch request.read {
        case .faults(let r)?: self = .faults(r)
        case .srv6(let r)?: self = .showSRv6(r)
        case .flows(let r)?: self = .listFlows(r)
        case .chains(let r)?: self = .listChains(r)
        case .stats(let r)?: self = .monitoringStats(r)
        case .loaders(let r)?: self = .listLoaders(r)
        case nil: return nil
        }
    }

    /// Milliseconds a watch may wait between reads.
    public static let watchIntervals: ClosedRange<UInt32> = 100...3_600_000
}
