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
    /// outer destination that identifies it at an egress that reads DSCP marks. A new flow's
    /// counters start at zero at both points; a flow configured again keeps them. Validated
    /// before anything is written; a failure half-way takes back what was written.
    public func addFlow(_ flow: UInt32, mode: MarkingMode?, destination: String? = nil) throws {
        guard flow >= 1, flow <= PMABI.flowMax else {
            throw MonitoringError.invalidFlow("\(flow) is out of range: flow IDs (FlowMonIDs) are 1–\(PMABI.flowMax)")
        }
        let address = try destination.map(Self.address)
        let flows = try TypedMap<UInt32, PMFlowEntry>(map(PMABI.flowsMap))
        let counterMaps = [try TypedMap<UInt32, PacketCounter>(map(PMABI.sentMap)), try TypedMap<UInt32, PacketCounter>(map(PMABI.receivedMap))]
        let destinations = try map(PMABI.destinationFlowMap)
        let previous = try flows.lookup(flow) ?? PMFlowEntry(mode: 0)
        var undo: [(String, () throws -> Void)] = []
        do {
            if previous.mode == 0 { try Self.zeroCounters(of: flow, in: counterMaps, undo: &undo) }
            // The entry last: the programs count a flow only once it is configured.
            try flows.update(flow, PMFlowEntry(mode: mode?.rawMode ?? PMABI.modeCount))
            undo.append(("restore pm_flows[\(flow)]", { try flows.update(flow, previous) }))
            if let address {
                try destinations.update(key: address, value: BPFMap.bytesOf(flow))
            }
        } catch {
            try Self.undo(undo, after: error, operation: "adding flow \(flow) on \(name)")
        }
    }

    /// Removes a flow: its entry, its destination entries; its counters are zeroed. What it
    /// changes is read first; a failure half-way puts it back.
    public func removeFlow(_ flow: UInt32) throws {
        let flows = try TypedMap<UInt32, PMFlowEntry>(map(PMABI.flowsMap))
        guard flow >= 1, flow <= PMABI.flowMax, let entry = try flows.lookup(flow), entry.mode != 0 else {
            throw MonitoringError.unknownFlow(flow, node: name)
        }
        let destinations = try map(PMABI.destinationFlowMap)
        let counterMaps = [try TypedMap<UInt32, PacketCounter>(map(PMABI.sentMap)), try TypedMap<UInt32, PacketCounter>(map(PMABI.receivedMap))]
        let routes = try destinations.entries().filter { $0.1 == BPFMap.bytesOf(flow) }
        var undo: [(String, () throws -> Void)] = []
        do {
            // The entry first: the programs stop counting before the counters go.
            try flows.update(flow, PMFlowEntry(mode: 0))
            undo.append(("restore pm_flows[\(flow)]", { try flows.update(flow, entry) }))
            for (key, value) in routes {
                _ = try destinations.delete(key: key)
                undo.append(("restore pm_dst_flow \(Self.text(key))", { try destinations.update(key: key, value: value) }))
            }
            try Self.zeroCounters(of: flow, in: counterMaps, undo: &undo)
        } catch {
            try Self.undo(undo, after: error, operation: "removing flow \(flow) from \(name)")
        }
    }

    /// Zeroes both colours' counters of a flow in each map, each step's undo recorded.
    static func zeroCounters(of flow: UInt32, in maps: [TypedMap<UInt32, PacketCounter>], undo: inout [(String, () throws -> Void)]) throws {
        for counters in maps {
            for colour in Colour.allCases {
                let index = PMABI.counterIndex(flow: flow, colour: colour)
                let values = try counters.lookupPerCPU(index) ?? []
                try counters.update(index, .zero)
                undo.append(("restore counter (\(flow), \(colour.rawValue))", { try counters.updatePerCPU(index, values) }))
            }
        }
    }

    /// Runs the undo steps, newest first, then rethrows the error that made them necessary, or a
    /// PartialChangeError naming the steps that failed.
    static func undo(_ steps: [(String, () throws -> Void)], after error: Error, operation: String) throws -> Never {
        var failures: [String] = []
        for (what, step) in steps.reversed() {
            do { try step() } catch let undoError { failures.append("\(what): \(undoError)") }
        }
        if failures.isEmpty { throw error }
        throw PartialChangeError(operation: operation, cause: "\(error)", undoFailures: failures)
    }

    /// The configured flows, by ID.
    public func flows() throws -> [Flow] {
        let flows = try TypedMap<UInt32, PMFlowEntry>(map(PMABI.flowsMap))
        var destinations: [UInt32: String] = [:]
        for (key, value) in try map(PMABI.destinationFlowMap).entries() where value.count == 4 && key.count == 16 {
            destinations[value.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }] = Self.text(key)
        }
        // One batched read of the whole array: most of its 4096 entries are unconfigured.
        return try flows.map.lookupBatch().compactMap { key, value -> Flow? in
            // An unconfigured entry is all zero: skip it undecoded (this runs at every period).
            guard value.contains(where: { $0 != 0 }) else { return nil }
            let flow = try flows.decodeKey(key), mode = try flows.decodeValue(value).mode
            guard mode != 0 else { return nil }
            return Flow(flow: flow, mode: MarkingMode(raw: mode), destination: destinations[flow])
        }.sorted { $0.flow < $1.flow }
    }

    // MARK: MonitoredNode

    public func counters(at point: CountingPoint) throws -> [FlowCounter] {
        let counters = try TypedMap<UInt32, PacketCounter>(map(point == .ingress ? PMABI.sentMap : PMABI.receivedMap))
        var result: [FlowCounter] = []
        for flow in try flows() {
            for colour in Colour.allCases {
                let sum = try counters.lookupSum(PMABI.counterIndex(flow: flow.flow, colour: colour)) ?? .zero
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
        try ColourRecord(colour: colour, since: Date().timeIntervalSince1970).write(to: colourRecordPath)
    }

    /// Where the last flip through hike is recorded (the map holds the colour only): readers
    /// of link counters need to know how long the other colour has been idle.
    var colourRecordPath: String { "\(instance.stateDirectory)/pm-colour.json" }

    /// The active colour and since when (Unix seconds), when hike flipped it to that colour;
    /// nil since: flipped by something else, or never.
    public func colourAndSince() throws -> (Colour, Double?) {
        let colour = try activeColour()
        let record = FileManager.default.contents(atPath: colourRecordPath).flatMap { try? JSONDecoder().decode(ColourRecord.self, from: $0) }
        return (colour, record?.colour == colour ? record?.since : nil)
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

    /// Arms pm_loss: the next count packets of (flow, colour) that reach it are dropped. It
    /// writes the whole entry (the entry's `dropped` restarts at 0) and never reads it back to
    /// write it again: the program increments it atomically, a read-modify-write here would lose
    /// its increments.
    public func injectLoss(flow: UInt32, colour: Colour, count: Int64) throws {
        guard count >= 0 else { throw MonitoringError.invalidArgument("the number of packets to drop must be ≥ 0") }
        guard flow >= 1, flow <= PMABI.flowMax else {
            throw MonitoringError.invalidFlow("\(flow) is out of range: flow IDs (FlowMonIDs) are 1–\(PMABI.flowMax)")
        }
        try TypedMap<UInt32, PMLossEntry>(map(PMABI.lossMap)).update(0, PMLossEntry(remaining: count, flow: flow, colour: colour.rawValue, dropped: 0))
    }

    /// What pm_loss has left to drop, and what it has dropped in all (pm_stats "dropped": only
    /// the program writes it, so it never goes back when loss is armed again).
    public func lossInjection() throws -> (remaining: Int64, dropped: UInt64) {
        let entry = try TypedMap<UInt32, PMLossEntry>(map(PMABI.lossMap)).lookup(0)
        let dropped = try map(PMABI.statsMap).lookupSum(PMABI.statDropped, as: UInt64.self) ?? 0
        return (max(0, entry?.remaining ?? 0), dropped)
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
