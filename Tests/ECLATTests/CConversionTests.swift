// Mixed types follow C's usual arithmetic conversions, as the original (which compiled chains
// through C) did. The expected values come from C itself: the same expressions compiled by the
// toolchain's clang for this host (int 32 bits, long 64, as on eBPF) and run.

import Foundation
import Testing
import ECLAT

@Suite struct CConversions {
    struct Case: CustomTestStringConvertible {
        var left: IntType, leftValue: String
        var right: IntType, rightValue: String
        var op: String
        /// The right operand is a literal (the original pasted literals into C, where they are int).
        var rightIsConstant = false
        var eclat: String {
            let declarations = "\(left) : a = \(leftValue)" + (rightIsConstant ? "" : "\n\(right) : b = \(rightValue)")
            return declarations + "\nreturn a \(op) \(rightIsConstant ? rightValue : "b")"
        }
        var testDescription: String { "\(left) \(leftValue) \(op) " + (rightIsConstant ? rightValue : "\(right) \(rightValue)") }
    }

    static let cTypes: [IntType: String] = [
        .u8: "unsigned char", .u16: "unsigned short", .u32: "unsigned int", .u64: "unsigned long",
        .s8: "signed char", .s16: "short", .s32: "int", .s64: "long",
    ]

    /// All ones (-1 or the maximum) and 1, for every pair of different types, and constants that
    /// do not fit the variable's type (C's int or long).
    static let cases: [Case] = {
        var cases: [Case] = []
        for left in IntType.allCases {
            for right in IntType.allCases where right != left {
                for (a, b) in [(allOnes(left), "1"), ("1", allOnes(right)), (allOnes(left), allOnes(right))] {
                    for op in ["+", "-", "*", "<", "==", ">="] {
                        cases.append(Case(left: left, leftValue: a, right: right, rightValue: b, op: op))
                    }
                }
            }
            // A constant that fits the variable's type takes it (docs/eclat.md: not C's int).
            let constant = left.bits == 8 ? "256" : left.bits < 64 ? "4294967296" : nil
            for op in ["+", "==", "<", "-"] where constant != nil {
                cases.append(Case(left: left, leftValue: allOnes(left), right: .s64, rightValue: constant ?? "", op: op, rightIsConstant: true))
            }
        }
        return cases
    }()

    static func allOnes(_ type: IntType) -> String {
        type.isSigned ? "-1" : String(UInt64.max >> UInt64(64 - type.bits))
    }

    /// Each case's value from C: printed as the 64-bit register form of its C type.
    static func valuesFromC() throws -> [UInt64] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hike-cconv-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var lines = [
            "#include <stdio.h>",
            "#define OUT(e) do { __typeof__(e) r_ = (e); printf(\"%llu\\n\", ((__typeof__(e))-1 < 0) ? (unsigned long long)(long long)r_ : (unsigned long long)r_); } while (0)",
            "int main(void) {",
        ]
        for item in cases {
            let a = "(\(cTypes[item.left]!))\(item.leftValue)"
            let b = item.rightIsConstant ? item.rightValue : "(\(cTypes[item.right]!))\(item.rightValue)"
            lines.append("  { \(cTypes[item.left]!) a = \(a); OUT(a \(item.op) \(b)); }")
        }
        lines += ["  return 0;", "}"]
        let source = directory.appendingPathComponent("conv.c"), binary = directory.appendingPathComponent("conv")
        try lines.joined(separator: "\n").write(to: source, atomically: true, encoding: .utf8)
        try run("/usr/bin/env", ["clang", "-w", "-o", binary.path, source.path])
        let output = try run(binary.path, [])
        return output.split(separator: "\n").compactMap { UInt64($0) }
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Support.Failure(description: "\(executable) \(arguments) exited \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    @Test func mixedTypesMatchC() throws {
        let expected = try Self.valuesFromC()
        try #require(expected.count == Self.cases.count)
        for (item, value) in zip(Self.cases, expected) {
            let got = try Support.value(item.eclat)
            #expect(got == value, "\(item.testDescription): eCLAT \(got), C \(value)")
        }
    }

    @Test func strictRefusesWhatCConverts() {
        for item in Self.cases.prefix(40) {
            let source = Support.header + "def main():\n" + item.eclat.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n"
            #expect(!Support.errors(source, strict: true).isEmpty, "\(item.testDescription)")
        }
    }
}
