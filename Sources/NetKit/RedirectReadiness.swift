import CLinux
import Foundation

/// Which interfaces of a namespace cannot take XDP_REDIRECTed frames. A veth hands redirected
/// frames straight to its peer's NAPI, which runs only while the peer is up and has an XDP
/// program or GRO on; otherwise the kernel drops them after the program said XDP_REDIRECT, and
/// the only trace is the veth's drop counter. Other devices are taken as able to (their drivers
/// implement ndo_xdp_xmit or refuse the redirect at once).
public enum RedirectReadiness {
    /// A veth that drops redirected frames, and why, in words.
    public struct Unready: Sendable, Equatable, Codable {
        public var interface: String
        public var ifindex: UInt32
        public var why: String
    }

    /// The veths of `namespace` (nil: this process's) whose peer cannot receive redirected
    /// frames. A peer in a namespace without a name (a container's) cannot be inspected and is
    /// taken as ready.
    public static func unready(in namespace: String?) throws(NetworkError) -> [Unready] {
        let stack = try NetworkStack(namespaceNamed: namespace)
        let links = try stack.links()
        var names: [Int32: String] = [:]  // nsid → namespace name, as seen from `namespace`
        if links.contains(where: { $0.kind == "veth" && $0.peerNamespaceID != nil }) {
            for name in NetworkNamespace.list() where name != namespace {
                // Another process may delete its namespaces while we look: those are not peers.
                guard let other = try? NetworkNamespace(existing: name) else { continue }
                do {
                    if let id = try stack.namespaceID(of: other) { names[id] = name }
                } catch where error.code == "network.not-found" {
                    continue
                }
            }
        }
        var result: [Unready] = []
        var peerLinks: [String: [LinkState]] = [:]  // one dump per peer namespace
        for link in links where link.kind == "veth" {
            guard let peerIndex = link.peerIndex else { continue }
            let peer: LinkState?, peerNamespace: String?
            if let id = link.peerNamespaceID {
                guard let name = names[id] else { continue }
                peerNamespace = name
                if peerLinks[name] == nil { peerLinks[name] = try NetworkStack(namespaceNamed: name).links() }
                peer = peerLinks[name]?.first { $0.index == peerIndex }
            } else {
                peerNamespace = namespace
                peer = links.first { $0.index == peerIndex }
            }
            guard let peer else { continue }
            let place = peer.name + (peerNamespace.map { " (namespace \($0))" } ?? "")
            if !peer.isUp {
                result.append(Unready(interface: link.name, ifindex: UInt32(link.index), why: "its veth peer \(place) is down"))
            } else if !peer.hasXDP, try !groEnabled(peer.name, in: peerNamespace) {
                result.append(Unready(interface: link.name, ifindex: UInt32(link.index),
                                      why: "its veth peer \(place) has no XDP program and GRO off"))
            }
        }
        return result
    }

    /// ETHTOOL_GGRO on the interface, inside its namespace.
    static func groEnabled(_ interface: String, in namespace: String?) throws(NetworkError) -> Bool {
        let query = { () throws(NetworkError) -> Bool in
            let enabled = clinux_gro_enabled(interface)
            if enabled < 0 { throw NetworkError(operation: "read GRO of \(interface) (ETHTOOL_GGRO)", errno: errno) }
            return enabled == 1
        }
        guard let namespace else { return try query() }
        do {
            return try NetworkNamespace(existing: namespace).run(query)
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(operation: "read GRO of \(interface) in namespace \(namespace)", errno: ENOENT, kernelMessage: "\(error)")
        }
    }
}
