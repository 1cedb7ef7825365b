import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import Testbed
import Testing
import Topology

/// A stop request (Ctrl-C) during `up`, a node whose HIKe instance vanished, a state file that
/// cannot be read: what the review of the testbed found.
@Suite(.serialized) struct TestbedInterruptAndHealthTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// The stop request is seen before the next step; up removes what it made on its own thread
    /// and says it was interrupted (not failed), leaving nothing.
    @Test func aStopRequestDuringUpUndoesItOnUpsThread() throws {
        try TestbedHarness.withDirectory { directory in
            let path = "\(directory)/pair.yaml"
            try TestTopologies.write(TestTopologies.pair(), to: path)
            let name = TestbedHarness.uniqueName()
            let progress = Progress()
            var options = TestbedEngine.UpOptions()
            options.progress = { step in progress.append(step) }
            // Requested once the link is being made: the namespaces and the veth pair exist.
            options.shouldStop = { progress.steps.contains { $0.hasPrefix("link ") } }
            #expect {
                try TestbedHarness.engine.up(try TestbedFile.read(path), name: name, options: options)
            } throws: { error in
                guard case .interrupted(let step, let leftovers)? = error as? TestbedError else { return false }
                return step.hasPrefix("link ") && leftovers.isEmpty
            }
            #expect(progress.steps.contains { $0.hasPrefix("namespace ") })
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }

    /// `hike testbed up` interrupted by SIGINT while a node's command runs: it finishes the step,
    /// tears down, exits 130 and leaves neither namespaces nor a state file.
    @Test func ctrlCDuringTestbedUpLeavesNothing() throws {
        try TestbedHarness.withDirectory { directory in
            let release = "\(directory)/release"
            let path = "\(directory)/pair.yaml"
            // The command waits for the test's signal file: up is provably mid-step when SIGINT comes.
            try TestTopologies.write(TestTopologies.pair(a: "commands: ['while [ ! -e \(release) ]; do sleep 0.02; done']"), to: path)
            let name = TestbedHarness.uniqueName()
            let up = try SpawnedCLI(["testbed", "up", path, "--name", name, "--prefix", KernelTest.prefix])
            try KernelTest.waitUntil("up runs the command of node a", timeout: .seconds(60)) {
                ((try? TestbedHarness.engine.store.read(name))?.step ?? "").hasPrefix("node a: command")
            }
            #expect(kill(up.pid, SIGINT) == 0)
            // The signal is taken (the handler says so on stderr) before the command is released.
            try KernelTest.waitUntil("hike reports the stop request", timeout: .seconds(30)) { up.stderrSoFar.contains("stopping") }
            #expect(FileManager.default.createFile(atPath: release, contents: nil))
            let result = try up.wait(timeout: .seconds(60))
            #expect(result.status == 128 + SIGINT, "\(result.stderr)")
            #expect(result.stderr.contains("interrupted: testbed \(name) removed"), "\(result.stderr)")
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }

    /// A node's HIKe instance removed behind the testbed's back: status is not healthy and says why.
    @Test func statusIsUnhealthyWhenANodesHikeInstanceIsGone() throws {
        try TestbedHarness.withDirectory { directory in
            try TestTopologies.write(TestTopologies.passScript, to: "\(directory)/pass.eclat")
            let path = "\(directory)/hike.yaml"
            try TestTopologies.write(TestTopologies.pair(b: "hike: {scripts: [{file: pass.eclat, interface: veth0}]}"), to: path)
            try TestbedHarness.withTestbed(path) { name, state in
                #expect(try TestbedHarness.engine.status(name).healthy)
                let instance = try #require(state.instances.first)
                try HikeInstance(name: instance).reset()
                let status = try TestbedHarness.engine.status(name)
                #expect(!status.healthy)
                #expect(status.problems.count == 1 && status.problems.allSatisfy { $0.hasPrefix("node b: HIKe instance \(instance)") },
                        "\(status.problems)")
            }
        }
    }

    /// A state file that cannot be parsed is listed as broken, with the reason, not dropped.
    @Test func listShowsAnUnreadableStateFileAsBroken() throws {
        let name = TestbedHarness.uniqueName()
        let path = TestbedHarness.engine.store.path(name)
        try FileManager.default.createDirectory(atPath: TestbedHarness.engine.store.directory, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: path, contents: Data("{ not json".utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let listed = try TestbedHarness.cli(["testbed", "list", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        let row = try #require(rows.first { $0["name"] as? String == name }, "\(listed.stdout)")
        #expect(row["phase"] as? String == "broken")
        #expect((row["problem"] as? String)?.contains("unreadable state file \(path)") == true, "\(row)")
    }
}
