// Compares BPFDisassembler with llvm-objdump 21 on a compiled BPF object: every instruction line
// of `llvm-objdump -d` is decoded from its own hex bytes and disassembled at its own slot index,
// with the section's symbols taken from objdump's `0000000000000000 <prog>:` headers.
// Reusable: the main project can call `compareWithObjdump(objectPath:)` on each of its objects.

import Foundation

#if canImport(BPFKit)
import BPFKit
#else
import BPFInstructions
#endif

/// One objdump line that the Swift side did not reproduce.
struct Mismatch: CustomStringConvertible, Sendable {
    var section: String
    /// Slot index objdump printed.
    var index: Int
    var bytes: [UInt8]
    var expected: String
    var actual: String

    var description: String {
        let hex = bytes.map { String(format: "%02x", $0) }.joined(separator: " ")
        return "[\(section)] \(index): \(hex)\n  objdump: \(expected)\n  swift:   \(actual)"
    }
}

struct LLVMToolError: Error, CustomStringConvertible {
    var description: String
}

/// The toolchain's LLVM tools (LLVM 21). `/usr/bin/llvm-objdump` on Debian 12 is LLVM 14, whose
/// BPF syntax differs, so it is never used. Override with LLVM_OBJDUMP / BPF_CLANG.
enum LLVMTools {
    static var objdump: String { locate(env: "LLVM_OBJDUMP", name: "llvm-objdump") }
    static var clang: String { locate(env: "BPF_CLANG", name: "clang") }

    private static func locate(env: String, name: String) -> String {
        if let path = ProcessInfo.processInfo.environment[env], !path.isEmpty { return path }
        // The toolchain that builds hike: next to the `swift` on PATH, else its usual home.
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let toolchains = path.split(separator: ":").map(String.init)
            .filter { FileManager.default.isExecutableFile(atPath: "\($0)/swift") }
        for dir in toolchains + ["/opt/swift/usr/bin", "/usr/lib/llvm-21/bin"] {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return "/opt/swift/usr/bin/\(name)"
    }
}

struct LLVMToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program with its output in temporary files (no pipe deadlock on large output).
func runLLVMTool(_ executable: String, _ arguments: [String]) throws -> LLVMToolResult {
    let fm = FileManager.default
    let dir = fm.temporaryDirectory.appendingPathComponent("bpf-tool-\(UUID().uuidString)")
    try fm.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? fm.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("stdout")
    let errURL = dir.appendingPathComponent("stderr")
    _ = fm.createFile(atPath: outURL.path, contents: nil)
    _ = fm.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try out.close()
    try err.close()
    return LLVMToolResult(
        status: process.terminationStatus,
        stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
        stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// One parsed instruction line of objdump's output.
struct ObjdumpLine {
    var index: Int
    var bytes: [UInt8]
    var text: String
}

/// A disassembled section of objdump's output.
struct ObjdumpSection {
    var name: String
    var symbols: [BPFSymbol] = []
    var lines: [ObjdumpLine] = []
}

/// Parses `llvm-objdump -d` output into sections with their symbol headers and instruction lines.
func parseObjdump(_ output: String) -> [ObjdumpSection] {
    var sections: [ObjdumpSection] = []
    let sectionPrefix = "Disassembly of section "
    for rawLine in output.split(separator: "\n", omittingEmptySubsequences: true) {
        let line = String(rawLine)
        if line.hasPrefix(sectionPrefix), line.hasSuffix(":") {
            sections.append(ObjdumpSection(name: String(line.dropFirst(sectionPrefix.count).dropLast())))
            continue
        }
        guard !sections.isEmpty else { continue }
        // Symbol header: 16 hex digits, " <", name, ">:".
        if line.hasSuffix(">:"), let open = line.firstIndex(of: "<"),
           let address = UInt64(line[..<open].trimmingCharacters(in: .whitespaces), radix: 16) {
            let name = String(line[line.index(after: open)..<line.index(line.endIndex, offsetBy: -2)])
            sections[sections.count - 1].symbols.append(BPFSymbol(name: name, address: address))
            continue
        }
        // Instruction: "<spaces>index:\t<hex bytes>\t<text>".
        let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0].hasSuffix(":"),
              let index = Int(fields[0].dropLast().trimmingCharacters(in: .whitespaces)) else { continue }
        var bytes: [UInt8] = []
        var valid = true
        for hex in fields[1].split(separator: " ") {
            guard let byte = UInt8(hex, radix: 16) else { valid = false; break }
            bytes.append(byte)
        }
        guard valid, !bytes.isEmpty else { continue }
        sections[sections.count - 1].lines.append(ObjdumpLine(index: index, bytes: bytes, text: String(fields[2])))
    }
    return sections
}

/// Disassembles `objectPath` with llvm-objdump 21 and returns every line the Swift decoder and
/// disassembler do not reproduce exactly (an empty array means full agreement).
func compareWithObjdump(objectPath: String) throws -> [Mismatch] {
    try objdumpComparison(objectPath: objectPath).mismatches
}

/// Like `compareWithObjdump`, also counting the instruction lines compared (so that a caller can
/// tell "all matched" from "objdump printed nothing").
/// `-z` makes objdump print runs of zero bytes instead of eliding them as `...`.
func objdumpComparison(objectPath: String) throws -> (compared: Int, mismatches: [Mismatch]) {
    let result = try runLLVMTool(LLVMTools.objdump, ["-d", "-z", objectPath])
    guard result.status == 0 else {
        throw LLVMToolError(description: "llvm-objdump failed on \(objectPath) (\(result.status)): \(result.stderr)")
    }
    return compareWithObjdumpOutput(result.stdout)
}

/// The comparison on already captured `llvm-objdump -d` output.
func compareWithObjdumpOutput(_ output: String) -> (compared: Int, mismatches: [Mismatch]) {
    var mismatches: [Mismatch] = []
    var compared = 0
    for section in parseObjdump(output) {
        // All of the section's symbols, including those after the branch.
        let disassembler = BPFDisassembler(symbols: section.symbols)
        for line in section.lines {
            compared += 1
            let actual: String
            do {
                let insns = try BPFInstruction.decode(line.bytes)
                if insns.count == 1, let insn = insns.first {
                    actual = disassembler.text(for: insn, at: line.index)
                    if insn.encode() != line.bytes {
                        mismatches.append(Mismatch(section: section.name, index: line.index, bytes: line.bytes,
                                                   expected: "re-encoding to the same bytes",
                                                   actual: "\(insn.encode())"))
                    }
                } else {
                    actual = "decoded \(insns.count) instructions"
                }
            } catch {
                actual = "error: \(error)"
            }
            if actual != line.text {
                mismatches.append(Mismatch(section: section.name, index: line.index, bytes: line.bytes,
                                           expected: line.text, actual: actual))
            }
        }
    }
    return (compared, mismatches)
}

/// Assembles or compiles `source` (a `.s` or `.c` file name) with the toolchain's clang for
/// -target bpf -mcpu=v4 in a fresh temporary directory and returns the object's path.
func compileBPF(source: String, named fileName: String) throws -> String {
    let fm = FileManager.default
    let dir = fm.temporaryDirectory.appendingPathComponent("bpf-corpus-\(UUID().uuidString)")
    try fm.createDirectory(at: dir, withIntermediateDirectories: true)
    let sourceURL = dir.appendingPathComponent(fileName)
    try source.write(to: sourceURL, atomically: true, encoding: .utf8)
    let objectPath = dir.appendingPathComponent("out.o").path
    var arguments = ["-target", "bpf", "-mcpu=v4", "-c", sourceURL.path, "-o", objectPath]
    if fileName.hasSuffix(".c") {
        arguments += ["-O2", "-g", "-I/usr/include/x86_64-linux-gnu"]
    }
    let result = try runLLVMTool(LLVMTools.clang, arguments)
    guard result.status == 0 else {
        throw LLVMToolError(description: "clang failed on \(fileName) (\(result.status)): \(result.stderr)")
    }
    return objectPath
}
