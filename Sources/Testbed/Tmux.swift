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
        // By name, not index 0: with `base-index 1` in the user's tmux.conf there is no window 0.
        try run(["select-window", "-t", "=\(session):=\(first.name)"])
    }

    /// Runs tmux to completion. Not through pipes: the first command forks the tmux server,
    /// which keeps the descriptors it inherited, so a pipe would never reach end of file. And
    /// not through Foundation's Process, whose exit monitoring was seen to miss the client's exit
    /// beside the server's double fork: posix_spawn and waitpid on the client's pid.
    static func run(_ arguments: [String]) throws {
        guard let tmux = Command.find("tmux") else { throw TestbedError.state("tmux is not installed: apt-get install tmux") }
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("hike-tmux-\(getpid())-\(UUID().uuidString)").path
        defer { unlink(errors) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Nothing else: the server tmux forks would otherwise keep every descriptor not marked
        // close-on-exec open for its whole life (a caller's pipe would never see end of file).
        guard let symbol = dlsym(nil /* RTLD_DEFAULT */, "posix_spawn_file_actions_addclosefrom_np") else {
            throw TestbedError.state("cannot start tmux: this C library lacks posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later)")
        }
        // Swift's Glibc module does not import it: called through its address.
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        let closed = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        guard closed == 0 else { throw TestbedError.state("cannot start tmux: closing its descriptors: \(String(cString: strerror(closed)))") }
        let argv: [UnsafeMutablePointer<CChar>?] = ([tmux] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, tmux, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestbedError.state("cannot start tmux: \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw TestbedError.state("waiting for tmux: \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED and WEXITSTATUS, which Swift does not import.
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let said = (try? String(contentsOfFile: errors, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            throw TestbedError.state("`tmux \(arguments.prefix(2).joined(separator: " ")) …` "
                + (exited ? "exited with status \(code)" : "was killed by signal \(status & 0x7f)") + (said.isEmpty ? "" : ": " + said))
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
