import BPFKit
import Doctor
import Foundation
import HikeTestSupport
import NetKit
import Topology
import Testing

/// `hike doctor` and the ping-count demo, run for real on this machine.
@Suite(.serialized) struct DoctorTests {
    init() throws { try KernelTest.prepare() }

    @Test func everyRequiredCheckPassesHere() throws {
        var reported: [String] = []
        let checks = Doctor.runAll { reported.append($0.name) }
        #expect(checks.map(\.name) == Doctor.checkNames)
        #expect(reported == Doctor.checkNames, "progress sees every check, in order")
        #expect(Set(checks.map(\.name)).count == checks.count, "check names are unique")
        for check in checks where check.required {
            #expect(check.verdict == .ok, "\(check.name): \(check.detail)\nhint: \(check.hint ?? "-")")
        }
        for check in checks where check.verdict == .ok {
            #expect(check.hint == nil)
            #expect(!check.detail.isEmpty)
        }
        // What the VM and XDP need is required; the kernel's SRv6 routes are what the hybrid
        // split can use, and their verdict is what the kernel answers.
        let required = Set(checks.filter(\.required).map(\.name))
        #expect(required.isSuperset(of: ["tail-calls", "bpf-loop", "xdp-native-veth", "bpffs", "bpf-syscall"]))
        let kernelSRv6 = try KernelSRv6.support
        for name in ["seg6-routes", "seg6local-routes"] {
            let check = try #require(checks.first { $0.name == name })
            #expect(!check.required)
            #expect(check.verdict == (kernelSRv6.available ? .ok : .warning), "\(name): \(check.detail)")
            if !kernelSRv6.available {
                #expect(check.hint?.contains("run in XDP") == true, "the hint says what hike does without it")
            }
        }
        #expect(leftNamespaces(prefix: Doctor.namespacePrefix).isEmpty)
    }

    /// What this machine's checks say survives JSON (DoctorCheckTests checks the shape).
    @Test func checksRoundTripThroughJSON() throws {
        let checks = Doctor.runAll()
        #expect(!checks.isEmpty)
        #expect(try JSONDecoder().decode([DoctorCheck].self, from: JSONEncoder().encode(checks)) == checks)
    }

    @Test func unknownCheckNameGivesNil() {
        #expect(Doctor.run("no-such-check") == nil)
        #expect(Doctor.run("bpf-loop")?.verdict == .ok)
    }

    @Test func pingCountDemoCountsEveryEchoRequest() throws {
        var steps: [String] = []
        let report = try PingCountDemo.run(count: 4, interval: 0.05) { steps.append($0) }
        #expect(report.transmitted == 4)
        #expect(report.received == 4)
        #expect(report.attachMode == "native")
        #expect(report.echoRequests.packets == 4)
        // ICMPv6 echo request of ping's default 56-byte payload: 14 + 40 + 8 + 56 bytes.
        #expect(report.echoRequests.bytes == 4 * 118)
        #expect(report.rows.allSatisfy { $0.packets.count == report.cpuCount && $0.bytes.count == report.cpuCount })
        #expect(report.cpuCount == (try possibleCPUCount()))
        #expect(steps.contains("pinging fc00::2 4 times…"))
        #expect(steps.contains { $0.hasPrefix("attaching xdp_count (native) to veth0 in \(report.receiver)") })
        // The namespaces are gone once run returns.
        #expect(!NetworkNamespace.list().contains(report.sender))
        #expect(!NetworkNamespace.list().contains(report.receiver))

        let decoded = try JSONDecoder().decode(PingCountReport.self, from: JSONEncoder().encode(report))
        #expect(decoded == report)
    }

    @Test func pingCountDemoRejectsABadCountAndMakesNothing() throws {
        // Only the demo's own namespaces: tests running alongside make and delete theirs.
        let own = { NetworkNamespace.list().filter { $0.hasPrefix("\(PingCountDemo.defaultPrefix)-") } }
        let before = own()
        #expect(throws: DemoError.self) { try PingCountDemo.run(count: 0) }
        #expect(own() == before)
    }

    private func leftNamespaces(prefix: String) -> [String] {
        NetworkNamespace.list().filter { $0.hasPrefix("\(prefix)-\(getpid())-") }
    }
}
