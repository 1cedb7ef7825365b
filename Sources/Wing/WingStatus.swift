import BPFKit
import Foundation
import NetKit

/// What a site's wing data plane holds now: `hike wing show` prints it, `--json` as it is.
public struct WingStatus: Sendable, Codable, Equatable {
    public struct Application: Sendable, Codable, Equatable {
        /// 0: ICMPv6 echo.
        public var port: UInt16
        /// SIDs in traversal order (the destination left out).
        public var segments: [String]
        /// In an outer IPv6 header (H.Encaps) rather than inserted.
        public var encapsulated: Bool
    }

    public struct Service: Sendable, Codable, Equatable {
        public var id: UInt32
        public var name: String
        public var domainName: String?
        /// Destination addresses mapped to the service now: configured, or from DNS answers.
        public var addresses: [String]
        public var applications: [Application]
    }

    public struct Flow: Sendable, Codable, Equatable {
        public var client: String
        /// The client's port (0: ICMPv6 echo).
        public var port: UInt16
        public var proto: String
        /// The reply path, SIDs in traversal order (the client left out).
        public var segments: [String]
        /// Seconds since a packet of the flow was seen either way.
        public var idleSeconds: Double
    }

    public var role: WingRole
    public var interface: String
    public var namespace: String?
    public var xdpMode: String
    public var hawkeye: String?
    /// The NEXT-C-SID format a client packs its paths with (`32/16`), if any.
    public var microSIDs: String?
    public var flowIdleSeconds: UInt32?
    public var services: [Service]
    public var flows: [Flow]
    /// enum wing_stat's counters, summed over CPUs, by name.
    public var counters: [String: UInt64]
}

extension WingHost {
    /// The state of site's data plane, read from its pins and record.
    public static func status(of site: WingSite) throws(WingError) -> WingStatus {
        let record = try WingRecord.read(site)
        do {
            func open(_ name: String) throws -> BPFMap { try BPFMap.openPinned(site.mapPin(name)) }
            var counters: [String: UInt64] = [:]
            let stats = try open(WingABI.statsMap)
            for (slot, name) in WingABI.stats.enumerated() {
                counters[name] = try stats.lookupSum(UInt32(slot), as: UInt64.self) ?? 0
            }
            let addresses = try serviceAddresses(site)
            var applications: [UInt32: [WingStatus.Application]] = [:]
            for (key, values) in try TypedMap<WingAppKey, WingPathEntry>(open(WingABI.appsMap)).entries() {
                guard let path = values.first else { continue }
                applications[key.service, default: []].append(.init(port: key.port, segments: path.traversal.map(\.description),
                                                                    encapsulated: path.encapsulates))
            }
            let now = monotonicNanoseconds()
            var flows: [WingStatus.Flow] = []
            for (key, values) in try TypedMap<WingFlowKey, WingPathEntry>(open(WingABI.flowsMap)).entries() {
                guard let path = values.first else { continue }
                flows.append(.init(client: key.addr.description, port: key.port, proto: protocolName(key.proto),
                                   segments: path.traversal.map(\.description),
                                   idleSeconds: Double(now &- path.lastSeenNs) / 1e9))
            }
            let services = record.services.map { service in
                WingStatus.Service(id: service.id, name: service.name, domainName: service.domainName,
                                   addresses: (addresses[service.id] ?? []).sorted().map(\.description),
                                   applications: (applications[service.id] ?? []).sorted { $0.port < $1.port })
            }
            return WingStatus(role: record.role, interface: site.interface, namespace: site.namespace,
                              xdpMode: record.xdpMode, hawkeye: record.hawkeye,
                              microSIDs: record.microSIDs.map { "\($0.blockBits)/\($0.nodeBits)" },
                              flowIdleSeconds: record.role == .server ? record.flowIdleSeconds : nil,
                              services: services,
                              flows: flows.sorted { ($0.client, $0.port, $0.proto) < ($1.client, $1.port, $1.proto) },
                              counters: counters)
        } catch {
            throw .kernel("read hike wing's state on \(site): \(error)")
        }
    }

    static func protocolName(_ proto: UInt8) -> String {
        switch proto {
        case 6: "tcp"
        case 17: "udp"
        case 58: "icmpv6"
        default: String(proto)
        }
    }

    /// bpf_ktime_get_ns()'s clock.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
