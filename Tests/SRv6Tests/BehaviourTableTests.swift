import NetKit
import Testing
@testable import SRv6

/// The behaviour table is consistent in itself and with what validation and the kernel mirror
/// routes make of it.
@Suite struct BehaviourTableTests {
    @Test(arguments: EndpointBehaviour.allCases)
    func aRowIsConsistent(behaviour: EndpointBehaviour) throws {
        let row = behaviour.row
        #expect(EndpointBehaviour.parse(row.name)?.behaviour == behaviour)
        #expect(row.program.hasPrefix("srv6_end"))
        #expect(row.required.isDisjoint(with: row.optional))
        #expect(row.kernelFlavours.isSubset(of: row.flavours))
        // A SID takes one kind of next hop at most, but for a proxy's function, which may take both.
        #expect(row.required.union(row.optional).nextHop != [.nextHop6, .nextHop4] || behaviour.isProxy)
        // A proxy needs its function's interface; nothing else does.
        #expect(row.required.contains(.interface) == behaviour.isProxy)
    }

    @Test func namesAndProgramsAreUnique() {
        let rows = EndpointBehaviour.allCases.map(\.row)
        #expect(Set(rows.map(\.name)).count == rows.count)
        #expect(Set(rows.map(\.program)).count == rows.count)
    }

    /// Each required attribute is asked for by validation and passed to the kernel's route; an
    /// attribute the row does not take is refused.
    @Test(arguments: EndpointBehaviour.allCases)
    func validationAndTheMirrorFollowTheRow(behaviour: EndpointBehaviour) throws {
        let row = behaviour.row
        var fields: [String] = []
        if row.required.contains(.table) { fields.append("table: 254") }
        if row.required.contains(.nextHop6) { fields.append("next-hop: fe80::1") }
        if row.required.contains(.nextHop4) { fields.append("next-hop: 192.0.2.1") }
        if behaviour.isProxy {
            fields.append("interface: veth0")
            if !row.required.contains(.nextHop6) { fields.append("next-hop: fe80::1") }
        }
        if row.required.contains(.cache) { fields += ["source: fc00::9", "segments: [fc00::a]"] }
        func configuration(_ extra: [String]) -> String {
            "interfaces: [veth0]\nlocal-sids:\n  - sid: fc00::1/128\n    behaviour: \(row.name)\n"
                + (fields + extra).map { "    \($0)\n" }.joined()
        }
        let sid = try #require(try SRv6Configuration.parse(configuration([])).localSIDs.first)
        let mirror = KernelRoutes.mirror(sid, device: "veth0")
        #expect((mirror != nil) == row.kernelMirrorable)
        if case .seg6local(let local) = mirror?.encap {
            #expect(local.action == row.kernelAction)
            #expect((local.table != nil) == row.required.contains(.table))
            #expect((local.nextHop6 != nil) == row.required.contains(.nextHop6))
            #expect((local.nextHop4 != nil) == row.required.contains(.nextHop4))
        } else if mirror != nil {
            Issue.record("the mirror of a local SID is not a seg6local route: \(String(describing: mirror))")
        }
        if !row.required.union(row.optional).contains(.interface) {
            #expect(throws: SRv6Error.self) { try SRv6Configuration.parse(configuration(["interface: veth1"])) }
        }
        if !row.required.contains(.table) {
            #expect(throws: SRv6Error.self) { try SRv6Configuration.parse(configuration(["table: 254"])) }
        }
    }
}
