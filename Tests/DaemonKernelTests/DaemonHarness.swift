import Foundation
import HikeTestSupport
import Synchronization
import Testing
import Topology

/// `.build/<triple>/debug/hike`: beside the test bundle, else under the package root.
let hikeBinary: String = {
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    let beside = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("hike").path
    if FileManager.default.isExecutableFile(atPath: beside) { return beside }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/hike").path
}()

private let counter = Atomic<Int>(0)

/// A scratch directory and instance name of one test's own (`hiket-<pid>-daemon-N`), removed
/// (and the instance reset) afterwards, whatever happens.
struct DaemonScratch {
    let name: String
    let directory: String

    static func with(_ body: (DaemonScratch) throws -> Void) throws {
        let scratch = try make()
        defer { scratch.remove() }
        try body(scratch)
    }

    /// For a test that awaits (a gRPC client of its own).
    static func with(_ body: (DaemonScratch) async throws -> Void) async throws {
        let scratch = try make()
        defer { scratch.remove() }
        try await body(scratch)
    }

    private static func make() throws -> DaemonScratch {
        let n = counter.add(1, ordering: .relaxed).newValue
        let name = "\(KernelTest.prefix)-\(getpid())-daemon-\(n)"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return DaemonScratch(name: name, directory: directory)
    }

    /// Resets the instance and deletes the directory.
    private func remove() {
        let reset = try? Command.run([hikeBinary, "reset", "--instance", name])
        if let reset, reset.status != 0 { FileHandle.standardError.write(Data("hike reset --instance \(name): \(reset.stderr)\n".utf8)) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func write(_ file: String, _ text: String) throws -> String {
        let path = "\(directory)/\(file)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Installs t_oob, a chain that reads past every packet (each one faults, and passes: the
    /// default verdict), on veth0 of the namespace, through the daemon at connect.
    func installFaultingChain(in namespace: String, connect: [String]) throws {
        let oob = try write("oob.hasm", "chain t_oob\n    r1 = 0x1000000 ll\n    r0 = *(u64 *)(r1 + 0x3fff)\n    exit\n")
        let load = try hike(["chain", "load", oob] + connect)
        #expect(load.status == 0, "\(load.stderr)")
        let attach = try hike(["loader", "attach", "ip6_classifier", "veth0", "--netns", namespace, "--chain", "t_oob",
                               "--default-verdict", "pass"] + connect)
        #expect(attach.status == 0, "\(attach.stderr)")
    }

    /// Runs hike with `--instance` this test's.
    func hike(_ arguments: [String]) throws -> CommandResult {
        try Command.run([hikeBinary] + arguments + ["--instance", name])
    }
}

/// A `hike daemon` process of a test's: started, waited for until it says it listens, killed
/// at the end (SIGTERM, or SIGKILL when asked).
final class DaemonProcess: Sendable {
    let process: Process
    let log: String
    let socket: String
    /// From its "listening:" line.
    let tcpPort: Int?
    let eclatPort: Int?
    let metrics: String?

    init(_ arguments: [String], scratch: DaemonScratch, tag: String = "daemon") throws {
        let socket = "\(scratch.directory)/\(tag).sock", log = "\(scratch.directory)/\(tag).log"
        self.socket = socket
        self.log = log
        guard FileManager.default.createFile(atPath: log, contents: nil) else { throw DaemonTestError("cannot create \(log)") }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hikeBinary)
        process.arguments = ["daemon", "--socket", socket, "--instance", scratch.name] + arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        var line = ""
        try KernelTest.waitUntil("hike daemon \(arguments.joined(separator: " ")) listens", timeout: .seconds(20)) {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let found = text.split(separator: "\n").first(where: { $0.contains(" listening: ") }) {
                line = String(found)
                return true
            }
            if !process.isRunning {
                throw DaemonTestError("hike daemon exited with status \(process.terminationStatus): \(text)")
            }
            return false
        }
        func number(after label: String) -> Int? {
            guard let range = line.range(of: label) else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        tcpPort = number(after: "tcp port ")
        eclatPort = number(after: "eclat port ")
        metrics = line.range(of: "metrics http://").map { String(line[$0.upperBound...].prefix { $0 != "/" }) }
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Stops it (SIGTERM: gracefully; SIGKILL: as a crash) and waits for it to exit.
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct DaemonTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
