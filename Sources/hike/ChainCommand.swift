import ArgumentParser
import BPFKit
import Foundation
import HikeRuntime
import HikeVM

/// `hike chain …`: chains assembled from text, installed into the VM, read back.
struct ChainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain",
        abstract: "Load chains from assembler files, list, show and remove them.",
        subcommands: [Load.self, List.self, Show.self, Remove.self]
    )
}

extension ChainCommand {
    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "load",
            abstract: "Assemble a file and install every chain in it.",
            discussion: """
                Assembles FILE (see the chain assembler's format in Sources/HikeVM/Assembler.swift), \
                loads the programs the chains call that are not loaded yet, links the chains against \
                the instance's programs and chains, checks them and installs them. A chain whose name \
                is installed already is replaced atomically: a packet runs either the old or the new \
                version. On an error nothing is installed and each problem is printed as \
                FILE:LINE:COL with the source line.
                """
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "The assembler file.")
        var file: String

        @Option(name: .customShort("D"),
                help: ArgumentHelp("Replace the identifier NAME by VALUE in the file (repeatable).", valueName: "NAME=VALUE"))
        var defines: [String] = []

        struct Installed: Encodable {
            let name: String
            let id: UInt32
            let idHex: String
            let instructionSlots: Int
            let replaced: Bool
        }

        struct Summary: Encodable {
            let file: String
            let loadedPrograms: [String]
            let chains: [Installed]
        }

        func validate() throws {
            _ = try parsedDefines()
        }

        func parsedDefines() throws -> [String: String] {
            var result: [String: String] = [:]
            for define in defines {
                guard let equals = define.firstIndex(of: "=") else {
                    throw ValidationError("-D \(define): write NAME=VALUE (like -D EVENT=3)")
                }
                let name = String(define[..<equals])
                guard Preprocessor.isIdentifier(name) else {
                    throw ValidationError("-D \(define): '\(name)' is not an identifier (letters, digits, '_'; not starting with a digit)")
                }
                result[name] = String(define[define.index(after: equals)...])
            }
            return result
        }

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                fail("cannot read \(file): " + (FileManager.default.fileExists(atPath: file) ? "permission denied" : "no such file"))
            }
            guard let text = String(data: data, encoding: .utf8) else { fail("\(file) is not UTF-8 text") }
            let preprocessor = Preprocessor(source: text, defines: try parsedDefines())
            for unused in preprocessor.unusedDefines {
                Terminal.warning("-D \(unused) is not used in \(file)")
            }
            let source = SourceFile(path: file, text: text)
            let chains: [AssembledChain]
            do {
                chains = try ChainAssembler.assemble(preprocessor.output, file: file)
            } catch {
                throw preprocessor.original(error)
            }
            guard !chains.isEmpty else { fail("\(file) holds no chain: start one with 'chain NAME'") }

            let hike = try instance.open()
            let registry = try hike.registry()
            let catalog = hike.catalog

            // A chain may not take a program's name: the name would mean two things.
            var diagnostics: [AssemblerDiagnostic] = []
            for chain in chains {
                if let entry = catalog.entries.first(where: { $0.name == chain.name }) {
                    diagnostics.append(source.chainDiagnostic(chain.name, "'\(chain.name)' is the name of a \(entry.kind.rawValue) (\(entry.package)); give the chain another name"))
                } else if registry.programs[chain.name] != nil {
                    diagnostics.append(source.chainDiagnostic(chain.name, "'\(chain.name)' is the name of a loaded program; give the chain another name"))
                }
            }
            if !diagnostics.isEmpty { throw AssemblerError(diagnostics: diagnostics) }

            // Programs the chains call that the catalog has but the instance has not loaded.
            let chainNames = chains.map(\.name)
            var toLoad: [String] = []
            for relocation in chains.flatMap(\.relocations) {
                let name = relocation.symbol
                guard !chainNames.contains(name), registry.chains[name] == nil, registry.programs[name] == nil,
                      let entry = catalog.entries.first(where: { $0.name == name }), entry.kind == .program,
                      !toLoad.contains(name) else { continue }
                toLoad.append(name)
            }

            let finals = catalog.entries.filter(\.isFinal).map(\.name)

            // A dry run with the IDs the programs will get: the file's errors show before anything
            // is loaded.
            let predicted = Self.predictLoad(toLoad, catalog: catalog, registry: registry)
            _ = try link(chains, source: source, symbols: try hike.symbols(addingChains: chainNames).merging(predicted) { _, new in new },
                         chainNames: chainNames, catalogFinals: finals)

            for name in toLoad { try hike.loadProgram(name) }
            let symbols = try hike.symbols(addingChains: chainNames)
            let linked = try link(chains, source: source, symbols: symbols, chainNames: chainNames, catalogFinals: finals)

            let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
            let installs = chains.map { chain in
                (name: chain.name, id: linked.ids[chain.name] ?? 0, instructions: linked.chains[linked.ids[chain.name] ?? 0] ?? [],
                 source: Optional(absolute))
            }
            try hike.installChains(installs)

            let result = Summary(file: file, loadedPrograms: toLoad, chains: installs.map { install in
                Installed(name: install.name, id: install.id, idHex: Format.hex(install.id),
                          instructionSlots: install.instructions.reduce(0) { $0 + $1.slotCount },
                          replaced: registry.chains[install.name] != nil)
            })
            if output.json {
                Terminal.line(try Terminal.json(result))
                return
            }
            if !toLoad.isEmpty { Terminal.line("loaded \(toLoad.joined(separator: ", "))") }
            for chain in result.chains {
                Terminal.line("\(chain.replaced ? "replaced" : "installed") chain \(chain.name) (\(chain.idHex), "
                    + "\(Format.plural(chain.instructionSlots, "instruction slot")))")
            }
        }

        /// Links the chains against symbols and checks them; every problem becomes a diagnostic
        /// at its source line.
        func link(_ chains: [AssembledChain], source: SourceFile, symbols: [String: UInt32],
                  chainNames: [String], catalogFinals: [String]) throws -> LinkedChains {
            let fileChains = Set(chainNames)
            let linked = try chains.link(programs: symbols.filter { !fileChains.contains($0.key) },
                                         chainIDs: symbols.filter { fileChains.contains($0.key) })
            var names: [UInt32: String] = [:]
            for (name, id) in symbols { names[id] = name }
            let finals = Set(catalogFinals.compactMap { symbols[$0] })
            let checker = ChainChecker(knownIDs: Set(symbols.values), names: names, finalIDs: finals)
            var diagnostics: [AssemblerDiagnostic] = []
            for chain in chains {
                guard let id = linked.ids[chain.name], let instructions = linked.chains[id] else { continue }
                for issue in checker.issues(instructions) {
                    diagnostics.append(source.diagnostic(issue, chain: chain, instructions: instructions))
                }
            }
            if !diagnostics.isEmpty { throw AssemblerError(diagnostics: diagnostics) }
            return linked
        }

        /// The IDs programs will have once these are loaded: loadObject gives each program of an
        /// object the lowest free ID, in catalog order.
        static func predictLoad(_ programs: [String], catalog: ProgramCatalog, registry: Registry) -> [String: UInt32] {
            var ids = registry.programs.mapValues(\.id)
            for name in programs where ids[name] == nil {
                guard let object = catalog.entries.first(where: { $0.name == name })?.object else { continue }
                var used = Set(ids.values)
                for entry in catalog.entries where entry.object == object && entry.kind == .program && ids[entry.name] == nil {
                    guard let id = (1..<ABI.progTableSize).first(where: { !used.contains($0) }) else { return ids }
                    used.insert(id)
                    ids[entry.name] = id
                }
            }
            return ids
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the installed chains."
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        struct Row: Encodable {
            let name: String
            let id: UInt32
            let idHex: String
            let slot: UInt32
            let instructionSlots: Int
            let installedAt: String
            let source: Nullable<String>
        }

        func run() throws {
            let hike = try instance.open()
            let rows = try hike.chains().map {
                Row(name: $0.name, id: $0.id, idHex: Format.hex($0.id), slot: $0.slot, instructionSlots: $0.instructionSlots,
                    installedAt: Format.date($0.installedAt), source: Nullable($0.source))
            }
            if output.json {
                Terminal.line(try Terminal.json(rows))
                return
            }
            if rows.isEmpty {
                Terminal.line("no chains installed in instance '\(hike.name)'; install some with: hike chain load FILE")
                return
            }
            var table = TextTable(["NAME", "ID", "SLOT", "SLOTS USED", "INSTALLED", "SOURCE"], rightAligned: [2, 3])
            for row in rows {
                table.append([row.name, row.idHex, String(row.slot), String(row.instructionSlots), row.installedAt,
                              row.source.value ?? "-"])
            }
            Terminal.line(table.render())
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Disassemble an installed chain, read back from the kernel.",
            discussion: "The text is in the assembler's format: hike chain load accepts it and installs the same instructions."
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "The chain.")
        var name: String

        struct Detail: Encodable {
            let name: String
            let id: UInt32
            let idHex: String
            let slot: UInt32
            let instructionSlots: Int
            let installedAt: String
            let source: Nullable<String>
            /// The disassembly, one line per element.
            let lines: [String]
            /// The raw instructions, one slot (8 bytes) per element, in hex.
            let slots: [String]
        }

        func run() throws {
            let hike = try instance.open()
            let registry = try hike.registry()
            guard let record = registry.chains[name] else {
                throw RuntimeError.unknownChain(name, known: registry.chains.keys.sorted().joined(separator: ", "))
            }
            let instructions = try hike.chainInstructions(name)
            let disassembler = ChainDisassembler(symbols: Names(registry).byID)
            let lines = disassembler.lines(instructions)
            if output.json {
                let code = instructions.encoded()
                let slots = stride(from: 0, to: code.count, by: 8).map { Format.hexBytes(Array(code[$0..<min($0 + 8, code.count)])) }
                Terminal.line(try Terminal.json(Detail(
                    name: name, id: record.id, idHex: Format.hex(record.id), slot: record.slot,
                    instructionSlots: record.instructionSlots, installedAt: Format.date(record.installedAt),
                    source: Nullable(record.source), lines: lines, slots: slots)))
                return
            }
            Terminal.line("# \(name): ID \(Format.hex(record.id)), slot \(record.slot), "
                + "\(Format.plural(record.instructionSlots, "instruction slot")), installed \(Format.date(record.installedAt))"
                + (record.source.map { " from \($0)" } ?? ""))
            Terminal.line(disassembler.text(chain: name, instructions), terminator: "")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Remove installed chains.",
            discussion: """
                A removed chain's ID stops resolving at once: a loader or chain that still calls it \
                faults with UNKNOWN_CALLEE and its packets get the loader's default verdict.
                """
        )

        @OptionGroup var instance: InstanceOptions

        @Argument(help: "The chains to remove.")
        var names: [String]

        func validate() throws {
            guard !names.isEmpty else { throw ValidationError("name at least one chain to remove (see hike chain list)") }
        }

        func run() throws {
            let hike = try instance.open()
            let registry = try hike.registry()
            // Every name first: a typo removes nothing.
            for name in names where registry.chains[name] == nil {
                throw RuntimeError.unknownChain(name, known: registry.chains.keys.sorted().joined(separator: ", "))
            }
            for name in names {
                try hike.removeChain(name)
                Terminal.line("removed chain \(name)")
                for attachment in registry.attachments where attachment.chain == name {
                    Terminal.warning("\(attachment.loader) on \(attachment.place) starts chain \(name): its packets now get "
                        + "the default verdict (\(Format.verdict(attachment.defaultVerdict))) until a chain \(name) is loaded again")
                }
            }
        }
    }
}

extension Terminal {
    static func line(_ text: String, terminator: String) {
        FileHandle.standardOutput.write(Data((text + terminator).utf8))
    }
}

// MARK: - Source positions

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

    /// A checker's issue at the line its instruction came from.
    func diagnostic(_ issue: ChainCheckIssue, chain: AssembledChain, instructions: [BPFInstruction]) -> AssemblerDiagnostic {
        var slot = 0
        var line: Int?
        if !issue.instruction.isEmpty {
            for (index, insn) in instructions.enumerated() {
                if slot == issue.pc {
                    line = chain.sourceLines.indices.contains(index) ? chain.sourceLines[index] : nil
                    break
                }
                slot += insn.slotCount
            }
        }
        let where_ = issue.instruction.isEmpty ? "" : " (pc \(issue.pc): \(issue.instruction))"
        let message = "chain '\(chain.name)': \(issue.message)\(where_)"
        guard let line else { return chainDiagnostic(chain.name, message) }
        return AssemblerDiagnostic(file: path, line: line, column: firstColumn(ofLine: line), message: message,
                                   sourceLine: text(ofLine: line))
    }
}

/// `-D NAME=VALUE`: replaces whole identifiers outside comments, and maps the assembler's
/// columns back to the original text so diagnostics point at what the person wrote.
struct Preprocessor {
    let output: String
    let unusedDefines: [String]
    /// Original lines, and for each line that changed, the original column of each output column.
    private let originalLines: [String]
    private let columnMaps: [Int: [Int]]

    init(source: String, defines: [String: String]) {
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
    func original(_ error: AssemblerError) -> AssemblerError {
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

    static func isIdentifier(_ text: String) -> Bool {
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
