import NetKit
/// The Swift mirror of bpf/include/hike/srv6.h's constants (its structs are MapEntries.swift,
/// laid out by BTF). A test compares it with bpf/tests/srv6_abi_export.bpf.c.
public enum SRv6ABI {
    public static let maxSegments = 8
    public static let maxPolicies = 1024
    public static let maxSIDs = 1024
    public static let maxRoutes = 4096
    public static let routingType = 4
    /// hike/pm.h PM_FLOW_MAX: the pm flows a policy can be monitored as are 1…4095.
    public static let maxPMFlow = 4095

    /// The srv6 package's maps and the loader's.
    public static let policiesMap = "srv6_policies", sidsMap = "srv6_sids"
    public static let policyStatsMap = "srv6_policy_stats", sidStatsMap = "srv6_sid_stats", reasonsMap = "srv6_reasons"
    public static let lpm6Map = "srv6_lpm6", lpm4Map = "srv6_lpm4"
    /// SR proxies: the outer headers per SID (learned or written) and the per-function counters.
    public static let proxyCacheMap = "srv6_proxy_cache", proxyStatsMap = "srv6_proxy_stats"
    public static let proxyHeadersMax = 256
    /// The srv6_localsid loader's configuration: its chain takes every frame (an SR proxy's IFACE-IN).
    public static let loaderConfigMap = "srv6_localsid_cfg"
    /// bpf/packages/srv6/icmp.h: ICMPv6 errors sent by the endpoints, per slot.
    public static let icmpMap = "srv6_icmp"
    public static let icmpSlots = ["time_exceeded", "parameter_problem", "not_sent"]
    public static let loader = "srv6_localsid"

    /// SRV6_R_*: why a packet left the fast path, by index.
    public static let reasons: [(name: String, value: Int)] = [
        ("ok", 0), ("no_srh", 1), ("bad_hdrlen", 2), ("sl_past_last", 3), ("truncated", 4), ("hop_limit", 5),
        ("sl_zero", 6), ("sl_nonzero", 7), ("bad_next_header", 8), ("no_entry", 9), ("wrong_behaviour", 10),
        ("no_room", 11), ("fib_miss", 12), ("local", 13), ("not_ip", 14), ("tlv", 15), ("tx_unready", 16),
        ("no_cache", 17), ("cache_too_big", 18), ("control", 19),
    ]
    public static let reasonMax = 20

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
            "SRV6_PROXY_HDR_MAX": UInt64(proxyHeadersMax),
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
}
