import BPFKit
import Foundation
import HikeControl
import HikeRuntime
import HikeTestSupport
import NetKit
import Testing
import Topology

/// Scripts that fill maps when they load: a fastdrop blocklist (no chain at all) on real
/// traffic, and a map value the map's type refuses, which must change nothing.
@Suite(.serialized) struct ScriptMapsKernelTests {
    init() throws { try KernelTest.prepare() }

    static func script(_ plane: DataPlane, _ text: String, file: String = "t.eclat") throws -> CheckedScript {
        try plane.compile(SourceText(file: file, text: text))
    }

    @Test func fastdropScriptDropsListedSourcesUntilUnloaded() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        #expect(try Traffic.ping(from: a, to: "fc00::2", count: 2, interval: 0.05).received == 2)
        let test = try KernelTest.instance()
        let plane = DataPlane(instance: test.instance)
        let script = try Self.script(plane, """
            from loaders.fastdrop import fastdrop
            fastdrop[fastdrop_prefixes] = { ('fc00::/64'): (1), ('fc00::3/128'): (0) }
            fastdrop.attach('veth0', 'xdp')
            """)
        _ = try plane.loadScript(script, namespace: b.name)
        #expect(try FastDropList.read(from: test.instance).entries.map(\.description) == ["fc00::/64", "fc00::3/128 (exception)"])
        #expect(try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.05).received == 0)
        #expect(try FastDropList.counters(test.instance).dropped.packets >= 3)
        _ = try plane.unloadScript(script, namespace: b.name)
        #expect(try FastDropList.read(from: test.instance).entries.isEmpty)
        #expect(try test.instance.attachments().isEmpty)
        try topology.ip(["-6", "neigh", "flush", "dev", "veth0"], in: a)
        #expect(try Traffic.ping(from: a, to: "fc00::2", count: 2, interval: 0.05).received == 2)
    }

    @Test func aValueTheMapRefusesChangesNothing() throws {
        let (topology, _, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let plane = DataPlane(instance: test.instance)
        let script = try Self.script(plane, """
            from programs.hike_default import hike_pass
            from programs.nat import nat
            from loaders.hike_default import ip46_classifier
            nat[nat_dnat] = { ('192.0.2.1', 8080, 6): ('10.0.1.2', 80) }
            nat[nat_snat] = { ('10.0.1.0/24'): ('192.0.2.1', 20000, 70000) }
            ip46_classifier[ip46_cls_cfg] = { (0): (c), (1): (c) }
            ip46_classifier.attach('veth0', 'xdp')
            def c():
                nat()
                hike_pass()
                return 0
            """, file: "bad.eclat")
        #expect {
            try plane.loadScript(script, namespace: b.name)
        } throws: { error in
            let message = "\(error)"
            return message.contains("bad.eclat:5") && message.contains("nat[nat_snat]") && message.contains("70000")
        }
        #expect(try test.instance.registry().chains["c"] == nil)
        #expect(try test.instance.attachments().isEmpty)
        for map in ["nat_snat", "nat_dnat"] {
            #expect(try BPFMap.openPinned("\(test.instance.pinRoot)/maps/nat/\(map)").keys().isEmpty, "\(map)")
        }
    }
}
