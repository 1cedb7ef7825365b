import BPFKit
import BPFObjects
import Foundation
import NetKit
import Topology
import HikeErrors

/// An error of the demos, with what to do about it.
public struct DemoError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What the ping-count demo saw: the ping's summary and xdp_count's per-CPU counters by kind.
public struct PingCountReport: Sendable, Codable, Hashable {
    /// One kind of packet (bpf/include/hike/packet.h) as each CPU counted it.
    public struct Row: Sendable, Codable, Hashable {
        public let kind: UInt32
        public let name: String
        /// Indexed by CPU: one entry per possible CPU.
        public let packets: [UInt64]
        public let bytes: [UInt64]
        public var totalPackets: UInt64 { packets.reduce(0, &+) }
        public var totalBytes: UInt64 { bytes.reduce(0, &+) }

        private enum CodingKeys: String, CodingKey { case kind, name, packets, bytes, totalPackets, totalBytes }

        public init(kind: UInt32, name: String, packets: [UInt64], bytes: [UInt64]) {
            self.kind = kind
            self.name = name
            self.packets = packets
            self.bytes = bytes
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            kind = try container.decode(UInt32.self, forKey: .kind)
            name = try container.decode(String.self, forKey: .name)
            packets = try container.decode([UInt64].self, forKey: .packets)
            bytes = try container.decode([UInt64].self, forKey: .bytes)
        }

        // The totals go into the JSON too, so scripts need not add up CPUs.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(kind, forKey: .kind)
            try container.encode(name, forKey: .name)
            try container.encode(packets, forKey: .packets)
            try container.encode(bytes, forKey: .bytes)
            try container.encode(totalPackets, forKey: .totalPackets)
            try container.encode(totalBytes, forKey: .totalBytes)
        }
    }

    /// The namespace that pinged and the one whose veth0 ran xdp_count.
    public let sender: String
    public let receiver: String
    public let interface: String
    /// The address pinged (the receiver's).
    public let address: String
    /// `native` when the kernel reports the program attached in driver mode.
    public let attachMode: String
    public let transmitted: Int
    public let received: Int
    public let cpuCount: Int
    public let rows: [Row]

    /// The total of one kind, zero when the kind is not in the table.
    public func total(kind: UInt32) -> PacketCounter {
        guard let row = rows.first(where: { $0.kind == kind }) else { return .zero }
        return PacketCounter(packets: row.totalPackets, bytes: row.totalBytes)
    }

    public var echoRequests: PacketCounter { total(kind: PingCountDemo.Kind.echoRequest) }
}

/// The first real demonstration: two namespaces joined by a veth pair, xdp_count attached
/// natively on the receiver, pings across, and the per-CPU counters read back.
public enum PingCountDemo {
    public static let defaultPrefix = "hike-demo"

    /// The traffic kinds of xdp_count's kind_counters (enum hike_traffic_kind).
    public enum Kind {
        public static let other: UInt32 = 0
        public static let ipv4: UInt32 = 1
        public static let ipv6: UInt32 = 2
        public static let echoRequest: UInt32 = 3
        public static let echoReply: UInt32 = 4
        public static let icmpv6Other: UInt32 = 5

        public static let names: [UInt32: String] = [
            other: "other", ipv4: "ipv4", ipv6: "ipv6 (not icmpv6)", echoRequest: "icmpv6 echo request",
            echoReply: "icmpv6 echo reply", icmpv6Other: "icmpv6 other",
        ]
    }

    /// Runs the demo and deletes everything it made, whether it succeeds or throws.
    /// progress gets a line for each step, as it starts.
    public static func run(count: Int = 5, interval: Double = 0.2, prefix: String = defaultPrefix,
                           progress: (String) -> Void = { _ in }) throws -> PingCountReport {
        guard (1...10_000).contains(count) else {
            throw DemoError("the ping count must be between 1 and 10000, not \(count)")
        }
        // Namespaces of earlier runs that were killed before cleaning up.
        for name in Topology.removeStale(prefix: prefix) { progress("removed \(name), left behind by an earlier run") }

        progress("creating namespaces…")
        let (topology, sender, receiver) = try Topology.pair(prefix: prefix)
        defer { topology.destroy() }
        progress("  \(sender) (fc00::1) ↔ \(receiver) (fc00::2), joined by veth0")

        progress("loading xdp_count…")
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let program = try object.program("xdp_count")

        progress("attaching xdp_count (native) to veth0 in \(receiver)…")
        let link = try receiver.run { try XDPLink.attach(program, interface: "veth0", mode: .native) }
        // Deleting the namespace detaches it too; detaching first keeps the order obvious.
        defer { try? link.detach() }
        let mode = try attachedMode(interface: "veth0", in: receiver, topology: topology)
        guard mode == "native" else {
            throw DemoError("the kernel reports xdp_count on veth0 in \(mode) mode, not native (driver) mode")
        }

        let address = "fc00::2"
        progress("pinging \(address) \(count) times…")
        let ping = try Traffic.ping(from: sender, to: address, count: count, interval: interval)

        progress("reading the per-CPU counters…")
        let counters = try TypedMap<UInt32, PacketCounter>(object.map("kind_counters"))
        var rows: [PingCountReport.Row] = []
        var cpuCount = 0
        for kind in 0..<counters.map.info.maxEntries {
            let perCPU = try counters.lookupPerCPU(kind) ?? []
            cpuCount = max(cpuCount, perCPU.count)
            // Unnamed kinds are reserved: show them only if something landed there.
            let name = Kind.names[kind]
            guard name != nil || perCPU.contains(where: { $0 != .zero }) else { continue }
            rows.append(PingCountReport.Row(kind: kind, name: name ?? "kind \(kind)",
                                            packets: perCPU.map(\.packets), bytes: perCPU.map(\.bytes)))
        }

        progress("deleting namespaces…")
        try link.detach()
        topology.destroy()
        return PingCountReport(sender: sender.name, receiver: receiver.name, interface: "veth0", address: address,
                               attachMode: mode, transmitted: ping.transmitted, received: ping.received,
                               cpuCount: cpuCount, rows: rows)
    }

    /// The XDP mode the kernel reports for the interface (`ip -j link`: xdp.mode 1 driver,
    /// 2 generic, 3 offload), so the demo shows what really runs, not what it asked for.
    static func attachedMode(interface: String, in namespace: NetworkNamespace, topology: Topology) throws -> String {
        let json = try topology.ip(["-j", "link", "show", "dev", interface], in: namespace)
        guard let links = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]],
              let xdp = links.first?["xdp"] as? [String: Any], let mode = (xdp["mode"] as? NSNumber)?.intValue else {
            throw DemoError("`ip -j link show dev \(interface)` in \(namespace) shows no XDP program: \(json.prefix(200))")
        }
        switch mode {
        case 1: return "native"
        case 2: return "generic"
        case 3: return "offload"
        default: return "mode \(mode)"
        }
    }

    /// Deletes the namespaces that this process made with that prefix. For a signal handler:
    /// the demo's own clean-up does not run when the process is interrupted.
    @discardableResult
    public static func deleteOwnNamespaces(prefix: String) -> [String] {
        let own = "\(prefix)-\(getpid())-"
        var deleted: [String] = []
        for name in NetworkNamespace.list() where name.hasPrefix(own) {
            guard let namespace = try? NetworkNamespace(existing: name), (try? namespace.delete()) != nil else { continue }
            deleted.append(name)
        }
        return deleted
    }
}

extension DemoError: HikeError {
    public var code: String { "demo" }
}
