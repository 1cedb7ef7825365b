/// Crafted packets for test runs and raw sends, built field by field so a reader can check them.
public enum PacketBuilder {
    public static let etherTypeIPv6: UInt16 = 0x86dd

    /// An Ethernet header.
    public static func ethernet(destination: [UInt8], source: [UInt8], etherType: UInt16) -> [UInt8] {
        destination + source + [UInt8(etherType >> 8), UInt8(etherType & 0xff)]
    }

    /// A 16-byte IPv6 address from its text form (`fc00::1`); nil when the text is no address.
    public static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
    }

    /// The 16 bytes of an IPv6 address a test writes as text (`fc00::1`). Text that is no
    /// address is the test's mistake: it stops the run, naming the text, rather than giving a
    /// header of the wrong length.
    public static func address(_ text: String) -> [UInt8] {
        guard let bytes = ipv6(text) else { preconditionFailure("'\(text)' is no IPv6 address in a test") }
        return bytes
    }

    /// Ethernet + IPv6 + UDP with a correct UDP checksum.
    public static func udp6(sourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 1], destinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 2],
                            source: [UInt8], destination: [UInt8], sourcePort: UInt16, destinationPort: UInt16,
                            payload: [UInt8], hopLimit: UInt8 = 64) -> [UInt8] {
        let udpLength = UInt16(8 + payload.count)
        var udp = be16(sourcePort) + be16(destinationPort) + be16(udpLength) + [0, 0] + payload
        let checksum = transportChecksum(source: source, destination: destination, nextHeader: 17, segment: udp)
        udp[6] = UInt8(checksum >> 8)
        udp[7] = UInt8(checksum & 0xff)
        let ipv6Header: [UInt8] = [0x60, 0, 0, 0] + be16(udpLength) + [17, hopLimit] + source + destination
        return ethernet(destination: destinationMAC, source: sourceMAC, etherType: etherTypeIPv6) + ipv6Header + udp
    }

    /// The IPv6 pseudo-header checksum of RFC 8200 §8.1 (0 is sent as 0xffff for UDP).
    public static func transportChecksum(source: [UInt8], destination: [UInt8], nextHeader: UInt8,
                                         segment: [UInt8]) -> UInt16 {
        let length = UInt32(segment.count)
        var pseudo = source + destination
        pseudo += [UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff), UInt8(length & 0xff)]
        pseudo += [0, 0, 0, nextHeader]
        let sum = ~onesComplementSum(pseudo + segment)
        return sum == 0 ? 0xffff : sum
    }

    /// The 16-bit ones' complement sum of RFC 1071 (not inverted).
    public static func onesComplementSum(_ bytes: [UInt8]) -> UInt16 {
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

#if canImport(Glibc)
import Glibc
#endif
