import HikeTestSupport

/// More extension headers and transports for the tests of the programs that look for UDP
/// behind them (dpi, udp_port, the ip6_udport classifiers).
extension ExtPacket {
    /// A Segment Routing Header (Routing type 4) with one segment, 24 bytes.
    static func routingHeader(nextHeader: UInt8) -> [UInt8] {
        [nextHeader, 2, 4, 0, 0, 0, 0, 0] + PacketBuilder.address("fc00::9")
    }

    /// A Fragment header: the first fragment (offset 0, more fragments), identification 1.
    static func fragmentHeader(nextHeader: UInt8) -> [UInt8] { [nextHeader, 0, 0, 1, 0, 0, 0, 1] }

    /// UDP over IPv6 to destinationPort whose payload is the bytes of text.
    static func udp(text: String, destinationPort: UInt16 = 2000, nextHeader: UInt8 = 17, extensions: [UInt8] = []) -> [UInt8] {
        udp(firstNextHeader: nextHeader, extensions: extensions, destinationPort: destinationPort, payload: Array(text.utf8))
    }

    /// The same bytes as udp(…) but with the Next Header of a TCP segment (6): ports in the same
    /// place, so only the protocol differs.
    static func tcpLike(destinationPort: UInt16) -> [UInt8] {
        udp(firstNextHeader: 6, extensions: [], destinationPort: destinationPort, payload: Array(repeating: 0, count: 12))
    }

    /// An ICMPv6 echo request (Next Header 58) of the same length as udp(…).
    static let icmp: [UInt8] = {
        var packet = udp(firstNextHeader: 58, extensions: [])
        packet[54] = 128
        packet[55] = 0
        return packet
    }()

    /// IPv4 + UDP to destinationPort: a frame every IPv6 classifier and program must refuse.
    static func ipv4UDP(destinationPort: UInt16) -> [UInt8] {
        var packet = NetKeys.ipv4
        packet[36] = UInt8(destinationPort >> 8)
        packet[37] = UInt8(destinationPort & 0xff)
        return packet
    }

    /// Ethernet + IPv6 whose Next Header is UDP, cut 4 bytes into the UDP header.
    static let truncatedUDP: [UInt8] = Array(udp(firstNextHeader: 17, extensions: [])[..<(14 + 40 + 4)])
}
