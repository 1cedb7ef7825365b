import BPFKit
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// contribs: udp_port(port) answers 0 when the UDP destination port is port, the destination
/// port when it is another, 100001 when it is port 0 (reserved: it matches nothing), and 100000
/// when the packet is not UDP over IPv6.
@Suite(.serialized) struct UDPPortTests {
    static let notUDP: UInt64 = 100_000
    static let portZero: UInt64 = 100_001

    let h: MeasurementHarness

    init() throws {
        h = try MeasurementHarness(programs: ["udp_port", "hike_drop"])
        try h.install("chain p862\n    r2 = 862\n    call udp_port\n    exit\n")
    }

    /// Runs packet through chain: r0, after checking that udp_port continued the chain and left
    /// the packet as it was.
    func udpPort(_ packet: [UInt8], chain: String = "p862", sourceLocation: SourceLocation = #_sourceLocation) throws -> UInt64 {
        try h.runToExit(chain, packet, sourceLocation: sourceLocation)
    }

    @Test func theDestinationPortIsMeasuredAgainstTheArgument() throws {
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 862)) == 0)
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 2000)) == 2000)
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 863)) == 863)
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 65535)) == 65535)
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 1)) == 1)
        // The source port does not count.
        #expect(try udpPort(ExtPacket.udp(firstNextHeader: 17, extensions: [], sourcePort: 862, destinationPort: 7)) == 7)
    }

    @Test func allSixtyFourBitsOfTheArgumentCount() throws {
        try h.install("chain wide\n    r2 = 0x10000035e ll\n    call udp_port\n    exit\n")  // 2^32 + 862
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 862), chain: "wide") == 862)
        try h.install("chain zero\n    r2 = 0\n    call udp_port\n    exit\n")
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 5), chain: "zero") == 5)
    }

    @Test func destinationPortZeroMatchesNoArgument() throws {
        // Port 0 is reserved: its own answer, never 0 (a match), whatever the argument, 0 included.
        try h.install("chain zero\n    r2 = 0\n    call udp_port\n    exit\n")
        let toZero = ExtPacket.udp(text: "x", destinationPort: 0)
        #expect(try udpPort(toZero, chain: "zero") == Self.portZero)
        #expect(try udpPort(toZero) == Self.portZero)
        // A source port 0 is an ordinary datagram's.
        #expect(try udpPort(ExtPacket.udp(firstNextHeader: 17, extensions: [], sourcePort: 0, destinationPort: 862)) == 0)
    }

    @Test func udpIsFoundBehindExtensionHeaders() throws {
        let hbh = ExtPacket.optionsHeader(nextHeader: 43, options: [1, 2, 0, 0])
        let srh = ExtPacket.routingHeader(nextHeader: 60)
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: [1, 4, 0, 0, 0, 0])
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 862, nextHeader: 0, extensions: hbh + srh + doh)) == 0)
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 4242, nextHeader: 43,
                                          extensions: ExtPacket.routingHeader(nextHeader: 17))) == 4242)
    }

    @Test func otherPacketsGetTheSentinel() throws {
        #expect(try udpPort(ExtPacket.tcpLike(destinationPort: 862)) == Self.notUDP)
        #expect(try udpPort(ExtPacket.icmp) == Self.notUDP)
        #expect(try udpPort(ExtPacket.ipv4UDP(destinationPort: 862)) == Self.notUDP)
        #expect(try udpPort(ExtPacket.truncatedUDP) == Self.notUDP)
        #expect(try udpPort(ExtPacket.udp(text: "x", destinationPort: 862, nextHeader: 44,
                                          extensions: ExtPacket.fragmentHeader(nextHeader: 17))) == Self.notUDP)
        // A Destination Options header that runs past the frame.
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: [1, 4, 0, 0, 0, 0])
        let cut = Array(ExtPacket.udp(text: "x", destinationPort: 862, nextHeader: 60, extensions: doh)[..<(14 + 40 + 1)])
        #expect(try udpPort(cut) == Self.notUDP)
    }

    @Test func tstampTwampDropsWhatIsNotUDP() throws {
        // tstamp_twamp.eclat: `res = udp_port(666); if res == 100000: drop`.
        try h.install("""
            chain twamp
                r2 = 666
                call udp_port
                if r0 != 100000 goto out
                call hike_drop
            out:
                exit
            """)
        #expect(try h.run("twamp", ExtPacket.tcpLike(destinationPort: 666)).0.returnValue == ABI.xdpDrop)
        #expect(try h.runToExit("twamp", ExtPacket.udp(text: "x", destinationPort: 862)) == 862)
    }
}
