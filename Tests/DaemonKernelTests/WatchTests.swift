import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// `--watch`: a read of counters printed again each time it changed, in-process and streamed by
/// the daemon (hike.v1's Watch).
@Suite(.serialized) struct WatchTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// A hike process in the background whose output goes to a file.
    final class Background {
        let process = Process()
        let path: String

        init(_ arguments: [String], output path: String) throws {
            self.path = path
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw DaemonTestError("cannot create \(path)") }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            process.executableURL = URL(fileURLWithPath: hikeBinary)
            process.arguments = arguments
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var output: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

        /// The fault counts of the chain in each JSON document printed so far.
        func counts(of chain: String) -> [Int] {
            // Each output is one pretty-printed object: a line "}" at the start of a line ends it.
            output.components(separatedBy: "\n}\n").compactMap { part -> Int? in
                guard let object = try? JSONSerialization.jsonObject(with: Data((part + "\n}").utf8)) as? [String: Any] else { return nil }
                let counts = object["counts"] as? [[String: Any]] ?? []
                return counts.first { $0["chain"] as? String == chain }?["count"] as? Int ?? 0
            }
        }

        deinit {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    @Test func faultsAreWatchedHereAndThroughTheDaemon() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try DaemonScratch.with { scratch in
            let daemon = try DaemonProcess([], scratch: scratch)
            defer { _ = daemon.stop() }
            let connect = ["--connect", "unix:\(daemon.socket)"]
            try scratch.installFaultingChain(in: b.name, connect: connect)

            let watch = ["faults", "--json", "--watch", "0.1", "--instance", scratch.name]
            let here = try Background(watch, output: "\(scratch.directory)/here.out")
            let there = try Background(watch + connect, output: "\(scratch.directory)/there.out")
            for watcher in [here, there] {
                try KernelTest.waitUntil("the first output") { !watcher.counts(of: "t_oob").isEmpty || !watcher.process.isRunning }
            }
            #expect(try Traffic.ping(from: a, to: "fc00::2", count: 5, interval: 0.05).received == 5)
            for (name, watcher) in [("in-process", here), ("through the daemon", there)] {
                try KernelTest.waitUntil("\(name): the 5 faults are printed") { (watcher.counts(of: "t_oob").last ?? 0) >= 5 || !watcher.process.isRunning }
                let counts = watcher.counts(of: "t_oob")
                #expect(watcher.process.isRunning, "\(name): \(watcher.output)")
                #expect(counts.count >= 2, "\(name): printed again when the count changed: \(counts)")
                #expect(counts == counts.sorted() && Set(counts).count == counts.count, "\(name): only changes are printed: \(counts)")
            }
            // A watch of something that is no counter is refused before anything runs.
            let refused = try scratch.hike(["chain", "show", "t_oob", "--watch", "1"] + connect)
            #expect(refused.status != 0)
        }
    }
}
