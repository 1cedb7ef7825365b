// Integer semantics: every operator at every type, on edge values, against Swift's own
// fixed-width arithmetic (computed independently of the compiler).

import Testing
import ECLAT
import HikeVM

/// eBPF's rules in Swift: x/0 = 0, x%0 = x, MIN/-1 = MIN, MIN%-1 = 0, shift counts mod width.
func reference<T: FixedWidthInteger>(_ op: String, _ a: T, _ b: T) -> T {
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
    default: return 0
    }
}

func compareReference<T: FixedWidthInteger>(_ op: String, _ a: T, _ b: T) -> Bool {
    switch op {
    case "==": return a == b
    case "!=": return a != b
    case "<": return a < b
    case "<=": return a <= b
    case ">": return a > b
    default: return a >= b
    }
}

/// The 64-bit register form: sign-extended for signed types.
func registerForm<T: FixedWidthInteger>(_ value: T) -> UInt64 {
    T.isSigned ? UInt64(bitPattern: Int64(value)) : UInt64(truncatingIfNeeded: value)
}

func literal<T: FixedWidthInteger>(_ value: T) -> String {
    T.isSigned ? "(\(Int64(value)))" : "\(UInt64(truncatingIfNeeded: value))"
}

let arithmeticOps = ["+", "-", "*", "&", "|", "^", "/", "%", "<<", ">>"]
let comparisonOps = ["==", "!=", "<", "<=", ">", ">="]
let edgeValues: [Int64] = [0, 1, -1, 2, 3, 7, 8, 9, 31, 33, 63, 64, 100, -100, 127, 128, -128, 255, 256,
                           32767, -32768, 65535, 0x7fff_ffff, -0x8000_0000, 0xffff_ffff, Int64.max, Int64.min]

/// Runs every operator on (a, b) at type `T`, in three forms (variable op variable, variable op
/// constant, constant op variable), writing each result to the packet; compares with Swift.
func checkType<T: FixedWidthInteger>(_ type: T.Type, _ name: String, pairs: [(T, T)]) throws {
    for (a, b) in pairs {
      for group in 0..<3 {
        var lines = ["\(name) : a = \(literal(a))", "\(name) : b = \(literal(b))", "\(name) : c = a"]
        var expected: [UInt64] = []
        var offset = 0
        func write(_ expression: String, _ value: UInt64) {
            lines.append("Packet.writeU64(\(offset), u64(\(expression)))")
            expected.append(value)
            offset += 8
        }
        for op in arithmeticOps where group == 0 && arithmeticOps.firstIndex(of: op)! < 5 || group == 1 && arithmeticOps.firstIndex(of: op)! >= 5 {
            let result = registerForm(reference(op, a, b))
            write("a \(op) b", result)
            write("a \(op) \(literal(b))", result)
            write("\(literal(a)) \(op) b", op == "<<" || op == ">>" ? UInt64.max : result)  // replaced below
            if op == "<<" || op == ">>" {
                // A constant shifted by a variable count is u64.
                let wide = UInt64(bitPattern: Int64(truncatingIfNeeded: registerForm(a)))
                expected[expected.count - 1] = reference(op, wide, UInt64(truncatingIfNeeded: registerForm(b)))
            }
            lines.append("c = a")
            lines.append("c \(op)= b")
            write("c", result)
        }
        for op in comparisonOps where group == 2 {
            let result: UInt64 = compareReference(op, a, b) ? 1 : 0
            write("a \(op) b", result)
            write("a \(op) \(literal(b))", result)
            write("\(literal(a)) \(op) b", result)
            lines.append("if a \(op) b:\n        c = 1\n    else:\n        c = 0")
            write("c", result)
        }
        if group == 2 {
            write("-a", registerForm(0 &- a))
            write("~a", registerForm(~a))
            write("not a", a == 0 ? 1 : 0)
        }
        lines.append("return 0")
        let source = Support.header + "def main():\n" + lines.map { "    " + $0 }.joined(separator: "\n") + "\n"
        let result = try Support.run(source, packet: Array(repeating: 0, count: offset))
        #expect(result.fault == .none, "\(name) a=\(a) b=\(b): \(result)")
        for (index, value) in expected.enumerated() {
            var got: UInt64 = 0
            for byte in result.packet[(index * 8)..<(index * 8 + 8)] { got = got << 8 | UInt64(byte) }
            #expect(got == value, "\(name) a=\(a) b=\(b): result \(index): got \(got), expected \(value)\n\(lines.joined(separator: "\n"))")
            if got != value { return }
        }
      }
    }
}

func pairs<T: FixedWidthInteger>(_ type: T.Type) -> [(T, T)] {
    let values = Array(Set(edgeValues.map { T(truncatingIfNeeded: $0) })).sorted()
    return values.flatMap { a in values.map { b in (a, b) } }
}

@Suite struct IntegerSemantics {
    @Test func u8() throws { try checkType(UInt8.self, "u8", pairs: pairs(UInt8.self)) }
    @Test func s8() throws { try checkType(Int8.self, "s8", pairs: pairs(Int8.self)) }
    @Test func u16() throws { try checkType(UInt16.self, "u16", pairs: pairs(UInt16.self)) }
    @Test func s16() throws { try checkType(Int16.self, "s16", pairs: pairs(Int16.self)) }
    @Test func u32() throws { try checkType(UInt32.self, "u32", pairs: pairs(UInt32.self)) }
    @Test func s32() throws { try checkType(Int32.self, "s32", pairs: pairs(Int32.self)) }
    @Test func u64() throws { try checkType(UInt64.self, "u64", pairs: pairs(UInt64.self)) }
    @Test func s64() throws { try checkType(Int64.self, "s64", pairs: pairs(Int64.self)) }

    @Test func signedAgainstUnsigned() throws {
        // s8 -1 and u8 255 have the same bits but are different values of different types.
        #expect(!Support.errors(Support.header + "def main():\n    s8 : a = -1\n    u8 : b = 255\n    return a == b\n", strict: true).isEmpty)
        #expect(try Support.value("s8 : a = -1\nu8 : b = 255\nreturn u8(a) == b") == 1)
        #expect(try Support.value("s8 : a = -1\nu8 : b = 255\nreturn a == s8(b)") == 1)
        #expect(try Support.value("s8 : a = -1\nreturn a < 0") == 1)
        #expect(try Support.value("u8 : b = 255\nreturn b < 1") == 0)
        #expect(try Support.value("s8 : a = -1\nreturn a < 1") == 1)
        #expect(try Support.value("u8 : b = 255\nreturn b > 127") == 1)
        #expect(try Support.value("s8 : a = -1\nreturn u64(a)") == UInt64.max)
        #expect(try Support.value("u8 : b = 255\nreturn s64(b)") == 255)
        #expect(try Support.value("s8 : a = -1\nreturn s64(a) == -1") == 1)
        #expect(try Support.value("u32 : a = 0xffffffff\ns32 : b = -1\nreturn u32(b) == a and s32(a) == b and a > 0 and b < 0") == 1)
        #expect(try Support.value("u64 : a = 0xffffffffffffffff\nreturn a > 1") == 1)
        #expect(try Support.value("s64 : a = -1\nreturn a > 1") == 0)
        // Strict: a constant that does not fit the type is an error, not a silent truncation.
        #expect(Support.errors(Support.header + "def main():\n    u8 : b = 1\n    return b == 256\n", strict: true).first?.message == "the constant 256 does not fit u8")
        #expect(Support.errors(Support.header + "def main():\n    s8 : b = 1\n    return b < 200\n", strict: true).first?.message == "the constant 200 does not fit s8")
    }

    @Test func wrapAroundAtEveryWidth() throws {
        #expect(try Support.value("u8 : x = 255\nx += 1\nreturn x") == 0)
        #expect(try Support.value("s8 : x = 127\nx += 1\nreturn x == -128") == 1)
        #expect(try Support.value("u16 : x = 65535\nx += 1\nreturn x") == 0)
        #expect(try Support.value("s16 : x = 32767\nx += 1\nreturn s64(x)") == UInt64(bitPattern: -32768))
        #expect(try Support.value("u32 : x = 0xffffffff\nx += 1\nreturn x") == 0)
        #expect(try Support.value("s32 : x = 0x7fffffff\nx += 1\nreturn x") == UInt64(bitPattern: Int64(Int32.min)))
        #expect(try Support.value("u64 : x = 0xffffffffffffffff\nx += 1\nreturn x") == 0)
        #expect(try Support.value("s64 : x = 0x7fffffffffffffff\nx += 1\nreturn x") == UInt64(bitPattern: Int64.min))
        #expect(try Support.value("u8 : x = 0\nx -= 1\nreturn x") == 255)
        #expect(try Support.value("u8 : x = 300\nreturn x") == 44)  // assignment truncates
        #expect(try Support.value("s8 : x = 200\nreturn s64(x) == -56") == 1)
        #expect(try Support.value("u16 : x = 300\nx *= 300\nreturn x") == UInt64(UInt16(truncatingIfNeeded: 90000)))
    }

    @Test func shiftsByType() throws {
        #expect(try Support.value("u8 : x = 1\nreturn x << 9") == 2)  // count mod 8
        #expect(try Support.value("u8 : x = 0x80\nreturn x << 1") == 0)
        #expect(try Support.value("s8 : x = -128\nreturn s64(x >> 7) == -1") == 1)  // arithmetic
        #expect(try Support.value("u8 : x = 0x80\nreturn x >> 7") == 1)  // logical
        #expect(try Support.value("u32 : x = 1\nreturn x << 33") == 2)
        #expect(try Support.value("s32 : x = -8\nreturn s64(x >> 1) == -4") == 1)
        #expect(try Support.value("u32 : x = 0x80000000\nreturn x >> 31") == 1)
        #expect(try Support.value("u64 : x = 1\nreturn x << 65") == 2)
        #expect(try Support.value("s64 : x = -16\nreturn x >> 2") == UInt64(bitPattern: -4))
        #expect(try Support.value("u64 : x = 0x8000000000000000\nreturn x >> 63") == 1)
        #expect(try Support.value("u8 : n = 3\nreturn 1 << n") == 8)  // a constant shifted by a variable: u64
    }

    @Test func divisionByZero() throws {
        #expect(try Support.value("u64 : x = 7\nreturn x / 0") == 0)
        #expect(try Support.value("u64 : x = 7\nreturn x % 0") == 7)
        #expect(try Support.value("u64 : x = 7\nu64 : z = 0\nreturn x / z") == 0)
        #expect(try Support.value("u64 : x = 7\nu64 : z = 0\nreturn x % z") == 7)
        #expect(try Support.value("s8 : x = -7\ns8 : z = 0\nreturn s64(x % z) == -7") == 1)
        #expect(try Support.value("s32 : x = -7\nreturn x / 0") == 0)
        #expect(try Support.value("s8 : x = -128\nreturn s64(x / -1) == -128") == 1)
        #expect(try Support.value("s64 : x = -9\nreturn x / 2") == UInt64(bitPattern: -4))  // truncates toward 0
        #expect(try Support.value("s64 : x = -9\nreturn x % 2") == UInt64(bitPattern: -1))
        #expect(try Support.value("return 7 / 0") == 0)  // folded constants follow the same rules
        #expect(try Support.value("return 7 % 0") == 7)
    }

    @Test func constants() throws {
        #expect(try Support.value("return -1") == UInt64.max)
        #expect(try Support.value("return 0xffffffffffffffff") == UInt64.max)
        #expect(try Support.value("return 1 << 63") == 1 << 63)
        #expect(try Support.value("return -8 >> 1") == UInt64(bitPattern: -4))  // s64
        #expect(try Support.value("return (2 + 3) * 4 - 10 / 3") == 17)
        #expect(try Support.value("return 0b1010 | 0x10") == 26)
        #expect(try Support.value("return 1_000_000") == 1_000_000)
        #expect(try Support.value("return 0x123456789") == 0x1_2345_6789)  // LD_IMM64
    }
}
