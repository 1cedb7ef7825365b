import Foundation
import NetKit
import Wing

/// What a path adds up to, from its links' metrics.
public struct PathMetrics: Sendable, Hashable, Codable {
    public var igpMetric: UInt64 = 0
    public var delayMicroseconds: Double = 0
    public var jitterMicroseconds: Double = 0
    /// 1 − Π(1 − pᵢ).
    public var loss: Double = 0
    /// The narrowest link's available bandwidth, kbit/s (infinite for an empty path).
    public var availableKbps: Double = .infinity
    /// The narrowest link's capacity, kbit/s.
    public var bandwidthKbps: Double = .infinity
    public var maxUtilization: Double = 0

    public init() {}

    mutating func add(_ link: LinkMetrics) {
        igpMetric += UInt64(link.igpMetric)
        delayMicroseconds += link.delayMicroseconds
        jitterMicroseconds += link.jitterMicroseconds
        loss = 1 - (1 - loss) * (1 - link.loss)
        availableKbps = min(availableKbps, link.availableKbps)
        bandwidthKbps = min(bandwidthKbps, Double(link.bandwidthKbps))
        maxUtilization = max(maxUtilization, link.utilization)
    }

    mutating func add(_ other: PathMetrics) {
        igpMetric += other.igpMetric
        delayMicroseconds += other.delayMicroseconds
        jitterMicroseconds += other.jitterMicroseconds
        loss = 1 - (1 - loss) * (1 - other.loss)
        availableKbps = min(availableKbps, other.availableKbps)
        bandwidthKbps = min(bandwidthKbps, other.bandwidthKbps)
        maxUtilization = max(maxUtilization, other.maxUtilization)
    }
}

/// A computed path: the routers it visits, the SID list a client pushes, what it adds up to.
public struct ComputedPath: Sendable, Hashable, Codable {
    /// From the source's router to the destination's, service functions' routers included.
    public var routers: [String]
    /// In traversal order, without the destination address (HawkEye's ipv6_sid_addresses).
    public var segments: [IPv6Address]
    public var metrics: PathMetrics
    /// The objective's value: a sum for additive intents, the bottleneck in kbit/s for bandwidth ones.
    public var cost: Double
    /// The service functions the path goes through, by name.
    public var functions: [String]
}

/// Why no path was given.
public struct NoPath: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// HawkEye's path computation on a topology, and what it lacks: bounds met exactly (the k
/// shortest paths are searched when the best one breaks a bound), bounds with a single intent,
/// deterministic ties (cost, then IGP metric, then hops), uSID compression of the SID list.
public struct PathComputation: Sendable {
    /// How many paths the search for one within the bounds looks at before giving up.
    public static let boundedSearchLimit = 64

    /// How a path's value is made from its links and compared.
    enum Mode: Sendable {
        /// The sum of per-link weights; smaller wins.
        case additive
        /// The narrowest link's available bandwidth; larger wins (high-bandwidth).
        case widest
        /// The narrowest link's capacity; smaller wins (low-bandwidth: keep the wide links free).
        case narrowest
    }

    let topology: NetworkTopology
    let names: [String]
    let index: [String: Int]
    /// Directed links: endpoints and metrics; outgoing link indices per router.
    let linkFrom: [Int]
    let linkTo: [Int]
    let linkMetrics: [LinkMetrics]
    let outgoing: [[Int]]

    public init(topology: NetworkTopology) {
        self.topology = topology
        names = topology.nodes.map(\.name)
        index = Dictionary(names.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
        var from: [Int] = [], to: [Int] = [], metrics: [LinkMetrics] = []
        var outgoing = [[Int]](repeating: [], count: names.count)
        for (link, linkMetrics) in topology.directedLinks {
            guard let a = index[link.from], let b = index[link.to] else { continue }
            outgoing[a].append(from.count)
            from.append(a)
            to.append(b)
            metrics.append(linkMetrics)
        }
        linkFrom = from
        linkTo = to
        self.linkMetrics = metrics
        self.outgoing = outgoing
    }

    // MARK: The request

    /// The path for traffic from source to destination with these intents.
    public func path(from source: IPv6Address, to destination: IPv6Address, intent: PathIntent) -> Result<ComputedPath, NoPath> {
        guard let start = topology.router(for: source) else {
            return .failure(NoPath(reason: "no router has a prefix holding the source \(source)"))
        }
        guard let end = topology.router(for: destination) else {
            return .failure(NoPath(reason: "no router has a prefix holding the destination \(destination)"))
        }
        return path(from: start, to: end, intent: intent)
    }

    /// The path between two routers with these intents.
    public func path(from start: String, to end: String, intent: PathIntent) -> Result<ComputedPath, NoPath> {
        guard let a = index[start], let b = index[end] else { return .failure(NoPath(reason: "no router \(index[start] == nil ? start : end)")) }
        let algorithm = intent.algorithm
        let members = topology.nodes.map { $0.sids[algorithm] != nil }
        guard members[a], members[b] else {
            return .failure(NoPath(reason: "\(members[a] ? end : start) has no SID in algorithm \(algorithm)"))
        }
        let (mode, weights) = objective(intent)
        let usable = linkFrom.indices.map { link in
            members[linkFrom[link]] && members[linkTo[link]]
                && intent.minBandwidthKbps.map { linkMetrics[link].availableKbps >= $0 } ?? true
        }
        let search = Search(computation: self, mode: mode, weights: weights, usable: usable)

        // Without functions: one leg. With them: every placement of each function on a healthy
        // instance whose router is in the algorithm, legs between them, the best whole wins.
        var placements: [[ServiceFunction]] = [[]]
        for type in intent.functions {
            let instances = topology.services.filter { $0.type == type && $0.healthy && index[$0.router].map { members[$0] } == true }
            guard !instances.isEmpty else { return .failure(NoPath(reason: "no healthy \(type) function on a router of algorithm \(algorithm)")) }
            placements = placements.flatMap { chosen in instances.map { chosen + [$0] } }
        }
        var best: (links: [Int], legs: [[Int]], functions: [ServiceFunction], cost: Double)?
        var lastViolation: String?
        // Chains reuse legs: one shortest-path tree per router a leg starts from.
        var trees: [Int: [Int]] = [:]
        for functions in placements {
            let stops = [a] + functions.map { index[$0.router]! } + [b]
            // A single leg is searched among its k best paths (when the best breaks a bound);
            // a chain's legs take each its best.
            var next: () -> [[Int]]?
            if stops.count == 2 {
                var paths = PathEnumerator(search: search, from: a, to: b, limit: Self.boundedSearchLimit)
                next = { paths.next().map { [$0] } }
            } else {
                var legs: [[Int]]? = []
                for (from, to) in zip(stops, stops.dropFirst()) {
                    if trees[from] == nil { trees[from] = search.tree(from: from) }
                    guard let found = search.path(to: to, from: from, in: trees[from]!) else { legs = nil; break }
                    legs?.append(found)
                }
                next = { defer { legs = nil }; return legs }
            }
            while let legs = next() {
                let links = legs.flatMap { $0 }
                if let violation = violation(of: links, intent: intent) {
                    lastViolation = violation
                    // The best path by the bounded metric itself breaks the bound: none will keep it.
                    if intent.metrics.count == 1, bounded(intent) == [intent.metrics[0]] { break }
                    continue
                }
                let cost = search.cost(of: links)
                if best.map({ search.better(cost, than: $0.cost) }) ?? true { best = (links, legs, functions, cost) }
                break
            }
        }
        guard let best else {
            return .failure(NoPath(reason: lastViolation.map { "no path within the bounds: the best ones \($0)" }
                                   ?? "no path from \(start) to \(end) in algorithm \(algorithm)"))
        }
        return .success(result(legs: best.legs, start: a, functions: best.functions, cost: best.cost, algorithm: algorithm))
    }

    /// The mode and per-link weights of a request's metric intents: one intent uses its own
    /// metric, several a weighted sum of normalised metrics; sfc or flex-algo alone use IGP metrics.
    func objective(_ intent: PathIntent) -> (Mode, [Double]) {
        switch intent.metrics.count {
        case 0: return (.additive, linkMetrics.map { Double($0.igpMetric) })
        case 1:
            switch intent.metrics[0] {
            case .highBandwidth: return (.widest, [])
            case .lowBandwidth: return (.narrowest, [])
            case let kind: return (.additive, linkMetrics.map { Self.rawWeight(kind, $0) })
            }
        default:
            let factors = PathIntent.weights(count: intent.metrics.count)
            var weights = [Double](repeating: 0, count: linkMetrics.count)
            for (kind, factor) in zip(intent.metrics, factors) {
                for (link, value) in normalised(kind).enumerated() { weights[link] += factor * value }
            }
            return (.additive, weights)
        }
    }

    /// A link's weight for one additive intent, in its own unit.
    static func rawWeight(_ kind: WingIntentKind, _ link: LinkMetrics) -> Double {
        switch kind {
        case .lowLatency: link.delayMicroseconds
        case .lowJitter: link.jitterMicroseconds
        case .lowPacketLoss: -log(max(1 - link.loss, 1e-12))  // Σ −ln(1−p) orders paths as their loss does
        case .lowUtilization: link.utilization
        default: Double(link.igpMetric)
        }
    }

    /// One metric scaled to 0.00001…1 across all links, lower is better (min-max; bandwidth
    /// turned around, the most available scores lowest). HawkEye's processor scales between the
    /// interquartile fences instead, which fences out the one lossy link of a loss-free network:
    /// exactly the link a low-packet-loss intent must avoid.
    func normalised(_ kind: WingIntentKind) -> [Double] {
        let values: [Double] = linkMetrics.map { link in
            switch kind {
            case .highBandwidth: link.availableKbps
            case .lowBandwidth: Double(link.bandwidthKbps)
            case .lowPacketLoss: link.loss
            default: Self.rawWeight(kind, link)
            }
        }
        guard let lower = values.min(), let upper = values.max() else { return [] }
        return values.map { value in
            let scaled = upper > lower ? (value - lower) / (upper - lower) : 0
            let clipped = min(max(scaled, 0.00001), 1)
            return kind == .highBandwidth ? max(1 - clipped, 0.00001) : clipped
        }
    }

    /// Which bound a path breaks, said with the figures; nil within all of them.
    func violation(of links: [Int], intent: PathIntent) -> String? {
        var metrics = PathMetrics()
        for link in links { metrics.add(linkMetrics[link]) }
        if let max = intent.maxDelayMicroseconds, metrics.delayMicroseconds > max {
            return "take \(Self.figure(metrics.delayMicroseconds)) µs, more than the \(Self.figure(max)) µs asked"
        }
        if let max = intent.maxJitterMicroseconds, metrics.jitterMicroseconds > max {
            return "vary by \(Self.figure(metrics.jitterMicroseconds)) µs, more than the \(Self.figure(max)) µs asked"
        }
        if let max = intent.maxLoss, metrics.loss > max {
            return "lose \(Self.figure(metrics.loss * 100)) %, more than the \(Self.figure(max * 100)) % asked"
        }
        return nil
    }

    /// The metric intents a request bounds.
    func bounded(_ intent: PathIntent) -> [WingIntentKind] {
        [(WingIntentKind.lowLatency, intent.maxDelayMicroseconds), (.lowJitter, intent.maxJitterMicroseconds), (.lowPacketLoss, intent.maxLoss)]
            .filter { $0.1 != nil }.map(\.0)
    }

    static func figure(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.3g", value)
    }

    func result(legs: [[Int]], start: Int, functions: [ServiceFunction], cost: Double, algorithm: Int) -> ComputedPath {
        var routers = [names[start]]
        var segments: [IPv6Address] = []
        var metrics = PathMetrics()
        for (n, leg) in legs.enumerated() {
            for link in leg {
                metrics.add(linkMetrics[link])
                let node = topology.nodes[linkTo[link]]
                routers.append(node.name)
                segments.append(node.sids[algorithm]!)
            }
            // The function's SID follows its router's (HawkEye's order).
            if n < functions.count { segments.append(functions[n].sid) }
        }
        // pack only builds containers from C-SIDs it read with the same format: it cannot refuse them.
        if let format = topology.microSID, let packed = try? format.pack(segments) { segments = packed }
        return ComputedPath(routers: routers, segments: segments, metrics: metrics, cost: cost, functions: functions.map(\.name))
    }

    /// An existing path under today's metrics: its value for the request's objective (nil when a
    /// link of it is gone or no longer usable), and the bound it breaks.
    public func evaluate(routers: [String], intent: PathIntent) -> (cost: Double?, violation: String?) {
        let (mode, weights) = objective(intent)
        var links: [Int] = []
        for (a, b) in zip(routers, routers.dropFirst()) where a != b {
            guard let from = index[a], let to = index[b], let link = outgoing[from].first(where: { linkTo[$0] == to }) else { return (nil, nil) }
            if let min = intent.minBandwidthKbps, linkMetrics[link].availableKbps < min { return (nil, nil) }
            links.append(link)
        }
        let search = Search(computation: self, mode: mode, weights: weights, usable: [Bool](repeating: true, count: linkFrom.count))
        return (search.cost(of: links), violation(of: links, intent: intent))
    }

    /// Whether the request's objective is a bottleneck (larger is better for high-bandwidth).
    public func prefersLarger(_ intent: PathIntent) -> Bool {
        if case .widest = objective(intent).0 { return true }
        return false
    }
}
