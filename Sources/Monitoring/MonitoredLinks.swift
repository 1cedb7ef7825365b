import BPFKit
import Foundation

/// A link monitored at this node (`pm_links`, bpf/include/hike/pm_link.h), by its interface:
/// what hike's XDP forwarders send on it is counted and marked under sendFlow, what its loader
/// receives marked is counted under receiveFlow, and dropPercent of what arrives is dropped (fault
/// injection). The loss of one direction is the sender's sendFlow against the receiver's
/// receiveFlow: the same flow ID at both ends.
public struct MonitoredLink: Sendable, Codable, Hashable {
    public let ifindex: Int32
    public let sendFlow: UInt32?
    public let receiveFlow: UInt32?
    public let dropPercent: Double

    public init(ifindex: Int32, sendFlow: UInt32?, receiveFlow: UInt32?, dropPercent: Double) {
        self.ifindex = ifindex
        self.sendFlow = sendFlow
        self.receiveFlow = receiveFlow
        self.dropPercent = dropPercent
    }

    init(ifindex: Int32, entry: PMLinkEntry) {
        self.init(ifindex: ifindex, sendFlow: entry.sendFlow == 0 ? nil : entry.sendFlow,
                  receiveFlow: entry.receiveFlow == 0 ? nil : entry.receiveFlow,
                  dropPercent: Double(entry.dropPPM) * 100 / Double(PMABI.linkPPM))
    }

    /// The map entry: the drop share rounded to parts per million.
    var entry: PMLinkEntry {
        PMLinkEntry(sendFlow: sendFlow ?? 0, receiveFlow: receiveFlow ?? 0,
                    dropPPM: UInt32((dropPercent * Double(PMABI.linkPPM) / 100).rounded()))
    }
}

extension LocalMonitoredNode {
    /// Monitors the interface ifindex (replacing what it had): checked whole first. A flow it
    /// names that the node does not have yet is added, the send flow marked with DSCP and the
    /// receive flow counted, both from zero; the link's entry is written last, so the data plane
    /// never counts under a flow that is not configured. A failure takes back what was written.
    public func setLink(_ link: MonitoredLink) throws {
        guard link.ifindex > 0, link.ifindex < PMABI.linkMaxIfindex else {
            throw MonitoringError.invalidArgument("interface index \(link.ifindex): link monitoring covers interfaces 1–\(PMABI.linkMaxIfindex - 1)")
        }
        for flow in [link.sendFlow, link.receiveFlow].compactMap({ $0 }) where !(1...PMABI.flowMax).contains(flow) {
            throw MonitoringError.invalidFlow("\(flow) is out of range: flow IDs are 1–\(PMABI.flowMax)")
        }
        if let send = link.sendFlow, send == link.receiveFlow {
            throw MonitoringError.invalidFlow("\(send) both ways: each direction of a link is a flow of its own")
        }
        guard link.dropPercent.isFinite, (0...100).contains(link.dropPercent) else {
            throw MonitoringError.invalidArgument("drop \(link.dropPercent) %: give 0–100")
        }
        let links = try TypedMap<UInt32, PMLinkEntry>(map(PMABI.linksMap))
        let configured = Set(try flows().map(\.flow))
        let key = UInt32(link.ifindex)
        var added: [UInt32] = []
        do {
            for (flow, mode) in [(link.sendFlow, MarkingMode.dscp), (link.receiveFlow, nil)] {
                guard let flow, !configured.contains(flow) else { continue }
                try addFlow(flow, mode: mode)
                added.append(flow)
            }
            try links.update(key, link.entry)
        } catch {
            try Self.undo(added.map { flow in ("remove flow \(flow)", { try removeFlow(flow) }) }, after: error,
                          operation: "monitoring interface \(link.ifindex) on \(name)")
        }
    }

    /// Stops monitoring the interface ifindex: its entry goes; its flows and their counters stay
    /// (`hike pm flow rm` removes them).
    public func removeLink(ifindex: Int32, interface: String? = nil) throws {
        let links = try TypedMap<UInt32, PMLinkEntry>(map(PMABI.linksMap))
        guard ifindex > 0, ifindex < PMABI.linkMaxIfindex, let entry = try links.lookup(UInt32(ifindex)), entry != .off else {
            throw MonitoringError.invalidArgument("\(interface ?? "interface index \(ifindex)") is not a monitored link on \(name) (hike pm link list)")
        }
        try links.update(UInt32(ifindex), .off)
    }

    /// The monitored links, by interface index.
    public func links() throws -> [MonitoredLink] {
        let links = try TypedMap<UInt32, PMLinkEntry>(map(PMABI.linksMap))
        return try links.map.lookupBatch().compactMap { key, value -> MonitoredLink? in
            guard value.contains(where: { $0 != 0 }) else { return nil }
            return MonitoredLink(ifindex: Int32(try links.decodeKey(key)), entry: try links.decodeValue(value))
        }.sorted { $0.ifindex < $1.ifindex }
    }
}

/// The last flip hike made, kept beside the instance's state (`pm-colour.json`).
struct ColourRecord: Codable, Equatable {
    let colour: Colour
    /// Unix seconds.
    let since: Double

    /// Written whole (a temporary file renamed over it): a reader never sees half of it.
    func write(to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// A node's links as a controller reads them (`hike pm link list --json`): each monitored
/// interface's flows, their counters by colour, the interface's own counters, and the colour the
/// node marks with since when. The loss of a direction is taken from a colour while it is idle
/// at the sender: once it has been idle long enough for its last packets to arrive.
public struct LinkReport: Sendable, Codable, Equatable {
    public let node: String
    /// When it was read, Unix seconds.
    public let time: Double
    public let activeColour: Colour
    /// Since when activeColour is active (Unix seconds), nil when hike did not flip it.
    public let colourSince: Double?
    public let links: [Link]

    public struct Link: Sendable, Codable, Equatable {
        public let interface: String
        public let ifindex: Int32
        public let sendFlow: UInt32?
        public let receiveFlow: UInt32?
        public let dropPercent: Double
        /// The send flow's counters (colour 0, colour 1); empty without a send flow.
        public let sent: [PacketCounter]
        /// The receive flow's counters (colour 0, colour 1); empty without a receive flow.
        public let received: [PacketCounter]
        /// The interface's own counters (`ip -s link`), nil when it cannot be read.
        public let interfaceCounters: InterfaceTotals?

        public init(interface: String, ifindex: Int32, sendFlow: UInt32?, receiveFlow: UInt32?, dropPercent: Double,
                    sent: [PacketCounter], received: [PacketCounter], interfaceCounters: InterfaceTotals?) {
            self.interface = interface
            self.ifindex = ifindex
            self.sendFlow = sendFlow
            self.receiveFlow = receiveFlow
            self.dropPercent = dropPercent
            self.sent = sent
            self.received = received
            self.interfaceCounters = interfaceCounters
        }
    }

    public struct InterfaceTotals: Sendable, Codable, Equatable {
        public let txPackets: UInt64
        public let txBytes: UInt64
        public let rxPackets: UInt64
        public let rxBytes: UInt64
        public init(txPackets: UInt64, txBytes: UInt64, rxPackets: UInt64, rxBytes: UInt64) {
            self.txPackets = txPackets
            self.txBytes = txBytes
            self.rxPackets = rxPackets
            self.rxBytes = rxBytes
        }
    }

    public init(node: String, time: Double, activeColour: Colour, colourSince: Double?, links: [Link]) {
        self.node = node
        self.time = time
        self.activeColour = activeColour
        self.colourSince = colourSince
        self.links = links
    }
}

extension LocalMonitoredNode {
    /// The links' report; names: interface names by index (the namespace's), totals: an
    /// interface's counters by name (nil: not readable).
    public func linkReport(names: [Int32: String], totals: (String) -> LinkReport.InterfaceTotals?) throws -> LinkReport {
        let (colour, since) = try colourAndSince()
        let sent = try TypedMap<UInt32, PacketCounter>(map(PMABI.sentMap))
        let received = try TypedMap<UInt32, PacketCounter>(map(PMABI.receivedMap))
        func counts(_ flow: UInt32?, in counters: TypedMap<UInt32, PacketCounter>) throws -> [PacketCounter] {
            guard let flow else { return [] }
            return try Colour.allCases.map { try counters.lookupSum(PMABI.counterIndex(flow: flow, colour: $0)) ?? .zero }
        }
        let links = try links().map { link in
            let name = names[link.ifindex] ?? "#\(link.ifindex)"
            return LinkReport.Link(interface: name, ifindex: link.ifindex, sendFlow: link.sendFlow, receiveFlow: link.receiveFlow,
                                   dropPercent: link.dropPercent, sent: try counts(link.sendFlow, in: sent),
                                   received: try counts(link.receiveFlow, in: received),
                                   interfaceCounters: names[link.ifindex].flatMap(totals))
        }
        return LinkReport(node: name, time: Date().timeIntervalSince1970, activeColour: colour, colourSince: since, links: links)
    }
}
