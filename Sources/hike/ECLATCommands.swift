import ArgumentParser
import BPFKit
import ECLAT
import Foundation
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

    func source() -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            fail("cannot read \(file): " + (FileManager.default.fileExists(atPath: file) ? "permission denied" : "no such file"))
        }
        guard let text = String(data: data, encoding: .utf8) else { fail("\(file) is not UTF-8 text") }
        return text
    }

    func compile(catalog: ProgramCatalog) throws -> CompiledScript {
        let compiled = try ECLATCompiler.compile(source(), file: file, catalog: catalog.compilerCatalog, defines: try parsedDefines())
        for name in compiled.unusedDefines { Terminal.warning("-D \(name) is not used in \(file)") }
        for use in compiled.loaders where use.attachments.isEmpty {
            Terminal.warning("\(file): loader \(use.writtenName) is configured but never attached (add \(use.writtenName).attach('DEV', 'xdp'))")
        }
        return compiled
    }
}

private func isScriptIdentifier(_ text: String) -> Bool {
    guard let first = text.unicodeScalars.first, first == "_" || (first.properties.isAlphabetic && first.isASCII) else { return false }
    return text.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
}

extension LoaderPlan {
    /// The plans of a compiled script, problems as `FILE:LINE: message`.
    static func plans(_ script: CompiledScript, file: String) throws -> [LoaderPlan] {
        do {
            return try plans(script)
        } catch {
            throw ScriptError("\(file)\(error.line.map { ":\($0)" } ?? ""): \(error.message)")
        }
    }
}

/// A problem of a script found by the commands (not by the compiler): `error: …`, status 1.
struct ScriptError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }

    /// Runs body, printing a ScriptError like hike's other errors.
    static func reporting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ScriptError {
            fail(error.description)
        }
    }
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
        let compiled = try script.compile(catalog: catalog)
        let text = Self.listing(compiled, file: script.file)
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                fail("cannot write \(output)")
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

struct LoadCommand: ParsableCommand {
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

    func run() throws {
        try ScriptError.reporting { try load() }
    }

    func load() throws {
        let hike = try instance.open()
        let compiled = try script.compile(catalog: hike.catalog)
        let file = script.file
        guard !compiled.chains.isEmpty else { fail("\(file) defines no chain") }
        let registry = try hike.registry()
        let chainNames = compiled.chains.map(\.name)
        let plans = try LoaderPlan.plans(compiled, file: file)
        for plan in plans {
            for name in plan.chains where !chainNames.contains(name) && registry.chains[name] == nil {
                throw ScriptError("\(file): the loader starts packets on '\(name)', which is neither in the script nor installed")
            }
        }
        let namespace = try netns.map { try NetworkNamespace(existing: $0) }
        // Attachments to keep (same configuration), to replace, and devices that must exist.
        var toAttach: [LoaderPlan] = []
        var toReplace: [LoaderPlan] = []
        for plan in plans {
            let index = try (namespace.map { namespace in try namespace.run { if_nametoindex(plan.device) } } ?? if_nametoindex(plan.device))
            guard index != 0 else {
                throw ScriptError("no device '\(plan.device)'" + (netns.map { " in namespace \($0)" } ?? ""))
            }
            if let existing = registry.attachments.first(where: { $0.interface == plan.device && $0.namespace == netns }) {
                if existing.loader == plan.loader && existing.chain == plan.chain && existing.defaultVerdict == plan.defaultVerdict
                    && existing.mode == plan.mode.rawValue && (existing.routes ?? [:]) == Dictionary(plan.routes.map { ($0.prefix, $0.chain) }, uniquingKeysWith: { _, b in b }) {
                    continue
                }
                toReplace.append(plan)
            } else {
                toAttach.append(plan)
            }
        }

        // Programs to load, a dry run of linking and checking with the IDs they will get.
        let toLoad = compiled.programs.filter { registry.programs[$0] == nil }
        let finals = hike.catalog.entries.filter(\.isFinal).map(\.name)
        let predicted = ChainCommand.Load.predictLoad(toLoad, catalog: hike.catalog, registry: registry)
        _ = try Self.link(compiled, symbols: try hike.symbols(addingChains: chainNames).merging(predicted) { _, new in new },
                          finals: finals)

        let previous: [(name: String, id: UInt32, instructions: [BPFInstruction], source: String?)] = try chainNames.compactMap { name in
            guard let record = registry.chains[name] else { return nil }
            return (name, record.id, try hike.chainInstructions(name), record.source)
        }
        for name in toLoad { try hike.loadProgram(name) }
        let symbols = try hike.symbols(addingChains: chainNames)
        let linked = try Self.link(compiled, symbols: symbols, finals: finals)
        let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
        let installs = compiled.chains.map { chain in
            (name: chain.name, id: linked.ids[chain.name] ?? 0, instructions: linked.chains[linked.ids[chain.name] ?? 0] ?? [],
             source: Optional(absolute))
        }
        try hike.installChains(installs)
        if !toLoad.isEmpty { Terminal.line("loaded \(toLoad.joined(separator: ", "))") }
        for install in installs {
            Terminal.line("\(registry.chains[install.name] != nil ? "replaced" : "installed") chain \(install.name) "
                + "(\(Format.hex(install.id)), \(Format.plural(install.instructions.reduce(0) { $0 + $1.slotCount }, "instruction slot")))")
        }

        do {
            for plan in toReplace { try hike.detach(interface: plan.device, namespace: netns) }
            for plan in toReplace + toAttach {
                try hike.attach(loader: plan.loader, interface: plan.device, namespace: namespace, mode: plan.mode,
                                chain: plan.chain, defaultVerdict: plan.defaultVerdict, routes: plan.routePairs)
                Terminal.line("attached \(plan.loader) to \(plan.device)" + (netns.map { " in namespace \($0)" } ?? "")
                    + " (\(plan.mode.rawValue)), starting packets on \(plan.chain ?? "its routes")")
            }
        } catch {
            // Put the chains back as they were: the script failed, the running state stays.
            try? hike.installChains(previous)
            for name in chainNames where registry.chains[name] == nil { try? hike.removeChain(name) }
            throw error
        }
    }

    static func link(_ compiled: CompiledScript, symbols: [String: UInt32], finals: [String]) throws -> LinkedChains {
        let own = Set(compiled.chains.map(\.name))
        let linked = try compiled.link(programs: symbols.filter { !own.contains($0.key) }, chainIDs: symbols.filter { own.contains($0.key) })
        var names: [UInt32: String] = [:]
        for (name, id) in symbols { names[id] = name }
        let checker = ChainChecker(knownIDs: Set(symbols.values), names: names, finalIDs: Set(finals.compactMap { symbols[$0] }))
        var problems: [String] = []
        for chain in compiled.chains {
            guard let id = linked.ids[chain.name], let instructions = linked.chains[id] else { continue }
            problems += checker.issues(instructions).map { "chain '\(chain.name)': \($0)" }
        }
        if !problems.isEmpty { throw ScriptError(problems.joined(separator: "\n")) }
        return linked
    }
}

struct UnloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unload",
        abstract: "Detach an eCLAT script's loader and remove its chains.",
        discussion: "Programs stay loaded: other chains may call them (hike reset removes everything)."
    )

    @OptionGroup var instance: InstanceOptions
    @OptionGroup var script: ScriptOptions

    @Option(help: ArgumentHelp("The network namespace of the script's device.", valueName: "name"))
    var netns: String?

    func run() throws {
        try ScriptError.reporting { try unload() }
    }

    func unload() throws {
        let hike = try instance.open()
        let compiled = try script.compile(catalog: hike.catalog)
        let registry = try hike.registry()
        for plan in try LoaderPlan.plans(compiled, file: script.file) {
            guard let existing = registry.attachments.first(where: { $0.interface == plan.device && $0.namespace == netns }),
                  existing.loader == plan.loader else {
                Terminal.warning("\(plan.loader) is not attached to \(plan.device); nothing to detach")
                continue
            }
            try hike.detach(interface: plan.device, namespace: netns)
            Terminal.line("detached \(plan.loader) from \(plan.device)")
        }
        for chain in compiled.chains where registry.chains[chain.name] != nil {
            try hike.removeChain(chain.name)
            Terminal.line("removed chain \(chain.name)")
        }
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
                removed afterwards), then repeats: compile, link and check, install (replacing the \
                chains). Prints the median, min and max milliseconds of each step and of the total.
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
                    fail("cannot read \(file)")
                }
                source = text
            } else {
                source = ECLATExamples.ddos
            }
            let name = "hike-bench-eclat-\(getpid())"
            BenchCommand.VM.resetOnSignal(instance: name)
            let hike = try HikeInstance(name: name)
            defer { try? hike.reset() }
            let catalog = hike.catalog.compilerCatalog
            let defines = ["DEVNAME": "lo"]
            let first = try ECLATCompiler.compile(source, file: file ?? "ddos.eclat", catalog: catalog, defines: defines)
            for program in first.programs { try hike.loadProgram(program) }
            let finals = hike.catalog.entries.filter(\.isFinal).map(\.name)
            let clock = ContinuousClock()
            var compile: [Double] = [], link: [Double] = [], install: [Double] = [], total: [Double] = []
            func ms(_ duration: Duration) -> Double {
                Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
            }
            for _ in 0..<runs {
                let t0 = clock.now
                let compiled = try ECLATCompiler.compile(source, file: file ?? "ddos.eclat", catalog: catalog, defines: defines)
                let t1 = clock.now
                let symbols = try hike.symbols(addingChains: compiled.chains.map(\.name))
                let linked = try LoadCommand.link(compiled, symbols: symbols, finals: finals)
                let t2 = clock.now
                try hike.installChains(compiled.chains.map { chain in
                    let id = linked.ids[chain.name] ?? 0
                    return (name: chain.name, id: id, instructions: linked.chains[id] ?? [], source: nil)
                })
                let t3 = clock.now
                compile.append(ms(t1 - t0))
                link.append(ms(t2 - t1))
                install.append(ms(t3 - t2))
                total.append(ms(t3 - t0))
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
            Terminal.line(row("install", install))
            Terminal.line(row("total", total))
        }
    }
}
