import BPFKit
import BPFObjects
import HikeRuntime
import NetKit

// The srv6 package's map keys and values (bpf/include/hike/srv6.h) as Swift values. Their
// coding keys are the C member names; the srv6 objects' BTF lays them out (BTFCoding), so no
// offset or size is written in Swift and the layout cannot drift from the header.

/// `struct srv6_policy`: a headend policy.
public struct SRv6PolicyEntry: Codable, Sendable, Equatable {
    public var mode: UInt8
    public var nsegs: UInt8
    public var flags: UInt8
    public var hopLimit: UInt8
    public var tag: UInt16
    public var fallback: UInt16
    public var src: IPv6Address
    /// All SRV6_MAX_SEGMENTS slots; those from nsegs on are `::`.
    public var segments: [IPv6Address]
    public var pmFlow: UInt32

    enum CodingKeys: String, CodingKey {
        case mode, nsegs, flags, hopLimit = "hop_limit", tag, fallback, src, segments, pmFlow = "pm_flow"
    }

    public init(mode: HeadendMode, segments: [IPv6Address], flags: UInt8, hopLimit: UInt8, tag: UInt16,
                source: IPv6Address, fallback: SRv6ABI.Fallback = .kernelRoute, pmFlow: UInt32 = 0) {
        self.mode = mode.rawValue
        self.nsegs = UInt8(segments.count)
        self.flags = flags
        self.hopLimit = hopLimit
        self.tag = tag
        self.fallback = fallback.rawValue
        self.src = source
        self.segments = segments + Array(repeating: .zero, count: max(SRv6ABI.maxSegments - segments.count, 0))
        self.pmFlow = pmFlow
    }

    /// The bytes of `struct srv6_policy`.
    public func encoded() throws(MapJSONError) -> [UInt8] {
        try BTFCoding.encode(self, with: try SRv6ABI.codec("srv6_policy"), path: "srv6_policy")
    }
}

/// `struct srv6_sid`: a local SID.
public struct SRv6SIDEntry: Codable, Sendable, Equatable {
    public var behaviour: UInt32
    public var flavours: UInt32
    public var table: UInt32
    public var oif: UInt32
    public var lblen: UInt8
    public var nflen: UInt8
    public var fallback: UInt16
    public var nh4: IPv4Address
    public var nh6: IPv6Address
    /// SR proxies: IFACE-IN's index, the inner types (SRV6_INNER_*), End.AD's age.
    public var iif: UInt32 = 0
    public var inner: UInt32 = 0
    public var ageMs: UInt32 = 0

    enum CodingKeys: String, CodingKey {
        case behaviour, flavours, table, oif, lblen, nflen, fallback, nh4, nh6, iif, inner, ageMs = "age_ms"
    }

    public init(behaviour: EndpointBehaviour, flavours: Flavours, table: UInt32, oif: UInt32, lblen: UInt8, nflen: UInt8,
                nh4: IPv4Address?, nh6: IPv6Address?, fallback: SRv6ABI.Fallback = .kernelRoute) {
        self.behaviour = behaviour.rawValue
        self.flavours = flavours.rawValue
        self.table = table
        self.oif = oif
        self.lblen = lblen
        self.nflen = nflen
        self.fallback = fallback.rawValue
        self.nh4 = nh4 ?? .zero
        self.nh6 = nh6 ?? .zero
    }

    /// The bytes of `struct srv6_sid`.
    public func encoded() throws(MapJSONError) -> [UInt8] {
        try BTFCoding.encode(self, with: try SRv6ABI.codec("srv6_sid"), path: "srv6_sid")
    }
}

/// `struct srv6_proxy_cache`: the outer headers a proxy's function's packets get (the lock is
/// left out: a written value starts unlocked).
public struct SRv6ProxyCache: Codable, Sendable, Equatable {
    public struct Headers: Codable, Sendable, Equatable {
        public var len: UInt32
        public var nhOff: UInt32
        public var hdr: [UInt8]

        enum CodingKeys: String, CodingKey { case len, nhOff = "nh_off", hdr }

        public init(len: UInt32, nhOff: UInt32, hdr: [UInt8]) {
            self.len = len
            self.nhOff = nhOff
            self.hdr = hdr
        }

        /// The BTF codec reads a byte array back as hex text.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            len = try container.decode(UInt32.self, forKey: .len)
            nhOff = try container.decode(UInt32.self, forKey: .nhOff)
            if let bytes = try? container.decode([UInt8].self, forKey: .hdr) {
                hdr = bytes
            } else {
                let text = Array(try container.decode(String.self, forKey: .hdr).utf8)
                hdr = stride(from: 0, to: text.count - 1, by: 2).compactMap { UInt8(String(decoding: text[$0..<$0 + 2], as: UTF8.self), radix: 16) }
            }
        }
    }
    /// `struct bpf_spin_lock`: written as 0 (unlocked).
    public struct SpinLock: Codable, Sendable, Equatable { public var val: UInt32 = 0 }
    public var lock = SpinLock()
    public var pad: UInt32 = 0
    public var learnedNs: UInt64
    public var h: Headers

    enum CodingKeys: String, CodingKey { case lock, pad, learnedNs = "learned_ns", h }

    /// End.AS's headers, as H.Encaps writes them: IPv6 (traffic class and flow label 0) and an
    /// SRH with the list reversed, SL = Last Entry = n − 1; payload length and the SRH's next
    /// header are the packet's, written by the program.
    public init(headers: ProxyHeaders) {
        let n = headers.segments.count
        var bytes: [UInt8] = [0x60, 0, 0, 0, 0, 0, 43, headers.hopLimit] + headers.source.bytes + headers.segments[0].bytes
        bytes += [0, UInt8(2 * n), UInt8(SRv6ABI.routingType), UInt8(n - 1), UInt8(n - 1), 0, 0, 0]
        for segment in headers.segments.reversed() { bytes += segment.bytes }
        learnedNs = 0
        h = Headers(len: UInt32(bytes.count), nhOff: 40, hdr: bytes + [UInt8](repeating: 0, count: SRv6ABI.proxyHeadersMax - bytes.count))
    }

    public init(learnedNs: UInt64, h: Headers) {
        self.learnedNs = learnedNs
        self.h = h
    }

    public static let empty = SRv6ProxyCache(learnedNs: 0, h: Headers(len: 0, nhOff: 0, hdr: [UInt8](repeating: 0, count: SRv6ABI.proxyHeadersMax)))

    /// The bytes of `struct srv6_proxy_cache`.
    public func encoded() throws(MapJSONError) -> [UInt8] {
        try BTFCoding.encode(self, with: try SRv6ABI.codec("srv6_proxy_cache"), path: "srv6_proxy_cache")
    }

    /// The whole segment list the headers hold, in visiting order (the first SID first), and SL.
    public var segments: (list: [IPv6Address], segmentsLeft: Int)? {
        let bytes = Array(h.hdr.prefix(Int(h.len)))
        guard bytes.count >= 40 else { return nil }
        var at = 40, next = bytes[6]
        while next == 0 || next == 60 || next == 43, at + 8 <= bytes.count {
            let length = (Int(bytes[at + 1]) + 1) * 8
            if next == 43 && bytes[at + 2] == UInt8(SRv6ABI.routingType) {
                let lastEntry = Int(bytes[at + 4]), sl = Int(bytes[at + 3])
                guard at + 8 + (lastEntry + 1) * 16 <= bytes.count else { return nil }
                let list = (0...lastEntry).reversed().map { IPv6Address(unchecked: Array(bytes[at + 8 + $0 * 16..<at + 24 + $0 * 16])) }
                return (list, sl)
            }
            next = bytes[at]
            at += length
        }
        return nil
    }
}

/// `struct srv6_proxy_stats`: one CPU's counts for a proxy.
public struct SRv6ProxyStats: Codable, Sendable, Equatable {
    public var toFunction: UInt64
    public var toFunctionBytes: UInt64
    public var fromFunction: UInt64
    public var fromFunctionBytes: UInt64
    public var learned: UInt64
    public var reasons: [UInt64]

    enum CodingKeys: String, CodingKey {
        case toFunction = "to_function", toFunctionBytes = "to_function_bytes", fromFunction = "from_function"
        case fromFunctionBytes = "from_function_bytes", learned, reasons
    }

    public static func + (a: SRv6ProxyStats, b: SRv6ProxyStats) -> SRv6ProxyStats {
        SRv6ProxyStats(toFunction: a.toFunction &+ b.toFunction, toFunctionBytes: a.toFunctionBytes &+ b.toFunctionBytes,
                       fromFunction: a.fromFunction &+ b.fromFunction, fromFunctionBytes: a.fromFunctionBytes &+ b.fromFunctionBytes,
                       learned: a.learned &+ b.learned,
                       reasons: zip(a.reasons, b.reasons).map { $0 &+ $1 })
    }

    public static let zero = SRv6ProxyStats(toFunction: 0, toFunctionBytes: 0, fromFunction: 0, fromFunctionBytes: 0, learned: 0,
                                            reasons: [UInt64](repeating: 0, count: SRv6ABI.reasonMax))
}

/// `struct srv6_stats`: one CPU's count for a SID or policy, as the kernel's seg6local `count`.
public struct SRv6Stats: Codable, Sendable, Equatable, AdditiveArithmetic {
    public var packets: UInt64
    public var bytes: UInt64
    public var errors: UInt64

    public init(packets: UInt64, bytes: UInt64, errors: UInt64) {
        self.packets = packets
        self.bytes = bytes
        self.errors = errors
    }

    public static let zero = SRv6Stats(packets: 0, bytes: 0, errors: 0)
    public static func + (a: SRv6Stats, b: SRv6Stats) -> SRv6Stats {
        SRv6Stats(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes, errors: a.errors &+ b.errors)
    }
    public static func - (a: SRv6Stats, b: SRv6Stats) -> SRv6Stats {
        SRv6Stats(packets: a.packets &- b.packets, bytes: a.bytes &- b.bytes, errors: a.errors &- b.errors)
    }
}

extension LPMKey {
    /// The bytes of `struct srv6_lpm6_key` (IPv6) or `struct srv6_lpm4_key` (IPv4).
    public func encoded() throws(MapJSONError) -> [UInt8] {
        let name = Address.self == IPv4Address.self ? "srv6_lpm4_key" : "srv6_lpm6_key"
        return try BTFCoding.encode(self, with: try SRv6ABI.codec(name), path: name)
    }
}

extension IPv6Network {
    /// `struct srv6_lpm6_key`.
    public var lpmKey: LPMKey<IPv6Address> { LPMKey(prefixlen: UInt32(length), addr: address) }
}

extension IPv4Network {
    /// `struct srv6_lpm4_key`.
    public var lpmKey: LPMKey<IPv4Address> { LPMKey(prefixlen: UInt32(length), addr: address) }
}

extension SRv6ABI {
    /// The objects whose BTF has the srv6 structs: the package and its loader.
    static let objects = ["srv6", "srv6_localsid"]

    /// The codec of a struct of srv6.h, from the BTF of the embedded srv6 objects (read once).
    public static func codec(_ structName: String) throws(MapJSONError) -> MapJSONCodec {
        let found: [String: BTFType]
        switch structs {
        case .success(let types): found = types
        case .failure(let error): throw MapJSONError(path: structName, "the BTF of \(objects.joined(separator: ", ")) does not read: \(error)")
        }
        guard let type = found[structName] else {
            throw MapJSONError(path: structName, "no struct \(structName) in the BTF of \(objects.joined(separator: ", "))")
        }
        return MapJSONCodec(type: type, size: type.size)
    }

    private static let structs = Result<[String: BTFType], any Error> {
        var found: [String: BTFType] = [:]
        for object in EmbeddedObjects.all where objects.contains(object.name) {
            let spec = ObjectSpec(bytes: object.bytes, name: object.name)
            for name in ["srv6_policy", "srv6_sid", "srv6_stats", "srv6_lpm6_key", "srv6_lpm4_key", "srv6_proxy_cache",
                         "srv6_proxy_stats"] where found[name] == nil {
                found[name] = try spec.btfStructIfPresent(named: name)
            }
        }
        return found
    }
}
