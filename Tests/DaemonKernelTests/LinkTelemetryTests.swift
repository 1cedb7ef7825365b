import Controller
import Foundation
import HikeRPC
import HikeRuntime
import HikeTestSupport
import HikeVM
import Monitoring
import NetKit
import Testing
import Topology

/// The controller's link metrics from the data plane, read from the routers' daemons (the
/// default) or from a real Prometheus server that scrapes them. h1 — r1 — r2 — h2, r1 forwarding
/// in XDP; each router's instance has a daemon that flips its colour every 2 s; the link is
/// monitored through the daemons (`hike pm link set --connect`) and r2 drops half of what
/// arrives. The controller finds the loss of r1→r2 and moves a low-packet-loss request off the
/// link, onto r1 → r3 → r2 (r3 is only in the topology file, 1 % loss on each of its links).
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

                let network = try NetworkTopology.parse("""
                    nodes:
                      - {name: r1, sids: {0: "fc00:1::"}, prefixes: ["fd00:1::/64"], daemon: "unix:\(r1Daemon.socket)", instance: \(r1Scratch.name), netns: \(r1.name)}
                      - {name: r2, sids: {0: "fc00:2::"}, prefixes: ["fd00:2::/64"], daemon: "unix:\(r2Daemon.socket)", instance: \(r2Scratch.name), netns: \(r2.name)}
                      - {name: r3, sids: {0: "fc00:3::"}}
                    links:
                      - {between: [r1, r2]}
                      - {between: [r1, r3], loss: 1}
                      - {between: [r3, r2], loss: 1}
                    """)
                var source = LinkTelemetry.Source.daemons
                var prometheus: Process?
                defer {
                    prometheus?.terminate()
                    prometheus?.waitUntilExit()
                }
                if reader == .prometheus {
                    let (process, url) = try Self.startPrometheus(scraping: [try #require(r1Daemon.metrics), try #require(r2Daemon.metrics)],
                                                                  scratch: r1Scratch)
                    prometheus = process
                    source = .prometheus(try PrometheusLinkSource(parsing: url))
                }
                let controller = IntentController(topology: network, settings: .init(holdDown: .seconds(3600)))
                let (session, _, _) = await controller.open(peer: "test")
                var request = Api_PathRequest()
                request.ipv6SourceAddress = "fd00:1::1"
                request.ipv6DestinationAddress = "fd00:2::2"
                request.intents = [.with { $0.type = .lowPacketLoss }]
                // No loss measured yet: straight to r2.
                #expect(await controller.ask(request, session: session).ipv6SidAddresses == ["fc00:2::"])

                let telemetry = LinkTelemetry(controller: controller, topology: network, source: source,
                                              settings: .init(interval: .milliseconds(100), grace: 0.05))
                let reading = Task { try await telemetry.run() }
                defer { reading.cancel() }
                var measured: LinkTelemetry.DirectionState?
                do {
                    try await KernelTest.waitUntil("the controller takes r1→r2's loss from \(reader)", timeout: .seconds(90)) {
                        try Traffic.sendUDP(from: h1, to: "fd00:2::2", port: 7012, payload: Array(repeating: 0x5a, count: 64), count: 2)
                        measured = await telemetry.status().directions.first { $0.from == "r1" && $0.to == "r2" }
                        return (measured?.sent ?? 0) >= 100
                    }
                } catch {
                    let status = await telemetry.status()
                    let log = (try? String(contentsOfFile: "\(r1Scratch.directory)/prometheus.log", encoding: .utf8))?.split(separator: "\n").suffix(5) ?? []
                    Issue.record("\(error); routers: \(status.routers); directions: \(status.directions); prometheus' log ends: \(log.joined(separator: " | "))")
                    return
                }
                let direction = try #require(measured)
                #expect(direction.flow == 12)
                // Binomial(n ≥ 100, ½): 0.5 ± 0.05; 0.25–0.75 is five standard deviations.
                let loss = try #require(direction.loss)
                #expect((0.25...0.75).contains(loss), "loss \(loss) of \(direction.sent ?? 0) packets at 50 % drop")
                let taken = try #require(await controller.topology.metrics(of: DirectedLink(from: "r1", to: "r2"))?.loss)
                #expect((0.25...0.75).contains(taken), "the controller's loss for r1→r2: \(taken)")
                // r2 sends nothing on the link: no figure the other way, and the file's 0 stays.
                #expect(await telemetry.status().directions.allSatisfy { $0.from == "r1" })
                #expect(await controller.topology.metrics(of: DirectedLink(from: "r2", to: "r1"))?.loss == 0)
                let routers = await telemetry.status().routers
                #expect(routers.map(\.router) == ["r1", "r2"] && routers.allSatisfy { $0.problem == nil && $0.monitoredLinks == 1 }, "\(routers)")
                // −ln(1 − loss) ≥ 0.29 on the link against 2 · −ln(0.99) ≈ 0.02 by r3: the request moves.
                await controller.recompute()
                let moved = try #require(await controller.status().sessions.first?.requests.first)
                #expect(moved.routers == ["r1", "r3", "r2"], "\(moved.reason)")
                #expect(moved.segments == ["fc00:3::", "fc00:2::"])
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
