import Foundation
import Topology

/// The interactive session of `hike testbed up --tmux`: one window per node, as the original
/// testbed script opened (mouse on, first window selected).
enum Tmux {
    static func start(session: String, windows: [(name: String, command: [String])]) throws {
        guard let first = windows.first else { return }
        try run(["new-session", "-d", "-s", session, "-n", first.name, shellLine(first.command)])
        for window in windows.dropFirst() {
            try run(["new-window", "-t", "=\(session):", "-n", window.name, shellLine(window.command)])
        }
        // set-option does not take the exact-match `=` form; the name was just checked to be new.
        try run(["set-option", "-t", session, "mouse", "on"])
        try run(["select-window", "-t", "=\(session):0"])
    }

    /// Runs tmux to completion. Not through pipes: the first command forks the tmux server,
    /// which keeps the descriptors it inherited, so a pipe would never reach end of file.
    static func run(_ arguments: [String]) throws {
        guard let tmux = Command.find("tmux") else { throw TestbedError.state("tmux is not installed: apt-get install tmux") }
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("hike-tmux-\(getpid())-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: errors.path, contents: nil), let handle = try? FileHandle(forWritingTo: errors) else {
            throw TestbedError.state("cannot create \(errors.path)")
        }
        defer {
            try? handle.close()
            try? FileManager.default.removeItem(at: errors)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tmux)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let said = (try? String(contentsOf: errors, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            throw TestbedError.state("`tmux \(arguments.prefix(2).joined(separator: " ")) …` exited with status \(process.terminationStatus)"
                                     + (said.isEmpty ? "" : ": " + said))
        }
    }

    /// tmux runs a window's command through the shell: quote each word.
    static func shellLine(_ words: [String]) -> String {
        words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    }

    static func windows(session: String) -> [String] {
        guard let result = try? Command.run(["tmux", "list-windows", "-t", "=\(session)", "-F", "#{window_name}"]),
              result.status == 0 else { return [] }
        return result.stdout.split(separator: "\n").map(String.init)
    }
}
