import BPFKit
import Foundation
import HikeVM
import NetKit

/// One running HIKe data plane: everything it needs is pinned under
/// `/sys/fs/bpf/hike/<name>/` and described by a registry under `/run/hike/<name>/`, so it keeps
/// forwarding when no hike process runs and any later hike process can manage it.
///
///     vm/hvm_progs, vm/hvm_chains, …     the VM's maps, shared by every program
///     progs/<package>/<program>          each loaded program
///     progs-tc/<package>/<program>       its tc twin, once a loader runs at a tc hook
///     maps/<object>/<map>                the maps of each loaded object (its twin's too)
///     loaders/<namespace>~<interface>/   a loader attached there (XDP): prog, link and its maps
///     loaders/<namespace>~<interface>~tc-egress/   … at a tc hook: prog and its maps
public final class HikeInstance: @unchecked Sendable {  // state lives in the kernel and the registry file
    public let name: String
    public let pinRoot: String
    public let stateDirectory: String
    public let catalog: ProgramCatalog
    let registryFile: RegistryFile

    /// The VM's maps, by name, as every HIKe object declares them.
    public static let systemMaps = ["hvm_progs", "hvm_progs_tc", "hvm_chains", "hvm_chain_ids", "hvm_state", "hvm_shmem",
                                    "hvm_faults", "hvm_events", "hvm_runs"]

    public init(name: String = "default", catalog: ProgramCatalog? = nil,
                bpffs: String = BPFFileSystem.defaultMountPoint, runDirectory: String = "/run/hike") throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw RuntimeError.registry("'\(name)' is not a valid instance name")
        }
        self.name = name
        self.pinRoot = "\(bpffs)/hike/\(name)"
        self.stateDirectory = "\(runDirectory)/\(name)"
        self.catalog = try catalog ?? ProgramCatalog()
        self.registryFile = RegistryFile(directory: stateDirectory)
        try BPFFileSystem.ensureMounted(at: bpffs)
    }

    /// A snapshot of the registry.
    public func registry() throws -> Registry { try registryFile.read() }

    // MARK: Pins

    var systemMapPins: [String: String] {
        Dictionary(uniqueKeysWithValues: Self.systemMaps.map { ($0, "\(pinRoot)/vm/\($0)") })
    }

    /// Opens one of the VM's maps. They exist once any HIKe object has been loaded.
    public func systemMap(_ map: String) throws -> BPFMap {
        try BPFMap.openPinned("\(pinRoot)/vm/\(map)")
    }

    /// Maps that objects of other packages declare too, by the object that owns them: the srv6
    /// headends count and mark monitored policies in the pm package's ingress maps
    /// (bpf/include/hike/pm_ingress.h). Whichever object loads first creates them.
    /// hike_tx_unready (bpf/include/hike/tx.h) is one per instance: every object that forwards
    /// reads the same marks.
    public static let sharedMaps: [String: String] = ["pm_colour": "pm", "pm_flows": "pm", "pm_sent": "pm", "pm_stats": "pm",
                                               // Link monitoring (bpf/include/hike/pm_link.h): the srv6 loader and every XDP forwarder.
                                               "pm_recv": "pm", "pm_links": "pm",
                                               txUnreadyMap: "hike_default",
                                               // show_pkt_info of info and devel_encap: one event stream.
                                               "info_events": "info", "info_stats": "info",
                                               // fastdrop: one list per instance, for every attachment and the program.
                                               FastDropList.prefixesMap: FastDropList.object, FastDropList.indexMap: FastDropList.object,
                                               FastDropList.statsMap: FastDropList.object]
    /// The interfaces XDP must not redirect to (ifindex → 1), bpf/include/hike/tx.h.
    public static let txUnreadyMap = "hike_tx_unready"
    public static let txUnreadyCapacity = 1024

    /// Options that make an object share the VM's maps (and the shared maps of other packages)
    /// and pin its own under directory.
    func objectOptions(object: BPFObjectDescription, ownMapsDirectory: String) -> ObjectOptions {
        var pins = systemMapPins.filter { object.maps.contains($0.key) }
        for map in object.maps {
            if let owner = Self.sharedMaps[map] { pins[map] = "\(pinRoot)/maps/\(owner)/\(map)" }
        }
        for map in object.maps where pins[map] == nil && !map.hasPrefix(".") && !map.contains(".") {
            pins[map] = "\(ownMapsDirectory)/\(map)"
        }
        return ObjectOptions(pinnedMaps: pins)
    }

    struct BPFObjectDescription {
        let spec: ObjectSpec
        let maps: [String]
    }

    func describe(objectNamed objectName: String) throws -> BPFObjectDescription {
        let embedded = try catalog.object(objectName)
        let spec = ObjectSpec(bytes: embedded.bytes, name: embedded.name)
        return BPFObjectDescription(spec: spec, maps: try spec.contents().maps.map(\.name))
    }

    func makeDirectories(_ paths: String...) throws {
        for path in paths { try BPFFileSystem.makeDirectories(path) }
    }

    // MARK: Programs

    /// Loads the object that exports program (if not loaded yet), gives each of its programs an
    /// ID in the program table and pins everything. Returns the program's record.
    @discardableResult
    public func loadProgram(_ program: String) throws -> ProgramRecord {
        let entry = try catalog.entry(program)
        guard entry.kind == .program else { throw RuntimeError.isALoader(program) }
        return try registryFile.update { registry in
            if let record = registry.programs[entry.key] { return record }
            try loadObject(entry.object, into: &registry)
            guard let record = registry.programs[entry.key] else {
                throw RuntimeError.catalog("object \(entry.object) did not provide '\(program)'")
            }
            return record
        }
    }

    /// The directories of the shared maps an object declares (a loader's too: srv6_localsid
    /// counts monitored links in the pm maps).
    func sharedMapDirectories(of description: BPFObjectDescription) -> [String] {
        Set(description.maps.compactMap { Self.sharedMaps[$0] }).sorted().map { "\(pinRoot)/maps/\($0)" }
    }

    /// Loads every program of an object. On failure nothing of it stays pinned or registered.
    func loadObject(_ objectName: String, into registry: inout Registry) throws {
        let description = try describe(objectNamed: objectName)
        let mapsDirectory = "\(pinRoot)/maps/\(objectName)"
        for directory in ["\(pinRoot)/vm", mapsDirectory] + sharedMapDirectories(of: description) { try makeDirectories(directory) }
        let object: BPFObject
        do {
            object = try BPFObject(spec: description.spec, options: objectOptions(object: description, ownMapsDirectory: mapsDirectory))
        } catch let error as BPFError where error.message.contains("couldn't reuse pinned map") {
            throw RuntimeError.incompatiblePin(object: objectName, instance: name, libbpf: error.message)
        }
        let table = try systemMap("hvm_progs")
        let entries = catalog.entries.filter { $0.object == objectName && $0.kind == .program }
        var used = Set(registry.programs.values.map(\.id))
        var added: [ProgramRecord] = []
        do {
            for entry in entries {
                let program = try object.program(entry.name)
                // ID 0 stays empty: a chain that calls with r1 never set faults instead of
                // reaching a program by accident.
                guard let id = (1..<ABI.progTableSize).first(where: { !used.contains($0) }) else {
                    throw RuntimeError.noFreeProgramID
                }
                let directory = "\(pinRoot)/progs/\(entry.package)"
                try makeDirectories(directory)
                let pin = "\(directory)/\(entry.name)"
                try program.pin(at: pin)
                let record = ProgramRecord(name: entry.key, package: entry.package, id: id, object: objectName, pin: pin)
                added.append(record)
                try table.update(id, UInt32(bitPattern: program.fd))
                used.insert(id)
            }
            // Once a loader runs at tc, every object with a twin loads it too, at the same IDs.
            if registry.tcObjects != nil, catalog.tcTwin(of: objectName) != nil {
                try loadTCTwin(of: objectName, programs: added)
                registry.tcObjects?.insert(objectName)
            }
            // Programs that stamp packets with wall-clock time need the offset before any packet.
            _ = try syncClocks(objects: [objectName])
        } catch {
            for record in added {
                _ = try? table.delete(record.id)
                try? BPFMap.unpin(record.pin)
            }
            removeTCTwin(programs: added)
            registry.tcObjects?.remove(objectName)
            throw error
        }
        for record in added { registry.programs[record.name] = record }
        registry.objects.insert(objectName)
    }

    /// The loaders that run at tc, for errors.
    var loadersAtTC: String { catalog.entries.filter { $0.kind == .loader && $0.runsAtTC }.map(\.name).joined(separator: ", ") }

    /// Where a program's tc twin is pinned.
    func tcPin(_ record: ProgramRecord) -> String { "\(pinRoot)/progs-tc/\(record.package)/\(record.name)" }

    /// Loads the tc twin of a loaded object: its programs go into hvm_progs_tc at the IDs their
    /// XDP versions have, sharing the object's maps. On failure nothing of it stays.
    func loadTCTwin(of objectName: String, programs: [ProgramRecord]) throws {
        guard let twin = catalog.tcTwin(of: objectName) else { return }
        let description = try describe(objectNamed: twin)
        let object = try BPFObject(spec: description.spec,
                                   options: objectOptions(object: description, ownMapsDirectory: "\(pinRoot)/maps/\(objectName)"))
        let table = try systemMap("hvm_progs_tc")
        do {
            for record in programs {
                let entry = try catalog.entry(record.name)
                let program = try object.program(entry.name)
                try makeDirectories("\(pinRoot)/progs-tc/\(record.package)")
                try program.pin(at: tcPin(record))
                try table.update(record.id, UInt32(bitPattern: program.fd))
            }
        } catch {
            removeTCTwin(programs: programs)
            throw error
        }
    }

    func removeTCTwin(programs: [ProgramRecord]) {
        guard let table = try? systemMap("hvm_progs_tc") else { return }
        for record in programs where FileManager.default.fileExists(atPath: tcPin(record)) {
            _ = try? table.delete(record.id)
            try? BPFMap.unpin(tcPin(record))
        }
    }

    /// From now on programs run at tc too: loads the tc twin of every loaded object that has one.
    func enableTC(_ registry: inout Registry) throws {
        guard registry.tcObjects == nil else { return }
        var loaded: [String] = []
        do {
            for objectName in registry.objects.sorted() where catalog.tcTwin(of: objectName) != nil {
                try loadTCTwin(of: objectName, programs: registry.programs.values.filter { $0.object == objectName })
                loaded.append(objectName)
            }
        } catch {
            for objectName in loaded { removeTCTwin(programs: registry.programs.values.filter { $0.object == objectName }) }
            throw error
        }
        registry.tcObjects = Set(loaded)
    }

    /// Loaded programs, by ID.
    public func programs() throws -> [ProgramRecord] {
        try registry().programs.values.sorted { $0.id < $1.id }
    }

    // MARK: Chains

    /// The IDs chains and programs are linked against, with IDs reserved for new chain names.
    public func symbols(addingChains names: [String]) throws -> [String: UInt32] {
        let registry = try registry()
        var symbols: [String: UInt32] = [:]
        // A program by its key and by `package.name`; a chain of the same name as a program
        // shadows the plain name (compiled scripts call programs by `package.name`).
        for (key, record) in registry.programs {
            symbols[key] = record.id
            if let entry = try? catalog.entry(key) { symbols[entry.symbol] = record.id }
        }
        var next = registry.nextChainNumber
        for (name, record) in registry.chains { symbols[name] = record.id }
        var added = Set<String>()
        for name in names where registry.chains[name] == nil && added.insert(name).inserted {
            symbols[name] = ABI.chainFlag | next
            next += 1
        }
        return symbols
    }

    /// Installs linked chains. Each is checked (ChainChecker) against the programs and chains it
    /// can reach, then written into a free slot; only then are the IDs switched to the new slots,
    /// one atomic map update per chain, so a packet runs either the old or the new version. A
    /// chain that fails leaves everything as it was.
    public func installChains(_ chains: [(name: String, id: UInt32, instructions: [BPFInstruction], source: String?)]) throws {
        try writeChains(chains, checked: false)
    }

    /// installChains, without the check when the caller has just checked these instructions
    /// against the same IDs (`install`).
    func writeChains(_ chains: [(name: String, id: UInt32, instructions: [BPFInstruction], source: String?)], checked: Bool) throws {
        guard !chains.isEmpty else { return }
        try ensureVM()
        try registryFile.update { registry in
            let checker = checker(registry: registry, adding: chains.map { ($0.name, $0.id) })
            for chain in chains where !checked {
                do {
                    try checker.check(chain.instructions, chain: chain.name)
                } catch {
                    throw RuntimeError.invalidChain(String(describing: error))
                }
            }
            let slotsMap = try systemMap("hvm_chains")
            let idsMap = try systemMap("hvm_chain_ids")
            let slots = try freeSlots(count: chains.count, registry: registry)
            let typedSlots = try TypedMap<UInt32, VMChainSlot>(slotsMap)
            let runs = try systemMap("hvm_runs")
            let zeros = [UInt64](repeating: 0, count: try possibleCPUCount())
            for (chain, slot) in zip(chains, slots) {
                try runs.updatePerCPU(slot, zeros)  // a reused slot counts from zero for its new chain
                try typedSlots.update(slot, VMChainSlot(id: chain.id, instructions: chain.instructions))
            }
            var switched: [(id: UInt32, previous: UInt32?)] = []
            do {
                for (chain, slot) in zip(chains, slots) {
                    let previous = try idsMap.lookup(chain.id, as: UInt32.self)
                    try idsMap.update(chain.id, slot)
                    switched.append((chain.id, previous))
                }
            } catch {
                // Put back what was switched; the new slots were never reachable otherwise.
                for entry in switched.reversed() {
                    if let previous = entry.previous { try? idsMap.update(entry.id, previous) } else { _ = try? idsMap.delete(entry.id) }
                }
                throw error
            }
            for (chain, slot) in zip(chains, slots) {
                if let old = registry.chains[chain.name] { registry.freedSlots.append(old.slot) }
                registry.freedSlots.removeAll { $0 == slot }
                registry.chains[chain.name] = ChainRecord(
                    name: chain.name, id: chain.id, slot: slot,
                    instructionSlots: chain.instructions.reduce(0) { $0 + $1.slotCount },
                    source: chain.source, installedAt: Date())
                registry.nextChainNumber = max(registry.nextChainNumber, (chain.id & ~ABI.chainFlag) + 1)
            }
        }
    }

    /// The static checker for chains that may call the loaded programs, the installed chains and
    /// the chains being added.
    public func checker(registry: Registry, adding chains: [(name: String, id: UInt32)] = []) -> ChainChecker {
        var names: [UInt32: String] = [:]
        for record in registry.programs.values { names[record.id] = record.name }
        for record in registry.chains.values { names[record.id] = record.name }
        for chain in chains { names[chain.id] = chain.name }
        let finals = Set(registry.programs.values.filter { record in
            catalog.entries.contains { $0.name == record.name && $0.isFinal }
        }.map(\.id))
        return ChainChecker(knownIDs: Set(names.keys), names: names, finalIDs: finals)
    }

    /// Creates the VM's maps if no object has yet: they come with hike_default, whose pass and
    /// drop programs every chain may end with.
    public func ensureVM() throws {
        if FileManager.default.fileExists(atPath: "\(pinRoot)/vm/hvm_chains") { return }
        try loadProgram("hike_pass")
    }

    /// Slots that no installed chain uses: never-used ones first, then the longest-freed.
    func freeSlots(count: Int, registry: Registry) throws -> [UInt32] {
        let used = Set(registry.chains.values.map(\.slot))
        let freed = registry.freedSlots.filter { !used.contains($0) }
        let fresh = (0..<ABI.chainSlots).filter { !used.contains($0) && !freed.contains($0) }
        let candidates = fresh + freed
        guard candidates.count >= count else { throw RuntimeError.noFreeSlot(needed: count) }
        return Array(candidates.prefix(count))
    }

    /// Removes a chain: its ID stops resolving at once; its slot is freed.
    public func removeChain(_ name: String) throws {
        try registryFile.update { registry in
            guard let record = registry.chains[name] else {
                throw RuntimeError.unknownChain(name, known: registry.chains.keys.sorted().joined(separator: ", "))
            }
            try systemMap("hvm_chain_ids").delete(record.id)
            registry.chains[name] = nil
            registry.freedSlots.append(record.slot)
        }
    }

    public func chains() throws -> [ChainRecord] {
        try registry().chains.values.sorted { $0.id < $1.id }
    }

    /// Packets loaders started on each installed chain since it was installed (or replaced),
    /// summed over the CPUs.
    public func chainRuns() throws -> [String: UInt64] {
        let registry = try registry()
        guard !registry.chains.isEmpty else { return [:] }
        let runs = try systemMap("hvm_runs")
        var result: [String: UInt64] = [:]
        for record in registry.chains.values { result[record.name] = try runs.lookupSum(record.slot, as: UInt64.self) ?? 0 }
        return result
    }

    /// The instructions of an installed chain, read back from its slot.
    public func chainInstructions(_ name: String) throws -> [BPFInstruction] {
        let registry = try registry()
        guard let record = registry.chains[name] else {
            throw RuntimeError.unknownChain(name, known: registry.chains.keys.sorted().joined(separator: ", "))
        }
        guard let value = try TypedMap<UInt32, VMChainSlot>(systemMap("hvm_chains")).lookup(record.slot) else {
            throw RuntimeError.registry("slot \(record.slot) of chain '\(name)' is empty")
        }
        return try value.instructions
    }

    // MARK: Loaders

    /// Attaches a loader to an interface (in a namespace, or hike's own) at a hook: loads a copy
    /// of the loader with maps of its own, configures it and attaches it: at XDP through a pinned
    /// bpf_link, at tc as a clsact filter (its tc twin, after the twins of every loaded object).
    /// Either stays attached after hike exits. One loader per interface and hook.
    @discardableResult
    public func attach(loader: String, interface: String, namespace: NetworkNamespace? = nil, hook: LoaderHook = .xdp(.native),
                       chain: String?, defaultVerdict: UInt32 = ABI.xdpDrop,
                       routes: [(prefix: String, chain: String)] = []) throws -> AttachmentRecord {
        let loaders = { self.catalog.entries.filter { $0.kind == .loader }.map(\.name).joined(separator: ", ") }
        guard let entry = try? catalog.entry(loader), entry.kind == .loader else {
            throw RuntimeError.unknownLoader(loader, known: loaders())
        }
        guard defaultVerdict <= ABI.verdictMax else {
            throw RuntimeError.invalidChain("default verdict \(defaultVerdict) is not an XDP action (0–4)")
        }
        var objectName = entry.object
        if case .tc = hook {
            guard let twin = catalog.tcTwin(of: entry.object) else {
                throw RuntimeError.notAtHook(loader: loader, hook: hook.name, loaders: loadersAtTC)
            }
            objectName = twin
        }
        return try registryFile.update { registry in
            if let other = registry.attachments.first(where: {
                $0.interface == interface && $0.namespace == namespace?.name && $0.hook.sharesHook(with: hook)
            }) {
                throw RuntimeError.alreadyAttached(other.place + " (\(other.mode))")
            }
            func chainID(_ name: String) throws -> UInt32 {
                guard let record = registry.chains[name] else {
                    throw RuntimeError.unknownChain(name, known: registry.chains.keys.sorted().joined(separator: ", "))
                }
                return record.id
            }
            let chainValue = try chain.map(chainID) ?? 0
            let resolvedRoutes = try routes.map { (try IPv6Prefix(parsing: $0.prefix), try chainID($0.chain)) }

            var directory = "\(pinRoot)/loaders/\(namespace?.name ?? "_")~\(interface)"
            if case .tc = hook { directory += "~\(hook.name)" }
            let description = try describe(objectNamed: objectName)
            try makeDirectories("\(pinRoot)/vm", directory)
            for shared in sharedMapDirectories(of: description) { try makeDirectories(shared) }
            var done = false
            var tcFilter: TCAttachment?
            let tcBefore = registry.tcObjects
            defer {
                if !done {
                    if let tcFilter { try? (namespace.map { namespace in try namespace.run { try tcFilter.detach() } } ?? tcFilter.detach()) }
                    if tcBefore == nil, let loaded = registry.tcObjects {
                        for object in loaded { removeTCTwin(programs: registry.programs.values.filter { $0.object == object }) }
                        registry.tcObjects = nil
                    }
                    try? FileManager.default.removeItem(atPath: directory)
                }
            }
            if case .tc = hook { try enableTC(&registry) }
            let object = try BPFObject(spec: description.spec,
                                       options: objectOptions(object: description, ownMapsDirectory: directory))
            let program = try object.program(loader)
            for map in entry.maps where map.hasSuffix("_cfg") {
                let cfg = try TypedMap<UInt32, LoaderConfigEntry>(object.map(map))
                let config = LoaderConfigEntry(chainID: chainValue, defaultVerdict: defaultVerdict)
                for key in 0..<cfg.map.info.maxEntries { try cfg.update(key, config) }
            }
            if !resolvedRoutes.isEmpty {
                guard let routeMap = entry.maps.first(where: { $0.hasSuffix("_routes") }) else {
                    throw RuntimeError.invalidChain("loader \(loader) takes no routes")
                }
                let map = try TypedMap<LPMKey<IPv6Address>, UInt32>(object.map(routeMap))
                for (prefix, id) in resolvedRoutes { try map.update(prefix.lpmKey, id) }
            }
            try program.pin(at: "\(directory)/prog")
            func inNamespace<T>(_ body: () throws -> T) throws -> T { try namespace.map { try $0.run(body) } ?? body() }
            switch hook {
            case .xdp(let mode):
                let link = try inNamespace { try XDPLink.attach(program, interface: interface, mode: mode) }
                try link.pin(at: "\(directory)/link")
            case .tc(let direction):
                tcFilter = try inNamespace {
                    try TCAttachment.attach(program, interface: interface, direction: direction,
                                            handle: LoaderHook.tcHandle, priority: LoaderHook.tcPriority)
                }
            }
            var record = AttachmentRecord(loader: loader, namespace: namespace?.name, interface: interface,
                                          mode: hook.name, chain: chain, defaultVerdict: defaultVerdict,
                                          directory: directory)
            if !routes.isEmpty {
                record.routes = Dictionary(routes.map { ($0.prefix, $0.chain) }, uniquingKeysWith: { _, last in last })
            }
            registry.attachments.append(record)
            done = true
            return record
        }
    }

    /// Detaches the loaders from an interface (at one hook, or at every hook) and removes their pins.
    public func detach(interface: String, namespace: String? = nil, hook: LoaderHook? = nil) throws {
        try registryFile.update { registry in
            let matching = registry.attachments.filter {
                $0.interface == interface && $0.namespace == namespace && (hook.map($0.hook.sharesHook) ?? true)
            }
            guard !matching.isEmpty else {
                throw RuntimeError.notAttached(interface + (namespace.map { " in namespace \($0)" } ?? "") + (hook.map { " at \($0.hookName)" } ?? ""))
            }
            for record in matching {
                try removeAttachment(record)
                registry.attachments.removeAll { $0 == record }
            }
        }
    }

    func removeAttachment(_ record: AttachmentRecord) throws {
        switch record.hook {
        case .xdp:
            let linkPin = "\(record.directory)/link"
            if FileManager.default.fileExists(atPath: linkPin) {
                // The interface may be gone with its namespace: then the link is already detached.
                if let link = try? XDPLink.openPinned(linkPin) { try? link.detach() }
            }
        case .tc(let direction):
            // The filter is not pinned: it goes by its handle, in the interface's namespace (gone
            // with the namespace or the interface).
            let namespace = record.namespace.flatMap { try? NetworkNamespace(existing: $0) }
            if record.namespace == nil || namespace != nil {
                let detach = {
                    let filter = TCAttachment(interfaceIndex: try NetworkInterface.index(of: record.interface), direction: direction,
                                              handle: LoaderHook.tcHandle, priority: LoaderHook.tcPriority)
                    try filter.detach()
                }
                try? (namespace.map { try $0.run(detach) } ?? detach())
            }
        }
        if FileManager.default.fileExists(atPath: record.directory) {
            try FileManager.default.removeItem(atPath: record.directory)
        }
    }

    public func attachments() throws -> [AttachmentRecord] { try registry().attachments }

    /// The kernel's ID of the program an attachment runs, read through its pinned link (XDP) or
    /// its filter (tc); nil when it is gone (its interface or namespace was deleted).
    public static func attachedProgramID(_ record: AttachmentRecord) -> UInt32? {
        switch record.hook {
        case .xdp:
            return try? XDPLink.openPinned("\(record.directory)/link").programID()
        case .tc(let direction):
            let query = {
                try TCAttachment(interfaceIndex: NetworkInterface.index(of: record.interface), direction: direction,
                                 handle: LoaderHook.tcHandle, priority: LoaderHook.tcPriority).programID()
            }
            guard let name = record.namespace else { return try? query() }
            return try? NetworkNamespace(existing: name).run(query)
        }
    }

    // MARK: Faults and results

    /// Fault counters over all CPUs, by chain and reason.
    public func faultCounts() throws -> [FaultCount] {
        let map = try TypedMap<FaultKey, UInt64>(systemMap("hvm_faults"))
        var totals: [FaultKey: UInt64] = [:]
        for entry in try map.entries() { totals[entry.key, default: 0] &+= entry.values.reduce(0, &+) }
        return totals.map { FaultCount(chainID: $0.key.chainID, reason: $0.key.reason, count: $0.value) }
            .sorted { ($0.chainID, $0.reason) < ($1.chainID, $1.reason) }
    }

    /// The fault events waiting in the ring buffer (each is read once).
    public func drainFaultEvents() throws -> [FaultEvent] {
        try BPFRingBuffer(map: systemMap("hvm_events")).drain().compactMap(FaultEvent.init(record:))
    }

    /// How the last packet on each CPU left the VM.
    public func lastResults() throws -> [VMResult] {
        let map = try systemMap("hvm_state")
        guard let (offset, codec) = try MapJSON(map: map).value.member("last") else {
            throw RuntimeError.registry("hvm_state has no BTF for its member 'last': reload the VM (hike reset)")
        }
        guard let raw = try map.lookup(key: BPFMap.bytesOf(UInt32(0))) else { return [] }
        let stride = (map.valueSize + 7) & ~7
        return try (0..<(raw.count / stride)).map { cpu in
            let start = cpu * stride + offset
            let last = try BTFCoding.decode(VMResultEntry.self, from: Array(raw[start..<start + codec.size]), with: codec, path: "hvm_state.last")
            return VMResult(cpu: cpu, r0: last.r0, verdict: last.verdict, fault: last.fault, chainID: last.chainID,
                            pc: last.pc, sequence: last.sequence)
        }
    }

    // MARK: Test runs

    /// A private copy of a loader, configured but attached nowhere, for BPF_PROG_TEST_RUN: tests
    /// and benchmarks run packets through it. It shares the VM's maps; its own are not pinned.
    /// With tc: its tc twin (an skb program), the programs' twins loaded first.
    public func detachedLoader(_ loader: String, chain: String, defaultVerdict: UInt32 = ABI.xdpDrop, tc: Bool = false) throws -> BPFProgram {
        let entry = try catalog.entry(loader)
        guard entry.kind == .loader else {
            throw RuntimeError.unknownLoader(loader, known: catalog.entries.filter { $0.kind == .loader }.map(\.name).joined(separator: ", "))
        }
        let registry = try registry()
        guard let record = registry.chains[chain] else {
            throw RuntimeError.unknownChain(chain, known: registry.chains.keys.sorted().joined(separator: ", "))
        }
        var objectName = entry.object
        if tc {
            guard let twin = catalog.tcTwin(of: entry.object) else {
                throw RuntimeError.notAtHook(loader: loader, hook: "tc", loaders: loadersAtTC)
            }
            objectName = twin
            try registryFile.update { try enableTC(&$0) }
        }
        let description = try describe(objectNamed: objectName)
        try ensureVM()
        // The VM's maps and the instance-wide ones (the fastdrop list); the loader's own stay private.
        var pins = systemMapPins.filter { description.maps.contains($0.key) }
        for map in description.maps {
            guard let owner = Self.sharedMaps[map] else { continue }
            try makeDirectories("\(pinRoot)/maps/\(owner)")
            pins[map] = "\(pinRoot)/maps/\(owner)/\(map)"
        }
        let object = try BPFObject(spec: description.spec, options: ObjectOptions(pinnedMaps: pins))
        for map in entry.maps where map.hasSuffix("_cfg") {
            let cfg = try TypedMap<UInt32, LoaderConfigEntry>(object.map(map))
            let config = LoaderConfigEntry(chainID: record.id, defaultVerdict: defaultVerdict)
            for key in 0..<cfg.map.info.maxEntries { try cfg.update(key, config) }
        }
        return try object.program(loader)
    }

    /// The result of the packet that ran after `before` (a snapshot of lastResults) on some CPU.
    public func resultAfter(_ before: [VMResult]) throws -> VMResult? {
        let now = try lastResults()
        return now.first { result in before.first { $0.cpu == result.cpu }?.sequence != result.sequence }
    }

    // MARK: Reset

    /// Detaches every loader and removes every pin and the registry of this instance.
    public func reset() throws {
        let registry = (try? registry()) ?? Registry()
        var failures: [String] = []
        for attachment in registry.attachments {
            do { try removeAttachment(attachment) } catch { failures.append("\(attachment.place): \(error)") }
        }
        for path in [pinRoot, stateDirectory] where FileManager.default.fileExists(atPath: path) {
            do { try FileManager.default.removeItem(atPath: path) } catch { failures.append("\(path): \(error)") }
        }
        if !failures.isEmpty { throw RuntimeError.registry("reset left: " + failures.joined(separator: "; ")) }
    }
}

/// An IPv6 prefix for the LPM loader (`fc00::/64`).
public struct IPv6Prefix: Sendable, Hashable, CustomStringConvertible {
    public let address: [UInt8]
    public let length: UInt32

    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        var raw = in6_addr()
        guard let first = parts.first, inet_pton(AF_INET6, first, &raw) == 1 else {
            throw RuntimeError.invalidChain("'\(text)' is not an IPv6 prefix (like fc00::/64)")
        }
        let length = parts.count == 2 ? UInt32(parts[1]) : 128
        guard let length, length <= 128 else { throw RuntimeError.invalidChain("'\(text)': the prefix length must be 0–128") }
        self.address = withUnsafeBytes(of: raw) { Array($0) }
        self.length = length
    }

    /// `struct ip6_lpm_key`.
    var lpmKey: LPMKey<IPv6Address> { LPMKey(prefixlen: length, addr: IPv6Address(unchecked: address)) }

    public var description: String {
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: address) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text + "/\(length)"
    }
}
