import BPFKit
import BPFObjects
import BPFTestObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import HikeVMTestSupport
import Testing

/// The kernel VM on hand-built chains: arithmetic, program calls, chain calls, faults.
@Suite(.serialized) struct VMBasicsTests {
    let test: TestInstance
    var hike: HikeInstance { test.instance }
    let packet = PacketBuilder.udp6(source: PacketBuilder.ipv6("fc00::1") ?? [], destination: PacketBuilder.ipv6("fc00::2") ?? [],
                                    sourcePort: 1000, destinationPort: 2000, payload: Array(repeating: 0x5a, count: 32))

    init() throws {
        try KernelTest.prepare()
        test = try KernelTest.instance(objects: EmbeddedObjects.all + EmbeddedTestObjects.all)
        for program in ["hike_pass", "hike_drop", "monitor", "test_add", "test_xor_pkt"] {
            try hike.loadProgram(program)
        }
    }

    /// Installs one chain under name and runs the packet through an ip6_classifier on it.
    func run(_ name: String, _ instructions: [BPFInstruction], defaultVerdict: UInt32 = ABI.xdpDrop,
             also: [(String, [BPFInstruction])] = []) throws -> (TestRunResult, VMResult) {
        let symbols = try hike.symbols(addingChains: [name] + also.map(\.0))
        let chains = ([(name, instructions)] + also).map { (name: $0.0, id: symbols[$0.0] ?? 0, instructions: $0.1, source: String?.none) }
        try hike.installChains(chains)
        let loader = try hike.detachedLoader("ip6_classifier", chain: name, defaultVerdict: defaultVerdict)
        let before = try hike.lastResults()
        let run = try loader.testRun(TestRunOptions(data: packet))
        let result = try #require(try hike.resultAfter(before))
        return (run, result)
    }

    func id(_ program: String) throws -> Int32 {
        Int32(try #require(try hike.registry().programs[program]).id)
    }

    @Test func arithmeticEndsWithTheDefaultVerdict() throws {
        let (run, result) = try run("arith", [
            .mov64(.r2, imm: 7), .alu64(.mul, dst: .r2, imm: 6), .mov64(.r0, .r2), .alu64(.add, dst: .r0, imm: -2), .exit,
        ], defaultVerdict: ABI.xdpPass)
        #expect(run.returnValue == ABI.xdpPass)
        #expect(result.r0 == 40)
        #expect(result.fault == 0)
        #expect(result.pc == 4)
    }

    @Test func programCallResumesWithItsResult() throws {
        let (run, result) = try run("add", [
            .mov64(.r1, imm: try id("test_add")), .mov64(.r2, imm: 30), .mov64(.r3, imm: 12), .call(helper: ABI.fnCall),
            .mov64(.r1, imm: try id("hike_pass")), .jump(.jeq, dst: .r0, imm: 42, offset: 1),
            .mov64(.r1, imm: try id("hike_drop")), .call(helper: ABI.fnCall), .exit,
        ])
        #expect(run.returnValue == ABI.xdpPass)
        #expect(result.r0 == 42)
        #expect(result.pc == 7)  // the final program's call
    }

    @Test func programsWriteThePacket() throws {
        let (run, _) = try run("xor", [
            .mov64(.r1, imm: try id("test_xor_pkt")), .mov64(.r2, imm: 70), .mov64(.r3, imm: 0xff), .call(helper: ABI.fnCall),
            .mov64(.r1, imm: try id("hike_pass")), .call(helper: ABI.fnCall),
        ])
        var expected = packet
        expected[70] ^= 0xff
        #expect(run.data == expected)
    }

    @Test func chainCallsReturnR0() throws {
        let symbols = try hike.symbols(addingChains: ["outer", "inner"])
        let inner = try #require(symbols["inner"])
        let (_, result) = try run("outer", [
            .mov64(.r1, imm: Int32(bitPattern: inner)), .mov64(.r2, imm: 5), .call(helper: ABI.fnCall),
            .alu64(.add, dst: .r0, imm: 1), .exit,
        ], also: [("inner", [.mov64(.r0, .r2), .alu64(.lsh, dst: .r0, imm: 3), .exit])])
        #expect(result.r0 == 41)
        #expect(result.fault == 0)
    }

    @Test func faultsAreCountedAndReported() throws {
        // A read far past the packet's end.
        let (run, result) = try run("oob", [
            .ldImm64(dst: .r1, imm: Int64(ABI.address(bank: ABI.bankPacket, offset: 4000))),
            .load(size: .w, dst: .r0, src: .r1, offset: 0), .exit,
        ], defaultVerdict: ABI.xdpDrop)
        #expect(run.returnValue == ABI.xdpDrop)
        #expect(result.fault == Fault.invalidAccess.rawValue)
        #expect(result.pc == 2)
        let chainID = try #require(try hike.registry().chains["oob"]).id
        #expect(try hike.faultCounts().contains { $0.chainID == chainID && $0.reason == Fault.invalidAccess.rawValue && $0.count == 1 })
        let events = try hike.drainFaultEvents()
        #expect(events.contains { $0.chainID == chainID && $0.pc == 2 && $0.packetLength == UInt32(packet.count) })
        #expect(events.count == 1)
    }

    @Test func infiniteLoopHitsTheBudget() throws {
        let (run, result) = try run("spin", [.alu64(.add, dst: .r0, imm: 1), .ja(offset: -2)])
        #expect(run.returnValue == ABI.xdpDrop)
        #expect(result.fault == Fault.budget.rawValue)
        #expect(result.r0 == UInt64(ABI.activationBudget / 2))
        try expectCountedAndReported("spin", reason: .budget, pc: 0)
    }

    @Test func storeRefusesChainsTheCheckerRejects() throws {
        let ids = try hike.symbols(addingChains: ["bad"])
        let error = #expect(throws: RuntimeError.self) {
            try hike.installChains([(name: "bad", id: ids["bad"] ?? 0, source: nil,
                                     instructions: [.mov64(.r1, imm: 200), .call(helper: ABI.fnCall), .exit])].map {
                (name: $0.name, id: $0.id, instructions: $0.instructions, source: $0.source)
            })
        }
        #expect(String(describing: error).contains("pc 1"))
        #expect(try hike.registry().chains["bad"] == nil)
    }

    @Test func unknownCalleeFaults() throws {
        // The ID is computed at run time: the store's checker refuses a constant unknown callee.
        let (run, result) = try run("nobody", [.mov64(.r1, imm: 100), .alu64(.add, dst: .r1, imm: 100),
                                               .call(helper: ABI.fnCall), .exit])
        #expect(run.returnValue == ABI.xdpDrop)
        #expect(result.fault == Fault.unknownCallee.rawValue)
        #expect(result.pc == 2)
        try expectCountedAndReported("nobody", reason: .unknownCallee, pc: 2)
    }

    @Test func faultsUseTheConfiguredDefaultVerdict() throws {
        let (run, result) = try run("lenient", [.mov64(.r1, imm: 200), .alu64(.add, dst: .r1, imm: 1),
                                                .call(helper: ABI.fnCall), .exit], defaultVerdict: ABI.xdpPass)
        #expect(run.returnValue == ABI.xdpPass)
        #expect(result.fault == Fault.unknownCallee.rawValue)
    }

    /// The VM runs `r1 = program; call` as one step; at the edges of the budgets and the call
    /// limit it must still count and fault exactly as two steps would (the reference interpreter
    /// knows nothing of the fusion).
    @Test(arguments: [2046, 2047, 2048])
    func fusedCallAtTheActivationBudgetEdge(iterations: Int32) throws {
        let add = try id("test_add")
        // 1 + 2 × iterations instructions before `r1 = test_add`.
        try expectSameAsInterpreter("edge\(iterations)", [
            .mov64(.r9, imm: iterations), .alu64(.sub, dst: .r9, imm: 1), .jump(.jne, dst: .r9, imm: 0, offset: -2),
            .mov64(.r1, imm: add), .call(helper: ABI.fnCall), .exit,
        ])
    }

    @Test func fusedCallsHitTheCallLimit() throws {
        let add = try id("test_add")
        try expectSameAsInterpreter("limit", [
            .mov64(.r1, imm: add), .call(helper: ABI.fnCall), .ja(offset: -3),
        ], expectedFault: .callLimit)
    }

    func expectSameAsInterpreter(_ name: String, _ instructions: [BPFInstruction], expectedFault: Fault? = nil) throws {
        let (run, result) = try run(name, instructions, defaultVerdict: ABI.xdpDrop)
        let chainID = try #require(try hike.registry().chains[name]).id
        let programs = try hike.registry().programs
        var models: [UInt32: any ProgramModel] = [:]
        for (name, record) in programs { models[record.id] = ReferencePrograms.byName[name] }
        let reference = Interpreter(chains: [chainID: instructions], programs: models, defaultVerdict: ABI.xdpDrop)
            .run(rootChain: chainID, packet: packet)
        #expect(run.returnValue == reference.verdict)
        #expect(result.fault == reference.fault.rawValue)
        #expect(result.pc == reference.pc)
        #expect(result.r0 == reference.r0)
        if let expectedFault { #expect(result.fault == expectedFault.rawValue) }
    }

    /// The fault is in hvm_faults (once) and its event, with chain and pc, in the ring buffer.
    func expectCountedAndReported(_ chain: String, reason: Fault, pc: UInt32) throws {
        let chainID = try #require(try hike.registry().chains[chain]).id
        #expect(try hike.faultCounts() == [FaultCount(chainID: chainID, reason: reason.rawValue, count: 1)])
        let events = try hike.drainFaultEvents()
        #expect(events.count == 1)
        #expect(events.first.map { ($0.chainID, $0.pc, $0.reason) } ?? (0, 0, 0) == (chainID, pc, reason.rawValue))
    }
}
