// Random slots for every one of the 256 opcodes, with fields biased towards the values that
// select instruction variants (offsets 0/1/8/16/32, END widths, atomic op codes, r11 and the
// undecodable registers 12-15), assembled as raw bytes and compared with llvm-objdump 21.

import Foundation
import Testing

#if canImport(BPFKit)
import BPFKit
#else
import BPFInstructions
#endif

/// SplitMix64: deterministic, so a failure reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum FuzzCorpus {
    static func register(_ rng: inout SplitMix64) -> UInt8 {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: UInt8.random(in: 11...15, using: &rng)
        default: UInt8.random(in: 0...10, using: &rng)
        }
    }

    static func offset(_ rng: inout SplitMix64) -> Int16 {
        let special: [Int16] = [0, 0, 0, 1, -1, 8, 16, 32, 2, .max, .min, 0x100]
        return Int.random(in: 0..<3, using: &rng) == 0
            ? Int16.random(in: .min ... .max, using: &rng)
            : special.randomElement(using: &rng) ?? 0
    }

    static func imm(_ rng: inout SplitMix64) -> Int32 {
        let special: [Int32] = [0, 0, 1, -1, 16, 32, 64, 8, 0x100, 0x110, 0x101, 0x111, 0x1_0000, .max, .min]
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return Int32.random(in: .min ... .max, using: &rng)
        case 1: return Int32.random(in: 0...0xff, using: &rng)  // every atomic op code
        default: return special.randomElement(using: &rng) ?? 0
        }
    }

    /// `count` random slots per opcode, shuffled, with a label every 500 instructions so that the
    /// branch annotations see several symbols (and targets before, between and after them).
    static func assembly(seed: UInt64, perOpcode count: Int) -> String {
        var rng = SplitMix64(state: seed)
        var slots: [[UInt8]] = []
        for opcode in 0...255 {
            for _ in 0..<count {
                let dst = register(&rng)
                let src = register(&rng)
                let insn = BPFInstruction(opcode: UInt8(opcode), dst: dst, src: src,
                                          offset: offset(&rng), imm: imm(&rng))
                var bytes = insn.encode()
                if bytes[0] == 0x18, bytes[2] == 0, bytes[3] == 0, dst <= 11 {
                    // The second slot of a (possibly) wide instruction: mostly clean, sometimes noisy.
                    let reserved: [UInt8] = Int.random(in: 0..<4, using: &rng) == 0
                        ? (0..<4).map { _ in UInt8.random(in: 0...255, using: &rng) } : [0, 0, 0, 0]
                    let high = UInt32(bitPattern: imm(&rng))
                    bytes += reserved + [UInt8(truncatingIfNeeded: high), UInt8(truncatingIfNeeded: high >> 8),
                                         UInt8(truncatingIfNeeded: high >> 16), UInt8(truncatingIfNeeded: high >> 24)]
                }
                slots.append(bytes)
            }
        }
        slots.shuffle(using: &rng)
        var text = "\t.text\n\t.globl fuzz\n\t.type fuzz,@function\nfuzz:\n"
        for (i, bytes) in slots.enumerated() {
            if i > 0, i % 500 == 0 { text += "label_\(i / 500):\n" }
            text += "\t.byte " + bytes.map { "0x" + String($0, radix: 16) }.joined(separator: ",") + "\n"
        }
        return text
    }
}

extension FuzzCorpus {
    /// Uniformly random bytes: objdump frames them itself, and each of its lines is checked on its
    /// own, so wide/narrow framing decisions are exercised too. Ends with `exit` so that no partial
    /// LD_IMM64 is left at the end.
    static func uniformAssembly(seed: UInt64, slots: Int) -> String {
        var rng = SplitMix64(state: seed)
        var text = "\t.text\n\t.globl fuzz\nfuzz:\n"
        for _ in 0..<slots {
            text += "\t.byte " + (0..<8).map { _ in "0x" + String(UInt8.random(in: 0...255, using: &rng), radix: 16) }
                .joined(separator: ",") + "\n"
        }
        return text + "\texit\n\texit\n"
    }
}

@Suite("Fuzzed slots against llvm-objdump")
struct ObjdumpFuzzTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func randomSlotsMatchObjdump(seed: UInt64) throws {
        // BPF_FUZZ_PER_OPCODE raises the sample count for a longer local run.
        let count = ProcessInfo.processInfo.environment["BPF_FUZZ_PER_OPCODE"].flatMap { Int($0) } ?? 40
        let object = try compileBPF(source: FuzzCorpus.assembly(seed: seed, perOpcode: count), named: "fuzz.s")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: object).deletingLastPathComponent().path) }
        let (compared, mismatches) = try objdumpComparison(objectPath: object)
        #expect(compared >= 256 * count)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first ones:\n\(mismatches.prefix(30).map(\.description).joined(separator: "\n"))")
    }

    @Test func uniformRandomBytesMatchObjdump() throws {
        let count = ProcessInfo.processInfo.environment["BPF_FUZZ_UNIFORM_SLOTS"].flatMap { Int($0) } ?? 10_000
        let object = try compileBPF(source: FuzzCorpus.uniformAssembly(seed: 7, slots: count), named: "uniform.s")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: object).deletingLastPathComponent().path) }
        let (compared, mismatches) = try objdumpComparison(objectPath: object)
        #expect(compared >= count / 2)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first ones:\n\(mismatches.prefix(30).map(\.description).joined(separator: "\n"))")
    }
}
