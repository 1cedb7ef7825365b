import ArgumentParser
import BPFKit
import Daemon
import Doctor
import HikeControl
import HikeErrors
import Foundation
import HikeRuntime
import HikeVM
import SRv6
import Topology

/// The version `hike --version` prints.
enum HikeVersion {
    static let current = "0.1.0"
}

@main
struct Hike: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hike",
        abstract: "A programmable eBPF/XDP data plane for Linux software routers.",
        discussion: "Small, verified eBPF programs are composed into chains that run in the HIKe VM and are swapped at run time.",
        version: HikeVersion.current,
        subcommands: [DoctorCommand.self, DemoCommand.self, BenchCommand.self,
                      ProgCommand.self, ChainCommand.self, LoaderCommand.self, FaultsCommand.self,
                      MapCommand.self, ResetCommand.self, CompileCommand.self, LoadCommand.self, UnloadCommand.self,
                      EventsCommand.self, ClockCommand.self, SRv6Command.self, PMCommand.self,
                      TestbedCommand.self, DaemonCommand.self, InfoCommand.self, FastDropCommand.self,
                      WingCommand.self, ControllerCommand.self]
    )

    /// Parses and runs like ArgumentParser's own main, but reports the errors of the kernel and
    /// of the tools hike runs as one `error:` message and exit status 1, without a stack trace.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let refusal as NodeClient.Refusal {
            // The daemon's answer is already what this process would have printed.
            FileHandle.standardError.write(Data(refusal.text.utf8))
            Glibc.exit(1)
        } catch {
            guard let text = ErrorReport.text(of: error) else { exit(withError: error) }
            FileHandle.standardError.write(Data(text.utf8))
            Glibc.exit(1)
        }
    }
}

/// What hike prints on stderr for an error that ends a command: `error: …`, or a source file's
/// diagnostics as they are. The daemon sends the same text, so a command run with --connect
/// fails with the same words.
enum ErrorReport {
    /// Nil for ArgumentParser's own errors (usage, --help), which it prints itself.
    static func text(of error: any Error) -> String? {
        func line(_ message: String) -> String { "error: \(message)\n" }
        func diagnostics(_ text: String) -> String { text.hasSuffix("\n") ? text : text + "\n" }
        switch error {
        case let error as BPFError: return line(error.description)
        case let error as CommandError: return line(error.description)
        case let error as DemoError: return line(error.description)
        case let error as RuntimeError: return line(error.description)
        case let error as SRv6Error:
            if case .configuration = error { return diagnostics(error.description) }
            return line(error.description)
        case let error as AssemblerError: return diagnostics(error.description)
        case let error as CommandLineError: return line(error.message)
        case let error as ControlError: return error.diagnosticText.map(diagnostics) ?? line(error.message)
        case let error as any HikeError: return error.diagnosticText.map(diagnostics) ?? line(error.description)
        default: return nil
        }
    }
}

/// Output helpers shared by the commands.
enum Terminal {
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(1)
    }

    /// Writes one line to stdout at once, so progress shows even when stdout is a pipe (or to
    /// the output being captured for a daemon's client).
    static func line(_ text: String) {
        line(text, terminator: "\n")
    }

    static func line(_ text: String, terminator: String) {
        if let capture = OutputCapture.current {
            capture.append(text + terminator)
        } else {
            FileHandle.standardOutput.write(Data((text + terminator).utf8))
        }
    }

    static func errorLine(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// On Ctrl-C or SIGTERM, deletes the namespaces this process made before it exits: the
/// commands' own clean-up (defer, deinit) does not run when a signal ends the process.
enum InterruptCleanup {
    static func install(prefixes: [String]) {
        SignalWatch.exitAfter {
            let deleted = prefixes.flatMap { PingCountDemo.deleteOwnNamespaces(prefix: $0) }
            return deleted.isEmpty ? "" : ": deleted " + deleted.joined(separator: ", ")
        }
    }
}
