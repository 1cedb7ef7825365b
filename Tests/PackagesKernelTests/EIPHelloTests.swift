import BPFKit
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// eip: hello() counts its calls in hello_calls, answers 0 and continues the chain.
@Suite(.serialized) struct EIPHelloTests {
    let h: MeasurementHarness

    init() throws {
        h = try MeasurementHarness(programs: ["hello", "mcd", "hike_drop"])
    }

    func calls() throws -> UInt64 { try h.perCPUSum("hello", "hello_calls", 0) }

    static let packets = [
        NamedPacket(name: "UDP over IPv6", bytes: ExtPacket.udp(text: "x")),
        NamedPacket(name: "UDP over IPv4", bytes: ExtPacket.ipv4UDP(destinationPort: 1)),
        NamedPacket(name: "ICMPv6 echo request", bytes: ExtPacket.icmp),
    ]

    @Test(arguments: packets)
    func helloCountsItsCallsAndAnswersZero(_ packet: NamedPacket) throws {
        try h.install("chain hi\n    r0 = 77\n    call hello\n    exit\n")
        #expect(try calls() == 0)
        // r0 = 0, not the 77 the chain had in r0; the chain went on to its exit.
        #expect(try h.runToExit("hi", packet.bytes) == 0)
        #expect(try calls() == 1)
        #expect(try h.runToExit("hi", packet.bytes) == 0)
        #expect(try calls() == 2)
    }

    @Test func helloContinuesTheChain() throws {
        try h.install("chain hi\n    call hello\n    call hello\n    call hike_drop\n")
        let (run, result) = try h.run("hi", ExtPacket.udp(text: "x"))
        #expect(run.returnValue == ABI.xdpDrop)
        #expect(result.r0 == 0)
        #expect(try calls() == 2)
    }

    @Test func eipPTCallsHelloOnlyWhenMCDPushed() throws {
        // eip_pt.eclat: `if mcd() == 0: hello()`. A packet without CPT: mcd answers 1, no hello.
        try h.install("chain pt\n    call mcd\n    if r0 != 0 goto out\n    call hello\nout:\n    exit\n")
        var (_, result) = try h.run("pt", ExtPacket.udp(text: "no probe"))
        #expect(result.r0 == 1)
        #expect(try calls() == 0)
        // A CPT probe on a configured node: mcd pushes (0), then hello runs and answers 0.
        try h.hike.syncClocks()
        let cfg = try h.map("eip", "eip_mcd_cfg")
        try cfg.update(UInt32(1), UInt64(20))
        try cfg.update(UInt32(2), UInt64(0xabc))
        (_, result) = try h.run("pt", EIPTests.probe(ltvs: EIPTests.cpt(stack: EIPTests.stack)))
        #expect(result.r0 == 0)
        #expect(try h.perCPUSum("eip", "eip_stats", 0) == 1)
        #expect(try calls() == 1)
    }
}
