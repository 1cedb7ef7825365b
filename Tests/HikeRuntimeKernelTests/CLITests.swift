import BPFKit
import Foundation
import HikeTestSupport
import NetKit
import Synchronization
import Testing
import Topology

/// The hike binary end to end: each test runs `.build/debug/hike` on an instance of its own
/// (`hiket-<pid>-cli-N`) and resets it afterwards, also when the test fails.
@Suite(.serialized) struct CLITests {
    init() throws {
        try KernelTest.prepare()
        guard FileManager.default.isExecutableFile(atPath: HikeCLI.binary) else {
            throw HikeCLIError(description: "no hike binary at \(HikeCLI.binary): build it first (swift build --build-tests)")
        }
    }

    // MARK: Programs

    @Test func progLoadShowsTheIDInTheListing() throws {
        try HikeCLI.withInstance { cli in
            let load = try cli.check(["prog", "load", "hike_pass"])
            #expect(load.contains("loaded hike_pass (hike_default) as ID"))

            let list = try cli.jsonArray(["prog", "list", "--json"])
            let pass = try #require(list.first { $0["name"] as? String == "hike_pass" })
            let id = try #require(pass["id"] as? Int)
            #expect(id > 0)
            #expect(pass["loaded"] as? Bool == true)
            #expect(pass["kind"] as? String == "program")
            #expect(pass["final"] as? Bool == true)
            // Not asked for and in another object: not loaded, and still listed with a null ID.
            let loader = try #require(list.first { $0["name"] as? String == "ip6_classifier" })
            #expect(loader["kind"] as? String == "loader")
            #expect(loader["id"] is NSNull)
            #expect(loader["runsAtTC"] as? Bool == true)
            #expect(list.first { $0["name"] as? String == "srv6_localsid" }?["runsAtTC"] as? Bool == false)
            let monitor = try #require(list.first { $0["name"] as? String == "monitor" })
            let arguments = try #require(monitor["arguments"] as? [[String: Any]])
            #expect(arguments.first?["type"] as? String == "__u64")

            let human = try cli.check(["prog", "list"])
            #expect(human.hasPrefix("NAME"))
            #expect(human.contains("hike_pass"))

            let show = try cli.jsonObject(["prog", "show", "hike_pass", "--json"])
            let kernel = try #require((show["kernel"] as? [[String: Any]])?.first)
            #expect((kernel["id"] as? Int ?? 0) > 0)
            #expect((kernel["tag"] as? String)?.count == 16)
            #expect((kernel["translatedSize"] as? Int ?? 0) > 0)

            let loaderLoad = try cli.run(["prog", "load", "ip6_classifier"])
            #expect(loaderLoad.status != 0)
            #expect(loaderLoad.stderr.contains("hike loader attach"))
        }
    }

    // MARK: Chains

    @Test func chainLoadListShowAndReload() throws {
        try HikeCLI.withInstance { cli in
            let file = try cli.write("count.hasm", """
                # counts the packet, then lets it through
                chain cli_count
                    r2 = EVENT
                    if r2 > 200 goto done
                    call monitor
                done:
                    call hike_pass
                """)
            let load = try cli.check(["chain", "load", file, "-D", "EVENT=5"])
            #expect(load.contains("installed chain cli_count"))

            let chains = try cli.jsonArray(["chain", "list", "--json"])
            #expect(chains.count == 1)
            let chain = try #require(chains.first)
            #expect(chain["name"] as? String == "cli_count")
            #expect((chain["idHex"] as? String)?.hasPrefix("0x4") == true)
            #expect(chain["instructionSlots"] as? Int == 6)
            #expect(chain["source"] as? String == file)
            #expect(try cli.check(["chain", "list"]).contains("cli_count"))

            // Read back from the kernel, with the names of programs resolved.
            let show = try cli.check(["chain", "show", "cli_count"])
            #expect(show.contains("chain cli_count\n"))
            #expect(show.contains("r2 = 0x5"))
            #expect(show.contains("if r2 > 0xc8 goto L1"))
            #expect(show.contains("call monitor"))
            #expect(show.contains("L1:\n    call hike_pass"))

            // The disassembly loads again and gives the same instructions.
            let before = try cli.jsonObject(["chain", "show", "cli_count", "--json"])
            let again = try cli.write("again.hasm", show)
            #expect(try cli.check(["chain", "load", again]).contains("replaced chain cli_count"))
            let after = try cli.jsonObject(["chain", "show", "cli_count", "--json"])
            #expect(after["slots"] as? [String] == before["slots"] as? [String])
            #expect(after["id"] as? Int == before["id"] as? Int)
            #expect(after["slot"] as? Int != before["slot"] as? Int)  // replaced through a new slot

            _ = try cli.check(["chain", "rm", "cli_count"])
            #expect(try cli.jsonArray(["chain", "list", "--json"]).isEmpty)
        }
    }

    @Test func chainLoadErrorsPointAtTheSourceAndChangeNothing() throws {
        try HikeCLI.withInstance { cli in
            let good = try cli.write("good.hasm", "chain cli_keep\n    call hike_pass\n")
            _ = try cli.check(["chain", "load", good])
            let listing = try cli.check(["chain", "list", "--json"])
            let programs = try cli.check(["prog", "list", "--json"])

            // An assembler error: a register that does not exist.
            let bad = try cli.write("bad.hasm", """
                chain cli_keep
                    r0 = 1
                    r0 += r11
                    exit
                """)
            let failed = try cli.run(["chain", "load", bad])
            #expect(failed.status != 0)
            #expect(failed.stderr.contains("\(bad):3:11: error:"))
            #expect(failed.stderr.contains("    r0 += r11\n          ^"))

            // A linker error: a name nothing has.
            let unknown = try cli.write("unknown.hasm", "chain cli_keep\n    call no_such_program\n")
            let unknownRun = try cli.run(["chain", "load", unknown])
            #expect(unknownRun.status != 0)
            #expect(unknownRun.stderr.contains("\(unknown):2:10: error: unknown program or chain 'no_such_program'"))

            // A checker error in a chain that calls a program not loaded yet: the program stays
            // unloaded.
            let jump = try cli.write("jump.hasm", "chain cli_other\n    call monitor\n    goto +7\n")
            let jumpRun = try cli.run(["chain", "load", jump])
            #expect(jumpRun.status != 0)
            #expect(jumpRun.stderr.contains("\(jump):3:5: error:"))
            #expect(jumpRun.stderr.contains("outside the chain"))

            #expect(try cli.check(["chain", "list", "--json"]) == listing)
            #expect(try cli.check(["prog", "list", "--json"]) == programs)
        }
    }

    // MARK: Loaders

    @Test func loaderAttachesAtATCHookAndDetachesByHook() throws {
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        try HikeCLI.withInstance { cli in
            let chain = try cli.write("tc.hasm", "chain cli_tc\n    r2 = 9\n    call monitor\n    call hike_pass\n")
            _ = try cli.check(["chain", "load", chain])
            let attach = try cli.check(["loader", "attach", "ip6_classifier", "veth0", "--netns", a.name, "--hook", "tc-egress",
                                        "--chain", "cli_tc"])
            #expect(attach.contains("attached ip6_classifier to veth0 in namespace \(a.name) (tc-egress)"))
            #expect(try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.05).received == 3)
            let dump = try cli.jsonObject(["map", "dump", "monitor_events"])
            let entries = try #require(dump["entries"] as? [[String: Any]])
            #expect((entries.first { $0["key"] as? Int == 9 }?["sum"] as? Int ?? 0) >= 3, "a's echo requests counted at its tc egress")

            let listing = try cli.jsonObject(["loader", "list", "--json"])
            let attachments = try #require(listing["attachments"] as? [[String: Any]])
            #expect(attachments.count == 1)
            #expect(attachments.first?["mode"] as? String == "tc-egress")
            #expect((attachments.first?["programID"] as? Int ?? 0) > 0)

            let moded = try cli.run(["loader", "attach", "ip6_classifier", "veth0", "--netns", a.name, "--hook", "tc-ingress",
                                     "--mode", "generic", "--chain", "cli_tc"])
            #expect(moded.status != 0 && moded.stderr.contains("a tc hook has no mode"), "\(moded.stderr)")
            let refused = try cli.run(["loader", "attach", "srv6_localsid", "veth0", "--netns", a.name, "--hook", "tc-ingress",
                                       "--chain", "cli_tc"])
            #expect(refused.status != 0 && refused.stderr.contains("runs at XDP only"), "\(refused.stderr)")
            let wrongHook = try cli.run(["loader", "detach", "veth0", "--netns", a.name, "--hook", "xdp"])
            #expect(wrongHook.status != 0 && wrongHook.stderr.contains("nothing attached to veth0 in namespace \(a.name) at xdp"),
                    "\(wrongHook.stderr)")
            let detach = try cli.check(["loader", "detach", "veth0", "--netns", a.name, "--hook", "tc-egress"])
            #expect(detach.contains("detached ip6_classifier from veth0 in namespace \(a.name) (tc-egress)"))
            #expect((try cli.jsonObject(["loader", "list", "--json"])["attachments"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func loaderAttachPassesPingsAndDetachRemovesIt() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try HikeCLI.withInstance { cli in
            let drop = try cli.write("drop.hasm", "chain cli_entry\n    call hike_drop\n")
            _ = try cli.check(["chain", "load", drop])
            let attach = try cli.check(["loader", "attach", "ip6_classifier", "veth0", "--netns", b.name,
                                        "--chain", "cli_entry", "--mode", "native"])
            #expect(attach.contains("attached ip6_classifier to veth0 in namespace \(b.name)"))
            #expect(try Traffic.ping(from: a, to: "fc00::2", count: 2, interval: 0.1).received == 0)
            // That ping left fc00::2 INCOMPLETE in a, probed again only at the next retransmit
            // timer: forget it, so the next ping solicits at once.
            _ = try topology.ip(["-6", "neigh", "flush", "dev", "veth0"], in: a)

            // Replace the chain under the attached loader: pings get through.
            let pass = try cli.write("pass.hasm", """
                chain cli_entry
                    r2 = 7
                    call monitor
                    call hike_pass
                """)
            _ = try cli.check(["chain", "load", pass])
            let ping = try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.1)
            #expect(ping.received == 3)

            let listing = try cli.jsonObject(["loader", "list", "--json"])
            let attachments = try #require(listing["attachments"] as? [[String: Any]])
            #expect(attachments.count == 1)
            #expect(attachments.first?["namespace"] as? String == b.name)
            #expect(attachments.first?["chain"] as? String == "cli_entry")
            #expect((attachments.first?["programID"] as? Int ?? 0) > 0)
            #expect(try linkShow(b).contains("xdp"))

            // monitor counted the packets that passed under event 7.
            let dump = try cli.jsonObject(["map", "dump", "monitor_events"])
            let entries = try #require(dump["entries"] as? [[String: Any]])
            let seven = try #require(entries.first { $0["key"] as? Int == 7 })
            #expect((seven["sum"] as? Int ?? 0) >= 3)
            #expect((seven["values"] as? [Any])?.count == (try possibleCPUCount()))

            let maps = try cli.jsonArray(["map", "list", "--json"])
            #expect(maps.contains { $0["path"] as? String == "vm/hvm_progs" && $0["type"] as? String == "prog_array" })
            #expect(maps.contains { ($0["path"] as? String)?.hasPrefix("loaders/") == true })

            let wrongPlace = try cli.run(["loader", "detach", "veth0"])
            #expect(wrongPlace.status != 0)
            #expect(wrongPlace.stderr.contains("--netns \(b.name)"))

            #expect(try cli.check(["loader", "detach", "veth0", "--netns", b.name]).contains("detached ip6_classifier"))
            let after = try cli.jsonObject(["loader", "list", "--json"])
            #expect((after["attachments"] as? [Any])?.isEmpty == true)
            #expect(try !linkShow(b).contains("xdp"))
            #expect(try cli.jsonArray(["map", "list", "--json"]).allSatisfy { ($0["path"] as? String)?.hasPrefix("loaders/") == false })
        }
    }

    // MARK: Faults

    @Test func faultsNameTheChainAndTheReason() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try HikeCLI.withInstance { cli in
            // The packet bank holds the packet only: offset 0x3fff is far beyond a ping.
            let oob = try cli.write("oob.hasm", """
                chain cli_oob
                    r1 = 0x1000000 ll
                    r0 = *(u64 *)(r1 + 0x3fff)
                    exit
                """)
            _ = try cli.check(["chain", "load", oob])
            _ = try cli.check(["loader", "attach", "ip6_classifier", "veth0", "--netns", b.name, "--chain", "cli_oob",
                               "--default-verdict", "pass"])
            // The faulting chain ends with the default verdict: pass.
            #expect(try Traffic.ping(from: a, to: "fc00::2", count: 2, interval: 0.1).received == 2)

            let human = try cli.check(["faults"])
            #expect(human.contains("cli_oob"))
            #expect(human.contains("INVALID_ACCESS"))

            let report = try cli.jsonObject(["faults", "--json", "--events"])
            let counts = try #require(report["counts"] as? [[String: Any]])
            let count = try #require(counts.first { $0["chain"] as? String == "cli_oob" })
            #expect(count["reason"] as? String == "INVALID_ACCESS")
            #expect((count["count"] as? Int ?? 0) >= 2)
            #expect((count["description"] as? String)?.isEmpty == false)
            let events = try #require(report["events"] as? [[String: Any]])
            #expect(events.count >= 2)
            #expect(events.allSatisfy { $0["chain"] as? String == "cli_oob" && $0["pc"] as? Int == 2 })
            let last = try #require(report["lastResults"] as? [[String: Any]])
            #expect(last.contains { $0["chain"] as? String == "cli_oob" && $0["fault"] as? String == "INVALID_ACCESS" })

            // Events are read once: a second read holds none of the first's, only later faults
            // (the kernel's own IPv6 packets on the link, neighbour discovery or MLD, also go
            // through the faulting chain).
            let firstRead = events.compactMap { $0["timestampNanoseconds"] as? Int }
            #expect(firstRead.count == events.count)
            let again = try #require(try cli.jsonObject(["faults", "--json", "--events"])["events"] as? [[String: Any]])
            #expect(again.allSatisfy { ($0["timestampNanoseconds"] as? Int ?? 0) > (firstRead.max() ?? .max) })
        }
    }

    /// A chain that reads past the packet, one that loops forever and one that calls an unknown
    /// ID: each drops the packet (the default verdict), and `hike faults` shows chain, reason and pc.
    @Test func everyKindOfFaultDropsAndShows() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        // The chains drop neighbour discovery too: a needs b's address without asking.
        let shown = try topology.ip(["-j", "link", "show", "dev", "veth0"], in: b)
        let mac = try #require(shown.split(separator: "\"").drop { $0 != "address" }.dropFirst(2).first)
        try topology.ip(["neigh", "replace", "fc00::2", "lladdr", String(mac), "dev", "veth0", "nud", "permanent"], in: a)
        try HikeCLI.withInstance { cli in
            let bodies = [
                ("INVALID_ACCESS", 2, "r1 = 0x1000000 ll\n    r0 = *(u64 *)(r1 + 0x3fff)\n    exit"),
                ("BUDGET", 0, "r0 += 1\n    goto -2"),
                // The ID is computed, so the static checker cannot refuse the call.
                ("UNKNOWN_CALLEE", 2, "r1 = 100\n    r1 += 100\n    call elem\n    exit"),
            ]
            for (index, body) in bodies.enumerated() {
                let file = try cli.write("fault\(index).hasm", "chain cli_fault\n    \(body.2)\n")
                _ = try cli.check(["chain", "load", file])
                if index == 0 {
                    _ = try cli.check(["loader", "attach", "ip6_classifier", "veth0", "--netns", b.name, "--chain", "cli_fault"])
                }
                // Dropped: no reply comes back.
                #expect(try Traffic.ping(from: a, to: "fc00::2", count: 2, interval: 0.1).received == 0)
            }
            let report = try cli.jsonObject(["faults", "--json", "--events"])
            let counts = try #require(report["counts"] as? [[String: Any]])
            let events = try #require(report["events"] as? [[String: Any]])
            for (reason, pc, _) in bodies {
                #expect(counts.contains { $0["chain"] as? String == "cli_fault" && $0["reason"] as? String == reason
                    && ($0["count"] as? Int ?? 0) >= 2 }, "no count for \(reason)")
                #expect(events.contains { $0["chain"] as? String == "cli_fault" && $0["reason"] as? String == reason
                    && $0["pc"] as? Int == pc }, "no event for \(reason) at pc \(pc)")
            }
            let human = try cli.check(["faults"])
            #expect(human.contains("cli_fault") && human.contains("BUDGET") && human.contains("UNKNOWN_CALLEE"))
        }
    }

    // MARK: Reset

    @Test func resetLeavesNoPin() throws {
        let (topology, _, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try HikeCLI.withInstance { cli in
            let pass = try cli.write("pass.hasm", "chain cli_pass\n    call hike_pass\n")
            _ = try cli.check(["chain", "load", pass])
            _ = try cli.check(["loader", "attach", "ip6_classifier", "veth0", "--netns", b.name, "--chain", "cli_pass"])
            let pinRoot = "/sys/fs/bpf/hike/\(cli.instance)"
            #expect(FileManager.default.fileExists(atPath: pinRoot))

            let reset = try cli.check(["reset"])
            #expect(reset.contains("detached ip6_classifier from veth0 in namespace \(b.name)"))
            #expect(reset.contains("removed 1 chain: cli_pass"))
            #expect(reset.contains("removed \(pinRoot)"))
            #expect(!FileManager.default.fileExists(atPath: pinRoot))
            #expect(!FileManager.default.fileExists(atPath: "/run/hike/\(cli.instance)"))
            #expect(try !linkShow(b).contains("xdp"))
            #expect(try cli.check(["reset"]).contains("nothing to remove"))
        }
    }

    /// `ip link show veth0` in namespace: mentions xdp while a program is attached.
    func linkShow(_ namespace: NetworkNamespace) throws -> String {
        try Command.check(["ip", "-n", namespace.name, "link", "show", "veth0"])
    }

    // MARK: Map entries as JSON

    /// `hike map update` writes keys and values given as JSON with addresses written as
    /// addresses; `hike map dump` prints them back that way, from the map's BTF.
    @Test func mapUpdateAndDumpSpeakAddresses() throws {
        try HikeCLI.withInstance { cli in
            _ = try cli.check(["prog", "load", "ip6_hset_srcdst"])
            let key = #"{"saddr":"fc00::1","daddr":"fc00::2"}"#
            let update = try cli.check(["map", "update", "ip6_hset_sd", key, #"{"cts_ns":5,"timeout_ns":10000000000}"#])
            #expect(update.contains("updated maps/ip6_hset/ip6_hset_sd"))
            _ = try cli.check(["map", "update", "ip6_hset_cfg", "0", #"{"timeout_ns":3000000000}"#])

            let dump = try cli.jsonObject(["map", "dump", "ip6_hset_sd"])
            #expect(dump["keyType"] as? String == "struct ip6_sd_key")
            let entries = try #require(dump["entries"] as? [[String: Any]])
            #expect(entries.count == 1)
            let entry = try #require(entries.first)
            let dumpedKey = try #require(entry["key"] as? [String: Any])
            #expect(dumpedKey["saddr"] as? String == "fc00::1")
            #expect(dumpedKey["daddr"] as? String == "fc00::2")
            #expect((entry["value"] as? [String: Any])?["timeout_ns"] as? Int == 10_000_000_000)
            // Members print in their C order.
            let text = try cli.check(["map", "dump", "ip6_hset_sd"])
            let saddr = try #require(text.range(of: "\"saddr\""))
            let daddr = try #require(text.range(of: "\"daddr\""))
            #expect(saddr.lowerBound < daddr.lowerBound)
            let cfg = try cli.jsonObject(["map", "dump", "ip6_hset_cfg"])
            let cfgEntry = try #require((cfg["entries"] as? [[String: Any]])?.first)
            #expect((cfgEntry["value"] as? [String: Any])?["timeout_ns"] as? Int == 3_000_000_000)

            // noexist refuses an existing key; a bad address names the field.
            let again = try cli.run(["map", "update", "ip6_hset_sd", key, "{}", "--flags", "noexist"])
            #expect(again.status != 0)
            #expect(again.stderr.contains("already has key"))
            let bad = try cli.run(["map", "update", "ip6_hset_sd", #"{"saddr":"fc00::zz"}"#, "{}"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("key.saddr: 'fc00::zz' is not an IPv6 address"))
            let unknown = try cli.run(["map", "update", "ip6_hset_sd", key, #"{"cts":1}"#])
            #expect(unknown.stderr.contains("no member 'cts'"))

            // Per-CPU: one value for all CPUs, read back per CPU with their sum.
            _ = try cli.check(["prog", "load", "monitor"])
            _ = try cli.check(["map", "update", "monitor_events", "9", "4"])
            let events = try cli.jsonObject(["map", "dump", "monitor_events"])
            let nine = try #require((events["entries"] as? [[String: Any]])?.first { $0["key"] as? Int == 9 })
            let cpus = try possibleCPUCount()
            #expect((nine["values"] as? [Int]) == Array(repeating: 4, count: cpus))
            #expect(nine["sum"] as? Int == 4 * cpus)

            #expect(try cli.check(["map", "delete", "ip6_hset_sd", key]).contains("deleted key"))
            let gone = try cli.run(["map", "delete", "ip6_hset_sd", key])
            #expect(gone.status != 0)
            #expect(gone.stderr.contains("has no key"))
            #expect((try cli.jsonObject(["map", "dump", "ip6_hset_sd"])["entries"] as? [Any])?.isEmpty == true)
        }
    }
}

/// Runs the hike binary on one instance.
struct HikeCLI {
    let instance: String
    let directory: String

    /// `.build/<triple>/debug/hike`: beside the test bundle, else under the package root.
    static let binary: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("hike").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/hike").path
    }()

    private static let counter = Atomic<Int>(0)

    /// Runs body with a fresh instance and a temporary directory; resets the instance and
    /// deletes the directory afterwards, whatever happens.
    static func withInstance(_ body: (HikeCLI) throws -> Void) throws {
        let n = counter.add(1, ordering: .relaxed).newValue
        let instance = "\(KernelTest.prefix)-\(getpid())-cli-\(n)"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(instance).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let cli = HikeCLI(instance: instance, directory: directory)
        defer {
            if let result = try? cli.run(["reset"]), result.status != 0 {
                FileHandle.standardError.write(Data("hike reset --instance \(instance) failed: \(result.stderr)\n".utf8))
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
        try body(cli)
    }

    func run(_ arguments: [String]) throws -> CommandResult {
        try Command.run([Self.binary] + arguments + ["--instance", instance])
    }

    /// Runs and returns stdout; a non-zero exit fails the test with hike's stderr.
    func check(_ arguments: [String]) throws -> String {
        try run(arguments).checked()
    }

    func jsonArray(_ arguments: [String]) throws -> [[String: Any]] {
        let output = try check(arguments)
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]], "not a JSON array: \(output)")
    }

    func jsonObject(_ arguments: [String]) throws -> [String: Any] {
        let output = try check(arguments)
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "not a JSON object: \(output)")
    }

    /// Writes a file into the test's directory and returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        let path = "\(directory)/\(name)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

struct HikeCLIError: Error, CustomStringConvertible {
    let description: String
}
