import HikeErrors

/// What the live-frames generator sends: Ethernet + IPv6/UDP, IPv4/UDP, or an SRv6 packet (outer
/// IPv6 + SRH with N segments + inner IPv6/UDP), built to a chosen frame length. The UDP
/// destination port is always `PacketTemplate.udpDestinationPort`: that is how the sink tells the
/// generator's frames from the kernel's own (ND, MLD).
public enum PacketTemplate: Sendable, Hashable, Codable {
    case ipv6UDP
    case ipv4UDP
    case srv6(SRv6Header)

    /// The outer header and SRH of an SRv6 template.
    public struct SRv6Header: Sendable, Hashable, Codable {
        /// Outer source address.
        public var source: [UInt8]
        /// The segment list in wire order: `segments[0]` is the last segment of the path, and the
        /// outer destination is `segments[segmentsLeft]` (RFC 8754 §2).
        public var segments: [[UInt8]]
        public var segmentsLeft: Int

        public init(source: [UInt8], segments: [[UInt8]], segmentsLeft: Int) {
            self.source = source
            self.segments = segments
            self.segmentsLeft = segmentsLeft
        }
    }

    public static let udpSourcePort: UInt16 = 1000
    public static let udpDestinationPort: UInt16 = 2000
    /// The largest frame: a 1500-byte MTU plus the Ethernet header (no FCS).
    public static let maximumFrame = 1514

    /// Addresses of the pipeline (TrafficPipeline): generator → sink.
    public static let ipv6Source = address6(0xfc00, 1, 1), ipv6Destination = address6(0xfc00, 3, 2)
    public static let ipv4Source: [UInt8] = [10, 0, 1, 1], ipv4Destination: [UInt8] = [10, 0, 3, 2]

    /// fcXX:YY::ZZ as 16 bytes.
    public static func address6(_ first: UInt16, _ second: UInt16, _ last: UInt16) -> [UInt8] {
        [UInt8(first >> 8), UInt8(first & 0xff), UInt8(second >> 8), UInt8(second & 0xff)]
            + [UInt8](repeating: 0, count: 10) + [UInt8(last >> 8), UInt8(last & 0xff)]
    }

    /// Bytes of headers before the UDP payload.
    public var headerLength: Int {
        switch self {
        case .ipv6UDP: 14 + 40 + 8
        case .ipv4UDP: 14 + 20 + 8
        case .srv6(let srh): 14 + 40 + 8 + 16 * srh.segments.count + 40 + 8
        }
    }

    /// Bytes an SRv6 template adds around its inner IPv6 packet (outer IPv6 + SRH); 0 otherwise.
    public var encapsulationOverhead: Int {
        if case .srv6(let srh) = self { 40 + 8 + 16 * srh.segments.count } else { 0 }
    }

    /// The shortest frame: the headers and no payload (Ethernet pads nothing on a veth).
    public var minimumFrame: Int { headerLength }

    /// A name for reports: "Eth/IPv6/UDP", "Eth/IPv4/UDP", "Eth/IPv6/SRH(3 SIDs, SL 2)/IPv6/UDP".
    public var name: String {
        switch self {
        case .ipv6UDP: "Eth/IPv6/UDP"
        case .ipv4UDP: "Eth/IPv4/UDP"
        case .srv6(let srh):
            "Eth/IPv6/SRH(\(srh.segments.count) SID\(srh.segments.count == 1 ? "" : "s"), SL \(srh.segmentsLeft))/IPv6/UDP"
        }
    }

    /// A built frame and where gen_live varies it per flow.
    public struct Frame: Sendable, Equatable {
        public var bytes: [UInt8]
        /// The last 16-bit word of the innermost source address.
        public var flowWordOffset: Int
        /// The innermost UDP source port.
        public var portOffset: Int
        /// The innermost UDP checksum.
        public var udpChecksumOffset: Int
        /// The IPv4 header checksum (it covers the source address); nil for IPv6.
        public var ipv4ChecksumOffset: Int?
        /// Bytes gen_live rewrites into every frame: every header, the UDP header included.
        public var headerLength: Int
    }

    public enum TemplateError: Error, CustomStringConvertible, Equatable {
        case frameLength(Int, template: String, minimum: Int, maximum: Int)
        case segmentsLeft(Int, segments: Int)
        case noSegments
        case addressLength(Int)

        public var description: String {
            switch self {
            case .frameLength(let length, let template, let minimum, let maximum):
                "a \(template) frame is \(minimum)–\(maximum) bytes, not \(length) (choose --size in that range)"
            case .segmentsLeft(let left, let segments):
                "Segments Left \(left) is past the \(segments)-entry segment list (RFC 8754: SL ≤ Last Entry + 1)"
            case .noSegments: "an SRH needs at least one segment"
            case .addressLength(let count): "an IPv6 address is 16 bytes, not \(count)"
            }
        }
    }

    /// The frame of `length` bytes (Ethernet header included, no FCS), from the generator's MAC
    /// to d0's, with every checksum correct and a payload of 0x5a bytes.
    /// `innerDestination` is the destination of the (inner) IPv6 packet (IPv4: always
    /// `ipv4Destination`).
    public func frame(length: Int, sourceMAC: [UInt8], destinationMAC: [UInt8],
                      innerDestination: [UInt8] = PacketTemplate.ipv6Destination) throws -> Frame {
        guard (minimumFrame...Self.maximumFrame).contains(length) else {
            throw TemplateError.frameLength(length, template: name, minimum: minimumFrame, maximum: Self.maximumFrame)
        }
        let payload = [UInt8](repeating: 0x5a, count: length - headerLength)
        switch self {
        case .ipv6UDP:
            let inner = Self.udp6(source: Self.ipv6Source, destination: innerDestination, payload: payload)
            return Frame(bytes: Self.ethernet(destinationMAC, sourceMAC, 0x86dd) + inner, flowWordOffset: 14 + 8 + 14,
                         portOffset: 14 + 40, udpChecksumOffset: 14 + 40 + 6, ipv4ChecksumOffset: nil, headerLength: headerLength)
        case .ipv4UDP:
            let inner = Self.udp4(source: Self.ipv4Source, destination: Self.ipv4Destination, payload: payload)
            return Frame(bytes: Self.ethernet(destinationMAC, sourceMAC, 0x0800) + inner, flowWordOffset: 14 + 12 + 2,
                         portOffset: 14 + 20, udpChecksumOffset: 14 + 20 + 6, ipv4ChecksumOffset: 14 + 10,
                         headerLength: headerLength)
        case .srv6(let srh):
            guard !srh.segments.isEmpty else { throw TemplateError.noSegments }
            guard (0...srh.segments.count).contains(srh.segmentsLeft) else {
                throw TemplateError.segmentsLeft(srh.segmentsLeft, segments: srh.segments.count)
            }
            for address in [srh.source] + srh.segments where address.count != 16 {
                throw TemplateError.addressLength(address.count)
            }
            let inner = Self.udp6(source: Self.ipv6Source, destination: innerDestination, payload: payload)
            // RFC 8754 §2: Hdr Ext Len in 8-octet units not counting the first 8; Last Entry is
            // the index of the last element; the active segment is the outer destination.
            let routing: [UInt8] = [41, UInt8(2 * srh.segments.count), 4, UInt8(srh.segmentsLeft),
                                    UInt8(srh.segments.count - 1), 0, 0, 0] + srh.segments.flatMap { $0 }
            let active = srh.segments[min(srh.segmentsLeft, srh.segments.count - 1)]
            let outer: [UInt8] = [0x60, 0, 0, 0] + Self.be16(UInt16(routing.count + inner.count)) + [43, 64]
                + srh.source + active
            let innerStart = 14 + 40 + routing.count
            return Frame(bytes: Self.ethernet(destinationMAC, sourceMAC, 0x86dd) + outer + routing + inner,
                         flowWordOffset: innerStart + 8 + 14, portOffset: innerStart + 40,
                         udpChecksumOffset: innerStart + 40 + 6, ipv4ChecksumOffset: nil, headerLength: headerLength)
        }
    }

    static func ethernet(_ destination: [UInt8], _ source: [UInt8], _ type: UInt16) -> [UInt8] {
        destination + source + be16(type)
    }

    /// IPv6 + UDP (hop limit 64) with the RFC 8200 §8.1 checksum.
    static func udp6(source: [UInt8], destination: [UInt8], payload: [UInt8]) -> [UInt8] {
        let length = UInt16(8 + payload.count)
        var udp = be16(udpSourcePort) + be16(udpDestinationPort) + be16(length) + [0, 0] + payload
        let pseudo = source + destination + [0, 0] + be16(length) + [0, 0, 0, 17]
        let checksum = ~onesComplementSum(pseudo + udp)
        udp[6...7] = be16(checksum == 0 ? 0xffff : checksum)[...]
        return [0x60, 0, 0, 0] + be16(length) + [17, 64] + source + destination + udp
    }

    /// IPv4 (TTL 64, DF, no options) + UDP with both checksums (RFC 791, RFC 768).
    static func udp4(source: [UInt8], destination: [UInt8], payload: [UInt8]) -> [UInt8] {
        let length = UInt16(8 + payload.count)
        var udp = be16(udpSourcePort) + be16(udpDestinationPort) + be16(length) + [0, 0] + payload
        let pseudo = source + destination + [0, 17] + be16(length)
        let checksum = ~onesComplementSum(pseudo + udp)
        udp[6...7] = be16(checksum == 0 ? 0xffff : checksum)[...]
        var ip: [UInt8] = [0x45, 0] + be16(20 + length) + [0, 0, 0x40, 0, 64, 17, 0, 0] + source + destination
        ip[10...11] = be16(~onesComplementSum(ip))[...]
        return ip + udp
    }

    /// The 16-bit ones' complement sum of RFC 1071 (not inverted).
    static func onesComplementSum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        return UInt16(sum)
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
}

extension PacketTemplate.TemplateError: HikeError {
    public var code: String { "bench.template" }
    public var message: String { description }
}
