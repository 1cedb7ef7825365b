import BPFKit
import Foundation
import HikeRuntime

/// A node on this machine: the pm maps of a HIKe instance, read and written through their pins
/// (`/sys/fs/bpf/hike/<instance>/maps/pm/…`), so it works from any hike process.
public struct LocalMonitoredNode: MonitoredNode {
    public let name: String
    public let instance: HikeInstance

    /// A configured flow.
    public struct Flow: Sendable, Codable, Hashable {
        public let flow: UInt32
        /// nil: an egress-only entry (the mode is read from the mark).
        public let mode: MarkingMode?
        /// The outer destination that names the flow at the egress (DSCP marks), if any.
        public let destination: String?

        public init(flow: UInt32, mode: MarkingMode?, destination: String?) {
            self.flow = flow
            self.mode = mode
            self.destination = destination
        }
    }

    public init(instance: HikeInstance, name: String? = nil) {
        self.instance = instance
        self.name = name ?? instance.name
    }

    /// Loads the pm package into the instance (once): its programs get IDs, its maps pins.
    public func loadPackage() throws {
        try instance.loadProgram("pm_mark")
    }

    func map(_ name: String) throws -> BPFMap {
        let path = "\(instance.pinRoot)/maps/\(PMABI.object)/\(name)"
        guard FileManager.default.fileExists(atPath: path) else { throw MonitoringError.notLoaded(instance: instance.name) }
        return try BPFMap.openPinned(path)
    }

    // MARK: Flows

    /// Configures a flow: its marking mode (ingress; nil for a node that only counts) and the
    /// outer destination that identifies it at an egress that reads DSCP marks. Both colours'
    /// counters are created at both points (kept if they exist). Validated before anything is
    /// written; a failure half-way takes back what was written.
    public func addFlow(_ flow: UInt32, mode: MarkingMode?, destination: String? = nil) throws {
        guard flow >= 1, flow <= PMABI.flowMax else {
            throw MonitoringError.invalidFlow("\(flow) is out of range: flow IDs (FlowMonIDs) are 1–\(PMABI.flowMax)")
        }
        let address = try destination.map(Self.address)
        let flows = try map(PMABI.flowsMap)
        let counterMaps = [try map(PMABI.sentMap), try map(PMABI.receivedMap)]
        let destinations = try map(PMABI.destinationFlowMap)
        if try flows.lookup(flow, as: PMFlowEntry.self) == nil, try flows.keys().count >= PMABI.maxFlows {
            throw MonitoringError.invalidFlow("node \(name) already has \(PMABI.maxFlows) flows: remove one first")
        }
        var undo: [() -> Void] = []
        do {
            let previous = try flows.lookup(flow, as: PMFlowEntry.self)
            try flows.update(flow, PMFlowEntry(mode: mode?.rawMode ?? 0))
            undo.append { if let previous { try? flows.update(flow, previous) } else { _ = try? flows.delete(flow) } }
            let cpus = try possibleCPUCount()
            for counters in counterMaps {
                for colour in Colour.allCases {
                    let key = PMKey(flow: flow, colour: colour.rawValue)
                    if try counters.lookupPerCPU(key, as: PacketCounter.self) == nil {
                        try counters.updatePerCPU(key, Array(repeating: PacketCounter.zero, count: cpus))
                        undo.append { _ = try? counters.delete(key) }
                    }
                }
            }
            if let address {
                try destinations.update(key: address, value: BPFMap.bytesOf(flow))
            }
        } catch {
            for step in undo.reversed() { step() }
            throw error
        }
    }

    /// Removes a flow, its counters and its destination entry.
    public func removeFlow(_ flow: UInt32) throws {
        let flows = try map(PMABI.flowsMap)
        guard try flows.lookup(flow, as: PMFlowEntry.self) != nil else {
            throw MonitoringError.unknownFlow(flow, node: name)
        }
        let destinations = try map(PMABI.destinationFlowMap)
        for (key, value) in try destinations.entries() where value == BPFMap.bytesOf(flow) {
            _ = try destinations.delete(key: key)
        }
        for counters in [try map(PMABI.sentMap), try map(PMABI.receivedMap)] {
            for colour in Colour.allCases { _ = try counters.delete(PMKey(flow: flow, colour: colour.rawValue)) }
        }
        _ = try flows.delete(flow)
    }

    /// The configured flows, by ID.
    public func flows() throws -> [Flow] {
        let flows = try map(PMABI.flowsMap)
        var destinations: [UInt32: String] = [:]
        for (key, value) in try map(PMABI.destinationFlowMap).entries() where value.count == 4 && key.count == 16 {
            destinations[value.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }] = Self.text(key)
        }
        return try flows.entries(as: (UInt32.self, PMFlowEntry.self)).map { flow, entry in
            Flow(flow: flow, mode: MarkingMode(raw: entry.mode), destination: destinations[flow])
        }.sorted { $0.flow < $1.flow }
    }

    // MARK: MonitoredNode

    public func counters(at point: CountingPoint) throws -> [FlowCounter] {
        let counters = try map(point == .ingress ? PMABI.sentMap : PMABI.receivedMap)
        var result: [FlowCounter] = []
        for flow in try flows() {
            for colour in Colour.allCases {
                let perCPU = try counters.lookupPerCPU(PMKey(flow: flow.flow, colour: colour.rawValue), as: PacketCounter.self) ?? []
                let sum = perCPU.reduce(PacketCounter.zero, +)
                result.append(FlowCounter(flow: flow.flow, colour: colour, point: point, packets: sum.packets, bytes: sum.bytes))
            }
        }
        return result
    }

    public func activeColour() throws -> Colour {
        let raw = try map(PMABI.colourMap).lookup(UInt32(0), as: UInt32.self) ?? 0
        return Colour(rawValue: raw & 1) ?? .zero
    }

    public func setActiveColour(_ colour: Colour) throws {
        try map(PMABI.colourMap).update(UInt32(0), colour.rawValue)
    }

    // MARK: Statistics and fault injection

    /// pm_stats, by name, summed over CPUs.
    public func statistics() throws -> [String: UInt64] {
        let stats = try map(PMABI.statsMap)
        var result: [String: UInt64] = [:]
        for (slot, name) in PMABI.statNames.enumerated() {
            result[name] = try stats.lookupSum(UInt32(slot), as: UInt64.self) ?? 0
        }
        return result
    }

    /// Arms pm_loss: the next count packets of (flow, colour) that reach it are dropped.
    public func injectLoss(flow: UInt32, colour: Colour, count: Int64) throws {
        guard count >= 0 else { throw MonitoringError.invalidArgument("the number of packets to drop must be ≥ 0") }
        let loss = try map(PMABI.lossMap)
        let dropped = try loss.lookup(UInt32(0), as: PMLossEntry.self)?.dropped ?? 0
        try loss.update(UInt32(0), PMLossEntry(remaining: count, flow: flow, colour: colour.rawValue, dropped: dropped))
    }

    /// What pm_loss has left to drop and has dropped so far.
    public func lossInjection() throws -> (remaining: Int64, dropped: UInt64) {
        let entry = try map(PMABI.lossMap).lookup(UInt32(0), as: PMLossEntry.self)
        return (max(0, entry?.remaining ?? 0), entry?.dropped ?? 0)
    }

    // MARK: Addresses

    static func address(_ text: String) throws -> [UInt8] {
        var raw = in6_addr()
        guard inet_pton(AF_INET6, text, &raw) == 1 else {
            throw MonitoringError.invalidFlow("'\(text)' is not an IPv6 address")
        }
        return withUnsafeBytes(of: raw) { Array($0) }
    }

    static func text(_ bytes: [UInt8]) -> String {
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes.prefix(16)) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
