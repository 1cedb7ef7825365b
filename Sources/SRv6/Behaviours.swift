import NetKit

/// The endpoint behaviours of RFC 8986 that the srv6 package runs in XDP, numbered as the
/// kernel's SEG6_LOCAL_ACTION_* (and srv6.h's SRV6_END…), and the SR proxies of
/// draft-ietf-spring-sr-service-programming (End.AS and End.AM have kernel numbers the kernel
/// does not implement; End.AD has none, so hike gives it 128).
public enum EndpointBehaviour: UInt32, Sendable, CaseIterable, CustomStringConvertible, Codable {
    case end = 1
    case endX = 2
    case endT = 3
    case endDX6 = 5
    case endDX4 = 6
    case endDT6 = 7
    case endDT4 = 8
    case endDT46 = 16
    case endAS = 13
    case endAM = 14
    case endAD = 128

    /// What a behaviour is, in one row, as the kernel's `seg6_action_table[]`
    /// (net/ipv6/seg6_local.c): validation, the kernel mirror routes, `show` and the bench read
    /// it from here.
    public struct Row: Sendable {
        /// The RFC 8986 name, which is also `ip … seg6local action NAME`.
        public let name: String
        /// The srv6 package's program that runs it (argument: the SID index).
        public let program: String
        /// What a local SID with this behaviour must give, and may give.
        public let required: SIDAttributes
        public let optional: SIDAttributes
        /// The flavours RFC 8986 §4.16 and RFC 9800 define for it.
        public let flavours: Flavours
        /// The flavours Linux's seg6local takes on this action (an older kernel may take fewer).
        public let kernelFlavours: Flavours
        /// The kernel's seg6local action that runs the same behaviour without a VRF (the mirror
        /// route hike installs for the packets that the fast path hands to the kernel), or nil.
        public let kernelAction: SegmentRoutingLocal.Action?
        public var kernelMirrorable: Bool { kernelAction != nil }
    }

    /// The behaviour table: one row each.
    public var row: Row {
        let transit: Flavours = [.psp, .usp, .usd]
        return switch self {
        case .end: Row(name: "End", program: "srv6_end", required: [], optional: [], flavours: transit.union(.nextCSID),
                       kernelFlavours: [.psp, .nextCSID], kernelAction: .end)
        case .endX: Row(name: "End.X", program: "srv6_end_x", required: .nextHop6, optional: .interface,
                        flavours: transit.union(.nextCSID), kernelFlavours: .nextCSID, kernelAction: .endX)
        case .endT: Row(name: "End.T", program: "srv6_end_t", required: .table, optional: [], flavours: transit,
                        kernelFlavours: [], kernelAction: .endT)
        case .endDX6: Row(name: "End.DX6", program: "srv6_end_dx6", required: .nextHop6, optional: .interface, flavours: [],
                          kernelFlavours: [], kernelAction: .endDX6)
        case .endDX4: Row(name: "End.DX4", program: "srv6_end_dx4", required: .nextHop4, optional: .interface, flavours: [],
                          kernelFlavours: [], kernelAction: .endDX4)
        case .endDT6: Row(name: "End.DT6", program: "srv6_end_dt6", required: .table, optional: [], flavours: [],
                          kernelFlavours: [], kernelAction: .endDT6)
        // The kernel's End.DT4 and End.DT46 need a VRF device.
        case .endDT4: Row(name: "End.DT4", program: "srv6_end_dt4", required: .table, optional: [], flavours: [],
                          kernelFlavours: [], kernelAction: nil)
        case .endDT46: Row(name: "End.DT46", program: "srv6_end_dt46", required: .table, optional: [], flavours: [],
                           kernelFlavours: [], kernelAction: nil)
        // The proxies: IFACE-OUT is `interface`, IFACE-IN `interface-in` (by default the same).
        case .endAS: Row(name: "End.AS", program: "srv6_end_as", required: [.interface, .cache],
                         optional: [.nextHop6, .nextHop4, .interfaceIn, .inner], flavours: [], kernelFlavours: [], kernelAction: nil)
        case .endAD: Row(name: "End.AD", program: "srv6_end_ad", required: .interface,
                         optional: [.nextHop6, .nextHop4, .interfaceIn, .inner, .age], flavours: [], kernelFlavours: [], kernelAction: nil)
        case .endAM: Row(name: "End.AM", program: "srv6_end_am", required: [.interface, .nextHop6], optional: .interfaceIn,
                         flavours: [], kernelFlavours: [], kernelAction: nil)
        }
    }

    public var name: String { row.name }
    public var description: String { name }
    public var program: String { row.program }
    public var allowedFlavours: Flavours { row.flavours }
    public var kernelMirrorable: Bool { row.kernelMirrorable }
    /// An SR proxy: a function behind it sends its packets back on `interface-in`.
    public var isProxy: Bool { self == .endAS || self == .endAD || self == .endAM }

    /// Parses a name as written in configurations: RFC 8986 names (any case), and uN / uA,
    /// which are End / End.X with the NEXT-C-SID flavour (RFC 9800).
    public static func parse(_ text: String) -> (behaviour: EndpointBehaviour, flavours: Flavours)? {
        switch text.lowercased() {
        case "un": return (.end, .nextCSID)
        case "ua": return (.endX, .nextCSID)
        default: return allCases.first { $0.name.lowercased() == text.lowercased() }.map { ($0, []) }
        }
    }
}

/// What a local SID carries besides its behaviour and flavours.
public struct SIDAttributes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The FIB table (End.T, End.DT*).
    public static let table = SIDAttributes(rawValue: 1 << 0)
    /// The IPv6 next hop (End.X, End.DX6) or the IPv4 one (End.DX4).
    public static let nextHop6 = SIDAttributes(rawValue: 1 << 1)
    public static let nextHop4 = SIDAttributes(rawValue: 1 << 2)
    /// The egress interface.
    public static let interface = SIDAttributes(rawValue: 1 << 3)
    /// A proxy's IFACE-IN: where the function's packets come back.
    public static let interfaceIn = SIDAttributes(rawValue: 1 << 4)
    /// End.AS: the headers the function's packets get (source, segments, hop limit).
    public static let cache = SIDAttributes(rawValue: 1 << 5)
    /// End.AS, End.AD: the inner packet types the function takes.
    public static let inner = SIDAttributes(rawValue: 1 << 6)
    /// End.AD: the least time between two learnings.
    public static let age = SIDAttributes(rawValue: 1 << 7)

    public var nextHop: SIDAttributes { intersection([.nextHop6, .nextHop4]) }
}

/// SRv6 flavours as srv6.h's SRV6_FLV_* bits.
public struct Flavours: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let psp = Flavours(rawValue: 1 << 0)
    public static let usp = Flavours(rawValue: 1 << 1)
    public static let usd = Flavours(rawValue: 1 << 2)
    public static let nextCSID = Flavours(rawValue: 1 << 3)

    /// Names as iproute2 writes them (`flavors psp,next-csid`).
    public static let names: [(String, Flavours)] = [("psp", .psp), ("usp", .usp), ("usd", .usd), ("next-csid", .nextCSID)]

    public static func parse(_ name: String) -> Flavours? {
        names.first { $0.0 == name.lowercased() }?.1
    }

    public var names: [String] { Self.names.filter { contains($0.1) }.map(\.0) }
    public var description: String { names.isEmpty ? "-" : names.joined(separator: ",") }
}

/// The headend behaviours, by the program that runs each and its srv6.h mode number.
public enum HeadendMode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case encaps = 1
    case encapsRed = 2
    case insert = 3
    case insertRed = 4
    case encapsL2 = 5

    /// The name in configurations.
    public var name: String {
        switch self {
        case .encaps: "encaps"
        case .encapsRed: "encaps.red"
        case .insert: "insert"
        case .insertRed: "insert.red"
        case .encapsL2: "l2encap"
        }
    }

    public var description: String { name }

    /// RFC 8986's name.
    public var rfcName: String {
        switch self {
        case .encaps: "H.Encaps"
        case .encapsRed: "H.Encaps.Red"
        case .insert: "H.Insert"
        case .insertRed: "H.Insert.Red"
        case .encapsL2: "H.Encaps.L2"
        }
    }

    public var program: String {
        switch self {
        case .encaps: "srv6_h_encaps"
        case .encapsRed: "srv6_h_encaps_red"
        case .insert: "srv6_h_insert"
        case .insertRed: "srv6_h_insert_red"
        case .encapsL2: "srv6_h_encaps_l2"
        }
    }

    /// Accepts our names, iproute2's (`encap`, `encap.red`, `inline`) and RFC 8986's.
    public static func parse(_ text: String) -> HeadendMode? {
        switch text.lowercased() {
        case "encaps", "encap", "h.encaps": .encaps
        case "encaps.red", "encap.red", "h.encaps.red": .encapsRed
        case "insert", "inline", "h.insert": .insert
        case "insert.red", "inline.red", "h.insert.red": .insertRed
        case "l2encap", "encaps.l2", "h.encaps.l2": .encapsL2
        default: nil
        }
    }

    /// Insertion needs an IPv6 packet to insert into.
    public var needsIPv6Input: Bool { self == .insert || self == .insertRed }
}
