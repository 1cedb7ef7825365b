import ArgumentParser
import BPFKit
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
struct Hike: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hike",
        abstract: "A programmable eBPF/XDP data plane for Linux software routers.",
        discussion: "Small, verified eBPF programs are composed into chains that run in the HIKe VM and are swapped at run time.",
        version: HikeVersion.current,
        subcommands: [DoctorCommand.self, DemoCommand.self, BenchCommand.self,
                      ProgCommand.self, ChainCommand.self, LoaderCommand.self, FaultsCommand.self,
                      MapCommand.self, ResetCommand.self, CompileCommand.self, LoadCommand.self, UnloadCommand.self,
                      EventsCommand.self, ClockCommand.self, SRv6Command.self, PMCommand.self,
                      TestbedCommand.self]
    )

    /// Parses and runs like ArgumentParser's own main, but reports the errors of the kernel and
    /// of the tools hike runs as one `error:` message and exit status 1, without a stack trace.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as BPFError {
            Terminal.fail(error.description)
        } catch let error as CommandError {
            Terminal.fail(error.description)
        } catch let error as DemoError {
            Terminal.fail(error.description)
        } catch let error as RuntimeError {
            Terminal.fail(error.description)
        } catch let error as SRv6Error {
            if case .configuration = error { Terminal.failDiagnostics(error.description) }
            Terminal.fail(error.description)
        } catch let error as AssemblerError {
            Terminal.failDiagnostics(error.description)
        } catch let error as CommandLineError {
            Terminal.fail(error.message)
        } catch let error as ControlError {
            if let text = error.diagnosticText { Terminal.failDiagnostics(text) }
            Terminal.fail(error.message)
        } catch let error as any HikeError {
            if let text = error.diagnosticText { Terminal.failDiagnostics(text) }
            Terminal.fail(error.description)
        } catch {
            exit(withError: error)
        }
    }
}

/// Output helpers shared by the commands.
enum Terminal {
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(1)
    }

    /// Writes one line to stdout at once, so progress shows even when stdout is a pipe.
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
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
