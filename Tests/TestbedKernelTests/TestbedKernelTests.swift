import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import NetKit
import SRv6
import Testbed
import Testing
import Topology

/// Testbeds brought up in the kernel: real namespaces, veths, kernel SRv6 routes, HIKe chains,
/// real pings; and everything gone after down, after a failed up and after a crash.
@Suite(.serialized) struct TestbedKernelTests {
    init() throws {
        try KernelTest.prepare()
    }

    @Test func kernelVPNCarriesPingsOverSRv6AndDownLeavesNothing() throws {
        try KernelTest.requireKernelSRv6()
        try TestbedHarness.withTestbed(Examples.path("vpn-kernel.yaml")) { name, state in
            let engine = TestbedHarness.engine
            #expect(state.namespaces == ["h1", "r1", "r2", "h2"].map { "\(KernelTest.prefix)-\(name)-\($0)" })
            let status = try engine.status(name)
            #expect(status.healthy)
            #expect(status.links.allSatisfy { $0.up })
            let r1 = try #require(status.nodes.first { $0.name == "r1" })
            #expect(r1.interfaces.first { $0.name == "veth-r1h1" }?.mac == "00:00:00:00:01:00")
            #expect(r1.interfaces.allSatisfy { $0.missing.isEmpty && $0.exists })

            // h1 and h2 share cafe::/64 at two sites: only the SRv6 tunnel joins them.
            let ping = try TestbedHarness.ping(name, from: "h1", to: "cafe::2")
            #expect(ping.received == 3, "\(ping.output)")

            // On the r1–r2 link both directions are IPv6 in IPv6 with an SRH (routing type 4)
            // whose one segment is the End.DT6 SID of the far router; tshark finds nothing malformed.
            let packets = try TestbedHarness.capturedSRv6(name, node: "r2", interface: "veth-r2r1")
            #expect(packets.count == 4, "\(packets)")
            let requests = packets.filter { $0.hasPrefix("fd00:12::1,cafe::1|fc00:2::d6,cafe::2|4|0|fc00:2::d6|128|") }
            let replies = packets.filter { $0.hasPrefix("fd00:12::2,cafe::2|fc00:1::d6,cafe::1|4|0|fc00:1::d6|129|") }
            #expect(requests.count + replies.count == 4, "\(packets)")
            #expect(!requests.isEmpty && !replies.isEmpty, "\(packets)")
            #expect(packets.allSatisfy { $0.hasSuffix("|") }, "malformed: \(packets)")
        }
    }

    @Test func kernelSRv6HikeVPNEncapsulatesAtR1InXDPAndTheKernelDecapsulatesAtR2() throws {
        try KernelTest.requireKernelSRv6()
        try TestbedHarness.withTestbed(Examples.path("vpn.yaml")) { name, state in
            let engine = TestbedHarness.engine
            #expect(state.instances == ["r1", "r2"].map { "\(KernelTest.prefix)-\(name)-\($0)" })
            let status = try engine.status(name)
            #expect(status.healthy)
            #expect(status.nodes.compactMap { $0.hike?.attachments.first?.interface } == ["veth-r1h1", "veth-r2r1"])

            // r1 has no kernel route for cafe::2 (only the connected cafe::/64 towards h1): the
            // pings reach h2 only through r1's chain.
            let ping = try TestbedHarness.ping(name, from: "h1", to: "cafe::2", count: 5)
            #expect(ping.received == 5, "\(ping.output)")
            let r1 = try #require(try engine.instance(testbed: name, node: "r1"))
            let statsPin = try #require((FileManager.default.subpaths(atPath: "\(r1.pinRoot)/maps") ?? [])
                .first { $0.hasSuffix("/srv6_policy_stats") })
            let stats = try BPFMap.openPinned("\(r1.pinRoot)/maps/\(statsPin)")
            let codec = try MapJSON(map: stats)
            let perCPU = codec.decodeValues(try #require(try stats.lookup(key: BPFMap.bytesOf(UInt32(0)))))
            let encapsulated = perCPU.compactMap { $0["packets"]?.intValue }.reduce(0, +)
            #expect(encapsulated >= 5)
            #expect(perCPU.compactMap { $0["errors"]?.intValue }.reduce(0, +) == 0)
            // Both chains ran: r1's ended forwarding in XDP, r2's handed the packet to End.DT6.
            let r1Chain = try #require(try r1.chains().first { $0.name == "vpn_ingress" })
            #expect(try r1.lastResults().contains { $0.chainID == r1Chain.id && $0.sequence > 0 })
            let r2 = try #require(try engine.instance(testbed: name, node: "r2"))
            let r2Chain = try #require(try r2.chains().first { $0.name == "vpn_egress" })
            #expect(try r2.lastResults().contains { $0.chainID == r2Chain.id && $0.sequence > 0 })

            // On r1–r2: h1 → h2 encapsulated by r1's chain (outer source = the policy's), h2 → h1
            // by r2's kernel; both with an SRH, nothing malformed.
            let packets = try TestbedHarness.capturedSRv6(name, node: "r2", interface: "veth-r2r1")
            #expect(packets.count == 4, "\(packets)")
            let requests = packets.filter { $0.hasPrefix("fd00:12::1,cafe::1|fc00:2::d6,cafe::2|4|0|fc00:2::d6|128|") }
            let replies = packets.filter { $0.hasPrefix("fd00:12::2,cafe::2|fc00:1::d6,cafe::1|4|0|fc00:1::d6|129|") }
            #expect(!requests.isEmpty && !replies.isEmpty && requests.count + replies.count == 4, "\(packets)")
            #expect(packets.allSatisfy { $0.hasSuffix("|") }, "malformed: \(packets)")

            // exec keeps hike's mount namespace: the node sees its instance's pins.
            let pins = try TestbedHarness.cli(["testbed", "exec", name, "r1", "--", "ls", "\(r1.pinRoot)/progs"])
            #expect(pins.stdout.split(separator: "\n").contains("srv6"), "\(pins)")
        }
    }

    @Test func kernelSRv6Srv6FilesAreAppliedPerNodeAndCarryTheVPN() throws {
        try KernelTest.requireKernelSRv6()
        try TestbedHarness.withTestbed(Examples.path("vpn-srv6.yaml")) { name, state in
            let engine = TestbedHarness.engine
            #expect(state.instances == ["r1", "r2", "h2"].map { "\(KernelTest.prefix)-\(name)-\($0)" })

            // r1 encapsulates (its policy) and r2 decapsulates (its End.DT6 SID), both in XDP,
            // as their `srv6:` files say; the reverse path is kernel SRv6.
            let ping = try TestbedHarness.ping(name, from: "h1", to: "cafe::2", count: 5)
            #expect(ping.received == 5, "\(ping.output)")

            let r1 = try SRv6Node(instance: try #require(try engine.instance(testbed: name, node: "r1"))).status()
            #expect(r1.namespace == "\(KernelTest.prefix)-\(name)-r1")
            let policy = try #require(r1.policies.first { $0.prefix == "cafe::2/128" }, "\(r1.policies)")
            #expect(policy.kernelRoute)
            #expect(policy.errors == 0)
            let r2 = try SRv6Node(instance: try #require(try engine.instance(testbed: name, node: "r2"))).status()
            let sid = try #require(r2.sids.first { $0.prefix == "fc00:2::d6/128" }, "\(r2.sids)")
            #expect(sid.program == "srv6_end_dt6")
            #expect(sid.errors == 0)
            // The kernel's fallback takes the packets sent before neighbours were resolved; the
            // rest went through XDP at both routers.
            #expect(policy.packets >= 3, "\(r1)")
            #expect(sid.packets >= 3, "\(r2)")

            // (No capture here: packets forwarded by XDP_REDIRECT pass no packet socket, so tshark on
            // r1–r2 sees only the kernel's replies; the counters above are the evidence.)
        }
    }

    /// A topology with kernel seg6/seg6local routes comes up where the kernel has them and is
    /// refused before anything is made where it has not, with the way out.
    @Test func aTopologyWithKernelSRv6RoutesNeedsTheKernelsSRv6() throws {
        let name = TestbedHarness.uniqueName()
        let file = try TestbedFile.read(Examples.path("vpn-kernel.yaml"))
        if try KernelSRv6.isAvailable {
            _ = try TestbedHarness.engine.up(file, name: name)
            try TestbedHarness.engine.down(name)
        } else {
            #expect {
                try TestbedHarness.engine.up(file, name: name)
            } throws: { error in
                "\(error)".contains("this kernel has no seg6/seg6local routes") && "\(error)".contains("demo-xdp.yaml")
            }
        }
        #expect(TestbedHarness.leftovers(name) == [])
    }

    @Test func aBadSRv6FileMakesNothing() throws {
        try TestbedHarness.withDirectory { directory in
            // The topology is fine; the node's srv6 file names a mode that does not exist. The
            // file is checked before anything is made.
            try "name: badsrv6\nnodes:\n  r1:\n    srv6: r1.yaml\n".write(
                toFile: "\(directory)/t.yaml", atomically: true, encoding: .utf8)
            try "interfaces: [veth0]\npolicies:\n  - destination: cafe::2/128\n    mode: sideways\n    segments: [fc00:2::d6]\n    source: fd00::1\n"
                .write(toFile: "\(directory)/r1.yaml", atomically: true, encoding: .utf8)
            let name = TestbedHarness.uniqueName()
            #expect {
                try TestbedHarness.engine.up(try TestbedFile.read("\(directory)/t.yaml"), name: name)
            } throws: { error in
                "\(error)".contains("r1.yaml") && "\(error)".contains("sideways")
            }
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }

    @Test func kernelSRv6ExecRunsInTheNodeThroughTheCLI() throws {
        try KernelTest.requireKernelSRv6()
        try TestbedHarness.withTestbed(Examples.path("vpn-kernel.yaml")) { name, _ in
            let ping = try TestbedHarness.cli(["testbed", "exec", name, "h1", "--", "ping", "-n", "-c", "2", "-i", "0.2", "cafe::2"])
            #expect(ping.status == 0, "\(ping.stderr)")
            #expect(try PingResult(output: ping.stdout).received == 2)
            // The command sees the node's interfaces, not the host's.
            let links = try TestbedHarness.cli(["testbed", "exec", name, "r2", "--", "ip", "-o", "link", "show"])
            let names = links.stdout.split(separator: "\n").compactMap { $0.split(separator: ":").dropFirst().first?.trimmingCharacters(in: .whitespaces) }
            #expect(names.map { $0.split(separator: "@").first.map(String.init) ?? $0 }.sorted() == ["lo", "veth-r2h2", "veth-r2r1"])

            let unknown = try TestbedHarness.cli(["testbed", "exec", name, "r9", "--", "true"])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("has no node 'r9'"))
            let json = try TestbedHarness.cli(["testbed", "status", name, "--json"])
            #expect(json.status == 0)
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(object?["healthy"] as? Bool == true)
            #expect((object?["nodes"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["h1", "r1", "r2", "h2"])
        }
    }

    @Test func statusNoticesALinkThatWentDown() throws {
        try TestbedHarness.withDirectory { directory in
            let path = "\(directory)/pair.yaml"
            try TestTopologies.write(TestTopologies.pair(), to: path)
            try TestbedHarness.withTestbed(path) { name, _ in
                let engine = TestbedHarness.engine
                // The kernel reports a new veth's carrier from its link watch, up to a second
                // later (more in a loaded reference VM): healthy once both ends say UP.
                try KernelTest.waitUntil("both ends of the link are UP", timeout: .seconds(30)) { try engine.status(name).healthy }
                try engine.run(testbed: name, node: "b", ["ip", "link", "set", "veth0", "down"]).checked()
                let status = try engine.status(name)
                #expect(!status.healthy)
                #expect(status.links.map(\.up) == [false])
                #expect(status.nodes.first { $0.name == "b" }?.interfaces.first?.state == "DOWN")
            }
        }
    }

    @Test func aRouteTheKernelRefusesUndoesTheWholeUp() throws {
        try TestbedHarness.withDirectory { directory in
            let path = "\(directory)/bad-route.yaml"
            // Valid syntax, but the gateway is on no link of a: the kernel refuses it, after the
            // namespaces, links, addresses and the first route were made.
            try TestTopologies.write(TestTopologies.pair(a: """
                routes:
                  - {to: fc00:8::/48, via: fc00::2, dev: veth0}
                  - {to: fc00:9::/48, via: fd00:99::1, dev: veth0}
                  - {to: fc00:10::/48, via: fc00::2, dev: veth0}
                """), to: path)
            let name = TestbedHarness.uniqueName()
            #expect {
                try TestbedHarness.engine.up(try TestbedFile.read(path), name: name)
            } throws: { error in
                guard case .upFailed(let step, _, let leftovers)? = error as? TestbedError else { return false }
                return step == "node a: route fc00:9::/48 via fd00:99::1 dev veth0" && leftovers.isEmpty
            }
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }

    @Test func aFailingCommandUndoesHikeInstancesToo() throws {
        try TestbedHarness.withDirectory { directory in
            try TestTopologies.write(TestTopologies.passScript, to: "\(directory)/pass.eclat")
            let path = "\(directory)/failing-command.yaml"
            try TestTopologies.write(TestTopologies.pair(
                a: "commands: ['ip -6 route add fc00:8::/48 via fc00::2', 'echo configured; exit 3']",
                b: "hike: {scripts: [{file: pass.eclat, interface: veth0}]}"), to: path)
            let name = TestbedHarness.uniqueName()
            let progress = Progress()
            var options = TestbedEngine.UpOptions()
            options.progress = { step in progress.append(step) }
            #expect {
                try TestbedHarness.engine.up(try TestbedFile.read(path), name: name, options: options)
            } throws: { error in
                guard case .upFailed(let step, let reason, let leftovers)? = error as? TestbedError else { return false }
                return step == "node a: command `echo configured; exit 3`" && reason.contains("status 3") && leftovers.isEmpty
            }
            // The script was loaded before the command failed: its instance is gone with the rest.
            #expect(progress.steps.contains("node b: script pass.eclat"))
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }

    @Test func aScriptThatDoesNotCompileMakesNothing() throws {
        try TestbedHarness.withDirectory { directory in
            try TestTopologies.write("from programs.hike_default import no_such_program\n", to: "\(directory)/broken.eclat")
            let path = "\(directory)/broken.yaml"
            try TestTopologies.write(TestTopologies.pair(b: "hike: {scripts: [{file: broken.eclat, interface: veth0}]}"), to: path)
            let name = TestbedHarness.uniqueName()
            #expect {
                try TestbedHarness.engine.up(try TestbedFile.read(path), name: name)
            } throws: { error in
                guard case .invalid(let file, _, _, let message)? = error as? TestbedError else { return false }
                return file.hasSuffix("broken.eclat") && message.contains("no_such_program")
            }
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }

    @Test func mapEntriesAreWrittenTypedByTheMapsBTF() throws {
        try TestbedHarness.withDirectory { directory in
            let path = "\(directory)/map.yaml"
            try TestTopologies.write(TestTopologies.pair(b: """
                hike:
                  maps:
                    - map: ip6_hset_sd
                      program: ip6_hset_srcdst
                      key: {saddr: "fc00::1", daddr: "fc00::2"}
                      value: {cts_ns: 7, timeout_ns: 5000000000}
                """), to: path)
            try TestbedHarness.withTestbed(path) { name, state in
                #expect(state.instances == ["\(KernelTest.prefix)-\(name)-b"])
                let hike = try #require(try TestbedHarness.engine.instance(testbed: name, node: "b"))
                let pins = FileManager.default.subpaths(atPath: "\(hike.pinRoot)/maps") ?? []
                let relative = try #require(pins.first { $0.hasSuffix("/ip6_hset_sd") })
                let map = try BPFMap.openPinned("\(hike.pinRoot)/maps/\(relative)")
                let codec = try MapJSON(map: map)
                // The key as the kernel stores it: two IPv6 addresses, 32 bytes in network order.
                let key: [UInt8] = [0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
                let value = try #require(try map.lookup(key: key))
                let decoded = codec.decodeValues(value)[0]
                #expect(decoded["cts_ns"]?.intValue == 7)
                #expect(decoded["timeout_ns"]?.intValue == 5_000_000_000)
            }
        }
    }

    @Test func aMapEntryTheMapRefusesUndoesTheUp() throws {
        try TestbedHarness.withDirectory { directory in
            let path = "\(directory)/bad-map.yaml"
            try TestTopologies.write(TestTopologies.pair(b: """
                hike:
                  maps:
                    - {map: ip6_hset_sd, program: ip6_hset_srcdst, key: {saddr: "fc00::1", daddr: "fc00::2"}, value: {colour: 1}}
                """), to: path)
            let name = TestbedHarness.uniqueName()
            #expect {
                try TestbedHarness.engine.up(try TestbedFile.read(path), name: name)
            } throws: { error in
                guard case .upFailed(let step, let reason, let leftovers)? = error as? TestbedError else { return false }
                return step.hasPrefix("node b: map ip6_hset_sd") && reason.contains("colour") && leftovers.isEmpty
            }
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }

    @Test func aSecondUpOfTheSameNameIsRefusedAndChangesNothing() throws {
        try TestbedHarness.withDirectory { directory in
            let path = "\(directory)/pair.yaml"
            try TestTopologies.write(TestTopologies.pair(), to: path)
            try TestbedHarness.withTestbed(path) { name, _ in
                #expect(throws: TestbedError.alreadyUp(name: name, stateFile: TestbedHarness.engine.store.path(name))) {
                    try TestbedHarness.engine.up(try TestbedFile.read(path), name: name)
                }
                // Healthy once the kernel reports both ends UP (late in a loaded VM).
                try KernelTest.waitUntil("testbed \(name) is healthy") { try TestbedHarness.engine.status(name).healthy }
            }
        }
    }

    @Test func downAfterACrashedUpRemovesEverything() throws {
        try TestbedHarness.withDirectory { directory in
            try TestTopologies.write(TestTopologies.passScript, to: "\(directory)/pass.eclat")
            let path = "\(directory)/crash.yaml"
            // b runs hike; a's command blocks, so `up` is killed with everything made.
            try TestTopologies.write(TestTopologies.pair(
                a: "commands: ['sleep 600']",
                b: "hike: {scripts: [{file: pass.eclat, interface: veth0}]}"), to: path)
            let name = TestbedHarness.uniqueName()
            let store = TestbedHarness.engine.store
            let up = try SpawnedCLI(["testbed", "up", path, "--name", name, "--prefix", KernelTest.prefix])
            var reaped = false
            defer {
                if !reaped {
                    kill(up.pid, SIGKILL)
                    _ = try? up.wait()
                }
                if !TestbedHarness.leftovers(name).isEmpty { _ = try? TestbedHarness.engine.down(name) }
            }
            try KernelTest.waitUntil("up runs a's command", timeout: .seconds(60)) {
                (try? store.read(name))?.step == "node a: command `sleep 600`"
                    && (try? Command.check(["ip", "netns", "pids", "\(KernelTest.prefix)-\(name)-a"]))?.isEmpty == false
            }
            kill(up.pid, SIGKILL)
            let killed = try up.wait()
            reaped = true
            #expect(killed.status == 128 + SIGKILL)

            let state = try store.read(name)
            #expect(state.phase == .comingUp)
            #expect(!state.upIsRunning)
            #expect(state.instances == ["\(KernelTest.prefix)-\(name)-b"])
            let instance = try HikeInstance(name: "\(KernelTest.prefix)-\(name)-b")
            let attachments = try instance.attachments()
            #expect(attachments.map(\.interface) == ["veth0"])
            // `sh -c 'sleep 600'` and its sleep, still inside node a.
            let sleepers = try Command.check(["ip", "netns", "pids", "\(KernelTest.prefix)-\(name)-a"])
            let listed = try TestbedHarness.cli(["testbed", "list", "--json"])
            let rows = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
            let row = rows.first { $0["name"] as? String == name }
            // Crashed: still coming up, and its up no longer runs.
            #expect(row?["phase"] as? String == "coming-up" && row?["upRunning"] as? Bool == false, "\(listed.stdout)")

            let down = try TestbedHarness.cli(["testbed", "down", name])
            #expect(down.status == 0, "\(down.stderr)")
            #expect(down.stdout.contains("removed HIKe instance \(KernelTest.prefix)-\(name)-b"))
            #expect(down.stdout.contains("removed namespace \(KernelTest.prefix)-\(name)-a"))
            #expect(down.stdout.contains("removed process"))
            #expect(TestbedHarness.leftovers(name) == [])
            // The sleep that up left in node a ended with it.
            let pids = sleepers.split(separator: "\n").compactMap { Int32($0) }
            #expect(!pids.isEmpty)
            try KernelTest.waitUntil("the command left in node a ends") {
                pids.allSatisfy { pid in
                    // Gone, or a zombie that its new parent has yet to reap.
                    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                          let close = stat.lastIndex(of: ")") else { return true }
                    return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
                }
            }
            let again = try TestbedHarness.cli(["testbed", "down", name])
            #expect(again.status == 1)
            #expect(again.stderr.contains("no testbed '\(name)' is up"))
        }
    }

    @Test func tmuxOpensAWindowPerNodeInsideIt() throws {
        try TestbedHarness.withDirectory { directory in
            let path = "\(directory)/pair.yaml"
            try TestTopologies.write(TestTopologies.pair(), to: path)
            let name = TestbedHarness.uniqueName()
            let session = "\(KernelTest.prefix)-\(name)"
            defer { if !TestbedHarness.leftovers(name).isEmpty { _ = try? TestbedHarness.engine.down(name) } }
            let up = try SpawnedCLI(["testbed", "up", path, "--name", name, "--prefix", KernelTest.prefix, "--tmux"]).wait()
            #expect(up.status == 0, "\(up.stderr)")
            #expect(up.stdout.contains("tmux attach -t \(session)"))
            let windows = try Command.check(["tmux", "list-windows", "-t", "=\(session)", "-F", "#{window_name}"])
            #expect(windows.split(separator: "\n") == ["a", "b"])
            // Each window's shell runs inside its node (entered by hike testbed exec).
            for node in ["a", "b"] {
                try KernelTest.waitUntil("a shell runs in node \(node)") {
                    !(try Command.check(["ip", "netns", "pids", "\(KernelTest.prefix)-\(name)-\(node)"])).isEmpty
                }
            }
            let status = try TestbedHarness.engine.status(name)
            #expect(status.tmuxRunning)
            let down = try SpawnedCLI(["testbed", "down", name]).wait()
            #expect(down.status == 0, "\(down.stderr)")
            #expect(down.stdout.contains("removed tmux session \(session)"))
            #expect(try Command.run(["tmux", "has-session", "-t", "=\(session)"]).status != 0)
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }
}

/// Steps reported by up, collected across threads.
final class Progress: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ step: String) {
        lock.lock()
        list.append(step)
        lock.unlock()
    }
    var steps: [String] {
        lock.lock()
        defer { lock.unlock() }
        return list
    }
}
