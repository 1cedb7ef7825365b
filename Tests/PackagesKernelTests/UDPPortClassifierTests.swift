import BPFKit
import BPFObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// The ip6_udport862_classifier and ip6_udport42069_classifier loaders: IPv6 [+ one Routing
/// header] + UDP to their port starts the configured chain; everything else goes to the kernel.
@Suite(.serialized) struct UDPPortClassifierTests {
    static let loaders: [(name: String, port: UInt16, other: UInt16)] = [
        ("ip6_udport862_classifier", 862, 42069),
        ("ip6_udport42069_classifier", 42069, 862),
    ]

    let h: MeasurementHarness

    init() throws {
        h = try MeasurementHarness(programs: ["hello", "hike_drop"])
        // The chain counts the packet (hello_calls) and drops it: a chain that ran is visible
        // in the verdict and in the count.
        try h.install("chain udp\n    call hello\n    call hike_drop\nchain open\n    call hello\n    exit\n")
    }

    func helloCalls() throws -> UInt64 { try h.perCPUSum("hello", "hello_calls", 0) }

    /// Test-runs packet through a fresh copy of loader configured with chain: the verdict and
    /// whether the chain ran (the VM recorded a result and hello counted the packet, or neither).
    func classify(_ loader: String, _ packet: [UInt8], chain: String = "udp",
                  defaultVerdict: UInt32 = ABI.xdpAborted) throws -> (verdict: UInt32, chainRan: Bool) {
        let program = try h.hike.detachedLoader(loader, chain: chain, defaultVerdict: defaultVerdict)
        let before = try h.hike.lastResults(), calls = try helloCalls()
        let run = try program.testRun(TestRunOptions(data: packet))
        let result = try h.hike.resultAfter(before)
        let counted = try helloCalls() - calls
        #expect(run.data == packet)
        #expect(counted == (result == nil ? 0 : 1), "the VM's result and hello's count disagree")
        if let result { #expect(result.fault == 0) }
        return (run.returnValue, result != nil)
    }

    @Test func udpToThePortRunsTheChain() throws {
        for loader in Self.loaders {
            let plain = ExtPacket.udp(text: "x", destinationPort: loader.port)
            let srh = ExtPacket.udp(text: "x", destinationPort: loader.port, nextHeader: 43,
                                    extensions: ExtPacket.routingHeader(nextHeader: 17))
            for packet in [plain, srh] {
                let (verdict, ran) = try classify(loader.name, packet)
                #expect(ran, "\(loader.name)")
                #expect(verdict == ABI.xdpDrop, "\(loader.name)")
            }
            // A chain that ends without a verdict gets the configured default: XDP_TX, which
            // neither the loader nor a program gives by itself.
            let (verdict, ran) = try classify(loader.name, plain, chain: "open", defaultVerdict: ABI.xdpTX)
            #expect(ran && verdict == ABI.xdpTX, "\(loader.name)")
        }
        #expect(try helloCalls() == 6)
    }

    @Test func everythingElseGoesToTheKernel() throws {
        let hbh = ExtPacket.optionsHeader(nextHeader: 17, options: [1, 2, 0, 0])
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: [1, 2, 0, 0])
        for loader in Self.loaders {
            let port = loader.port
            let behindSRH = ExtPacket.udp(text: "x", destinationPort: port, nextHeader: 43, extensions: ExtPacket.routingHeader(nextHeader: 17))
            let others: [(String, [UInt8])] = [
                ("another port", ExtPacket.udp(text: "x", destinationPort: loader.other)),
                ("another port behind an SRH", ExtPacket.udp(text: "x", destinationPort: loader.other, nextHeader: 43,
                                                             extensions: ExtPacket.routingHeader(nextHeader: 17))),
                ("the port as source", ExtPacket.udp(firstNextHeader: 17, extensions: [], sourcePort: port, destinationPort: 2000)),
                ("Hop-by-Hop first", ExtPacket.udp(text: "x", destinationPort: port, nextHeader: 0, extensions: hbh)),
                ("Destination Options", ExtPacket.udp(text: "x", destinationPort: port, nextHeader: 60, extensions: doh)),
                ("SRH then Destination Options", ExtPacket.udp(text: "x", destinationPort: port, nextHeader: 43,
                                                               extensions: ExtPacket.routingHeader(nextHeader: 60) + doh)),
                ("two Routing headers", ExtPacket.udp(text: "x", destinationPort: port, nextHeader: 43,
                                                      extensions: ExtPacket.routingHeader(nextHeader: 43) + ExtPacket.routingHeader(nextHeader: 17))),
                ("a fragment", ExtPacket.udp(text: "x", destinationPort: port, nextHeader: 44,
                                             extensions: ExtPacket.fragmentHeader(nextHeader: 17))),
                ("TCP", ExtPacket.tcpLike(destinationPort: port)),
                ("ICMPv6", ExtPacket.icmp),
                ("IPv4 UDP", ExtPacket.ipv4UDP(destinationPort: port)),
                ("truncated UDP", ExtPacket.truncatedUDP),
                // The Routing header's first two bytes (next header, length) are not all in the
                // frame: the loader's bound check on them.
                ("an SRH cut after one byte", Array(behindSRH[..<(14 + 40 + 1)])),
                // Next header and length are there, the rest of the SRH and the UDP header not.
                ("an SRH cut short", Array(behindSRH[..<(14 + 40 + 12)])),
                ("UDP cut short behind an SRH", Array(behindSRH[..<(14 + 40 + 24 + 4)])),
            ]
            for (what, packet) in others {
                let (verdict, ran) = try classify(loader.name, packet)
                #expect(!ran, "\(loader.name): \(what)")
                #expect(verdict == ABI.xdpPass, "\(loader.name): \(what)")
            }
        }
        #expect(try helloCalls() == 0)
    }

    @Test func theCatalogListsBothLoadersInHikeDefault() throws {
        let catalog = try ProgramCatalog()
        for loader in Self.loaders {
            let entry = try catalog.entry(loader.name)
            #expect(entry.kind == .loader)
            #expect(entry.package == "hike_default")
            #expect(entry.maps == ["ip6_udport_cls_cfg"])
        }
        // The other loaders are in the original's packages too.
        for name in ["ip6_classifier", "ip46_classifier", "ip6_lpm_classifier"] {
            #expect(try catalog.entry(name).package == "hike_default", "\(name)")
        }
        #expect(try catalog.entry("srv6_localsid").package == "srv6")
    }
}
