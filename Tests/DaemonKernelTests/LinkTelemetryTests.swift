import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import Topology

/// The controller's link metrics from the data plane, read from the routers' daemons (the
/// default) or from a real Prometheus server that scrapes them. h1 — r1 — r2 — h2, r1 forwarding
/// in XDP; each router's instance has a daemon that flips its colour every 2 s; the link is
/// monitored through the daemons (`hike pm link set --connect`) and r2 drops half of what
/// arrives. `hike controller serve` finds the loss of r1→r2 and pushes a low-packet-loss client
/// off the link, onto r1 → r3 → r2 (r3 is only in the topology file, 1 % loss on each of its links).
@Suite(.serialized) struct LinkTelemetryTests {
    enum Reader: String, CaseIterable, CustomTestStringConvertible {
        case daemons, prometheus
        var testDescription: String { rawValue }
    }

    @Test(arguments: Reader.allCases)
    func theControllerTakesALinksLossFromTheDataPlane(_ reader: Reader) async throws {
        try KernelTest.prepare()
        try await DaemonScratch.with { r1Scratch in
            try await DaemonScratch.with { r2Scratch in
                let topology = KernelTest.topology()
                defer { topology.destroy() }
                let line = try RouterLine(in: topology)
                let (h1, r1, r2) = (line.h1, line.r1, line.r2)
                try topology.addRoute(["fd00:2::/64", "via", "fd00:12::2", "dev", "veth-r2"], in: r1)

                let r1Hike = try HikeInstance(name: r1Scratch.name), r2Hike = try HikeInstance(name: r2Scratch.name)
                try r1Hike.loadProgram("ip6_kroute")
                _ = try r1Hike.install(try ChainAssembler.assemble("chain forward\n    call ip6_kroute\n", file: "test"), source: nil)
                try r1Hike.attach(loader: "ip6_lpm_classifier", interface: "veth-h1", namespace: r1, chain: nil,
                                  defaultVerdict: ABI.xdpPass, routes: [("fd00:2::/64", "forward")])
                try r2Hike.attach(loader: "srv6_localsid", interface: "veth-r1", namespace: r2, chain: nil, defaultVerdict: ABI.xdpPass)

                // --netns: where their metrics find the monitored interfaces (Prometheus reads them by name).
                let r1Daemon = try DaemonProcess(["--colour-period", "2", "--metrics", "127.0.0.1:0", "--netns", r1.name],
                                                 scratch: r1Scratch, tag: "r1")
                let r2Daemon = try DaemonProcess(["--colour-period", "2", "--metrics", "127.0.0.1:0", "--netns", r2.name],
                                                 scratch: r2Scratch, tag: "r2")
                defer {
                    _ = r1Daemon.stop()
                    _ = r2Daemon.stop()
                }
                for (scratch, daemon, arguments) in [
                    (r1Scratch, r1Daemon, ["veth-r2", "--netns", r1.name, "--send-flow", "12"]),
                    (r2Scratch, r2Daemon, ["veth-r1", "--netns", r2.name, "--receive-flow", "12", "--drop", "50"]),
                ] {
                    let set = try scratch.hike(["pm", "link", "set"] + arguments + ["--connect", "unix:\(daemon.socket)"])
                    #expect(set.status == 0, "\(set.stderr)")
                }

                let topologyFile = try r1Scratch.write("topology.yaml", """
                    nodes:
                      - {name: r1, sids: {0: "fc00:1::"}, prefixes: ["fd00:1::/64"], daemon: "unix:\(r1Daemon.socket)", instance: \(r1Scratch.name), netns: \(r1.name)}
                      - {name: r2, sids: {0: "fc00:2::"}, prefixes: ["fd00:2::/64"], daemon: "unix:\(r2Daemon.socket)", instance: \(r2Scratch.name), netns: \(r2.name)}
                      - {name: r3, sids: {0: "fc00:3::"}}
                    links:
                      - {between: [r1, r2]}
                      - {between: [r1, r3], loss: 1}
                      - {between: [r3, r2], loss: 1}
                    """)
                var arguments = ["--topology", topologyFile, "--listen", "[::1]:0", "--hold-down", "0.2", "--poll-interval", "0.1", "--loss-grace", "0.05"]
                var prometheus: Process?
                defer {
                    prometheus?.terminate()
                    prometheus?.waitUntilExit()
                }
                if reader == .prometheus {
                    let (process, url) = try Self.startPrometheus(scraping: [try #require(r1Daemon.metrics), try #require(r2Daemon.metrics)],
                                                                  scratch: r1Scratch)
                    prometheus = process
                    arguments += ["--prometheus", url]
                }
                // The controller in a process of its own, as it runs: its reads do not wait for this
                // test process's threads, which the other suites keep busy.
                let controller = try ControllerProcess(arguments, scratch: r1Scratch)
                defer { controller.stop() }

                // A HawkWing-like client asks for a low-packet-loss path: none is measured yet, so
                // straight to r2; the stream stays open for what the controller pushes.
                let (answers, answered) = AsyncStream.makeStream(of: [String].self)
                let client = Task {
                    let transport = try HTTP2ClientTransport.Posix(target: .ipv6(address: "::1", port: controller.port), transportSecurity: .plaintext)
                    try await withGRPCClient(transport: transport) { client in
                        try await Api_IntentController.Client(wrapping: client).getIntentPath(requestProducer: { writer in
                            var request = Api_PathRequest()
                            request.ipv6SourceAddress = "fd00:1::1"
                            request.ipv6DestinationAddress = "fd00:2::2"
                            request.intents = [.with { $0.type = .lowPacketLoss }]
                            try await writer.write(request)
                            try await Task.sleep(for: .seconds(3600))  // the stream stays open until cancelled
                        }, onResponse: { response in
                            defer { answered.finish() }
                            for try await answer in response.messages { answered.yield(answer.ipv6SidAddresses) }
                        })
                    }
                }
                defer { client.cancel() }
                var pushed = answers.makeAsyncIterator()
                #expect(await pushed.next() == ["fc00:2::"])

                // Traffic until the controller has taken a loss for r1→r2 from enough packets and
                // moved the request (−ln(1 − loss) ≥ 0.29 on the link against 2 · −ln(0.99) ≈ 0.02 by r3).
                var status: [String: Any] = [:]
                func direction() -> [String: Any]? {
                    ((status["telemetry"] as? [String: Any])?["directions"] as? [[String: Any]])?.first { $0["from"] as? String == "r1" && $0["to"] as? String == "r2" }
                }
                func routers() -> [String]? {
                    (((status["sessions"] as? [[String: Any]])?.first?["requests"] as? [[String: Any]])?.first?["routers"] as? [String])
                }
                do {
                    try await KernelTest.waitUntil("the controller takes r1→r2's loss from \(reader) and moves the request", timeout: .seconds(90)) {
                        try Traffic.sendUDP(from: h1, to: "fd00:2::2", port: 7012, payload: Array(repeating: 0x5a, count: 64), count: 20)
                        status = try controller.show()
                        return (direction()?["sent"] as? Int ?? 0) >= 100 && routers() == ["r1", "r3", "r2"]
                    }
                } catch {
                    Issue.record("\(error); the controller said: \(controller.output.suffix(2000)); telemetry: \(status["telemetry"] ?? "none")")
                    return
                }
                let measured = try #require(direction())
                #expect(measured["flow"] as? Int == 12)
                // Binomial(n ≥ 100, ½): 0.5 ± 0.05; 0.25–0.75 is five standard deviations.
                let loss = try #require(measured["loss"] as? Double)
                #expect((0.25...0.75).contains(loss), "loss \(loss) of \(measured["sent"] ?? 0) packets at 50 % drop")
                let links = try #require(status["links"] as? [[String: Any]])
                func link(_ from: String, _ to: String) -> [String: Any]? { links.first { $0["from"] as? String == from && $0["to"] as? String == to } }
                let taken = try #require((link("r1", "r2")?["metrics"] as? [String: Any])?["loss"] as? Double)
                #expect((0.25...0.75).contains(taken), "the controller's loss for r1→r2: \(taken)")
                #expect((link("r1", "r2")?["source"] as? String)?.contains(reader == .prometheus ? "Prometheus" : "daemons") == true)
                // r2 sends nothing on the link: no figure the other way, and the file's 0 stays.
                let directions = try #require((status["telemetry"] as? [String: Any])?["directions"] as? [[String: Any]])
                #expect(directions.allSatisfy { $0["from"] as? String == "r1" })
                #expect((link("r2", "r1")?["metrics"] as? [String: Any])?["loss"] as? Double == 0)
                let read = try #require((status["telemetry"] as? [String: Any])?["routers"] as? [[String: Any]])
                #expect(read.map { $0["router"] as? String } == ["r1", "r2"] && read.allSatisfy { $0["problem"] == nil && $0["monitoredLinks"] as? Int == 1 },
                        "\(read)")
                // The new path was pushed on the open stream.
                #expect(await pushed.next() == ["fc00:3::", "fc00:2::"])
            }
        }
    }

    /// Debian's Prometheus scraping targets every 500 ms (a slow scrape under load still fits), on a free port; its base URL.
    static func startPrometheus(scraping targets: [String], scratch: DaemonScratch) throws -> (Process, String) {
        let port = try PrometheusScrapeTests.freePort()
        let configuration = try scratch.write("prometheus.yml", """
            global:
              scrape_interval: 500ms
              scrape_timeout: 500ms
            scrape_configs:
              - job_name: hike
                static_configs:
                  - targets: [\(targets.map { "'\($0)'" }.joined(separator: ", "))]
            """)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Command.find("prometheus"), "Debian's prometheus package"))
        process.arguments = ["--config.file=\(configuration)", "--storage.tsdb.path=\(scratch.directory)/tsdb",
                             "--web.listen-address=127.0.0.1:\(port)"]
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: try scratch.write("prometheus.log", "")))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return (process, "http://127.0.0.1:\(port)")
    }
}

/// `hike controller serve` of a test's, its output in a file of the scratch directory (a pipe
/// nobody reads would fill and stop it); its port from the line that says where it serves.
final class ControllerProcess: Sendable {
    let process: Process
    let log: String
    let port: Int

    init(_ arguments: [String], scratch: DaemonScratch) throws {
        let log = try scratch.write("controller.log", "")
        self.log = log
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hikeBinary)
        process.arguments = ["controller", "serve"] + arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        var found: Int?
        try KernelTest.waitUntil("hike controller serve listens", timeout: .seconds(20)) {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("serving HawkEye's API on [::1]:") }),
               let range = line.range(of: "[::1]:") {
                found = Int(line[range.upperBound...].prefix { $0.isNumber })
                return true
            }
            if !process.isRunning { throw DaemonTestError("hike controller serve exited with status \(process.terminationStatus): \(text)") }
            return false
        }
        guard let found else { throw DaemonTestError("hike controller serve said no port: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
        port = found
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// `hike controller show --json`, parsed.
    func show() throws -> [String: Any] {
        let show = try Command.run([hikeBinary, "controller", "show", "--json", "--connect", "[::1]:\(port)"])
        guard show.status == 0, let object = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any] else {
            throw DaemonTestError("hike controller show: \(show.stderr)")
        }
        return object
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
