import HikeControl
import GRPCCore
import HikeRPC
import Logging

/// hike.v1's Node service: each RPC becomes a NodeOperation, run by the executor on its
/// instance's DataPlaneService queue, one at a time per instance (they wait for the kernel and
/// for other hike processes' registry lock; the event loops never do).
struct NodeService: Hike_V1_Node.SimpleServiceProtocol {
    let executor: any NodeExecutor
    let planes: DataPlaneServices
    let metrics: DaemonMetrics
    let logger: Logger

    /// Runs work on the instance's queue; an instance that cannot be opened is the request's failure.
    static func onQueue<T: Sendable>(of instance: String, in planes: DataPlaneServices,
                                     _ work: @escaping @Sendable () -> Result<T, NodeFailure>) async -> Result<T, NodeFailure> {
        do {
            return try await planes.service(for: instance).run(work)
        } catch {
            return .failure(NodeFailure(kind: .invalidArgument, text: "error: \(error.message)\n"))
        }
    }

    func run(_ operation: NodeOperation) async throws -> Hike_V1_Output {
        let executor = executor
        let result = await Self.onQueue(of: operation.instance, in: planes) {
            Result { () throws(NodeFailure) -> NodeOutput in try executor.execute(operation) }
        }
        metrics.countRequest(operation.name, failed: (try? result.get()) == nil)
        switch result {
        case .success(let output):
            if operation.changes { logger.info("changed", metadata: ["rpc": "\(operation.name)", "instance": "\(operation.instance)"]) }
            return output.message
        case .failure(let failure):
            logger.notice("refused", metadata: ["rpc": "\(operation.name)", "instance": "\(operation.instance)", "why": "\(failure.text.trimmingSuffixNewlines)"])
            throw RPCError(failure)
        }
    }

    func info(request: Hike_V1_InfoRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.info(request)) }
    func listPrograms(request: Hike_V1_ListProgramsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.listPrograms(request)) }
    func loadPrograms(request: Hike_V1_LoadProgramsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.loadPrograms(request)) }
    func showProgram(request: Hike_V1_ShowProgramRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.showProgram(request)) }
    func loadChains(request: Hike_V1_LoadChainsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.loadChains(request)) }
    func listChains(request: Hike_V1_ListChainsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.listChains(request)) }
    func showChain(request: Hike_V1_ShowChainRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.showChain(request)) }
    func removeChains(request: Hike_V1_RemoveChainsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.removeChains(request)) }
    func loadScript(request: Hike_V1_ScriptRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.loadScript(request)) }
    func unloadScript(request: Hike_V1_ScriptRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.unloadScript(request)) }
    func listLoaders(request: Hike_V1_ListLoadersRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.listLoaders(request)) }
    func attachLoader(request: Hike_V1_AttachLoaderRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.attachLoader(request)) }
    func detachLoader(request: Hike_V1_DetachLoaderRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.detachLoader(request)) }
    func listMaps(request: Hike_V1_ListMapsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.listMaps(request)) }
    func dumpMap(request: Hike_V1_DumpMapRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.dumpMap(request)) }
    func updateMap(request: Hike_V1_UpdateMapRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.updateMap(request)) }
    func deleteMapEntry(request: Hike_V1_DeleteMapEntryRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.deleteMapEntry(request)) }
    func faults(request: Hike_V1_FaultsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.faults(request)) }
    func reset(request: Hike_V1_ResetRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.reset(request)) }
    func validateSRv6(request: Hike_V1_SRv6ConfigurationRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.validateSRv6(request)) }
    func applySRv6(request: Hike_V1_SRv6ConfigurationRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.applySRv6(request)) }
    func showSRv6(request: Hike_V1_ShowSRv6Request, context: ServerContext) async throws -> Hike_V1_Output { try await run(.showSRv6(request)) }
    func listFlows(request: Hike_V1_ListFlowsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.listFlows(request)) }
    func addFlow(request: Hike_V1_AddFlowRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.addFlow(request)) }
    func removeFlow(request: Hike_V1_RemoveFlowRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.removeFlow(request)) }
    func monitoringStats(request: Hike_V1_MonitoringStatsRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.monitoringStats(request)) }
    func setLink(request: Hike_V1_SetLinkRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.setLink(request)) }
    func removeLink(request: Hike_V1_RemoveLinkRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.removeLink(request)) }
    func listLinks(request: Hike_V1_ListLinksRequest, context: ServerContext) async throws -> Hike_V1_Output { try await run(.listLinks(request)) }

    /// Reads the ring buffer the request names and sends what it held; with follow, polls it
    /// (as `hike events --follow` does) and sends each batch, until the client goes away.
    func watchEvents(request: Hike_V1_WatchEventsRequest, response: RPCWriter<Hike_V1_Output>, context: ServerContext) async throws {
        let executor = executor, instance = request.target.instance.isEmpty ? "default" : request.target.instance
        while !Task.isCancelled {
            let result = await Self.onQueue(of: instance, in: planes) {
                Result { () throws(NodeFailure) -> NodeOutput in try executor.drainEvents(request) }
            }
            let output = try result.mapError { RPCError($0) }.get()
            if !output.text.isEmpty || !output.warnings.isEmpty || !request.follow { try await response.write(output.message) }
            guard request.follow else { return }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

extension NodeService {
    /// Runs the read every interval on its instance's queue and sends its output each time it
    /// changed (the first time always), until the client goes away.
    func watch(request: Hike_V1_WatchRequest, response: RPCWriter<Hike_V1_Output>, context: ServerContext) async throws {
        guard let operation = NodeOperation(watching: request) else {
            throw RPCError(code: .invalidArgument, message: "error: a watch names the read it repeats (faults, srv6, flows, chains, stats or loaders)\n")
        }
        guard NodeOperation.watchIntervals.contains(request.intervalMs) else {
            throw RPCError(code: .invalidArgument, message: "error: interval \(request.intervalMs) ms: give 100 to 3600000\n")
        }
        let executor = executor
        var last: NodeOutput?
        while !Task.isCancelled {
            let result = await Self.onQueue(of: operation.instance, in: planes) {
                Result { () throws(NodeFailure) -> NodeOutput in try executor.execute(operation) }
            }
            let output = try result.mapError { RPCError($0) }.get()
            if output != last { try await response.write(output.message) }
            last = output
            try await Task.sleep(for: .milliseconds(Int(request.intervalMs)))
        }
    }
}

extension RPCError {
    /// The status message travels in an HTTP/2 header: a text that echoes a huge request (a name
    /// of 60 kB) is cut so that the answer still fits the client's header limit.
    static let maxMessageBytes = 4096

    init(_ failure: NodeFailure) {
        let code: RPCError.Code = switch failure.kind {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .failedPrecondition: .failedPrecondition
        }
        var text = failure.text
        if text.utf8.count > Self.maxMessageBytes {
            let kept = String(decoding: text.utf8.prefix(Self.maxMessageBytes), as: UTF8.self)
            text = kept + "… (\(text.utf8.count - kept.utf8.count) more bytes cut)\n"
        }
        self.init(code: code, message: text)
    }
}
