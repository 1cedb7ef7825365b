import BPFKit
import Foundation
import NetKit
import Topology

/// Commands inside a node's namespace. Processes are started from a thread that entered the
/// namespace with setns(2), so they inherit it and nothing remounts /sys (pins stay visible),
/// unlike `ip netns exec`.
public enum NodeShell {
    /// Runs a command inside the namespace to completion.
    public static func run(_ arguments: [String], in namespace: NetworkNamespace) throws -> CommandResult {
        try namespace.run { try Command.start(arguments) }.wait()
    }

    /// Starts a command inside the namespace in the background.
    public static func start(_ arguments: [String], in namespace: NetworkNamespace) throws -> RunningCommand {
        try namespace.run { try Command.start(arguments) }
    }

    /// Runs a shell command line (`sh -c`) inside the namespace.
    public static func shell(_ line: String, in namespace: NetworkNamespace) throws -> CommandResult {
        try run(["sh", "-c", line], in: namespace)
    }

    /// Replaces this process with the command, inside the namespace (`hike testbed exec`).
    /// Returns only by throwing.
    public static func exec(_ arguments: [String], in namespace: NetworkNamespace) throws -> Never {
        guard let name = arguments.first else { throw TestbedError.state("exec: no command given") }
        guard let path = Command.find(name) else {
            throw TestbedError.state("exec: \(name) is not installed (not found in PATH)")
        }
        try namespace.run {
            // exec from this thread: the new program keeps the namespace the thread entered.
            var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            execv(path, &argv)
            let reason = String(cString: strerror(errno))
            for pointer in argv { free(pointer) }
            throw TestbedError.state("exec \(path): \(reason)")
        }
        throw TestbedError.state("exec \(path) returned")
    }

    /// Runs `ip` inside the namespace (`ip -n`) and returns what it printed.
    @discardableResult
    static func ip(_ arguments: [String], in namespace: NetworkNamespace) throws -> String {
        try Command.check(["ip", "-n", namespace.name] + arguments)
    }

    /// Writes a sysctl of the namespace (/proc/sys/net shows the namespace of the thread that opens it).
    static func sysctl(_ key: String, _ value: String, in namespace: NetworkNamespace) throws {
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        try namespace.run {
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw TestbedError.state("sysctl \(key): no \(path) in the node (check the name and the interface)")
            }
            defer { try? handle.close() }
            do {
                try handle.write(contentsOf: Data(value.utf8))
            } catch {
                throw TestbedError.state("sysctl \(key)=\(value): the kernel refused the value (\(error.localizedDescription))")
            }
        }
    }

    /// The processes whose network namespace is the one mounted at path (as `ip netns pids`).
    static func processes(inNamespaceAt path: String) -> [Int32] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        let target = "net:[\(info.st_ino)]"
        let own = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            pid != own && (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")) == target
        }
    }
}
