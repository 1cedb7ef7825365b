import BPFKit
import BPFObjects
import BPFTestObjects
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import HikeVMTestSupport
import Testing

/// The kernel VM and the Swift reference interpreter run the same random chains on the same
/// packets and must agree on everything: verdict, fault reason, r0, pc, chain, packet bytes and
/// shared memory. At XDP and at tc (the programs' and the loader's tc builds, on an skb).
/// Set HIKE_DIFF_SEED to replay a run and HIKE_DIFF_COUNT to change its size.
@Suite(.serialized) struct VMDifferentialTests {
    init() throws { try KernelTest.prepare() }

    /// The hook the VM runs at.
    enum Hook: String, CaseIterable, CustomTestStringConvertible {
        case xdp, tc

        var testDescription: String { rawValue }

        /// What the program returns for a chain's verdict: the verdict at XDP; at tc, TC_ACT_OK
        /// (0) for XDP_PASS, TC_ACT_REDIRECT (7) for XDP_REDIRECT, TC_ACT_SHOT (2) for the rest.
        func action(_ verdict: UInt32) -> UInt32 {
            guard self == .tc else { return verdict }
            switch verdict {
            case ABI.xdpPass: return 0
            case ABI.xdpRedirect: return 7
            default: return 2
            }
        }
    }

    struct Outcome: Equatable, CustomStringConvertible {
        /// What the program returned.
        var action: UInt32
        /// The chain's verdict, as the VM recorded it.
        var verdict: UInt32
        var fault: UInt32
        var r0: UInt64
        var pc: UInt32
        var chainID: UInt32
        var packet: [UInt8]
        var sharedMemory: [UInt8]

        var description: String {
            "action \(action) verdict \(verdict) fault \(fault) r0 0x\(String(r0, radix: 16)) pc \(pc) chain 0x\(String(chainID, radix: 16))"
        }
    }

    @Test(arguments: Hook.allCases) func kernelVMAgreesWithTheReferenceInterpreter(at hook: Hook) throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["HIKE_DIFF_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        let count = environment["HIKE_DIFF_COUNT"].flatMap { Int($0) } ?? 10_000
        print("differential test at \(hook): seed \(seed), \(count) chain sets (replay with HIKE_DIFF_SEED=\(seed))")

        let test = try KernelTest.instance(objects: EmbeddedObjects.all + EmbeddedTestObjects.all)
        let hike = test.instance
        let names = ["hike_pass", "hike_drop", "test_add", "test_xor_pkt", "test_verdict", "test_shmem"]
        var programIDs: [String: UInt32] = [:]
        var models: [UInt32: any ProgramModel] = [:]
        for name in names {
            let record = try hike.loadProgram(name)
            programIDs[name] = record.id
            models[record.id] = try #require(ReferencePrograms.byName[name])
        }
        // The root chain is a registered chain, so a loader can start on it; the others only
        // live in the maps, written directly below for speed.
        let rootID = try #require(try hike.symbols(addingChains: ["c0"])["c0"])
        try hike.installChains([(name: "c0", id: rootID, instructions: [.exit], source: nil)])
        let rootSlot = try #require(try hike.registry().chains["c0"]).slot
        let loader = try hike.detachedLoader("ip6_classifier", chain: "c0", defaultVerdict: ABI.xdpDrop, tc: hook == .tc)
        let slots = try hike.systemMap("hvm_chains")
        let ids = try hike.systemMap("hvm_chain_ids")
        let shmem = try hike.systemMap("hvm_shmem")
        let cpus = try possibleCPUCount()
        let shmemStride = (shmem.valueSize + 7) & ~7

        var options = ChainGenerator.Options()
        options.programs = programIDs
        options.firstChainIndex = rootID & ~ABI.chainFlag
        options.emptyProgramID = 200
        options.allowCheckerInvalid = true  // bad opcodes and jumps: the VM must fault as the interpreter does
        let maxChains = options.chainCount.upperBound
        var mismatches: [String] = []
        var faultsSeen = Set<UInt32>()
        var verdictsSeen = Set<UInt32>()

        for iteration in 0..<count {
            let iterationSeed = seed &+ UInt64(iteration)
            var generator = ChainGenerator(seed: iterationSeed, options: options)
            let generated = generator.chains()
            var packet = generator.packet()
            packet[12] = 0x86  // the loader runs chains on IPv6 frames only
            packet[13] = 0xdd
            // An skb that says IPv6 holds at least the IPv6 header: the kernel refuses shorter test runs.
            if hook == .tc && packet.count < 54 { packet += [UInt8](repeating: 0, count: 54 - packet.count) }
            let memory = generator.sharedMemory()

            // Chain i of the set goes to slot rootSlot + i; IDs the set lacks are removed.
            for index in 0..<maxChains {
                let id = rootID + UInt32(index)
                let slot = rootSlot + UInt32(index)
                if let instructions = generated.chains[id] {
                    try slots.update(key: BPFMap.bytesOf(slot), value: Self.chainValue(id: id, instructions))
                    try ids.update(id, slot)
                } else {
                    try ids.delete(id)
                }
            }
            let perCPU = (0..<cpus).flatMap { _ in memory + [UInt8](repeating: 0, count: shmemStride - memory.count) }
            try shmem.update(key: BPFMap.bytesOf(UInt32(0)), value: perCPU)

            let before = try hike.lastResults()
            let run = try loader.testRun(TestRunOptions(data: packet))
            let last = try #require(try hike.resultAfter(before), "no CPU recorded a result (seed \(iterationSeed))")
            let memoryAfter = try #require(try shmem.lookup(key: BPFMap.bytesOf(UInt32(0))))
            let kernel = Outcome(action: run.returnValue, verdict: last.verdict, fault: last.fault, r0: last.r0, pc: last.pc, chainID: last.chainID,
                                 packet: run.data,
                                 sharedMemory: Array(memoryAfter[last.cpu * shmemStride..<last.cpu * shmemStride + memory.count]))

            let reference = Interpreter(chains: generated.chains, programs: models, defaultVerdict: ABI.xdpDrop)
                .run(rootChain: generated.root, packet: packet, sharedMemory: memory)
            let swift = Outcome(action: hook.action(reference.verdict), verdict: reference.verdict, fault: reference.fault.rawValue, r0: reference.r0, pc: reference.pc,
                                chainID: reference.chainID, packet: reference.packet, sharedMemory: reference.sharedMemory)
            faultsSeen.insert(kernel.fault)
            verdictsSeen.insert(kernel.verdict)
            if kernel != swift {
                let listing = generated.order.map { id in
                    ChainDisassembler(symbols: generated.names)
                        .text(chain: generated.names[id] ?? "0x\(String(id, radix: 16))", generated.chains[id] ?? [])
                }.joined(separator: "\n")
                mismatches.append("""
                    seed \(iterationSeed) (iteration \(iteration)):
                      kernel: \(kernel)\(kernel.packet != swift.packet ? " (packet differs)" : "")\(kernel.sharedMemory != swift.sharedMemory ? " (shared memory differs)" : "")
                      swift:  \(swift)
                    \(listing)
                    """)
                if mismatches.count >= 3 { break }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.joined(separator: "\n\n"))")
        // The random chains must have exercised the interesting outcomes, else the test proves little.
        print("differential test at \(hook): verdicts seen \(verdictsSeen.sorted()), faults seen \(faultsSeen.sorted())")
        if count >= 1000 {
            #expect(faultsSeen.isSuperset(of: [0, 1, 2, 3, 4, 6, 7]), "faults seen: \(faultsSeen.sorted())")
            #expect(verdictsSeen.isSuperset(of: [ABI.xdpDrop, ABI.xdpPass]))
        }
    }

    /// `struct hvm_chain` for a slot.
    static func chainValue(id: UInt32, _ instructions: [BPFInstruction]) -> [UInt8] {
        let code = instructions.encoded()
        var value = [UInt8](repeating: 0, count: 16 + Int(ABI.chainInsnsMax) * 8)
        withUnsafeBytes(of: id.littleEndian) { value.replaceSubrange(0..<4, with: $0) }
        let slots = UInt16(min(code.count / 8, Int(ABI.chainInsnsMax)))
        withUnsafeBytes(of: slots.littleEndian) { value.replaceSubrange(4..<6, with: $0) }
        let usable = min(code.count, Int(ABI.chainInsnsMax) * 8)
        value.replaceSubrange(16..<16 + usable, with: code.prefix(usable))
        return value
    }
}
