// Random typed expressions (deep enough to spill, with calls inside) through the compiler and the
// reference interpreter, against an evaluator written here with Swift's fixed-width arithmetic.

import Testing
import ECLAT
import HikeVM
import HikeVMTestSupport

struct ExpressionGenerator<T: FixedWidthInteger> {
    var rng: SplitMix64
    let typeName: String
    let variables: [(String, T)]

    mutating func constant() -> T {
        let edges: [T] = [0, 1, 2, 3, 7, T.max, T.min, T.max &- 1, T.min &+ 1, T(truncatingIfNeeded: 100)]
        if rng.next() % 2 == 0 { return edges[Int(rng.next() % UInt64(edges.count))] }
        return T(truncatingIfNeeded: rng.next())
    }

    /// (text, value); `needsVariable`: the subtree must mention a variable (constant subtrees are
    /// untyped s64 in eCLAT, a different semantics).
    mutating func expression(depth: Int, needsVariable: Bool = true) -> (String, T) {
        if depth == 0 || rng.next() % 5 == 0 {
            if !needsVariable && rng.next() % 3 == 0 {
                let value = constant()
                return (literal(value), value)
            }
            let variable = variables[Int(rng.next() % UInt64(variables.count))]
            return (variable.0, variable.1)
        }
        switch rng.next() % 10 {
        case 0..<6:
            let ops = ["+", "-", "*", "&", "|", "^", "/", "%", "<<", ">>"]
            let op = ops[Int(rng.next() % UInt64(ops.count))]
            let leftFirst = rng.next() % 2 == 0 || op == "<<" || op == ">>"
            let (lt, lv) = expression(depth: depth - 1, needsVariable: leftFirst)
            let (rt, rv) = expression(depth: depth - 1, needsVariable: !leftFirst)
            return ("(\(lt) \(op) \(rt))", reference(op, lv, rv))
        case 6:
            let ops = ["==", "!=", "<", "<=", ">", ">="]
            let op = ops[Int(rng.next() % UInt64(ops.count))]
            let leftFirst = rng.next() % 2 == 0
            let (lt, lv) = expression(depth: depth - 1, needsVariable: leftFirst)
            let (rt, rv) = expression(depth: depth - 1, needsVariable: !leftFirst)
            return ("\(typeName)(\(lt) \(op) \(rt))", compareReference(op, lv, rv) ? 1 : 0)
        case 7:
            let (t, v) = expression(depth: depth - 1)
            switch rng.next() % 3 {
            case 0: return ("(-\(t))", 0 &- v)
            case 1: return ("(~\(t))", ~v)
            default: return ("\(typeName)(not \(t))", v == 0 ? 1 : 0)
            }
        case 8:
            let (lt, lv) = expression(depth: depth - 1)
            let (rt, rv) = expression(depth: depth - 1, needsVariable: false)
            let and = rng.next() % 2 == 0
            return ("\(typeName)(\(lt) \(and ? "and" : "or") \(rt))", (and ? (lv != 0 && rv != 0) : (lv != 0 || rv != 0)) ? 1 : 0)
        default:
            // test_add works on the 64-bit register forms; truncated back to T it is T's +.
            let (lt, lv) = expression(depth: depth - 1)
            let (rt, rv) = expression(depth: depth - 1, needsVariable: false)
            return ("\(typeName)(test_add(u64(\(lt)), u64(\(rt))))", lv &+ rv)
        }
    }
}

func differential<T: FixedWidthInteger>(_ type: T.Type, _ name: String, seed: UInt64, count: Int) throws {
    var rng = SplitMix64(seed: seed)
    for _ in 0..<count {
        let values = (0..<3).map { _ in T(truncatingIfNeeded: rng.next() >> (rng.next() % 64)) }
        let variables = zip(["a", "b", "c"], values).map { ($0, $1) }
        var generator = ExpressionGenerator<T>(rng: SplitMix64(seed: rng.next()), typeName: name, variables: variables)
        let (text, expected) = generator.expression(depth: Int(rng.next() % 7) + 1)
        let body = variables.map { "\(name) : \($0.0) = \(literal($0.1))" }.joined(separator: "\n") + "\nreturn u64(\(text))"
        let got: UInt64
        do {
            got = try Support.value(body)
        } catch {
            // A rare huge tree is over the VM's 512 slots: a correct rejection, not a result.
            if String(describing: error).contains("instruction slots") { continue }
            Issue.record("\(error)\n\(body)")
            return
        }
        #expect(got == registerForm(expected), "\(body)")
        if got != registerForm(expected) { return }
    }
}

@Suite struct Differential {
    @Test func u8() throws { try differential(UInt8.self, "u8", seed: 1, count: 1000) }
    @Test func s8() throws { try differential(Int8.self, "s8", seed: 2, count: 1000) }
    @Test func u16() throws { try differential(UInt16.self, "u16", seed: 3, count: 1000) }
    @Test func s16() throws { try differential(Int16.self, "s16", seed: 4, count: 1000) }
    @Test func u32() throws { try differential(UInt32.self, "u32", seed: 5, count: 1000) }
    @Test func s32() throws { try differential(Int32.self, "s32", seed: 6, count: 1000) }
    @Test func u64() throws { try differential(UInt64.self, "u64", seed: 7, count: 1000) }
    @Test func s64() throws { try differential(Int64.self, "s64", seed: 8, count: 1000) }
}
