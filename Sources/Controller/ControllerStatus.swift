import Foundation
import NetKit

/// What `hike controller show` prints: the topology with each link's metrics and their age, and
/// every session's requests with the current path and the reason for its last change.
public struct ControllerStatus: Sendable, Codable, Equatable {
    public struct Link: Sendable, Codable, Equatable {
        public var from: String
        public var to: String
        public var metrics: LinkMetrics
        /// Where the metrics come from: `topology` (the file), or the measurement or operator that set them.
        public var source: String
        /// Seconds since they last changed; nil for the file's values.
        public var ageSeconds: Double?
    }

    public struct Node: Sendable, Codable, Equatable {
        public var name: String
        /// algorithm (as text, JSON keys) → SID.
        public var sids: [String: String]
        public var prefixes: [String]
    }

    public struct Request: Sendable, Codable, Equatable {
        public var source: String
        public var destination: String
        public var intents: String
        /// nil when the request has no path (it was answered with the destination alone).
        public var routers: [String]?
        public var segments: [String]
        public var metrics: PathMetrics?
        public var reason: String
        public var changes: Int
        public var changedSecondsAgo: Double
    }

    public struct Session: Sendable, Codable, Equatable {
        public var id: Int
        public var peer: String
        public var openedSecondsAgo: Double
        public var requests: [Request]
    }

    public var uptimeSeconds: Double
    public var holdDownSeconds: Double
    public var flappingThreshold: Double
    public var microSID: String?
    public var nodes: [Node]
    public var links: [Link]
    public var services: [ServiceFunction]
    public var sessions: [Session]
    /// What the routers' daemons gave, when the controller reads them.
    public var telemetry: Telemetry?

    public struct Telemetry: Sendable, Codable, Equatable {
        public var routers: [LinkTelemetry.RouterState]
        public var directions: [LinkTelemetry.DirectionState]
    }
}

extension PathMetrics {
    enum CodingKeys: String, CodingKey { case igpMetric, delayMicroseconds, jitterMicroseconds, loss, availableKbps, bandwidthKbps, maxUtilization }

    // JSON has no infinity: an empty path's bandwidth is written as null.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(igpMetric, forKey: .igpMetric)
        try container.encode(delayMicroseconds, forKey: .delayMicroseconds)
        try container.encode(jitterMicroseconds, forKey: .jitterMicroseconds)
        try container.encode(loss, forKey: .loss)
        try container.encode(availableKbps.isFinite ? availableKbps : nil, forKey: .availableKbps)
        try container.encode(bandwidthKbps.isFinite ? bandwidthKbps : nil, forKey: .bandwidthKbps)
        try container.encode(maxUtilization, forKey: .maxUtilization)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        igpMetric = try container.decode(UInt64.self, forKey: .igpMetric)
        delayMicroseconds = try container.decode(Double.self, forKey: .delayMicroseconds)
        jitterMicroseconds = try container.decode(Double.self, forKey: .jitterMicroseconds)
        loss = try container.decode(Double.self, forKey: .loss)
        availableKbps = try container.decodeIfPresent(Double.self, forKey: .availableKbps) ?? .infinity
        bandwidthKbps = try container.decodeIfPresent(Double.self, forKey: .bandwidthKbps) ?? .infinity
        maxUtilization = try container.decode(Double.self, forKey: .maxUtilization)
    }
}

extension IntentController {
    public func status() -> ControllerStatus {
        let now = Date()
        let links = topology.directedLinks.map { entry in
            let change = updated[entry.link]
            return ControllerStatus.Link(from: entry.link.from, to: entry.link.to, metrics: entry.metrics,
                                         source: change?.source ?? "topology", ageSeconds: change.map { now.timeIntervalSince($0.date) })
        }
        let nodes = topology.nodes.map { node in
            ControllerStatus.Node(name: node.name, sids: Dictionary(uniqueKeysWithValues: node.sids.map { (String($0.key), $0.value.description) }),
                                  prefixes: node.prefixes.map(\.description))
        }
        let sessions = self.sessions.keys.sorted().compactMap { id -> ControllerStatus.Session? in
            guard let session = self.sessions[id] else { return nil }
            let requests = session.order.compactMap { session.requests[$0] }.map { tracked in
                ControllerStatus.Request(source: tracked.request.ipv6SourceAddress, destination: tracked.request.ipv6DestinationAddress,
                                         intents: tracked.intent?.summary ?? "(not valid)", routers: tracked.path?.routers,
                                         segments: tracked.answer, metrics: tracked.path?.metrics, reason: tracked.reason,
                                         changes: tracked.changes, changedSecondsAgo: now.timeIntervalSince(tracked.changed))
            }
            return ControllerStatus.Session(id: id, peer: session.peer, openedSecondsAgo: now.timeIntervalSince(session.opened), requests: requests)
        }
        let hold = settings.holdDown.components
        return ControllerStatus(uptimeSeconds: now.timeIntervalSince(started),
                                holdDownSeconds: Double(hold.seconds) + Double(hold.attoseconds) / 1e18,
                                flappingThreshold: settings.flappingThreshold, microSID: topology.microSID.map { "\($0.blockBits)/\($0.nodeBits)" },
                                nodes: nodes, links: links, services: topology.services, sessions: sessions)
    }
}
