import BPFKit
import Dispatch
import ECLAT
import GRPCCore
import HikeControl
import HikeRPC
import HikeRuntime
import Foundation
import HikeErrors
import Logging

/// eclatd's Eclat service over hike: the original `eclat` client loads scripts, fetches
/// packages, reads maps and stops the daemon unchanged. As eclatd, a failure is an answer with
/// status "FAIL" and the reason, not a gRPC error. Requests act on the daemon's instance, and
/// scripts attach in its network namespace.
struct EclatService: Eclat.SimpleServiceProtocol {
    let executor: any NodeExecutor
    let planes: DataPlaneServices
    let configuration: DaemonConfiguration
    let metrics: DaemonMetrics
    let logger: Logger
    /// Called by Quit: stops the daemon gracefully (after this answer is sent).
    let quit: @Sendable () async -> Void

    private var target: Hike_V1_Target { .with { $0.instance = configuration.instance } }

    /// Runs work on the instance's queue: it may wait for the kernel and the registry lock.
    private func onQueue<T: Sendable>(_ work: @escaping @Sendable () -> Result<T, NodeFailure>) async -> Result<T, NodeFailure> {
        await NodeService.onQueue(of: configuration.instance, in: planes, work)
    }

    /// (status, message) from an operation's outcome, counted.
    private func answer(_ rpc: String, _ result: Result<String, NodeFailure>) -> (String, String) {
        metrics.countRequest("Eclat/" + rpc, failed: (try? result.get()) == nil)
        switch result {
        case .success(let text): return ("OK", text)
        case .failure(let failure):
            logger.notice("refused", metadata: ["rpc": "Eclat/\(rpc)", "why": "\(failure.text.trimmingSuffixNewlines)"])
            return ("FAIL", failure.text)
        }
    }

    private func run(_ operation: NodeOperation) async -> Result<String, NodeFailure> {
        let executor = executor
        return await onQueue {
            Result { () throws(NodeFailure) -> String in
                let output = try executor.execute(operation)
                return (output.warnings.map { "warning: \($0)\n" }.joined() + output.text).trimmingSuffixNewlines
            }
        }
    }

    private func script(_ text: String, package: String) -> Hike_V1_ScriptRequest {
        .with {
            $0.target = target
            $0.file = .with {
                $0.name = (package.isEmpty ? "script" : package) + ".eclat"
                $0.text = text
            }
            if let netns = configuration.netns { $0.netns = netns }
        }
    }

    func loadConfiguration(request: EclatLoadRequest, context: ServerContext) async throws -> EclatLoadResponse {
        let (status, message) = answer("LoadConfiguration", await run(.loadScript(script(request.script, package: request.package))))
        return .with { $0.status = status; $0.message = message }
    }

    /// hike's packages are built in: fetching a script's packages means checking that it
    /// compiles against them (imports included), changing nothing.
    func fetchConfiguration(request: EclatFetchRequest, context: ServerContext) async throws -> EclatFetchResponse {
        let instance = configuration.instance, text = request.script, name = script(text, package: request.package).file.name
        let result = await onQueue { () -> Result<String, NodeFailure> in
            Result { () throws(NodeFailure) -> String in
                do {
                    let catalog = try HikeInstance(name: instance).catalog
                    let checked = try DataPlane.compile(SourceText(file: name, text: text), catalog: catalog)
                    let programs = checked.compiled.programs.sorted(), loaders = checked.compiled.loaders.map(\.loader).sorted()
                    return "built into hike: programs " + (programs.isEmpty ? "-" : programs.joined(separator: ", "))
                        + "; loaders " + (loaders.isEmpty ? "-" : loaders.joined(separator: ", "))
                } catch {
                    throw NodeFailure(kind: .invalidArgument, text: ErrorText.of(error))
                }
            }
        }
        let (status, message) = answer("FetchConfiguration", result)
        return .with { $0.status = status; $0.message = message }
    }

    func fetchPackage(request: EclatFetchPackageRequest, context: ServerContext) async throws -> EclatFetchPackageResponse {
        let instance = configuration.instance, package = request.package
        let result = await onQueue { () -> Result<String, NodeFailure> in
            Result { () throws(NodeFailure) -> String in
                let known: [String]
                do { known = try HikeInstance(name: instance).catalog.compilerCatalog.packages } catch {
                    throw NodeFailure(kind: .failedPrecondition, text: ErrorText.of(error))
                }
                guard known.contains(package) else {
                    throw NodeFailure(kind: .notFound, text: "no package '\(package)': hike's packages are \(known.joined(separator: ", "))")
                }
                return "Package \(package) is built into hike"
            }
        }
        let (status, message) = answer("FetchPackage", result)
        return .with { $0.status = status; $0.message = message }
    }

    func dumpMap(request: EclatDumpMapRequest, context: ServerContext) async throws -> EclatDumpMapResponse {
        let operation = NodeOperation.dumpMap(.with {
            $0.target = target
            $0.target.json = true
            $0.map = request.mapname
        })
        let (status, message) = answer("DumpMap", await run(operation))
        return .with { $0.status = status; $0.message = message }
    }

    /// The entry at a u32 key (what eclatd's bpftool lookup took), as {"key": …, "value": …}.
    func getMapValue(request: EclatGetMapValueRequest, context: ServerContext) async throws -> EclatGetMapValueResponse {
        let instance = configuration.instance, name = request.mapname, keyText = request.key
        let result = await onQueue { () -> Result<String, NodeFailure> in
            Result { () throws(NodeFailure) -> String in
                guard let key = UInt32(keyText.trimmingCharacters(in: .whitespaces)) else {
                    throw NodeFailure(kind: .invalidArgument, text: "key '\(keyText)': give a decimal u32, as eclat read-map -l does")
                }
                do {
                    let pinned = try DataPlane(name: instance).openMap(name)
                    guard pinned.map.info.keySize == 4 else {
                        throw NodeFailure(kind: .invalidArgument,
                                          text: "\(pinned.relative) has \(pinned.map.info.keySize)-byte keys, not u32: dump it (DumpMap) or use hike map dump")
                    }
                    let bytes = withUnsafeBytes(of: key.littleEndian) { Array($0) }
                    guard let value = try pinned.map.lookup(key: bytes) else {
                        throw NodeFailure(kind: .notFound, text: "\(pinned.relative) has no key \(key)")
                    }
                    let values = pinned.codec.decodeValues(value)
                    let entry: MapJSONValue = pinned.map.isPerCPU
                        ? .object(["key": pinned.codec.decodeKey(bytes), "sum": MapJSONValue.sum(values) ?? .null, "values": .array(values)])
                        : .object(["key": pinned.codec.decodeKey(bytes), "value": values.first ?? .null])
                    return entry.jsonText(pretty: true)
                } catch let failure as NodeFailure {
                    throw failure
                } catch {
                    throw NodeFailure(kind: .invalidArgument, text: ErrorText.of(error))
                }
            }
        }
        let (status, message) = answer("GetMapValue", result)
        return .with { $0.status = status; $0.message = message }
    }

    func quit(request: EclatQuitRequest, context: ServerContext) async throws -> EclatQuitResponse {
        metrics.countRequest("Eclat/Quit", failed: false)
        logger.notice("Quit asked: stopping (the data plane keeps forwarding)")
        Task { await quit() }
        return .with { $0.status = "OK"; $0.message = "" }
    }
}

extension String {
    var trimmingSuffixNewlines: String {
        var text = self
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

/// How an error reads where hike prints it.
public enum ErrorText {
    public static func of(_ error: any Error) -> String {
        if let error = error as? ControlError { return error.diagnosticText ?? error.message }
        if let error = error as? any HikeError { return error.diagnosticText ?? error.description }
        return "\(error)"
    }
}
