import CLinux
import Foundation
import Wing

/// What `up` made, written before each thing is made: `down` reads it to remove everything, also
/// after a crash or a failed `up`. One JSON file per testbed under `/run/hike/testbeds/`.
public struct TestbedState: Codable, Sendable {
    public enum Phase: String, Codable, Sendable {
        /// `up` is running (or crashed: then `pid` no longer runs).
        case comingUp = "coming-up"
        case up
        /// `up` failed or `down` ran but something could not be removed.
        case broken
    }

    public var name: String
    /// The namespace and instance name prefix (`<prefix>-<name>-<node>`).
    public var prefix: String
    /// The topology file (absolute), if it came from one.
    public var file: String?
    /// The process that ran `up`, and when it started (clock ticks after boot, as in
    /// /proc/PID/stat), so a later process with the same pid is not taken for it.
    public var pid: Int32
    public var pidStartTime: UInt64?
    public var phase: Phase
    /// The last step `up` started (what it was doing if it crashed).
    public var step: String
    public var startedAt: Date
    /// Network namespaces, recorded before each is created.
    public var namespaces: [String] = []
    /// HIKe instances, recorded before anything is loaded into them.
    public var instances: [String] = []
    /// hike wing's interfaces, recorded before each is started.
    public var wings: [WingSite]?
    /// The controller sessions of wing clients, running in the background.
    public var wingSessions: [BackgroundProcess]?
    /// The tmux session, recorded before it is started.
    public var tmuxSession: String?
    public var spec: TestbedSpec

    /// Whether the process that ran `up` still runs (a zombie does not).
    public var upIsRunning: Bool {
        guard let process = Self.process(pid), process.state != "Z", process.state != "X" else { return false }
        return pidStartTime == nil || pidStartTime == process.startTime
    }

    /// The state letter and start time of a process, from /proc/PID/stat.
    static func process(_ pid: Int32) -> (state: Character, startTime: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After the command name in parentheses: field 3 (state) … field 22 (starttime).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, let start = UInt64(fields[19]) else { return nil }
        return (state, start)
    }
}

/// The state files of all testbeds, in one directory.
public struct TestbedStateStore: Sendable {
    public let directory: String

    public init(directory: String = "/run/hike/testbeds") {
        self.directory = directory
    }

    public func path(_ name: String) -> String { "\(directory)/\(name).json" }

    /// Creates the state file for a new testbed; fails if one exists (the name is taken).
    func claim(_ state: TestbedState) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(path(state.name), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            if errno == EEXIST { throw TestbedError.alreadyUp(name: state.name, stateFile: path(state.name)) }
            throw TestbedError.state("cannot create \(path(state.name)): \(String(cString: strerror(errno)))")
        }
        close(fd)
        try write(state)
    }

    /// Replaces the state file at once (write, then rename): a reader never sees half of it.
    func write(_ state: TestbedState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(state)
        let temporary = path(state.name) + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw TestbedError.state("cannot write \(temporary)")
        }
        guard rename(temporary, path(state.name)) == 0 else {
            throw TestbedError.state("cannot replace \(path(state.name)): \(String(cString: strerror(errno)))")
        }
    }

    public func read(_ name: String) throws -> TestbedState {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            throw TestbedError.notUp(name: name, known: names())
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            decoder.userInfo[.testbedStateFile] = true
            return try decoder.decode(TestbedState.self, from: data)
        } catch {
            throw TestbedError.state("cannot read \(path(name)): \(error)")
        }
    }

    func remove(_ name: String) throws {
        if unlink(path(name)) != 0 && errno != ENOENT {
            throw TestbedError.state("cannot remove \(path(name)): \(String(cString: strerror(errno)))")
        }
    }

    /// The names of the testbeds with a state file, sorted.
    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }
}

/// A process a testbed started in the background (a `hike wing session`): pid and start time,
/// so that a later process with the same pid is never taken for it.
public struct BackgroundProcess: Codable, Sendable, Equatable {
    public var pid: Int32
    public var startTime: UInt64
    public var command: [String]
    /// Its output, removed with it.
    public var log: String

    /// Starts command detached from this process (a session of its own, no descriptor of ours),
    /// its output appended to log.
    static func start(_ command: [String], log: String) throws -> BackgroundProcess {
        guard let path = command.first, FileManager.default.isExecutableFile(atPath: path) else {
            throw TestbedError.state("cannot start `\(command.joined(separator: " "))`: \(command.first ?? "nothing") is not an executable")
        }
        let arguments = command.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        let pid = clinux_spawn_detached(path, arguments, log)
        guard pid > 0, let process = TestbedState.process(pid) else {
            throw TestbedError.state("cannot start `\(command.joined(separator: " "))`: \(String(cString: strerror(-pid)))")
        }
        return BackgroundProcess(pid: pid, startTime: process.startTime, command: command, log: log)
    }

    /// It still runs (a zombie does not).
    var isRunning: Bool {
        guard let process = TestbedState.process(pid), process.state != "Z", process.state != "X" else { return false }
        return process.startTime == startTime
    }

    /// Kills it (what it holds is a stream to a controller), waits until it is gone and removes
    /// its log.
    func stop() -> Bool {
        if isRunning { kill(pid, SIGKILL) }
        let deadline = ContinuousClock.now + .seconds(5)
        while isRunning && ContinuousClock.now < deadline {
            _ = waitpid(pid, nil, WNOHANG)  // reaps it where it is this process's child (ECHILD elsewhere)
            usleep(10_000)
        }
        guard !isRunning else { return false }
        _ = waitpid(pid, nil, WNOHANG)
        try? FileManager.default.removeItem(atPath: log)
        return true
    }
}
