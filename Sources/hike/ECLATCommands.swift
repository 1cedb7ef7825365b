import ArgumentParser
import BPFKit
import ECLAT
import Daemon
import Foundation
import HikeRPC
import HikeControl
import HikeRuntime
import HikeVM

// `hike compile`, `hike load`, `hike unload`: eCLAT scripts (docs/eclat.md).

/// What the three commands share: reading, `-D`, the catalog and compiling.
struct ScriptOptions: ParsableArguments {
    @Argument(help: "The eCLAT script.")
    var file: String

    @Option(name: .customShort("D"), parsing: .upToNextOption,
            help: ArgumentHelp("Read the identifier NAME (and a string that is just NAME) as VALUE (repeatable; NAME=VALUE works too).",
                               valueName: "NAME VALUE"))
    var defines: [String] = []

    @Flag(help: "Refuse operands of different types (convert with u8(…) … s64(…)) instead of converting them by C's usual arithmetic conversions, as the original eCLAT did.")
    var strict = false

    func validate() throws {
        _ = try parsedDefines()
    }

    func parsedDefines() throws -> [String: String] {
        var result: [String: String] = [:]
        var index = 0
        while index < defines.count {
            let item = defines[index]
            let name: String, value: String
            if let equals = item.firstIndex(of: "="), isScriptIdentifier(String(item[..<equals])) {
                name = String(item[..<equals])
                value = String(item[item.index(after: equals)...])
                index += 1
            } else {
                guard defines.indices.contains(index + 1) else {
                    throw ValidationError("-D \(item): write -D NAME VALUE (like -D DEVNAME veth0)")
                }
                name = item
                value = defines[index + 1]
                index += 2
            }
            guard isScriptIdentifier(name) else {
                throw ValidationError("-D \(name): not an identifier (letters, digits, '_'; not starting with a digit)")
            }
            result[name] = value
        }
        return result
    }

    /// Compiles the script against catalog and prints the compiler's warnings.
    func compile(catalog: ProgramCatalog) throws -> CheckedScript {
        var source = try SourceText.read(file, defines: try parsedDefines())
        source.options.strict = strict
        return try Self.compile(source, catalog: catalog)
    }

    static func compile(_ source: SourceText, catalog: ProgramCatalog) throws -> CheckedScript {
        let checked = try DataPlane.compile(source, catalog: catalog)
        for warning in checked.warnings { Terminal.warning(warning) }
        return checked
    }

    /// The request that loads or unloads the script (read here, compiled where it runs).
    func request(_ instance: InstanceOptions, netns: String?) throws -> Hike_V1_ScriptRequest {
        let file = try Hike_V1_SourceFile.read(file, defines: try parsedDefines())
        return .with {
            $0.target = instance.target()
            $0.file = file
            if let netns { $0.netns = netns }
            $0.strict = strict
        }
    }
}

extension Hike_V1_ScriptRequest {
    /// The script compiled against the instance's catalog, its warnings printed.
    func compile(catalog: ProgramCatalog) throws -> CheckedScript {
        var source = file.source
        source.options.strict = strict
        return try ScriptOptions.compile(source, catalog: catalog)
    }
}

private func isScriptIdentifier(_ text: String) -> Bool {
    guard let first = text.unicodeScalars.first, first == "_" || (first.properties.isAlphabetic && first.isASCII) else { return false }
    return text.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
}

struct CompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Check an eCLAT script and print its chains as HIKe VM assembly.",
        discussion: """
            Compiles FILE against hike's program catalog and prints every chain in the chain \
            assembler's format (hike chain load accepts it), or writes it to OUT. Program and \
            chain IDs are placeholders until hike load links them. Errors are printed as \
            FILE:LINE:COL with the source line; nothing is loaded.
            """
    )

    @OptionGroup var script: ScriptOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the assembly here instead of printing it.", valueName: "OUT"))
    var output: String?

    func run() throws {
        let catalog = try ProgramCatalog()
        let compiled = try script.compile(catalog: catalog).compiled
        let text = Self.listing(compiled, file: script.file)
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                throw CommandLineError("cannot write \(output)")
            }
            let slots = compiled.chains.map { $0.instructions.reduce(0) { $0 + $1.slotCount } }
            Terminal.line("wrote \(compiled.chains.count) chain\(compiled.chains.count == 1 ? "" : "s") (\(slots.map(String.init).joined(separator: ", ")) slots) to \(output)")
        } else {
            Terminal.line(text, terminator: "")
        }
    }

    /// The chains, linked with placeholder IDs and disassembled with names.
    static func listing(_ compiled: CompiledScript, file: String) -> String {
        var programs: [String: UInt32] = [:]
        for (index, name) in compiled.programs.enumerated() { programs[name] = UInt32(index + 1) }
        var lines = ["# \(file), compiled by hike \(HikeVersion.current)"]
        if !compiled.programs.isEmpty { lines.append("# programs: \(compiled.programs.joined(separator: ", "))") }
        for use in compiled.programMaps {
            let entries = use.entries.map { "\(describe($0.key)): \(describe($0.value))" }.joined(separator: ", ")
            lines.append("# program \(use.program): \(use.map) = { \(entries) }")
        }
        for use in compiled.loaders {
            for map in use.maps {
                let entries = map.entries.map { "\(describe($0.key)): \(describe($0.value))" }.joined(separator: ", ")
                lines.append("# loader \(use.loader): \(map.map) = { \(entries) }")
            }
            for attachment in use.attachments {
                lines.append("# loader \(use.loader): attach to \(attachment.device) (\(attachment.mode))")
            }
        }
        guard let linked = try? compiled.link(programs: programs) else {
            // Every name the compiler emits is a program of the script or one of its chains.
            return lines.joined(separator: "\n") + "\n# (the chains could not be linked)\n"
        }
        var names: [UInt32: String] = [:]
        for (name, id) in programs { names[id] = name }
        for (name, id) in linked.ids { names[id] = name }
        let disassembler = ChainDisassembler(symbols: names)
        var text = lines.joined(separator: "\n") + "\n"
        for name in linked.order {
            guard let id = linked.ids[name], let instructions = linked.chains[id] else { continue }
            text += "\n" + disassembler.text(chain: name, instructions)
        }
        return text
    }

    static func describe(_ values: [LoaderValue]) -> String {
        "(" + values.map { value in
            switch value {
            case .integer(let number): String(number)
            case .chain(let chain): chain
            case .string(let text): "'\(text)'"
            }
        }.joined(separator: ", ") + ")"
    }
}

struct LoadCommand: NodeCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Compile an eCLAT script, install its chains and attach its loader.",
        discussion: """
            Loads the programs the script calls, installs its chains (replacing chains of the \
            same names atomically) and attaches its loader as its attach() line says, starting \
            packets on the chain its map configuration names. Everything is checked first: a \
            script with an error changes nothing. Loading the script again replaces its chains; \
            a loader already attached to the device with the same configuration stays.
            """
    )

    @OptionGroup var instance: InstanceOptions
    @OptionGroup var script: ScriptOptions

    @Option(help: ArgumentHelp("The network namespace of the script's device (as in ip netns list).", valueName: "name"))
    var netns: String?

    func operation() throws -> NodeOperation { .loadScript(try script.request(instance, netns: netns)) }

    static func perform(_ request: Hike_V1_ScriptRequest) throws {
        let dataPlane = DataPlane(instance: try request.target.open())
        let report = try dataPlane.loadScript(try request.compile(catalog: dataPlane.instance.catalog), namespace: request.netns.nonEmpty)
        if !report.loadedPrograms.isEmpty { Terminal.line("loaded \(report.loadedPrograms.joined(separator: ", "))") }
        for chain in report.chains {
            Terminal.line("\(chain.replaced ? "replaced" : "installed") chain \(chain.name) "
                + "(\(Format.hex(chain.id)), \(Format.plural(chain.instructionSlots, "instruction slot")))")
        }
        for attachment in report.attached {
            Terminal.line("attached \(attachment.loader) to \(attachment.device)" + (attachment.namespace.map { " in namespace \($0)" } ?? "")
                + " (\(attachment.mode)), starting packets on \(attachment.chain ?? "its routes")")
        }
    }
}

struct UnloadCommand: NodeCommand {
    static let configuration = CommandConfiguration(
        commandName: "unload",
        abstract: "Detach an eCLAT script's loader and remove its chains.",
        discussion: "Programs stay loaded: other chains may call them (hike reset removes everything)."
    )

    @OptionGroup var instance: InstanceOptions
    @OptionGroup var script: ScriptOptions

    @Option(help: ArgumentHelp("The network namespace of the script's device.", valueName: "name"))
    var netns: String?

    func operation() throws -> NodeOperation { .unloadScript(try script.request(instance, netns: netns)) }

    static func perform(_ request: Hike_V1_ScriptRequest) throws {
        let dataPlane = DataPlane(instance: try request.target.open())
        let report = try dataPlane.unloadScript(try request.compile(catalog: dataPlane.instance.catalog), namespace: request.netns.nonEmpty)
        for attachment in report.notAttached {
            Terminal.warning("\(attachment.loader) is not attached to \(attachment.device); nothing to detach")
        }
        for attachment in report.detached { Terminal.line("detached \(attachment.loader) from \(attachment.device)") }
        for chain in report.removedChains { Terminal.line("removed chain \(chain)") }
    }
}

extension BenchCommand {
    /// `hike bench compile`: what it costs to compile, link and install the DDoS script.
    struct Compile: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compile",
            abstract: "Time compiling, linking and installing an eCLAT script (default: the thesis' DDoS script).",
            discussion: """
                Loads the script's programs into an instance of its own (hike-bench-eclat-<pid>, \
                removed afterwards), then repeats: compile, link and check (a dry run of the install), \
                install (link, check and write, replacing the chains). Prints the median, min and max \
                milliseconds of each step and the total of compile and install.
                """
        )

        @Option(help: "The script (default: examples/ddos/ddos.eclat, built in).")
        var file: String?

        @Option(help: "Repetitions (1–10000).")
        var runs = 200

        func validate() throws {
            guard (1...10_000).contains(runs) else { throw ValidationError("--runs must be between 1 and 10000, not \(runs)") }
        }

        func run() throws {
            let source: String
            if let file {
                guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                    throw CommandLineError("cannot read \(file)")
                }
                source = text
            } else {
                source = ECLATExamples.ddos
            }
            let name = "hike-bench-eclat-\(getpid())"
            BenchCommand.VM.resetOnSignal(instance: name)
            let dataPlane = try DataPlane(name: name)
            defer { try? dataPlane.instance.reset() }
            let script = SourceText(file: file ?? "ddos.eclat", text: source, defines: ["DEVNAME": "lo"])
            let first = try dataPlane.compile(script).compiled
            _ = try dataPlane.installChains(first.chains, source: nil)  // loads the programs: not timed
            let clock = ContinuousClock()
            var compile: [Double] = [], link: [Double] = [], install: [Double] = [], total: [Double] = []
            func ms(_ duration: Duration) -> Double {
                Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
            }
            for _ in 0..<runs {
                let t0 = clock.now
                let compiled = try dataPlane.compile(script).compiled
                let t1 = clock.now
                _ = try dataPlane.installChains(compiled.chains, source: nil, dryRun: true)
                let t2 = clock.now
                _ = try dataPlane.installChains(compiled.chains, source: nil)
                let t3 = clock.now
                compile.append(ms(t1 - t0))
                link.append(ms(t2 - t1))
                install.append(ms(t3 - t2))
                total.append(ms(t1 - t0) + ms(t3 - t2))
            }
            func row(_ label: String, _ values: [Double]) -> String {
                let sorted = values.sorted()
                let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
                func f(_ v: Double) -> String { String(format: "%.3f", v) }
                return label.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + "median \(f(median)) ms   min \(f(sorted.first ?? 0)) ms   max \(f(sorted.last ?? 0)) ms"
            }
            let slots = first.chains.map { $0.instructions.reduce(0) { $0 + $1.slotCount } }.reduce(0, +)
            Terminal.line("\(file ?? "ddos.eclat (built in)"): \(first.chains.count) chain(s), \(slots) slots, \(runs) runs")
            Terminal.line(row("compile", compile))
            Terminal.line(row("link + check", link))
            Terminal.line(row("install", install) + "   (links and checks too)")
            Terminal.line(row("total", total))
        }
    }
}
