import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import SRv6
import Testing
import Topology

/// `apply` on a real instance: what it writes (maps, chains, LPM entries, kernel routes), that
/// a re-apply changes nothing, that a change touches only what differs, and that a bad file
/// changes nothing in the kernel or on disk.
@Suite(.serialized) struct ApplyShowTests {
    init() throws { try KernelTest.prepare() }

    /// A router namespace with two interfaces (veth1 towards a, veth2 towards b).
    func router() throws -> (topology: Topology, r: NetworkNamespace) {
        let topology = KernelTest.topology()
        do {
            let a = try topology.addNamespace("a"), r = try topology.addNamespace("r"), b = try topology.addNamespace("b")
            try topology.addVethPair(a, "veth0", r, "veth1")
            try topology.addVethPair(r, "veth2", b, "veth0")
            try topology.addAddress("fc00:12::2/64", interface: "veth1", in: r)
            try topology.addAddress("fc00:23::2/64", interface: "veth2", in: r)
            // Snapshots compare r's routes: wait until the kernel has seen both carriers (in a
            // loaded VM it marks the prefix routes `linkdown` for a while).
            try KernelTest.waitUntil("r's veths are up and its routes not linkdown") {
                try NetworkStack(namespace: r).links().filter { $0.kind == "veth" }.allSatisfy { $0.operationalState == "UP" }
                    && !(try topology.ip(["-6", "route", "show"], in: r)).contains("linkdown")
            }
            return (topology, r)
        } catch {
            topology.destroy()
            throw error
        }
    }

    static let rMAC = "02:00:00:00:12:02", aMAC = "02:00:00:00:12:01", bMAC = "02:00:00:00:23:03"

    /// a — r — b, where r forwards to b (fc00:23::3, neighbour known) and a sends frames to r's
    /// MAC: for real traffic through r's SIDs.
    func forwardingLine() throws -> (topology: Topology, a: NetworkNamespace, r: NetworkNamespace, b: NetworkNamespace) {
        let topology = KernelTest.topology()
        do {
            let a = try topology.addNamespace("a"), r = try topology.addNamespace("r"), b = try topology.addNamespace("b")
            try topology.addVethPair(a, "veth0", r, "veth1")
            try topology.addVethPair(r, "veth2", b, "veth0")
            try topology.ip(["link", "set", "dev", "veth1", "address", Self.rMAC], in: r)
            try topology.ip(["link", "set", "dev", "veth0", "address", Self.aMAC], in: a)
            try topology.ip(["link", "set", "dev", "veth0", "address", Self.bMAC], in: b)
            try topology.addAddress("fc00:12::2/64", interface: "veth1", in: r)
            try topology.addAddress("fc00:23::2/64", interface: "veth2", in: r)
            try topology.addAddress("fc00:23::3/64", interface: "veth0", in: b)
            try topology.sysctl("net.ipv6.conf.all.forwarding", "1", in: r)
            try topology.ip(["-6", "neigh", "add", "fc00:23::3", "lladdr", Self.bMAC, "dev", "veth2", "nud", "permanent"], in: r)
            return (topology, a, r, b)
        } catch {
            topology.destroy()
            throw error
        }
    }

    /// The usual set with End.DT6 moved to table 100, End.X gone, End.T new and the IPv4 policy gone.
    func changedConfiguration(_ r: NetworkNamespace) throws -> SRv6Configuration {
        try configuration(r, sids: """
              - sid: fc00:2::100
                behaviour: End
              - sid: fc00:2::d6
                behaviour: End.DT6
                table: 100
              - sid: fc00:2::7
                behaviour: End.T
                table: 254
            """, policies: String(Self.policies.split(separator: "\n").prefix(4).joined(separator: "\n")))
    }

    func configuration(_ r: NetworkNamespace, sids: String, policies: String = "", interfaces: String = "[veth1, veth2]") throws -> SRv6Configuration {
        try SRv6Configuration.parse("""
            namespace: \(r.name)
            interfaces: \(interfaces)
            local-sids:
            \(sids)
            \(policies.isEmpty ? "" : "policies:\n" + policies)
            """, file: "test.yaml")
    }

    static let sids = """
          - sid: fc00:2::100
            behaviour: End
          - sid: fc00:2::d6
            behaviour: End.DT6
            table: 254
          - sid: fc00:2::4
            behaviour: End.X
            next-hop: fc00:23::3
            interface: veth2
        """
    static let policies = """
          - destination: fd00:9::/64
            mode: encaps
            segments: [fc00:2::100, fc00:3::d6]
            source: fc00:12::2
          - destination: 10.9.0.0/16
            mode: encaps.red
            segments: [fc00:3::d4]
            source: fc00:12::2
        """

    /// Everything apply may touch: the state file, the registry's programs, chains and
    /// attachments (not its bookkeeping of free slots), the chain IDs, the srv6 maps, each
    /// loader's LPM maps and the namespace's IPv6 routes.
    func snapshot(_ hike: HikeInstance, _ r: NetworkNamespace) throws -> [String: String] {
        var out: [String: String] = [:]
        out["srv6.json"] = (try? String(contentsOfFile: "\(hike.stateDirectory)/srv6.json", encoding: .utf8)) ?? "-"
        let registry = try hike.registry()
        out["programs"] = registry.programs.values.map { "\($0.name)=\($0.id)" }.sorted().joined(separator: ",")
        out["chains"] = registry.chains.values.map { "\($0.name)=\($0.id)@\($0.slot)" }.sorted().joined(separator: ",")
        out["attachments"] = registry.attachments.map { "\($0.loader)@\($0.place)" }.sorted().joined(separator: ",")
        func dump(_ path: String) throws -> String {
            guard FileManager.default.fileExists(atPath: path) else { return "-" }
            return try BPFMap.openPinned(path).entries().map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ";")
        }
        out["chain ids"] = try dump("\(hike.pinRoot)/vm/hvm_chain_ids")
        for map in ["srv6_sids", "srv6_policies"] { out[map] = try dump("\(hike.pinRoot)/maps/srv6/\(map)") }
        for attachment in try hike.attachments() {
            for map in ["srv6_lpm6", "srv6_lpm4"] { out["\(attachment.interface) \(map)"] = try dump("\(attachment.directory)/\(map)") }
        }
        out["routes"] = try Command.check(["ip", "-n", r.name, "-6", "route", "show"])
        out["routes4"] = try Command.check(["ip", "-n", r.name, "-4", "route", "show"])
        return out
    }

    @Test func kernelRoutesApplyWritesMapsChainsLPMAndMirrorsAndReapplyChangesNothing() throws {
        try KernelTest.requireKernelSRv6()
        let (topology, r) = try router()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let hike = test.instance
        let node = SRv6Node(instance: hike)
        let configuration = try configuration(r, sids: Self.sids, policies: Self.policies)

        let dry = try node.apply(configuration, dryRun: true)
        #expect(dry.addedSIDs == ["fc00:2::100/128", "fc00:2::d6/128", "fc00:2::4/128"])
        #expect(dry.addedPolicies == ["fd00:9::/64", "10.9.0.0/16"])
        #expect(try hike.attachments().isEmpty, "a dry run attaches nothing")

        let plan = try node.apply(configuration)
        #expect(plan == dry)
        let status = try node.status()
        #expect(status.sids.map(\.prefix) == ["fc00:2::100/128", "fc00:2::d6/128", "fc00:2::4/128"])
        #expect(status.sids.map(\.program) == ["srv6_end", "srv6_end_dt6", "srv6_end_x"])
        #expect(status.policies.map(\.program) == ["srv6_h_encaps", "srv6_h_encaps_red"])
        #expect(status.sids.allSatisfy { $0.packets == 0 && $0.bytes == 0 && $0.errors == 0 })

        // The loader is on both interfaces; each LPM maps every key to its entry's chain.
        let attachments = try hike.attachments()
        #expect(Set(attachments.map(\.interface)) == ["veth1", "veth2"])
        #expect(attachments.allSatisfy { $0.loader == "srv6_localsid" && $0.namespace == r.name })
        let chains = try hike.registry().chains
        let sidsMap = try BPFMap.openPinned("\(hike.pinRoot)/maps/srv6/srv6_sids")
        let oif = try r.run { try NetworkInterface.index(of: "veth2") }
        for attachment in attachments {
            let lpm6 = try BPFMap.openPinned("\(attachment.directory)/srv6_lpm6")
            let lpm4 = try BPFMap.openPinned("\(attachment.directory)/srv6_lpm4")
            for entry in status.sids + status.policies {
                let chain = try #require(chains[entry.chain])
                let key = try entry.prefix.contains(":") ? IPv6Network(parsing: entry.prefix).lpmKey.encoded() : IPv4Network(parsing: entry.prefix).lpmKey.encoded()
                let map = entry.prefix.contains(":") ? lpm6 : lpm4
                #expect(try map.lookup(key: key) == BPFMap.bytesOf(chain.id), "\(attachment.interface) \(entry.prefix)")
            }
        }
        // The End.X entry: behaviour 2, the egress ifindex resolved in the namespace, nh6.
        let endX = try #require(status.sids.first { $0.program == "srv6_end_x" })
        let value = try #require(try sidsMap.lookup(key: BPFMap.bytesOf(endX.index)))
        #expect(value == (try SRv6SIDEntry(behaviour: .endX, flavours: [], table: 0, oif: UInt32(oif), lblen: 0, nflen: 0,
                                           nh4: nil, nh6: try IPv6Address(parsing: "fc00:23::3")).encoded()))
        // A SID's chain calls its behaviour with its index; a policy's calls the headend, then ip6_kroute.
        let programs = try hike.registry().programs
        let endChain = try hike.chainInstructions(try #require(status.sids.first).chain)
        #expect(endChain == [.mov64(.r1, imm: Int32(try #require(programs["srv6_end"]).id)),
                             .mov64(.r2, imm: Int32(try #require(status.sids.first).index)), .call(helper: ABI.fnCall), .exit])
        let policyChain = try hike.chainInstructions(try #require(status.policies.first).chain)
        #expect(policyChain.contains(.mov64(.r1, imm: Int32(try #require(programs["ip6_kroute"]).id))))
        // Kernel mirror routes for the behaviours the kernel runs the same way.
        let routes = try Self.routes(r)
        #expect(routes.contains("fc00:2::100 encap seg6local action End dev veth1"), "\(routes)")
        #expect(routes.contains("fc00:2::d6 encap seg6local action End.DT6 table main dev veth1"), "\(routes)")
        #expect(routes.contains("fc00:2::4 encap seg6local action End.X nh6 fc00:23::3 dev veth2"), "\(routes)")

        // The same file again: nothing to change, and nothing changed.
        let before = try snapshot(hike, r)
        let again = try node.apply(configuration)
        #expect(again.changesNothing && again.unchangedSIDs.count == 3 && again.unchangedPolicies.count == 2)
        #expect(try snapshot(hike, r) == before)
    }

    @Test func aBadFileChangesNothing() throws {
        let (topology, r) = try router()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let hike = test.instance
        let node = SRv6Node(instance: hike)
        try node.apply(try configuration(r, sids: Self.sids, policies: Self.policies, interfaces: "[veth1]"))
        let before = try snapshot(hike, r)

        // A file that does not validate never reaches apply.
        #expect(throws: SRv6Error.self) {
            _ = try configuration(r, sids: Self.sids + "\n  - sid: fc00:2::zz\n    behaviour: End")
        }
        // Valid YAML, but an interface the namespace lacks: refused before any change, though
        // other entries (a removed SID, a new policy) would have changed.
        let missingInterface = try configuration(r, sids: """
              - sid: fc00:2::100
                behaviour: End
              - sid: fc00:2::5
                behaviour: End.X
                next-hop: fc00:23::3
                interface: veth9
            """, policies: Self.policies)
        #expect(throws: SRv6Error.apply("interface 'veth9' does not exist in namespace \(r.name)")) {
            try node.apply(missingInterface)
        }
        #expect(throws: SRv6Error.self) {
            try node.apply(try configuration(r, sids: "  - sid: fc00:2::100\n    behaviour: End", interfaces: "[veth1, nope0]"))
        }
        var elsewhere = try configuration(r, sids: Self.sids)
        elsewhere.namespace = "\(KernelTest.prefix)-\(getpid())-no-such-namespace"
        #expect(throws: SRv6Error.self) { try node.apply(elsewhere) }
        #expect(try snapshot(hike, r) == before)

        // A failure in the middle: another instance holds veth2, so attaching there fails after
        // the new values and chains were written. They are undone.
        let other = try KernelTest.instance()
        try SRv6Node(instance: other.instance).apply(try configuration(r, sids: "", interfaces: "[veth2]"))
        let grown = try configuration(r, sids: Self.sids + "\n  - sid: fc00:2::7\n    behaviour: End.T\n    table: 254",
                                      policies: Self.policies, interfaces: "[veth1, veth2]")
        #expect(throws: SRv6Error.self) { try node.apply(grown) }
        #expect(try snapshot(hike, r) == before)
        #expect(try node.plan(grown).addedSIDs == ["fc00:2::7/128"])
    }

    @Test func kernelRoutesAChangeTouchesOnlyWhatDiffersMakeBeforeBreak() throws {
        try KernelTest.requireKernelSRv6()
        let (topology, r) = try router()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let hike = test.instance
        let node = SRv6Node(instance: hike)
        try node.apply(try configuration(r, sids: Self.sids, policies: Self.policies))
        let first = try node.status()
        let sidsMap = try BPFMap.openPinned("\(hike.pinRoot)/maps/srv6/srv6_sids")

        // End.DT6 moves to table 100, End.X goes away, End.T comes, the IPv4 policy goes.
        let changed = try changedConfiguration(r)
        let plan = try node.apply(changed)
        #expect(plan.unchangedSIDs == ["fc00:2::100/128"] && plan.changedSIDs == ["fc00:2::d6/128"])
        #expect(plan.addedSIDs == ["fc00:2::7/128"] && plan.removedSIDs == ["fc00:2::4/128"])
        #expect(plan.removedPolicies == ["10.9.0.0/16"] && plan.unchangedPolicies == ["fd00:9::/64"])
        #expect(plan.attach.isEmpty && plan.detach.isEmpty)

        let second = try node.status()
        // Unchanged: same index and chain. Changed: a fresh index and chain; the old ones cleared.
        #expect(second.sids[0].index == first.sids[0].index && second.sids[0].chain == first.sids[0].chain)
        let oldDT6 = first.sids[1], newDT6 = second.sids[1]
        #expect(newDT6.index != oldDT6.index && newDT6.chain != oldDT6.chain)
        let chains = try hike.registry().chains
        #expect(chains[oldDT6.chain] == nil && chains[first.sids[2].chain] == nil && chains[first.policies[1].chain] == nil)
        let empty = [UInt8](repeating: 0, count: sidsMap.valueSize)
        #expect(try sidsMap.lookup(key: BPFMap.bytesOf(oldDT6.index)) == empty)
        #expect(try sidsMap.lookup(key: BPFMap.bytesOf(first.sids[2].index)) == empty)
        for attachment in try hike.attachments() {
            let lpm6 = try BPFMap.openPinned("\(attachment.directory)/srv6_lpm6")
            let lpm4 = try BPFMap.openPinned("\(attachment.directory)/srv6_lpm4")
            #expect(try lpm6.lookup(key: try IPv6Network(parsing: "fc00:2::d6").lpmKey.encoded()) == BPFMap.bytesOf(try #require(chains[newDT6.chain]).id))
            #expect(try lpm6.lookup(key: try IPv6Network(parsing: "fc00:2::4").lpmKey.encoded()) == nil)
            #expect(try lpm4.lookup(key: try IPv4Network(parsing: "10.9.0.0/16").lpmKey.encoded()) == nil)
        }
        let routes = try Self.routes(r)
        #expect(routes.contains("fc00:2::d6 encap seg6local action End.DT6 table 100"), "\(routes)")
        #expect(!routes.contains("fc00:2::4 "), "\(routes)")

        // End becomes End.DT4 (no kernel mirror: its route goes), and the loader leaves veth2.
        let narrowed = try configuration(r, sids: """
              - sid: fc00:2::100
                behaviour: End.DT4
                table: 254
            """, interfaces: "[veth1]")
        let third = try node.apply(narrowed)
        #expect(third.changedSIDs == ["fc00:2::100/128"] && third.detach == ["veth2 in namespace \(r.name)"] && third.attach.isEmpty)
        #expect(try hike.attachments().map(\.interface) == ["veth1"])
        let routesNow = try Self.routes(r)
        #expect(!routesNow.contains("seg6local"), "\(routesNow)")
        #expect(try node.status().sids.map(\.kernelRoute) == [false])

        // An empty configuration removes everything: loaders, chains, routes.
        try node.clear()
        #expect(try hike.attachments().isEmpty)
        #expect(try hike.registry().chains.keys.filter { $0.hasPrefix("srv6_") }.isEmpty)
        #expect(!(try Command.check(["ip", "-n", r.name, "-6", "route", "show"])).contains("seg6local"))
        #expect(try node.status().sids.isEmpty)
    }

    /// Each policy gets the kernel's seg6 route for the same policy where the kernel builds the
    /// same packet, so what the headend cannot encapsulate still follows the policy; the others
    /// get none and their headend drops what it cannot encapsulate (fallback none).
    @Test func kernelRoutesForPoliciesAreSeg6Mirrors() throws {
        try KernelTest.requireKernelSRv6()
        let (topology, r) = try router()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let node = SRv6Node(instance: test.instance)
        try node.apply(try configuration(r, sids: "", policies: Self.policies + """

              - destination: fd00:a::/64
                mode: insert.red
                segments: [fc00:2::100, fc00:3::d6]
                source: fc00:12::2
              - destination: fd00:b::/64
                mode: encaps
                segments: [fc00:2::100]
                source: fc00:12::2
                tag: 7
              - destination: fd00:c::/64
                mode: insert
                segments: [fc00:2::100, fc00:3::d6]
                source: fc00:12::2
            """))
        let routes6 = try Self.routes(r), routes4 = try Self.routes(r, family: "-4")
        #expect(routes6.contains("fd00:9::/64 encap seg6 mode encap segs 2 [ fc00:2::100 fc00:3::d6 ] dev veth1"), "\(routes6)")
        #expect(routes4.contains("10.9.0.0/16 encap seg6 mode encap.red segs 1 [ fc00:3::d4 ] dev veth1"), "\(routes4)")
        // Inline mode keeps Segment List[0] for the packet's own destination: iproute2 shows it as ::.
        #expect(routes6.contains("fd00:c::/64 encap seg6 mode inline segs 3 [ fc00:2::100 fc00:3::d6 :: ] dev veth1"), "\(routes6)")
        // H.Insert.Red is not in Linux; iproute2 cannot give an SRH tag.
        #expect(!routes6.contains("fd00:a::") && !routes6.contains("fd00:b::"), "\(routes6)")
        let status = try node.status()
        #expect(status.policies.map(\.kernelRoute) == [true, true, false, false, true])
        let policies = try BPFMap.openPinned("\(test.instance.pinRoot)/maps/srv6/srv6_policies")
        let fallbacks = try status.policies.map { try #require(try policies.lookup(key: BPFMap.bytesOf($0.index)))[6] }
        #expect(fallbacks == [0, 0, 1, 1, 0], "SRV6_FALLBACK_KERNEL_ROUTE where a route runs the policy, else NONE")

        try node.clear()
        #expect(!(try Self.routes(r)).contains("seg6"))
        #expect(!(try Self.routes(r, family: "-4")).contains("seg6"))
    }

    /// A mirror route would replace a route of the same prefix that apply did not make: refused
    /// before any change, with what to do.
    @Test func kernelRoutesNeverReplaceARouteApplyDidNotInstall() throws {
        try KernelTest.requireKernelSRv6()
        let (topology, r) = try router()
        defer { topology.destroy() }
        try topology.addRoute(["fd00:9::/64", "via", "fc00:23::3"], in: r)
        let test = try KernelTest.instance()
        let node = SRv6Node(instance: test.instance)
        let before = try snapshot(test.instance, r)
        let wanted = try configuration(r, sids: Self.sids, policies: Self.policies)
        do {
            try node.apply(wanted)
            Issue.record("apply replaced a route it did not install")
        } catch {
            #expect(error.description.contains("a route for fd00:9::/64 exists that hike did not install (`fd00:9::/64 via fc00:23::3"),
                    "\(error)")
            #expect(error.description.contains("delete it (ip route del fd00:9::/64), or set kernel-routes: false"), "\(error)")
        }
        #expect(try snapshot(test.instance, r) == before)
        // Without mirror routes nothing is in the way; the operator's route stays.
        var unmirrored = wanted
        unmirrored.kernelRoutes = .off
        try node.apply(unmirrored)
        #expect(try Self.routes(r).contains("fd00:9::/64 via fc00:23::3"))
        try node.clear()
    }

    /// kernel-routes: auto mirrors where the kernel has seg6/seg6local and not where it has
    /// not, and says which; true on a kernel without them is refused before anything is made.
    @Test func autoMirrorsWhereTheKernelCanAndTrueWithoutSeg6ChangesNothing() throws {
        let (topology, r) = try router()
        defer { topology.destroy() }
        let kernelSRv6 = try KernelSRv6.isAvailable
        let forced = try KernelTest.instance()
        var wanted = try configuration(r, sids: Self.sids, policies: Self.policies)
        wanted.kernelRoutes = .on
        let routesBefore = try Self.routes(r)
        if kernelSRv6 {
            #expect(try SRv6Node(instance: forced.instance).apply(wanted).kernelRoutes.contains("mirror routes"))
            try SRv6Node(instance: forced.instance).clear()
        } else {
            #expect(throws: SRv6Error.self) { try SRv6Node(instance: forced.instance).apply(wanted) }
            do { try SRv6Node(instance: forced.instance).apply(wanted) } catch {
                #expect(error.description.contains("kernel-routes: true, but this kernel has no seg6/seg6local routes"), "\(error)")
                #expect(error.description.contains("set kernel-routes: auto or false"), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: forced.instance.pinRoot), "no pin")
            #expect(!FileManager.default.fileExists(atPath: forced.instance.stateDirectory), "no registry or state")
            #expect(try Self.routes(r) == routesBefore)
        }

        let test = try KernelTest.instance()
        let node = SRv6Node(instance: test.instance)
        wanted.kernelRoutes = .auto
        let plan = try node.apply(wanted)
        let routes = try Self.routes(r)
        #expect(routes.contains("encap seg6local") == kernelSRv6, "\(routes)")
        #expect(plan.kernelRoutes.hasPrefix(kernelSRv6 ? "kernel seg6/seg6local mirror routes" : "none: this kernel has no seg6"),
                "\(plan.kernelRoutes)")
        let status = try node.status()
        #expect(status.kernelRoutes == plan.kernelRoutes)
        #expect(status.sids.map(\.kernelRoute) == (kernelSRv6 ? [true, true, true] : [false, false, false]))
        // Without a mirror, every entry's fallback is SRV6_FALLBACK_NONE (1), at byte 18 of struct srv6_sid.
        let sids = try BPFMap.openPinned("\(test.instance.pinRoot)/maps/srv6/srv6_sids")
        let fallbacks = try status.sids.map { try #require(try sids.lookup(key: BPFMap.bytesOf($0.index)))[18] }
        #expect(fallbacks == (kernelSRv6 ? [0, 0, 0] : [1, 1, 1]))
        try node.clear()
    }

    /// A failed apply on a new instance leaves no pin, registry, state file, route or attachment:
    /// neither one refused before anything is loaded (an interface the namespace lacks) nor one
    /// that fails after the programs are loaded (an interface another instance holds).
    @Test func aFailedApplyOnANewInstanceLeavesNothing() throws {
        let (topology, r) = try router()
        defer { topology.destroy() }
        let holder = try KernelTest.instance()
        try SRv6Node(instance: holder.instance).apply(try configuration(r, sids: "", interfaces: "[veth2]"))
        let routesBefore = try Self.routes(r), attachmentsBefore = try holder.instance.attachments()
        for interfaces in ["[veth1, veth9]", "[veth1, veth2]"] {
            let test = try KernelTest.instance()
            let hike = test.instance
            #expect(throws: SRv6Error.self, "interfaces \(interfaces)") {
                try SRv6Node(instance: hike).apply(try configuration(r, sids: Self.sids, policies: Self.policies, interfaces: interfaces))
            }
            #expect(!FileManager.default.fileExists(atPath: hike.pinRoot), "\(interfaces): pins left at \(hike.pinRoot)")
            #expect(!FileManager.default.fileExists(atPath: hike.stateDirectory), "\(interfaces): state left at \(hike.stateDirectory)")
            #expect(try Self.routes(r) == routesBefore)
            #expect(try holder.instance.attachments() == attachmentsBefore)
            // The namespace's interfaces carry only the holder's XDP program.
            let links = try Command.check(["ip", "-n", r.name, "-d", "link", "show"])
            #expect(links.components(separatedBy: "prog/xdp").count - 1 == 1, "\(links)")
        }
        try SRv6Node(instance: holder.instance).clear()
    }

    /// The state file is written before anything is cleared: when it cannot be written, every
    /// step is undone — LPM entries added, switched and deleted, mirror routes, chains, values —
    /// and the old state file still describes what runs.
    @Test func aStateFileThatCannotBeWrittenUndoesTheApply() throws {
        let (topology, r) = try router()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let hike = test.instance
        let node = SRv6Node(instance: hike)
        try node.apply(try configuration(r, sids: Self.sids, policies: Self.policies))
        let before = try snapshot(hike, r)
        // A directory where apply writes its temporary state file: the write fails.
        let blocker = "\(hike.stateDirectory)/srv6.json.tmp"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        // End.DT6 changes, End.X and the IPv4 policy go, End.T comes.
        let changed = try changedConfiguration(r)
        #expect(throws: SRv6Error.self) { try node.apply(changed) }
        #expect(try snapshot(hike, r) == before)
        try FileManager.default.removeItem(atPath: blocker)
        let plan = try node.apply(changed)
        #expect(plan.removedSIDs == ["fc00:2::4/128"] && plan.removedPolicies == ["10.9.0.0/16"])
        try node.clear()
    }

    /// USP hands the kernel the packet still addressed to the SID: apply refuses a SID that is
    /// not a local address of the namespace.
    @Test func uspNeedsASIDThatIsALocalAddress() throws {
        let (topology, r) = try router()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let node = SRv6Node(instance: test.instance)
        let usp = try configuration(r, sids: """
              - sid: fc00:2::55
                behaviour: End
                flavours: [usp]
            """)
        let before = try snapshot(test.instance, r)
        do {
            try node.apply(usp)
            Issue.record("a USP SID that is no local address was applied")
        } catch {
            #expect(error.description.contains("local SID fc00:2::55/128 has the USP flavour, but it is not a local address"), "\(error)")
        }
        #expect(try snapshot(test.instance, r) == before)
        try topology.addAddress("fc00:2::55/128", interface: "veth1", in: r)
        try KernelTest.waitUntil("the address has its local route") {
            try Command.check(["ip", "-n", r.name, "-6", "route", "show", "table", "local", "exact", "fc00:2::55/128"]).contains("local")
        }
        let plan = try node.apply(usp)
        #expect(plan.addedSIDs == ["fc00:2::55/128"])
        #expect(try node.status().sids.map(\.kernelRoute) == [false], "USP is not in Linux: no mirror")
        try node.clear()
    }

    /// `hike srv6 show --json` after real traffic: a sends SRv6 frames to r's End.DT6 SID, r
    /// decapsulates them in XDP to b; the SID's packets and bytes are what a sent (bytes: the
    /// IPv6 packets, as seg6local's `count` counts them).
    @Test func showCountsRealTrafficInPacketsAndBytes() throws {
        let (topology, a, r, b) = try forwardingLine()
        defer { topology.destroy() }
        let rMAC = Self.rMAC, aMAC = Self.aMAC
        let routerInstance = try KernelTest.instance(), hostInstance = try KernelTest.instance()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(routerInstance.instance.name)-srv6").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = "\(directory)/r.yaml"
        try Data("""
            namespace: \(r.name)
            interfaces: [veth1]
            local-sids:
              - sid: fc00:2::d6
                behaviour: End.DT6
                table: 254
            """.utf8).write(to: URL(fileURLWithPath: file))
        func hike(_ arguments: [String]) throws -> String {
            try Command.run([SRv6CLI.binary, "srv6"] + arguments + ["--instance", routerInstance.instance.name]).checked()
        }
        // b's veth receives XDP_REDIRECTed frames: it needs an XDP program of its own, before r's
        // apply looks at it.
        try SRv6Node(instance: hostInstance.instance).apply(
            try SRv6Configuration.parse("namespace: \(b.name)\ninterfaces: [veth0]\n", file: "b.yaml"))
        _ = try hike(["apply", file])

        let receiver = try UDPReceiver(in: b, port: 2000)
        let count = 7
        var frames: [[UInt8]] = []
        for n in 0..<count {
            // Different sizes, so the bytes say that each packet was counted with its own length.
            let inner = Wire.udp6(source: "fc00:12::1", destination: "fc00:23::3", payload: [UInt8](repeating: UInt8(n), count: 20 + 40 * n))
            let srh = Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:2::d6"])
            let outer = Wire.ipv6(payloadLength: srh.count + inner.count, nextHeader: 43, hopLimit: 64, source: "fc00:12::1",
                                  destination: "fc00:2::d6")
            frames.append(Wire.ethernet(rMAC, aMAC) + outer + srh + inner)
        }
        try Traffic.sendFrames(frames, interface: "veth0", in: a)
        try KernelTest.waitUntil("b receives the \(count) datagrams") { receiver.drain() == count }

        let json = try hike(["show", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let sid = try #require((object["sids"] as? [[String: Any]])?.first)
        #expect(sid["prefix"] as? String == "fc00:2::d6/128")
        #expect(sid["packets"] as? Int == count, "\(sid)")
        #expect(sid["bytes"] as? Int == frames.reduce(0) { $0 + $1.count - 14 }, "\(sid)")
        #expect(sid["errors"] as? Int == 0, "\(sid)")
        #expect((object["reasons"] as? [String: Any])?["ok"] as? Int == count, "\(object)")
    }

    /// A veth whose peer has no XDP program and GRO off drops what XDP redirects to it, after the
    /// program said XDP_REDIRECT. apply warns of each such interface and marks it: r decapsulates
    /// a's SRv6 frames in XDP, and the inner packets, routed out of veth2 towards b (no XDP
    /// there), go to the kernel, which forwards them; they count as tx_unready errors, not as
    /// forwarded. Once b's veth has an XDP program, a refresh (or re-apply) clears the mark and
    /// XDP forwards.
    @Test func aVethThatCannotTakeRedirectedFramesIsWarnedAndItsPacketsGoToTheKernel() throws {
        let (topology, a, r, b) = try forwardingLine()
        defer { topology.destroy() }
        let rMAC = Self.rMAC, aMAC = Self.aMAC
        let routerInstance = try KernelTest.instance(), hostInstance = try KernelTest.instance()
        let node = SRv6Node(instance: routerInstance.instance)
        let configuration = try SRv6Configuration.parse("""
            namespace: \(r.name)
            interfaces: [veth1]
            kernel-routes: false
            local-sids:
              - sid: fc00:2::d6
                behaviour: End.DT6
                table: 254
            """, file: "r.yaml")
        let plan = try node.apply(configuration)
        // Both of r's veths: a's and b's ends have neither XDP nor GRO.
        #expect(plan.warnings.count == 2, "\(plan.warnings)")
        #expect(plan.warnings.contains { $0.hasPrefix("veth1: its veth peer veth0 (namespace \(a.name)) has no XDP program and GRO off") })
        #expect(plan.warnings.contains { $0.hasPrefix("veth2: its veth peer veth0 (namespace \(b.name)) has no XDP program and GRO off") })

        let receiver = try UDPReceiver(in: b, port: 2000)
        var received = 0  // drain() counts every datagram since the receiver opened
        func send(_ count: Int) throws {
            let inner = Wire.udp6(source: "fc00:12::1", destination: "fc00:23::3", payload: [UInt8](repeating: 7, count: 40))
            let srh = Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:2::d6"])
            let outer = Wire.ipv6(payloadLength: srh.count + inner.count, nextHeader: 43, hopLimit: 64, source: "fc00:12::1",
                                  destination: "fc00:2::d6")
            try Traffic.sendFrames(Array(repeating: Wire.ethernet(rMAC, aMAC) + outer + srh + inner, count: count), interface: "veth0", in: a)
            received += count
            try KernelTest.waitUntil("b receives the \(count) datagrams") { receiver.drain() == received }
        }
        try send(5)
        var status = try node.status()
        #expect(status.reasons["tx_unready"] == 5, "\(status.reasons)")
        #expect(status.reasons["ok"] ?? 0 == 0, "\(status.reasons)")
        #expect(status.sids.first?.errors == 5 && status.sids.first?.packets == 0, "\(status.sids)")

        // b's veth gets an XDP program: redirected frames reach it now.
        try SRv6Node(instance: hostInstance.instance).apply(
            try SRv6Configuration.parse("namespace: \(b.name)\ninterfaces: [veth0]\n", file: "b.yaml"))
        let again = try node.refreshRedirectMarks()
        #expect(again.count == 1 && again.first?.hasPrefix("veth1:") == true, "\(again)")
        // A re-apply looks again too, and changes nothing else.
        let reapplied = try node.apply(configuration)
        #expect(reapplied.changesNothing && reapplied.warnings == again)
        try send(6)
        status = try node.status()
        #expect(status.reasons["tx_unready"] == 5, "\(status.reasons)")
        #expect(status.reasons["ok"] == 6, "\(status.reasons)")
        #expect(status.sids.first?.packets == 6, "\(status.sids)")
        try node.clear()
    }

    /// The hike binary: validate, apply (dry run, real, again), show with --json.
    @Test func theCommandLine() throws {
        let (topology, r) = try router()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(test.instance.name)-srv6").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = "\(directory)/good.yaml", bad = "\(directory)/bad.yaml"
        try Data("namespace: \(r.name)\ninterfaces: [veth1]\nlocal-sids:\n\(Self.sids)\n".utf8).write(to: URL(fileURLWithPath: good))
        try Data("interfaces: [veth1]\nlocal-sids:\n  - sid: fc00::1\n    behaviour: End.Q\n".utf8).write(to: URL(fileURLWithPath: bad))
        func hike(_ arguments: [String]) throws -> CommandResult {
            try Command.run([SRv6CLI.binary, "srv6"] + arguments + (arguments.first == "validate" ? [] : ["--instance", test.instance.name]))
        }
        #expect(try hike(["validate", good]).checked().contains("3 local SIDs, 0 policies, 1 interface: valid"))
        let invalid = try hike(["validate", bad])
        #expect(invalid.status == 1)
        #expect(invalid.stderr.hasPrefix("\(bad):4:16: error: unknown behaviour 'End.Q'"), "\(invalid.stderr)")
        #expect(try hike(["apply", bad]).status == 1)
        #expect(try test.instance.attachments().isEmpty)

        #expect(try hike(["apply", good, "--dry-run"]).checked().contains("would add SID fc00:2::100/128"))
        #expect(try hike(["apply", good]).checked().contains("did attach to veth1 in namespace \(r.name)"))
        #expect(try hike(["apply", good]).checked().hasPrefix("nothing to change"))
        let json = try hike(["show", "--json"]).checked()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let sids = try #require(object["sids"] as? [[String: Any]])
        #expect(sids.map { $0["prefix"] as? String } == ["fc00:2::100/128", "fc00:2::d6/128", "fc00:2::4/128"])
        #expect(sids.allSatisfy { $0["packets"] as? Int == 0 && $0["errors"] as? Int == 0 })
        #expect((object["reasons"] as? [String: Any])?.keys.contains("fib_miss") == true)
        let table = try hike(["show"]).checked()
        #expect(table.contains("LOCAL SID") && table.contains("End.DT6 table 254"), "\(table)")
    }
}

extension ApplyShowTests {
    /// `ip -6 route show` (or family) in the namespace, runs of spaces made one.
    static func routes(_ r: NetworkNamespace, family: String = "-6") throws -> String {
        try Command.check(["ip", "-n", r.name, family, "route", "show"]).split(separator: " ", omittingEmptySubsequences: true)
            .joined(separator: " ")
    }
}

/// Where the hike binary is (built with the tests).
enum SRv6CLI {
    static let binary: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("hike").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/hike").path
    }()
}
