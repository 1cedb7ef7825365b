import BPFKit
import Foundation
import NetKit
import Synchronization
import Topology
import Wing
import HikeRuntime
import BPFObjects

/// Set-up and synchronisation shared by kernel tests.
public enum KernelTest {
    /// The namespace prefix of every test topology; `removeStale` sweeps what crashed runs left.
    public static let prefix = "hiket"

    /// Checks that the test can touch the kernel (root), mounts bpffs where missing and removes
    /// namespaces that dead test processes left behind. A missing capability fails the test.
    public static func prepare() throws {
        guard geteuid() == 0 else {
            throw BPFError(operation: "run kernel tests", errno: EPERM,
                           message: "kernel tests load eBPF programs and create namespaces: run them as root (sudo make test)")
        }
        try BPFFileSystem.ensureMounted()
        Topology.removeStale(prefix: prefix)
        removeStaleHike()
    }

    /// For tests that use the kernel's own SRv6 as the reference peer (interop, byte equality,
    /// kernel-only lines). Such a suite fails, never skips, on a kernel without seg6: `make test`
    /// runs these suites in the reference VM (scripts/kernel-vm.sh) when the host lacks them.
    public static func requireKernelSRv6() throws {
        try prepare()
        let support = try KernelSRv6.support
        guard support.available else {
            throw BPFError(operation: "use the kernel's SRv6 as reference peer", errno: EOPNOTSUPP,
                           message: "\(support.reason); run this suite in the reference VM: "
                               + "scripts/run-tests.sh runs it there (make test)")
        }
    }

    /// Whether the pid that starts `name` after `prefix-` no longer runs (a dead test process).
    static func isOfDeadProcess(_ name: String, prefix: String) -> Bool {
        guard name.hasPrefix(prefix + "-"), let pidText = name.dropFirst(prefix.count + 1).split(separator: "-").first,
              let pid = Int32(pidText) else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// What dead test processes left besides namespaces: HIKe instances (pins, /run/hike/<instance>)
    /// named `hiket-<pid>-…`, and testbeds named `<pid>-…` (the tests' names) whose `up` is gone too,
    /// with their namespaces (also those of prefix hike-tb, which the CLI tests use), instances and
    /// state file. A failure to remove is reported on stderr, not hidden: the next run retries.
    static func removeStaleHike() {
        func remove(_ path: String) {
            guard FileManager.default.fileExists(atPath: path) else { return }
            do { try FileManager.default.removeItem(atPath: path) } catch {
                FileHandle.standardError.write(Data("KernelTest.prepare: cannot remove stale \(path): \(error)\n".utf8))
            }
        }
        let pins = "\(BPFFileSystem.defaultMountPoint)/hike", run = "/run/hike", testbeds = "/run/hike/testbeds"
        for directory in [pins, run] {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where isOfDeadProcess(entry, prefix: prefix) {
                remove("\(directory)/\(entry)")
            }
        }
        // hike wing on an interface of a dead test's namespace: the attachments went with it.
        for site in WingSite.all() where site.namespace.map({ isOfDeadProcess($0, prefix: prefix) }) == true {
            do { try WingHost.stop(site) } catch {
                FileHandle.standardError.write(Data("KernelTest.prepare: cannot remove stale hike wing on \(site): \(error)\n".utf8))
            }
        }
        for file in (try? FileManager.default.contentsOfDirectory(atPath: testbeds)) ?? [] where file.hasSuffix(".json") {
            let name = String(file.dropLast(".json".count))
            guard isOfDeadProcess("x-" + name, prefix: "x"),
                  let data = FileManager.default.contents(atPath: "\(testbeds)/\(file)"),
                  let state = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let testbedPrefix = state["prefix"] as? String, [prefix, "hike-tb"].contains(testbedPrefix),
                  let upPid = (state["pid"] as? NSNumber)?.int32Value, kill(upPid, 0) != 0, errno == ESRCH else { continue }
            let stem = "\(testbedPrefix)-\(name)-"
            for namespace in NetworkNamespace.list() where namespace.hasPrefix(stem) {
                do { try NetworkNamespace(existing: namespace).delete() } catch {
                    FileHandle.standardError.write(Data("KernelTest.prepare: cannot remove stale namespace \(namespace): \(error)\n".utf8))
                }
            }
            for directory in [pins, run] {
                for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where entry.hasPrefix(stem) {
                    remove("\(directory)/\(entry)")
                }
            }
            remove("\(testbeds)/\(file)")
        }
    }

    /// A fresh topology whose namespaces carry the test prefix.
    public static func topology() -> Topology {
        Topology(prefix: prefix)
    }

    /// Two namespaces `a` and `b`, veth0 ↔ veth0, fc00::1/64 and fc00::2/64.
    public static func pair() throws -> (topology: Topology, a: NetworkNamespace, b: NetworkNamespace) {
        try Topology.pair(prefix: prefix)
    }

    /// Polls condition until it holds, failing after timeout. This waits for an observable
    /// state (a counter, a process), never for a guessed amount of time.
    public static func waitUntil(_ what: String, timeout: Duration = .seconds(10),
                                 _ condition: () throws -> Bool) throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if try condition() { return }
            if clock.now >= deadline {
                throw BPFError(operation: "wait until \(what)", errno: ETIMEDOUT,
                               message: "still not true after \(timeout)")
            }
            usleep(2_000)
        }
    }

    /// waitUntil for async tests: between polls it gives its thread back to the pool.
    public static func waitUntil(_ what: String, timeout: Duration = .seconds(10),
                                 _ condition: () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if try await condition() { return }
            if clock.now >= deadline {
                throw BPFError(operation: "wait until \(what)", errno: ETIMEDOUT, message: "still not true after \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// A directory of its own on the bpffs for one test's pins; deleted with everything in it.
public final class PinDirectory: Sendable {
    public let path: String
    private static let counter = Atomic<Int>(0)

    public init() throws {
        let n = Self.counter.add(1, ordering: .relaxed).newValue
        path = "\(BPFFileSystem.defaultMountPoint)/\(KernelTest.prefix)-\(getpid())-\(n)"
        try BPFFileSystem.makeDirectories(path)
    }

    /// A path for a pin inside the directory.
    public func pin(_ name: String) -> String { "\(path)/\(name)" }

    deinit {
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            FileHandle.standardError.write(Data("pin directory: could not remove \(path): \(error)\n".utf8))
        }
    }
}

extension KernelTest {
    /// A HIKe instance of its own (`hiket-<pid>-<n>`), reset when the test is done with it.
    public static func instance(objects: [EmbeddedObject] = EmbeddedObjects.all) throws -> TestInstance {
        try TestInstance(objects: objects)
    }
}

/// A HIKe instance whose pins and registry are removed on deinit, also when the test fails.
public final class TestInstance: @unchecked Sendable {  // used by one test at a time
    public let instance: HikeInstance
    private static let counter = Atomic<Int>(0)

    init(objects: [EmbeddedObject]) throws {
        let n = Self.counter.add(1, ordering: .relaxed).newValue
        instance = try HikeInstance(name: "\(KernelTest.prefix)-\(getpid())-\(n)",
                                    catalog: ProgramCatalog(objects: objects))
    }

    deinit {
        do {
            try instance.reset()
        } catch {
            FileHandle.standardError.write(Data("test instance \(instance.name): reset failed: \(error)\n".utf8))
        }
    }
}
