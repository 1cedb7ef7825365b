import BPFKit
import ECLAT
import Foundation
import HikeErrors
import HikeRuntime
import HikeVM
import NetKit

/// A source a request brings — an eCLAT script or a chain assembler file: its text, the file its
/// errors point at, and the `-D NAME VALUE` replacements.
public struct SourceText: Sendable {
    public var file: String
    public var text: String
    public var defines: [String: String]
    /// How an eCLAT script is compiled (`--strict`).
    public var options: ECLATOptions

    public init(file: String, text: String, defines: [String: String] = [:], options: ECLATOptions = ECLATOptions()) {
        self.file = file
        self.text = text
        self.defines = defines
        self.options = options
    }

    /// The UTF-8 text of `file`.
    public static func read(_ file: String, defines: [String: String] = [:]) throws(ControlError) -> SourceText {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw .invalid("cannot read \(file): " + (FileManager.default.fileExists(atPath: file) ? "permission denied" : "no such file"),
                           code: "request.unreadable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalid("\(file) is not UTF-8 text", code: "request.unreadable")
        }
        return SourceText(file: file, text: text, defines: defines)
    }
}

/// A script compiled against the instance's catalog, with what the compiler warns of.
public struct CheckedScript: Sendable {
    public var file: String
    public var compiled: CompiledScript
    public var warnings: [String]

    public init(file: String, compiled: CompiledScript, warnings: [String] = []) {
        self.file = file
        self.compiled = compiled
        self.warnings = warnings
    }
}

/// A loader of a script on one device.
public struct ScriptAttachment: Sendable, Codable, Equatable {
    public var loader: String
    public var device: String
    public var namespace: String?
    public var mode: String
    /// The chain every packet starts on; nil when the loader's routes pick the chain.
    public var chain: String?

    public init(loader: String, device: String, namespace: String?, mode: String, chain: String?) {
        self.loader = loader
        self.device = device
        self.namespace = namespace
        self.mode = mode
        self.chain = chain
    }
}

/// What `loadScript` did.
public struct ScriptLoadReport: Sendable, Codable {
    public var file: String
    public var loadedPrograms: [String]
    public var chains: [InstalledChain]
    public var attached: [ScriptAttachment]
    /// Loaders already attached with the same configuration: left as they were.
    public var kept: [ScriptAttachment]
}

/// What `unloadScript` did.
public struct ScriptUnloadReport: Sendable, Codable {
    public var detached: [ScriptAttachment]
    /// The script's loaders that were not attached where it says: nothing to detach there.
    public var notAttached: [ScriptAttachment]
    public var removedChains: [String]
}

extension DataPlane {
    /// Compiles a script against the instance's program catalog. Nothing changes.
    public func compile(_ source: SourceText) throws(ControlError) -> CheckedScript {
        try Self.compile(source, catalog: instance.catalog)
    }

    /// Compiles a script against a program catalog, with no instance.
    public static func compile(_ source: SourceText, catalog: ProgramCatalog) throws(ControlError) -> CheckedScript {
        let compiled = try ControlError.wrapping {
            try ECLATCompiler.compile(source.text, file: source.file, catalog: catalog.compilerCatalog, defines: source.defines,
                                      options: source.options)
        }
        var warnings = compiled.unusedDefines.map { "-D \($0) is not used in \(source.file)" }
        for use in compiled.loaders where use.attachments.isEmpty {
            warnings.append("\(source.file): loader \(use.writtenName) is configured but never attached (add \(use.writtenName).attach('DEV', 'xdp'))")
        }
        return CheckedScript(file: source.file, compiled: compiled, warnings: warnings)
    }

    /// Loads a compiled script: loads the programs its chains call, installs its chains
    /// (replacing chains of the same names atomically) and attaches its loaders in `namespace`
    /// (nil: hike's own) as its attach() lines say. A loader already attached there with the same
    /// configuration stays; one with another is replaced. Everything that can be checked is
    /// checked first; when an attachment fails, the chains and attachments are put back as they
    /// were (programs loaded for the script stay loaded, as `hike reset` is what unloads them).
    public func loadScript(_ script: CheckedScript, namespace: String?) throws(ControlError) -> ScriptLoadReport {
        let file = script.file, compiled = script.compiled
        guard !compiled.chains.isEmpty || !compiled.loaders.isEmpty || !compiled.programMaps.isEmpty else {
            throw .invalid("\(file) defines no chain, configures no map and attaches no loader", code: "script.no-chain")
        }
        let plans = try Self.plans(script)
        return try ControlError.wrapping {
            let registry = try instance.registry()
            let chainNames = compiled.chains.map(\.name)
            for plan in plans {
                for name in plan.chains where !chainNames.contains(name) && registry.chains[name] == nil {
                    throw ControlError.invalid("\(file): the loader starts packets on '\(name)', which is neither in the script nor installed",
                                               code: "script.unknown-chain")
                }
            }
            let netns = try namespace.map { try NetworkNamespace(existing: $0) }
            // Attachments to keep (same configuration), to replace, and devices that must exist.
            var toAttach: [LoaderPlan] = [], toReplace: [(plan: LoaderPlan, previous: AttachmentRecord)] = [], kept: [LoaderPlan] = []
            for plan in plans {
                let index = try netns.map { netns in try netns.run { if_nametoindex(plan.device) } } ?? if_nametoindex(plan.device)
                guard index != 0 else {
                    throw ControlError.invalid("no device '\(plan.device)'" + (namespace.map { " in namespace \($0)" } ?? ""),
                                               code: "request.no-device")
                }
                if let existing = registry.attachments.first(where: { $0.interface == plan.device && $0.namespace == namespace }) {
                    if plan.matches(existing) { kept.append(plan); continue }
                    toReplace.append((plan, existing))
                } else {
                    toAttach.append(plan)
                }
            }

            let previous = try chainNames.compactMap { name -> (name: String, id: UInt32, instructions: [BPFInstruction], source: String?)? in
                guard let record = registry.chains[name] else { return nil }
                return (name, record.id, try instance.chainInstructions(name), record.source)
            }
            let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
            let installed = try instance.install(compiled.chains, source: absolute)

            var attached: [LoaderPlan] = []
            var maps = ScriptMapWrites()
            do {
                let chainIDs = try instance.registry().chains.mapValues(\.id)
                maps = try ScriptMapWrites.plan(script, instance: instance, chainIDs: chainIDs)
                try maps.apply(instance: instance)
                for (plan, _) in toReplace { try instance.detach(interface: plan.device, namespace: namespace, hook: .xdp(plan.mode)) }
                for plan in toReplace.map(\.plan) + toAttach {
                    do {
                        try instance.attach(loader: plan.loader, interface: plan.device, namespace: netns, hook: .xdp(plan.mode),
                                            chain: plan.chain, defaultVerdict: plan.defaultVerdict, routes: plan.routePairs)
                    } catch {
                        var named = ControlError(error)
                        named.message = "cannot attach \(plan.loader) to \(plan.device)" + (namespace.map { " in namespace \($0)" } ?? "")
                            + ": \(named.message)"
                        throw named
                    }
                    attached.append(plan)
                }
            } catch {
                // Put everything back as it was: the script failed, the running state stays.
                let failures = rollBack(previous: previous, newChains: chainNames.filter { registry.chains[$0] == nil },
                                        attached: attached, replaced: toReplace.map(\.previous), namespace: netns)
                    + maps.undo(instance: instance)
                guard !failures.isEmpty else { throw error }
                var reported = ControlError(error)
                reported.message += "\nand could not undo everything:\n" + failures.joined(separator: "\n")
                throw reported
            }
            return ScriptLoadReport(file: file, loadedPrograms: installed.loadedPrograms, chains: installed.chains,
                                    attached: attached.map { $0.attachment(namespace: namespace) },
                                    kept: kept.map { $0.attachment(namespace: namespace) })
        }
    }

    /// Undoes a script load that failed while attaching. Each step is tried even when one
    /// before it failed; returns what could not be put back.
    private func rollBack(previous: [(name: String, id: UInt32, instructions: [BPFInstruction], source: String?)], newChains: [String],
                          attached: [LoaderPlan], replaced: [AttachmentRecord], namespace: NetworkNamespace?) -> [String] {
        var failures: [String] = []
        func attempt(_ what: String, _ body: () throws -> Void) {
            do { try body() } catch { failures.append("\(what): \(error)") }
        }
        for plan in attached { attempt("detach \(plan.device)") { try instance.detach(interface: plan.device, namespace: namespace?.name, hook: .xdp(plan.mode)) } }
        attempt("reinstall the previous chains") { try instance.installChains(previous) }
        for name in newChains { attempt("remove chain \(name)") { try instance.removeChain(name) } }
        for record in replaced {
            attempt("reattach \(record.loader) to \(record.place)") {
                try instance.attach(loader: record.loader, interface: record.interface, namespace: namespace,
                                    hook: record.hook, chain: record.chain,
                                    defaultVerdict: record.defaultVerdict, routes: (record.routes ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            }
        }
        return failures
    }

    /// Detaches a script's loaders (where they are attached) and removes its installed chains.
    /// Programs stay loaded: other chains may call them.
    public func unloadScript(_ script: CheckedScript, namespace: String?) throws(ControlError) -> ScriptUnloadReport {
        let plans = try Self.plans(script)
        return try ControlError.wrapping {
            let registry = try instance.registry()
            var report = ScriptUnloadReport(detached: [], notAttached: [], removedChains: [])
            for plan in plans {
                guard let existing = registry.attachments.first(where: { $0.interface == plan.device && $0.namespace == namespace }),
                      existing.loader == plan.loader else {
                    report.notAttached.append(plan.attachment(namespace: namespace))
                    continue
                }
                try instance.detach(interface: plan.device, namespace: namespace)
                report.detached.append(plan.attachment(namespace: namespace))
            }
            let chainIDs = registry.chains.mapValues(\.id)
            try ScriptMapWrites.plan(script, instance: instance, chainIDs: chainIDs).remove(instance: instance)
            for chain in script.compiled.chains where registry.chains[chain.name] != nil {
                try instance.removeChain(chain.name)
                report.removedChains.append(chain.name)
            }
            return report
        }
    }

    /// The loader plans of a script; a problem points at its line.
    static func plans(_ script: CheckedScript) throws(ControlError) -> [LoaderPlan] {
        do {
            return try LoaderPlan.plans(script.compiled)
        } catch {
            throw .invalid("\(script.file)\(error.line.map { ":\($0)" } ?? ""): \(error.message)", code: "script.loader",
                           position: error.line.map { SourcePosition(file: script.file, line: $0) })
        }
    }
}

extension LoaderPlan {
    /// Whether an attachment already there has this plan's configuration.
    func matches(_ record: AttachmentRecord) -> Bool {
        record.loader == loader && record.chain == chain && record.defaultVerdict == defaultVerdict && record.mode == mode.rawValue
            && (record.routes ?? [:]) == Dictionary(routes.map { ($0.prefix, $0.chain) }, uniquingKeysWith: { _, b in b })
    }

    func attachment(namespace: String?) -> ScriptAttachment {
        ScriptAttachment(loader: loader, device: device, namespace: namespace, mode: mode.rawValue, chain: chain)
    }
}
