import BPFKit

/// The pm package's ABI (`bpf/include/hike/pm.h`), mirrored: a test checks it against the
/// compiled object.
public enum PMABI {
    /// The object (`bpf/packages/pm/pm.bpf.c`) and its maps, pinned under `maps/pm/`.
    public static let object = "pm"
    public static let colourMap = "pm_colour"
    public static let flowsMap = "pm_flows"
    public static let sentMap = "pm_sent"
    public static let receivedMap = "pm_recv"
    public static let destinationFlowMap = "pm_dst_flow"
    public static let lossMap = "pm_loss_cfg"
    public static let statsMap = "pm_stats"
    public static let linksMap = "pm_links"

    /// Entries of pm_links: interfaces with a larger ifindex cannot be monitored.
    public static let linkMaxIfindex: Int32 = 1024
    /// pm_link.drop_ppm is in parts per million.
    public static let linkPPM: UInt32 = 1_000_000

    /// Entries of pm_flows; pm_sent and pm_recv hold two per flow (one per colour).
    public static let maxFlows = 4096
    /// Flow IDs are FlowMonIDs that fit the arrays: 1–4095; 0 means "take it from the packet".
    public static let flowMax: UInt32 = 4095

    /// `PM_COUNTER_INDEX`: the pm_sent / pm_recv entry of (flow, colour).
    public static func counterIndex(flow: UInt32, colour: Colour) -> UInt32 { flow * 2 + colour.rawValue }

    public static let modeDSCP: UInt32 = 1
    public static let modeAltMark: UInt32 = 2
    /// An egress-only entry: counts, reading the mode from the mark.
    public static let modeCount: UInt32 = 3

    /// DSCP mode: Traffic Class bits (the DSCP's two low bits).
    public static let tcMonitored: UInt8 = 0x08
    public static let tcColour: UInt8 = 0x04

    public static let altMarkOption: UInt8 = 0x12
    public static let altMarkOptionLength: UInt8 = 4
    public static let destinationOptionsLength = 8
    public static let nextHeaderDestinationOptions: UInt8 = 60
    public static let nextHeaderHopByHop: UInt8 = 0

    /// pm_stats slots.
    public static let statNames = ["marked", "counted", "unknown_flow", "not_ipv6", "not_marked", "no_room",
                                   "has_doh", "dropped", "has_hbh"]
    /// pm_stats slot of the packets pm_loss dropped.
    public static let statDropped: UInt32 = 7

    /// r0 of pm_count for a packet without a mark.
    public static let notMarked: UInt64 = 1
}

/// `struct pm_flow`: a flow's marking mode (its coding keys are the C member names; the map's
/// BTF lays it out).
public struct PMFlowEntry: Codable, Sendable {
    public var mode: UInt32
    public var reserved: UInt32 = 0
    public init(mode: UInt32) { self.mode = mode }
}

/// `struct pm_loss`: what pm_loss drops.
public struct PMLossEntry: Codable, Sendable {
    public var remaining: Int64
    public var flow: UInt32
    public var colour: UInt32
    public var dropped: UInt64
    public init(remaining: Int64, flow: UInt32, colour: UInt32, dropped: UInt64) {
        self.remaining = remaining
        self.flow = flow
        self.colour = colour
        self.dropped = dropped
    }
}

/// `struct pm_link`: a monitored link at this node, by its interface (0: off, for each).
public struct PMLinkEntry: Codable, Sendable, Equatable {
    public var sendFlow: UInt32
    public var receiveFlow: UInt32
    public var dropPPM: UInt32
    public var reserved: UInt32 = 0

    public init(sendFlow: UInt32, receiveFlow: UInt32, dropPPM: UInt32) {
        self.sendFlow = sendFlow
        self.receiveFlow = receiveFlow
        self.dropPPM = dropPPM
    }

    public static let off = PMLinkEntry(sendFlow: 0, receiveFlow: 0, dropPPM: 0)

    enum CodingKeys: String, CodingKey {
        case sendFlow = "send_flow", receiveFlow = "receive_flow", dropPPM = "drop_ppm", reserved
    }
}

/// A counter's (flow, colour): the pm_sent / pm_recv entry `PMABI.counterIndex`.
public struct PMKey: Sendable, Hashable {
    public var flow: UInt32
    public var colour: UInt32
    public init(flow: UInt32, colour: UInt32) {
        self.flow = flow
        self.colour = colour
    }
}
