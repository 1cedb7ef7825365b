import ArgumentParser
import Daemon
import Foundation
import HikeControl
import HikeErrors
import HikeRPC
import HikeRuntime
import SRv6
import Synchronization

/// A command that reads or changes one node's data plane: it turns its arguments into a
/// hike.v1 request, which runs in-process or, with --connect, on a daemon; both print the same.
protocol NodeCommand: AsyncParsableCommand {
    var instance: InstanceOptions { get }
    /// The request, from the arguments (files it names are read here, on the client).
    func operation() throws -> NodeOperation
}

extension NodeCommand {
    mutating func run() async throws {
        try await instance.execute(try operation())
    }
}

/// What a command printed while it ran for a daemon's client (Terminal.line and
/// Terminal.warning write here instead of to the terminal).
final class OutputCapture: Sendable {
    @TaskLocal static var current: OutputCapture?

    private let output = Mutex(NodeOutput())

    func append(_ text: String) { output.withLock { $0.text += text } }
    func warn(_ text: String) { output.withLock { $0.warnings.append(text) } }
    var captured: NodeOutput { output.withLock { $0 } }
}

/// Runs the daemon's requests with the commands' own code, capturing what they print.
struct CommandExecutor: NodeExecutor {
    func execute(_ operation: NodeOperation) throws(NodeFailure) -> NodeOutput {
        try Self.capturing { try Self.perform(operation) }
    }

    func drainEvents(_ request: Hike_V1_WatchEventsRequest) throws(NodeFailure) -> NodeOutput {
        try Self.capturing { try EventsCommand.drain(request) }
    }

    /// What body prints, or its error as the CLI would print it.
    static func capturing(_ body: () throws -> Void) throws(NodeFailure) -> NodeOutput {
        let capture = OutputCapture()
        do {
            try OutputCapture.$current.withValue(capture) { try body() }
        } catch {
            throw NodeFailure(kind: kind(of: error), text: ErrorReport.text(of: error) ?? "error: \(error)\n")
        }
        return capture.captured
    }

    static func kind(of error: any Error) -> NodeFailure.Kind {
        switch error {
        case is CommandLineError, is ValidationError: .invalidArgument
        case let error as any HikeError where error.code.contains("unknown") || error.code.contains("not-found"): .notFound
        case let error as any HikeError where error.diagnosticText != nil || error.code.hasPrefix("request") || error.code.hasPrefix("source"):
            .invalidArgument
        default: .failedPrecondition
        }
    }

    /// Runs one operation here, printing as the command does.
    static func perform(_ operation: NodeOperation) throws {
        switch operation {
        case .info(let r): try DaemonCommand.info(r)
        case .listPrograms(let r): try ProgCommand.List.perform(r)
        case .loadPrograms(let r): try ProgCommand.Load.perform(r)
        case .showProgram(let r): try ProgCommand.Show.perform(r)
        case .loadChains(let r): try ChainCommand.Load.perform(r)
        case .listChains(let r): try ChainCommand.List.perform(r)
        case .showChain(let r): try ChainCommand.Show.perform(r)
        case .removeChains(let r): try ChainCommand.Remove.perform(r)
        case .loadScript(let r): try LoadCommand.perform(r)
        case .unloadScript(let r): try UnloadCommand.perform(r)
        case .listLoaders(let r): try LoaderCommand.List.perform(r)
        case .attachLoader(let r): try LoaderCommand.Attach.perform(r)
        case .detachLoader(let r): try LoaderCommand.Detach.perform(r)
        case .listMaps(let r): try MapCommand.List.perform(r)
        case .dumpMap(let r): try MapCommand.Dump.perform(r)
        case .updateMap(let r): try MapCommand.Update.perform(r)
        case .deleteMapEntry(let r): try MapCommand.Delete.perform(r)
        case .faults(let r): try FaultsCommand.perform(r)
        case .reset(let r): try ResetCommand.perform(r)
        case .validateSRv6(let r): try SRv6Command.Validate.perform(r)
        case .applySRv6(let r): try SRv6Command.Apply.perform(r)
        case .showSRv6(let r): try SRv6Command.Show.perform(r)
        case .listFlows(let r): try PMCommand.Flow.List.perform(r)
        case .addFlow(let r): try PMCommand.Flow.Add.perform(r)
        case .removeFlow(let r): try PMCommand.Flow.Remove.perform(r)
        case .monitoringStats(let r): try PMCommand.Stats.perform(r)
        case .setLink(let r): try PMCommand.Link.Update.perform(r)
        case .removeLink(let r): try PMCommand.Link.Remove.perform(r)
        case .listLinks(let r): try PMCommand.Link.List.perform(r)
        }
    }
}

extension Hike_V1_Target {
    /// The instance the request names.
    func open() throws -> HikeInstance {
        try HikeInstance(name: instance.isEmpty ? "default" : instance)
    }
}

extension Hike_V1_SourceFile {
    /// A file of the client's, read for a request.
    static func read(_ path: String, defines: [String: String] = [:]) throws -> Hike_V1_SourceFile {
        let source = try SourceText.read(path, defines: defines)
        return .with {
            $0.name = source.file
            $0.text = source.text
            $0.defines = defines
        }
    }

    var source: SourceText { SourceText(file: name, text: text, defines: defines) }

    /// An SRv6 configuration file; one that cannot be read fails as `hike srv6` reports it.
    static func readConfiguration(_ path: String) throws -> Hike_V1_SourceFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            _ = try SRv6Configuration.load(file: path)  // throws the configuration diagnostic
            throw error
        }
        return .with {
            $0.name = path
            $0.text = text
        }
    }
}

/// `output.json` for a request's perform, as the command's JSONOption reads.
struct JSONFlag {
    let json: Bool
    init(_ json: Bool) { self.json = json }
}

extension String {
    /// nil for "" (an optional field a request left out).
    var nonEmpty: String? { isEmpty ? nil : self }
}

extension RawRepresentable where Self: CaseIterable, RawValue == String {
    /// A request's value for an option of fixed words ("" is the default).
    static func parse(_ text: String, default value: Self, option: String) throws -> Self {
        if text.isEmpty { return value }
        guard let parsed = Self(rawValue: text) else {
            throw CommandLineError("\(option) '\(text)': use " + allCases.map(\.rawValue).joined(separator: ", "))
        }
        return parsed
    }
}
