import BPFKit
import BPFObjects
import NetKit

/// The Swift mirror of bpf/include/hike/wing.h: constants here, structs as Codable values laid
/// out by the object's BTF (BTFCoding), so no offset is written in Swift.
public enum WingABI {
    public static let listMax = 127
    /// What a configured or learned path may hold: the SRH's entries minus slot 0 (the destination).
    public static let segmentsMax = listMax - 1
    public static let flowsMax = 65536
    public static let dnsNameLength = 256

    public static let configMap = "wing_cfg", servicesMap = "wing_services", appsMap = "wing_apps"
    public static let flowsMap = "wing_flows", localMap = "wing_local", dnsMap = "wing_dns", statsMap = "wing_stats"
    public static let egressProgram = "wing_egress", ingressProgram = "wing_ingress"
    public static let maps = [configMap, servicesMap, appsMap, flowsMap, localMap, dnsMap, statsMap]

    /// WING_PATH_ENCAP: an outer header and the SRH, not an insertion.
    public static let encapFlag: UInt32 = 1 << 0

    /// WING_CFG_* flags.
    public static let learnFlag: UInt32 = 1 << 0
    public static let dnsFlag: UInt32 = 1 << 1

    /// enum wing_stat, by slot: what `hike wing show` prints.
    public static let stats: [String] = [
        "egress_pushed", "egress_pushed_learned", "egress_no_path", "egress_not_plain", "egress_expired",
        "egress_mss_clamped", "egress_failed", "egress_dropped",
        "ingress_popped", "ingress_segments_left", "ingress_not_local", "ingress_malformed", "ingress_learned",
        "ingress_dns_answers", "ingress_dns_mapped", "egress_encapsulated",
    ]
    public static let statMax = 16

    /// The object, compiled from bpf/wing/wing.bpf.c.
    static var objectBytes: [UInt8] { EmbeddedObjects.wing.bytes }
}

/// `struct wing_config`.
struct WingConfigEntry: Codable, Sendable, Equatable {
    var flags: UInt32
    var flowIdleSeconds: UInt32
    /// Server: the uSID block in 16-bit words, whose containers' C-SIDs learning reverses; 0: none.
    var usidBlockWords: UInt32 = 0

    enum CodingKeys: String, CodingKey { case flags, flowIdleSeconds = "flow_idle_s", usidBlockWords = "usid_block_words" }
}

/// `struct wing_path`: a segment list in SRH order. Inserted, slot 0 is the destination
/// (written per packet); encapsulated, slot 0 is the last SID.
public struct WingPathEntry: Codable, Sendable, Equatable {
    public var entries: UInt32
    public var srhLength: UInt32
    public var lastSeenNs: UInt64
    public var flags: UInt32
    /// All WING_LIST_MAX slots; those from `entries` on are `::`.
    public var list: [IPv6Address]

    enum CodingKeys: String, CodingKey { case entries, srhLength = "srh_len", lastSeenNs = "last_seen_ns", flags, list }

    /// The entry for SIDs in traversal order (the first visited first), as a configuration
    /// lists them: HawkWing's layout [∅, s_k, …, s_1] for an insertion, [s_k, …, s_1] in an outer
    /// header when encapsulating.
    public init(traversal segments: [IPv6Address], encapsulate: Bool = false) {
        let srhOrder = (encapsulate ? [] : [IPv6Address.zero]) + segments.reversed()
        entries = UInt32(srhOrder.count)
        srhLength = UInt32(8 + 16 * srhOrder.count)
        lastSeenNs = 0
        flags = encapsulate ? WingABI.encapFlag : 0
        list = srhOrder + Array(repeating: .zero, count: WingABI.listMax - srhOrder.count)
    }

    public var encapsulates: Bool { flags & WingABI.encapFlag != 0 }

    /// The SIDs in traversal order (an insertion's slot 0, the destination, left out).
    public var traversal: [IPv6Address] {
        let count = min(Int(entries), list.count), first = encapsulates ? 0 : 1
        return count <= first ? [] : Array(list[first..<count].reversed())
    }
}

/// `struct wing_app_key`: a service's application port (0: ICMPv6 echo).
struct WingAppKey: Codable, Sendable, Hashable {
    var service: UInt32
    var port: UInt16
}

/// `struct wing_flow_key`: a learned flow's remote end.
public struct WingFlowKey: Codable, Sendable, Hashable {
    public var addr: IPv6Address
    public var port: UInt16
    public var proto: UInt8
}

/// `struct wing_dns_name`: a name in DNS wire format, lower case, zero padded (its bytes are
/// the key as they are).
struct WingDNSName: Sendable, Hashable {
    let bytes: [UInt8]

    /// nil when the name does not fit a DNS message (a label over 63 bytes, 255 in all).
    init?(domain: String) {
        var wire: [UInt8] = []
        let trimmed = domain.hasSuffix(".") ? String(domain.dropLast()) : domain
        for label in trimmed.lowercased().split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard (1...63).contains(bytes.count) else { return nil }
            wire.append(UInt8(bytes.count))
            wire += bytes
        }
        wire.append(0)
        guard wire.count <= 255 else { return nil }
        bytes = wire + Array(repeating: 0, count: WingABI.dnsNameLength - wire.count)
    }
}
