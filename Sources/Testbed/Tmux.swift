import Foundation
import Topology

/// The interactive session of `hike testbed up --tmux`: one window per node, as the original
/// testbed script opened (mouse on, first window selected).
enum Tmux {
    static func start(session: String, windows: [(name: String, command: [String])]) throws {
        guard let first = windows.first else { return }
        try Command.check(["tmux", "new-session", "-d", "-s", session, "-n", first.name, shellLine(first.command)])
        for window in windows.dropFirst() {
            try Command.check(["tmux", "new-window", "-t", "=\(session)", "-n", window.name, shellLine(window.command)])
        }
        try Command.check(["tmux", "set-option", "-t", "=\(session)", "mouse", "on"])
        try Command.check(["tmux", "select-window", "-t", "=\(session):0"])
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
