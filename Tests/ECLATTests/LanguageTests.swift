// Every construct of the language through the compiler and the reference interpreter; expected
// values are written by hand.

import Foundation
import Testing
import ECLAT
import HikeVM

@Suite struct Language {
    @Test func controlFlow() throws {
        let ifChain = "u64 : x = X\nif x < 10:\n    return 1\nelif x < 20:\n    return 2\nelif x == 20:\n    return 3\nelse:\n    return 4"
        for (x, expected) in [(5, 1), (15, 2), (20, 3), (99, 4)] as [(Int, UInt64)] {
            #expect(try Support.value(ifChain.replacingOccurrences(of: "X", with: "\(x)")) == expected)
        }
        #expect(try Support.value("u64 : s = 0\nu64 : i = 0\nwhile i < 10:\n    s += i\n    i += 1\nreturn s") == 45)
        #expect(try Support.value("u64 : s = 0\nfor i in range(5):\n    s += i\nreturn s") == 10)
        #expect(try Support.value("u64 : s = 0\nfor i in range(2, 5):\n    s += i\nreturn s") == 9)
        #expect(try Support.value("u64 : s = 0\nN = 4\nfor i in range(N * 2):\n    s += 1\nreturn s") == 8)
        #expect(try Support.value("u64 : s = 0\nfor i in range(3):\n    for j in range(4):\n        s += 1\nreturn s") == 12)
        #expect(try Support.value("u64 : s = 0\nfor i in range(10):\n    if i == 3:\n        continue\n    if i == 6:\n        break\n    s += i\nreturn s") == 12)
        #expect(try Support.value("u64 : i = 0\nwhile 1:\n    i += 1\n    if i > 7:\n        break\nreturn i") == 8)
        #expect(try Support.value("if 1:\n    pass\nreturn 5") == 5)
        #expect(try Support.value("u64 : x = 3\nif x == 3: return 7\nreturn 0") == 7)
        #expect(try Support.value("u64 : x = 1\nif x:\n    return 1\nreturn 0") == 1)
        // The chain's end returns 0.
        #expect(try Support.value("u64 : x = 1") == 0)
        #expect(try Support.value("return") == 0)
    }

    @Test func logicShortCircuits() throws {
        // test_shmem counts calls in shared memory: the right side runs only when needed.
        func counter(_ body: String) throws -> UInt64 {
            let indented = body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
            let result = try Support.run(Support.header + "def main():\n" + indented + "\n")
            #expect(result.fault == .none)
            return UInt64(result.sharedMemory[0])
        }
        #expect(try counter("u64 : x = 0\nif x and test_shmem(0):\n    pass") == 0)
        #expect(try counter("u64 : x = 1\nif x and test_shmem(0):\n    pass") == 1)
        #expect(try counter("u64 : x = 1\nif x or test_shmem(0):\n    pass") == 0)
        #expect(try counter("u64 : x = 0\nif x or test_shmem(0):\n    pass") == 1)
        #expect(try counter("u64 : x = 0\nu64 : y = x and test_shmem(0)") == 0)
        #expect(try counter("u64 : x = 0\nu64 : y = not x or test_shmem(0)") == 0)
        #expect(try Support.value("u64 : a = 3\nu64 : b = 0\nreturn (a and b) + (a or b) * 2 + (not b) * 4 + (not a) * 8") == 6)
        #expect(try Support.value("u64 : a = 5\nreturn a > 1 and a < 10 and not (a == 7)") == 1)
        #expect(try Support.value("u64 : a = 5\nreturn a < 1 or a > 10 or a == 4") == 0)
    }

    @Test func programCalls() throws {
        #expect(try Support.value("return test_add(40, 2)") == 42)
        #expect(try Support.value("u64 : a = 5\nreturn test_add(a, test_add(a, 1)) * 2") == 22)
        #expect(try Support.value("u64 : a = 1\nu64 : b = 2\nreturn a + test_add(b, a) + b") == 6)  // temps saved across calls
        let pass = try Support.run(Support.header + "def main():\n    hike_pass()\n")
        #expect(pass.verdict == ABI.xdpPass)
        let drop = try Support.run(Support.header + "def main():\n    u64 : x = 1\n    if x:\n        hike_drop()\n    hike_pass()\n")
        #expect(drop.verdict == ABI.xdpDrop)
        let verdict = try Support.run(Support.header + "def main():\n    test_verdict(3)\n")
        #expect(verdict.verdict == ABI.xdpTX)
        // The result of a program call is u64.
        #expect(!Support.errors(Support.header + "def main():\n    u8 : x = 1\n    return x + test_add(1, 2)\n", strict: true).isEmpty)
        #expect(try Support.value("u8 : x = 1\nreturn x + test_add(1, 2)") == 4)
    }

    @Test func chainCalls() throws {
        let source = Support.header + """
            def main():
                u64 : a = 10
                return twice(a) + add3(1, 2, 3) + narrow(300)

            def twice(u64: x):
                return x * 2

            def add3(u64: x, u64: y, u64: z):
                return x + y * 10 + z * 100

            def narrow(u8: x):
                return x
            """
        let result = try Support.run(source + "\n")
        #expect(result.fault == .none)
        #expect(result.r0 == 20 + 321 + 44)
        let four = Support.header + """
            def main():
                return f(1, 2, 3, 4)
            def f(u64: a, s8: b, u16: c, u64: d):
                return a + u64(b) * 10 + u64(c) * 100 + d * 1000
            """
        #expect(try Support.run(four + "\n").r0 == 4321)
    }

    @Test func packet() throws {
        let packet: [UInt8] = Array(0..<32)
        #expect(try Support.value("return Packet.readU8(3)", packet: packet) == 3)
        #expect(try Support.value("return Packet.readU16(2)", packet: packet) == 0x0203)
        #expect(try Support.value("return Packet.readU32(4)", packet: packet) == 0x0405_0607)
        #expect(try Support.value("return Packet.readU64(8)", packet: packet) == 0x0809_0a0b_0c0d_0e0f)
        #expect(try Support.value("return Packet.len()", packet: packet) == 32)
        let result = try Support.run(Support.header + "def main():\n    Packet.writeU8(0, 0xaa)\n    Packet.writeU16(1, 0xbbcc)\n    Packet.writeU32(4, 0x11223344)\n    Packet.writeU64(8, 0x0102030405060708)\n    return Packet.readU16(0)\n", packet: Array(repeating: 0, count: 16))
        #expect(Array(result.packet[0..<3]) == [0xaa, 0xbb, 0xcc])
        #expect(Array(result.packet[4..<8]) == [0x11, 0x22, 0x33, 0x44])
        #expect(Array(result.packet[8..<16]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(result.r0 == 0xaabb)
        // Outside the packet: the VM faults.
        let fault = try Support.run(Support.header + "def main():\n    return Packet.readU8(100)\n", packet: [1, 2])
        #expect(fault.fault == .invalidAccess)
    }

    @Test func spillingAndManyVariables() throws {
        // Six variables: r6–r9 and two stack slots.
        #expect(try Support.value("u64 : a = 1\nu64 : b = 2\nu64 : c = 3\nu64 : d = 4\nu64 : e = 5\nu64 : f = 6\ne += f\nreturn a + b * c + d * e * f") == 1 + 6 + 264)
        // Deep expressions need more temporaries than r1–r4.
        #expect(try Support.value("u64 : a = 2\nreturn a + (a * (a + (a * (a + (a * (a + (a * (a + 1))))))))") == 2 + 2 * (2 + 2 * (2 + 2 * (2 + 2 * (2 + 1)))))
        #expect(try Support.value("u64 : a = 2\nreturn (a + 1) * ((a + 2) * ((a + 3) * ((a + 4) * ((a + 5) * (a + 6)))))") == 3 * 4 * 5 * 6 * 7 * 8)
        // A call deep inside an expression: every live temp survives it.
        #expect(try Support.value("u64 : a = 2\nreturn (a + 1) * ((a + 2) * ((a + 3) * ((a + 4) * ((a + 5) * test_add(a, 4)))))") == 3 * 4 * 5 * 6 * 7 * 6)
        #expect(try Support.value("u64 : a = 1\nreturn test_add(test_add(a, 2), test_add(test_add(3, a), 4))") == 3 + 8)
        // Many variables on the stack, used in loops.
        var lines = (0..<12).map { "u64 : v\($0) = \($0)" }
        lines.append("for i in range(3):\n    v11 += v10 + i")
        lines.append("return v11 + v0 + v5")
        #expect(try Support.value(lines.joined(separator: "\n")) == 11 + 30 + 3 + 5)
        var many = (0..<12).map { "s16 : w\($0) = \($0) - 6" }
        many.append("return s64(w0 * w11)")
        #expect(try Support.value(many.joined(separator: "\n")) == UInt64(bitPattern: -30))
    }

    @Test func statementsAndAssignment() throws {
        #expect(try Support.value("A = 1; B = 2; C = A + B\nreturn C") == 3)
        #expect(try Support.value("u64 : x = 10\nx += 5; x -= 3; x *= 2; x /= 4; x %= 5\nreturn x") == 1)
        #expect(try Support.value("u64 : x = 0xf0\nx &= 0x3c; x |= 1; x ^= 0xff; x <<= 2; x >>= 1\nreturn x") == ((((0xf0 & 0x3c) | 1) ^ 0xff) << 2) >> 1)
        #expect(try Support.value("u64 : x = 1 + \\\n    2\nreturn x  # a comment") == 3)
        #expect(try Support.value("u64 : x\nreturn x") == 0)
        #expect(try Support.value("u64 : x = 3\nreturn -x") == UInt64(bitPattern: -3))
        #expect(try Support.value("u8 : x = 3\nreturn ~x") == 0xfc)
        #expect(try Support.value("u16 x = 7\nreturn x") == 7)  // the colon is optional
        #expect(try Support.value("s8 : x = -3\nu64 : y = x\nreturn y") == UInt64(bitPattern: -3))  // assignment converts
    }

    @Test func topLevelAndDefines() throws {
        let source = """
            # A script in the original's style.
            from programs.hike_default import (hike_pass,
                hike_drop)
            from prog.test import test_add, \\
                test_shmem
            from loaders.hike_default import ip6_sc
            LIMIT = 10 * 2
            ip6_sc[ipv6_sc_map] = { (0): (main) }
            ip6_sc.attach('DEVNAME', 'xdpgeneric')

            def main():
                u64 : x = test_add(LIMIT, EXTRA)
                return x
            """
        let script = try Support.compile(source + "\n", defines: ["DEVNAME": "veth7", "EXTRA": "5"])
        #expect(script.programs == ["test.test_add"])
        #expect(script.loaders.count == 1)
        let loader = try #require(script.loaders.first)
        #expect(loader.loader == "ip6_classifier")
        #expect(loader.maps.first?.map == "ip6_cls_cfg")
        #expect(loader.maps.first?.entries == [LoaderMapEntry(key: [.integer(0)], value: [.chain("main")])])
        #expect(loader.attachments.first?.device == "veth7")
        #expect(loader.attachments.first?.mode == "generic")
        let result = try Support.run(source + "\n", defines: ["DEVNAME": "veth7", "EXTRA": "5"])
        #expect(result.r0 == 25)
        #expect(try Support.compile(source + "\n", defines: ["DEVNAME": "v", "EXTRA": "1", "TYPO": "2"]).unusedDefines == ["TYPO"])
        // The thesis' form of the map configuration.
        let thesis = try Support.compile("from loaders.basic import ip6_sc\nip6_sc.ipv6_sc_map = { (0): (c, 2) }\nip6_sc.attach('eth0', 'xdp')\ndef c():\n    return 0\n")
        #expect(thesis.loaders.first?.maps.first?.entries.first?.value == [.chain("c"), .integer(2)])
        #expect(thesis.loaders.first?.attachments.first?.mode == "native")
        // The other loaders by their own names.
        #expect(throws: Never.self) { try Support.compile("from loaders.hike_default import ip6_lpm_classifier\nip6_lpm_classifier[ip6_lpm_routes] = { ('fc00::/64'): (c) }\ndef c():\n    return 0\n") }
    }

    @Test func windowsLineEndings() throws {
        let source = Support.header + "def main():\r\n    u64 : x = 2\r\n    if x == 2:\r\n        return 7\r\n    return 1\r\n"
        #expect(try Support.run(source).r0 == 7)
        #expect(Support.errors("def c():\r\n    return y\r\n").map { "\($0.line):\($0.column) \($0.sourceLine)" } == ["2:12     return y"])
    }

    @Test func emptyAndMinimalScripts() throws {
        #expect(try Support.compile("").chains.isEmpty)
        #expect(try Support.compile("# nothing\n\n").chains.isEmpty)
        #expect(try Support.compile("def c():\n    pass").chains.count == 1)
    }
}
