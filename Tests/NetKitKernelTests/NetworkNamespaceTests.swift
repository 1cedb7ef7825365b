import BPFKit
import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// Named namespaces in the `ip netns` convention, entered with setns on a thread of our own.
@Suite(.serialized) struct NetworkNamespaceTests {
    init() throws { try KernelTest.prepare() }

    @Test func createRunDelete() throws {
        let name = "\(KernelTest.prefix)-\(getpid())-ns-plain"
        let namespace = try NetworkNamespace.create(name)
        var deleted = false
        defer { if !deleted { try? namespace.delete() } }

        #expect(NetworkNamespace.list().contains(name))
        // iproute2 sees it as one of its own.
        #expect(try Command.check(["ip", "netns", "list"]).contains(name))
        // Inside: only a loopback, no interface of the host.
        let inside = try namespace.run { try Command.check(["ip", "-o", "link", "show"]) }
        let host = try Command.check(["ip", "-o", "link", "show"])
        #expect(inside.split(separator: "\n").count == 1 && inside.contains("lo:"))
        #expect(host.split(separator: "\n").count >= 1)
        // Our own thread: the namespace of if_nametoindex is the one entered.
        #expect(try namespace.run { try NetworkInterface.index(of: "lo") } == 1)

        try namespace.delete()
        deleted = true
        #expect(!NetworkNamespace.list().contains(name))
        #expect(throws: NetworkError.self) { _ = try NetworkNamespace(existing: name) }
    }

    @Test func duplicateAndInvalidNamesAreRefused() throws {
        let name = "\(KernelTest.prefix)-\(getpid())-ns-dup"
        let namespace = try NetworkNamespace.create(name)
        defer { try? namespace.delete() }
        let duplicate = #expect(throws: NetworkError.self) { _ = try NetworkNamespace.create(name) }
        #expect(duplicate?.errno == EEXIST)
        #expect(throws: NetworkError.self) { _ = try NetworkNamespace.create("a/b") }
        #expect(throws: NetworkError.self) { _ = try NetworkNamespace.create("") }
    }

    @Test func pinsStayVisibleInsideANamespace() throws {
        // ip netns exec remounts /sys; our setns thread does not.
        let pins = try PinDirectory()
        let name = "\(KernelTest.prefix)-\(getpid())-ns-pins"
        let namespace = try NetworkNamespace.create(name)
        defer { try? namespace.delete() }
        let visible = try namespace.run { FileManager.default.fileExists(atPath: pins.path) }
        #expect(visible)
    }

    @Test func errorsThrownInsideComeBackOut() throws {
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let error = #expect(throws: BPFError.self) { try a.run { _ = try NetworkInterface.index(of: "eth-missing") } }
        #expect(error?.operation.contains("eth-missing") == true)
    }

    /// `ip netns delete` unmounts a namespace before it unlinks its name, and `ip netns add`
    /// creates the name before it mounts: in between, the name is an empty file. Another
    /// process's namespace in that state is "gone", not an error of ours.
    @Test func aNamespaceBeingDeletedIsNotAnError() throws {
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let dying = "\(KernelTest.prefix)-\(getpid())-ns-dying"
        let path = "\(NetworkNamespace.directory)/\(dying)"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { unlink(path) }

        let error = #expect(throws: NetworkError.self) {
            _ = try NetworkStack(namespace: a).namespaceID(of: NetworkNamespace(existing: dying))
        }
        #expect(error?.code == "network.not-found")
        let whileDying = try RedirectReadiness.unready(in: a.name)
        unlink(path)
        #expect(whileDying == (try RedirectReadiness.unready(in: a.name)))
    }

    @Test func staleNamespacesOfDeadProcessesAreSwept() throws {
        // pid 2^22+1 is above pid_max's default ceiling: never a live process.
        let name = "\(KernelTest.prefix)-4194305-1-stale"
        _ = try NetworkNamespace.create(name)
        let removed = Topology.removeStale(prefix: KernelTest.prefix)
        #expect(removed.contains(name))
        #expect(!NetworkNamespace.list().contains(name))
    }
}
