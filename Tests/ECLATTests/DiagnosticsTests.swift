// Each class of error: its place (file:line:col) and message, and every error of a file in one run.

import Testing
import ECLAT
import HikeVM

/// The single diagnostic of `source` as "line:col: message".
func diagnose(_ source: String, defines: [String: String] = [:], strict: Bool = false) -> [String] {
    Support.errors(source, defines: defines, strict: strict).map { "\($0.line):\($0.column): \($0.message)" }
}

@Suite struct Diagnostics {
    let h = Support.header  // line 1

    @Test func lexicalAndSyntax() {
        #expect(diagnose("def c():\n    u64 : x = 1 $ 2\n") == ["2:17: unexpected character '$'"])
        #expect(diagnose("def c():\n    return 'abc\n") == ["2:12: unterminated string"])
        #expect(diagnose("def c():\n    return 0x\n") == ["2:12: invalid integer '0x' (decimal, 0x hex or 0b binary, at most 64 bits)"])
        #expect(diagnose("def c():\n    return 99999999999999999999\n").first?.hasPrefix("2:12: invalid integer") == true)
        #expect(diagnose("def c():\n        u64 : x = 1\n    return x\n") == ["3:5: unindent does not match any outer indentation level"])
        #expect(diagnose("def c(:\n    pass\n").first == "1:7: expected a parameter such as 'u64: a', found ':'")
        #expect(diagnose("def c():\n    if 1\n        pass\n") == ["2:9: expected ':' after the condition, found end of line"])
        #expect(diagnose("def c():\n    return (1 +\n") == ["2:16: unclosed bracket at the end of the file"] || !diagnose("def c():\n    return (1 +\n").isEmpty)
        #expect(diagnose("def c():\n    return 1 < 2 < 3\n") == ["2:18: comparisons do not chain: write 'a < b and b < c'"])
        #expect(diagnose("def c():\n    else:\n        pass\n") == ["2:5: 'else' without a matching 'if'"])
        #expect(diagnose("import foo\n") == ["1:1: write 'from programs.PACKAGE import NAME, …' or 'from loaders.PACKAGE import NAME'"])
        #expect(diagnose("from stuff.x import a\n") == ["1:6: import from 'programs.PACKAGE' or 'loaders.PACKAGE', not 'stuff.x'"])
        #expect(diagnose("def c(u128: a):\n    pass\n") == ["1:7: 'u128' is not a type (u8, u16, u32, u64, s8, s16, s32, s64)"])
    }

    @Test func unknownProgramsAndLoaders() {
        #expect(diagnose("from programs.test import hike_pass, nope\n") == [
            "1:27: package 'test' has no program 'hike_pass'; it is in 'hike_default': from programs.hike_default import hike_pass",
            "1:38: unknown program 'nope'; package 'test' has test_add, test_shmem, test_verdict, test_xor_pkt",
        ])
        #expect(diagnose("from programs.x import hike_pass\ndef c():\n    hike_pass()\n") == ["1:15: unknown package 'x'; the packages are basic, hike, hike_default, mynet, net, test"])
        #expect(diagnose("from loaders.hike_default import nope\n") == ["1:34: unknown loader 'nope'; known loaders: ip46_classifier, ip6_classifier, ip6_lpm_classifier, ip6_udport42069_classifier, ip6_udport862_classifier"])
        #expect(diagnose("from loaders.test import ip6_classifier\n") == ["1:26: package 'test' has no loader 'ip6_classifier'; it is in 'hike_default': from loaders.hike_default import ip6_classifier"])
        #expect(diagnose("from programs.hike_default import ip6_classifier\n").first?.contains("is a loader: import it from loaders.PACKAGE") == true)
        #expect(diagnose("from programs.hike import readU8\n") == ["1:27: programs.hike has no 'readU8'; it has Packet, drop"])
        #expect(diagnose("def c():\n    hike_pass()\n") == ["2:5: program 'hike_pass' is not imported; add it to a 'from programs.PACKAGE import …' line"])
        #expect(diagnose("def c():\n    frobnicate(1)\n") == ["2:5: unknown function 'frobnicate'"])
        #expect(diagnose("from loaders.hike_default import ip6_sc\nip6_sc[nomap] = { (0): (c) }\ndef c():\n    pass\n") == ["2:8: loader 'ip6_sc' has no map 'nomap'; its maps: ip6_cls_cfg"])
        #expect(diagnose("ldr.attach('eth0', 'xdp')\n") == ["1:1: 'ldr' is not an imported loader; import it with 'from loaders.PACKAGE import ldr'"])
        #expect(diagnose("from loaders.hike_default import ip6_sc\nip6_sc.attach('eth0', 'xdpoffload')\n") == ["2:23: unsupported attach mode 'xdpoffload'; use 'xdp', 'xdpdrv' or 'xdpgeneric'"])
        #expect(diagnose("from loaders.hike_default import ip6_sc\nip6_sc[ipv6_sc_map] = { (0): (nochain) }\n") == ["2:31: 'nochain' is neither a chain nor a constant"])
        #expect(diagnose("def c():\n    Packet.peek(1)\n").first?.hasPrefix("2:5: Packet has no method 'peek'") == true)
        #expect(diagnose("def c():\n    Pkt.readU8(1)\n") == ["2:5: unknown object 'Pkt'; only Packet has methods (Packet.readU8(off), …), as in the original's mapper"])
    }

    @Test func arity() {
        #expect(diagnose(h + "def c():\n    test_add(1)\n") == ["3:5: program 'test_add' takes 2 arguments, not 1"])
        #expect(diagnose(h + "def c():\n    hike_pass(1)\n") == ["3:5: program 'hike_pass' takes 0 arguments, not 1"])
        #expect(diagnose("def c():\n    d(1, 2)\ndef d(u64: a):\n    return a\n") == ["2:5: chain 'd' takes 1 argument, not 2"])
        #expect(diagnose("def c():\n    return Packet.readU8()\n") == ["2:12: Packet.readU8 takes 1 argument, not 0"])
        #expect(diagnose("def c(u64: a, u64: b, u64: x, u64: d, u64: e):\n    pass\n") == ["1:44: a chain takes at most 4 parameters (r2–r5)"])
    }

    @Test func namesAndRedefinitions() {
        #expect(diagnose("def c():\n    return x\n") == ["2:12: undefined name 'x'"])
        #expect(diagnose("def c():\n    x = 1\n") == ["2:5: undefined variable 'x'; declare it first, e.g. 'u64 : x = …'"])
        #expect(diagnose("def c():\n    u64 : x = 1\n    u8 : x = 2\n") == ["3:10: redefinition of 'x', already a variable"])
        #expect(diagnose("def c():\n    A = 1\n    A = 2\n") == ["3:5: redefinition of constant 'A'"])
        #expect(diagnose("def c():\n    pass\ndef c():\n    pass\n") == ["3:5: redefinition of 'c', already a chain"])
        #expect(diagnose("N = 1\nN = 2\n") == ["2:1: redefinition of 'N', already a constant"])
        #expect(diagnose(h + "def test_add():\n    pass\n") == ["2:5: redefinition of 'test_add', already an imported program"])
        // A chain may be named like a program the script does not import (the original's `stamp`).
        #expect(diagnose("def hike_pass():\n    pass\n") == [])
        #expect(diagnose("def c(u64: a, u8: a):\n    pass\n") == ["1:19: redefinition of 'a'"])
        #expect(diagnose("def c():\n    u64 : y = x\n    u64 : x = 1\n") == ["2:15: 'x' is used before its declaration"])
        #expect(diagnose("def c():\n    return d\ndef d():\n    pass\n") == ["2:12: 'd' is a chain, not a value; call it: d(…)"])
        #expect(diagnose("def c():\n    u64 : x = 1\n    X = x\n") == ["3:9: the constant 'X' needs a constant value; to make a variable, declare it: 'u64 : X = …'"])
        #expect(diagnose("def c():\n    break\n") == ["2:5: 'break' outside a loop"])
        #expect(diagnose("def c():\n    1 + 2\n") == ["2:5: this expression does nothing; only calls can stand alone as statements"])
    }

    /// `--strict`: mixed types and constants that do not fit are errors (by default C's
    /// conversions apply, SemanticsTests.cConversions).
    @Test func strictTypes() {
        #expect(diagnose("def c():\n    u8 : a = 1\n    s8 : b = 1\n    return a + b\n", strict: true) == ["4:14: type mismatch: '+' between u8 and s8; convert one side, e.g. u8(…)"])
        #expect(diagnose("def c():\n    u8 : a = 1\n    s8 : b = 1\n    if a < b:\n        pass\n", strict: true) == ["4:10: type mismatch: '<' between u8 and s8; convert one side, e.g. u8(…)"])
        #expect(diagnose("def c():\n    u8 : a = 1\n    return a + 256\n", strict: true) == ["3:14: the constant 256 does not fit u8"])
        #expect(diagnose("def c():\n    u16 : a = 1\n    a += Packet.readU8(0)\n", strict: true) == ["3:5: type mismatch: '+' between u16 and u64; convert one side, e.g. u16(…)"])
    }

    @Test func loopsRecursionAndSize() {
        #expect(diagnose("def c():\n    u64 : n = 3\n    for i in range(n):\n        pass\n") == ["3:20: the loop bound must be a constant (the VM's instruction budget bounds every loop)"])
        #expect(diagnose("def c():\n    c()\n") == ["2:5: recursive call: c → c; chains may not call themselves, directly or not"])
        #expect(diagnose("def a():\n    b()\ndef b():\n    a()\n") == ["4:5: recursive call: a → b → a; chains may not call themselves, directly or not"])
        let big = "def c():\n    u64 : x = 0\n" + String(repeating: "    x += 1\n", count: 600)
        #expect(diagnose(big) == ["1:5: chain 'c' compiles to 1803 instruction slots, more than the VM's 512; split it into chains that call each other"])
        let stack = "def c():\n" + (0..<40).map { "    u64 : v\($0) = \($0)\n" }.joined()
        #expect(diagnose(stack) == ["1:5: chain 'c' needs more than the VM's 256 bytes of stack for its variables and temporaries"])
    }

    @Test func allErrorsInOneRun() {
        let source = h + """
            from loaders.hike_default import nope
            def c():
                u64 : x = y
                test_add(1)
                u8 : a = 1
                s8 : b = 2
                return a + b
            def c():
                pass
            """
        let found = diagnose(source + "\n")
        #expect(found == [
            "2:34: unknown loader 'nope'; known loaders: ip46_classifier, ip6_classifier, ip6_lpm_classifier, ip6_udport42069_classifier, ip6_udport862_classifier",
            "4:15: undefined name 'y'",
            "5:5: program 'test_add' takes 2 arguments, not 1",
            "9:5: redefinition of 'c', already a chain",
        ])
        // Syntax errors do not hide the later ones either.
        #expect(diagnose("def c():\n    u64 : = 1\n    return y\ndef d(:\n    pass\n").count == 4)  // and the unclosed bracket
    }

    @Test func format() {
        let errors = Support.errors("def c():\n\treturn x\n")
        #expect(errors.first?.description == "test.eclat:2:9: error: undefined name 'x'\n\treturn x\n\t       ^")
        let error = AssemblerError(diagnostics: Support.errors("def c():\n    return x + y\n"))
        #expect(error.description == """
            test.eclat:2:12: error: undefined name 'x'
                return x + y
                       ^
            test.eclat:2:16: error: undefined name 'y'
                return x + y
                           ^
            2 errors generated.
            """)
    }

    @Test func pathologicalInputs() {
        // Bounded, never a stack overflow: long flat chains, deep nesting, long lines.
        let long = "def c():\n    u64 : x = 1\n    return x" + String(repeating: " + x", count: 5000) + "\n"
        #expect(diagnose(long).first == "3:1038: expression too long (more than 256 operators); split it with variables")
        let fine = "def c():\n    u64 : x = 1\n    return x" + String(repeating: " + x", count: 200) + "\n"
        #expect(diagnose(fine).isEmpty)
        let deep = "def c():\n    return " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + "\n"
        #expect(diagnose(deep).first?.hasSuffix("expression nested too deeply") == true)
        let unary = "def c():\n    return " + String(repeating: "-", count: 5000) + "1\n"
        #expect(diagnose(unary).first?.hasSuffix("expression nested too deeply") == true)
        var blocks = "def c():\n"
        for level in 1...200 { blocks += String(repeating: " ", count: level * 2) + "if 1:\n" }
        blocks += String(repeating: " ", count: 402) + "pass\n"
        #expect(diagnose(blocks).first?.hasSuffix("nested too deeply") == true, "\(diagnose(blocks).prefix(3))")
        let clock = ContinuousClock()
        var start = clock.now
        #expect(!diagnose(String(repeating: "x", count: 100_000)).isEmpty)
        #expect(clock.now - start < .seconds(2))
        start = clock.now
        #expect(!diagnose(String(repeating: "\n    ", count: 10_000) + "x").isEmpty)
        #expect(clock.now - start < .seconds(2))
    }

    @Test func definesKeepPlaces() {
        // A -D value keeps the place of the name it replaces.
        #expect(diagnose("def c():\n    u8 : a = 1\n    return a + BIG\n", defines: ["BIG": "300"], strict: true) == ["3:14: the constant 300 does not fit u8"])
    }
}
