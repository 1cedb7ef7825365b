import ArgumentParser
import BPFKit
import Daemon
import Foundation
import HikeRPC
import HikeControl
import HikeRuntime
import HikeVM

/// `hike prog …`: the programs and loaders hike carries, and which of them are loaded.
struct ProgCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prog",
        abstract: "List, load and inspect the programs chains call (and the loaders that start them).",
        subcommands: [List.self, Load.self, Show.self]
    )
}

/// One catalog entry merged with its registry record, as `prog list` and `prog show` print it.
struct ProgramRow: Encodable {
    struct Argument: Encodable {
        let name: String
        let type: String
    }

    let name: String
    let package: String
    let kind: String
    let arguments: [Argument]
    let final: Bool
    let maps: [String]
    let object: String
    /// It has a tc build: it runs at the tc hooks too.
    let runsAtTC: Bool
    let inCatalog: Bool
    let loaded: Bool
    /// The ID in the program table when loaded.
    let id: Nullable<UInt32>
    let pin: Nullable<String>

    init(entry: CatalogEntry, record: ProgramRecord?) {
        name = entry.name
        package = entry.package
        kind = entry.kind.rawValue
        arguments = entry.arguments.map { Argument(name: $0.name, type: $0.type) }
        final = entry.isFinal
        maps = entry.maps
        object = entry.object
        runsAtTC = entry.runsAtTC
        inCatalog = true
        loaded = record != nil
        id = Nullable(record?.id)
        pin = Nullable(record?.pin)
    }

    /// A program loaded by another hike (with other objects) that this hike's catalog lacks.
    init(record: ProgramRecord) {
        name = record.name
        package = record.package
        kind = ProgramKind.program.rawValue
        arguments = []
        final = false
        maps = []
        object = record.object
        runsAtTC = false
        inCatalog = false
        loaded = true
        id = Nullable(record.id)
        pin = Nullable(record.pin)
    }

    var argumentText: String {
        Format.list(arguments.map { "\($0.type) \($0.name)" })
    }

    static func all(catalog: ProgramCatalog, registry: Registry) -> [ProgramRow] {
        var rows = catalog.entries.map { ProgramRow(entry: $0, record: $0.kind == .program ? registry.programs[$0.key] : nil) }
        let known = Set(catalog.entries.map(\.key))
        rows += registry.programs.values.filter { !known.contains($0.name) }.sorted { $0.id < $1.id }.map(ProgramRow.init(record:))
        return rows
    }
}

extension ProgCommand {
    struct List: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List every program and loader hike carries, with the IDs of those loaded."
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        func operation() throws -> NodeOperation {
            .listPrograms(.with {
                $0.target = instance.target(json: output.json)
            })
        }

        static func perform(_ request: Hike_V1_ListProgramsRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let hike = try instance.open()
            let rows = ProgramRow.all(catalog: hike.catalog, registry: try hike.registry())
            if output.json {
                Terminal.line(try Terminal.json(rows))
                return
            }
            var table = TextTable(["NAME", "PACKAGE", "KIND", "ARGUMENTS", "FINAL", "HOOKS", "MAPS", "ID"], rightAligned: [7])
            for row in rows {
                table.append([
                    row.name, row.package, row.kind + (row.inCatalog ? "" : " (not in this hike)"), row.argumentText,
                    row.kind == ProgramKind.loader.rawValue ? "-" : (row.final ? "yes" : "no"), row.runsAtTC ? "xdp,tc" : "xdp",
                    Format.list(row.maps), row.id.value.map(String.init) ?? "-",
                ])
            }
            Terminal.line(table.render())
            let loaded = rows.filter(\.loaded).count
            Terminal.line("")
            Terminal.line("\(Format.plural(loaded, "program")) loaded in instance '\(hike.name)'"
                + (loaded == 0 ? "; load with: hike prog load NAME (hike chain load loads what chains call)" : "."))
        }
    }

    struct Load: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "load",
            abstract: "Load programs into the program table.",
            discussion: """
                Loads the object each program comes from (every program of that object gets an ID), \
                pins it under /sys/fs/bpf/hike/INSTANCE/progs and records the IDs. A program that is \
                already loaded keeps its ID.
                """
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "Programs to load (see hike prog list).")
        var names: [String]

        func validate() throws {
            guard !names.isEmpty else { throw ValidationError("name at least one program to load (see hike prog list)") }
        }

        struct Loaded: Encodable {
            let name: String
            let package: String
            let id: UInt32
            let object: String
            let pin: String
            /// False when it was already loaded before this command.
            let new: Bool
        }

        func operation() throws -> NodeOperation {
            .loadPrograms(.with {
                $0.target = instance.target(json: output.json)
                $0.names = names
            })
        }

        static func perform(_ request: Hike_V1_LoadProgramsRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let names = request.names
            let rows = try DataPlane(instance: try instance.open()).loadPrograms(names).map { loaded in
                Loaded(name: loaded.record.name, package: loaded.record.package, id: loaded.record.id, object: loaded.record.object,
                       pin: loaded.record.pin, new: loaded.new)
            }
            if output.json {
                Terminal.line(try Terminal.json(rows))
                return
            }
            for row in rows where names.contains(row.name) {
                Terminal.line(row.new ? "loaded \(row.name) (\(row.package)) as ID \(row.id)"
                                      : "\(row.name) (\(row.package)) is already loaded as ID \(row.id)")
            }
            let also = rows.filter { !names.contains($0.name) }
            if !also.isEmpty {
                Terminal.line("also loaded from the same object: " + also.map { "\($0.name) (ID \($0.id))" }.joined(separator: ", "))
            }
        }
    }

    struct Show: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show one program or loader in detail, with the kernel's view of it when loaded."
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "The program or loader.")
        var name: String

        struct Kernel: Encodable {
            let pin: String
            let id: UInt32
            let name: String
            let type: String
            let tag: String
            let translatedSize: UInt32
            let jitedSize: UInt32
            /// Instructions the verifier processed: what accepting the program cost.
            let verifiedInstructions: UInt32
            let mapIDs: [UInt32]

            init(pin: String) throws {
                let info = try BPFProgram.openPinned(pin).info()
                self.pin = pin
                id = info.id
                name = info.name
                type = info.type.description
                tag = info.tag
                translatedSize = info.translatedSize
                jitedSize = info.jitedSize
                verifiedInstructions = info.verifiedInstructions
                mapIDs = info.mapIDs
            }
        }

        struct Detail: Encodable {
            let program: ProgramRow
            /// The loaded program (for a loader: each attached copy), read from its pin.
            let kernel: [Kernel]
            /// For a loader: where it is attached.
            let attachments: [AttachmentRow]
        }

        func operation() throws -> NodeOperation {
            .showProgram(.with {
                $0.target = instance.target(json: output.json)
                $0.name = name
            })
        }

        static func perform(_ request: Hike_V1_ShowProgramRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let name = request.name
            let hike = try instance.open()
            let registry = try hike.registry()
            let row: ProgramRow
            if let entry = try? hike.catalog.entry(name) {
                row = ProgramRow(entry: entry, record: entry.kind == .program ? registry.programs[entry.key] : nil)
            } else if let record = registry.programs[name] {
                row = ProgramRow(record: record)
            } else {
                _ = try hike.catalog.entry(name)  // throws the error that lists the known names
                return
            }
            var kernel: [Kernel] = []
            var attachments: [AttachmentRow] = []
            if let pin = row.pin.value { kernel.append(try Kernel(pin: pin)) }
            if row.kind == ProgramKind.loader.rawValue {
                for record in registry.attachments where record.loader == name {
                    attachments.append(AttachmentRow(record))
                    if let info = try? Kernel(pin: "\(record.directory)/prog") { kernel.append(info) }
                }
            }
            if output.json {
                Terminal.line(try Terminal.json(Detail(program: row, kernel: kernel, attachments: attachments)))
                return
            }
            var lines: [(String, String)] = [
                ("name", row.name), ("package", row.package), ("kind", row.kind), ("object", row.object),
            ]
            if row.inCatalog {
                lines.append(("arguments", Format.list(row.arguments.enumerated().map { "r\($0.offset + 2) = \($0.element.name) (\($0.element.type))" })))
                if row.kind == ProgramKind.program.rawValue {
                    lines.append(("final", row.final ? "yes (always ends the chain with a verdict)" : "no (returns to the chain)"))
                }
                lines.append(("maps", Format.list(row.maps)))
            } else {
                lines.append(("catalog", "not in this hike's catalog (loaded by another hike)"))
            }
            if row.kind == ProgramKind.program.rawValue {
                lines.append(("loaded", row.loaded ? "yes" : "no (hike prog load \(row.name))"))
                if let id = row.id.value { lines.append(("id", "\(id) (chains call it with: call \(row.name))")) }
                if let pin = row.pin.value { lines.append(("pin", pin)) }
            } else {
                lines.append(("attached", attachments.isEmpty ? "nowhere (hike loader attach \(row.name) DEV --chain CHAIN)"
                                                               : Format.list(attachments.map(\.place))))
            }
            let width = (lines.map(\.0.count) + ["  translated".count]).max() ?? 0
            func pad(_ key: String) -> String { key + String(repeating: " ", count: width - key.count) }
            for (key, value) in lines { Terminal.line("\(pad(key))  \(value)") }
            for info in kernel {
                Terminal.line("")
                Terminal.line("\(pad("kernel"))  \(info.pin)")
                Terminal.line("\(pad("  id"))  \(info.id)")
                Terminal.line("\(pad("  name"))  \(info.name) (\(info.type))")
                Terminal.line("\(pad("  tag"))  \(info.tag)")
                Terminal.line("\(pad("  translated"))  \(info.translatedSize) bytes")
                Terminal.line("\(pad("  jited"))  \(info.jitedSize) bytes")
                Terminal.line("\(pad("  verified"))  \(info.verifiedInstructions) instructions processed by the verifier")
                Terminal.line("\(pad("  map ids"))  \(Format.list(info.mapIDs.map(String.init)))")
            }
        }
    }
}
