import BPFKit
import Foundation
import HikeTestSupport
import NetKit
import Synchronization
import Testbed
import Testing
import Topology

/// Testbeds of the tests: named `<pid>-tbN`, so node N lives in namespace `hiket-<pid>-tbN-N`
/// (what KernelTest.prepare sweeps when a test process died) and never meets another test's.
enum TestbedHarness {
    static let engine = TestbedEngine(prefix: KernelTest.prefix)
    private static let counter = Atomic<Int>(0)

    static func uniqueName() -> String {
        "\(getpid())-tb\(counter.add(1, ordering: .relaxed).newValue)"
    }

    /// A directory of its own for topology and script files; removed afterwards.
    static func withDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hike-testbed-\(uniqueName())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try body(directory)
    }

    /// Brings the file up under a fresh name, runs body, then brings it down, also when body
    /// fails, and checks that down left nothing behind.
    static func withTestbed(_ path: String, _ body: (String, TestbedState) throws -> Void) throws {
        let name = uniqueName()
        let state = try engine.up(try TestbedFile.read(path), name: name)
        var downDone = false
        defer {
            if !downDone {
                do { try engine.down(name) } catch { Issue.record("down after a failed test: \(error)") }
            }
        }
        try body(name, state)
        try engine.down(name)
        downDone = true
        #expect(leftovers(name) == [])
    }

    /// Whatever of testbed name is still in the kernel or on disk: namespaces, HIKe pins and
    /// registries, the state file.
    static func leftovers(_ name: String) -> [String] {
        let base = "\(KernelTest.prefix)-\(name)-"
        var found = NetworkNamespace.list().filter { $0.hasPrefix(base) }.map { "namespace \($0)" }
        for directory in ["\(BPFFileSystem.defaultMountPoint)/hike", "/run/hike"] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            found += entries.filter { $0.hasPrefix(base) }.map { "\(directory)/\($0)" }
        }
        if FileManager.default.fileExists(atPath: engine.store.path(name)) { found.append(engine.store.path(name)) }
        return found
    }

    /// A ping from a node, read from its summary.
    static func ping(_ name: String, from node: String, to address: String, count: Int = 3) throws -> PingResult {
        let result = try engine.run(testbed: name, node: node, ["ping", "-n", "-c", String(count), "-i", "0.2", "-W", "2", address])
        if result.status > 1 { try result.checked() }
        return try PingResult(output: result.stdout)
    }

    /// The SRv6 packets tshark sees on a node's interface while h1 pings h2: one line per packet
    /// with the outer and inner addresses, the routing type and the segment list.
    static func capturedSRv6(_ name: String, node: String, interface: String, packets: Int = 4) throws -> [String] {
        // A ping that runs until the capture has its packets (it is interrupted then), so no
        // start-up race matters: tshark may take half a minute to start in a loaded reference VM.
        let ping = try NodeShell.start(["ping", "-n", "-q", "-i", "0.05", "cafe::2"],
                                       in: engine.namespace(testbed: name, node: "h1"))
        defer {
            ping.interrupt()
            _ = ping.wait()
        }
        let capture = try engine.run(testbed: name, node: node, [
            "tshark", "-n", "-i", interface, "-c", String(packets), "-a", "duration:120", "-f", "ip6 proto 43",
            "-T", "fields", "-E", "separator=|", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.routing.type",
            "-e", "ipv6.routing.segleft", "-e", "ipv6.routing.srh.addr", "-e", "icmpv6.type", "-e", "_ws.malformed",
        ])
        try capture.checked()
        return capture.stdout.split(separator: "\n").map(String.init)
    }

    /// The hike binary beside the test bundle (or under the package root).
    static let binary: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("hike").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return Examples.root.appendingPathComponent(".build/debug/hike").path
    }()

    /// Runs the hike binary to completion.
    static func cli(_ arguments: [String]) throws -> CommandResult {
        try Command.run([binary] + arguments)
    }
}

/// The hike binary started with posix_spawn and waited for with waitpid, its output in files.
/// For commands that start a tmux server: Foundation's Process was seen to miss the exit of a
/// child whose descendant daemonizes, and a pipe would stay open in the daemon.
final class SpawnedCLI {
    let pid: pid_t
    private let outputPath: String
    private let errorPath: String

    init(_ arguments: [String]) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("hike-cli-\(getpid())-\(UUID().uuidString)").path
        outputPath = base + ".out"
        errorPath = base + ".err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([TestbedHarness.binary] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // The test runner's threads block signals and a child inherits the mask: hike gets an
        // empty one and default handling, so a test can interrupt it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let code = posix_spawn(&pid, TestbedHarness.binary, &actions, &attributes, argv, environ)
        guard code == 0 else { throw BPFError(operation: "start \(TestbedHarness.binary)", errno: code) }
        self.pid = pid
    }

    /// What the command wrote to stderr so far.
    var stderrSoFar: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    deinit {
        unlink(outputPath)
        unlink(errorPath)
    }

    /// Waits for the exit; the status is the exit code, or 128 + the signal that ended it. A
    /// command still running after `timeout` is killed and the wait fails (a hang fails the test).
    func wait(timeout: Duration = .seconds(120)) throws -> (status: Int32, stdout: String, stderr: String) {
        var status: Int32 = 0
        var reaped = false
        do {
            try KernelTest.waitUntil("hike \(pid) exits", timeout: timeout) {
                let result = waitpid(pid, &status, WNOHANG)
                if result < 0 && errno != EINTR { throw BPFError(operation: "wait for \(pid)", errno: errno) }
                reaped = result == pid
                return reaped
            }
        } catch {
            if !reaped {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
            }
            throw error
        }
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
                (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
    }
}

/// Topologies the tests write.
enum TestTopologies {
    /// Two nodes a and b joined by veth0 ↔ veth0 (fc00::1/64, fc00::2/64), plus extra YAML
    /// inserted under each node.
    static func pair(a: String = "", b: String = "") -> String {
        """
        nodes:
          a:
            interfaces:
              veth0: {addresses: [fc00::1/64]}
        \(indent(a))
          b:
            interfaces:
              veth0: {addresses: [fc00::2/64]}
        \(indent(b))
        links:
          - [a:veth0, b:veth0]

        """
    }

    private static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
    }

    /// An eCLAT script that passes every IPv6 packet on DEVNAME to the kernel.
    static let passScript = """
        from programs.hike_default import hike_pass
        from loaders.hike_default import ip6_classifier

        ip6_classifier[ip6_cls_cfg] = { (0): (pass_all) }
        ip6_classifier.attach('DEVNAME', 'xdp')

        def pass_all():
            hike_pass()

        """

    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
