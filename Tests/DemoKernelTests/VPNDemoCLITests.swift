import Demo
import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// `hike demo vpn` as a user runs it: the binary, its JSON, and Ctrl-C.
@Suite(.serialized) struct VPNDemoCLITests {
    /// `.build/<triple>/debug/hike`: beside the test bundle, else under the package root.
    static let binary: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("hike").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return repository.appendingPathComponent(".build/debug/hike").path
    }()
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary started with the test runner's blocked signals unblocked (a child inherits the
    /// mask; hike's Ctrl-C handler must see SIGINT), stdout and stderr collected as they come.
    final class Run: @unchecked Sendable {  // the buffers behind lock
        let process = Process()
        private let lock = NSLock()
        private var out = Data(), err = Data()
        private let readers = DispatchGroup()

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM}); "
                                 + "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
                                 VPNDemoCLITests.binary] + arguments
            process.currentDirectoryURL = VPNDemoCLITests.repository
            process.standardInput = FileHandle.nullDevice
            let stdout = Pipe(), stderr = Pipe()
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            for (pipe, isOut) in [(stdout, true), (stderr, false)] {
                readers.enter()
                Thread { [self] in
                    defer { readers.leave() }
                    while true {
                        let chunk = pipe.fileHandleForReading.availableData
                        if chunk.isEmpty { return }
                        lock.lock()
                        if isOut { out.append(chunk) } else { err.append(chunk) }
                        lock.unlock()
                    }
                }.start()
            }
        }

        var stdout: String {
            lock.lock()
            defer { lock.unlock() }
            return String(decoding: out, as: UTF8.self)
        }
        var stderr: String {
            lock.lock()
            defer { lock.unlock() }
            return String(decoding: err, as: UTF8.self)
        }

        func wait() -> Int32 {
            process.waitUntilExit()
            readers.wait()
            return process.terminationStatus
        }
    }

    static func leftovers(name: String) -> [String] {
        VPNDemoTests.leftovers(VPNDemoOptions(name: name, prefix: "hike-tb"))
    }

    @Test func jsonOnStdoutProgressOnStderr() throws {
        try KernelTest.prepare()
        let name = "\(getpid())-cj"
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("hike-demo-cli-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let run = try Run(["demo", "vpn", "--name", name, "--periods", "3", "--period", "0.4", "--drop", "4", "--drop-period", "2",
                           "--output", output, "--json"])
        let status = run.wait()
        #expect(status == 0, "\(run.stderr)")
        let report = try JSONDecoder().decode(VPNDemoReport.self, from: Data(run.stdout.utf8))
        #expect(report.periods.map(\.lost) == [0, 4, 0])
        #expect(report.plot.map { FileManager.default.fileExists(atPath: $0) } == true)
        #expect(run.stderr.contains("period 2: sent") && run.stderr.contains("bringing testbed \(name) down"))
        // The first lines say where SRv6 ran: the kernel's, or hike's XDP alone.
        let placement = try KernelSRv6.isAvailable ? "SRv6 hybrid:" : "SRv6 in hike's XDP only"
        #expect(run.stderr.split(separator: "\n").first?.hasPrefix(placement) == true, "\(run.stderr)")
        #expect(Self.leftovers(name: name).isEmpty, "\(Self.leftovers(name: name))")
    }

    /// A period too large for the conversion to milliseconds is a usage error, not a trap.
    @Test func aHugePeriodIsRefusedWithAMessage() throws {
        let name = "\(getpid())-cp"
        let run = try Run(["demo", "vpn", "--name", name, "--period", "1e20"])
        let status = run.wait()
        #expect(status != 0 && status < 128, "status \(status): \(run.stderr)")
        #expect(run.stderr.contains("--period must be more than 0 and at most 3600 seconds"), "\(run.stderr)")
        #expect(Self.leftovers(name: name).isEmpty)
    }

    /// hike started by name from PATH, outside the repository (argv[0] is a bare `hike`): the
    /// default topology is found beside the binary (/proc/self/exe) and the demo runs.
    @Test func theDefaultTopologyIsFoundWhenHikeRunsFromPath() throws {
        try KernelTest.prepare()
        let name = "\(getpid())-cpath"
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("hike-demo-cli-\(getpid())-cpath").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["PATH=" + URL(fileURLWithPath: Self.binary).deletingLastPathComponent().path + ":/usr/sbin:/usr/bin:/sbin:/bin",
                             "hike", "demo", "vpn", "--name", name, "--periods", "1", "--period", "0.4", "--drop", "0",
                             "--output", output, "--json"]
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let errorsPath = output + ".err"
        try #require(FileManager.default.createFile(atPath: errorsPath, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: errorsPath) }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorsPath))
        try process.run()
        process.waitUntilExit()
        let said = (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "\(said)")
        #expect(!said.contains("no topology"), "\(said)")
        #expect(Self.leftovers(name: name).isEmpty, "\(Self.leftovers(name: name))")
    }

    @Test func ctrlCBringsTheTestbedDown() throws {
        try KernelTest.prepare()
        let name = "\(getpid())-cc"
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("hike-demo-cli-\(getpid())-cc").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let run = try Run(["demo", "vpn", "--name", name, "--periods", "30", "--drop", "0", "--output", output])
        // Interrupted in the middle of the periods, with everything up and running. Bringing the
        // testbed up took over a minute in a loaded reference VM.
        try KernelTest.waitUntil("the demo reports its first period", timeout: .seconds(180)) {
            run.stdout.contains("period 1: sent") || !run.process.isRunning
        }
        run.process.interrupt()
        let status = run.wait()
        #expect(status == 128 + SIGINT, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
        #expect(run.stderr.contains("interrupted: testbed \(name) removed"), "\(run.stderr)")
        #expect(Self.leftovers(name: name).isEmpty, "\(Self.leftovers(name: name))")
    }
}
