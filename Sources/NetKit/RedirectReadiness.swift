import BPFKit
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
    public static func unready(in namespace: String?) throws -> [Unready] {
        let links = try self.links(in: namespace)
        var names: [Int: String] = [:]  // nsid → namespace name, as seen from `namespace`
        if links.contains(where: { $0.peerNamespaceID != nil }) {
            let listed = try JSONDecoder().decode([NamespaceID].self, from: Data(try ip(["-j", "netns", "list-id"], in: namespace).utf8))
            for entry in listed { if let name = entry.name { names[entry.nsid] = name } }
        }
        var result: [Unready] = []
        for link in links where link.linkinfo?.info_kind == "veth" {
            let peer: Link?, peerNamespace: String?
            if let nsid = link.peerNamespaceID {
                guard let name = names[nsid] else { continue }
                peerNamespace = name
                peer = try self.links(in: name).first { $0.ifindex == link.link_index }
            } else {
                peerNamespace = namespace
                peer = links.first { $0.ifname == link.link }
            }
            guard let peer else { continue }
            let place = peer.ifname + (peerNamespace.map { " (namespace \($0))" } ?? "")
            if !peer.flags.contains("UP") {
                result.append(Unready(interface: link.ifname, ifindex: UInt32(link.ifindex), why: "its veth peer \(place) is down"))
            } else if peer.xdp == nil, try !groEnabled(peer.ifname, in: peerNamespace) {
                result.append(Unready(interface: link.ifname, ifindex: UInt32(link.ifindex),
                                      why: "its veth peer \(place) has no XDP program and GRO off"))
            }
        }
        return result
    }

    /// What `ip -d -j link show` says of a link that matters here.
    struct Link: Decodable {
        struct Info: Decodable { var info_kind: String? }
        struct XDP: Decodable {}
        var ifindex: Int
        var ifname: String
        var flags: [String]
        var link: String?             // the peer's name, when it is in the same namespace
        var link_index: Int?          // the peer's ifindex, in its namespace
        var link_netnsid: Int?
        var linkinfo: Info?
        var xdp: XDP?
        var peerNamespaceID: Int? { link == nil ? link_netnsid : nil }
    }

    struct NamespaceID: Decodable {
        var nsid: Int
        var name: String?
    }

    static func links(in namespace: String?) throws -> [Link] {
        try JSONDecoder().decode([Link].self, from: Data(try ip(["-d", "-j", "link", "show"], in: namespace).utf8))
    }

    static func ip(_ arguments: [String], in namespace: String?) throws -> String {
        try Command.check(["ip"] + (namespace.map { ["-n", $0] } ?? []) + arguments)
    }

    /// ETHTOOL_GGRO on the interface, inside its namespace.
    static func groEnabled(_ interface: String, in namespace: String?) throws -> Bool {
        let query = { () throws -> Bool in
            let enabled = clinux_gro_enabled(interface)
            if enabled < 0 { throw BPFError(operation: "read GRO of \(interface) (ETHTOOL_GGRO)", errno: errno) }
            return enabled == 1
        }
        guard let namespace else { return try query() }
        return try NetworkNamespace(existing: namespace).run(query)
    }
}
