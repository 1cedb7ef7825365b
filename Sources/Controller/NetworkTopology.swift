import NetKit
import SRv6

/// What the controller knows of one direction of a link: configured values (IGP metric,
/// bandwidth) and measured ones (delay, jitter, loss, utilization), in HawkEye's units.
public struct LinkMetrics: Sendable, Hashable, Codable {
    public var igpMetric: UInt32
    /// The link's capacity in kbit/s (HawkEye's MaxLinkBwKbps).
    public var bandwidthKbps: UInt64
    /// One-way delay in µs.
    public var delayMicroseconds: Double
    /// Delay variation in µs.
    public var jitterMicroseconds: Double
    /// Packet loss, 0…1.
    public var loss: Double
    /// The share of the capacity in use, 0…1.
    public var utilization: Double

    public init(igpMetric: UInt32 = 10, bandwidthKbps: UInt64 = 1_000_000, delayMicroseconds: Double = 0,
                jitterMicroseconds: Double = 0, loss: Double = 0, utilization: Double = 0) {
        self.igpMetric = igpMetric
        self.bandwidthKbps = bandwidthKbps
        self.delayMicroseconds = delayMicroseconds
        self.jitterMicroseconds = jitterMicroseconds
        self.loss = loss
        self.utilization = utilization
    }

    /// What is left of the capacity (HawkEye's UnidirAvailableBw), kbit/s.
    public var availableKbps: Double { Double(bandwidthKbps) * max(0, 1 - utilization) }
}

/// A router: its SIDs per algorithm (0 is the default, SPF; 128–255 flex-algo) and the prefixes
/// of the hosts behind it, by which a request's addresses are mapped to it.
public struct TopologyNode: Sendable, Hashable, Codable {
    public var name: String
    /// algorithm → the node's End (or uN) SID in it; a node takes part in the algorithms it has a SID for.
    public var sids: [Int: IPv6Address]
    public var prefixes: [IPv6Network]

    public init(name: String, sids: [Int: IPv6Address], prefixes: [IPv6Network] = []) {
        self.name = name
        self.sids = sids
        self.prefixes = prefixes
    }
}

/// A link between two routers, each direction with its own metrics.
public struct TopologyLink: Sendable, Hashable, Codable {
    public var from: String
    public var to: String
    public var forward: LinkMetrics
    public var reverse: LinkMetrics

    public init(from: String, to: String, forward: LinkMetrics, reverse: LinkMetrics? = nil) {
        self.from = from
        self.to = to
        self.forward = forward
        self.reverse = reverse ?? forward
    }
}

/// A service function (a firewall, an IDS…) behind a router, reached by its own SID.
public struct ServiceFunction: Sendable, Hashable, Codable {
    public var name: String
    /// What an sfc intent names (`fw`, `ids`).
    public var type: String
    public var router: String
    public var sid: IPv6Address
    public var healthy: Bool

    public init(name: String, type: String, router: String, sid: IPv6Address, healthy: Bool = true) {
        self.name = name
        self.type = type
        self.router = router
        self.sid = sid
        self.healthy = healthy
    }
}

/// One direction of a link, as the path computation walks it.
public struct DirectedLink: Sendable, Hashable, Codable, CustomStringConvertible {
    public var from: String
    public var to: String

    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }

    public var description: String { "\(from)→\(to)" }
}

/// The network paths are computed on: routers, links with metrics per direction, service
/// functions, and optionally the uSID format SID lists are compressed with.
public struct NetworkTopology: Sendable, Hashable {
    public var nodes: [TopologyNode]
    public var links: [TopologyLink]
    public var services: [ServiceFunction]
    /// When set, runs of uN SIDs of one block are packed into containers (RFC 9800).
    public var microSID: MicroSIDFormat?
    /// The routers' hike daemons, by router: where the controller reads their links' loss and
    /// load (LinkTelemetry). Routers without one keep the metrics they are given.
    public var daemons: [String: DaemonLocation]
    /// The HIKe instance of each router that names one (`instance:`): in Prometheus, the `node`
    /// label of its metrics.
    public var instances: [String: String]

    public init(nodes: [TopologyNode], links: [TopologyLink], services: [ServiceFunction] = [], microSID: MicroSIDFormat? = nil,
                daemons: [String: DaemonLocation] = [:], instances: [String: String] = [:]) {
        self.nodes = nodes
        self.links = links
        self.services = services
        self.microSID = microSID
        self.daemons = daemons
        self.instances = instances
    }

    /// The router whose metrics carry this `node` label in Prometheus: the one whose instance
    /// it is, else the one of that name.
    public func router(forInstance instance: String) -> String? {
        instances.first { $0.value == instance }?.key ?? (nodes.contains { $0.name == instance } && instances[instance] == nil ? instance : nil)
    }

    /// The router whose host prefix holds address (the longest match), as HawkEye maps a
    /// request's endpoints; a router's own SID also names it.
    public func router(for address: IPv6Address) -> String? {
        var best: (name: String, length: Int)?
        for node in nodes {
            for prefix in node.prefixes where prefix.contains(address) && prefix.length > (best?.length ?? -1) {
                best = (node.name, prefix.length)
            }
        }
        if let best { return best.name }
        return nodes.first { $0.sids.values.contains(address) }?.name
    }

    /// Both directions of every link, with their metrics.
    public var directedLinks: [(link: DirectedLink, metrics: LinkMetrics)] {
        links.flatMap { [(DirectedLink(from: $0.from, to: $0.to), $0.forward), (DirectedLink(from: $0.to, to: $0.from), $0.reverse)] }
    }

    /// The metrics of one direction, nil when no link joins the two.
    public func metrics(of link: DirectedLink) -> LinkMetrics? {
        for entry in links {
            if entry.from == link.from, entry.to == link.to { return entry.forward }
            if entry.to == link.from, entry.from == link.to { return entry.reverse }
        }
        return nil
    }

    /// Replaces one direction's metrics; false when no link joins the two.
    @discardableResult
    public mutating func setMetrics(_ metrics: LinkMetrics, of link: DirectedLink) -> Bool {
        for index in links.indices {
            if links[index].from == link.from, links[index].to == link.to { links[index].forward = metrics; return true }
            if links[index].to == link.from, links[index].from == link.to { links[index].reverse = metrics; return true }
        }
        return false
    }
}
