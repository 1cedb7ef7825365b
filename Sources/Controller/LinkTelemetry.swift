import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC
import Monitoring

/// Link metrics from the data plane: every interval it reads each router's monitored links —
/// from the routers' hike daemons (`hike pm link list --json`, the default: nothing else to
/// install), or from a Prometheus server that scrapes them (`--prometheus`, the scale path) —
/// finds each direction's link by its flow (the sender's send flow is the receiver's receive
/// flow), and gives the controller
///
/// - the loss by alternate marking, per period of a colour (LinkLossEstimator), once the
///   sender's colour has been idle for `grace`; the daemons flip their colours themselves
///   (`colour-period` in their configuration);
/// - the utilization, from the sender's interface counters over the interval, against the
///   link's bandwidth.
///
/// Values are rounded (loss to 0.1 %, utilization to 1 %) so that noise below that does not make
/// the controller compute paths again.
public actor LinkTelemetry {
    public struct Settings: Sendable {
        public var interval: Duration
        public var grace: Double
        public init(interval: Duration = .milliseconds(500), grace: Double = 0.1) {
            self.interval = interval
            self.grace = grace
        }
    }

    /// Where the reports come from.
    public enum Source: Sendable, CustomStringConvertible {
        /// The daemons of the topology file's routers (`daemon:`).
        case daemons
        /// A Prometheus server's HTTP API (http://HOST:PORT) that scrapes them.
        case prometheus(PrometheusLinkSource)

        public var description: String {
            switch self {
            case .daemons: "the routers' daemons"
            case .prometheus(let source): "Prometheus at \(source.base)"
            }
        }
    }

    /// What the last read of one router gave.
    public struct RouterState: Sendable, Codable, Equatable {
        public var router: String
        public var daemon: String
        public var monitoredLinks: Int
        /// Why the last read failed, nil when it worked.
        public var problem: String?
    }

    /// One direction as measured.
    public struct DirectionState: Sendable, Codable, Equatable {
        public var from: String
        public var to: String
        public var flow: UInt32
        /// Packets and loss of the last periods closed; nil until one closed.
        public var sent: UInt64?
        public var lost: Int64?
        public var loss: Double?
        public var utilization: Double?
    }

    let controller: IntentController
    let topology: NetworkTopology
    let source: Source
    let settings: Settings
    let log: @Sendable (String) -> Void

    /// Each router's last report, for the next read's checks.
    private var previous: [String: LinkReport] = [:]
    private var estimators: [DirectedLink: LinkLossEstimator] = [:]
    private var directions: [DirectedLink: DirectionState] = [:]
    private var routers: [String: RouterState] = [:]

    public init(controller: IntentController, topology: NetworkTopology, source: Source = .daemons, settings: Settings = Settings(),
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.controller = controller
        self.topology = topology
        self.source = source
        self.settings = settings
        self.log = log
    }

    /// Reads the source every interval until the task is cancelled.
    public func run() async throws {
        switch source {
        case .daemons: try await runOnDaemons()
        case .prometheus(let prometheus):
            let clock = ContinuousClock()
            var deadline = clock.now
            while !Task.isCancelled {
                switch await prometheus.reports(for: topology) {
                case .success(let reports):
                    problem(nil, for: "prometheus")
                    for (router, report) in reports {
                        routers[router] = RouterState(router: router, daemon: "prometheus \(prometheus.base)", monitoredLinks: report.links.count)
                    }
                    await take(reports)
                case .failure(let error):
                    problem(error.message, for: "prometheus")
                }
                deadline += settings.interval
                do { try await Task.sleep(until: deadline, clock: clock) } catch { break }
            }
        }
    }

    private var problems: [String: String] = [:]

    /// Logs a source's problem once, until it goes away.
    private func problem(_ text: String?, for what: String) {
        if let text, problems[what] != text { log("telemetry: \(what): \(text)") }
        problems[what] = text
    }

    /// Reads the daemons every interval, over one connection each.
    func runOnDaemons() async throws {
        let clients = try topology.daemons.sorted { $0.key < $1.key }.map { router, location in
            (router, location, GRPCClient(transport: try HTTP2ClientTransport.Posix(target: location.target, transportSecurity: .plaintext)))
        }
        try await withThrowingDiscardingTaskGroup { group in
            for (_, _, client) in clients { group.addTask { try await client.runConnections() } }
            let clock = ContinuousClock()
            var deadline = clock.now
            while !Task.isCancelled {
                await poll(clients.map { ($0.0, $0.1, Hike_V1_Node.Client(wrapping: $0.2)) })
                deadline += settings.interval
                do { try await Task.sleep(until: deadline, clock: clock) } catch { break }
            }
            for (_, _, client) in clients { client.beginGracefulShutdown() }
        }
    }

    /// One read of every daemon, and what it tells the controller.
    func poll(_ nodes: [(String, DaemonLocation, Hike_V1_Node.Client<HTTP2ClientTransport.Posix>)]) async {
        let reports = await withTaskGroup(of: (String, DaemonLocation, Result<LinkReport, ControllerError>).self) { group in
            for (router, location, node) in nodes {
                group.addTask { (router, location, await Self.read(location, node)) }
            }
            var all: [(String, DaemonLocation, Result<LinkReport, ControllerError>)] = []
            for await result in group { all.append(result) }
            return all
        }
        var current: [String: LinkReport] = [:]
        for (router, location, result) in reports {
            switch result {
            case .success(let report):
                problem(nil, for: "\(router) (\(location))")
                current[router] = report
                routers[router] = RouterState(router: router, daemon: location.description, monitoredLinks: report.links.count)
            case .failure(let error):
                problem(error.message, for: "\(router) (\(location))")
                routers[router] = RouterState(router: router, daemon: location.description, monitoredLinks: 0, problem: error.message)
            }
        }
        await take(current)
    }

    /// The reports of one read, checked against the read before: a direction's loss is taken
    /// from the previous read of both ends, when this read of the sender shows it had not
    /// flipped since (every read of that round fell within one idle time of the colour).
    func take(_ current: [String: LinkReport]) async {
        for (from, report) in current {
            for link in report.links {
                guard let flow = link.sendFlow,
                      let to = current.first(where: { $0.key != from && $0.value.links.contains { $0.receiveFlow == flow } })?.key,
                      let metrics = topology.metrics(of: DirectedLink(from: from, to: to)) else { continue }
                let direction = DirectedLink(from: from, to: to)
                var state = directions[direction] ?? DirectionState(from: from, to: to, flow: flow)
                var loss: Double?, utilization: Double?
                if let before = previous[from], let beforeLink = before.links.first(where: { $0.sendFlow == flow }),
                   let receiver = previous[to], let receiverLink = receiver.links.first(where: { $0.receiveFlow == flow }) {
                    // This read of the sender confirms the last: no flip since, and it is no older
                    // than the receiver's read (a Prometheus scrape may be read twice).
                    if before.colourSince == report.colourSince, before.activeColour == report.activeColour, report.time >= receiver.time {
                        var estimator = estimators[direction] ?? LinkLossEstimator(grace: settings.grace)
                        if let periods = estimator.add(active: before.activeColour, since: before.colourSince, sentAt: before.time,
                                                       receivedAt: receiver.time, sent: beforeLink.sent.map(\.packets),
                                                       received: receiverLink.received.map(\.packets)), periods.sent > 0 {
                            state.sent = periods.sent
                            state.lost = periods.lost
                            state.loss = periods.loss
                            loss = (periods.loss * 1000).rounded() / 1000
                        }
                        estimators[direction] = estimator
                    }
                    if let was = beforeLink.interfaceCounters, let now = link.interfaceCounters, now.txBytes >= was.txBytes,
                       report.time > before.time, metrics.bandwidthKbps > 0 {
                        let bitsPerSecond = Double(now.txBytes - was.txBytes) * 8 / (report.time - before.time)
                        let share = min(1, (bitsPerSecond / (Double(metrics.bandwidthKbps) * 1000) * 100).rounded() / 100)
                        state.utilization = share
                        utilization = share
                    }
                }
                directions[direction] = state
                guard loss != nil || utilization != nil else { continue }
                let (newLoss, newUtilization) = (loss, utilization)
                do {
                    try await controller.update(direction, source: source.description) { metrics in
                        if let newLoss { metrics.loss = newLoss }
                        if let newUtilization { metrics.utilization = newUtilization }
                    }
                } catch {
                    log("telemetry: \(direction): \(error.message)")
                }
            }
        }
        previous = current
    }

    static func read(_ location: DaemonLocation, _ node: Hike_V1_Node.Client<HTTP2ClientTransport.Posix>) async -> Result<LinkReport, ControllerError> {
        var request = Hike_V1_ListLinksRequest()
        request.target.instance = location.instance
        request.target.json = true
        if let netns = location.netns { request.netns = netns }
        let message = request
        do {
            let output = try await node.listLinks(message)
            return .success(try JSONDecoder().decode(LinkReport.self, from: Data(output.text.utf8)))
        } catch let error as RPCError {
            return .failure(.unreachable(error.message.trimmingCharacters(in: .whitespacesAndNewlines)))
        } catch {
            return .failure(.unreachable("\(error)"))
        }
    }

    /// What the daemons gave, for `hike controller show`.
    public func status() -> (routers: [RouterState], directions: [DirectionState]) {
        (routers.values.sorted { $0.router < $1.router },
         directions.values.sorted { ($0.from, $0.to) < ($1.from, $1.to) })
    }
}
