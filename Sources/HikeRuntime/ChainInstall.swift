import BPFInstructions
import HikeErrors
import HikeVM

/// One chain as installed (or, in a dry run, as it would be).
public struct InstalledChain: Sendable, Codable, Equatable {
    public var name: String
    public var id: UInt32
    public var instructionSlots: Int
    /// A chain of that name was installed before; this one took its place atomically.
    public var replaced: Bool
}

/// What installing chains did, or in a dry run would do.
public struct ChainInstallReport: Sendable {
    /// Programs the chains call that were loaded for them, in order of first call.
    public var loadedPrograms: [String]
    /// In the order the chains were given.
    public var chains: [InstalledChain]
    /// The linked instructions of each chain, by name.
    public var instructions: [String: [BPFInstruction]]
}

/// Chains the static checker refused, every problem with the chain and source line it is in.
public struct ChainCheckFailure: HikeError {
    public struct Problem: Sendable {
        public var chain: String
        public var file: String
        /// The source line of the instruction at fault, when the chain has source lines.
        public var line: Int?
        public var issue: ChainCheckIssue
    }

    public var problems: [Problem]
    public var code: String { "chain.check" }
    public var message: String { description }
    public var position: SourcePosition? {
        problems.first.flatMap { problem in problem.line.map { SourcePosition(file: problem.file, line: $0) } }
    }
    public var description: String {
        problems.map { "chain '\($0.chain)': \($0.issue)" }.joined(separator: "\n")
    }
}

extension HikeInstance {
    /// Installs chains written against names: loads the programs they call that are not loaded
    /// yet, gives new chain names IDs, links and installs them (an existing chain of the same
    /// name is replaced atomically). Before anything is loaded the chains are linked and checked
    /// against the IDs the programs will get, so a chain that does not link or check changes
    /// nothing. `dryRun` stops there and reports what would be installed.
    /// - Throws: `AssemblerError` (a name nothing has), `ChainCheckFailure`, `RuntimeError`,
    ///   `BPFError` (a program the kernel refused).
    public func install(_ chains: [AssembledChain], source: String?, dryRun: Bool = false) throws -> ChainInstallReport {
        try install(chains, sources: source.map { source in Dictionary(chains.map { ($0.name, source) }) { a, _ in a } } ?? [:],
                    dryRun: dryRun)
    }

    /// install, each chain with a source of its own (what `hike chain list` shows), by name.
    public func install(_ chains: [AssembledChain], sources: [String: String], dryRun: Bool = false) throws -> ChainInstallReport {
        let names = chains.map(\.name)
        let registry = try registry()
        var toLoad: [String] = []
        for symbol in chains.flatMap(\.relocations).map(\.symbol) where !names.contains(symbol) && registry.chains[symbol] == nil {
            guard let entry = try? catalog.entry(symbol), entry.kind == .program,
                  registry.programs[entry.key] == nil, !toLoad.contains(entry.key) else { continue }
            toLoad.append(entry.key)
        }
        // Chains win over programs of the same plain name.
        let predicted = predictedProgramIDs(loading: toLoad, registry: registry).merging(try symbols(addingChains: names)) { _, chain in chain }
        var linked = try link(chains, symbols: predicted)
        if !dryRun {
            for name in toLoad { try loadProgram(name) }
            let symbols = try symbols(addingChains: names)
            if symbols != predicted { linked = try link(chains, symbols: symbols) }
            try writeChains(chains.map { chain in
                (chain.name, linked.ids[chain.name] ?? 0, linked.chains[linked.ids[chain.name] ?? 0] ?? [], sources[chain.name])
            }, checked: true)
        }
        return ChainInstallReport(
            loadedPrograms: toLoad,
            chains: chains.map { chain in
                let id = linked.ids[chain.name] ?? 0
                return InstalledChain(name: chain.name, id: id,
                                      instructionSlots: (linked.chains[id] ?? []).reduce(0) { $0 + $1.slotCount },
                                      replaced: registry.chains[chain.name] != nil)
            },
            instructions: Dictionary(uniqueKeysWithValues: chains.map { ($0.name, linked.chains[linked.ids[$0.name] ?? 0] ?? []) }))
    }

    /// Links the chains against symbols (the chains' own names take their IDs from there too)
    /// and checks them as installChains would.
    func link(_ chains: [AssembledChain], symbols: [String: UInt32]) throws -> LinkedChains {
        // A chain may share a program's name, but calling that name from itself would recurse
        // where the author most likely meant the program.
        for chain in chains where chain.relocations.contains(where: { $0.symbol == chain.name }) {
            if let entry = try? catalog.entry(chain.name), entry.kind == .program {
                throw RuntimeError.nameClash(chain.name, program: entry.symbol)
            }
        }
        let own = Set(chains.map(\.name))
        let linked = try chains.link(programs: symbols.filter { !own.contains($0.key) }, chainIDs: symbols.filter { own.contains($0.key) })
        var names: [UInt32: String] = [:]
        for (name, id) in symbols { names[id] = name }
        let finals = Set(catalog.entries.filter(\.isFinal).compactMap { symbols[$0.symbol] })
        let checker = ChainChecker(knownIDs: Set(symbols.values), names: names, finalIDs: finals)
        var problems: [ChainCheckFailure.Problem] = []
        for chain in chains {
            guard let id = linked.ids[chain.name], let instructions = linked.chains[id] else { continue }
            for issue in checker.issues(instructions) {
                problems.append(.init(chain: chain.name, file: chain.file, line: Self.sourceLine(of: issue, in: chain), issue: issue))
            }
        }
        if !problems.isEmpty { throw ChainCheckFailure(problems: problems) }
        return linked
    }

    /// The source line of the instruction an issue is at (issues count slots, lines count instructions).
    static func sourceLine(of issue: ChainCheckIssue, in chain: AssembledChain) -> Int? {
        guard !issue.instruction.isEmpty else { return nil }
        var slot = 0
        for (index, instruction) in chain.instructions.enumerated() {
            if slot == issue.pc { return chain.sourceLines.indices.contains(index) ? chain.sourceLines[index] : nil }
            slot += instruction.slotCount
        }
        return nil
    }

    /// The IDs programs will have once these are loaded: loadObject gives each program of an
    /// object the lowest free ID, in catalog order.
    func predictedProgramIDs(loading programs: [String], registry: Registry) -> [String: UInt32] {
        var ids = registry.programs.mapValues(\.id)
        for name in programs where ids[name] == nil {
            guard let object = try? catalog.entry(name).object else { continue }
            var used = Set(ids.values)
            for entry in catalog.entries where entry.object == object && entry.kind == .program && ids[entry.key] == nil {
                guard let id = (1..<ABI.progTableSize).first(where: { !used.contains($0) }) else { return ids }
                used.insert(id)
                ids[entry.key] = id
            }
        }
        // Each program by `package.name` too, as symbols(addingChains:) has them.
        for (key, id) in ids {
            if let entry = try? catalog.entry(key) { ids[entry.symbol] = id }
        }
        return ids
    }
}
