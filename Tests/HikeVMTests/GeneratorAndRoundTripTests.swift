// The random chain generator, the chain disassembler's round trip and the interpreter fuzz test.

import BPFInstructions
import Testing
@testable import HikeVM
import HikeVMTestSupport

@Suite("Generator, chain disassembler and fuzzing")
struct GeneratorAndRoundTripTests {
    /// Name → ID for linking what the disassembler printed with `names`.
    static func forward(_ names: [UInt32: String]) -> [String: UInt32] {
        Dictionary(names.map { ($0.value, $0.key) }, uniquingKeysWith: { first, _ in first })
    }

    @Test func generatorIsDeterministic() {
        var a = ChainGenerator(seed: 1234)
        var b = ChainGenerator(seed: 1234)
        for _ in 0..<20 {
            #expect(a.chains() == b.chains())
            #expect(a.packet() == b.packet())
        }
        var c = ChainGenerator(seed: 1235)
        #expect(c.chains() != ChainGenerator(seed: 1234).chainsOnce())
    }

    @Test func generatedChainsPassTheChecker() {
        for seed in UInt64(0)..<1500 {
            var generator = ChainGenerator(seed: seed)
            let set = generator.chains()
            let checker = ChainChecker(knownIDs: set.knownIDs, names: set.names)
            for id in set.order {
                let issues = checker.issues(set.chains[id] ?? [])
                #expect(issues.isEmpty, "seed \(seed) chain \(set.names[id] ?? ""): \(issues)")
                #expect(VMSlot.slots(set.chains[id] ?? []).count <= Int(ABI.chainInsnsMax))
            }
        }
    }

    @Test func invalidModeProducesCheckerErrors() {
        var options = ChainGenerator.Options()
        options.allowCheckerInvalid = true
        options.invalidPercent = 20
        var invalid = 0
        for seed in UInt64(0)..<200 {
            var generator = ChainGenerator(seed: seed, options: options)
            let set = generator.chains()
            let checker = ChainChecker(knownIDs: set.knownIDs)
            if set.order.contains(where: { !checker.issues(set.chains[$0] ?? []).isEmpty }) { invalid += 1 }
        }
        #expect(invalid > 150)
    }

    /// Runs generated sets and tallies how they end; every fault must show up.
    @Test func generatedChainsReachEveryOutcome() {
        var faults: [Fault: Int] = [:]
        var verdicts: [UInt32: Int] = [:]
        var opcodes = Set<UInt8>()
        let programs = ReferencePrograms.table()
        for seed in UInt64(0)..<3000 {
            var options = ChainGenerator.Options()
            options.allowCheckerInvalid = seed % 4 == 0
            var generator = ChainGenerator(seed: seed, options: options)
            let set = generator.chains()
            for chain in set.chains.values { opcodes.formUnion(chain.map(\.opcode)) }
            let result = Interpreter(chains: set.chains, programs: programs)
                .run(rootChain: set.root, packet: generator.packet(), sharedMemory: generator.sharedMemory())
            faults[result.fault, default: 0] += 1
            if result.fault == .none { verdicts[result.verdict, default: 0] += 1 }
        }
        for fault in Fault.allCases {
            #expect((faults[fault] ?? 0) > 0, "no run ended with \(fault.name): \(faults)")
        }
        // Most runs should end normally, so the differential test compares long runs.
        #expect((faults[.none] ?? 0) > 1200, "\(faults)")
        #expect(verdicts.count >= 3, "\(verdicts)")
        // Every opcode the VM runs is generated.
        let expected: [UInt8] = [
            0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0x87,
            0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd7,
            0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84,
            0x94, 0x9c, 0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc,
            0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d, 0x85, 0x95,
            0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd,
            0x06, 0x16, 0x1e, 0x26, 0x2e, 0x36, 0x3e, 0x46, 0x4e, 0x56, 0x5e, 0x66, 0x6e, 0x76, 0x7e,
            0xa6, 0xae, 0xb6, 0xbe, 0xc6, 0xce, 0xd6, 0xde,
            0x18, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b,
        ]
        let missing = expected.filter { !opcodes.contains($0) }.map { "0x" + String($0, radix: 16) }
        #expect(missing.isEmpty, "never generated: \(missing)")
    }

    @Test func disassemblerRoundTripsGeneratedChains() throws {
        var raw = 0
        var folded = 0
        for seed in UInt64(0)..<1000 {
            var options = ChainGenerator.Options()
            options.allowCheckerInvalid = seed % 2 == 0
            options.invalidPercent = 10
            var generator = ChainGenerator(seed: seed, options: options)
            let set = generator.chains()
            let disassembler = ChainDisassembler(symbols: set.names)
            let source = set.order.map { disassembler.text(chain: set.names[$0] ?? "c", set.chains[$0] ?? []) }
                .joined(separator: "\n")
            raw += source.split(separator: "\n").filter { $0.contains(".insn") }.count
            folded += source.split(separator: "\n").filter { $0.contains("call test_") }.count
            let assembled = try ChainAssembler.assemble(source, file: "seed-\(seed).hvm")
            let symbols = Self.forward(set.names)
            for (index, chain) in assembled.enumerated() {
                let id = set.order[index]
                #expect(try chain.link(symbols: symbols) == set.chains[id], "seed \(seed) chain \(chain.name):\n\(source)")
            }
        }
        #expect(raw > 0)
        #expect(folded > 100)
    }

    @Test func disassemblerRoundTripsRandomBytes() throws {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<2000 {
            let count = Int.random(in: 1...24, using: &rng)
            var bytes = (0..<(count * 8)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for slot in stride(from: 0, to: bytes.count, by: 8) {
                // Mostly real opcodes with small registers and offsets, so that labels occur.
                if Bool.random(using: &rng) {
                    bytes[slot] = [0x05, 0x15, 0x06, 0x18, 0xb7, 0x85, 0x95, 0x61, 0x7b][Int.random(in: 0...8, using: &rng)]
                    bytes[slot + 1] &= 0x77
                    bytes[slot + 2] = UInt8(Int.random(in: 0...6, using: &rng))
                    bytes[slot + 3] = Bool.random(using: &rng) ? 0 : 0xff
                }
            }
            guard let instructions = try? BPFInstruction.decode(bytes) else { continue }
            let text = ChainDisassembler(symbols: [1: "one", 0x14: "twenty"]).text(chain: "r", instructions)
            let chains = try ChainAssembler.assemble(text)
            #expect(try chains.first?.link(symbols: ["one": 1, "twenty": 0x14]) == instructions, "\(text)")
        }
    }

    @Test func disassemblerOutputIsReadable() throws {
        let source = """
            chain main
                r2 = 1
                call test_add
                r1 = @test_add
                call 0x11
                if r0 > 3 goto done
                r1 = 1
                call pkt_read_u16
                call elem
                goto +0
            done:
                exit
            """
        let linked = try TestSupport.link(source)
        let code = try #require(linked.chains[ABI.chainFlag | 1])
        let names = Dictionary(uniqueKeysWithValues: ReferencePrograms.defaultIDs.map { ($0.value, $0.key) })
        let text = ChainDisassembler(symbols: names).text(chain: "main", code)
        #expect(text == """
            chain main
                r2 = 0x1
                call test_add
                r1 = @test_add
                call 0x11
                if r0 > 0x3 goto L1
                r1 = 0x1
                call pkt_read_u16
                call elem
                goto L1
            L1:
                exit

            """)
    }

    /// The interpreter must never trap, whatever the bytes.
    @Test func interpreterNeverTrapsOnRandomBytes() {
        var rng = SplitMix64(seed: 0x5eed)
        let programs = ReferencePrograms.table()
        let ids = (1...3).map { ABI.chainFlag | UInt32($0) }
        var faults: [Fault: Int] = [:]
        for _ in 0..<20_000 {
            var chains: [UInt32: [UInt8]] = [:]
            for id in ids where Int.random(in: 0...3, using: &rng) > 0 || id == ids[0] {
                let slots = Int.random(in: 0...40, using: &rng)
                var bytes = (0..<(slots * 8)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                for slot in stride(from: 0, to: bytes.count, by: 8) where Int.random(in: 0...2, using: &rng) == 0 {
                    // Valid opcodes with small registers make runs go further.
                    bytes[slot] = Self.vmOpcodes[Int.random(in: 0..<Self.vmOpcodes.count, using: &rng)]
                    bytes[slot + 1] = UInt8.random(in: 0...0xaa, using: &rng) & 0x9f
                    if Bool.random(using: &rng) { bytes[slot + 3] = bytes[slot + 2] & 0x80 == 0 ? 0 : 0xff }
                    if bytes[slot] == 0x85 {
                        bytes[slot + 4] = [0x14, 0x10, 0x20, 0x23, 0x24, 0x28, 0x2a][Int.random(in: 0...6, using: &rng)]
                        bytes[slot + 5] = 0
                        bytes[slot + 6] = 0
                        bytes[slot + 7] = 0
                    }
                }
                chains[id] = bytes
            }
            let packet = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var interpreter = Interpreter(chainBytes: chains, programs: programs, defaultVerdict: 1)
            interpreter.random = { 4 }
            let result = interpreter.run(rootChain: ids[0], packet: packet)
            faults[result.fault, default: 0] += 1
            #expect(result.executed <= ABI.packetBudget)
            #expect(result.programCalls <= ABI.progCallsMax)
            #expect(result.depth < ABI.depthMax)
            #expect(result.verdict <= ABI.verdictMax)
            #expect(result.packet.count == packet.count)
            #expect(result.sharedMemory.count == Int(ABI.shmemSize))
        }
        #expect(faults.count >= 6, "\(faults)")
    }

    static let vmOpcodes: [UInt8] = [
        0x07, 0x0f, 0x17, 0x1f, 0x37, 0x3f, 0x67, 0x6f, 0x77, 0x7f, 0x87, 0x97, 0xb7, 0xbf, 0xc7, 0xd7,
        0x04, 0x0c, 0x34, 0x3c, 0x94, 0x9c, 0xb4, 0xbc, 0xd4, 0xdc,
        0x05, 0x15, 0x1d, 0x25, 0x55, 0x5d, 0x65, 0xa5, 0xc5, 0x06, 0x16, 0x1e, 0x56,
        0x18, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b,
        0x85, 0x85, 0x85, 0x95, 0x95,
    ]
}

extension ChainGenerator {
    /// A fresh generator's first set (for comparisons).
    func chainsOnce() -> GeneratedChains {
        var copy = ChainGenerator(seed: seed, options: options)
        return copy.chains()
    }
}
