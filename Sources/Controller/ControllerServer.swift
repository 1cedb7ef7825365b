import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC

/// New values for some of a link's metrics, in the units people write (µs, per cent, kbit/s).
public struct LinkMetricsChange: Sendable, Equatable {
    public var delayMicroseconds: Double?
    public var jitterMicroseconds: Double?
    public var lossPercent: Double?
    public var utilizationPercent: Double?
    public var igpMetric: UInt32?
    public var bandwidthKbps: UInt64?

    public init(delayMicroseconds: Double? = nil, jitterMicroseconds: Double? = nil, lossPercent: Double? = nil,
                utilizationPercent: Double? = nil, igpMetric: UInt32? = nil, bandwidthKbps: UInt64? = nil) {
        self.delayMicroseconds = delayMicroseconds
        self.jitterMicroseconds = jitterMicroseconds
        self.lossPercent = lossPercent
        self.utilizationPercent = utilizationPercent
        self.igpMetric = igpMetric
        self.bandwidthKbps = bandwidthKbps
    }

    /// Every value in range, or the first that is not.
    public func validate() throws(ControllerError) {
        for (name, value) in [("delay", delayMicroseconds), ("jitter", jitterMicroseconds)] {
            if let value, !(value >= 0 && value.isFinite) { throw .invalidArgument("\(name) is in µs and must be ≥ 0, not \(value)") }
        }
        for (name, value) in [("loss", lossPercent), ("utilization", utilizationPercent)] {
            if let value, !(0...100).contains(value) { throw .invalidArgument("\(name) is a percentage: 0–100, not \(value)") }
        }
        if igpMetric == 0 { throw .invalidArgument("the IGP metric must be ≥ 1") }
        if bandwidthKbps == 0 { throw .invalidArgument("the bandwidth must be ≥ 1 kbit/s") }
        if self == LinkMetricsChange() { throw .invalidArgument("no metric given: set delay, jitter, loss, utilization, igp-metric or bandwidth") }
    }

    func apply(to metrics: inout LinkMetrics) {
        if let value = delayMicroseconds { metrics.delayMicroseconds = value }
        if let value = jitterMicroseconds { metrics.jitterMicroseconds = value }
        if let value = lossPercent { metrics.loss = value / 100 }
        if let value = utilizationPercent { metrics.utilization = value / 100 }
        if let value = igpMetric { metrics.igpMetric = value }
        if let value = bandwidthKbps { metrics.bandwidthKbps = value }
    }
}

extension IntentController {
    /// Sets metrics of one direction of a link, or both; checked first, so that a bad request changes nothing.
    public func set(_ change: LinkMetricsChange, from: String, to: String, bothDirections: Bool, source: String) throws(ControllerError) {
        try change.validate()
        let links = [DirectedLink(from: from, to: to)] + (bothDirections ? [DirectedLink(from: to, to: from)] : [])
        for link in links where topology.metrics(of: link) == nil { throw .invalidArgument("no link joins \(link.from) and \(link.to)") }
        for link in links { try update(link, source: source) { change.apply(to: &$0) } }
    }
}

/// HawkEye's api.IntentController, answered by an IntentController.
struct IntentControllerService: Api_IntentController.SimpleServiceProtocol {
    let controller: IntentController

    func getIntentPath(request: RPCAsyncSequence<Api_PathRequest, any Error>, response: RPCWriter<Api_PathResult>,
                       context: ServerContext) async throws {
        let (id, answers, end) = await controller.open(peer: context.remotePeer)
        // Answers (first ones and pushed changes) go out until the client goes away, which
        // cancels the RPC: a client that has sent all its requests still gets the changes.
        do {
            try await withRPCCancellationHandler {
                // The answers end when the RPC is cancelled or the controller stops; the requests
                // may have ended long before (a client that asked everything it had).
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { for try await message in request { await controller.ask(message, session: id) } }
                    for await answer in answers { try await response.write(answer) }
                    group.cancelAll()
                }
            } onCancelRPC: {
                end.finish()
            }
        } catch {
            await controller.close(id)
            throw error
        }
        await controller.close(id)
    }
}

/// hike.v1.Controller: the state for `hike controller show`, and metrics set by hand.
struct ControllerAdminService: Hike_V1_Controller.SimpleServiceProtocol {
    let controller: IntentController
    let telemetry: LinkTelemetry?

    func show(request: Hike_V1_ShowControllerRequest, context: ServerContext) async throws -> Hike_V1_ControllerState {
        try await Self.state(controller, telemetry)
    }

    func setLinkMetrics(request: Hike_V1_SetLinkMetricsRequest, context: ServerContext) async throws -> Hike_V1_ControllerState {
        let change = LinkMetricsChange(
            delayMicroseconds: request.hasDelayUs ? request.delayUs : nil, jitterMicroseconds: request.hasJitterUs ? request.jitterUs : nil,
            lossPercent: request.hasLossPercent ? request.lossPercent : nil,
            utilizationPercent: request.hasUtilizationPercent ? request.utilizationPercent : nil,
            igpMetric: request.hasIgpMetric ? request.igpMetric : nil, bandwidthKbps: request.hasBandwidthKbps ? request.bandwidthKbps : nil)
        do {
            try await controller.set(change, from: request.from, to: request.to, bothDirections: request.bothDirections,
                                     source: "set by \(context.remotePeer)")
        } catch {
            throw RPCError(code: .invalidArgument, message: error.message)
        }
        return try await Self.state(controller, telemetry)
    }

    static func state(_ controller: IntentController, _ telemetry: LinkTelemetry?) async throws -> Hike_V1_ControllerState {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var reply = Hike_V1_ControllerState()
        var status = await controller.status()
        if let telemetry {
            let (routers, directions) = await telemetry.status()
            status.telemetry = ControllerStatus.Telemetry(routers: routers, directions: directions)
        }
        reply.json = String(decoding: try encoder.encode(status), as: UTF8.self)
        return reply
    }
}

/// `hike controller serve`: both services on one port, until the task is cancelled.
public enum ControllerServer {
    /// Serves until cancelled; with telemetry, reads the links' metrics meanwhile (a source that
    /// cannot be reached is logged and tried again at every read).
    public static func run(_ controller: IntentController, telemetry: LinkTelemetry? = nil, host: String, port: Int,
                           listening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let services: [any RegistrableRPCService] = [IntentControllerService(controller: controller),
                                                     ControllerAdminService(controller: controller, telemetry: telemetry)]
        try await withGRPCServer(transport: .http2NIOPosix(address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port),
                                                         transportSecurity: .plaintext),
                                 services: services) { server in
            if let bound = try await server.listeningAddress {
                listening(bound.ipv6?.port ?? bound.ipv4?.port ?? port)
            }
            do {
                if let telemetry {
                    try await telemetry.run()
                    throw CancellationError()
                }
                while true { try await Task.sleep(for: .seconds(86_400)) }
            } catch {
                // Stopping: open streams end, so that the server's graceful shutdown does not wait for them.
                await controller.closeAll()
                throw error
            }
        }
    }
}
