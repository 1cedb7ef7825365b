import ArgumentParser
import BPFKit
import Daemon
import Foundation
import HikeRPC
import HikeControl
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
    struct Load: NodeCommand {
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

        func operation() throws -> NodeOperation {
            let source = try Hike_V1_SourceFile.read(file, defines: try parsedDefines())
            return .loadChains(.with {
                $0.target = instance.target(json: output.json)
                $0.file = source
            })
        }

        static func perform(_ request: Hike_V1_LoadChainsRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let file = request.file.name
            let dataPlane = DataPlane(instance: try instance.open())
            let assembled = try DataPlane.assemble(request.file.source)
            for warning in assembled.warnings { Terminal.warning(warning) }
            let report = try dataPlane.install(assembled)
            let result = Summary(file: file, loadedPrograms: report.loadedPrograms, chains: report.chains.map { chain in
                Installed(name: chain.name, id: chain.id, idHex: Format.hex(chain.id), instructionSlots: chain.instructionSlots,
                          replaced: chain.replaced)
            })
            if output.json {
                Terminal.line(try Terminal.json(result))
                return
            }
            if !report.loadedPrograms.isEmpty { Terminal.line("loaded \(report.loadedPrograms.joined(separator: ", "))") }
            for chain in result.chains {
                Terminal.line("\(chain.replaced ? "replaced" : "installed") chain \(chain.name) (\(chain.idHex), "
                    + "\(Format.plural(chain.instructionSlots, "instruction slot")))")
            }
        }
    }

    struct List: NodeCommand {
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
            /// Packets loaders started on it since it was installed or replaced.
            let runs: UInt64
        }

        @OptionGroup var watching: WatchOption

        mutating func run() async throws {
            try await instance.execute(try operation(), watch: watching.interval)
        }

        func operation() throws -> NodeOperation {
            .listChains(.with {
                $0.target = instance.target(json: output.json)
            })
        }

        static func perform(_ request: Hike_V1_ListChainsRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let hike = try instance.open()
            let runs = try hike.chainRuns()
            let rows = try hike.chains().map {
                Row(name: $0.name, id: $0.id, idHex: Format.hex($0.id), slot: $0.slot, instructionSlots: $0.instructionSlots,
                    installedAt: Format.date($0.installedAt), source: Nullable($0.source), runs: runs[$0.name] ?? 0)
            }
            if output.json {
                Terminal.line(try Terminal.json(rows))
                return
            }
            if rows.isEmpty {
                Terminal.line("no chains installed in instance '\(hike.name)'; install some with: hike chain load FILE")
                return
            }
            var table = TextTable(["NAME", "ID", "SLOT", "SLOTS USED", "RUNS", "INSTALLED", "SOURCE"], rightAligned: [2, 3, 4])
            for row in rows {
                table.append([row.name, row.idHex, String(row.slot), String(row.instructionSlots), String(row.runs), row.installedAt,
                              row.source.value ?? "-"])
            }
            Terminal.line(table.render())
        }
    }

    struct Show: NodeCommand {
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

        func operation() throws -> NodeOperation {
            .showChain(.with {
                $0.target = instance.target(json: output.json)
                $0.name = name
            })
        }

        static func perform(_ request: Hike_V1_ShowChainRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let name = request.name
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

    struct Remove: NodeCommand {
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

        func operation() throws -> NodeOperation {
            .removeChains(.with {
                $0.target = instance.target()
                $0.names = names
            })
        }

        static func perform(_ request: Hike_V1_RemoveChainsRequest) throws {
            let instance = request.target
            let names = request.names
            let orphaned = try DataPlane(instance: try instance.open()).removeChains(names)
            for name in names {
                Terminal.line("removed chain \(name)")
                for entry in orphaned where entry.chain == name {
                    let attachment = entry.attachment
                    Terminal.warning("\(attachment.loader) on \(attachment.place) starts chain \(name): its packets now get "
                        + "the default verdict (\(Format.verdict(attachment.defaultVerdict))) until a chain \(name) is loaded again")
                }
            }
        }
    }
}


// MARK: - Source positions
