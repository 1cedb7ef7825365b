import Foundation
import HikeErrors
import HikeRuntime
import HikeVM

/// An assembled chain file, with what the assembler warns of.
public struct AssembledChainFile: Sendable {
    public var file: String
    public var text: String
    public var chains: [AssembledChain]
    public var warnings: [String]
}

extension DataPlane {
    /// Assembles a chain file (the format of Sources/HikeVM/Assembler.swift) after its `-D`
    /// replacements; errors point at the text as written.
    /// Nothing changes.
    public static func assemble(_ source: SourceText) throws(ControlError) -> AssembledChainFile {
        let preprocessor = Preprocessor(source: source.text, defines: source.defines)
        do {
            let chains = try ChainAssembler.assemble(preprocessor.output, file: source.file)
            return AssembledChainFile(file: source.file, text: source.text, chains: chains,
                                      warnings: preprocessor.unusedDefines.map { "-D \($0) is not used in \(source.file)" })
        } catch {
            throw ControlError(preprocessor.original(error))
        }
    }

    /// Installs every chain of an assembled file, as installChains does; each problem (a chain
    /// named like a program, a name nothing has, a check) is a diagnostic at its source line.
    public func install(_ file: AssembledChainFile) throws(ControlError) -> ChainInstallReport {
        guard !file.chains.isEmpty else {
            throw .invalid("\(file.file) holds no chain: start one with 'chain NAME'", code: "chain.none")
        }
        let source = SourceFile(path: file.file, text: file.text)
        return try ControlError.wrapping {
            // A chain may not take a program's name: the name would mean two things.
            let registry = try instance.registry()
            var diagnostics: [AssemblerDiagnostic] = []
            for chain in file.chains {
                if let entry = instance.catalog.entries.first(where: { $0.name == chain.name }) {
                    diagnostics.append(source.chainDiagnostic(chain.name, "'\(chain.name)' is the name of a \(entry.kind.rawValue) (\(entry.package)); give the chain another name"))
                } else if registry.programs[chain.name] != nil {
                    diagnostics.append(source.chainDiagnostic(chain.name, "'\(chain.name)' is the name of a loaded program; give the chain another name"))
                }
            }
            if !diagnostics.isEmpty { throw AssemblerError(diagnostics: diagnostics) }
            do {
                return try instance.install(file.chains, source: URL(fileURLWithPath: file.file).standardizedFileURL.path)
            } catch let failure as ChainCheckFailure {
                throw AssemblerError(diagnostics: failure.problems.map(source.diagnostic))
            }
        }
    }
}

/// The assembler file, to turn problems found after assembling (names, checks) into diagnostics
/// at their source line.
struct SourceFile {
    let path: String
    let lines: [String]

    init(path: String, text: String) {
        self.path = path
        lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
    }

    func text(ofLine line: Int) -> String {
        lines.indices.contains(line - 1) ? lines[line - 1] : ""
    }

    /// The 1-based column of the first character of the line that is not a space or a label.
    func firstColumn(ofLine line: Int) -> Int {
        let scalars = Array(text(ofLine: line).unicodeScalars)
        var index = 0
        func skipSpaces() { while index < scalars.count, scalars[index] == " " || scalars[index] == "\t" { index += 1 } }
        skipSpaces()
        // Skip `label:` prefixes.
        while true {
            var end = index
            while end < scalars.count, Preprocessor.isIdentifierPart(scalars[end]) { end += 1 }
            guard end > index, end < scalars.count, scalars[end] == ":" else { break }
            index = end + 1
            skipSpaces()
        }
        return index < scalars.count ? index + 1 : 1
    }

    /// The line (and the column of the name) of `chain NAME`.
    func chainLine(_ name: String) -> (line: Int, column: Int)? {
        for (index, text) in lines.enumerated() {
            let scalars = Array(text.unicodeScalars)
            let words = Preprocessor.identifiers(in: scalars)
            guard words.count >= 2, words[0].text == "chain", words[1].text == name else { continue }
            return (index + 1, words[1].start + 1)
        }
        return nil
    }

    func chainDiagnostic(_ name: String, _ message: String) -> AssemblerDiagnostic {
        let place = chainLine(name) ?? (1, 1)
        return AssemblerDiagnostic(file: path, line: place.line, column: place.column, message: message,
                                   sourceLine: text(ofLine: place.line))
    }

    /// A checker's problem at the line its instruction came from (else at the chain's name).
    func diagnostic(_ problem: ChainCheckFailure.Problem) -> AssemblerDiagnostic {
        let issue = problem.issue
        let place = issue.instruction.isEmpty ? "" : " (pc \(issue.pc): \(issue.instruction))"
        let message = "chain '\(problem.chain)': \(issue.message)\(place)"
        guard let line = problem.line else { return chainDiagnostic(problem.chain, message) }
        return AssemblerDiagnostic(file: path, line: line, column: firstColumn(ofLine: line), message: message,
                                   sourceLine: text(ofLine: line))
    }
}

/// `-D NAME=VALUE`: replaces whole identifiers outside comments, and maps the assembler's
/// columns back to the original text so diagnostics point at what the person wrote.
public struct Preprocessor {
    public let output: String
    public let unusedDefines: [String]
    /// Original lines, and for each line that changed, the original column of each output column.
    private let originalLines: [String]
    private let columnMaps: [Int: [Int]]

    public init(source: String, defines: [String: String]) {
        let lines = source.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).map(String.init)
        originalLines = lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        guard !defines.isEmpty else {
            output = source
            unusedDefines = []
            columnMaps = [:]
            return
        }
        var used = Set<String>()
        var maps: [Int: [Int]] = [:]
        var outputLines: [String] = []
        for (index, line) in lines.enumerated() {
            let scalars = Array(line.unicodeScalars)
            var result = String.UnicodeScalarView()
            var map: [Int] = []  // output column (0-based) → original column (0-based)
            var position = 0
            var changed = false
            for word in Self.identifiers(in: scalars) {
                while position < word.start {
                    result.append(scalars[position])
                    map.append(position)
                    position += 1
                }
                if let value = defines[word.text] {
                    used.insert(word.text)
                    changed = true
                    for scalar in value.unicodeScalars {
                        result.append(scalar)
                        map.append(word.start)
                    }
                } else {
                    for offset in 0..<word.text.unicodeScalars.count {
                        result.append(scalars[word.start + offset])
                        map.append(word.start + offset)
                    }
                }
                position = word.start + word.text.unicodeScalars.count
            }
            while position < scalars.count {
                result.append(scalars[position])
                map.append(position)
                position += 1
            }
            map.append(scalars.count)  // a column just past the end
            if changed { maps[index + 1] = map }
            outputLines.append(String(result))
        }
        output = outputLines.joined(separator: "\n")
        unusedDefines = defines.keys.filter { !used.contains($0) }.sorted()
        columnMaps = maps
    }

    /// The error with lines and columns of the original text.
    public func original(_ error: AssemblerError) -> AssemblerError {
        AssemblerError(diagnostics: error.diagnostics.map { diagnostic in
            guard let map = columnMaps[diagnostic.line] else { return diagnostic }
            var copy = diagnostic
            let index = min(max(diagnostic.column - 1, 0), map.count - 1)
            copy.column = map[index] + 1
            copy.sourceLine = originalLines.indices.contains(diagnostic.line - 1) ? originalLines[diagnostic.line - 1] : diagnostic.sourceLine
            return copy
        })
    }

    static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_"
    }

    static func isIdentifierPart(_ c: Unicode.Scalar) -> Bool {
        isIdentifierStart(c) || (c >= "0" && c <= "9")
    }

    public static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isIdentifierStart(first) else { return false }
        return text.unicodeScalars.allSatisfy(isIdentifierPart)
    }

    /// The identifiers of a line before its comment (`#` or `;`), with their 0-based start. Numbers
    /// (`0x5a`) and directives (`.insn`) are not identifiers.
    static func identifiers(in scalars: [Unicode.Scalar]) -> [(start: Int, text: String)] {
        var words: [(Int, String)] = []
        var index = 0
        while index < scalars.count {
            let c = scalars[index]
            if c == "#" || c == ";" { break }
            if isIdentifierPart(c) {
                let start = index
                while index < scalars.count, isIdentifierPart(scalars[index]) { index += 1 }
                let isDirective = start > 0 && scalars[start - 1] == "."
                if isIdentifierStart(c) && !isDirective {
                    var view = String.UnicodeScalarView()
                    view.append(contentsOf: scalars[start..<index])
                    words.append((start, String(view)))
                }
                continue
            }
            index += 1
        }
        return words
    }
}
