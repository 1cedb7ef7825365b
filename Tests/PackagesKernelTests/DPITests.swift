import BPFKit
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// tutorial: dpi(select, replace) answers 1 when the UDP payload of an IPv6 packet starts with
/// "foobar", else 0, and never changes or drops the packet.
@Suite(.serialized) struct DPITests {
    let h: MeasurementHarness

    init() throws {
        h = try MeasurementHarness(programs: ["dpi", "hike_drop"])
        // The script's dpi(1, 0); the arguments are accepted and not used.
        try h.install("chain scan\n    r2 = 1\n    r3 = 0\n    call dpi\n    exit\n")
    }

    /// Runs packet through the dpi chain: r0, after checking that dpi continued the chain and
    /// left the packet as it was.
    func dpi(_ packet: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> UInt64 {
        try h.runToExit("scan", packet, sourceLocation: sourceLocation)
    }

    /// dpi_stats summed over the CPUs: [packets scanned, packets matched].
    func stats() throws -> [UInt64] {
        [try h.perCPUSum("dpi", "dpi_stats", 0), try h.perCPUSum("dpi", "dpi_stats", 1)]
    }

    @Test func aPayloadThatStartsWithTheKeywordMatches() throws {
        #expect(try dpi(ExtPacket.udp(text: "foobar\n")) == 1)  // what nc sends
        #expect(try dpi(ExtPacket.udp(text: "foobar and more")) == 1)
        // Exactly the keyword: the original needed a seventh byte; here it matches.
        #expect(try dpi(ExtPacket.udp(text: "foobar")) == 1)
        #expect(try stats() == [3, 3])
    }

    @Test func otherPayloadsDoNotMatch() throws {
        for text in ["fooba", "foobaz\n", "xfoobar\n", "FOOBAR\n", "", "foo"] {
            #expect(try dpi(ExtPacket.udp(text: text)) == 0, "payload \(text.debugDescription)")
        }
        #expect(try stats() == [6, 0])
    }

    @Test func theKeywordIsFoundBehindExtensionHeaders() throws {
        let hbh = ExtPacket.optionsHeader(nextHeader: 43, options: [1, 2, 0, 0])
        let srh = ExtPacket.routingHeader(nextHeader: 60)
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: [1, 4, 0, 0, 0, 0])
        #expect(try dpi(ExtPacket.udp(text: "foobar\n", nextHeader: 0, extensions: hbh + srh + doh)) == 1)
        #expect(try dpi(ExtPacket.udp(text: "foobar", nextHeader: 43, extensions: ExtPacket.routingHeader(nextHeader: 17))) == 1)
        #expect(try dpi(ExtPacket.udp(text: "barfoo", nextHeader: 0, extensions: hbh + srh + doh)) == 0)
        #expect(try stats() == [3, 2])
    }

    @Test func fragmentsAndOtherProtocolsAreNotScannedForTheKeyword() throws {
        // A fragment's payload is not the datagram's: not UDP, even with the keyword after it.
        #expect(try dpi(ExtPacket.udp(text: "foobar\n", nextHeader: 44, extensions: ExtPacket.fragmentHeader(nextHeader: 17))) == 0)
        var tcp = ExtPacket.udp(text: "foobar\n")
        tcp[14 + 6] = 6  // the same bytes as TCP
        #expect(try dpi(tcp) == 0)
        #expect(try dpi(ExtPacket.icmp) == 0)
        #expect(try dpi(ExtPacket.ipv4UDP(destinationPort: 2000)) == 0)
        #expect(try dpi(ExtPacket.truncatedUDP) == 0)
        #expect(try stats() == [5, 0])
    }

    @Test func theUDPLengthBoundsThePayload() throws {
        // The frame carries "foobar\n", but the UDP length says 5 bytes of payload (the rest is
        // trailer): no match. Then 6 bytes: a match.
        var packet = ExtPacket.udp(text: "foobar\n")
        packet[14 + 40 + 4] = 0
        packet[14 + 40 + 5] = 8 + 5
        #expect(try dpi(packet) == 0)
        packet[14 + 40 + 5] = 8 + 6
        #expect(try dpi(packet) == 1)
        // A UDP length below the header's 8 bytes.
        packet[14 + 40 + 5] = 3
        #expect(try dpi(packet) == 0)
    }

    @Test func theChainDecidesOnTheAnswer() throws {
        // dpi continues the chain: the script's `if dpi(1, 0) == 1: drop`.
        try h.install("chain filter\n    r2 = 1\n    r3 = 0\n    call dpi\n    if r0 != 1 goto out\n    call hike_drop\nout:\n    exit\n")
        #expect(try h.run("filter", ExtPacket.udp(text: "foobar\n")).0.returnValue == ABI.xdpDrop)
        #expect(try h.runToExit("filter", ExtPacket.udp(text: "hello\n")) == 0)
    }
}
