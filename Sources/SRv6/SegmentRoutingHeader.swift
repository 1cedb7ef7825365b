import NetKit
/// One TLV of an SRH (RFC 8754 §2.1). Pad1 and PadN are padding; HMAC is carried opaque (hike
/// neither computes nor checks it); any other type is kept as it came.
public enum SRHTLV: Sendable, Hashable, CustomStringConvertible {
    /// Type 0: one octet, no length field.
    case pad1
    /// Type 4: padding of `count` zero octets after the type and length.
    case padN(count: Int)
    /// Type 5: the D bit, a key ID and the HMAC bytes (opaque here).
    case hmac(destinationAddressCheckDisabled: Bool, keyID: UInt32, hmac: [UInt8])
    /// Any other type, with its value.
    case opaque(type: UInt8, value: [UInt8])

    public static let pad1Type: UInt8 = 0, padNType: UInt8 = 4, hmacType: UInt8 = 5

    /// The encoded bytes.
    public var bytes: [UInt8] {
        switch self {
        case .pad1: [0]
        case .padN(let count): [Self.padNType, UInt8(truncatingIfNeeded: count)] + [UInt8](repeating: 0, count: count)
        case .hmac(let d, let keyID, let hmac):
            [Self.hmacType, UInt8(truncatingIfNeeded: 6 + hmac.count), d ? 0x80 : 0, 0]
                + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: keyID >> $0) } + hmac
        case .opaque(let type, let value): [type, UInt8(truncatingIfNeeded: value.count)] + value
        }
    }

    public var description: String {
        switch self {
        case .pad1: "pad1"
        case .padN(let count): "padn(\(count))"
        case .hmac(let d, let keyID, let hmac): "hmac(key \(keyID)\(d ? ", D" : ""), \(hmac.count) bytes)"
        case .opaque(let type, let value): "tlv(type \(type), \(value.count) bytes)"
        }
    }

    func validate() throws(SRv6Error) {
        switch self {
        case .pad1: break
        case .padN(let count):
            guard (0...5).contains(count) else { throw .malformedSRH("PadN carries 0–5 octets of padding (RFC 8754 §2.1.1.2), not \(count)") }
        case .hmac(_, _, let hmac):
            guard hmac.count <= 32, hmac.count % 8 == 0 else {
                throw .malformedSRH("the HMAC field is a multiple of 8 octets up to 32 (RFC 8754 §2.1.2), not \(hmac.count)")
            }
        case .opaque(let type, let value):
            guard type != Self.pad1Type, value.count <= 255 else { throw .malformedSRH("TLV type \(type) with \(value.count) octets cannot be encoded") }
        }
    }
}

/// The Segment Routing Header of RFC 8754 §2. `segments` is in wire order: segments[0] is the
/// last segment of the path and the active segment is segments[segmentsLeft].
public struct SegmentRoutingHeader: Sendable, Hashable, CustomStringConvertible {
    public static let routingType: UInt8 = 4
    public static let fixedLength = 8

    public var nextHeader: UInt8
    public var segmentsLeft: UInt8
    public var flags: UInt8
    public var tag: UInt16
    public var segments: [IPv6Address]
    public var tlvs: [SRHTLV]

    public init(nextHeader: UInt8, segmentsLeft: UInt8, flags: UInt8 = 0, tag: UInt16 = 0,
                segments: [IPv6Address], tlvs: [SRHTLV] = []) {
        self.nextHeader = nextHeader
        self.segmentsLeft = segmentsLeft
        self.flags = flags
        self.tag = tag
        self.segments = segments
        self.tlvs = tlvs
    }

    /// An SRH for a path in the order the packet visits it (as `ip … encap seg6 … segs A,B,C`
    /// takes it): reversed into the list, Segments Left pointing at the first segment.
    public init(path: [IPv6Address], nextHeader: UInt8, flags: UInt8 = 0, tag: UInt16 = 0) {
        self.init(nextHeader: nextHeader, segmentsLeft: UInt8(truncatingIfNeeded: max(path.count - 1, 0)),
                  flags: flags, tag: tag, segments: path.reversed())
    }

    /// The path in visiting order.
    public var path: [IPv6Address] { segments.reversed() }

    public var lastEntry: Int { segments.count - 1 }

    /// The segment the destination address holds now (nil when SL points past the list).
    public var activeSegment: IPv6Address? {
        Int(segmentsLeft) < segments.count ? segments[Int(segmentsLeft)] : nil
    }

    /// Encodes the header. The TLVs must pad it to a multiple of 8 octets, as RFC 8754 asks.
    public func encoded() throws(SRv6Error) -> [UInt8] {
        guard (1...128).contains(segments.count) else {
            throw .malformedSRH("an SRH carries 1–128 segments, not \(segments.count)")
        }
        guard Int(segmentsLeft) <= segments.count - 1 + 1 else {
            throw .malformedSRH("Segments Left \(segmentsLeft) is past Last Entry \(lastEntry) + 1")
        }
        for tlv in tlvs { try tlv.validate() }
        let tlvBytes = tlvs.flatMap(\.bytes)
        let length = 16 * segments.count + tlvBytes.count
        guard length % 8 == 0 else {
            throw .malformedSRH("the TLVs leave the header \(length + 8) octets long, not a multiple of 8: add padding")
        }
        guard length / 8 <= 255 else { throw .malformedSRH("the header is too long for Hdr Ext Len (\(length + 8) octets)") }
        var out: [UInt8] = [nextHeader, UInt8(length / 8), Self.routingType, segmentsLeft,
                            UInt8(lastEntry), flags, UInt8(tag >> 8), UInt8(tag & 0xff)]
        for segment in segments { out += segment.bytes }
        return out + tlvBytes
    }

    /// Decodes the SRH at the start of bytes, checking what RFC 8754 §4.3.1 checks; returns it
    /// with the number of octets it takes.
    public static func decode(_ bytes: [UInt8]) throws(SRv6Error) -> (header: SegmentRoutingHeader, length: Int) {
        guard bytes.count >= fixedLength else { throw .malformedSRH("\(bytes.count) octets: the fixed part alone is 8") }
        guard bytes[2] == routingType else { throw .malformedSRH("Routing Type \(bytes[2]), not 4") }
        let length = 8 + 8 * Int(bytes[1])
        guard length <= bytes.count else {
            throw .malformedSRH("Hdr Ext Len \(bytes[1]) says \(length) octets but only \(bytes.count) are there")
        }
        let lastEntry = Int(bytes[4]), segmentsLeft = bytes[3]
        let maxLastEntry = Int(bytes[1]) / 2 - 1
        guard lastEntry <= maxLastEntry else {
            throw .malformedSRH("Last Entry \(lastEntry) does not fit Hdr Ext Len \(bytes[1]) (at most \(maxLastEntry))")
        }
        guard Int(segmentsLeft) <= lastEntry + 1 else {
            throw .malformedSRH("Segments Left \(segmentsLeft) is past Last Entry \(lastEntry) + 1")
        }
        var segments: [IPv6Address] = []
        for index in 0...lastEntry {
            let start = 8 + 16 * index
            segments.append(IPv6Address(unchecked: Array(bytes[start..<start + 16])))
        }
        var tlvs: [SRHTLV] = []
        var at = 8 + 16 * (lastEntry + 1)
        while at < length {
            let type = bytes[at]
            if type == SRHTLV.pad1Type {
                tlvs.append(.pad1)
                at += 1
                continue
            }
            guard at + 2 <= length, at + 2 + Int(bytes[at + 1]) <= length else {
                throw .malformedSRH("the TLV of type \(type) at octet \(at) runs past the header")
            }
            let value = Array(bytes[at + 2..<at + 2 + Int(bytes[at + 1])])
            switch type {
            case SRHTLV.padNType: tlvs.append(.padN(count: value.count))
            case SRHTLV.hmacType where value.count >= 6:
                let keyID = value[2..<6].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                tlvs.append(.hmac(destinationAddressCheckDisabled: value[0] & 0x80 != 0, keyID: keyID, hmac: Array(value[6...])))
            default: tlvs.append(.opaque(type: type, value: value))
            }
            at += 2 + value.count
        }
        let header = SegmentRoutingHeader(nextHeader: bytes[0], segmentsLeft: segmentsLeft, flags: bytes[5],
                                          tag: UInt16(bytes[6]) << 8 | UInt16(bytes[7]), segments: segments, tlvs: tlvs)
        return (header, length)
    }

    /// `srh nh 41 sl 1 le 1 [fc00::2, fc00::1]` (the list in wire order).
    public var description: String {
        var text = "srh nh \(nextHeader) sl \(segmentsLeft) le \(lastEntry)"
        if flags != 0 { text += " flags 0x" + String(flags, radix: 16) }
        if tag != 0 { text += " tag \(tag)" }
        text += " [" + segments.map(\.description).joined(separator: ", ") + "]"
        if !tlvs.isEmpty { text += " " + tlvs.map(\.description).joined(separator: " ") }
        return text
    }

    /// Parses a comma-separated path in visiting order (`fc00::1,fc00::2`), as `ip` writes `segs`.
    public static func parsePath(_ text: String) throws(SRv6Error) -> [IPv6Address] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, !text.isEmpty else { throw .invalidValue("an empty segment list") }
        var path: [IPv6Address] = []
        for part in parts { path.append(try SRv6Error.parsing { () throws(AddressError) in try IPv6Address(parsing: part) }) }
        return path
    }
}
