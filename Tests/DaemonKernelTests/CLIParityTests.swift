import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// The CLI in-process and through a daemon (`--connect`) print the same, byte for byte, over the
/// commands that read or change a node: same stdout, same stderr, same exit status.
@Suite(.serialized) struct CLIParityTests {
    init() throws {
        try KernelTest.prepare()
        guard FileManager.default.isExecutableFile(atPath: hikeBinary) else {
            throw DaemonTestError("no hike binary at \(hikeBinary): build it first (swift build --build-tests)")
        }
    }

    /// One command's outcome, for comparing.
    struct Outcome: Equatable, CustomStringConvertible {
        let status: Int32
        let stdout: String
        let stderr: String
        var description: String { "status \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
    }

    static func outcome(_ result: CommandResult, replacing pairs: [(String, String)] = []) -> Outcome {
        func normal(_ text: String) -> String { pairs.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) } }
        return Outcome(status: result.status, stdout: normal(result.stdout), stderr: normal(result.stderr))
    }

    /// Reads: on one instance, in-process and through the daemon. Changes: the same sequence on
    /// two instances (each with namespaces of its own), one in-process and one through the daemon.
    @Test func everyNodeCommandPrintsTheSameThroughTheDaemon() throws {
        let (localTopology, localA, localB) = try KernelTest.pair()
        defer { localTopology.destroy() }
        let (remoteTopology, remoteA, remoteB) = try KernelTest.pair()
        defer { remoteTopology.destroy() }
        try DaemonScratch.with { local in
            try DaemonScratch.with { remote in
                let daemon = try DaemonProcess([], scratch: remote)
                defer { _ = daemon.stop() }
                let connect = ["--connect", "unix:\(daemon.socket)"]
                let names = [(local.name, remote.name), (localA.name, remoteA.name), (localB.name, remoteB.name), (local.directory, remote.directory)]

                // Files of the same names in both scratch directories (names appear in diagnostics).
                func files(_ name: String, _ text: (String) -> String) throws -> (String, String) {
                    (try local.write(name, text(localB.name)), try remote.write(name, text(remoteB.name)))
                }
                let pass = try files("pass.hasm") { _ in "chain t_pass\n    call hike_pass\n" }
                let bad = try files("bad.hasm") { _ in "chain t_bad\n    r0 = 1\n    goto +9\n" }
                let script = try files("count.eclat") { _ in """
                    from programs.hike_default import hike_pass, monitor
                    from loaders.hike_default import ip6_sc
                    ip6_sc.ipv6_sc_map = { (0): (t_count) }
                    ip6_sc.attach('DEVNAME', 'xdp')
                    def t_count():
                        monitor(7)
                        hike_pass()
                        return 0
                    """ }
                let badScript = try files("bad.eclat") { _ in "from programs.hike_default import no_such\ndef t():\n    no_such()\n" }
                let srv6 = try files("srv6.yaml") { namespace in """
                    namespace: \(namespace)
                    interfaces: [veth0]
                    xdp-mode: native
                    kernel-routes: false
                    locators:
                      - name: b
                        prefix: fc00:2::/48
                    local-sids:
                      - sid: fc00:2::100
                        behaviour: End
                        locator: b
                    """ }

                // Changes, in order; {name} is each side's own file, {b} its namespace.
                let changes: [[String]] = [
                    ["prog", "load", "hike_pass"],
                    ["prog", "load", "no_such_program"],
                    ["chain", "load", "{pass}", "--json"],
                    ["chain", "load", "{bad}"],
                    ["load", "{script}", "-D", "DEVNAME", "veth0", "--netns", "{b}"],
                    ["unload", "{script}", "-D", "DEVNAME", "veth0", "--netns", "{b}"],
                    ["load", "{badScript}"],
                    // Routes to a prefix nothing is sent to: no packet runs the chain, so the runs and
                    // the last results the reads print stay still between the two reads.
                    ["loader", "attach", "ip6_lpm_classifier", "veth0", "--netns", "{b}", "--route", "fc00:99::/64=t_pass",
                     "--default-verdict", "pass"],
                    ["loader", "attach", "ip6_classifier", "veth0", "--netns", "{b}", "--chain", "no_such_chain"],
                    ["loader", "attach", "ip6_lpm_classifier", "veth0", "--netns", "{b}", "--hook", "tc-egress", "--route",
                     "fc00:99::/64=t_pass", "--default-verdict", "pass"],
                    ["loader", "attach", "srv6_localsid", "veth0", "--netns", "{b}", "--hook", "tc-ingress", "--chain", "t_pass"],
                    ["map", "update", "no_such_map", "1", "2"],
                    ["pm", "flow", "add", "7", "--mode", "dscp"],
                    ["srv6", "validate", "{srv6}"],
                    ["srv6", "apply", "{srv6}", "--dry-run", "--json"],
                ]
                for change in changes {
                    let table = ["pass": pass, "bad": bad, "script": script, "badScript": badScript, "srv6": srv6]
                    func resolved(isLocal: Bool) -> [String] {
                        change.map { argument in
                            if argument == "{b}" { return isLocal ? localB.name : remoteB.name }
                            if argument.hasPrefix("{"), let pair = table[String(argument.dropFirst().dropLast())] { return isLocal ? pair.0 : pair.1 }
                            return argument
                        }
                    }
                    let here = Self.outcome(try local.hike(resolved(isLocal: true)), replacing: names)
                    let there = Self.outcome(try remote.hike(resolved(isLocal: false) + connect))
                    #expect(here == there, "hike \(change.joined(separator: " ")): in-process\n\(here)\nthrough the daemon\n\(there)")
                }

                // Reads, on the remote side's instance (now holding programs, a chain, a loader,
                // a flow): in-process and through the daemon.
                let reads: [[String]] = [
                    ["info", "--json"], ["info"],
                    ["prog", "list", "--json"], ["prog", "list"], ["prog", "show", "hike_pass", "--json"], ["prog", "show", "ip6_classifier"],
                    ["chain", "list", "--json"], ["chain", "list"], ["chain", "show", "t_pass", "--json"], ["chain", "show", "t_pass"],
                    ["chain", "show", "no_such_chain"],
                    ["loader", "list", "--json"], ["loader", "list"],
                    ["map", "list", "--json"], ["map", "dump", "hvm_chains", "--json"], ["map", "dump", "no_such_map"],
                    ["faults", "--json"], ["faults"],
                    ["srv6", "show", "--json"], ["srv6", "show"],
                    ["pm", "flow", "list", "--json"], ["pm", "stats", "--json"],
                    ["events", "faults", "--json"],
                ]
                for read in reads {
                    let here = Self.outcome(try remote.hike(read))
                    let there = Self.outcome(try remote.hike(read + connect))
                    #expect(here == there, "hike \(read.joined(separator: " ")): in-process\n\(here)\nthrough the daemon\n\(there)")
                }
                // The listings saw what the changes made (the comparison is not between two empties).
                #expect(try remote.hike(["chain", "list", "--json"] + connect).stdout.contains("\"t_pass\""))
                #expect(try remote.hike(["loader", "list"] + connect).stdout.contains(remoteB.name))

                // Removing, then reset, on both sides.
                let endings: [[String]] = [
                    ["pm", "flow", "rm", "7"], ["loader", "detach", "veth0", "--netns", "{b}"], ["chain", "rm", "t_pass"],
                    ["chain", "rm", "t_pass"], ["reset", "--json"], ["reset"],
                ]
                for ending in endings {
                    let here = Self.outcome(try local.hike(ending.map { $0 == "{b}" ? localB.name : $0 }), replacing: names)
                    let there = Self.outcome(try remote.hike(ending.map { $0 == "{b}" ? remoteB.name : $0 } + connect))
                    #expect(here == there, "hike \(ending.joined(separator: " ")): in-process\n\(here)\nthrough the daemon\n\(there)")
                }
            }
        }
    }
}
