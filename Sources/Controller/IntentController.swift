import Foundation
import HikeRPC
import NetKit

/// The controller's state: the topology with its latest link metrics, and the sessions of the
/// clients that asked for paths. Metric changes are gathered for a hold-down time, then every
/// answered request is computed again; a client is sent a new path when its path broke or a
/// bound no longer holds, or when the new one is better by more than the flapping threshold.
public actor IntentController {
    public struct Settings: Sendable {
        /// How long metric changes are gathered before paths are computed again (each change restarts it).
        public var holdDown: Duration
        /// A working path is replaced only by one better by more than this share (HawkEye's 0.1).
        public var flappingThreshold: Double

        public init(holdDown: Duration = .seconds(1), flappingThreshold: Double = 0.1) {
            self.holdDown = holdDown
            self.flappingThreshold = flappingThreshold
        }
    }

    /// One request of a session and what it was last given.
    struct Tracked {
        var request: Api_PathRequest
        var intent: PathIntent?
        var path: ComputedPath?
        var answer: [String]
        var reason: String
        var changed: Date
        var changes: Int
    }

    struct Session {
        var peer: String
        var opened: Date
        var requests: [Data: Tracked] = [:]
        /// Request keys in the order they were first asked.
        var order: [Data] = []
        let answers: AsyncStream<Api_PathResult>.Continuation
    }

    public private(set) var topology: NetworkTopology {
        didSet { prepared = nil }
    }
    public let settings: Settings
    /// The topology prepared for computation (27 ms at 10,000 routers): made again after a change.
    var prepared: PathComputation?
    var computation: PathComputation {
        get {
            if let prepared { return prepared }
            let made = PathComputation(topology: topology)
            prepared = made
            return made
        }
    }
    /// When each direction's metrics last changed, and by what.
    var updated: [DirectedLink: (date: Date, source: String)] = [:]
    var sessions: [Int: Session] = [:]
    var nextSession = 1
    var lastChange: ContinuousClock.Instant?
    var pendingRecompute: Task<Void, Never>?
    /// Metric changes since the last computation, for the reasons paths give.
    var changesSinceComputation: [String] = []
    let started = Date()
    let log: @Sendable (String) -> Void

    public init(topology: NetworkTopology, settings: Settings = Settings(), log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.topology = topology
        self.settings = settings
        self.log = log
    }

    // MARK: Sessions

    /// A new stream: its ID, the answers to write on it, and their end (what a cancelled RPC calls).
    public func open(peer: String) -> (id: Int, answers: AsyncStream<Api_PathResult>, end: AsyncStream<Api_PathResult>.Continuation) {
        let (stream, continuation) = AsyncStream.makeStream(of: Api_PathResult.self)
        let id = nextSession
        nextSession += 1
        sessions[id] = Session(peer: peer, opened: Date(), answers: continuation)
        log("session \(id) opened by \(peer)")
        return (id, stream, continuation)
    }

    public func close(_ id: Int) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        session.answers.finish()
        log("session \(id) of \(session.peer) closed after \(session.requests.count) request(s)")
    }

    /// Ends every session (the controller is stopping).
    public func closeAll() {
        for id in sessions.keys.sorted() { close(id) }
    }

    /// Answers one request on a session's stream. A request that cannot be answered (bad
    /// intents, an address no router serves, no path within the bounds) gets HawkEye's "no path"
    /// answer, [destination]: the client keeps its configured path, and the stream stays open
    /// for its other requests. The reason is logged and shown.
    @discardableResult
    public func ask(_ request: Api_PathRequest, session id: Int) -> Api_PathResult {
        let key = (try? request.serializedData()) ?? Data()
        var tracked = Tracked(request: request, intent: nil, path: nil, answer: [], reason: "", changed: Date(), changes: 0)
        switch compute(request) {
        case .success(let (intent, path)):
            tracked.intent = intent
            tracked.path = path
            tracked.answer = path.segments.map(\.description)
            tracked.reason = "asked for \(intent.summary): \(Self.describe(path))"
        case .failure(let failure):
            tracked.intent = failure.intent
            tracked.answer = [request.ipv6DestinationAddress]
            tracked.reason = "no path: \(failure.reason)"
        }
        let result = Self.result(for: request, answer: tracked.answer)
        guard var session = sessions[id] else { return result }
        if session.requests[key] == nil { session.order.append(key) }
        session.requests[key] = tracked
        sessions[id] = session
        log("session \(id): \(request.ipv6SourceAddress) → \(request.ipv6DestinationAddress): \(tracked.reason)")
        session.answers.yield(result)
        return result
    }

    struct Failure: Error {
        var intent: PathIntent?
        var reason: String
    }

    func compute(_ request: Api_PathRequest) -> Result<(PathIntent, ComputedPath), Failure> {
        let intent: PathIntent
        do { intent = try PathIntent(request.intents) } catch { return .failure(Failure(intent: nil, reason: error.message)) }
        guard let source = try? IPv6Address(parsing: request.ipv6SourceAddress) else {
            return .failure(Failure(intent: intent, reason: "the source '\(request.ipv6SourceAddress)' is not an IPv6 address"))
        }
        guard let destination = try? IPv6Address(parsing: request.ipv6DestinationAddress) else {
            return .failure(Failure(intent: intent, reason: "the destination '\(request.ipv6DestinationAddress)' is not an IPv6 address"))
        }
        switch computation.path(from: source, to: destination, intent: intent) {
        case .success(let path): return .success((intent, path))
        case .failure(let noPath): return .failure(Failure(intent: intent, reason: noPath.reason))
        }
    }

    static func result(for request: Api_PathRequest, answer: [String]) -> Api_PathResult {
        var result = Api_PathResult()
        result.ipv6SourceAddress = request.ipv6SourceAddress
        result.ipv6DestinationAddress = request.ipv6DestinationAddress
        result.intents = request.intents
        result.ipv6SidAddresses = answer
        return result
    }

    static func describe(_ path: ComputedPath) -> String {
        var text = path.routers.joined(separator: " → ")
        if !path.functions.isEmpty { text += " through " + path.functions.joined(separator: ", ") }
        let m = path.metrics
        return text + " (delay \(PathComputation.figure(m.delayMicroseconds)) µs, jitter \(PathComputation.figure(m.jitterMicroseconds)) µs, "
            + "loss \(PathComputation.figure(m.loss * 100)) %, \(m.availableKbps.isFinite ? PathComputation.figure(m.availableKbps) : "∞") kbit/s available)"
    }

    // MARK: Metrics

    /// Takes new metrics for one direction of a link (from a measurement or an operator), and
    /// computes paths again once changes have stopped for the hold-down time.
    public func update(_ link: DirectedLink, source: String, change: (inout LinkMetrics) -> Void) throws(ControllerError) {
        guard var metrics = topology.metrics(of: link) else {
            throw .invalidArgument("no link joins \(link.from) and \(link.to)")
        }
        let before = metrics
        change(&metrics)
        guard metrics != before else { return }
        topology.setMetrics(metrics, of: link)
        updated[link] = (Date(), source)
        changesSinceComputation.append("\(link): " + Self.difference(before, metrics))
        lastChange = .now
        scheduleRecompute()
    }

    static func difference(_ a: LinkMetrics, _ b: LinkMetrics) -> String {
        var parts: [String] = []
        func add(_ name: String, _ x: Double, _ y: Double, _ unit: String) {
            if x != y { parts.append("\(name) \(PathComputation.figure(x))→\(PathComputation.figure(y)) \(unit)") }
        }
        add("delay", a.delayMicroseconds, b.delayMicroseconds, "µs")
        add("jitter", a.jitterMicroseconds, b.jitterMicroseconds, "µs")
        add("loss", a.loss * 100, b.loss * 100, "%")
        add("utilization", a.utilization * 100, b.utilization * 100, "%")
        add("igp-metric", Double(a.igpMetric), Double(b.igpMetric), "")
        add("bandwidth", Double(a.bandwidthKbps), Double(b.bandwidthKbps), "kbit/s")
        return parts.joined(separator: ", ")
    }

    func scheduleRecompute() {
        guard pendingRecompute == nil else { return }
        pendingRecompute = Task { [settings] in
            while true {
                guard let last = self.lastChange else { break }
                let due = last + settings.holdDown
                if ContinuousClock.now >= due { break }
                do { try await Task.sleep(until: due) } catch { return }
            }
            self.recompute()
        }
    }

    /// Computes every session's requests again and pushes the paths that change.
    public func recompute() {
        pendingRecompute?.cancel()  // asked for before the hold-down ended, or the task itself
        pendingRecompute = nil
        let cause = changesSinceComputation.joined(separator: "; ")
        changesSinceComputation = []
        let computation = self.computation
        for id in sessions.keys.sorted() {
            guard var session = sessions[id] else { continue }
            for key in session.order {
                guard var tracked = session.requests[key], let intent = tracked.intent else { continue }
                guard let decision = decide(tracked, intent: intent, computation: computation, cause: cause) else { continue }
                tracked.path = decision.path
                tracked.answer = decision.answer
                tracked.reason = decision.reason
                tracked.changed = Date()
                tracked.changes += 1
                session.requests[key] = tracked
                log("session \(id): \(tracked.request.ipv6SourceAddress) → \(tracked.request.ipv6DestinationAddress): \(decision.reason)")
                session.answers.yield(Self.result(for: tracked.request, answer: decision.answer))
            }
            sessions[id] = session
        }
    }

    /// A request's new answer, or nil when its current one stays.
    func decide(_ tracked: Tracked, intent: PathIntent, computation: PathComputation, cause: String)
        -> (path: ComputedPath?, answer: [String], reason: String)? {
        let request = tracked.request
        let fresh: Result<ComputedPath, NoPath>
        if let source = try? IPv6Address(parsing: request.ipv6SourceAddress), let destination = try? IPv6Address(parsing: request.ipv6DestinationAddress) {
            fresh = computation.path(from: source, to: destination, intent: intent)
        } else {
            return nil
        }
        let after = cause.isEmpty ? "" : "after \(cause): "
        guard let current = tracked.path else {
            // It had no path: any path now is news.
            guard case .success(let path) = fresh else { return nil }
            return (path, path.segments.map(\.description), after + "a path appeared: " + Self.describe(path))
        }
        let now = computation.evaluate(routers: current.routers, intent: intent)
        switch fresh {
        case .failure(let noPath):
            guard now.cost == nil || now.violation != nil else { return nil }  // nothing better, the current one still works
            return (nil, [request.ipv6DestinationAddress], after + "no path: \(noPath.reason)")
        case .success(let path):
            if path.routers == current.routers && path.functions == current.functions { return nil }
            guard let cost = now.cost else {
                return (path, path.segments.map(\.description), after + "the path \(current.routers.joined(separator: " → ")) broke; now " + Self.describe(path))
            }
            if let violation = now.violation {
                return (path, path.segments.map(\.description), after + "the path \(current.routers.joined(separator: " → ")) would \(violation); now " + Self.describe(path))
            }
            let larger = computation.prefersLarger(intent)
            let enough = larger ? path.cost > cost * (1 + settings.flappingThreshold) : path.cost < cost * (1 - settings.flappingThreshold)
            guard enough else { return nil }
            let gain = cost == 0 ? 0 : abs(path.cost - cost) / abs(cost) * 100
            return (path, path.segments.map(\.description),
                    after + "cost \(PathComputation.figure(cost)) → \(PathComputation.figure(path.cost)) (\(PathComputation.figure(gain)) % better, threshold "
                    + "\(PathComputation.figure(settings.flappingThreshold * 100)) %); now " + Self.describe(path))
        }
    }
}
