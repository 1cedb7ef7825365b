// ABI.constants against the header's text: every numeric macro has a Swift twin with its value.
// (The lead's test compares the same table with values exported from a compiled object.)

import Foundation
import Testing
@testable import HikeVM

@Suite("ABI constants")
struct ABITests {
    /// bpf/include/hike/vm_abi.h, found from this file's path.
    static func header() throws -> String? {
        var path = #filePath
        for _ in 0..<3 {
            guard let slash = path.lastIndex(of: "/") else { return nil }
            path = String(path[..<slash])
        }
        return try? String(contentsOfFile: path + "/bpf/include/hike/vm_abi.h", encoding: .utf8)
    }

    /// `#define NAME value` for object-like macros (not the include guard).
    static func macros(_ header: String) -> [(name: String, value: String)] {
        header.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard parts.count == 3, parts[0] == "#define", !parts[1].contains("(") else { return nil }
            var value = String(parts[2])
            if let comment = value.range(of: "/*") { value = String(value[..<comment.lowerBound]) }
            return (String(parts[1]), value.trimmingCharacters(in: .whitespaces))
        }
    }

    /// Evaluates the few forms the header uses: 12, 0x3f, (1u << 30), HVM_ADDR(A, B), NAME.
    static func evaluate(_ text: String, _ table: [String: UInt64]) -> UInt64? {
        var text = text.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("HVM_ADDR("), text.hasSuffix(")") {
            let arguments = text.dropFirst(9).dropLast().split(separator: ",").map { evaluate(String($0), table) }
            guard arguments.count == 2, let bank = arguments[0], let offset = arguments[1] else { return nil }
            return bank << 24 | offset
        }
        if text.hasPrefix("("), text.hasSuffix(")") { text = String(text.dropFirst().dropLast()) }
        if let shift = text.range(of: "<<") {
            guard let a = evaluate(String(text[..<shift.lowerBound]), table),
                  let b = evaluate(String(text[shift.upperBound...]), table) else { return nil }
            return a << b
        }
        if let value = table[text] { return value }
        while let last = text.last, last == "u" || last == "U" || last == "l" || last == "L" { text.removeLast() }
        if text.hasPrefix("0x") { return UInt64(text.dropFirst(2), radix: 16) }
        return UInt64(text)
    }

    @Test func constantsMatchTheHeader() throws {
        guard let header = try Self.header() else {
            Issue.record("vm_abi.h not found next to the package")
            return
        }
        var values: [String: UInt64] = [:]
        for (name, text) in Self.macros(header) where name != "HIKE_VM_ABI_H" {
            guard let value = Self.evaluate(text, values) else {
                Issue.record("cannot evaluate \(name) = \(text)")
                continue
            }
            values[name] = value
        }
        #expect(values.count > 50)
        #expect(Set(values.keys) == Set(ABI.constants.keys),
                "only in the header: \(Set(values.keys).subtracting(ABI.constants.keys).sorted()); only in Swift: \(Set(ABI.constants.keys).subtracting(values.keys).sorted())")
        for (name, value) in values {
            #expect(ABI.constants[name] == value, "\(name)")
        }
    }

    @Test func derivedValues() {
        #expect(ABI.stackTop == 0x0400_0100)
        #expect(ABI.address(bank: ABI.bankSharedMemory, offset: 8) == 0x0300_0008)
        #expect(ABI.constants["HVM_FN_PKT_READ_U8"] == 0x20)
        #expect(ABI.constants["HVM_FN_CPU"] == 0x2b)
        #expect(ABI.constants["HVM_FAULT_BAD_VERDICT"] == 9)
        #expect(Fault.allCases.count == Int(ABI.faultReasons))
        #expect(VMHelper(name: "pkt_len") == .pktLen)
        #expect(Fault.badJump.description == "BAD_JUMP (the pc left the chain)")
    }
}
