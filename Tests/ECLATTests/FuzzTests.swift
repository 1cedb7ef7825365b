// 100,000+ random and mutated scripts: the compiler never crashes or hangs; a rejection is a list
// of diagnostics inside the source; an accepted script gives chains the ChainChecker accepts and
// the interpreter runs without an unknown opcode or a bad jump.

import Foundation
import Testing
import ECLAT
import HikeVM
import HikeVMTestSupport

@Suite struct Fuzz {
    static let seeds: [String] = [
        Support.header + """
        from loaders.hike_default import ip6_sc
        ip6_sc[ipv6_sc_map] = { (0): (main) }
        ip6_sc.attach('veth0', 'xdp')
        LIMIT = 3
        def main():
            PASS = 0; DROP = 1
            u64 : res = test_add(1, 2)
            s8 : small = -3
            for i in range(LIMIT):
                res += i * 2
                if res > 10 and not small < 0:
                    break
            while res < 100:
                res <<= 1
            if res == PASS:
                hike_pass()
            elif res % 3 == 1 or Packet.readU8(0) == 5:
                Packet.writeU16(2, res)
                return helper(res, u64(small))
            else:
                hike_drop()
            return 0

        def helper(u64: a, u64: b):
            u32 : c = u32(a) / 3
            return u64(c) + b - test_shmem(a ^ b)
        """,
        "from programs.hike_default import (hike_pass)\ndef c(u8: a):\n    u8 : x = a + 1; x *= 2  # comment\n    if x: return \\\n        x\n    hike_pass()\n",
        "def a():\n    u16 : v = Packet.len()\n    return ~v | (v >> 3) & 0xff\n",
        // The original's forms: tabs, docstrings, booleans, string constants, programs.hike,
        // mixed signedness, a chain named like a program.
        "from programs.hike import drop, Packet\nDEV = 'veth0'\n\"\"\"doc\"\"\"\ndef stamp(s8: a, u32: b):\n\t'''x'''\n\tif true and a < b:\n\t\tdrop()\n\treturn a - b + false\n",
    ]

    static let vocabulary: [String] = [
        "def", "if", "elif", "else", "while", "for", "in", "range", "return", "pass", "break", "continue", "and", "or", "not",
        "from", "import", "programs.x", "loaders.x", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", ":", "=", "+=", "<<=",
        "+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "~", "==", "!=", "<", "<=", ">", ">=", "(", ")", "[", "]", "{", "}",
        ",", ".", ";", "#", "\\", "\n", "\n    ", "\n        ", "\t", " ", "'", "\"", "x", "y", "res", "main", "helper",
        "test_add", "hike_pass", "Packet", "readU8", "writeU64", "len", "ip6_sc", "attach", "0", "1", "255", "-1",
        "0xffffffffffffffff", "99999999999999999999", "0x", "LIMIT", "é", "\u{0}", "\r", "\r\n",
        "programs.hike_default", "programs.hike", "programs.mynet", "loaders.hike_default", "drop", "true", "false",
        "'''", "\"\"\"", "\n\t", "stamp", "DEV",
    ]

    func mutate(_ source: String, _ rng: inout SplitMix64) -> String {
        var scalars = Array(source.unicodeScalars)
        let rounds = Int(rng.next() % 4) + 1
        for _ in 0..<rounds {
            let position = scalars.isEmpty ? 0 : Int(rng.next() % UInt64(scalars.count + 1))
            switch rng.next() % 6 {
            case 0 where !scalars.isEmpty:  // delete a range
                let end = min(scalars.count, position + Int(rng.next() % 8) + 1)
                if position < end { scalars.removeSubrange(position..<end) }
            case 1:  // insert a token
                let token = Self.vocabulary[Int(rng.next() % UInt64(Self.vocabulary.count))]
                scalars.insert(contentsOf: token.unicodeScalars, at: min(position, scalars.count))
            case 2 where !scalars.isEmpty:  // duplicate a stretch
                let end = min(scalars.count, position + Int(rng.next() % 40) + 1)
                if position < end { scalars.insert(contentsOf: Array(scalars[position..<end]), at: position) }
            case 3:  // a random scalar
                let value = UInt32(rng.next() % 0x250)
                if let scalar = Unicode.Scalar(value) { scalars.insert(scalar, at: min(position, scalars.count)) }
            case 4 where !scalars.isEmpty:  // replace with a token
                let token = Self.vocabulary[Int(rng.next() % UInt64(Self.vocabulary.count))]
                scalars.replaceSubrange(min(position, scalars.count - 1)..<min(position + 1, scalars.count), with: token.unicodeScalars)
            default:  // swap two lines
                var lines = String(String.UnicodeScalarView(scalars)).split(separator: "\n", omittingEmptySubsequences: false)
                if lines.count > 1 {
                    let a = Int(rng.next() % UInt64(lines.count)), b = Int(rng.next() % UInt64(lines.count))
                    lines.swapAt(a, b)
                }
                scalars = Array(lines.joined(separator: "\n").unicodeScalars)
            }
        }
        return String(String.UnicodeScalarView(scalars))
    }

    func random(_ rng: inout SplitMix64) -> String {
        let count = Int(rng.next() % 60)
        return (0..<count).map { _ in Self.vocabulary[Int(rng.next() % UInt64(Self.vocabulary.count))] }.joined(separator: " ")
    }

    @Test func randomAndMutatedScripts() throws {
        var rng = SplitMix64(seed: 0xec1a7)
        let clock = ContinuousClock()
        let start = clock.now
        var accepted = 0, rejected = 0
        var slowest: Duration = .zero
        let total = 100_000
        var corpus = Self.seeds
        for iteration in 0..<total {
            let source: String
            if iteration % 4 == 0 {
                source = random(&rng)
            } else {
                source = mutate(corpus[Int(rng.next() % UInt64(corpus.count))], &rng)
            }
            let began = clock.now
            let outcome: Result<CompiledScript, AssemblerError>
            do {
                outcome = .success(try ECLATCompiler.compile(source, file: "fuzz.eclat", catalog: Support.catalog,
                                                             defines: iteration % 7 == 0 ? ["x": "3", "LIMIT": "veth0"] : [:]))
            } catch {
                outcome = .failure(error)
            }
            let took = clock.now - began
            slowest = max(slowest, took)
            #expect(took < .seconds(2), "compiling took \(took):\n\(source)")
            let lines = source.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                line.last == "\r" ? Array(line.dropLast()) : Array(line)
            }
            switch outcome {
            case .failure(let error):
                rejected += 1
                #expect(!error.diagnostics.isEmpty)
                for diagnostic in error.diagnostics {
                    let valid = diagnostic.line >= 1 && diagnostic.line <= max(lines.count, 1)
                        && diagnostic.column >= 1
                        && diagnostic.column <= (lines.indices.contains(diagnostic.line - 1) ? lines[diagnostic.line - 1].count + 1 : 1)
                    #expect(valid, "bad place \(diagnostic.line):\(diagnostic.column) for: \(diagnostic.message)\n\(source)")
                    if !valid { return }
                }
            case .success(let script):
                accepted += 1
                if corpus.count < 200 && !script.chains.isEmpty { corpus.append(source) }
                try checkAccepted(script, source)
            }
        }
        let elapsed = clock.now - start
        print("fuzz: \(total) scripts, \(accepted) accepted, \(rejected) rejected, in \(elapsed), slowest \(slowest)")
        #expect(accepted > 100)
    }

    func checkAccepted(_ script: CompiledScript, _ source: String) throws {
        let linked: LinkedChains
        do {
            linked = try script.link(programs: Support.programIDs)
        } catch {
            Issue.record("an accepted script does not link: \(error)\n\(source)")
            return
        }
        var names: [UInt32: String] = [:]
        for (name, id) in Support.programIDs { names[id] = name }
        for (name, id) in linked.ids { names[id] = name }
        let checker = ChainChecker(knownIDs: Set(names.keys), names: names, finalIDs: [0, 1])
        for (id, chain) in linked.chains {
            let issues = checker.issues(chain)
            #expect(issues.isEmpty, "\(issues)\n\(source)")
            if !issues.isEmpty { return }
            let result = Interpreter(chains: linked.chains, programs: ReferencePrograms.table()).run(rootChain: id, packet: Array(0..<64))
            #expect(result.fault != .unknownOpcode && result.fault != .badJump && result.fault != .stack, "\(result)\n\(source)")
        }
    }
}
