import Foundation
import NetKit
import SRv6
import Yams

/// The controller's topology file as written, before validation (keys in kebab-case).
///
///     usid: 32/16                          # optional: pack uN SIDs of one block into containers
///     nodes:
///       - name: r1
///         sids: {0: "fcbb:bb00:1::", 128: "fcbb:bb80:1::"}   # per algorithm; 0 is required
///         prefixes: [fd00:1::/64]          # the hosts behind it
///         daemon: unix:/run/hike/r1.sock   # optional: its hike daemon (or HOST:PORT, plaintext),
///         instance: r1                     #   the HIKe instance there (default: default; in
///                                          #   Prometheus, the `node` label: default the router's name)
///         netns: r1                        #   and the namespace of its interfaces (default: the daemon's)
///     links:
///       - between: [r1, r2]
///         igp-metric: 10
///         bandwidth: 1000000               # kbit/s
///         delay: 500                       # µs, until measured
///         jitter: 20                       # µs
///         loss: 0                          # per cent
///         utilization: 0                   # per cent of the bandwidth
///         reverse: {delay: 700}            # r2→r1 where it differs
///     services:
///       - {name: fw1, type: fw, router: r3, sid: "fcbb:bb00:3:f1::", healthy: true}
struct TopologyDocument: Decodable {
    var usid: String?
    var nodes: [NodeEntry]?
    var links: [LinkEntry]?
    var services: [ServiceEntry]?

    enum CodingKeys: String, CodingKey, CaseIterable { case usid, nodes, links, services }

    struct NodeEntry: Codable {
        var name: String?
        var sids: [String: String]?
        var prefixes: [String]?
        var daemon: String?
        var instance: String?
        var netns: String?

        enum CodingKeys: String, CodingKey, CaseIterable { case name, sids, prefixes, daemon, instance, netns }
    }

    struct MetricsEntry: Codable {
        var igpMetric: Int?
        var bandwidth: Int?
        var delay: Double?
        var jitter: Double?
        var loss: Double?
        var utilization: Double?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case igpMetric = "igp-metric", bandwidth, delay, jitter, loss, utilization
        }
    }

    struct LinkEntry: Decodable {
        var between: [String]?
        /// The metrics' keys stand beside `between` in the file.
        var metrics: MetricsEntry
        var reverse: MetricsEntry?

        enum CodingKeys: String, CodingKey, CaseIterable { case between, reverse }

        /// Every key a link takes, for the unknown-key check.
        static let keys = ["between"] + MetricsEntry.CodingKeys.allCases.map(\.rawValue) + ["reverse"]

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            between = try container.decodeIfPresent([String].self, forKey: .between)
            reverse = try container.decodeIfPresent(MetricsEntry.self, forKey: .reverse)
            metrics = try MetricsEntry(from: decoder)
        }
    }

    struct ServiceEntry: Codable {
        var name: String?
        var type: String?
        var router: String?
        var sid: String?
        var healthy: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable { case name, type, router, sid, healthy }
    }
}

extension NetworkTopology {
    /// Reads and validates a topology file; every problem is reported with its line and column.
    public static func load(file path: String) throws(ControllerError) -> NetworkTopology {
        switch ConfigurationDiagnostic.readFile(path) {
        case .success(let text): return try parse(text, file: path)
        case .failure(let diagnostic): throw .topology([diagnostic])
        }
    }

    public static func parse(_ text: String, file: String = "<input>") throws(ControllerError) -> NetworkTopology {
        typealias D = TopologyDocument
        let marked: MarkedDocument
        do {
            marked = try MarkedDocument.mapping(text, file: file, expecting: "nodes:, links:, services:")
        } catch {
            throw .topology([error])
        }
        // Unknown keys do not stop decoding: a misspelt key and what it leaves missing are both reported.
        func keys<K: CodingKey & CaseIterable & RawRepresentable>(_: K.Type) -> [String] where K.RawValue == String { K.allCases.map(\.rawValue) }
        var unknown = marked.unknownKeys(in: marked.root, allowed: keys(D.CodingKeys.self), what: "the topology")
        for (list, allowed, what) in [("nodes", keys(D.NodeEntry.CodingKeys.self), "a node"), ("links", D.LinkEntry.keys, "a link"),
                                      ("services", keys(D.ServiceEntry.CodingKeys.self), "a service")] {
            for item in marked.root.mapping?[list]?.sequence ?? [] {
                unknown += marked.unknownKeys(in: item, allowed: allowed, what: what)
                if list == "links" {
                    unknown += marked.unknownKeys(in: item.mapping?["reverse"], allowed: keys(D.MetricsEntry.CodingKeys.self), what: "reverse")
                }
            }
        }
        let document: TopologyDocument
        do {
            document = try marked.decode(TopologyDocument.self)
        } catch {
            throw .topology((unknown + [error]).inFileOrder)
        }
        var validator = TopologyValidator(document: marked)
        let topology = validator.validate(document)
        let diagnostics = (unknown + validator.diagnostics).inFileOrder
        if !diagnostics.isEmpty { throw .topology(diagnostics) }
        return topology
    }
}

/// The rules of a topology file, collecting every error with where it is.
struct TopologyValidator {
    typealias K = PathKey
    let document: MarkedDocument
    var diagnostics: [ConfigurationDiagnostic] = []

    mutating func error(_ message: String, at path: [any CodingKey]) {
        diagnostics.append(document.diagnostic(message, at: path))
    }

    mutating func validate(_ raw: TopologyDocument) -> NetworkTopology {
        var format: MicroSIDFormat?
        if let text = raw.usid {
            do { format = try MicroSIDFormat(parsing: text) } catch { self.error("usid: \(error)", at: [K("usid")]) }
        }
        var nodes: [TopologyNode] = []
        var daemons: [String: DaemonLocation] = [:]
        var instances: [String: String] = [:]
        for (n, entry) in (raw.nodes ?? []).enumerated() {
            let at: [any CodingKey] = [K("nodes"), K(intValue: n)]
            guard let node = node(entry, at: at, taken: nodes) else { continue }
            nodes.append(node)
            if let address = entry.daemon {
                do {
                    daemons[node.name] = try DaemonLocation(parsing: address, instance: entry.instance, netns: entry.netns)
                } catch {
                    self.error("node \(node.name): \(error.message)", at: at + [K("daemon")])
                }
            } else if entry.netns != nil {
                error("node \(node.name): netns says where its daemon finds its interfaces: give daemon too", at: at + [K("netns")])
            }
            if let instance = entry.instance { instances[node.name] = instance }
        }
        if nodes.isEmpty && diagnostics.isEmpty { error("no nodes: list the routers under 'nodes'", at: [K("nodes")]) }
        // Links are checked against every name given, so that a node's own error does not also
        // make each of its links "unknown".
        let names = Set((raw.nodes ?? []).compactMap(\.name))
        var links: [TopologyLink] = []
        for (n, entry) in (raw.links ?? []).enumerated() {
            let at: [any CodingKey] = [K("links"), K(intValue: n)]
            guard let ends = entry.between, ends.count == 2 else { error("a link is 'between: [A, B]', two routers", at: at); continue }
            guard ends[0] != ends[1] else { error("a link joins two different routers, not \(ends[0]) with itself", at: at + [K("between")]); continue }
            if let unknownEnd = ends.first(where: { !names.contains($0) }) {
                error("no node is named '\(unknownEnd)'", at: at + [K("between")])
                continue
            }
            if links.contains(where: { Set([$0.from, $0.to]) == Set(ends) }) {
                error("\(ends[0]) and \(ends[1]) are joined twice: one link per pair", at: at + [K("between")])
                continue
            }
            guard let forward = metrics(entry.metrics, base: LinkMetrics(), at: at) else { continue }
            guard let reverse = entry.reverse.map({ metrics($0, base: forward, at: at + [K("reverse")]) }) ?? forward else { continue }
            links.append(TopologyLink(from: ends[0], to: ends[1], forward: forward, reverse: reverse))
        }
        var services: [ServiceFunction] = []
        for (n, entry) in (raw.services ?? []).enumerated() {
            let at: [any CodingKey] = [K("services"), K(intValue: n)]
            guard let name = entry.name, !name.isEmpty else { error("a service needs a name", at: at); continue }
            guard !services.contains(where: { $0.name == name }) else { error("a service '\(name)' is listed twice", at: at + [K("name")]); continue }
            guard let type = entry.type, !type.isEmpty else { error("service \(name) needs a type (what an sfc intent names: fw, ids…)", at: at); continue }
            guard let router = entry.router, names.contains(router) else {
                error("service \(name): 'router' must name a node", at: at + [K(entry.router == nil ? "name" : "router")]); continue
            }
            guard let text = entry.sid else { error("service \(name) needs its sid", at: at + [K("name")]); continue }
            guard let sid = address(text, at: at + [K("sid")], what: "service \(name): sid") else { continue }
            services.append(ServiceFunction(name: name, type: type, router: router, sid: sid, healthy: entry.healthy ?? true))
        }
        return NetworkTopology(nodes: nodes, links: links, services: services, microSID: format, daemons: daemons, instances: instances)
    }

    mutating func address(_ text: String, at path: [any CodingKey], what: String) -> IPv6Address? {
        do { return try IPv6Address(parsing: text) } catch {
            self.error("\(what): \(error.message)", at: path)
            return nil
        }
    }

    mutating func node(_ entry: TopologyDocument.NodeEntry, at: [any CodingKey], taken: [TopologyNode]) -> TopologyNode? {
        guard let name = entry.name, !name.isEmpty else { error("a node needs a name", at: at); return nil }
        guard !taken.contains(where: { $0.name == name }) else { error("a node '\(name)' is listed twice", at: at + [K("name")]); return nil }
        var sids: [Int: IPv6Address] = [:]
        let ordered = document.node(at: at + [K("sids")])?.mapping?.keys.compactMap(\.string) ?? []
        for key in ordered {
            guard let text = entry.sids?[key] else { continue }
            guard let algorithm = Int(key), algorithm == 0 || (128...255).contains(algorithm) else {
                error("node \(name): '\(key)' is not an algorithm: 0, or 128–255 for flex-algo", at: at + [K("sids"), K(key)])
                continue
            }
            if let sid = address(text, at: at + [K("sids"), K(key)], what: "node \(name): sid") { sids[algorithm] = sid }
        }
        if sids[0] == nil && entry.sids?["0"] == nil {
            error("node \(name) needs its algorithm-0 SID (sids: {0: …})", at: at + [K(entry.sids == nil ? "name" : "sids")])
            return nil
        }
        var prefixes: [IPv6Network] = []
        for (n, text) in (entry.prefixes ?? []).enumerated() {
            do { prefixes.append(try IPv6Network(parsing: text)) } catch {
                self.error("node \(name): \(error.message)", at: at + [K("prefixes"), K(intValue: n)])
            }
        }
        return TopologyNode(name: name, sids: sids, prefixes: prefixes)
    }

    /// Metrics from an entry, what it leaves out taken from base.
    mutating func metrics(_ entry: TopologyDocument.MetricsEntry, base: LinkMetrics, at: [any CodingKey]) -> LinkMetrics? {
        var out = base
        let before = diagnostics.count
        if let value = entry.igpMetric {
            if (1...16_777_215).contains(value) { out.igpMetric = UInt32(value) } else { error("igp-metric must be 1–16777215", at: at + [K("igp-metric")]) }
        }
        if let value = entry.bandwidth {
            if value > 0 { out.bandwidthKbps = UInt64(value) } else { error("bandwidth is in kbit/s and must be positive", at: at + [K("bandwidth")]) }
        }
        for (key, value, path) in [("delay", entry.delay, \LinkMetrics.delayMicroseconds), ("jitter", entry.jitter, \LinkMetrics.jitterMicroseconds)] {
            guard let value else { continue }
            if value >= 0, value.isFinite { out[keyPath: path] = value } else { error("\(key) is in µs and must be ≥ 0", at: at + [K(key)]) }
        }
        for (key, value, path) in [("loss", entry.loss, \LinkMetrics.loss), ("utilization", entry.utilization, \LinkMetrics.utilization)] {
            guard let value else { continue }
            if (0...100).contains(value) { out[keyPath: path] = value / 100 } else { error("\(key) is a percentage: 0–100", at: at + [K(key)]) }
        }
        return diagnostics.count == before ? out : nil
    }
}
