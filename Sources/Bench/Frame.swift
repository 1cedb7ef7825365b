/// The packet every benchmark run sees: a 64-byte Ethernet/IPv6/UDP frame (fc00::1 → fc00::2,
/// ports 1000 → 2000, two bytes of payload) with a correct UDP checksum.
public enum BenchFrame {
    public static let bytes: [UInt8] = {
        let source: [UInt8] = [0xfc, 0x00] + [UInt8](repeating: 0, count: 13) + [1]
        let destination: [UInt8] = [0xfc, 0x00] + [UInt8](repeating: 0, count: 13) + [2]
        let payload: [UInt8] = [0x5a, 0x5a]
        let udpLength = UInt16(8 + payload.count)
        var udp = be16(1000) + be16(2000) + be16(udpLength) + [0, 0] + payload
        var pseudo = source + destination + [0, 0] + be16(udpLength) + [0, 0, 0, 17]
        pseudo += udp
        var sum: UInt32 = 0
        for index in stride(from: 0, to: pseudo.count, by: 2) {
            sum += UInt32(pseudo[index]) << 8 | UInt32(index + 1 < pseudo.count ? pseudo[index + 1] : 0)
        }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        var checksum = ~UInt16(sum)
        if checksum == 0 { checksum = 0xffff }
        udp[6] = UInt8(checksum >> 8)
        udp[7] = UInt8(checksum & 0xff)
        let ethernet: [UInt8] = [0x02, 0, 0, 0, 0, 2] + [0x02, 0, 0, 0, 0, 1] + [0x86, 0xdd]
        let ipv6: [UInt8] = [0x60, 0, 0, 0] + be16(udpLength) + [17, 64] + source + destination
        return ethernet + ipv6 + udp
    }()

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
}
