// The linker: chains assembled with names (from the chain assembler, eCLAT or code) get the IDs
// of the programs and chains they call. HikeRuntime links against an instance's IDs
// (`HikeInstance.install`); tools link against placeholders (`hike compile`).

import BPFInstructions

/// A reference to a program or chain name, resolved by `AssembledChain.link`.
public struct Relocation: Hashable, Sendable {
    /// Index in `AssembledChain.instructions` of the `mov` whose immediate gets the ID.
    public var index: Int
    public var symbol: String
    public var line: Int
    public var column: Int
    /// The source line, for the linker's diagnostics.
    public var sourceText: String

    public init(index: Int, symbol: String, line: Int, column: Int, sourceText: String) {
        self.index = index
        self.symbol = symbol
        self.line = line
        self.column = column
        self.sourceText = sourceText
    }
}

/// One assembled chain, before linking.
public struct AssembledChain: Hashable, Sendable {
    public var name: String
    public var file: String
    /// The instructions; relocated immediates are 0 until `link`.
    public var instructions: [BPFInstruction]
    public var relocations: [Relocation]
    /// The 1-based source line of each instruction.
    public var sourceLines: [Int]

    /// A chain from its parts. Chains built by code rather than from a file (generated SRv6
    /// chains, benchmark chains) pass no relocations when their IDs are already in place, and
    /// no source lines.
    public init(name: String, file: String = "<generated>", instructions: [BPFInstruction], relocations: [Relocation] = [],
                sourceLines: [Int] = []) {
        self.name = name
        self.file = file
        self.instructions = instructions
        self.relocations = relocations
        self.sourceLines = sourceLines
    }

    /// The instructions with every name replaced by its ID from `symbols` (programs and chains).
    /// - Throws: `AssemblerError` listing every unknown name (with the known ones) or ID that
    ///   does not fit a sign-extended 32-bit immediate.
    public func link(symbols: [String: UInt32]) throws(AssemblerError) -> [BPFInstruction] {
        var linked = instructions
        var diagnostics: [AssemblerDiagnostic] = []
        for relocation in relocations {
            func fail(_ message: String) {
                diagnostics.append(AssemblerDiagnostic(
                    file: file, line: relocation.line, column: relocation.column, message: message,
                    sourceLine: relocation.sourceText))
            }
            guard let id = symbols[relocation.symbol] else {
                let known = symbols.keys.sorted()
                fail("unknown program or chain '\(relocation.symbol)'; known: "
                    + (known.isEmpty ? "none" : known.joined(separator: ", ")))
                continue
            }
            // mov64 sign-extends its immediate: an ID with bit 31 set would load a different value.
            guard id <= UInt32(Int32.max) else {
                fail("the ID 0x\(String(id, radix: 16)) of '\(relocation.symbol)' does not fit a sign-extended 32-bit immediate")
                continue
            }
            guard linked.indices.contains(relocation.index) else { continue }
            linked[relocation.index].imm = Int32(bitPattern: id)
        }
        if !diagnostics.isEmpty { throw AssemblerError(diagnostics: diagnostics) }
        return linked
    }
}

/// Chains linked together: their IDs and instructions.
public struct LinkedChains: Hashable, Sendable {
    /// ID of each chain by name.
    public var ids: [String: UInt32]
    public var chains: [UInt32: [BPFInstruction]]
    /// Chain names in file order.
    public var order: [String]
}

extension Array where Element == AssembledChain {
    /// Links chains that call each other and programs: chain `i` (in file order) gets
    /// `chainIDs[name]` or else `HVM_CHAIN_FLAG | (firstIndex + i)`.
    public func link(programs: [String: UInt32], chainIDs: [String: UInt32] = [:], firstIndex: UInt32 = 1)
        throws(AssemblerError) -> LinkedChains
    {
        var ids: [String: UInt32] = [:]
        for (position, chain) in enumerated() {
            ids[chain.name] = chainIDs[chain.name] ?? (ABI.chainFlag | (firstIndex &+ UInt32(truncatingIfNeeded: position)))
        }
        let symbols = programs.merging(ids) { _, chain in chain }
        var result = LinkedChains(ids: ids, chains: [:], order: map(\.name))
        var diagnostics: [AssemblerDiagnostic] = []
        for chain in self {
            do throws(AssemblerError) {
                if let id = ids[chain.name] { result.chains[id] = try chain.link(symbols: symbols) }
            } catch {
                diagnostics += error.diagnostics
            }
        }
        if !diagnostics.isEmpty { throw AssemblerError(diagnostics: diagnostics) }
        return result
    }
}
