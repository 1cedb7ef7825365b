import BPFKit
import Foundation
import HikeRuntime
import NetKit
import Topology

/// What is up of a testbed, read from the kernel against what its state file says was made.
public struct TestbedStatus: Codable, Sendable {
    public var name: String
    public var phase: String
    /// The last step of `up` (what it was doing if it crashed).
    public var step: String
    public var pid: Int32
    public var upRunning: Bool
    public var startedAt: Date
    public var file: String?
    public var tmuxSession: String?
    public var tmuxRunning: Bool
    public var nodes: [Node]
    public var links: [Link]
    /// Everything the file describes is there and up.
    public var healthy: Bool
    /// Why it is not healthy, where a reason is known beyond the fields above (a HIKe instance gone).
    public var problems: [String] = []

    public struct Node: Codable, Sendable {
        public var name: String
        public var namespace: String
        public var exists: Bool
        public var interfaces: [Interface]
        public var routes: Int
        public var hike: Hike?
    }

    public struct Interface: Codable, Sendable {
        public var name: String
        public var exists: Bool
        /// The kernel's operstate (UP, DOWN, UNKNOWN for lo), or nil when missing.
        public var state: String?
        public var mac: String?
        public var addresses: [String]
        /// Addresses the file gives that the interface lacks.
        public var missing: [String]
    }

    public struct Link: Codable, Sendable {
        public var a: String
        public var b: String
        public var up: Bool
    }

    public struct Hike: Codable, Sendable {
        public var instance: String
        public var chains: [String]
        public var attachments: [Attachment]
    }

    public struct Attachment: Codable, Sendable {
        public var interface: String
        public var loader: String
        public var chain: String?
        /// The pinned bpf_link is there (the loader runs).
        public var attached: Bool
    }
}

extension TestbedEngine {
    /// The status of one testbed.
    public func status(_ name: String) throws -> TestbedStatus {
        let state = try store.read(name)
        var nodes: [TestbedStatus.Node] = []
        var interfaceUp: [String: Bool] = [:]
        var healthy = state.phase == .up
        var problems: [String] = []
        for node in state.spec.nodes {
            let namespace = "\(state.prefix)-\(state.name)-\(node.name)"
            let exists = state.namespaces.contains(namespace) && FileManager.default.fileExists(atPath: "\(NetworkNamespace.directory)/\(namespace)")
            var live: [String: LiveInterface] = [:]
            if exists {
                do {
                    live = try Self.interfaces(namespace: namespace)
                } catch {
                    // Every interface then shows as missing; the problem says why.
                    healthy = false
                    problems.append("node \(node.name): cannot read the interfaces of namespace \(namespace): \(error)")
                }
            }
            let linked = state.spec.links.flatMap { [$0.a, $0.b] }.filter { $0.node == node.name }.map(\.interface)
            var names = linked
            for interface in node.interfaces where !names.contains(interface.name) { names.append(interface.name) }
            let interfaces = names.map { interfaceName -> TestbedStatus.Interface in
                let expected = node.interface(interfaceName)?.addresses ?? []
                guard let found = live[interfaceName] else {
                    return .init(name: interfaceName, exists: false, state: nil, mac: nil, addresses: [], missing: expected)
                }
                let missing = expected.filter { address in !found.addresses.contains { Self.sameAddress($0, address) } }
                return .init(name: interfaceName, exists: true, state: found.state, mac: found.mac, addresses: found.addresses, missing: missing)
            }
            for interface in interfaces {
                let isUp = interface.exists && (interface.state == "UP" || interface.state == "UNKNOWN")
                interfaceUp["\(node.name):\(interface.name)"] = isUp
                if !isUp || !interface.missing.isEmpty { healthy = false }
            }
            var hike: TestbedStatus.Hike?
            if state.instances.contains(namespace) {
                // The state says the node runs hike: an instance that is gone or unreadable is unhealthy.
                do {
                    let instance = try HikeInstance(name: namespace)
                    guard FileManager.default.fileExists(atPath: instance.pinRoot) else {
                        throw TestbedError.state("its pins (\(instance.pinRoot)) are gone")
                    }
                    let registry = try instance.registry()
                    let attachments = registry.attachments.map { record in
                        TestbedStatus.Attachment(interface: record.interface, loader: record.loader, chain: record.chain,
                                                 attached: FileManager.default.fileExists(atPath: "\(record.directory)/link"))
                    }
                    if attachments.contains(where: { !$0.attached }) { healthy = false }
                    hike = .init(instance: namespace, chains: registry.chains.keys.sorted(), attachments: attachments)
                } catch {
                    healthy = false
                    problems.append("node \(node.name): HIKe instance \(namespace): \(error)")
                }
            }
            if !exists { healthy = false }
            nodes.append(.init(name: node.name, namespace: namespace, exists: exists, interfaces: interfaces,
                               routes: node.routes.count, hike: hike))
        }
        let links = state.spec.links.map { link in
            TestbedStatus.Link(a: link.a.description, b: link.b.description,
                               up: interfaceUp[link.a.description] == true && interfaceUp[link.b.description] == true)
        }
        let tmuxRunning = state.tmuxSession.map { !Tmux.windows(session: $0).isEmpty } ?? false
        if state.tmuxSession != nil && !tmuxRunning { healthy = false }
        return TestbedStatus(name: state.name, phase: state.phase.rawValue, step: state.step, pid: state.pid,
                             upRunning: state.upIsRunning, startedAt: state.startedAt, file: state.file,
                             tmuxSession: state.tmuxSession, tmuxRunning: tmuxRunning, nodes: nodes, links: links,
                             healthy: healthy, problems: problems)
    }

    /// Every testbed with a state file.
    public func list() -> [TestbedState] {
        store.names().compactMap { try? store.read($0) }
    }

    /// State files that cannot be read (name, why): `list` leaves them out, `hike testbed list` shows them as broken.
    public func unreadable() -> [(name: String, reason: String)] {
        store.names().compactMap { name in
            do {
                _ = try store.read(name)
                return nil
            } catch {
                return (name, String(describing: error))
            }
        }
    }

    struct LiveInterface {
        var state: String
        var mac: String?
        var addresses: [String]
    }

    /// The interfaces of a namespace with their state, MAC and addresses.
    static func interfaces(namespace: String) throws(NetworkError) -> [String: LiveInterface] {
        let stack = try NetworkStack(namespaceNamed: namespace)
        let links = try stack.links(), addresses = try stack.addresses()
        var result: [String: LiveInterface] = [:]
        for link in links {
            result[link.name] = LiveInterface(state: link.operationalState, mac: link.mac?.description,
                                              addresses: (addresses[link.name] ?? []).map(\.description))
        }
        return result
    }

    /// Whether two `address/length` texts name the same address (IPv6 has many spellings).
    static func sameAddress(_ a: String, _ b: String) -> Bool {
        guard let first = try? InterfaceAddress(parsing: a), let second = try? InterfaceAddress(parsing: b) else { return a == b }
        return first == second
    }
}
