import BPFKit
import Foundation
import HikeRuntime
import HikeVM
import NetKit

/// What an apply changes, entry by entry (LPM keys), and where the loader goes.
public struct ApplyPlan: Sendable, Equatable, Codable {
    public var addedSIDs: [String] = []
    public var changedSIDs: [String] = []
    public var removedSIDs: [String] = []
    public var unchangedSIDs: [String] = []
    public var addedPolicies: [String] = []
    public var changedPolicies: [String] = []
    public var removedPolicies: [String] = []
    public var unchangedPolicies: [String] = []
    public var attach: [String] = []
    public var detach: [String] = []
    /// Whether the kernel's own seg6/seg6local routes mirror the entries, and why.
    public var kernelRoutes = ""
    /// Interfaces of the node that XDP cannot redirect to (a veth whose peer has no XDP program
    /// and GRO off), each with why and what to do: packets routed there go to the kernel
    /// (reason tx_unready) instead of being dropped by it.
    public var warnings: [String] = []

    /// True when the configuration is what is installed already.
    public var changesNothing: Bool {
        addedSIDs.isEmpty && changedSIDs.isEmpty && removedSIDs.isEmpty && addedPolicies.isEmpty
            && changedPolicies.isEmpty && removedPolicies.isEmpty && attach.isEmpty && detach.isEmpty
    }
}

/// One node's SRv6 data plane in a HIKe instance: installs a configuration into the srv6
/// package's maps, one chain per local SID and per policy, the srv6_localsid loader's LPM maps
/// and the kernel's mirror routes; reads the counters back.
///
/// Atomicity: everything is validated (including the interfaces and the namespace in the
/// kernel) before the first change. Then, make before break: a new or changed entry gets a
/// fresh index; its map value and chain are written before any LPM entry points at them, and
/// the LPM entry is switched with one map update (a packet sees the old or the new behaviour,
/// never a half-written value). Removed entries are unlinked from the LPM before their chain
/// and value are cleared. If a step fails, the steps done so far are undone in reverse order.
/// Entries in different LPM maps (one per interface) switch one after another, not together.
public final class SRv6Node {
    public let hike: HikeInstance

    public init(instance: HikeInstance) {
        self.hike = instance
    }

    static let kroute = "ip6_kroute"

    /// A desired entry: its key, value and program, before indices are chosen.
    struct Desired {
        var prefix: String
        var destination: DestinationPrefix
        var lpm6: IPv6Network?
        var lpm4: IPv4Network?
        var program: String
        var value: [UInt8]
        var summary: String
        var kernelRoute: Route?
        /// SR proxies: the srv6_proxy_cache value (End.AS: its headers; End.AD: empty until
        /// learned) and IFACE-IN, whose loader sends every frame to this SID's chain.
        var proxyCache: [UInt8]? = nil
        var proxyInterface: String? = nil

        /// What tells an installed entry from a changed one (AppliedState.Entry.value).
        var fingerprint: String { hex(value) + (proxyCache.map(hex) ?? "") }
    }

    // MARK: Planning

    /// Whether this apply mirrors entries as kernel routes, with the reason in words: `auto`
    /// asks the kernel, `true` on a kernel without seg6 is refused before anything changes.
    static func mirrorsKernelRoutes(_ setting: KernelRoutesSetting) throws(SRv6Error) -> (Bool, String, Flavours) {
        if setting == .off { return (false, "none (kernel-routes: false)", []) }
        let support: KernelSRv6.Support
        do { support = try KernelSRv6.support } catch {
            throw .apply("cannot tell whether the kernel has seg6/seg6local routes (for kernel-routes: \(setting.rawValue)): \(error)")
        }
        if support.available {
            let flavours = support.endFlavours.compactMap(Flavours.parse).reduce(into: Flavours()) { $0.formUnion($1) }
            let missing = KernelSRv6.probedFlavours.filter { !support.endFlavours.contains($0) }
            return (true, "kernel seg6/seg6local mirror routes (kernel-routes: \(setting.rawValue))"
                        + (missing.isEmpty ? "" : "; none for SIDs with the flavour \(missing.joined(separator: ", ")), which this kernel lacks"),
                    flavours)
        }
        if setting == .on {
            throw .apply("kernel-routes: true, but this kernel has no seg6/seg6local routes (\(support.reason)); "
                         + "set kernel-routes: auto or false to run SRv6 in XDP alone")
        }
        return (false, "none: this kernel has no seg6/seg6local routes (kernel-routes: auto); "
                + "what XDP does not finish is dropped and counted, or handed to the kernel as plain IP once processed", [])
    }

    /// A map value's bytes, laid out by the srv6 objects' BTF.
    private func encoded(_ encode: () throws(MapJSONError) -> [UInt8]) throws(SRv6Error) -> [UInt8] {
        do { return try encode() } catch { throw .apply("cannot lay out \(error)") }
    }

    /// Checks what the configuration needs from the kernel (its namespace, its interfaces, its
    /// SRv6 routes) and turns it into map values. Changes nothing.
    func desired(_ configuration: SRv6Configuration) throws(SRv6Error) -> (sids: [Desired], policies: [Desired], kernelRoutes: String) {
        let (mirrors, kernelRoutes, kernelEndFlavours) = try Self.mirrorsKernelRoutes(configuration.kernelRoutes)
        let namespace: NetworkNamespace?
        do {
            namespace = try configuration.namespace.map { try NetworkNamespace(existing: $0) }
        } catch {
            throw .apply("namespace '\(configuration.namespace ?? "")' does not exist")
        }
        var indices: [String: UInt32] = [:]
        func ifindex(_ name: String) throws(SRv6Error) -> UInt32 {
            if let known = indices[name] { return known }
            do {
                let index = try namespace.map { try $0.run { try NetworkInterface.index(of: name) } } ?? NetworkInterface.index(of: name)
                indices[name] = UInt32(index)
                return UInt32(index)
            } catch {
                throw .apply("interface '\(name)' does not exist" + (configuration.namespace.map { " in namespace \($0)" } ?? ""))
            }
        }
        for name in configuration.interfaces { _ = try ifindex(name) }
        let device = configuration.interfaces.first ?? "lo"
        var sids: [Desired] = []
        for sid in configuration.localSIDs {
            let oif = try sid.interface.map(ifindex) ?? 0
            // USP hands the kernel the packet still addressed to the SID: only a local
            // destination makes the kernel process its upper layer rather than route it on.
            if sid.flavours.contains(.usp), try !KernelRoutes.isLocal(sid.prefix, namespace: configuration.namespace) {
                throw .apply("local SID \(sid.prefix) has the USP flavour, but it is not a local address of "
                             + (configuration.namespace.map { "namespace \($0)" } ?? "this node")
                             + ": the popped packet goes to the kernel with destination \(sid.prefix.address); add it "
                             + "(ip addr add \(sid.prefix) dev lo, or ip -6 route add local \(sid.prefix) dev lo)")
            }
            let mirror = mirrors ? KernelRoutes.mirror(sid, device: device, kernelEndFlavours: kernelEndFlavours) : nil
            var entry = SRv6SIDEntry(behaviour: sid.behaviour, flavours: sid.flavours, table: sid.table ?? 0, oif: oif,
                                     lblen: UInt8(sid.microSID?.blockBits ?? 0), nflen: UInt8(sid.microSID?.nodeBits ?? 0),
                                     nh4: sid.nextHop4, nh6: sid.nextHop6, fallback: mirror == nil ? .none : .kernelRoute)
            var desired = Desired(prefix: sid.prefix.description, destination: .v6(sid.prefix), lpm6: sid.prefix,
                                  program: sid.behaviour.program, value: [], summary: sid.summary, kernelRoute: mirror)
            if let proxy = sid.proxy {
                entry.iif = try ifindex(proxy.interfaceIn)
                entry.inner = proxy.inner.rawValue
                entry.ageMs = sid.behaviour == .endAD ? proxy.ageMilliseconds : 0
                let cache = proxy.headers.map(SRv6ProxyCache.init(headers:)) ?? .empty
                desired.proxyCache = try encoded(cache.encoded)
                desired.proxyInterface = proxy.interfaceIn
            }
            desired.value = try encoded(entry.encoded)
            sids.append(desired)
        }
        var policies: [Desired] = []
        for policy in configuration.policies {
            let mirror = mirrors ? KernelRoutes.mirror(policy, device: device) : nil
            let value = try encoded(SRv6PolicyEntry(mode: policy.mode, segments: policy.segments, flags: policy.flags,
                                                    hopLimit: policy.hopLimit, tag: policy.tag, source: policy.source,
                                                    fallback: mirror == nil ? .none : .kernelRoute, pmFlow: policy.pmFlow).encoded)
            var entry = Desired(prefix: policy.destination.description, destination: policy.destination,
                                program: policy.mode.program, value: value, summary: policy.summary, kernelRoute: mirror)
            switch policy.destination {
            case .v6(let network): entry.lpm6 = network
            case .v4(let network): entry.lpm4 = network
            }
            policies.append(entry)
        }
        return (sids, policies, kernelRoutes)
    }

    /// Compares a configuration with what is installed. Changes nothing.
    public func plan(_ configuration: SRv6Configuration) throws(SRv6Error) -> ApplyPlan {
        let state = try AppliedState.read(stateDirectory: hike.stateDirectory)
        let (sids, policies, kernelRoutes) = try desired(configuration)
        var plan = Self.plan(state: state, configuration: configuration, sids: sids, policies: policies)
        plan.kernelRoutes = kernelRoutes
        return plan
    }

    static func plan(state: AppliedState, configuration: SRv6Configuration, sids: [Desired], policies: [Desired]) -> ApplyPlan {
        var plan = ApplyPlan()
        func compare(_ old: [AppliedState.Entry], _ new: [Desired],
                     _ added: inout [String], _ changed: inout [String], _ removed: inout [String], _ same: inout [String]) {
            for entry in new {
                if let previous = old.first(where: { $0.prefix == entry.prefix }) {
                    if previous.value == entry.fingerprint && previous.kernelRoute == entry.kernelRoute {
                        same.append(entry.prefix)
                    } else {
                        changed.append(entry.prefix)
                    }
                } else {
                    added.append(entry.prefix)
                }
            }
            removed = old.map(\.prefix).filter { prefix in !new.contains { $0.prefix == prefix } }
        }
        compare(state.sids, sids, &plan.addedSIDs, &plan.changedSIDs, &plan.removedSIDs, &plan.unchangedSIDs)
        compare(state.policies, policies, &plan.addedPolicies, &plan.changedPolicies, &plan.removedPolicies, &plan.unchangedPolicies)
        let moved = state.namespace != configuration.namespace || state.genericXDP != configuration.genericXDP
        let kept = moved ? [] : state.interfaces.filter(configuration.interfaces.contains)
        plan.attach = configuration.interfaces.filter { !kept.contains($0) }.map { place($0, configuration.namespace) }
        plan.detach = state.interfaces.filter { !kept.contains($0) }.map { place($0, state.namespace) }
        return plan
    }

    static func place(_ interface: String, _ namespace: String?) -> String {
        interface + (namespace.map { " in namespace \($0)" } ?? "")
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    // MARK: Applying

    /// Validates, then installs the configuration, changing only what differs from the last
    /// apply. dryRun: only the plan. On failure nothing stays changed (see the type's note).
    @discardableResult
    public func apply(_ configuration: SRv6Configuration, dryRun: Bool = false) throws(SRv6Error) -> ApplyPlan {
        // An instance this apply creates is removed whole when the apply fails: no pin, registry
        // or lock file stays behind (the steps' undo covers an instance that existed before).
        let fresh = ![hike.stateDirectory, hike.pinRoot].contains(where: FileManager.default.fileExists(atPath:))
        let plan: ApplyPlan
        do {
            plan = try applyLocked(configuration, dryRun: dryRun)
        } catch {
            guard fresh else { throw error }
            do { try hike.reset() } catch let reset {
                throw .apply("\(error); removing instance '\(hike.name)', which this apply created, failed too: \(reset)")
            }
            throw error
        }
        // A dry run leaves nothing either (the lock file made a state directory).
        if fresh && dryRun {
            do { try hike.reset() } catch { throw .state("cannot remove what the dry run made of instance '\(hike.name)': \(error)") }
        }
        return plan
    }

    func applyLocked(_ configuration: SRv6Configuration, dryRun: Bool) throws(SRv6Error) -> ApplyPlan {
        let lock = try lockState()
        defer { close(lock) }
        let state = try AppliedState.read(stateDirectory: hike.stateDirectory)
        let (sids, policies, kernelRoutes) = try desired(configuration)
        var plan = Self.plan(state: state, configuration: configuration, sids: sids, policies: policies)
        plan.kernelRoutes = kernelRoutes
        if let both = plan.attach.first(where: plan.detach.contains) {
            // The same interface would be attached before its old attachment is gone.
            throw .apply("xdp-mode changes on \(both), which is attached: apply once without it, then with the new mode")
        }
        try refuseForeignRoutes(state: state, configuration: configuration, entries: sids + policies)
        let unready: [RedirectReadiness.Unready]
        do { unready = try RedirectReadiness.unready(in: configuration.namespace) } catch {
            throw .apply("cannot tell which interfaces take redirected frames: \(error)")
        }
        plan.warnings = Self.warnings(unready)
        if dryRun { return plan }
        if plan.changesNothing {
            // What runs stays; the marks follow the peers, which may have changed since.
            if FileManager.default.fileExists(atPath: txUnreadyPin) { try markUnready(unready) }
            return plan
        }
        var undo: [() throws -> Void] = []
        let clearRemoved: () -> [String]
        do {
            var (next, clear) = try install(configuration, state: state, sids: sids, policies: policies, undo: &undo)
            next.kernelRoutes = kernelRoutes
            // The state file is written before anything is cleared: if it cannot be, the
            // switch is undone and the old state file still describes what runs.
            try next.write(stateDirectory: hike.stateDirectory)
            clearRemoved = clear
        } catch {
            let reason = (error as? SRv6Error).map { if case .apply(let message) = $0 { message } else { $0.description } } ?? "\(error)"
            let failures = Self.rollBack(undo)
            if failures.isEmpty {
                if let error = error as? SRv6Error { throw error }
                throw .apply(reason)
            }
            throw .apply("\(reason); undoing the steps done so far failed too, so the data plane is partly changed: "
                         + failures.joined(separator: "; ") + " (hike reset the instance to start again)")
        }
        let leftovers = clearRemoved()
        if !leftovers.isEmpty {
            throw .apply("applied, but clearing removed entries failed: " + leftovers.joined(separator: "; "))
        }
        try markUnready(unready)
        return plan
    }

    /// Where the instance's marks of interfaces XDP must not redirect to are pinned (shared by
    /// every object that forwards, bpf/include/hike/tx.h).
    var txUnreadyPin: String {
        "\(hike.pinRoot)/maps/\(HikeInstance.sharedMaps[HikeInstance.txUnreadyMap] ?? "")/\(HikeInstance.txUnreadyMap)"
    }

    /// Looks again at which of the node's interfaces take redirected frames and rewrites the
    /// marks: a peer may have got (or lost) its XDP program since the apply — a testbed brings
    /// its nodes up one after another. Returns the warnings, as apply's; none before an apply.
    @discardableResult
    public func refreshRedirectMarks() throws(SRv6Error) -> [String] {
        guard FileManager.default.fileExists(atPath: txUnreadyPin) else { return [] }
        let lock = try lockState()
        defer { close(lock) }
        let state = try AppliedState.read(stateDirectory: hike.stateDirectory)
        let unready: [RedirectReadiness.Unready]
        do { unready = try RedirectReadiness.unready(in: state.namespace) } catch {
            throw .apply("cannot tell which interfaces take redirected frames: \(error)")
        }
        try markUnready(unready)
        return Self.warnings(unready)
    }

    /// Writes the marks: 1 for the unready interfaces, 0 for every other ifindex.
    func markUnready(_ unready: [RedirectReadiness.Unready]) throws(SRv6Error) {
        let marked = Set(unready.map(\.ifindex))
        do {
            let map = try BPFMap.openPinned(txUnreadyPin)
            for ifindex in 0..<UInt32(HikeInstance.txUnreadyCapacity) {
                try map.update(key: BPFMap.bytesOf(ifindex), value: BPFMap.bytesOf(UInt32(marked.contains(ifindex) ? 1 : 0)))
            }
        } catch {
            throw .apply("applied, but marking the interfaces XDP cannot redirect to failed: \(error)")
        }
    }

    /// One line per unready interface: what happens to its packets, and the fix.
    static func warnings(_ unready: [RedirectReadiness.Unready]) -> [String] {
        unready.map { entry in
            let fix = "attach an XDP program to the peer or turn its GRO on (ethtool -K PEER gro on)"
            guard entry.ifindex < HikeInstance.txUnreadyCapacity else {
                return "\(entry.interface): \(entry.why), so the kernel drops what XDP redirects there, and its ifindex "
                    + "\(entry.ifindex) is past the \(HikeInstance.txUnreadyCapacity) hike can mark: \(fix)"
            }
            return "\(entry.interface): \(entry.why), so the kernel would drop what XDP redirects there; packets "
                + "routed there go to the kernel instead (reason tx_unready): \(fix)"
        }
    }

    /// Runs undo steps in reverse order, each even if another failed; returns the failures.
    static func rollBack(_ undo: [() throws -> Void]) -> [String] {
        var failures: [String] = []
        for step in undo.reversed() {
            do { try step() } catch { failures.append("\(error)") }
        }
        return failures
    }

    /// `ip route replace` would overwrite a route of the same prefix that this instance did not
    /// install (a plain route the operator made, another tool's): refuse before any change.
    func refuseForeignRoutes(state: AppliedState, configuration: SRv6Configuration, entries: [Desired]) throws(SRv6Error) {
        let sameNamespace = state.namespace == configuration.namespace
        let ours = sameNamespace ? Set((state.sids + state.policies).filter { $0.kernelRoute != nil }.map(\.prefix)) : []
        for entry in entries where entry.kernelRoute != nil && !ours.contains(entry.prefix) {
            let found = try KernelRoutes.existing(entry.destination, namespace: configuration.namespace)
            if let route = found.first {
                throw .apply("a route for \(entry.prefix) exists that hike did not install (`\(route)`"
                             + (configuration.namespace.map { " in namespace \($0)" } ?? "")
                             + "); the mirror route would replace it: delete it (ip route del \(entry.prefix)), "
                             + "or set kernel-routes: false")
            }
        }
    }

    /// Serialises applies to one instance (flock on a file beside the state).
    func lockState() throws(SRv6Error) -> Int32 {
        do { try FileManager.default.createDirectory(atPath: hike.stateDirectory, withIntermediateDirectories: true) } catch {
            throw .state("cannot create \(hike.stateDirectory): \(error)")
        }
        let fd = open("\(hike.stateDirectory)/srv6.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .state("cannot open \(hike.stateDirectory)/srv6.lock: errno \(errno)") }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw .state("cannot lock \(hike.stateDirectory)/srv6.lock: errno \(errno)")
        }
        return fd
    }

    /// The srv6 package's maps, loading the programs the configuration needs first.
    func packageMaps(programs: Set<String>) throws
        -> (sids: BPFMap, policies: BPFMap, sidStats: BPFMap, policyStats: BPFMap, proxyCache: BPFMap, proxyStats: BPFMap) {
        for program in programs.sorted() { try hike.loadProgram(program) }
        let directory = try mapsDirectory()
        func open(_ name: String) throws -> BPFMap { try BPFMap.openPinned("\(directory)/\(name)") }
        return (try open(SRv6ABI.sidsMap), try open(SRv6ABI.policiesMap), try open(SRv6ABI.sidStatsMap), try open(SRv6ABI.policyStatsMap),
                try open(SRv6ABI.proxyCacheMap), try open(SRv6ABI.proxyStatsMap))
    }

    func mapsDirectory() throws -> String {
        "\(hike.pinRoot)/maps/\(try hike.catalog.entry(EndpointBehaviour.end.program).object)"
    }

    /// Steps 1–7a (make, switch, unlink), each with its undo; returns the new state and the
    /// clean-up (7b), to run once the state file says what runs.
    func install(_ configuration: SRv6Configuration, state: AppliedState, sids: [Desired], policies: [Desired],
                 undo: inout [() throws -> Void]) throws -> (AppliedState, () -> [String]) {
        let hike = self.hike
        let programs = Set(sids.map(\.program) + policies.map(\.program) + (policies.isEmpty ? [] : [Self.kroute]))
        let maps = try packageMaps(programs: programs.union([EndpointBehaviour.end.program]))
        let registry = try hike.registry()
        func programID(_ name: String) throws -> Int32 {
            guard let record = try hike.registry().programs[name] ?? registry.programs[name] else {
                throw SRv6Error.apply("program \(name) is not loaded")
            }
            return Int32(bitPattern: record.id)
        }

        // 1. Indices: unchanged entries keep theirs; new and changed ones get a free one.
        var next = AppliedState()
        next.namespace = configuration.namespace
        next.interfaces = configuration.interfaces
        next.genericXDP = configuration.genericXDP
        var fresh: [(entry: AppliedState.Entry, isSID: Bool)] = []
        func assign(_ desired: [Desired], old: [AppliedState.Entry], capacity: Int, kind: String) throws -> [AppliedState.Entry] {
            var used = Set(old.map(\.index))
            var out: [AppliedState.Entry] = []
            for entry in desired {
                if let previous = old.first(where: { $0.prefix == entry.prefix }), previous.value == entry.fingerprint,
                   previous.kernelRoute == entry.kernelRoute {
                    out.append(previous)
                    continue
                }
                guard let index = (0..<UInt32(capacity)).first(where: { !used.contains($0) }) else {
                    throw SRv6Error.apply("no free \(kind) index (the package holds \(capacity))")
                }
                used.insert(index)
                let made = AppliedState.Entry(prefix: entry.prefix, index: index, chain: "srv6_\(kind)_\(index)",
                                              program: entry.program, value: entry.fingerprint, summary: entry.summary,
                                              kernelRoute: entry.kernelRoute)
                out.append(made)
                fresh.append((made, kind == "sid"))
            }
            return out
        }
        next.sids = try assign(sids, old: state.sids, capacity: SRv6ABI.maxSIDs, kind: "sid")
        next.policies = try assign(policies, old: state.policies, capacity: SRv6ABI.maxPolicies, kind: "policy")

        // 2. Values and zeroed counters at the fresh indices: nothing points at them yet.
        for (entry, isSID) in fresh {
            let valueMap = isSID ? maps.sids : maps.policies
            let statsMap = isSID ? maps.sidStats : maps.policyStats
            let desired = (isSID ? sids : policies).first { $0.prefix == entry.prefix }
            guard let value = desired?.value else { continue }
            let key = BPFMap.bytesOf(entry.index)
            try statsMap.update(key: key, value: [UInt8](repeating: 0, count: try statsMap.valueBufferSize()))
            if let cache = desired?.proxyCache {
                try maps.proxyStats.update(key: key, value: [UInt8](repeating: 0, count: try maps.proxyStats.valueBufferSize()))
                try maps.proxyCache.update(key: key, value: cache)
            }
            try valueMap.update(key: key, value: value)
            let size = value.count
            undo.append { try valueMap.update(key: key, value: [UInt8](repeating: 0, count: size)) }
        }

        // 3. Chains: the behaviour with its index (and, for a headend, ip6_kroute after it).
        if !fresh.isEmpty {
            var chains: [AssembledChain] = [], sources: [String: String] = [:]
            for (entry, isSID) in fresh {
                let call: [BPFInstruction] = [.mov64(.r1, imm: try programID(entry.program)),
                                              .mov64(.r2, imm: Int32(entry.index)), .call(helper: ABI.fnCall)]
                let instructions: [BPFInstruction] = isSID ? call + [.exit] : call + [
                    // A headend that cannot finish ends the chain with its own verdict; r0 ≠ 0 (its
                    // reason) exits too, to the loader's default verdict: the kernel.
                    .jump(.jne, dst: .r0, imm: 0, offset: 2),
                    .mov64(.r1, imm: try programID(Self.kroute)), .call(helper: ABI.fnCall), .exit,
                ]
                chains.append(AssembledChain(name: entry.chain, instructions: instructions))
                sources[entry.chain] = "\(entry.program)(\(entry.index)) for \(entry.prefix)"
            }
            // Chains of changed entries are new names (new index); a name reused from a removed
            // entry is replaced in place, atomically.
            _ = try hike.install(chains, sources: sources)
            let previous = Set(state.sids.map(\.chain) + state.policies.map(\.chain))
            for chain in chains where !previous.contains(chain.name) {
                undo.append { try hike.removeChain(chain.name) }
            }
        }

        // 4. The loader on interfaces it is not on yet (its LPM maps start empty: all to the kernel).
        let namespace = try configuration.namespace.map { try NetworkNamespace(existing: $0) }
        let plan = Self.plan(state: state, configuration: configuration, sids: sids, policies: policies)
        let attaching = configuration.interfaces.filter { plan.attach.contains(Self.place($0, configuration.namespace)) }
        for interface in attaching {
            try hike.attach(loader: SRv6ABI.loader, interface: interface, namespace: namespace,
                            hook: .xdp(configuration.genericXDP ? .generic : .native), chain: nil, defaultVerdict: ABI.xdpPass)
            let name = configuration.namespace
            undo.append { try hike.detach(interface: interface, namespace: name, hook: .xdp(.native)) }
        }

        // 5. Kernel mirror routes, before the fast path takes the prefix (a route of the same
        // prefix that this instance did not install was refused before any change).
        let oldRoutes = Dictionary((state.sids + state.policies).map { ($0.prefix, $0.kernelRoute) }, uniquingKeysWith: { a, _ in a })
        let sameNamespace = state.namespace == configuration.namespace
        for (entry, _) in fresh {
            guard let route = entry.kernelRoute else { continue }
            try KernelRoutes.replace(route, namespace: configuration.namespace)
            let old = sameNamespace ? oldRoutes[entry.prefix] ?? nil : nil
            let where_ = configuration.namespace
            undo.append {
                if let old { try KernelRoutes.replace(old, namespace: where_) } else { try KernelRoutes.delete(route.destination, namespace: where_) }
            }
        }

        // 6. LPM entries → chain IDs, on every interface of the new configuration.
        let ids = try hike.registry().chains
        let attachments = try hike.attachments().filter {
            $0.loader == SRv6ABI.loader && $0.namespace == configuration.namespace && configuration.interfaces.contains($0.interface)
        }
        let all = zip(next.sids, sids).map { ($0, $1) } + zip(next.policies, policies).map { ($0, $1) }
        for attachment in attachments {
            let lpm6 = try BPFMap.openPinned("\(attachment.directory)/\(SRv6ABI.lpm6Map)")
            let lpm4 = try BPFMap.openPinned("\(attachment.directory)/\(SRv6ABI.lpm4Map)")
            for (entry, desired) in all {
                guard let chain = ids[entry.chain] else { throw SRv6Error.apply("chain \(entry.chain) is not installed") }
                let (map, key) = try desired.lpm6.map { (lpm6, try $0.lpmKey.encoded()) } ?? (lpm4, try desired.lpm4?.lpmKey.encoded() ?? [])
                let previous = try map.lookup(key: key)
                let value = BPFMap.bytesOf(chain.id)
                if previous == value { continue }
                try map.update(key: key, value: value)
                undo.append { if let previous { try map.update(key: key, value: previous) } else { _ = try map.delete(key: key) } }
            }
            // An SR proxy's IFACE-IN: every frame to its chain; any other interface: the routes.
            var proxyChain: UInt32 = 0
            if let (entry, _) = all.first(where: { $0.1.proxyInterface == attachment.interface }) {
                guard let chain = ids[entry.chain] else { throw SRv6Error.apply("chain \(entry.chain) is not installed") }
                proxyChain = UInt32(chain.id)
            }
            let config = try BPFMap.openPinned("\(attachment.directory)/\(SRv6ABI.loaderConfigMap)")
            let zero = BPFMap.bytesOf(UInt32(0))
            if let previous = try config.lookup(key: zero), previous.count >= 8, Array(previous[0..<4]) != BPFMap.bytesOf(UInt32(proxyChain)) {
                try config.update(key: zero, value: BPFMap.bytesOf(UInt32(proxyChain)) + previous[4...])
                undo.append { try config.update(key: zero, value: previous) }
            }
        }

        // 7. Break: unlink removed entries from the LPM (and the kernel), then clear their
        // chains and values, and those of the indices changed entries left.
        let keptIndices = (sids: Set(next.sids.map(\.index)), policies: Set(next.policies.map(\.index)))
        let goneSIDs = state.sids.filter { !keptIndices.sids.contains($0.index) }
        let gonePolicies = state.policies.filter { !keptIndices.policies.contains($0.index) }
        let removedKeys = Set(plan.removedSIDs + plan.removedPolicies)
        for attachment in attachments {
            let lpm6 = try BPFMap.openPinned("\(attachment.directory)/\(SRv6ABI.lpm6Map)")
            let lpm4 = try BPFMap.openPinned("\(attachment.directory)/\(SRv6ABI.lpm4Map)")
            for prefix in removedKeys {
                let (map, key): (BPFMap, [UInt8])
                switch try SRv6Error.parsing({ () throws(AddressError) in try DestinationPrefix(parsing: prefix) }) {
                case .v6(let network): (map, key) = (lpm6, try network.lpmKey.encoded())
                case .v4(let network): (map, key) = (lpm4, try network.lpmKey.encoded())
                }
                guard let previous = try map.lookup(key: key) else { continue }
                _ = try map.delete(key: key)
                undo.append { try map.update(key: key, value: previous) }
            }
        }
        // 7b, run by apply once the state file is written: nothing is undone from here on,
        // what follows only clears what no packet reaches.
        let oldNamespace = state.namespace, detaching = state.interfaces.filter { plan.detach.contains(Self.place($0, state.namespace)) }
        let clear = { () -> [String] in
            var leftovers: [String] = []
            // Mirror routes of entries that are gone, or whose new behaviour has none, or that moved.
            for (old, new) in [(state.sids, next.sids), (state.policies, next.policies)] {
                for entry in old {
                    guard let route = entry.kernelRoute else { continue }
                    let kept = sameNamespace && new.contains { $0.prefix == entry.prefix && $0.kernelRoute != nil }
                    if kept { continue }
                    do {
                        try KernelRoutes.delete(route.destination, namespace: oldNamespace)
                    } catch { leftovers.append("\(error)") }
                }
            }
            for interface in detaching {
                do { try hike.detach(interface: interface, namespace: oldNamespace) } catch { leftovers.append("\(error)") }
            }
            for (entries, map) in [(goneSIDs, maps.sids), (gonePolicies, maps.policies)] {
                for entry in entries {
                    do {
                        if try hike.registry().chains[entry.chain] != nil { try hike.removeChain(entry.chain) }
                        try map.update(key: BPFMap.bytesOf(entry.index), value: [UInt8](repeating: 0, count: map.valueSize))
                    } catch { leftovers.append("\(error)") }
                }
            }
            return leftovers
        }
        return (next, clear)
    }

    // MARK: Removing

    /// Removes everything the last apply installed (the same as applying an empty configuration).
    public func clear() throws(SRv6Error) {
        let state = try AppliedState.read(stateDirectory: hike.stateDirectory)
        let empty = SRv6Configuration(namespace: state.namespace, interfaces: [], genericXDP: state.genericXDP,
                                      kernelRoutes: .off, locators: [], localSIDs: [], policies: [])
        try apply(empty)
    }
}
