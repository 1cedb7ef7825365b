import NetKit
/// The Swift mirror of bpf/include/hike/srv6.h: constants and the byte layouts of the map
/// values hike writes and reads. A test compares it with bpf/tests/srv6_abi_export.bpf.c.
public enum SRv6ABI {
    public static let maxSegments = 8
    public static let maxPolicies = 1024
    public static let maxSIDs = 1024
    public static let maxRoutes = 4096
    public static let routingType = 4
    /// hike/pm.h PM_FLOW_MAX: the pm flows a policy can be monitored as are 1…4095.
    public static let maxPMFlow = 4095

    public static let policySize = 156
    public static let sidSize = 40
    public static let statsSize = 24
    public static let srhSize = 8
    public static let lpm6KeySize = 20
    public static let lpm4KeySize = 8

    /// The srv6 package's maps and the loader's.
    public static let policiesMap = "srv6_policies", sidsMap = "srv6_sids"
    public static let policyStatsMap = "srv6_policy_stats", sidStatsMap = "srv6_sid_stats", reasonsMap = "srv6_reasons"
    public static let lpm6Map = "srv6_lpm6", lpm4Map = "srv6_lpm4"
    /// bpf/packages/srv6/icmp.h: ICMPv6 errors sent by the endpoints, per slot.
    public static let icmpMap = "srv6_icmp"
    public static let icmpSlots = ["time_exceeded", "parameter_problem", "not_sent"]
    public static let loader = "srv6_localsid"

    /// SRV6_R_*: why a packet left the fast path, by index.
    public static let reasons: [(name: String, value: Int)] = [
        ("ok", 0), ("no_srh", 1), ("bad_hdrlen", 2), ("sl_past_last", 3), ("truncated", 4), ("hop_limit", 5),
        ("sl_zero", 6), ("sl_nonzero", 7), ("bad_next_header", 8), ("no_entry", 9), ("wrong_behaviour", 10),
        ("no_room", 11), ("fib_miss", 12), ("local", 13), ("not_ip", 14), ("tlv", 15), ("tx_unready", 16),
    ]
    public static let reasonMax = 17

    /// SRV6_FALLBACK_*: what happens to a packet the fast path cannot finish.
    public enum Fallback: UInt16, Sendable, Codable {
        /// A kernel route runs the same behaviour (hike's mirror): the packet goes to it untouched.
        case kernelRoute = 0
        /// No such route: an endpoint hands the kernel the processed packet (the inner one
        /// after a decapsulation), a headend drops the packet.
        case none = 1
    }

    /// Every numeric macro of srv6.h, by its C name.
    public static var constants: [String: UInt64] {
        var table: [String: UInt64] = [
            "SRV6_MAX_SEGMENTS": UInt64(maxSegments), "SRV6_MAX_POLICIES": UInt64(maxPolicies),
            "SRV6_MAX_SIDS": UInt64(maxSIDs), "SRV6_MAX_ROUTES": UInt64(maxRoutes),
            "SRV6_ROUTING_TYPE": UInt64(routingType), "SRV6_R_MAX": UInt64(reasonMax), "PM_FLOW_MAX": UInt64(maxPMFlow),
        ]
        for mode in HeadendMode.allCases {
            let suffix = switch mode {
            case .encaps: "ENCAPS"
            case .encapsRed: "ENCAPS_RED"
            case .insert: "INSERT"
            case .insertRed: "INSERT_RED"
            case .encapsL2: "ENCAPS_L2"
            }
            table["SRV6_HEADEND_" + suffix] = UInt64(mode.rawValue)
        }
        for behaviour in EndpointBehaviour.allCases {
            table["SRV6_" + behaviour.name.uppercased().replacingOccurrences(of: ".", with: "_")] = UInt64(behaviour.rawValue)
        }
        table["SRV6_FALLBACK_KERNEL_ROUTE"] = UInt64(Fallback.kernelRoute.rawValue)
        table["SRV6_FALLBACK_NONE"] = UInt64(Fallback.none.rawValue)
        table["SRV6_FLV_PSP"] = UInt64(Flavours.psp.rawValue)
        table["SRV6_FLV_USP"] = UInt64(Flavours.usp.rawValue)
        table["SRV6_FLV_USD"] = UInt64(Flavours.usd.rawValue)
        table["SRV6_FLV_NEXT_CSID"] = UInt64(Flavours.nextCSID.rawValue)
        for reason in reasons { table["SRV6_R_" + reason.name.uppercased()] = UInt64(reason.value) }
        return table
    }

    /// The struct sizes and field offsets the encoders below write, by the names the export uses.
    public static let layouts: [String: UInt64] = [
        "sizeof(struct srv6_srh)": UInt64(srhSize), "sizeof(struct srv6_policy)": UInt64(policySize),
        "sizeof(struct srv6_sid)": UInt64(sidSize), "sizeof(struct srv6_stats)": UInt64(statsSize),
        "sizeof(struct srv6_lpm6_key)": UInt64(lpm6KeySize), "sizeof(struct srv6_lpm4_key)": UInt64(lpm4KeySize),
        "offsetof(srv6_policy, mode)": 0, "offsetof(srv6_policy, nsegs)": 1, "offsetof(srv6_policy, flags)": 2,
        "offsetof(srv6_policy, hop_limit)": 3, "offsetof(srv6_policy, tag)": 4, "offsetof(srv6_policy, fallback)": 6, "offsetof(srv6_policy, src)": 8,
        "offsetof(srv6_policy, segments)": 24, "offsetof(srv6_policy, pm_flow)": 152,
        "offsetof(srv6_sid, behaviour)": 0, "offsetof(srv6_sid, flavours)": 4, "offsetof(srv6_sid, table)": 8,
        "offsetof(srv6_sid, oif)": 12, "offsetof(srv6_sid, lblen)": 16, "offsetof(srv6_sid, nflen)": 17, "offsetof(srv6_sid, fallback)": 18,
        "offsetof(srv6_sid, nh4)": 20, "offsetof(srv6_sid, nh6)": 24,
        "offsetof(srv6_stats, packets)": 0, "offsetof(srv6_stats, bytes)": 8, "offsetof(srv6_stats, errors)": 16,
        "offsetof(srv6_lpm6_key, addr)": 4, "offsetof(srv6_lpm4_key, addr)": 4,
    ]

    /// `struct srv6_policy`.
    public static func encodePolicy(mode: HeadendMode, segments: [IPv6Address], flags: UInt8, hopLimit: UInt8,
                                    tag: UInt16, source: IPv6Address, fallback: Fallback = .kernelRoute,
                                    pmFlow: UInt32 = 0) -> [UInt8] {
        var out: [UInt8] = [mode.rawValue, UInt8(segments.count), flags, hopLimit]
        out += withUnsafeBytes(of: tag) { Array($0) } + withUnsafeBytes(of: fallback.rawValue) { Array($0) }
        out += source.bytes
        for index in 0..<maxSegments {
            out += index < segments.count ? segments[index].bytes : [UInt8](repeating: 0, count: 16)
        }
        out += withUnsafeBytes(of: pmFlow) { Array($0) }
        return out
    }

    /// `struct srv6_sid`.
    public static func encodeSID(behaviour: EndpointBehaviour, flavours: Flavours, table: UInt32, oif: UInt32,
                                 lblen: UInt8, nflen: UInt8, nh4: IPv4Address?, nh6: IPv6Address?,
                                 fallback: Fallback = .kernelRoute) -> [UInt8] {
        func le(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
        var out = le(behaviour.rawValue) + le(flavours.rawValue) + le(table) + le(oif)
        out += [lblen, nflen] + withUnsafeBytes(of: fallback.rawValue) { Array($0) }
        out += nh4?.bytes ?? [0, 0, 0, 0]
        out += nh6?.bytes ?? IPv6Address.zero.bytes
        return out
    }

    /// Sums `struct srv6_stats` over the CPUs of a per-CPU lookup.
    public static func sumStats(_ raw: [UInt8]) -> (packets: UInt64, bytes: UInt64, errors: UInt64) {
        var sums: (UInt64, UInt64, UInt64) = (0, 0, 0)
        for start in stride(from: 0, to: raw.count - statsSize + 1, by: statsSize) {
            sums.0 &+= u64(raw, start)
            sums.1 &+= u64(raw, start + 8)
            sums.2 &+= u64(raw, start + 16)
        }
        return sums
    }

    static func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << UInt64(8 * $1) }
    }
}

extension IPv6Network {
    /// `struct srv6_lpm6_key`: prefixlen (host order u32), then the address.
    public var lpmKey: [UInt8] {
        withUnsafeBytes(of: UInt32(length)) { Array($0) } + address.bytes
    }
}

extension IPv4Network {
    /// `struct srv6_lpm4_key`.
    public var lpmKey: [UInt8] {
        withUnsafeBytes(of: UInt32(length)) { Array($0) } + address.bytes
    }
}
