import CLinux
import Foundation

/// The kernel's own SRv6 routes: a seg6 encapsulation (a headend: `encap seg6 mode encap segs …`)
/// or a seg6local action (an endpoint: `encap seg6local action End.DT6 table 254`). Both need
/// CONFIG_IPV6_SEG6_LWTUNNEL; a kernel without it answers `network.unsupported`.
public enum RouteEncap: Sendable, Hashable, Codable, CustomStringConvertible {
    case seg6(SegmentRoutingEncap)
    case seg6local(SegmentRoutingLocal)

    public var description: String {
        switch self {
        case .seg6(let encap): encap.description
        case .seg6local(let local): local.description
        }
    }
}

/// A seg6 route's SRH and how it is pushed (include/uapi/linux/seg6_iptunnel.h).
public struct SegmentRoutingEncap: Sendable, Hashable, Codable, CustomStringConvertible {
    /// iproute2's names (`mode encap.red`) and the kernel's SEG6_IPTUN_MODE_* numbers.
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable {
        case inline
        case encap
        case l2encap
        case encapRed = "encap.red"
        case l2encapRed = "l2encap.red"

        var kernelValue: Int32 {
            switch self {
            case .inline: Int32(SEG6_IPTUN_MODE_INLINE)
            case .encap: Int32(SEG6_IPTUN_MODE_ENCAP)
            case .l2encap: Int32(SEG6_IPTUN_MODE_L2ENCAP)
            case .encapRed: Int32(SEG6_IPTUN_MODE_ENCAP_RED)
            case .l2encapRed: Int32(SEG6_IPTUN_MODE_L2ENCAP_RED)
            }
        }
    }

    public var mode: Mode
    /// In visiting order, as `ip … segs` takes them.
    public var segments: [IPv6Address]

    public init(mode: Mode, segments: [IPv6Address]) {
        self.mode = mode
        self.segments = segments
    }

    public var description: String {
        "encap seg6 mode \(mode.rawValue) segs \(segments.map(\.description).joined(separator: ","))"
    }

    /// SEG6_IPTUNNEL_SRH: the mode (host order int), then an SRH with the segments reversed
    /// (segments[0] is the last). Inline mode leaves segments[0] for the kernel to fill with
    /// the packet's own destination, as iproute2 does.
    var tunnelAttribute: [UInt8] {
        let listed: [[UInt8]] = (mode == .inline ? [[UInt8](repeating: 0, count: 16)] : []) + segments.reversed().map(\.bytes)
        let lastEntry = UInt8(listed.count - 1)
        let header: [UInt8] = [0, UInt8(2 * listed.count), 4 /* IPV6_SRCRT_TYPE_4 */, lastEntry, lastEntry, 0, 0, 0]
        return withUnsafeBytes(of: mode.kernelValue) { Array($0) } + header + listed.flatMap { $0 }
    }
}

/// A seg6local route's action and its arguments (include/uapi/linux/seg6_local.h).
public struct SegmentRoutingLocal: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The actions, by iproute2's names (`action End.DT6`) with the kernel's numbers.
    public enum Action: String, Sendable, Hashable, Codable, CaseIterable {
        case end = "End"
        case endX = "End.X"
        case endT = "End.T"
        case endDX2 = "End.DX2"
        case endDX6 = "End.DX6"
        case endDX4 = "End.DX4"
        case endDT6 = "End.DT6"
        case endDT4 = "End.DT4"
        case endDT46 = "End.DT46"
        case endB6 = "End.B6"
        case endB6Encaps = "End.B6.Encaps"

        var kernelValue: UInt32 {
            let value: Int = switch self {
            case .end: Int(SEG6_LOCAL_ACTION_END)
            case .endX: Int(SEG6_LOCAL_ACTION_END_X)
            case .endT: Int(SEG6_LOCAL_ACTION_END_T)
            case .endDX2: Int(SEG6_LOCAL_ACTION_END_DX2)
            case .endDX6: Int(SEG6_LOCAL_ACTION_END_DX6)
            case .endDX4: Int(SEG6_LOCAL_ACTION_END_DX4)
            case .endDT6: Int(SEG6_LOCAL_ACTION_END_DT6)
            case .endDT4: Int(SEG6_LOCAL_ACTION_END_DT4)
            case .endDT46: Int(SEG6_LOCAL_ACTION_END_DT46)
            case .endB6: Int(SEG6_LOCAL_ACTION_END_B6)
            case .endB6Encaps: Int(SEG6_LOCAL_ACTION_END_B6_ENCAP)
            }
            return UInt32(value)
        }

        init?(kernelValue: UInt32) {
            guard let action = Self.allCases.first(where: { $0.kernelValue == kernelValue }) else { return nil }
            self = action
        }
    }

    /// The flavours (RFC 8986 §4.16, RFC 9800) as the kernel's SEG6_LOCAL_FLV_OP_* bits.
    public struct Flavours: OptionSet, Sendable, Hashable, Codable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let psp = Flavours(rawValue: 1 << UInt32(SEG6_LOCAL_FLV_OP_PSP))
        public static let usp = Flavours(rawValue: 1 << UInt32(SEG6_LOCAL_FLV_OP_USP))
        public static let usd = Flavours(rawValue: 1 << UInt32(SEG6_LOCAL_FLV_OP_USD))
        public static let nextCSID = Flavours(rawValue: 1 << UInt32(SEG6_LOCAL_FLV_OP_NEXT_CSID))

        /// iproute2's names (`flavors psp,next-csid`).
        public static let names: [(String, Flavours)] = [("psp", .psp), ("usp", .usp), ("usd", .usd), ("next-csid", .nextCSID)]
        public var names: [String] { Self.names.filter { contains($0.1) }.map(\.0) }
    }

    public var action: Action
    public var table: UInt32?
    public var nextHop6: IPv6Address?
    public var nextHop4: IPv4Address?
    public var flavours: Flavours
    /// NEXT-C-SID's locator block and node function lengths in bits (`lblen`, `nflen`).
    public var blockBits: UInt8?
    public var nodeFunctionBits: UInt8?
    /// Per-route packet, byte and error counters (`count`).
    public var counters: Bool

    public init(action: Action, table: UInt32? = nil, nextHop6: IPv6Address? = nil, nextHop4: IPv4Address? = nil,
                flavours: Flavours = [], blockBits: UInt8? = nil, nodeFunctionBits: UInt8? = nil, counters: Bool = false) {
        self.action = action
        self.table = table
        self.nextHop6 = nextHop6
        self.nextHop4 = nextHop4
        self.flavours = flavours
        self.blockBits = blockBits
        self.nodeFunctionBits = nodeFunctionBits
        self.counters = counters
    }

    public var description: String {
        var words = ["encap", "seg6local", "action", action.rawValue]
        if let table { words += ["table", String(table)] }
        if let nextHop6 { words += ["nh6", nextHop6.description] }
        if let nextHop4 { words += ["nh4", nextHop4.description] }
        if !flavours.isEmpty { words += ["flavors", flavours.names.joined(separator: ",")] }
        if let blockBits { words += ["lblen", String(blockBits)] }
        if let nodeFunctionBits { words += ["nflen", String(nodeFunctionBits)] }
        if counters { words.append("count") }
        return words.joined(separator: " ")
    }

    func write(to writer: inout AttributeWriter) {
        writer.add(Int32(SEG6_LOCAL_ACTION), action.kernelValue)
        if let table { writer.add(Int32(SEG6_LOCAL_TABLE), table) }
        if let nextHop4 { writer.add(Int32(SEG6_LOCAL_NH4), bytes: nextHop4.bytes) }
        if let nextHop6 { writer.add(Int32(SEG6_LOCAL_NH6), bytes: nextHop6.bytes) }
        if counters {
            // The kernel takes the three counters' starting values, all of them.
            writer.nest(Int32(SEG6_LOCAL_COUNTERS)) { counters in
                for counter in [SEG6_LOCAL_CNT_PACKETS, SEG6_LOCAL_CNT_BYTES, SEG6_LOCAL_CNT_ERRORS] {
                    counters.add(Int32(counter), UInt64(0))
                }
            }
        }
        if !flavours.isEmpty {
            writer.nest(Int32(SEG6_LOCAL_FLAVORS)) { flavour in
                flavour.add(Int32(SEG6_LOCAL_FLV_OPERATION), flavours.rawValue)
                if let blockBits { flavour.add(Int32(SEG6_LOCAL_FLV_LCBLOCK_BITS), blockBits) }
                if let nodeFunctionBits { flavour.add(Int32(SEG6_LOCAL_FLV_LCNODE_FN_BITS), nodeFunctionBits) }
            }
        }
    }

    /// The action and its arguments from a dumped route's RTA_ENCAP.
    init?(_ attributes: Attributes) {
        guard let number = attributes.integer(Int32(SEG6_LOCAL_ACTION), as: UInt32.self),
              let action = Action(kernelValue: number) else { return nil }
        self.init(action: action, table: attributes.integer(Int32(SEG6_LOCAL_TABLE), as: UInt32.self),
                  counters: attributes[Int32(SEG6_LOCAL_COUNTERS)] != nil)
        if let bytes = attributes[Int32(SEG6_LOCAL_NH6)], bytes.count == 16 { nextHop6 = IPv6Address(unchecked: Array(bytes)) }
        if let bytes = attributes[Int32(SEG6_LOCAL_NH4)], bytes.count == 4 { nextHop4 = IPv4Address(unchecked: Array(bytes)) }
        if let flavour = attributes.nested(Int32(SEG6_LOCAL_FLAVORS)) {
            flavours = Flavours(rawValue: flavour.integer(Int32(SEG6_LOCAL_FLV_OPERATION), as: UInt32.self) ?? 0)
            blockBits = flavour.integer(Int32(SEG6_LOCAL_FLV_LCBLOCK_BITS), as: UInt8.self)
            nodeFunctionBits = flavour.integer(Int32(SEG6_LOCAL_FLV_LCNODE_FN_BITS), as: UInt8.self)
        }
    }
}

extension SegmentRoutingEncap {
    /// The mode and segments from a dumped route's SEG6_IPTUNNEL_SRH.
    init?(_ attributes: Attributes) {
        guard let bytes = attributes[Int32(SEG6_IPTUNNEL_SRH)], bytes.count >= 12 else { return nil }
        let raw = Array(bytes)
        let modeValue = raw[0..<4].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        guard let mode = Mode.allCases.first(where: { $0.kernelValue == modeValue }) else { return nil }
        let lastEntry = Int(raw[4 + 4])
        guard raw.count >= 12 + 16 * (lastEntry + 1) else { return nil }
        var listed = (0...lastEntry).map { IPv6Address(unchecked: Array(raw[(12 + 16 * $0)..<(28 + 16 * $0)])) }
        if mode == .inline { listed.removeFirst() }
        self.init(mode: mode, segments: listed.reversed())
    }
}
