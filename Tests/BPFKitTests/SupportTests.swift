import BPFKit
import HikeTestSupport
import Testing

struct PacketBuilderTests {
    /// RFC 1071's worked example: the sum of 0001 f203 f4f5 f6f7 is ddf2.
    @Test func onesComplementSumMatchesRFC1071() {
        #expect(PacketBuilder.onesComplementSum([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]) == 0xddf2)
    }

    /// A datagram whose checksum field is filled in sums to 0xffff with its pseudo-header.
    @Test func udpChecksumVerifies() throws {
        let source = try #require(PacketBuilder.ipv6("2001:db8::1"))
        let destination = try #require(PacketBuilder.ipv6("2001:db8::2"))
        let frame = PacketBuilder.udp6(source: source, destination: destination, sourcePort: 1234,
                                       destinationPort: 862, payload: Array(0..<44))
        #expect(frame.count == 14 + 40 + 8 + 44)
        let udp = Array(frame[54...])
        let length = UInt32(udp.count)
        let pseudo = source + destination + [0, 0, UInt8(length >> 8), UInt8(length & 0xff), 0, 0, 0, 17]
        #expect(PacketBuilder.onesComplementSum(pseudo + udp) == 0xffff)
    }

    @Test func addressesParse() {
        #expect(PacketBuilder.ipv6("fc00::2") == [0xfc, 0] + Array(repeating: 0, count: 13) + [2])
        #expect(PacketBuilder.ipv6("not an address") == nil)
    }
}

struct ErrorTextTests {
    @Test func errorSaysWhatFailedWhyAndTheLog() {
        let error = BPFError(operation: "load object 'x'", errno: 13, message: "libbpf: prog 'p': failed to load",
                             verifierLog: "0: R1=ctx() R10=fp0\ninvalid access to packet")
        let text = error.description
        #expect(text.hasPrefix("load object 'x' failed: Permission denied (errno 13)"))
        #expect(text.contains("libbpf: prog 'p': failed to load"))
        #expect(text.contains("--- verifier log ---\n0: R1=ctx() R10=fp0\ninvalid access to packet\n--- end of verifier log ---"))
    }

    @Test func misuseHasNoErrnoText() {
        let error = BPFError.invalid("update map 'm'", "key is 8 bytes, the map needs 4")
        #expect(error.description == "update map 'm' failed: Invalid argument (errno 22)\nkey is 8 bytes, the map needs 4")
    }
}
