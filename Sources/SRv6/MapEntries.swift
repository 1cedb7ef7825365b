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
            for name in ["srv6_policy", "srv6_sid", "srv6_stats", "srv6_lpm6_key", "srv6_lpm4_key"] where found[name] == nil {
                found[name] = try spec.btfStructIfPresent(named: name)
            }
        }
        return found
    }
}
