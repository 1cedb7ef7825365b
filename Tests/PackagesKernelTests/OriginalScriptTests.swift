import BPFKit
import Foundation
import HikeControl
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import Topology

/// Scripts written as the original packages describe them (not copied: the originals are public to
/// read), loaded with `hike load`'s service call and run on real packets between namespaces.
@Suite(.serialized) struct OriginalScriptTests {
    /// The stamp package's reflector: the port-862 loader starts a chain named `stamp` (like the
    /// package's own program) that calls the monolithic reflector.
    static let reflector = """
        from programs.stamp import stamp_mono
        from loaders.hike_default import ip6_udport862_classifier

        ip6_udport862_classifier[ip6_udport_cls_map] = { (0): (stamp) }
        ip6_udport862_classifier.attach('DEVNAME', 'xdp')

        def stamp():
            \"\"\"Reflect every STAMP test packet (RFC 8762/8972) from the interface.\"\"\"
            stamp_mono()
        """

    /// Its collector: replies come back to the sender's port 42069, where the collector records
    /// the four timestamps and consumes the packet.
    static let collector = """
        from programs.stamp import collector
        from loaders.hike_default import ip6_udport42069_classifier

        ip6_udport42069_classifier[ip6_udport_cls_map] = { (0): (stamp) }
        ip6_udport42069_classifier.attach('DEVNAME', 'xdp')

        def stamp():
        \tcollector()
        """

    /// The DPI tutorial's chain: a payload that starts with its keyword is described (info) and
    /// counted (monitor event 1); every packet goes on to the kernel.
    static let dpi = """
        from programs.hike_default import hike_pass, monitor
        from programs.info import show_pkt_info
        from programs.tutorial import dpi
        from loaders.hike_default import ip6_simple_classifier

        ip6_simple_classifier[ipv6_simple_classifier_map] = { (0): (dpi_example) }
        ip6_simple_classifier.attach('DEVNAME', 'xdp')

        def dpi_example():
            u64 : ret = dpi(1, 0)
            if ret != 0:
                show_pkt_info(0, ret)
                monitor(ret)
            hike_pass()
        """

    func load(_ text: String, file: String, on dataPlane: DataPlane, in namespace: NetworkNamespace) throws -> ScriptLoadReport {
        let script = try dataPlane.compile(SourceText(file: file, text: text, defines: ["DEVNAME": "veth0"]))
        #expect(script.warnings.isEmpty)
        return try dataPlane.loadScript(script, namespace: namespace.name)
    }

    /// Each end is a router of its own (a hike instance each), as in the original's testbed.
    @Test func stampReflectorAndCollectorScriptsMeasureRealSTAMPPackets() throws {
        let reflectorNode = try KernelTest.instance(), collectorNode = try KernelTest.instance()
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let reflected = try load(Self.reflector, file: "stamp.eclat", on: DataPlane(instance: reflectorNode.instance), in: b)
        #expect(reflected.attached.map(\.loader) == ["ip6_udport862_classifier"])
        let collected = try load(Self.collector, file: "stamp_collector.eclat", on: DataPlane(instance: collectorNode.instance), in: a)
        #expect(collected.attached.map(\.loader) == ["ip6_udport42069_classifier"])
        // The chain is named like the stamp package's program `stamp`, loaded beside it.
        let registry = try reflectorNode.instance.registry()
        #expect(registry.chains["stamp"] != nil && registry.programs["stamp"] != nil)
        let hike = collectorNode.instance
        // The timestamps compare the test's wall clock with each node's boot clock + offset: take
        // the offsets now, not when the objects loaded (a VM's clocks drift apart meanwhile).
        try reflectorNode.instance.syncClocks()
        try hike.syncClocks()

        let count = 3
        let sender = try STAMPSender(in: a, to: "fc00::2", port: STAMPPacket.port, sourcePort: 42069)
        var sent: [(sequence: UInt32, t1: UInt64)] = []
        for sequence in 0..<UInt32(count) {
            let t1 = MeasurementClock.ntpNow()
            try sender.send(STAMPPacket.sender(sequence: sequence, timestamp: t1, ssid: 0x0e1a))
            sent.append((sequence, t1))
        }
        let records = try hike.catalog.entry("collector").object
        let map = try BPFMap.openPinned("\(hike.pinRoot)/maps/\(records)/stamp_collect")
        try KernelTest.waitUntil("the collector records \(count) replies", timeout: .seconds(20)) {
            try map.keys().count == count
        }
        let now = MeasurementClock.ntpNow()
        for (sequence, t1) in sent {
            let key: [UInt8] = [0x1a, 0x0e, 0, 0] + withUnsafeBytes(of: sequence.littleEndian, Array.init)
            let raw = try #require(try map.lookup(key: key), "no record of sequence \(sequence)")
            let (r1, t2, t3, t4) = (Bytes.le64(raw, 0), Bytes.le64(raw, 8), Bytes.le64(raw, 16), Bytes.le64(raw, 24))
            #expect(r1 == t1)
            #expect(t2 >= t1 && t3 >= t2 && t4 >= t3 && t4 <= now)
        }
        // The collector consumed the replies (its chain has no verdict: the loader's default
        // drop, as the original's chain aborted): none reached the socket.
        #expect(try sender.receive(timeout: 0) == nil)

        // What is not UDP to a loader's port is the kernel's on both nodes: a ping (ICMPv6, and
        // its neighbour discovery) crosses both loaders and is answered.
        #expect(try Traffic.ping(from: a, to: "fc00::2").received > 0)
    }

    @Test func dpiTutorialChainFindsItsKeywordInRealPayloads() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        _ = try load(Self.dpi, file: "dpi_example.eclat", on: DataPlane(instance: hike), in: b)
        _ = try hike.drainInfoEvents()

        let receiver = try STAMPSender(in: b, to: "fc00::1", port: 9, sourcePort: 5000)
        let sender = try STAMPSender(in: a, to: "fc00::2", port: 5000)
        let payloads = ["foobar\n", "hello\n", "foobar and more", "xfoobar", "foobar"]
        for payload in payloads {
            try sender.send(Array(payload.utf8))
            // hike_pass: every datagram reaches the socket, matching or not.
            let received = try #require(try receiver.receive(timeout: 5), "'\(payload)' did not arrive")
            #expect(received == Array(payload.utf8))
        }
        let matches = payloads.filter { $0.hasPrefix("foobar") }.count
        let monitorMap = try BPFMap.openPinned("\(hike.pinRoot)/maps/\(try hike.catalog.entry("monitor").object)/monitor_events")
        #expect(try monitorMap.lookupSum(UInt32(1), as: UInt64.self) == UInt64(matches))
        let events = try hike.drainInfoEvents()
        #expect(events.count == matches)
        #expect(events.allSatisfy { $0.userInfo == 1 })
    }

    /// info and devel_encap both export show_pkt_info: each script gets the one its import names,
    /// both load side by side, and their events share info's stream.
    @Test func twoPackagesExportingOneNameLoadSideBySide() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let dataPlane = DataPlane(instance: hike)
        func script(_ package: String, _ chain: String, _ info: Int) throws -> CheckedScript {
            try dataPlane.compile(SourceText(file: "\(package).eclat", text: """
                from programs.hike_default import hike_pass
                from programs.\(package) import show_pkt_info

                def \(chain)():
                    show_pkt_info(0, \(info))
                    hike_pass()
                """))
        }
        let fromInfo = try script("info", "via_info", 1), fromDevel = try script("devel_encap", "via_devel", 2)
        #expect(fromInfo.compiled.programs.contains("info.show_pkt_info"))
        #expect(fromDevel.compiled.programs.contains("devel_encap.show_pkt_info"))
        _ = try dataPlane.loadScript(fromInfo, namespace: nil)
        _ = try dataPlane.loadScript(fromDevel, namespace: nil)
        // devel_encap's is a copy (EXPORT_HIKE_PROG_COPY_OF): the plain name stays info's.
        let programs = try hike.registry().programs
        let info = try #require(programs["show_pkt_info"]), devel = try #require(programs["devel_encap.show_pkt_info"])
        #expect(info.id != devel.id && info.package == "info" && devel.package == "devel_encap")
        #expect(try hike.loadProgram("show_pkt_info").id == info.id)
        #expect(try hike.loadProgram("devel_encap.show_pkt_info").id == devel.id)

        _ = try hike.drainInfoEvents()
        for chain in ["via_info", "via_devel"] {
            let loader = try hike.detachedLoader("ip6_classifier", chain: chain, defaultVerdict: ABI.xdpDrop)
            #expect(try loader.testRun(TestRunOptions(data: STAMPPacket.frame())).returnValue == ABI.xdpPass)
        }
        #expect(try hike.drainInfoEvents().map(\.userInfo) == [1, 2])
    }

    /// A hand-written chain named like a program that calls that name: refused, with the fix.
    @Test func aChainCallingItsOwnProgramNameIsRefused() throws {
        let test = try KernelTest.instance()
        let source = "chain dpi\n    call dpi\n    exit\n"
        #expect {
            _ = try test.instance.install(try ChainAssembler.assemble(source, file: "dpi.hvm"), source: nil)
        } throws: { error in
            "\(error)".contains("write 'call tutorial.dpi' for the program")
        }
        let qualified = "chain dpi\n    call tutorial.dpi\n    exit\n"
        let report = try test.instance.install(try ChainAssembler.assemble(qualified, file: "dpi.hvm"), source: nil)
        #expect(report.loadedPrograms == ["dpi"])
    }
}
