import BPFKit
import BPFObjects
import BPFTestObjects
import ECLAT
import Foundation
import HikeControl
import HikeRuntime
import HikeTestSupport
import HikeVM
import HikeVMTestSupport
import Testing

/// The language test suite on the kernel: every construct of eCLAT is compiled, installed and run
/// through the kernel VM (BPF_PROG_TEST_RUN on a detached ip6_classifier), and the VM's r0 (and
/// the packet, for writes and programs that change it) is compared with a value computed in
/// Swift, independently of the compiler: Swift's fixed-width arithmetic with eBPF's rules for
/// division by zero and signed overflow, and Swift loops for the control flow.
///
/// Speed: many chains are installed at once (one `installChains` per batch, names reused so a
/// batch replaces the previous one) and one root chain, `kroot`, dispatches to the case's chain
/// by the ID written in the packet's last four bytes: `r1 = readU32(len - 4); call r1; exit`,
/// so the root chain ends with r0 = the case chain's return value.
@Suite(.serialized) struct ECLATKernelLanguageTests {
    init() throws { try KernelTest.prepare() }

    // MARK: Cases

    /// One case: a whole script whose chains are named `@0` (the one the dispatcher calls),
    /// `@1` … `@9` (helpers), and what the kernel must give.
    struct Case {
        var label: String
        var source: String
        var defines: [String: String] = [:]
        /// The r0 the root chain ends with; nil: not checked (faults).
        var r0: UInt64?
        /// The packet changes: (offset, bytes written there).
        var writes: [(offset: Int, bytes: [UInt8])] = []
        /// The fault the VM must report (0: none).
        var fault: UInt32 = 0
        /// The verdict: the loader's default (XDP_DROP) unless a final program ran.
        var verdict: UInt32 = ABI.xdpDrop
    }

    static let header = "from programs.hike_default import hike_pass, hike_drop; from programs.vm_tests import test_add, test_xor_pkt\n"

    /// A script with one chain `@0` whose body is `lines` (each may hold nested lines).
    static func chain(_ lines: [String], prelude: String = "", helpers: String = "") -> String {
        let body = lines.joined(separator: "\n").split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
        return header + prelude + "def @0():\n" + body.joined(separator: "\n") + "\n" + helpers
    }

    /// The packet every case starts from: Ethernet + IPv6 + UDP, 64 bytes of payload; the last
    /// four bytes are the dispatcher's selector (written per case).
    static let basePacket: [UInt8] = PacketBuilder.udp6(
        source: PacketBuilder.ipv6("fc00::1") ?? [], destination: PacketBuilder.ipv6("fc00::2") ?? [],
        sourcePort: 1000, destinationPort: 2000,
        payload: (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
    static var selectorOffset: Int { basePacket.count - 4 }

    static func bigEndian(_ value: UInt64, size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: value >> UInt64((size - 1 - $0) * 8)) }
    }

    static func read(_ packet: [UInt8], _ offset: Int, size: Int) -> UInt64 {
        packet[offset..<(offset + size)].reduce(0) { $0 << 8 | UInt64($1) }
    }

    // MARK: Reference semantics (copied from ECLATTests: eBPF's rules in Swift)

    /// x/0 = 0, x%0 = x, MIN/-1 = MIN, MIN%-1 = 0, shift counts mod width.
    static func reference<T: FixedWidthInteger>(_ op: String, _ a: T, _ b: T) -> T {
        switch op {
        case "+": return a &+ b
        case "-": return a &- b
        case "*": return a &* b
        case "&": return a & b
        case "|": return a | b
        case "^": return a ^ b
        case "/": return b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue
        case "%": return b == 0 ? a : a.remainderReportingOverflow(dividingBy: b).partialValue
        case "<<": return a &<< b
        case ">>": return a &>> b
        default: fatalError("operator \(op)")
        }
    }

    static func compareReference<T: FixedWidthInteger>(_ op: String, _ a: T, _ b: T) -> Bool {
        switch op {
        case "==": return a == b
        case "!=": return a != b
        case "<": return a < b
        case "<=": return a <= b
        case ">": return a > b
        case ">=": return a >= b
        default: fatalError("comparison \(op)")
        }
    }

    /// The 64-bit register form: sign-extended for signed types.
    static func registerForm<T: FixedWidthInteger>(_ value: T) -> UInt64 {
        T.isSigned ? UInt64(bitPattern: Int64(value)) : UInt64(truncatingIfNeeded: value)
    }

    static func literal<T: FixedWidthInteger>(_ value: T) -> String {
        T.isSigned ? "(\(Int64(value)))" : "\(UInt64(truncatingIfNeeded: value))"
    }

    static let arithmeticOps = ["+", "-", "*", "&", "|", "^", "/", "%", "<<", ">>"]
    static let comparisonOps = ["==", "!=", "<", "<=", ">", ">="]

    /// Edge values of T: 0, 1, 2, 7, −1, −2, max, min, max − 1, min + 1, and the shift counts
    /// width − 1, width, width + 1 (counts ≥ width wrap modulo the width).
    static func edges<T: FixedWidthInteger>(_ type: T.Type) -> [T] {
        let bits = T(truncatingIfNeeded: T.bitWidth)
        let all: [T] = [0, 1, 2, 7, T(truncatingIfNeeded: -1), T(truncatingIfNeeded: -2), T.max, T.min, T.max - 1, T.min + 1,
                        bits - 1, bits, bits + 1, T(truncatingIfNeeded: 0x5a5a_5a5a_5a5a_5a5a as UInt64)]
        var seen = Set<T>()
        return all.filter { seen.insert($0).inserted }
    }

    /// Conversion of a register-form value to U's register form (a C cast).
    static func convert(_ value: UInt64, to type: String) -> UInt64 {
        switch type {
        case "u8": return registerForm(UInt8(truncatingIfNeeded: value))
        case "u16": return registerForm(UInt16(truncatingIfNeeded: value))
        case "u32": return registerForm(UInt32(truncatingIfNeeded: value))
        case "u64": return value
        case "s8": return registerForm(Int8(truncatingIfNeeded: value))
        case "s16": return registerForm(Int16(truncatingIfNeeded: value))
        case "s32": return registerForm(Int32(truncatingIfNeeded: value))
        default: return value
        }
    }

    static let typeNames = ["u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64"]

    // MARK: Case generators

    /// Every binary operator at type T over all pairs of edge values, in four forms: variable op
    /// variable (returned), variable op constant, constant op variable and augmented assignment
    /// (written to the packet). Comparisons also as an `if` condition.
    static func operatorCases<T: FixedWidthInteger>(_ type: T.Type, _ name: String) -> [Case] {
        var cases: [Case] = []
        let values = edges(type)
        for a in values {
            for b in values {
                for op in arithmeticOps {
                    let result = registerForm(reference(op, a, b))
                    var constantLeft = result
                    if op == "<<" || op == ">>" {
                        // A constant shifted by a variable count is u64.
                        constantLeft = reference(op, registerForm(a), registerForm(b))
                    }
                    let source = chain([
                        "\(name) : a = \(literal(a))", "\(name) : b = \(literal(b))", "\(name) : c = a", "c \(op)= b",
                        "Packet.writeU64(64, u64(a \(op) \(literal(b))))",
                        "Packet.writeU64(72, u64(\(literal(a)) \(op) b))",
                        "Packet.writeU64(80, u64(c))",
                        "return a \(op) b",
                    ])
                    cases.append(Case(label: "\(name) \(a) \(op) \(b)", source: source, r0: result,
                                      writes: [(64, bigEndian(result, size: 8)), (72, bigEndian(constantLeft, size: 8)),
                                               (80, bigEndian(result, size: 8))]))
                }
                for op in comparisonOps {
                    let result: UInt64 = compareReference(op, a, b) ? 1 : 0
                    let source = chain([
                        "\(name) : a = \(literal(a))", "\(name) : b = \(literal(b))", "\(name) : c = 7",
                        "if a \(op) b:\n    c = 1\nelse:\n    c = 0",
                        "Packet.writeU64(64, a \(op) \(literal(b)))",
                        "Packet.writeU64(72, \(literal(a)) \(op) b)",
                        "Packet.writeU64(80, u64(c))",
                        "return a \(op) b",
                    ])
                    cases.append(Case(label: "\(name) \(a) \(op) \(b)", source: source, r0: result,
                                      writes: [(64, bigEndian(result, size: 8)), (72, bigEndian(result, size: 8)),
                                               (80, bigEndian(result, size: 8))]))
                }
            }
        }
        return cases
    }

    /// Unary operators, explicit conversions to every type and the implicit conversion of a
    /// typed declaration, at type T over the edge values.
    static func unaryAndConversionCases<T: FixedWidthInteger>(_ type: T.Type, _ name: String) -> [Case] {
        var cases: [Case] = []
        for a in edges(type) {
            let unary: [(String, UInt64)] = [("-a", registerForm(0 &- a)), ("~a", registerForm(~a)),
                                             ("not a", a == 0 ? 1 : 0), ("+a", registerForm(a)),
                                             ("-(-a)", registerForm(a)), ("not not a", a == 0 ? 0 : 1)]
            for (expression, expected) in unary {
                cases.append(Case(label: "\(name) \(expression) a=\(a)",
                                  source: chain(["\(name) : a = \(literal(a))", "return \(expression)"]), r0: expected))
            }
            for target in typeNames {
                let expected = convert(registerForm(a), to: target)
                let source = chain([
                    "\(name) : a = \(literal(a))", "\(target) : c = a", "\(target) d", "d = a",
                    "Packet.writeU64(64, u64(c))", "Packet.writeU64(72, u64(d))",
                    "Packet.writeU64(80, u64(\(target)(\(literal(a)))))",
                    "return \(target)(a)",
                ])
                cases.append(Case(label: "\(target)(\(name) \(a))", source: source, r0: expected,
                                  writes: [(64, bigEndian(expected, size: 8)), (72, bigEndian(expected, size: 8)),
                                           (80, bigEndian(expected, size: 8))]))
            }
        }
        return cases
    }

    /// Constant expressions, folded by the compiler in s64, over edge values.
    static func constantCases() -> [Case] {
        var cases: [Case] = []
        let values: [Int64] = [0, 1, -1, 2, 7, -7, 63, 64, 65, Int64.max, Int64.min]
        for a in values {
            for b in values {
                for op in arithmeticOps {
                    let expected = UInt64(bitPattern: reference(op, a, b))
                    cases.append(Case(label: "const \(a) \(op) \(b)",
                                      source: chain(["return \(literal(a)) \(op) \(literal(b))"]), r0: expected))
                }
                for op in comparisonOps {
                    cases.append(Case(label: "const \(a) \(op) \(b)", source: chain(["return \(literal(a)) \(op) \(literal(b))"]),
                                      r0: compareReference(op, a, b) ? 1 : 0))
                }
            }
        }
        // Literals, named constants (top level and in a chain), precedence.
        let fixed: [(String, String, UInt64)] = [
            ("", "return 0xffffffffffffffff", UInt64.max),
            ("", "return 0x8000000000000000", 1 << 63),
            ("", "return 0b1011_0001", 0b1011_0001),
            ("", "return 1_000_000_007", 1_000_000_007),
            ("", "return 0x123456789abcdef0", 0x1234_5678_9abc_def0),
            ("", "return -9223372036854775808", UInt64(bitPattern: Int64.min)),
            ("", "return 2 + 3 * 4 - 10 / 3 % 2", UInt64(2 + 12 - (10 / 3) % 2)),
            ("", "return (1 << 4 | 3) ^ 0xff & 0x0f", UInt64((1 << 4 | 3) ^ (0xff & 0x0f))),
            ("", "return -8 >> 1", UInt64(bitPattern: -4)),
            ("", "return ~0 == -1", 1),
            ("K = 6 * 7\n", "return K", 42),
            ("K = 6 * 7\nL = K << 2\n", "return L - K", 168 - 42),
            ("", "N = 12\nM = N * N\nreturn M + N", 156),
            ("BIG = 0xffffffffffffffff\n", "u8 : x = BIG\nreturn x", 255),
            ("NEG = -5\n", "s16 : x = NEG\nreturn x", UInt64(bitPattern: -5)),
        ]
        for (prelude, body, expected) in fixed {
            cases.append(Case(label: "constant \(body)", source: chain(body.components(separatedBy: "\n"), prelude: prelude), r0: expected))
        }
        // -D defines: integers, negative integers and names.
        let defines: [([String: String], String, String, UInt64)] = [
            (["LIMIT": "300"], "", "u8 : x = LIMIT\nreturn x", 44),
            (["LIMIT": "300"], "", "return LIMIT * 2", 600),
            (["OFF": "-3"], "", "s8 : x = OFF\nreturn x", UInt64(bitPattern: -3)),
            (["OFF": "-3"], "", "return OFF", UInt64(bitPattern: -3)),
            (["WHICH": "SECOND"], "FIRST = 11\nSECOND = 22\n", "return WHICH", 22),
            (["A": "0x10", "B": "4"], "C = A << B\n", "return C + A", 0x100 + 0x10),
            (["F": "test_add"], "", "return F(40, 2)", 42),
        ]
        for (defines, prelude, body, expected) in defines {
            cases.append(Case(label: "-D \(defines) \(body)", source: chain(body.components(separatedBy: "\n"), prelude: prelude),
                              defines: defines, r0: expected))
        }
        return cases
    }

    static func controlFlowCases() -> [Case] {
        var cases: [Case] = []
        // if / elif / else, unsigned and signed.
        for x in [0, 5, 9, 10, 15, 19, 20, 21, 99, UInt64.max] as [UInt64] {
            let expected: UInt64 = x < 10 ? 1 : x < 20 ? 2 : x == 20 ? 3 : 4
            cases.append(Case(label: "if/elif u64 \(x)", source: chain([
                "u64 : x = \(x)", "if x < 10:\n    return 1\nelif x < 20:\n    return 2\nelif x == 20:\n    return 3\nelse:\n    return 4",
            ]), r0: expected))
        }
        for x in [-32768, -100, -6, -5, -1, 0, 1, 5, 6, 32767] as [Int16] {
            let expected: UInt64 = x < -5 ? 10 : x <= 0 ? 20 : x >= 6 ? 30 : 40
            cases.append(Case(label: "if/elif s16 \(x)", source: chain([
                "s16 : x = \(literal(x))", "u64 : r = 0", "if x < -5:\n    r = 10\nelif x <= 0:\n    r = 20\nelif x >= 6:\n    r = 30\nelse:\n    r = 40",
                "return r",
            ]), r0: expected))
        }
        for x in [0, 1, 2] as [UInt64] {
            cases.append(Case(label: "if without else \(x)", source: chain([
                "u64 : x = \(x)", "u64 : r = 5", "if x == 1:\n    r = 9", "if x: r += 1", "return r",
            ]), r0: (x == 1 ? 9 : 5) + (x != 0 ? 1 : 0)))
        }
        cases.append(Case(label: "pass", source: chain(["if 1:\n    pass", "return 5"]), r0: 5))
        cases.append(Case(label: "end of chain returns 0", source: chain(["u64 : x = 1"]), r0: 0))
        cases.append(Case(label: "bare return", source: chain(["return", "return 9"]), r0: 0))
        // while loops.
        for n in [0, 1, 2, 7, 30] as [UInt64] {
            var s: UInt64 = 0
            var i: UInt64 = 0
            while i < n { s &+= i &* i; i += 1 }
            cases.append(Case(label: "while \(n)", source: chain([
                "u64 : s = 0", "u64 : i = 0", "while i < \(n):\n    s += i * i\n    i += 1", "return s",
            ]), r0: s))
        }
        for limit in [1, 7, 8, 200] as [UInt8] {
            var i: UInt8 = 0
            while true { i &+= 3; if i > limit { break } }
            cases.append(Case(label: "while 1 break \(limit)", source: chain([
                "u8 : i = 0", "while 1:\n    i += 3\n    if i > \(limit):\n        break", "return i",
            ]), r0: UInt64(i)))
        }
        // A u8 counter that wraps ends the loop.
        cases.append(Case(label: "while u8 wraps", source: chain([
            "u8 : i = 250", "u64 : n = 0", "while i != 2:\n    i += 1\n    n += 1", "return n",
        ]), r0: 8))
        // for range with break and continue.
        for (lo, hi) in [(0, 0), (0, 1), (0, 10), (3, 9), (5, 3), (100, 120)] {
            for (skip, stop) in [(-1, -1), (3, -1), (-1, 6), (4, 8), (lo, hi - 1)] {
                var s: UInt64 = 0
                for i in stride(from: lo, to: hi, by: 1) {
                    if i == skip { continue }
                    if i == stop { break }
                    s = s &* 3 &+ UInt64(i)
                }
                let skipText = skip < 0 ? "0xffff" : "\(skip)"
                let stopText = stop < 0 ? "0xffff" : "\(stop)"
                let range = lo == 0 && hi % 2 == 0 ? "range(\(hi))" : "range(\(lo), \(hi))"
                cases.append(Case(label: "for \(range) continue \(skip) break \(stop)", source: chain([
                    "u64 : s = 0", "for i in \(range):\n    if i == \(skipText):\n        continue\n    if i == \(stopText):\n        break\n    s = s * 3 + i",
                    "return s",
                ]), r0: s))
            }
        }
        // Nested loops: break and continue act on the innermost loop.
        do {
            var s: UInt64 = 0
            for i in 0..<4 {
                for j in 0..<5 {
                    if j == i { continue }
                    if j > i + 2 { break }
                    s = s &* 7 &+ UInt64(i * 10 + j)
                }
                var k: UInt64 = 0
                while true { k += 1; if k >= UInt64(i) { break } }
                s &+= k
            }
            cases.append(Case(label: "nested loops", source: chain([
                "u64 : s = 0", "u64 : k = 0",
                "for i in range(4):\n    for j in range(5):\n        if j == i:\n            continue\n        if j > i + 2:\n            break\n        s = s * 7 + i * 10 + j\n    k = 0\n    while 1:\n        k += 1\n        if k >= i:\n            break\n    s += k",
                "return s",
            ]), r0: s))
        }
        // A loop variable that is a declared variable, and constant bounds from expressions.
        cases.append(Case(label: "for over a declared variable", source: chain([
            "u64 : i = 99", "u64 : s = 0", "N = 3", "for i in range(N, N * 3):\n    s += i", "return s",
        ]), r0: UInt64((3..<9).reduce(0, +))))
        // Augmented assignment, all operators in a row, at s32.
        do {
            var x: Int32 = -1000
            x = x &+ 77; x = x &- 5000; x = x &* -3; x = x / 7; x = x % 1000; x = x & 0x7ff; x = x | 0x1000
            x = x ^ -1; x = x &<< 3; x = x &>> 2
            cases.append(Case(label: "augmented s32", source: chain([
                "s32 : x = -1000", "x += 77", "x -= 5000", "x *= -3", "x /= 7", "x %= 1000", "x &= 0x7ff", "x |= 0x1000",
                "x ^= -1", "x <<= 3", "x >>= 2", "return x",
            ]), r0: registerForm(x)))
        }
        // Declarations: default 0, no colon, semicolons, line continuation.
        cases.append(Case(label: "declarations", source: chain([
            "u16 : x", "s8 y = -2; u32 z = 0xffffffff", "u64 : w = x + \\\n    1",
            "return u64(y) + u64(z) + w",
        ]), r0: UInt64.max &- 1 &+ 0xffff_ffff &+ 1))
        // Many variables (registers and stack slots) kept across calls.
        do {
            var lines = (0..<10).map { "s64 : v\($0) = \($0 * 3) - 11" }
            lines.append("u64 : t = test_add(u64(v8), u64(v9))")
            lines.append("return s64(t) + v0 * v1 - v2 * v3 + v4 * v5 - v6 * v7 + v8 * v9")
            let v = (0..<10).map { Int64($0 * 3 - 11) }
            let expected = (v[8] &+ v[9]) &+ v[0] &* v[1] &- v[2] &* v[3] &+ v[4] &* v[5] &- v[6] &* v[7] &+ v[8] &* v[9]
            cases.append(Case(label: "many variables", source: chain(lines), r0: UInt64(bitPattern: expected)))
        }
        return cases
    }

    /// and / or / not with side effects: test_xor_pkt changes a packet byte only when it runs.
    static func logicCases() -> [Case] {
        var cases: [Case] = []
        struct Form {
            var text: String
            var evaluate: (_ x: UInt64, _ y: UInt64, _ effect: (Int, UInt8) -> UInt64) -> UInt64
        }
        func truth(_ v: UInt64) -> UInt64 { v != 0 ? 1 : 0 }
        let forms: [Form] = [
            Form(text: "return x and test_xor_pkt(70, 0xff)") { x, _, e in x != 0 ? truth(e(70, 0xff)) : 0 },
            Form(text: "return x or test_xor_pkt(70, 0xff)") { x, _, e in x != 0 ? 1 : truth(e(70, 0xff)) },
            Form(text: "return not x or test_xor_pkt(71, 0x0f)") { x, _, e in x == 0 ? 1 : truth(e(71, 0x0f)) },
            Form(text: "return (x and test_xor_pkt(70, 1)) or (y and test_xor_pkt(71, 2))") { x, y, e in
                if x != 0, e(70, 1) != 0 { return 1 }
                return y != 0 ? truth(e(71, 2)) : 0
            },
            Form(text: "return x and y and test_xor_pkt(72, 4)") { x, y, e in x != 0 && y != 0 ? truth(e(72, 4)) : 0 },
            Form(text: "return x or y or test_xor_pkt(72, 4)") { x, y, e in x != 0 || y != 0 ? 1 : truth(e(72, 4)) },
            Form(text: "return not (x and test_xor_pkt(73, 8)) and y") { x, y, e in
                let inner = x != 0 ? truth(e(73, 8)) : 0
                return inner == 0 ? truth(y) : 0
            },
            Form(text: "if x and test_xor_pkt(70, 0x5a):\n    return 5\nelse:\n    return 6") { x, _, e in
                x != 0 && e(70, 0x5a) != 0 ? 5 : 6
            },
            Form(text: "while x and test_xor_pkt(74, 0x11) != 0xff:\n    x = 0\n    y += 1\nreturn y") { x, y, e in
                var x = x, y = y
                while x != 0 && e(74, 0x11) != 0xff { x = 0; y += 1 }
                return y
            },
            Form(text: "return (x or Packet.writeU8(75, 0x99)) + (not y and Packet.writeU16(76, 0xabcd) == 0) * 2") { x, y, e in
                var result: UInt64 = 0
                if x != 0 { result = 1 } else { _ = e(-75, 0x99); result = 0 }
                if y == 0 { _ = e(-76, 0); result += 2 }
                return result
            },
            Form(text: "return test_add(x and y, x or y) + (not x) * 4") { x, y, _ in
                ((x != 0 && y != 0) ? 1 : 0) + ((x != 0 || y != 0) ? 1 : 0) + (x == 0 ? 4 : 0)
            },
        ]
        let values: [(String, String, UInt64)] = [("u8", "0", 0), ("u8", "1", 1), ("u8", "200", 200), ("s32", "(-1)", UInt64.max),
                                                  ("u64", "0x100000000", 1 << 32), ("s8", "0", 0)]
        for (xType, xText, x) in values {
            for (yType, yText, y) in values where yType == "u64" || yType == "u8" {
                for form in forms {
                    var packet = basePacket
                    let r0 = form.evaluate(x, y) { offset, value in
                        if offset < 0 {  // a Packet.write, with its own value
                            if -offset == 75 { packet[75] = value; return 0 }
                            packet[76] = 0xab; packet[77] = 0xcd; return 0
                        }
                        packet[offset] ^= value
                        return UInt64(packet[offset])
                    }
                    var writes: [(Int, [UInt8])] = []
                    for index in 64..<80 where packet[index] != basePacket[index] { writes.append((index, [packet[index]])) }
                    // Packet.writeU16 of 0xabcd may leave bytes equal to the base: record them too.
                    if form.text.contains("writeU16") && y == 0 { writes.append((76, [0xab, 0xcd])) }
                    if form.text.contains("writeU8") && x == 0 { writes.append((75, [0x99])) }
                    cases.append(Case(label: "logic x=\(xType) \(xText) y=\(yType) \(yText): \(form.text)",
                                      source: chain(["\(xType) : x = \(xText)", "\(yType) : y = \(yText)", form.text]),
                                      r0: r0, writes: writes))
                }
            }
        }
        return cases
    }

    static func callCases() -> [Case] {
        var cases: [Case] = []
        // Programs: test_add gets the 64-bit register forms and returns u64.
        let values: [(String, String, UInt64)] = [("u64", "0", 0), ("u64", "1", 1), ("u64", "0xffffffffffffffff", UInt64.max),
                                                  ("s8", "(-1)", UInt64.max), ("u8", "255", 255), ("s32", "(-2147483648)", UInt64(bitPattern: Int64(Int32.min))),
                                                  ("u32", "0xffffffff", 0xffff_ffff), ("s64", "(-9223372036854775808)", 1 << 63)]
        for (aType, aText, a) in values {
            for (bType, bText, b) in values {
                cases.append(Case(label: "test_add(\(aType) \(aText), \(bType) \(bText))", source: chain([
                    "\(aType) : a = \(aText)", "\(bType) : b = \(bText)", "return test_add(a, b)",
                ]), r0: a &+ b))
            }
            cases.append(Case(label: "test_add const \(aText)", source: chain(["return test_add(\(aText), 7)"]),
                              r0: UInt64(bitPattern: Int64(bitPattern: a)) &+ 7))
        }
        cases.append(Case(label: "nested program calls", source: chain([
            "u64 : a = 5", "return test_add(a, test_add(a, 1)) * 2 + test_add(test_add(a, 2), test_add(test_add(3, a), 4))",
        ]), r0: 22 + 7 + 12))
        cases.append(Case(label: "temporaries across calls", source: chain([
            "u64 : a = 2", "return (a + 1) * ((a + 2) * ((a + 3) * ((a + 4) * ((a + 5) * test_add(a, 4)))))",
        ]), r0: 3 * 4 * 5 * 6 * 7 * 6))
        cases.append(Case(label: "program result converted", source: chain(["return u8(test_add(200, 100))"]), r0: 44))
        cases.append(Case(label: "program result in s16", source: chain(["s16 : x = test_add(0xfffe, 0)", "return x"]),
                          r0: UInt64(bitPattern: -2)))
        do {
            var packet = basePacket
            packet[90] ^= 0x3c
            cases.append(Case(label: "test_xor_pkt", source: chain(["return test_xor_pkt(90, 0x13c)"]), r0: UInt64(packet[90]),
                              writes: [(90, [packet[90]])]))
        }
        cases.append(Case(label: "test_xor_pkt past the end", source: chain(["return test_xor_pkt(5000, 1)"]), r0: UInt64.max))
        // A final program ends the chain: the packet gets its verdict, nothing after it runs.
        cases.append(Case(label: "final program", source: chain(["Packet.writeU8(64, 1)", "hike_pass()", "Packet.writeU8(65, 1)", "return 3"]),
                          r0: nil, writes: [(64, [1])], verdict: ABI.xdpPass))

        // Chains with parameters of every type: arguments are 64-bit values converted on entry.
        var random = SplitMix(seed: 0x1ec1a7)
        let argumentValues: [UInt64] = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000,
                                        0xffff_ffff, 0x1_0000_0000, UInt64.max, 1 << 63, UInt64.max - 1, 0x1234_5678_9abc_def0]
        for index in 0..<160 {
            let count = 1 + index % 4
            var params: [String] = []
            var arguments: [String] = []
            var prelude: [String] = []
            var expected: UInt64 = 0
            var writes: [(Int, [UInt8])] = []
            for p in 0..<count {
                let type = typeNames[Int(random.next() % 8)]
                let value = argumentValues[Int(random.next() % UInt64(argumentValues.count))]
                params.append("\(type): p\(p)")
                // Half the arguments are typed variables (their register form is passed).
                if random.next() % 2 == 0 {
                    let argType = typeNames[Int(random.next() % 8)]
                    prelude.append("\(argType) : a\(p) = \(value)")
                    arguments.append("a\(p)")
                    let passed = convert(value, to: argType)
                    let received = convert(passed, to: type)
                    expected = expected &* 31 &+ received
                    writes.append((64 + 8 * p, bigEndian(received, size: 8)))
                } else {
                    arguments.append("\(value)")
                    let received = convert(value, to: type)
                    expected = expected &* 31 &+ received
                    writes.append((64 + 8 * p, bigEndian(received, size: 8)))
                }
            }
            let body = (0..<count).map { "    Packet.writeU64(\(64 + 8 * $0), u64(p\($0)))" }.joined(separator: "\n")
            let combine = (0..<count).reduce("0") { "(\($0)) * 31 + u64(p\($1))" }
            let helper = "def @1(\(params.joined(separator: ", "))):\n\(body)\n    return \(combine)\n"
            cases.append(Case(label: "chain call \(params) \(arguments)",
                              source: chain(prelude + ["return @1(\(arguments.joined(separator: ", ")))"], helpers: helper),
                              r0: expected, writes: writes))
        }
        // Chains calling chains, results in expressions with live temporaries, defined in any order.
        cases.append(Case(label: "chain call depth 3", source: chain([
            "u64 : a = 3", "return a + @1(a) * @2(a + 1)",
        ], helpers: "def @2(u64: x):\n    return @1(x) + x\ndef @1(s8: x):\n    u64 : y = u64(x) * 2\n    return test_add(y, 1)\n"),
                          r0: 3 + 7 * (9 + 4)))
        cases.append(Case(label: "chain returning a signed value", source: chain([
            "s16 : r = @1(-300)", "return r",
        ], helpers: "def @1(s16: x):\n    return x * 200\n"), r0: registerForm(Int16(-300) &* 200)))
        cases.append(Case(label: "chain returning nothing", source: chain(["return @1(5) + 1"],
                          helpers: "def @1(u64: x):\n    if x > 2:\n        return\n    return 9\n"), r0: 1))
        cases.append(Case(label: "chain with a loop and a program call", source: chain(["return @1(4, 0)"],
                          helpers: "def @1(u8: n, u64: s):\n    for i in range(10):\n        if i >= u64(n):\n            break\n        s = test_add(s, i * i)\n    return s\n"),
                          r0: 0 + 1 + 4 + 9))
        return cases
    }

    static func packetCases() -> [Case] {
        var cases: [Case] = []
        let packet = basePacket
        let limit = selectorOffset
        for offset in [0, 1, 12, 13, 14, 20, 22, 38, 54, 62, 63, 100, limit - 8] {
            for (method, size) in [("readU8", 1), ("readU16", 2), ("readU32", 4), ("readU64", 8)] where offset + size <= limit {
                let expected = read(packet, offset, size: size)
                cases.append(Case(label: "Packet.\(method)(\(offset))", source: chain([
                    "u64 : o = \(offset)", "u64 : v = Packet.\(method)(o)", "return v + Packet.\(method)(\(offset)) - v",
                ]), r0: expected))
            }
        }
        cases.append(Case(label: "Packet.len()", source: chain(["return Packet.len()"]), r0: UInt64(packet.count)))
        cases.append(Case(label: "Packet.len() typed", source: chain(["u8 : n = Packet.len()", "return n"]),
                          r0: UInt64(UInt8(truncatingIfNeeded: packet.count))))
        let writeValues: [UInt64] = [0, 0x1122_3344_5566_7788, UInt64.max, 0x80, 0xfedc_ba98_7654_3210]
        for (method, size) in [("writeU8", 1), ("writeU16", 2), ("writeU32", 4), ("writeU64", 8)] {
            for (index, value) in writeValues.enumerated() {
                let offset = 63 + index * 9
                let low = size == 8 ? value : value & ((1 << UInt64(size * 8)) - 1)
                let readMethod = "readU" + method.dropFirst(6)
                cases.append(Case(label: "Packet.\(method)(\(offset), \(value))", source: chain([
                    "u64 : r = Packet.\(method)(\(offset), \(value))", "return r + Packet.\(readMethod)(\(offset))",
                ]), r0: low, writes: [(offset, bigEndian(value, size: size))]))
            }
            // Typed values: the low bits of the register form.
            cases.append(Case(label: "Packet.\(method) of s8 -2", source: chain([
                "s8 : v = -2", "Packet.\(method)(100, v)", "return 0",
            ]), r0: 0, writes: [(100, bigEndian(UInt64(bitPattern: -2), size: size))]))
        }
        // Outside the packet: INVALID_ACCESS.
        for source in ["return Packet.readU8(Packet.len())", "return Packet.readU16(Packet.len() - 1)",
                       "return Packet.readU64(\(basePacket.count - 7))", "Packet.writeU32(Packet.len() - 2, 1)\nreturn 0",
                       "return Packet.readU8(20000)", "u64 : o = 0xffffffffffffffff\nreturn Packet.readU8(o)"] {
            cases.append(Case(label: "fault: \(source)", source: chain(source.components(separatedBy: "\n")), r0: nil,
                              fault: Fault.invalidAccess.rawValue))
        }
        return cases
    }

    static func allCases() -> [Case] {
        var cases: [Case] = []
        cases += operatorCases(UInt8.self, "u8")
        cases += operatorCases(UInt16.self, "u16")
        cases += operatorCases(UInt32.self, "u32")
        cases += operatorCases(UInt64.self, "u64")
        cases += operatorCases(Int8.self, "s8")
        cases += operatorCases(Int16.self, "s16")
        cases += operatorCases(Int32.self, "s32")
        cases += operatorCases(Int64.self, "s64")
        cases += unaryAndConversionCases(UInt8.self, "u8")
        cases += unaryAndConversionCases(UInt16.self, "u16")
        cases += unaryAndConversionCases(UInt32.self, "u32")
        cases += unaryAndConversionCases(UInt64.self, "u64")
        cases += unaryAndConversionCases(Int8.self, "s8")
        cases += unaryAndConversionCases(Int16.self, "s16")
        cases += unaryAndConversionCases(Int32.self, "s32")
        cases += unaryAndConversionCases(Int64.self, "s64")
        cases += constantCases()
        cases += controlFlowCases()
        cases += logicCases()
        cases += callCases()
        cases += packetCases()
        return cases
    }

    // MARK: The kernel run

    @Test func everyConstructOnTheKernelVM() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let test = try KernelTest.instance(objects: EmbeddedObjects.all + EmbeddedTestObjects.all)
        let hike = test.instance
        for program in ["hike_pass", "hike_drop", "test_add", "test_xor_pkt"] { _ = try hike.loadProgram(program) }
        let catalog = hike.catalog.compilerCatalog

        // The dispatcher: r1 = readU32(len - 4); call r1; exit.
        let rootSymbols = try hike.symbols(addingChains: ["kroot"])
        let rootID = try #require(rootSymbols["kroot"])
        try hike.installChains([(name: "kroot", id: rootID, instructions: [
            .mov64(.r1, imm: Int32(Self.selectorOffset)), .call(helper: ABI.fnPktReadU32),
            .mov64(.r1, .r0), .call(helper: ABI.fnCall), .exit,
        ], source: nil)])
        let loader = try hike.detachedLoader("ip6_classifier", chain: "kroot", defaultVerdict: ABI.xdpDrop)

        let cases = Self.allCases()
        // Names k0…k119 are reused by every batch: installing a batch replaces the last one
        // (120 installed + 120 new slots + the root fit the 256 slots).
        let namesPerBatch = 120
        var index = 0
        var ran = 0
        var failures: [String] = []
        var before = try hike.lastResults()
        var compileTime = Duration.zero, installTime = Duration.zero, runTime = Duration.zero
        var programIDs: [String: UInt32] = [:]
        for (name, record) in try hike.registry().programs {
            programIDs[name] = record.id
            programIDs["\(record.package).\(name)"] = record.id  // compiled chains call package.name
        }

        while index < cases.count {
            // Compile as many cases as fit the names.
            let compileStart = clock.now
            var batch: [(case: Case, source: String, script: CompiledScript, rootName: String)] = []
            var used = 0
            while index < cases.count {
                let item = cases[index]
                let helpers = (1...9).filter { item.source.contains("@\($0)") }.count
                if used + 1 + helpers > namesPerBatch { break }
                var source = item.source
                for helper in stride(from: 9, through: 0, by: -1) { source = source.replacingOccurrences(of: "@\(helper)", with: "k\(used + helper)") }
                let rootName = "k\(used)"
                used += 1 + helpers
                index += 1
                do {
                    let script = try ECLATCompiler.compile(source, file: "case.eclat", catalog: catalog, defines: item.defines)
                    batch.append((item, source, script, rootName))
                } catch {
                    failures.append("\(item.label): does not compile: \(error)\n\(source)")
                }
            }
            compileTime += clock.now - compileStart
            let installStart = clock.now
            let names = batch.flatMap { $0.script.chains.map(\.name) }
            let symbols = try hike.symbols(addingChains: names)
            var install: [(name: String, id: UInt32, instructions: [BPFInstruction], source: String?)] = []
            var linkedChains: [String: [(name: String, instructions: [BPFInstruction])]] = [:]
            for entry in batch {
                let own = Set(entry.script.chains.map(\.name))
                let linked = try entry.script.link(programs: programIDs, chainIDs: symbols.filter { own.contains($0.key) })
                for chain in entry.script.chains {
                    let id = try #require(linked.ids[chain.name])
                    let instructions = linked.chains[id] ?? []
                    install.append((name: chain.name, id: id, instructions: instructions, source: nil))
                    linkedChains[entry.rootName, default: []].append((chain.name, instructions))
                }
            }
            try hike.installChains(install)
            installTime += clock.now - installStart
            let runStart = clock.now
            defer { runTime += clock.now - runStart }

            for entry in batch {
                let id = try #require(symbols[entry.rootName])
                var packet = Self.basePacket
                packet.replaceSubrange(Self.selectorOffset..<(Self.selectorOffset + 4), with: Self.bigEndian(UInt64(id), size: 4))
                let run = try loader.testRun(TestRunOptions(data: packet))
                // The CPU whose sequence moved ran the packet (resultAfter, keeping the snapshot).
                let now = try hike.lastResults()
                let moved = now.first { result in before.first { $0.cpu == result.cpu }?.sequence != result.sequence }
                before = now
                guard let result = moved else {
                    failures.append("\(entry.case.label): no VM result")
                    continue
                }
                ran += 1
                var expectedPacket = packet
                for write in entry.case.writes { expectedPacket.replaceSubrange(write.offset..<(write.offset + write.bytes.count), with: write.bytes) }
                var problems: [String] = []
                if run.returnValue != entry.case.verdict { problems.append("verdict \(run.returnValue), expected \(entry.case.verdict)") }
                if result.fault != entry.case.fault { problems.append("fault \(result.fault), expected \(entry.case.fault)") }
                if let r0 = entry.case.r0, result.r0 != r0 {
                    problems.append("r0 0x\(String(result.r0, radix: 16)) (\(Int64(bitPattern: result.r0))), expected 0x\(String(r0, radix: 16)) (\(Int64(bitPattern: r0)))")
                }
                if run.data != expectedPacket {
                    let differing = (0..<max(run.data.count, expectedPacket.count)).filter {
                        $0 >= run.data.count || $0 >= expectedPacket.count || run.data[$0] != expectedPacket[$0]
                    }
                    let shown = differing.prefix(16).map { offset in
                        let got = offset < run.data.count ? String(format: "%02x", run.data[offset]) : "--"
                        let want = offset < expectedPacket.count ? String(format: "%02x", expectedPacket[offset]) : "--"
                        return "[\(offset)] \(got) expected \(want)"
                    }
                    problems.append("packet differs: " + shown.joined(separator: ", "))
                }
                if !problems.isEmpty {
                    var names: [UInt32: String] = [:]
                    for (name, id) in symbols { names[id] = name }
                    let disassembler = ChainDisassembler(symbols: names)
                    let listing = (linkedChains[entry.rootName] ?? []).map { disassembler.text(chain: $0.name, $0.instructions) }
                    failures.append("""
                        \(entry.case.label): \(problems.joined(separator: "; "))
                        defines: \(entry.case.defines)
                        --- source
                        \(entry.source)
                        --- compiled
                        \(listing.joined(separator: "\n"))
                        """)
                }
            }
        }
        let elapsed = clock.now - start
        print("eCLAT kernel language suite: \(ran) cases of \(cases.count) ran on the kernel VM in \(elapsed) "
              + "(compile \(compileTime), link and install \(installTime), test runs and checks \(runTime)), \(failures.count) disagreements")
        for failure in failures.prefix(40) { print("DISAGREEMENT: \(failure)\n") }
        #expect(failures.isEmpty, "\(failures.count) cases disagree; the first: \(failures.first ?? "")")
        #expect(ran == cases.count)
        #expect(try hike.faultCounts().allSatisfy { $0.reason == Fault.invalidAccess.rawValue })
    }
}

/// A small deterministic generator (SplitMix64) for the parameter cases.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49a6_133b_11eb
        return z ^ (z >> 31)
    }
}
