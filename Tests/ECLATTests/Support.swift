// Shared helpers: compile with a hand-made catalog, link with the reference programs' IDs, check
// with ChainChecker and run on the Swift reference interpreter.

import ECLAT
import HikeVM
import HikeVMTestSupport

enum Support {
    /// The reference programs, with the arities of their models.
    static let catalog = ECLATCatalog(programs: [
        "hike_pass": .init(package: "hike_default", argumentCount: 0, isFinal: true),
        "hike_drop": .init(package: "hike_default", argumentCount: 0, isFinal: true),
        "test_add": .init(package: "test", argumentCount: 2),
        "test_xor_pkt": .init(package: "test", argumentCount: 2),
        "test_verdict": .init(package: "test", argumentCount: 1),
        "test_shmem": .init(package: "test", argumentCount: 1),
    ], loaders: ECLATCatalog.standardLoaders)

    /// The reference programs' IDs by the symbols compiled chains call them by (`package.name`).
    static let programIDs: [String: UInt32] = Dictionary(uniqueKeysWithValues: catalog.programs.keys.compactMap { key in
        ReferencePrograms.defaultIDs[key].map { (catalog.symbol(ofKey: key), $0) }
    })

    static let header = "from programs.hike_default import hike_pass, hike_drop; from programs.test import test_add, test_xor_pkt, test_verdict, test_shmem\n"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func compile(_ source: String, defines: [String: String] = [:]) throws -> CompiledScript {
        try ECLATCompiler.compile(source, file: "test.eclat", catalog: catalog, defines: defines)
    }

    /// Compiles, links, checks and runs the first chain of `source`.
    static func run(_ source: String, packet: [UInt8] = Array(0..<64), sharedMemory: [UInt8] = [],
                    defines: [String: String] = [:]) throws -> InterpreterResult {
        let script = try compile(source, defines: defines)
        let linked = try script.link(programs: programIDs)
        var names: [UInt32: String] = [:]
        for (name, id) in programIDs { names[id] = name }
        for (name, id) in linked.ids { names[id] = name }
        let finals = Set([ReferencePrograms.defaultIDs["hike_pass"], ReferencePrograms.defaultIDs["hike_drop"]].compactMap { $0 })
        let checker = ChainChecker(knownIDs: Set(names.keys), names: names, finalIDs: finals)
        for name in linked.order {
            guard let id = linked.ids[name], let chain = linked.chains[id] else { continue }
            try checker.check(chain, chain: name)
        }
        let interpreter = Interpreter(chains: linked.chains, programs: ReferencePrograms.table())
        guard let first = linked.order.first, let root = linked.ids[first] else { throw Failure(description: "no chain") }
        return interpreter.run(rootChain: root, packet: packet, sharedMemory: sharedMemory)
    }

    /// The value a chain `def main():` with `body` (one statement per line) returns.
    static func value(_ body: String, packet: [UInt8] = Array(0..<64), prelude: String = "") throws -> UInt64 {
        let indented = body.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
        let result = try run(header + prelude + "def main():\n" + indented + "\n", packet: packet)
        guard result.fault == .none else { throw Failure(description: "fault: \(result)") }
        return result.r0
    }

    /// The diagnostics of a source that must not compile.
    static func errors(_ source: String, defines: [String: String] = [:], strict: Bool = false) -> [AssemblerDiagnostic] {
        do {
            _ = try ECLATCompiler.compile(source, file: "test.eclat", catalog: catalog, defines: defines,
                                          options: ECLATOptions(strict: strict))
            return []
        } catch {
            return error.diagnostics
        }
    }
}
