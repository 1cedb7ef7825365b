import BPFKit
import ECLAT
import Foundation
import HikeControl
import HikeRuntime
import NetKit

/// A node's eCLAT script compiled before anything is made, with how its loaders attach.
struct PreparedScript {
    let spec: ScriptSpec
    let path: String
    let compiled: CompiledScript
    /// One plan per `loader.attach(DEV, MODE)` of the script.
    let attachments: [LoaderPlan]

    /// Compiles the script against the catalog and works out its attachments; every problem of
    /// the script is an error here, before the testbed makes anything.
    static func prepare(_ spec: ScriptSpec, path: String, catalog: ProgramCatalog, node: NodeSpec) throws -> PreparedScript {
        guard let data = FileManager.default.contents(atPath: path), let source = String(data: data, encoding: .utf8) else {
            throw TestbedError.invalid(file: path, line: nil, column: nil, message: "cannot read the script as UTF-8 text")
        }
        let compiled: CompiledScript
        do {
            compiled = try ECLATCompiler.compile(source, file: path, catalog: catalog.compilerCatalog, defines: spec.allDefines)
        } catch {
            throw TestbedError.invalid(file: path, line: nil, column: nil, message: "the script does not compile:\n\(error)")
        }
        guard !compiled.chains.isEmpty else {
            throw TestbedError.invalid(file: path, line: nil, column: nil, message: "the script defines no chain")
        }
        let attachments: [LoaderPlan]
        do {
            attachments = try LoaderPlan.plans(compiled)
        } catch {
            throw TestbedError.invalid(file: path, line: error.line, column: nil, message: error.message)
        }
        let devices = Set(node.interfaces.map(\.name))
        for attachment in attachments where !devices.contains(attachment.device) && attachment.device != "lo" {
            throw TestbedError.invalid(file: path, line: nil, column: nil,
                message: "\(attachment.loader).attach('\(attachment.device)'): node \(node.name) has no such interface "
                    + "(its interfaces: \(devices.sorted().joined(separator: ", "))); set `interface:` or -D DEVNAME)")
        }
        let chains = Set(compiled.chains.map(\.name))
        for attachment in attachments {
            for name in attachment.chains where !chains.contains(name) {
                throw TestbedError.invalid(file: path, line: nil, column: nil,
                                           message: "the loader starts packets on '\(name)', which the script does not define")
            }
        }
        return PreparedScript(spec: spec, path: path, compiled: compiled, attachments: attachments)
    }

    /// Loads the script into the node's instance, its loaders attached inside the namespace:
    /// the service layer's loadScript, as `hike load` does.
    func load(into hike: HikeInstance, namespace: NetworkNamespace) throws {
        _ = try DataPlane(instance: hike).loadScript(CheckedScript(file: path, compiled: compiled), namespace: namespace.name)
    }
}

extension MapEntrySpec {
    /// Writes the entry into the instance's map (loading `program` first so the map exists).
    func write(into hike: HikeInstance) throws {
        if let program { try hike.loadProgram(program) }
        let pin = try Self.resolve(map, root: hike.pinRoot)
        let bpfMap = try BPFMap.openPinned(pin)
        let codec = try MapJSON(map: bpfMap)
        let keyBytes: [UInt8], valueBytes: [UInt8]
        do {
            keyBytes = try codec.encodeKey(key)
            valueBytes = try codec.encodeValue(value)
        } catch {
            throw TestbedError.state("map \(map): \(error)")
        }
        try bpfMap.update(key: keyBytes, value: valueBytes)
    }

    /// The pin of a map named by its path relative to the instance or the end of it.
    static func resolve(_ name: String, root: String) throws -> String {
        if FileManager.default.fileExists(atPath: "\(root)/\(name)") { return "\(root)/\(name)" }
        let mapsRoot = "\(root)/maps"
        let all = (FileManager.default.subpaths(atPath: mapsRoot) ?? []).map { "maps/\($0)" }
        let matches = all.filter { $0.hasSuffix("/" + name) }
        guard matches.count == 1 else {
            throw TestbedError.state(matches.isEmpty
                ? "no map '\(name)' in the node's instance (load the program that declares it with `program:`)"
                : "map '\(name)' is ambiguous: \(matches.joined(separator: ", ")); give its path")
        }
        return "\(root)/\(matches[0])"
    }
}
