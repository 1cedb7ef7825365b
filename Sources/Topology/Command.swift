import Foundation
import HikeErrors

/// A command that exited with a failure, with what it printed.
public struct CommandError: Error, CustomStringConvertible, Sendable {
    public let command: [String]
    public let status: Int32
    public let stderr: String
    public let stdout: String

    public var description: String {
        let said = stderr.isEmpty ? stdout : stderr
        return "`\(command.joined(separator: " "))` exited with status \(status)"
            + (said.isEmpty ? "" : ": " + said.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// What a finished command printed and how it exited.
public struct CommandResult: Sendable {
    public let command: [String]
    public let status: Int32
    public let stdout: String
    public let stderr: String

    /// The output, or a CommandError when the command failed.
    @discardableResult
    public func checked() throws -> String {
        guard status == 0 else { throw CommandError(command: command, status: status, stderr: stderr, stdout: stdout) }
        return stdout
    }
}

/// Runs external tools (iproute2, ping, sysctl): these are the interfaces a network engineer
/// knows, and what they print is what tests compare against.
public enum Command {
    /// Runs a command to completion. The executable is looked up in PATH (plus /usr/sbin, /sbin).
    public static func run(_ arguments: [String]) throws -> CommandResult {
        try start(arguments).wait()
    }

    /// Runs a command and returns its standard output, or throws when it fails.
    @discardableResult
    public static func check(_ arguments: [String]) throws -> String {
        try run(arguments).checked()
    }

    /// Starts a command in the background.
    public static func start(_ arguments: [String]) throws -> RunningCommand {
        try RunningCommand(arguments)
    }

    /// The full path of an executable, or nil.
    public static func find(_ name: String) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A command running in the background; `wait()` collects its output.
public final class RunningCommand: @unchecked Sendable {  // the output buffers are written before `done` is signalled
    public let arguments: [String]
    private let process = Process()
    private var stdoutData = Data()
    private var stderrData = Data()
    private let readers = DispatchGroup()

    init(_ arguments: [String]) throws {
        guard let name = arguments.first else { throw CommandError(command: [], status: -1, stderr: "empty command", stdout: "") }
        guard let executable = Command.find(name) else {
            throw CommandError(command: arguments, status: 127, stderr: "\(name) is not installed (not found in PATH)", stdout: "")
        }
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Drain both pipes concurrently so a chatty stderr cannot block the child.
        readers.enter()
        readers.enter()
        DispatchQueue.global().async {
            self.stdoutData = out.fileHandleForReading.readDataToEndOfFile()
            self.readers.leave()
        }
        DispatchQueue.global().async {
            self.stderrData = err.fileHandleForReading.readDataToEndOfFile()
            self.readers.leave()
        }
    }

    public var isRunning: Bool { process.isRunning }

    /// Sends SIGINT (ping then prints its summary and exits).
    public func interrupt() { process.interrupt() }

    /// Waits for the command to exit.
    public func wait() -> CommandResult {
        process.waitUntilExit()
        readers.wait()
        return CommandResult(command: arguments, status: process.terminationStatus,
                             stdout: String(decoding: stdoutData, as: UTF8.self),
                             stderr: String(decoding: stderrData, as: UTF8.self))
    }
}

extension CommandError: HikeError {
    public var code: String { "command.failed" }
    public var message: String { description }
}
