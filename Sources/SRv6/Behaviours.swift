/// The endpoint behaviours of RFC 8986 that the srv6 package runs in XDP, numbered as the
/// kernel's SEG6_LOCAL_ACTION_* (and srv6.h's SRV6_END…).
public enum EndpointBehaviour: UInt32, Sendable, CaseIterable, CustomStringConvertible, Codable {
    case end = 1
    case endX = 2
    case endT = 3
    case endDX6 = 5
    case endDX4 = 6
    case endDT6 = 7
    case endDT4 = 8
    case endDT46 = 16

    /// The RFC 8986 name, which is also `ip … seg6local action NAME`.
    public var name: String {
        switch self {
        case .end: "End"
        case .endX: "End.X"
        case .endT: "End.T"
        case .endDX6: "End.DX6"
        case .endDX4: "End.DX4"
        case .endDT6: "End.DT6"
        case .endDT4: "End.DT4"
        case .endDT46: "End.DT46"
        }
    }

    public var description: String { name }

    /// The srv6 package's program that runs it (argument: the SID index).
    public var program: String {
        switch self {
        case .end: "srv6_end"
        case .endX: "srv6_end_x"
        case .endT: "srv6_end_t"
        case .endDX6: "srv6_end_dx6"
        case .endDX4: "srv6_end_dx4"
        case .endDT6: "srv6_end_dt6"
        case .endDT4: "srv6_end_dt4"
        case .endDT46: "srv6_end_dt46"
        }
    }

    /// Parses a name as written in configurations: RFC 8986 names (any case), and uN / uA,
    /// which are End / End.X with the NEXT-C-SID flavour (RFC 9800).
    public static func parse(_ text: String) -> (behaviour: EndpointBehaviour, flavours: Flavours)? {
        switch text.lowercased() {
        case "un": return (.end, .nextCSID)
        case "ua": return (.endX, .nextCSID)
        default: return allCases.first { $0.name.lowercased() == text.lowercased() }.map { ($0, []) }
        }
    }

    /// The flavours RFC 8986 §4.16 and RFC 9800 define for it.
    public var allowedFlavours: Flavours {
        switch self {
        case .end, .endX: [.psp, .usp, .usd, .nextCSID]
        case .endT: [.psp, .usp, .usd]
        default: []
        }
    }

    /// Whether the kernel can run the same behaviour without a VRF (the mirror route hike
    /// installs for the packets that the fast path hands to the kernel).
    public var kernelMirrorable: Bool { self != .endDT4 && self != .endDT46 }
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
