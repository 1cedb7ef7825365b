import BPFKit
import Foundation
import NetKit
import Synchronization

/// Network namespaces joined by veth pairs, with addresses and routes.
///
/// Every namespace gets a name unique to this process and topology (`<prefix>-<pid>-<n>-<label>`),
/// so topologies of parallel tests never collide. `destroy()` — also run on deinit — deletes the
/// namespaces, and with them every interface, address, route and attached program inside.
public final class Topology: @unchecked Sendable {  // mutated only by its owner's thread
    /// The first part of every namespace name; also what `removeStale` looks for.
    public let prefix: String
    public private(set) var namespaces: [NetworkNamespace] = []
    private let tag: String

    private static let counter = Atomic<Int>(0)

    public init(prefix: String = "hike") {
        let n = Self.counter.add(1, ordering: .relaxed).newValue
        self.prefix = prefix
        self.tag = "\(prefix)-\(getpid())-\(n)"
    }

    deinit { destroy() }

    /// Creates a namespace with its loopback up and IPv6 duplicate address detection off. label is what the caller calls it (`h1`, `r1`).
    @discardableResult
    public func addNamespace(_ label: String) throws -> NetworkNamespace {
        let namespace = try NetworkNamespace.create("\(tag)-\(label)")
        namespaces.append(namespace)
        try NetworkStack(namespace: namespace).setUp("lo")
        // `nodad` covers the addresses we add, not the link-local ones the kernel makes: without
        // this, traffic through a router waits on duplicate address detection of its fe80::.
        for scope in ["all", "default"] {
            try sysctl("net.ipv6.conf.\(scope).accept_dad", "0", in: namespace)
        }
        return namespace
    }

    /// Creates a veth pair with one end in each namespace (the names may be equal: interface
    /// names are per namespace) and brings both ends up.
    public func addVethPair(_ a: NetworkNamespace, _ aName: String, _ b: NetworkNamespace, _ bName: String,
                            mtu: Int? = nil) throws {
        try NetworkStack().addVethPair(.init(aName, in: a, mtu: mtu), .init(bName, in: b, mtu: mtu))
        try NetworkStack(namespace: a).setUp(aName)
        try NetworkStack(namespace: b).setUp(bName)
    }

    /// Adds an address (`fc00::1/64`, `10.0.0.1/24`). IPv6 addresses skip duplicate address
    /// detection so they are usable at once.
    public func addAddress(_ cidr: String, interface: String, in namespace: NetworkNamespace) throws {
        try NetworkStack(namespace: namespace).addAddress(InterfaceAddress(parsing: cidr), interface: interface)
    }

    /// Adds a route, written as after `ip route add` (`-6` is added for IPv6 destinations).
    public func addRoute(_ route: [String], in namespace: NetworkNamespace) throws {
        let family = route.first?.contains(":") == true ? ["-6"] : []
        try ip(family + ["route", "add"] + route, in: namespace)
    }

    /// Sets a sysctl inside the namespace (`net.ipv6.conf.all.forwarding`, "1").
    public func sysctl(_ key: String, _ value: String, in namespace: NetworkNamespace) throws {
        // /proc/sys/net shows the namespace of the thread that opens it.
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        try namespace.run {
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw CommandError(command: ["sysctl", "\(key)=\(value)"], status: 1,
                                   stderr: "no \(path) in namespace \(namespace.name)", stdout: "")
            }
            defer { try? handle.close() }
            try handle.write(contentsOf: Data(value.utf8))
        }
    }

    /// Runs `ip` inside the namespace and returns what it printed.
    @discardableResult
    public func ip(_ arguments: [String], in namespace: NetworkNamespace) throws -> String {
        try Command.check(["ip", "-n", namespace.name] + arguments)
    }

    /// Deletes every namespace of this topology. Safe to call twice.
    public func destroy() {
        for namespace in namespaces.reversed() {
            do {
                try namespace.delete()
            } catch {
                // Nothing else can be done here; say so rather than leave it silently behind.
                FileHandle.standardError.write(Data("topology: could not delete \(namespace): \(error)\n".utf8))
            }
        }
        namespaces.removeAll()
    }

    /// Deletes namespaces that earlier runs with this prefix left behind when their process
    /// died before cleaning up (the pid in the name no longer runs). Returns their names.
    @discardableResult
    public static func removeStale(prefix: String = "hike") -> [String] {
        var removed: [String] = []
        for name in NetworkNamespace.list() where name.hasPrefix(prefix + "-") {
            let fields = name.dropFirst(prefix.count + 1).split(separator: "-")
            guard let pidText = fields.first, let pid = Int32(pidText), kill(pid, 0) != 0, errno == ESRCH,
                  let namespace = try? NetworkNamespace(existing: name) else { continue }
            if (try? namespace.delete()) != nil { removed.append(name) }
        }
        return removed
    }
}

extension Topology {
    /// Two namespaces `a` and `b` joined by `veth0` ↔ `veth0`, with fc00::1/64 and fc00::2/64.
    public static func pair(prefix: String = "hike") throws -> (topology: Topology, a: NetworkNamespace, b: NetworkNamespace) {
        let topology = Topology(prefix: prefix)
        let a = try topology.addNamespace("a")
        let b = try topology.addNamespace("b")
        try topology.addVethPair(a, "veth0", b, "veth0")
        try topology.addAddress("fc00::1/64", interface: "veth0", in: a)
        try topology.addAddress("fc00::2/64", interface: "veth0", in: b)
        return (topology, a, b)
    }
}
