// Shared helpers of the HikeVM tests.

import BPFInstructions
@testable import HikeVM
import HikeVMTestSupport

enum TestSupport {
    /// Assembles `source`, links it with the reference programs (default IDs) and its own chains
    /// (first chain = HVM_CHAIN_FLAG | 1, …).
    static func link(_ source: String) throws -> LinkedChains {
        try ChainAssembler.assemble(source, file: "test.hvm").link(programs: ReferencePrograms.defaultIDs)
    }

    /// Runs the first chain of `source` on `packet`.
    static func run(
        _ source: String, packet: [UInt8] = Array(0..<64), sharedMemory: [UInt8] = [],
        programs: [UInt32: any ProgramModel] = ReferencePrograms.table(), defaultVerdict: UInt32 = ABI.xdpDrop
    ) throws -> InterpreterResult {
        let linked = try link(source)
        let interpreter = Interpreter(chains: linked.chains, programs: programs, defaultVerdict: defaultVerdict)
        let root = linked.ids[linked.order[0]] ?? 0
        return interpreter.run(rootChain: root, packet: packet, sharedMemory: sharedMemory)
    }

    /// Runs a single chain given as instructions.
    static func run(_ instructions: [BPFInstruction], packet: [UInt8] = Array(0..<64)) -> InterpreterResult {
        let id = ABI.chainFlag | 1
        return Interpreter(chains: [id: instructions], programs: ReferencePrograms.table())
            .run(rootChain: id, packet: packet)
    }

    /// Assembles one chain without names (so no linking is needed).
    static func instructions(_ body: String) throws -> [BPFInstruction] {
        try ChainAssembler.assemble("chain t\n" + body).first?.link(symbols: [:]) ?? []
    }

    /// r0 after running `body` + `exit` on a fresh chain; fails the test on a fault.
    static func r0(_ body: String) throws -> UInt64 {
        let result = try run("chain t\n" + body + "\nexit\n")
        guard result.fault == .none else {
            throw TestFailure(message: "unexpected fault \(result.fault) at pc \(result.pc)")
        }
        return result.r0
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
