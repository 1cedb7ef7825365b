import ArgumentParser
import Controller
import Foundation

/// `hike controller`: an intent path controller that speaks HawkEye's API.
struct ControllerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "An intent path controller: SRv6 paths for HawkWing clients, from a topology and its link metrics.",
        discussion: """
            `hike controller serve` answers HawkEye's api.IntentController/GetIntentPath: a \
            HawkWing client (hike wing client, or any client of HawkEye's proto) sends its \
            applications' intents (low-latency, low-jitter, low-packet-loss, high-bandwidth, \
            low-bandwidth, low-utilization, flex-algo, sfc, with bounds) and gets SID lists. Paths \
            are computed again when link metrics change (after a hold-down time) and pushed on \
            the open streams when a path broke, breaks a bound, or a better one beats it by the \
            flapping threshold. See docs/controller.md.
            """,
        subcommands: [Serve.self, Show.self, SetLink.self]
    )

    struct Connect: ParsableArguments {
        @Option(help: ArgumentHelp("The controller's address.", valueName: "host:port"))
        var connect = "[::1]:\(ControllerAddress.defaultPort)"

        func address() throws -> ControllerAddress { try ControllerAddress(parsing: connect) }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve paths for a topology file, until Ctrl-C or SIGTERM.",
            discussion: """
                The topology file lists the routers (their SIDs per algorithm, the host prefixes \
                behind them), the links with their metrics, and the service functions \
                (examples/controller/topology.yaml explains each key). Requests and path changes \
                are logged on standard output.
                """
        )
        @Option(help: ArgumentHelp("The topology file (YAML).", valueName: "file")) var topology: String
        @Option(help: ArgumentHelp("Where to listen for clients.", valueName: "host:port"))
        var listen = "[::]:\(ControllerAddress.defaultPort)"
        @Option(help: ArgumentHelp("Seconds metric changes are gathered before paths are computed again.", valueName: "seconds"))
        var holdDown: Double = 1
        @Option(help: ArgumentHelp("A working path is replaced only by one better by more than this share (0–1).", valueName: "share"))
        var flappingThreshold: Double = 0.1
        @Option(help: ArgumentHelp("Read the links' loss and load from this Prometheus server, which scrapes the routers' daemons, instead of from the daemons.", valueName: "url"))
        var prometheus: String?
        @Option(help: ArgumentHelp("Seconds between reads of the routers' daemons (routers with `daemon:` in the topology file), or of Prometheus.", valueName: "seconds"))
        var pollInterval: Double = 0.5
        @Option(help: ArgumentHelp("Seconds a colour must have been idle at a sender before its counters are taken as final.", valueName: "seconds"))
        var lossGrace: Double = 0.1

        func validate() throws {
            guard pollInterval.isFinite, (0.05...3600).contains(pollInterval) else { throw ValidationError("--poll-interval must be 0.05–3600 seconds") }
            guard lossGrace.isFinite, (0...3600).contains(lossGrace) else { throw ValidationError("--loss-grace must be 0–3600 seconds") }
            guard holdDown >= 0, holdDown <= 3600 else { throw ValidationError("--hold-down must be 0–3600 seconds") }
            guard (0..<1).contains(flappingThreshold) else { throw ValidationError("--flapping-threshold must be at least 0 and below 1") }
        }

        func run() async throws {
            let network = try NetworkTopology.load(file: topology)
            let address = try ControllerAddress(parsing: listen)
            let controller = IntentController(topology: network, settings: .init(holdDown: .milliseconds(Int64(holdDown * 1000)),
                                                                                 flappingThreshold: flappingThreshold)) { Terminal.line($0) }
            let source: LinkTelemetry.Source? = try prometheus.map { .prometheus(try PrometheusLinkSource(parsing: $0)) }
                ?? (network.daemons.isEmpty ? nil : .daemons)
            let telemetry = source.map { source in
                LinkTelemetry(controller: controller, topology: network, source: source,
                              settings: .init(interval: .milliseconds(Int64(pollInterval * 1000)), grace: lossGrace)) { Terminal.line($0) }
            }
            let server = Task {
                try await ControllerServer.run(controller, telemetry: telemetry, host: address.host, port: address.port) { port in
                    Terminal.line("hike controller: \(network.nodes.count) routers, \(network.links.count) links, \(network.services.count) "
                                  + "service functions; serving HawkEye's API on \(ControllerAddress(host: address.host, port: port)) (Ctrl-C ends)")
                    if let source {
                        Terminal.line("hike controller: reading the links' loss and load from \(source) every \(pollInterval) s")
                    }
                }
            }
            SignalWatch.install { _, _ in server.cancel() }
            defer { SignalWatch.remove() }
            do {
                try await server.value
            } catch is CancellationError {
                Terminal.line("hike controller: stopped")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a running controller's links with their metrics, and each session's requests and paths.")
        @OptionGroup var connect: Connect
        @OptionGroup var output: JSONOption

        func run() async throws {
            let status = try await ControllerClient.show(try connect.address())
            if output.json {
                Terminal.line(try Terminal.json(status))
                return
            }
            ControllerCommand.print(status)
        }
    }

    struct SetLink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-link",
            abstract: "Set metrics of a link (from → to) on a running controller, as a measurement would.",
            discussion: """
                What is not given stays. Paths are computed again after the hold-down time, and \
                clients whose path changes are sent the new one.
                """
        )
        @Argument(help: "The router the link leaves.") var from: String
        @Argument(help: "The router it goes to.") var to: String
        @Flag(help: "Set the way back (to → from) too.") var bothDirections = false
        @Option(help: ArgumentHelp("One-way delay.", valueName: "µs")) var delay: Double?
        @Option(help: ArgumentHelp("Delay variation.", valueName: "µs")) var jitter: Double?
        @Option(help: ArgumentHelp("Packet loss.", valueName: "percent")) var loss: Double?
        @Option(help: ArgumentHelp("Share of the bandwidth in use.", valueName: "percent")) var utilization: Double?
        @Option(help: ArgumentHelp("IGP metric.", valueName: "n")) var igpMetric: UInt32?
        @Option(help: ArgumentHelp("Capacity.", valueName: "kbit/s")) var bandwidth: UInt64?
        @OptionGroup var connect: Connect
        @OptionGroup var output: JSONOption

        func run() async throws {
            let change = LinkMetricsChange(delayMicroseconds: delay, jitterMicroseconds: jitter, lossPercent: loss,
                                           utilizationPercent: utilization, igpMetric: igpMetric, bandwidthKbps: bandwidth)
            let status = try await ControllerClient.set(change, from: from, to: to, bothDirections: bothDirections, at: try connect.address())
            let links = status.links.filter { ($0.from, $0.to) == (from, to) || (bothDirections && ($0.from, $0.to) == (to, from)) }
            if output.json {
                Terminal.line(try Terminal.json(links))
                return
            }
            for link in links { Terminal.line("\(link.from) → \(link.to): " + ControllerCommand.describe(link.metrics)) }
        }
    }

    static func describe(_ m: LinkMetrics) -> String {
        String(format: "igp %u, %.0f kbit/s, delay %.0f µs, jitter %.0f µs, loss %.2f %%, utilization %.1f %%",
               m.igpMetric, Double(m.bandwidthKbps), m.delayMicroseconds, m.jitterMicroseconds, m.loss * 100, m.utilization * 100)
    }

    static func print(_ status: ControllerStatus) {
        Terminal.line(String(format: "hike controller: %d routers, %d directed links, %d sessions; hold-down %.1f s, flapping threshold %.0f %%",
                             status.nodes.count, status.links.count, status.sessions.count, status.holdDownSeconds, status.flappingThreshold * 100))
        Terminal.line("links:")
        for link in status.links {
            let age = link.ageSeconds.map { " (\(link.source), " + String(format: "%.1f s ago)", $0) } ?? " (topology file)"
            Terminal.line("  \(link.from) → \(link.to): " + describe(link.metrics) + age)
        }
        if let telemetry = status.telemetry {
            Terminal.line("telemetry (routers read, directions measured):")
            for router in telemetry.routers {
                Terminal.line("  \(router.router) at \(router.daemon): " + (router.problem.map { "unreachable: \($0)" }
                              ?? "\(router.monitoredLinks) monitored link\(router.monitoredLinks == 1 ? "" : "s")"))
            }
            for direction in telemetry.directions {
                let loss = direction.loss.map { String(format: "loss %.2f %% (%lld of %llu)", $0 * 100, direction.lost ?? 0, direction.sent ?? 0) }
                    ?? "no period closed yet"
                let load = direction.utilization.map { String(format: ", utilization %.0f %%", $0 * 100) } ?? ""
                Terminal.line("  \(direction.from) → \(direction.to) (flow \(direction.flow)): \(loss)\(load)")
            }
        }
        for session in status.sessions {
            Terminal.line("session \(session.id) from \(session.peer), open " + String(format: "%.0f s:", session.openedSecondsAgo))
            for request in session.requests {
                Terminal.line("  \(request.source) → \(request.destination) [\(request.intents)]: "
                              + (request.routers?.joined(separator: " → ") ?? "no path"))
                Terminal.line("    SIDs: \(request.segments.joined(separator: ", "))")
                let when = String(format: "%.0f s ago", request.changedSecondsAgo)
                Terminal.line("    \(request.reason) (" + (request.changes == 0 ? "answered \(when))"
                              : "changed \(request.changes) time\(request.changes == 1 ? "" : "s"), the last \(when))"))
            }
        }
    }
}
