import BPFKit
import Foundation
import ECLAT
import HikeControl
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing
import Topology

/// An eCLAT script compiled, installed and attached to a veth as `hike load` does it, seeing real
/// traffic: ping passes and is counted by monitor, UDP to one port is dropped; loading a new
/// version replaces the chain in place.
@Suite(.serialized) struct ECLATKernelTests {
    init() throws { try KernelTest.prepare() }

    static func script(eventBase: Int) -> String {
        """
        from programs.hike_default import hike_pass, hike_drop, monitor
        from loaders.hike_default import ip6_classifier
        ip6_classifier[ip6_cls_cfg] = { (0): (eclat_filter) }
        ip6_classifier.attach('DEV', 'xdp')

        BLOCKED = 9999

        def eclat_filter():
            u8 : nh = Packet.readU8(14 + 6)      # IPv6 next header
            monitor(u64(nh) + EVENT_BASE)
            if nh == 17 and Packet.readU16(14 + 40 + 2) == BLOCKED:
                hike_drop()
            hike_pass()
        """.replacingOccurrences(of: "EVENT_BASE", with: String(eventBase))
    }

    /// Compiles the script and installs its chains through the service layer; returns the script.
    func load(_ hike: HikeInstance, eventBase: Int) throws -> CompiledScript {
        let dataPlane = DataPlane(instance: hike)
        let compiled = try dataPlane.compile(SourceText(file: "filter.eclat", text: Self.script(eventBase: eventBase),
                                                          defines: ["DEV": "veth0"])).compiled
        _ = try dataPlane.installChains(compiled.chains, source: nil)
        return compiled
    }

    @Test func scriptFiltersTrafficOnAVeth() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let compiled = try load(hike, eventBase: 100)
        let use = try #require(compiled.loaders.first)
        #expect(use.loader == "ip6_classifier")
        let attachment = try #require(use.attachments.first)
        #expect(attachment.device == "veth0")
        guard case .chain(let chain)? = use.maps.first?.entries.first?.value.first else {
            Issue.record("no chain in the loader map")
            return
        }
        try hike.attach(loader: use.loader, interface: attachment.device, namespace: b,
                        hook: .xdp(attachment.mode == "generic" ? .generic : .native), chain: chain)
        let events = try BPFMap.openPinned("\(hike.pinRoot)/maps/hike_default/monitor_events")
        func count(_ event: UInt32) throws -> UInt64 { try events.lookupSum(event, as: UInt64.self) ?? 0 }

        let ping = try Traffic.ping(from: a, to: "fc00::2", count: 5, interval: 0.02)
        #expect(ping.received == 5)
        #expect(try count(100 + 58) >= 5)

        let blocked = try UDPReceiver(in: b, port: 9999)
        let open = try UDPReceiver(in: b, port: 7777)
        try Traffic.sendUDP(from: a, to: "fc00::2", port: 9999, payload: Array(repeating: 1, count: 20), count: 10)
        try Traffic.sendUDP(from: a, to: "fc00::2", port: 7777, payload: Array(repeating: 2, count: 20), count: 10)
        try KernelTest.waitUntil("the chain has counted 20 UDP datagrams") { try count(100 + 17) >= 20 }
        try KernelTest.waitUntil("10 datagrams reached the open port") { open.drain() >= 10 }
        #expect(blocked.drain() == 0)

        // Loading the script again replaces the chain: the new version counts under 150 + nh.
        _ = try load(hike, eventBase: 150)
        let again = try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.02)
        #expect(again.received == 3)
        #expect(try count(150 + 58) >= 3)
        #expect(try hike.faultCounts().isEmpty)
        try hike.detach(interface: "veth0", namespace: b.name)
    }

    // MARK: The CLI

    static var ddosPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/ddos/ddos.eclat").path
    }

    @Test func compileReportsEveryErrorAndPrintsAssembly() throws {
        try HikeCLI.withInstance { cli in
            let bad = try cli.write("bad.eclat", "from programs.hike_default import hike_pass, nope\ndef c(u64: a):\n    u8 : x = a\n    if x == 256:\n        hike_pass(1)\n    return y\n")
            // --strict: a constant that does not fit is an error (by default C's conversions apply).
            let failed = try Command.run([HikeCLI.binary, "compile", bad, "--strict"])
            #expect(failed.status == 1)
            #expect(failed.stderr.contains("\(bad):1:46: error: unknown program 'nope'; package 'hike_default' has "))
            #expect(failed.stderr.contains("\(bad):4:10: error: the constant 256 does not fit u8"))
            #expect(failed.stderr.contains("\(bad):5:9: error: program 'hike_pass' takes 0 arguments, not 1"))
            #expect(failed.stderr.contains("\(bad):6:12: error: undefined name 'y'\n    return y\n           ^"))
            #expect(failed.stderr.contains("4 errors generated."))

            let listing = try Command.run([HikeCLI.binary, "compile", Self.ddosPath, "-D", "DEVNAME", "veth0"]).checked()
            #expect(listing.contains("chain ddos_tb_2_lev"))
            #expect(listing.contains("call hike_default.ip6_hset_srcdst"))
            #expect(listing.contains("# loader ip6_classifier: attach to veth0 (native)"))
            // -o writes the same text, which the chain assembler loads.
            let out = "\(cli.directory)/ddos.hvm"
            _ = try Command.run([HikeCLI.binary, "compile", Self.ddosPath, "-D", "DEVNAME=veth0", "-o", out]).checked()
            #expect(try String(contentsOfFile: out, encoding: .utf8) == listing)
            let loaded = try cli.check(["chain", "load", out])
            #expect(loaded.contains("installed chain ddos_tb_2_lev"))
        }
    }

    @Test func loadReloadFailAndUnload() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try HikeCLI.withInstance { cli in
            let load = try cli.check(["load", Self.ddosPath, "-D", "DEVNAME", "veth0", "--netns", b.name])
            #expect(load.contains("installed chain ddos_tb_2_lev"))
            #expect(load.contains("attached ip6_classifier to veth0 in namespace \(b.name) (native)"))
            // Within the token buckets (5 packets of burst): the chain passes the pings.
            let ping = try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.05)
            #expect(ping.received == 3)

            // Again: the chain is replaced, the loader stays.
            let again = try cli.check(["load", Self.ddosPath, "-D", "DEVNAME", "veth0", "--netns", b.name])
            #expect(again.contains("replaced chain ddos_tb_2_lev"))
            #expect(!again.contains("attached"))

            // A script with an error changes nothing (the chains and their slots; traffic on the
            // link may still add to their runs).
            func chains() throws -> [String] {
                try cli.jsonArray(["chain", "list", "--json"]).map { "\($0["name"] ?? "") \($0["id"] ?? "") \($0["slot"] ?? "") \($0["installedAt"] ?? "")" }
            }
            let before = try chains()
            let broken = try cli.write("broken.eclat", "from programs.hike_default import hike_pass\ndef ddos_tb_2_lev():\n    hike_pass(7)\n")
            let failed = try cli.run(["load", broken])
            #expect(failed.status == 1)
            #expect(failed.stderr.contains("takes 0 arguments, not 1"))
            let missing = try cli.run(["load", Self.ddosPath, "-D", "DEVNAME", "nodev", "--netns", b.name])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("no device 'nodev'"))
            #expect(try chains() == before)

            let unload = try cli.check(["unload", Self.ddosPath, "-D", "DEVNAME", "veth0", "--netns", b.name])
            #expect(unload.contains("detached ip6_classifier from veth0"))
            #expect(unload.contains("removed chain ddos_tb_2_lev"))
            #expect(try cli.check(["chain", "list"]).contains("no chains installed"))
        }
    }
}
