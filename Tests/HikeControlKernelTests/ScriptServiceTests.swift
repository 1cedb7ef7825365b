import BPFKit
import HikeControl
import HikeErrors
import HikeRuntime
import HikeTestSupport
import Testing
import Topology

/// The service layer's script calls on a real instance: what they report, and that a script
/// failing half-way leaves the data plane as it was.
@Suite struct ScriptServiceTests {
    /// A script whose one chain ends with `verdict` (hike_pass or hike_drop), started by
    /// ip6_classifier with default verdict `fallback` on each device.
    static func script(_ verdict: String, fallback: Int = 2, devices: [String]) -> SourceText {
        SourceText(file: "entry.eclat", text: """
            from programs.hike_default import \(verdict)
            from loaders.hike_default import ip6_classifier

            ip6_classifier[ip6_cls_cfg] = { (0): (entry, \(fallback)) }
            \(devices.map { "ip6_classifier.attach('\($0)', 'xdp')" }.joined(separator: "\n"))

            def entry():
                \(verdict)()
            """)
    }

    @Test func aScriptLoadsReloadsInPlaceAndUnloadsAsItsReportsSay() throws {
        let test = try KernelTest.instance()
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let dataPlane = DataPlane(instance: test.instance)
        let script = try dataPlane.compile(Self.script("hike_pass", devices: ["veth0"]))
        #expect(script.warnings.isEmpty)

        let first = try dataPlane.loadScript(script, namespace: a.name)
        #expect(first.loadedPrograms == ["hike_pass"])
        #expect(first.chains.map(\.name) == ["entry"] && first.chains.allSatisfy { !$0.replaced })
        #expect(first.attached == [ScriptAttachment(loader: "ip6_classifier", device: "veth0", namespace: a.name, mode: "native", chain: "entry")])
        #expect(first.kept.isEmpty)
        #expect(try Traffic.ping(from: b, to: "fc00::1").received > 0)

        // The same script again: the chain is replaced under the same ID, the loader stays.
        let again = try dataPlane.loadScript(script, namespace: a.name)
        #expect(again.loadedPrograms.isEmpty)
        #expect(again.chains.map(\.id) == first.chains.map(\.id) && again.chains.allSatisfy(\.replaced))
        #expect(again.attached.isEmpty && again.kept == first.attached)

        let unloaded = try dataPlane.unloadScript(script, namespace: a.name)
        #expect(unloaded.detached == first.attached && unloaded.notAttached.isEmpty && unloaded.removedChains == ["entry"])
        let registry = try test.instance.registry()
        #expect(registry.chains.isEmpty && registry.attachments.isEmpty)
        let twice = try dataPlane.unloadScript(script, namespace: a.name)
        #expect(twice.detached.isEmpty && twice.notAttached == first.attached && twice.removedChains.isEmpty)
    }

    /// The second script replaces the chain and the loader's configuration on veth0, then fails to
    /// attach natively to lo (no driver XDP there): the first script's chain, loader and traffic
    /// are back as they were, and nothing is attached to lo.
    @Test func aScriptThatFailsToAttachPutsChainsAndLoadersBack() throws {
        let test = try KernelTest.instance()
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let dataPlane = DataPlane(instance: test.instance)
        _ = try dataPlane.loadScript(try dataPlane.compile(Self.script("hike_pass", devices: ["veth0"])), namespace: a.name)
        let before = try test.instance.registry()
        let instructions = try test.instance.chainInstructions("entry")

        let failing = try dataPlane.compile(Self.script("hike_drop", fallback: 1, devices: ["veth0", "lo"]))
        #expect {
            try dataPlane.loadScript(failing, namespace: a.name)
        } throws: { error in
            (error as? ControlError)?.message.hasPrefix("cannot attach ip6_classifier to lo in namespace \(a.name): ") == true
        }
        let after = try test.instance.registry()
        #expect(after.chains.mapValues(\.id) == before.chains.mapValues(\.id))
        #expect(try test.instance.chainInstructions("entry") == instructions)
        #expect(after.attachments == before.attachments)
        #expect(try Traffic.ping(from: b, to: "fc00::1").received > 0)
    }

    /// Bad input is refused before anything changes: a script that does not compile, one that
    /// names a device the namespace lacks, a chain file whose chain does not check.
    @Test func badRequestsChangeNothing() throws {
        let test = try KernelTest.instance()
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let dataPlane = DataPlane(instance: test.instance)
        _ = try dataPlane.loadScript(try dataPlane.compile(Self.script("hike_pass", devices: ["veth0"])), namespace: a.name)
        let before = try test.instance.registry()

        #expect {
            try dataPlane.compile(SourceText(file: "bad.eclat", text: "def entry():\n    no_such_program()\n"))
        } throws: { error in
            let error = error as? ControlError
            return error?.code == "source" && error?.position?.file == "bad.eclat" && error?.position?.line == 2
        }
        let elsewhere = try dataPlane.compile(Self.script("hike_drop", devices: ["veth9"]))
        #expect {
            try dataPlane.loadScript(elsewhere, namespace: a.name)
        } throws: { error in
            (error as? ControlError)?.code == "request.no-device"
        }
        let file = try DataPlane.assemble(SourceText(file: "jump.hasm", text: "chain other\n    call srv6_end\n    goto +7\n"))
        #expect {
            try dataPlane.install(file)
        } throws: { error in
            let error = error as? ControlError
            return error?.code == "source" && error?.position == SourcePosition(file: "jump.hasm", line: 3, column: 5)
        }
        let dryRun = try dataPlane.installChains(try DataPlane.assemble(SourceText(file: "ok.hasm", text: "chain other\n    call srv6_end\n    exit\n")).chains,
                                                 source: nil, dryRun: true)
        #expect(dryRun.loadedPrograms == ["srv6_end"] && dryRun.chains.map(\.name) == ["other"])

        let after = try test.instance.registry()
        #expect(after.chains.mapValues(\.id) == before.chains.mapValues(\.id))
        #expect(after.programs == before.programs)
        #expect(after.attachments == before.attachments)
    }
}
