import BPFKit
import Foundation
import NetKit
import HikeControl
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing
import Topology

/// Chains at the tc hooks, on real packets: a host's own pings dropped at tc egress, counted at
/// tc ingress beside an XDP loader on the same interface, a program loaded after the first tc
/// attachment running there too; and attachments that cannot be made leave nothing behind.
@Suite(.serialized) struct TCHookTests {
    init() throws { try KernelTest.prepare() }

    static let chains = """
        chain count_drop
            r2 = 1
            call monitor
            call hike_drop
        chain count_pass_tc
            r2 = 2
            call monitor
            call hike_pass
        chain count_pass_xdp
            r2 = 3
            call monitor
            call hike_pass
        """

    /// The tc filters on an interface's hook, as tc lists them.
    static func filters(_ direction: String, in namespace: NetworkNamespace) throws -> String {
        try Command.check(["ip", "netns", "exec", namespace.name, "tc", "filter", "show", "dev", "veth0", direction])
    }

    @Test func chainsRunAtTCEgressAndIngressBesideXDP() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let dataPlane = DataPlane(instance: hike)
        _ = try dataPlane.install(try DataPlane.assemble(SourceText(file: "tc.hasm", text: Self.chains)))
        let events = try BPFMap.openPinned("\(hike.pinRoot)/maps/hike_default/monitor_events")
        func count(_ event: UInt32) throws -> UInt64 { try events.lookupSum(event, as: UInt64.self) ?? 0 }

        // a's own echo requests to b leave through tc egress, which drops them (neighbour
        // discovery goes to other destinations and passes).
        let egress = try dataPlane.attachLoader(LoaderAttachRequest(
            loader: "ip6_lpm_classifier", device: "veth0", namespace: a.name, hook: .tc(.egress), chain: nil,
            defaultVerdict: ABI.xdpPass, routes: [("fc00::2/128", "count_drop")]))
        #expect(egress.mode == "tc-egress")
        let programID = try #require(HikeInstance.attachedProgramID(egress))
        #expect(try Self.filters("egress", in: a).contains(" id \(programID) "))
        #expect(try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.05).received == 0)
        #expect(try count(1) >= 3)

        // Without it, pings go through b's XDP loader and then its tc ingress loader, both counting.
        #expect(try dataPlane.detachLoader(device: "veth0", namespace: a.name, hook: .tc(.egress)).map(\.mode) == ["tc-egress"])
        #expect(try !Self.filters("egress", in: a).contains("handle 0x48"))
        _ = try dataPlane.attachLoader(LoaderAttachRequest(loader: "ip6_classifier", device: "veth0", namespace: b.name,
                                                           hook: .tc(.ingress), chain: "count_pass_tc", defaultVerdict: ABI.xdpDrop))
        _ = try dataPlane.attachLoader(LoaderAttachRequest(loader: "ip6_classifier", device: "veth0", namespace: b.name,
                                                           chain: "count_pass_xdp", defaultVerdict: ABI.xdpDrop))
        let (tcBefore, xdpBefore) = (try count(2), try count(3))
        #expect(try Traffic.ping(from: a, to: "fc00::2", count: 5, interval: 0.05).received == 5)
        #expect(try count(2) - tcBefore >= 5)
        #expect(try count(3) - xdpBefore >= 5)

        // A program of an object loaded after the first tc attachment has its tc build too:
        // udp_port's r0 (the destination port) & 0xff is the event.
        _ = try dataPlane.install(try DataPlane.assemble(SourceText(file: "port.hasm", text: """
            chain count_pass_tc
                call udp_port
                r2 = r0
                r2 &= 0xff
                call monitor
                call hike_pass
            """)))
        let receiver = try UDPReceiver(in: b, port: 7777)
        try Traffic.sendUDP(from: a, to: "fc00::2", port: 7777, payload: [1, 2, 3], count: 10)
        try KernelTest.waitUntil("10 datagrams reached b") { receiver.drain() >= 10 }
        #expect(try count(7777 & 0xff) == 10)
        #expect(try hike.faultCounts().isEmpty)

        // Detaching without a hook takes both.
        let detached = try dataPlane.detachLoader(device: "veth0", namespace: b.name)
        #expect(Set(detached.map(\.mode)) == ["native", "tc-ingress"])
        #expect(try hike.attachments().isEmpty)
        #expect(try !Self.filters("ingress", in: b).contains("handle 0x48"))
    }

    /// Every tc build the kernel takes: each program and loader that has one loads at tc.
    @Test func everyTCBuildLoads() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let atTC = hike.catalog.entries.filter(\.runsAtTC)
        #expect(atTC.count >= 20, "\(atTC.map(\.name))")
        for entry in atTC where entry.kind == .program { try hike.loadProgram(entry.key) }
        _ = try DataPlane(instance: hike).install(try DataPlane.assemble(SourceText(file: "pass.hasm", text: "chain pass\n    call hike_pass\n")))
        for entry in atTC where entry.kind == .loader {
            let loader = try hike.detachedLoader(entry.name, chain: "pass", defaultVerdict: ABI.xdpPass, tc: true)
            #expect(loader.type == .schedCLS, "\(entry.name)")
        }
        let objects = Set(atTC.filter { $0.kind == .program }.map(\.object))
        #expect(try hike.registry().tcObjects == objects)
        #expect(Self.pins(under: "\(hike.pinRoot)/progs-tc").count == atTC.filter { $0.kind == .program }.count)
    }

    /// Pinned files (not directories) under a directory of the bpffs.
    static func pins(under directory: String) -> [String] {
        let walker = FileManager.default.enumerator(atPath: directory)
        return (walker?.allObjects as? [String] ?? []).filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(directory)/\(path)", isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    @Test func attachmentsThatCannotBeMadeLeaveNothing() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let dataPlane = DataPlane(instance: hike)
        _ = try dataPlane.install(try DataPlane.assemble(SourceText(file: "tc.hasm", text: Self.chains)))

        // A loader built for XDP only: the error names those that run at tc.
        #expect {
            try dataPlane.attachLoader(LoaderAttachRequest(loader: "srv6_localsid", device: "veth0", namespace: a.name,
                                                           hook: .tc(.egress), chain: nil, defaultVerdict: ABI.xdpPass))
        } throws: { error in
            let error = error as? ControlError
            return error?.code == "runtime.not-at-hook" && error?.message.contains("ip6_lpm_classifier") == true
        }
        // No such interface: fails after the programs' tc builds were loaded, which go again.
        #expect {
            try dataPlane.attachLoader(LoaderAttachRequest(loader: "ip6_classifier", device: "nosuch0", namespace: a.name,
                                                           hook: .tc(.ingress), chain: "count_pass_tc", defaultVerdict: ABI.xdpPass))
        } throws: { error in (error as? ControlError)?.message.contains("nosuch0") == true }
        #expect(try hike.registry().tcObjects == nil)
        #expect(Self.pins(under: "\(hike.pinRoot)/progs-tc").isEmpty)
        #expect(Self.pins(under: "\(hike.pinRoot)/loaders").isEmpty)
        #expect(try hike.attachments().isEmpty)

        // The hook taken already: the first loader stays, alone.
        _ = try dataPlane.attachLoader(LoaderAttachRequest(loader: "ip6_classifier", device: "veth0", namespace: a.name,
                                                           hook: .tc(.ingress), chain: "count_pass_tc", defaultVerdict: ABI.xdpPass))
        #expect {
            try dataPlane.attachLoader(LoaderAttachRequest(loader: "ip46_classifier", device: "veth0", namespace: a.name,
                                                           hook: .tc(.ingress), chain: "count_pass_tc", defaultVerdict: ABI.xdpPass))
        } throws: { error in (error as? ControlError)?.code == "runtime.already-attached" }
        #expect(try hike.attachments().map(\.loader) == ["ip6_classifier"])
        let shown = try Self.filters("ingress", in: a)
        #expect(shown.contains("ip6_classifier") && !shown.contains("ip46_classifier"), "\(shown)")
        #expect(shown.components(separatedBy: "handle 0x48").count == 2, "one filter of hike's: \(shown)")
        #expect(!Self.pins(under: "\(hike.pinRoot)/progs-tc").isEmpty)
    }
}
