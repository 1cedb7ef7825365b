import BPFKit
import Foundation
import HikeControl
import HikeRuntime
import NetKit
import SRv6
import Topology
import Wing

/// Brings testbeds up and down. Each node is a network namespace `<prefix>-<name>-<node>` and,
/// when it runs hike, a HIKe instance of the same name, so testbeds (and tests) run side by side.
///
/// `up` is all or nothing: it records each thing in the state file before making it, and on any
/// failure removes everything it made. `down` removes everything the state file records, also
/// after a crash of `up`: processes left inside the nodes, HIKe instances (links, pins, registry),
/// namespaces (and with them their veths, routes and attached programs), the tmux session.
public struct TestbedEngine: Sendable {
    public static let defaultPrefix = "hike-tb"

    public let prefix: String
    public let store: TestbedStateStore

    public init(prefix: String = TestbedEngine.defaultPrefix, store: TestbedStateStore = TestbedStateStore()) {
        self.prefix = prefix
        self.store = store
    }

    /// The namespace (and HIKe instance) name of a node.
    public func namespaceName(testbed: String, node: String) -> String { "\(prefix)-\(testbed)-\(node)" }

    /// What `up` may do besides the topology.
    public struct UpOptions: Sendable {
        /// Start a tmux session with a window per node; each runs this command (the node's name
        /// is appended). nil: no session.
        public var tmuxShell: (@Sendable (_ node: String) -> [String])?
        /// Reports each step as it starts.
        public var progress: (@Sendable (String) -> Void)?
        /// Asked before each step: true (Ctrl-C) makes `up` remove what it made, on its own
        /// thread, and throw `.interrupted` (a signal handler tearing down meanwhile would race).
        public var shouldStop: (@Sendable () -> Bool)?
        /// The command that keeps a wing client's intent controller asked (`hike wing session`),
        /// started in the background, from this namespace, for each client whose configuration
        /// enables hawkeye; nil: such a client is refused.
        public var wingSession: (@Sendable (WingSite) -> [String])?
        public init(tmuxShell: (@Sendable (String) -> [String])? = nil, progress: (@Sendable (String) -> Void)? = nil,
                    shouldStop: (@Sendable () -> Bool)? = nil, wingSession: (@Sendable (WingSite) -> [String])? = nil) {
            self.tmuxShell = tmuxShell
            self.progress = progress
            self.shouldStop = shouldStop
            self.wingSession = wingSession
        }
    }

    // MARK: Up

    /// Brings the topology up under `name` (default: the file's `name:`). Returns the state.
    @discardableResult
    public func up(_ file: TestbedFile, name: String? = nil, options: UpOptions = UpOptions()) throws -> TestbedState {
        guard let name = name ?? file.spec.name else {
            throw TestbedError.invalid(file: file.path, line: nil, column: nil, message: "the testbed has no `name:`; give one with --name")
        }
        if let issue = TestbedValidator.nameIssue(name) { throw TestbedError.state("testbed name '\(name)': \(issue)") }
        if let issue = TestbedValidator.nameIssue(prefix) { throw TestbedError.state("prefix '\(prefix)': \(issue)") }
        let spec = file.spec
        if FileManager.default.fileExists(atPath: store.path(name)) {
            throw TestbedError.alreadyUp(name: name, stateFile: store.path(name))
        }

        // Everything that can be checked without making anything is checked first.
        let catalog = try ProgramCatalog()
        var scripts: [String: [PreparedScript]] = [:]
        var srv6Configurations: [String: SRv6Configuration] = [:]
        var wingConfigurations: [String: WingConfiguration] = [:]
        for node in spec.nodes {
            if let wing = node.wing, let config = wing.config {
                do {
                    wingConfigurations[node.name] = try WingConfiguration.load(file: file.resolve(config))
                } catch {
                    throw TestbedError.invalid(file: file.path, line: nil, column: nil,
                                               message: "node \(node.name): wing config \(config): \(error)")
                }
            }
            if let srv6 = node.srv6 {
                // Parsed and validated now; applied (`hike srv6 apply`) in the node's namespace later.
                do {
                    srv6Configurations[node.name] = try SRv6Configuration.load(file: file.resolve(srv6))
                } catch {
                    throw TestbedError.invalid(file: file.path, line: nil, column: nil,
                                               message: "node \(node.name): srv6 \(srv6): \(error)")
                }
            }
            for entry in node.hike?.maps ?? [] {
                if let program = entry.program, (try? catalog.entry(program))?.kind != .program {
                    throw TestbedError.invalid(file: file.path, line: nil, column: nil,
                                               message: "node \(node.name): map \(entry.map): no program '\(program)' in hike's catalog")
                }
            }
            scripts[node.name] = try (node.hike?.scripts ?? []).map { script in
                try PreparedScript.prepare(script, path: file.resolve(script.file), catalog: catalog, node: node)
            }
        }
        // Kernel SRv6 routes on a kernel without them would fail half-way through up.
        let kernelRoutes = spec.nodes.flatMap { node in node.routes.filter { $0.seg6 != nil || $0.seg6local != nil }.map { (node.name, $0) } }
        if let (node, route) = kernelRoutes.first, try !KernelSRv6.isAvailable {
            throw TestbedError.invalid(file: file.path, line: nil, column: nil,
                                       message: "node \(node): the route to \(route.to ?? "?") is a kernel \(route.seg6 != nil ? "seg6" : "seg6local") route "
                                       + "(\(kernelRoutes.count) in the file), but this kernel has no seg6/seg6local routes "
                                       + "(CONFIG_IPV6_SEG6_LWTUNNEL): run those behaviours in hike instead (a node's srv6: file, or "
                                       + "srv6 programs in its scripts, as examples/vpn/demo-xdp.yaml does)")
        }
        let session = options.tmuxShell == nil ? nil : "\(prefix)-\(name)"
        for node in spec.nodes {
            let namespace = namespaceName(testbed: name, node: node.name)
            if FileManager.default.fileExists(atPath: "\(NetworkNamespace.directory)/\(namespace)") {
                throw TestbedError.collision("namespace \(namespace) already exists and is not testbed \(name)'s "
                    + "(another testbed of that name without a state file? delete it with ip netns del \(namespace))")
            }
            if node.hike != nil || node.srv6 != nil {
                let probe = try HikeInstance(name: namespace, catalog: catalog)
                for path in [probe.pinRoot, probe.stateDirectory] where FileManager.default.fileExists(atPath: path) {
                    throw TestbedError.collision("HIKe instance \(namespace) already exists (\(path)); remove it with hike reset --instance \(namespace)")
                }
            }
        }
        if let session {
            guard Command.find("tmux") != nil else { throw TestbedError.state("--tmux needs tmux: apt-get install tmux") }
            if (try? Tmux.run(["has-session", "-t", "=\(session)"])) != nil {
                throw TestbedError.collision("tmux session \(session) already exists")
            }
        }

        var state = TestbedState(name: name, prefix: prefix, file: URL(fileURLWithPath: file.path).standardizedFileURL.path,
                                 pid: getpid(), pidStartTime: TestbedState.process(getpid())?.startTime, phase: .comingUp, step: "start", startedAt: Date(), spec: spec)
        try store.claim(state)
        var step = "start"
        struct StopRequested: Error {}
        func begin(_ what: String) throws {
            if options.shouldStop?() == true { throw StopRequested() }
            step = what
            state.step = what
            try store.write(state)
            options.progress?(what)
        }
        do {
            var namespaces: [String: NetworkNamespace] = [:]
            for node in spec.nodes {
                let namespaceName = namespaceName(testbed: name, node: node.name)
                try begin("namespace \(namespaceName)")
                let namespace = try NetworkNamespace.create(namespaceName)
                // Recorded only once created: a namespace that someone else made (EEXIST) is not ours to delete.
                state.namespaces.append(namespaceName)
                namespaces[node.name] = namespace
                try store.write(state)
                try NetworkStack(namespace: namespace).setUp("lo")
                // Addresses are usable at once: no duplicate address detection (link-local ones included).
                for scope in ["all", "default"] { try NodeShell.sysctl("net.ipv6.conf.\(scope).accept_dad", "0", in: namespace) }
            }
            func namespace(_ node: String) throws -> NetworkNamespace {
                guard let namespace = namespaces[node] else { throw TestbedError.state("node \(node) has no namespace") }
                return namespace
            }
            for link in spec.links {
                try begin("link \(link.a) — \(link.b)")
                let a = try namespace(link.a.node), b = try namespace(link.b.node)
                func end(_ end: LinkSpec.Endpoint, in namespace: NetworkNamespace) throws -> NetworkStack.VethEnd {
                    let interface = spec.node(end.node)?.interface(end.interface)
                    return .init(end.interface, in: namespace, mtu: interface?.mtu, mac: try interface?.mac.map(MACAddress.init(parsing:)))
                }
                try NetworkStack().addVethPair(end(link.a, in: a), end(link.b, in: b))
                try NetworkStack(namespace: a).setUp(link.a.interface)
                try NetworkStack(namespace: b).setUp(link.b.interface)
            }
            for node in spec.nodes {
                let namespace = try namespace(node.name)
                for sysctl in node.sysctls {
                    try begin("node \(node.name): sysctl \(sysctl.key)=\(sysctl.value)")
                    try NodeShell.sysctl(sysctl.key, sysctl.value, in: namespace)
                }
                for interface in node.interfaces {
                    if interface.name == "lo", let mtu = interface.mtu {
                        try NetworkStack(namespace: namespace).setMTU("lo", mtu)
                    }
                    for address in interface.addresses {
                        try begin("node \(node.name): address \(address) on \(interface.name)")
                        try NetworkStack(namespace: namespace).addAddress(InterfaceAddress(parsing: address), interface: interface.name)
                    }
                }
                for neighbour in node.neighbours {
                    try begin("node \(node.name): neighbour \(neighbour.address) lladdr \(neighbour.lladdr)")
                    try NodeShell.ip(["neigh", "replace", neighbour.address, "lladdr", neighbour.lladdr, "dev", neighbour.dev,
                                      "nud", "permanent"], in: namespace)
                }
                for route in node.routes {
                    try begin("node \(node.name): route \(route.text)")
                    try NodeShell.ip(route.familyFlag + ["route", "add"] + route.arguments, in: namespace)
                }
            }
            for node in spec.nodes where node.hike != nil || node.srv6 != nil {
                let namespace = try namespace(node.name)
                state.instances.append(namespace.name)
                try begin("node \(node.name): HIKe instance \(namespace.name)")
                let hike = try HikeInstance(name: namespace.name, catalog: catalog)
                for entry in node.hike?.maps ?? [] {
                    try begin("node \(node.name): map \(entry.map) [\(entry.key)]")
                    try entry.write(into: hike)
                }
                for script in scripts[node.name] ?? [] {
                    try begin("node \(node.name): script \(script.spec.file)")
                    try script.load(into: hike, namespace: namespace)
                }
                if let srv6 = node.srv6, var configuration = srv6Configurations[node.name] {
                    try begin("node \(node.name): srv6 \(srv6)")
                    // The node's namespace, whatever the file says: testbed names are generated.
                    configuration.namespace = namespace.name
                    _ = try DataPlane(instance: hike).applySRv6(configuration)
                }
            }
            // Each node's apply judged its neighbours before they had their XDP programs.
            for node in spec.nodes where node.srv6 != nil {
                let namespace = try namespace(node.name)
                try begin("node \(node.name): interfaces XDP can redirect to")
                try DataPlane(instance: try HikeInstance(name: namespace.name, catalog: catalog)).refreshRedirectMarks()
            }
            for node in spec.nodes {
                guard let wing = node.wing else { continue }
                let namespace = try namespace(node.name)
                let site = WingSite(interface: wing.interface, namespace: namespace.name)
                state.wings = (state.wings ?? []) + [site]
                try begin("node \(node.name): hike wing \(wing.role.rawValue) on \(wing.interface)")
                let mode: XDPMode = wing.mode == "generic" ? .generic : .native
                switch wing.role {
                case .client:
                    guard let configuration = wingConfigurations[node.name] else {
                        throw TestbedError.state("a wing client needs config: (HawkWing's configuration file)")
                    }
                    try WingHost.startClient(configuration, on: site, xdpMode: mode, configFile: wing.config.map(file.resolve),
                                             microSIDs: try wing.usid.map { text throws(SRv6Error) in try MicroSIDFormat(parsing: text) })
                    if configuration.hawkeye != nil {
                        guard let command = options.wingSession?(site) else {
                            throw TestbedError.state("the wing client's configuration enables hawkeye, and nothing here can ask "
                                + "its controller: bring the testbed up with `hike testbed up`")
                        }
                        let log = "\(store.directory)/\(state.name).\(node.name).wing-session.log"
                        state.wingSessions = (state.wingSessions ?? []) + [try BackgroundProcess.start(command, log: log)]
                    }
                case .server:
                    try WingHost.startServer(on: site, xdpMode: mode, flowIdleSeconds: wing.flowIdle ?? 300,
                                             microSIDs: try wing.usid.map { text throws(SRv6Error) in try MicroSIDFormat(parsing: text) })
                }
            }
            for node in spec.nodes {
                let namespace = try namespace(node.name)
                for command in node.commands {
                    try begin("node \(node.name): command `\(command)`")
                    let result = try NodeShell.shell(command, in: namespace)
                    if result.status != 0 {
                        let said = (result.stderr.isEmpty ? result.stdout : result.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
                        throw TestbedError.state("exited with status \(result.status)" + (said.isEmpty ? "" : ": " + said))
                    }
                }
            }
            if let session, let shell = options.tmuxShell {
                state.tmuxSession = session
                try begin("tmux session \(session)")
                try Tmux.start(session: session, windows: spec.nodes.map { ($0.name, shell($0.name)) })
            }
            if options.shouldStop?() == true { throw StopRequested() }
            state.phase = .up
            state.step = "up"
            try store.write(state)
            return state
        } catch {
            let reason = String(describing: error)
            var leftovers = teardown(state)
            if leftovers.isEmpty {
                do { try store.remove(name) } catch { leftovers.append("state file \(store.path(name)): \(error)") }
            } else {
                state.phase = .broken
                do { try store.write(state) } catch { leftovers.append("state file \(store.path(name)) (not marked broken): \(error)") }
            }
            if error is StopRequested { throw TestbedError.interrupted(step: step, leftovers: leftovers) }
            throw TestbedError.upFailed(step: step, reason: reason, leftovers: leftovers)
        }
    }

    // MARK: Down

    /// Removes everything the testbed's state file records, then the state file. Returns what it
    /// removed. If something cannot be removed, the state file stays and the error says what.
    @discardableResult
    public func down(_ name: String) throws -> [String] {
        var state = try store.read(name)
        if state.phase == .comingUp && state.pid != getpid() && state.upIsRunning {
            throw TestbedError.state("`up` of '\(name)' is still running (pid \(state.pid)); stop it first")
        }
        var removed: [String] = []
        let leftovers = teardown(state, removed: &removed)
        guard leftovers.isEmpty else {
            state.phase = .broken
            var all = leftovers
            do { try store.write(state) } catch { all.append("state file \(store.path(name)) (not marked broken): \(error)") }
            throw TestbedError.downIncomplete(name: name, leftovers: all)
        }
        try store.remove(name)
        return removed
    }

    func teardown(_ state: TestbedState) -> [String] {
        var removed: [String] = []
        return teardown(state, removed: &removed)
    }

    /// Removes what state records, in reverse order of making; returns what it could not remove.
    func teardown(_ state: TestbedState, removed: inout [String]) -> [String] {
        var leftovers: [String] = []
        if let session = state.tmuxSession, Command.find("tmux") != nil, (try? Tmux.run(["has-session", "-t", "=\(session)"])) != nil {
            do {
                try Tmux.run(["kill-session", "-t", "=\(session)"])
                removed.append("tmux session \(session)")
            } catch {
                leftovers.append("tmux session \(session): \(error)")
            }
        }
        // Processes still inside the nodes (commands of a crashed `up`, shells) keep a namespace
        // and its veths alive after its name is gone: end them first.
        for name in state.namespaces {
            let path = "\(NetworkNamespace.directory)/\(name)"
            for pid in NodeShell.processes(inNamespaceAt: path) where kill(pid, SIGKILL) == 0 {
                removed.append("process \(pid) in \(name)")
            }
        }
        for session in state.wingSessions ?? [] {
            let wasRunning = session.isRunning
            if !session.stop() {
                leftovers.append("hike wing session: process \(session.pid) does not end")
            } else if wasRunning {
                removed.append("hike wing session (process \(session.pid))")
            }
        }
        for site in (state.wings ?? []).reversed() where WingSite.all().contains(site) {
            do {
                try WingHost.stop(site)
                removed.append("hike wing on \(site)")
            } catch {
                leftovers.append("hike wing on \(site): \(error)")
            }
        }
        for name in state.instances.reversed() {
            do {
                let hike = try HikeInstance(name: name)
                let existed = [hike.pinRoot, hike.stateDirectory].contains { FileManager.default.fileExists(atPath: $0) }
                try hike.reset()
                if existed { removed.append("HIKe instance \(name)") }
            } catch {
                leftovers.append("HIKe instance \(name): \(error)")
            }
        }
        for name in state.namespaces.reversed() {
            let path = "\(NetworkNamespace.directory)/\(name)"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do {
                try NetworkNamespace(existing: name).delete()
                removed.append("namespace \(name)")
            } catch {
                leftovers.append("namespace \(name): \(error)")
            }
        }
        return leftovers
    }

    // MARK: Exec

    /// The namespace of a node of a testbed that is up.
    public func namespace(testbed: String, node: String) throws -> NetworkNamespace {
        let state = try store.read(testbed)
        guard state.spec.node(node) != nil else {
            throw TestbedError.unknownNode(node, testbed: testbed, known: state.spec.nodes.map(\.name))
        }
        return try NetworkNamespace(existing: "\(state.prefix)-\(state.name)-\(node)")
    }

    /// Runs a command inside a node and waits for it.
    public func run(testbed: String, node: String, _ arguments: [String]) throws -> CommandResult {
        try NodeShell.run(arguments, in: namespace(testbed: testbed, node: node))
    }

    /// The HIKe instance of a node (nil when the node runs no hike).
    public func instance(testbed: String, node: String) throws -> HikeInstance? {
        let state = try store.read(testbed)
        let name = "\(state.prefix)-\(state.name)-\(node)"
        guard state.instances.contains(name) else { return nil }
        return try HikeInstance(name: name)
    }
}
