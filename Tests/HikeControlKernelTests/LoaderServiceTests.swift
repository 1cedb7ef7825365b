import BPFKit
import HikeControl
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing
import Topology

/// Loaders and chain removal through the service layer.
@Suite struct LoaderServiceTests {
    @Test func removingAChainReportsTheLoadersLeftOnItAndATypoRemovesNothing() throws {
        let test = try KernelTest.instance()
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let dataPlane = DataPlane(instance: test.instance)
        let chains = try DataPlane.assemble(SourceText(file: "c.hasm", text: "chain first\n    call hike_pass\nchain second\n    call hike_drop\n"))
        _ = try dataPlane.install(chains)
        let record = try dataPlane.attachLoader(LoaderAttachRequest(loader: "ip6_classifier", device: "veth0", namespace: a.name,
                                                                    chain: "first", defaultVerdict: ABI.xdpPass))
        #expect(record.interface == "veth0" && record.namespace == a.name && record.chain == "first")

        #expect {
            try dataPlane.removeChains(["second", "no_such_chain"])
        } throws: { error in
            (error as? ControlError)?.code == "runtime.unknown-chain"
        }
        #expect(try test.instance.chains().map(\.name).sorted() == ["first", "second"])

        let orphaned = try dataPlane.removeChains(["first", "second"])
        #expect(orphaned == [OrphanedLoader(chain: "first", attachment: record)])
        #expect(try test.instance.chains().isEmpty)
    }

    @Test func detachingWhereNothingIsAttachedSaysWhereLoadersAre() throws {
        let test = try KernelTest.instance()
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let dataPlane = DataPlane(instance: test.instance)
        _ = try dataPlane.install(try DataPlane.assemble(SourceText(file: "c.hasm", text: "chain first\n    call hike_pass\n")))
        _ = try dataPlane.attachLoader(LoaderAttachRequest(loader: "ip6_classifier", device: "veth0", namespace: a.name,
                                                           chain: "first", defaultVerdict: ABI.xdpPass))
        #expect {
            try dataPlane.detachLoader(device: "veth0", namespace: nil)
        } throws: { error in
            let error = error as? ControlError
            return error?.code == "runtime.not-attached" && error?.message.hasSuffix(": add --netns \(a.name)") == true
        }
        #expect(try test.instance.attachments().count == 1)
        let detached = try dataPlane.detachLoader(device: "veth0", namespace: a.name)
        #expect(detached.map(\.loader) == ["ip6_classifier"])
        #expect(try test.instance.attachments().isEmpty)
    }
}
