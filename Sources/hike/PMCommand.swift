import ArgumentParser
import BPFKit
import Daemon
import Foundation
import HikeRPC
import HikeControl
import HikeRuntime
import Monitoring
import NetKit

/// `hike pm …`: per-flow loss by alternate marking (the pm package), delay by STAMP, metrics.
struct PMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pm",
        abstract: "Performance monitoring: packet loss by alternate marking, delay by STAMP, Prometheus metrics.",
        discussion: """
            The ingress node's chain calls pm_mark(FLOW): it counts each packet under the active \
            colour and marks it (DSCP bits or an RFC 9343 AltMark option before the SRH). The egress \
            node's chain calls pm_count(0, STRIP): it counts each packet under the colour of its mark. \
            `hike pm collect` flips the ingress colour every period and compares both ends. \
            See docs/monitoring.md.
            """,
        subcommands: [Flow.self, Link.self, Flip.self, Collect.self, Stamp.self, Loss.self, Stats.self, Serve.self]
    )

    static func node(_ options: InstanceOptions) throws -> LocalMonitoredNode {
        LocalMonitoredNode(instance: try options.open())
    }

    static func node(_ target: Hike_V1_Target) throws -> LocalMonitoredNode {
        LocalMonitoredNode(instance: try target.open())
    }

    static func flowID(_ text: String) throws -> UInt32 {
        guard let value = UInt32(text), value >= 1, value <= PMABI.flowMax else {
            throw ValidationError("'\(text)' is not a flow ID: use 1–\(PMABI.flowMax) (the AltMark FlowMonID)")
        }
        return value
    }

    /// value seconds as a Duration, once validated (checkSeconds): finite and in range, so the
    /// conversion cannot trap.
    static func seconds(_ value: Double) -> Duration {
        value.isFinite && abs(value) < 1e9 ? .nanoseconds(Int64(value * 1e9)) : .zero
    }

    /// Checks that an option in seconds is a finite number in range.
    static func checkSeconds(_ value: Double, option: String, in range: ClosedRange<Double>) throws {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError("\(option) must be a number from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
    }

    static func percent(_ value: Double) -> String { String(format: "%.3f %%", value) }

    static func microseconds(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1e6) }

    // MARK: flow

    struct Flow: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Configure the flows a node marks or counts.",
            subcommands: [Add.self, Remove.self, List.self]
        )

        struct Add: NodeCommand {
            static let configuration = CommandConfiguration(
                commandName: "add",
                abstract: "Add a flow (loads the pm package into the instance if needed).",
                discussion: """
                    At the ingress node give --mode (how pm_mark, or the headend of an SR policy \
                    monitored as this flow, marks it). At an egress node leave it out: pm_count reads \
                    the mode from the mark. --destination names the flow at an \
                    egress that counts DSCP-marked packets with pm_count(0): the outer destination, \
                    i.e. the last SID of the flow's SID list.
                    """
            )
            @Argument(help: ArgumentHelp("The flow ID, 1–4095 (the AltMark FlowMonID; a monitored SR policy names it in its pm-flow).", valueName: "flow"))
            var flow: String
            @Option(help: ArgumentHelp("How the ingress marks it: dscp or altmark.", valueName: "mode"))
            var mode: String?
            @Option(help: ArgumentHelp("Outer IPv6 destination that identifies the flow at an egress (DSCP marks).", valueName: "address"))
            var destination: String?
            @OptionGroup var instance: InstanceOptions

            func validate() throws {
                _ = try PMCommand.flowID(flow)
                if let mode, MarkingMode(rawValue: mode.lowercased()) == nil {
                    throw ValidationError("--mode '\(mode)' is not a marking mode: use dscp or altmark")
                }
                var address = in6_addr()
                if let destination, inet_pton(AF_INET6, destination, &address) != 1 {
                    throw ValidationError("--destination '\(destination)' is not an IPv6 address")
                }
            }

            func operation() throws -> NodeOperation {
                .addFlow(.with {
                    $0.target = instance.target()
                    $0.flow = flow
                    if let mode { $0.mode = mode }
                    if let destination { $0.destination = destination }
                })
            }

            static func perform(_ request: Hike_V1_AddFlowRequest) throws {
                let instance = request.target
                let flow = request.flow
                let mode = request.mode.nonEmpty
                let destination = request.destination.nonEmpty
                let id = try PMCommand.flowID(flow)
                let parsed = try mode.map(MarkingMode.init(parsing:))
                let dataPlane = DataPlane(instance: try instance.open())
                try dataPlane.addMonitoringFlow(id, mode: parsed, destination: destination)
                Terminal.line("flow \(id) on \(dataPlane.instance.name): " + (parsed.map { "marked with \($0.rawValue)" } ?? "counted at the egress"))
            }
        }

        struct Remove: NodeCommand {
            static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a flow and its counters.")
            @Argument(help: ArgumentHelp("The flow ID.", valueName: "flow"))
            var flow: String
            @OptionGroup var instance: InstanceOptions

            func validate() throws { _ = try PMCommand.flowID(flow) }

            func operation() throws -> NodeOperation {
                .removeFlow(.with {
                    $0.target = instance.target()
                    $0.flow = flow
                })
            }

            static func perform(_ request: Hike_V1_RemoveFlowRequest) throws {
                let instance = request.target
                let flow = request.flow
                try DataPlane(instance: try instance.open()).removeMonitoringFlow(try PMCommand.flowID(flow))
            }
        }

        struct List: NodeCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "The flows and their counters by colour.")
            @OptionGroup var instance: InstanceOptions
            @OptionGroup var output: JSONOption

            struct Row: Encodable {
                let flow: UInt32
                let mode: String?
                let destination: String?
                let counters: [FlowCounter]
            }

            @OptionGroup var watching: WatchOption

            mutating func run() async throws {
                try await instance.execute(try operation(), watch: watching.interval)
            }

            func operation() throws -> NodeOperation {
                .listFlows(.with {
                    $0.target = instance.target(json: output.json)
                })
            }

            static func perform(_ request: Hike_V1_ListFlowsRequest) throws {
                let output = JSONFlag(request.target.json), instance = request.target
                let node = try PMCommand.node(instance)
                let counters = try node.counters(at: .ingress) + node.counters(at: .egress)
                let rows = try node.flows().map { f in
                    Row(flow: f.flow, mode: f.mode?.rawValue, destination: f.destination, counters: counters.filter { $0.flow == f.flow })
                }
                if output.json {
                    Terminal.line(try Terminal.json(rows))
                    return
                }
                var table = TextTable(["flow", "mode", "destination", "marked 0", "marked 1", "counted 0", "counted 1"],
                                      rightAligned: [0, 3, 4, 5, 6])
                for row in rows {
                    func packets(_ point: CountingPoint, _ colour: Colour) -> String {
                        String(row.counters.first { $0.point == point && $0.colour == colour }?.packets ?? 0)
                    }
                    table.append([String(row.flow), row.mode ?? "-", row.destination ?? "-", packets(.ingress, .zero),
                                  packets(.ingress, .one), packets(.egress, .zero), packets(.egress, .one)])
                }
                Terminal.line(table.render())
                Terminal.line("active colour: \(try node.activeColour().rawValue)")
            }
        }
    }

    // MARK: link

    struct Link: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Monitor links between neighbours: loss by alternate marking hop by hop, and loss injection.",
            discussion: """
                On each end of a link: `set` the interface with the flow of the direction it sends \
                (--send-flow) and the flow of the one it receives (--receive-flow); the neighbour \
                gives the same two IDs the other way round. hike's XDP forwarders (ip6_kroute, the srv6 \
                endpoints) count and mark what they send on the interface, the srv6_localsid loader \
                counts what it receives; `hike pm collect` with the sender as ingress and the receiver \
                as egress gives the loss of that direction. --drop makes the interface drop that share \
                of what it receives (neighbour discovery excepted), as a lossy wire would. \
                See docs/monitoring.md#link-monitoring.
                """,
            subcommands: [Update.self, Remove.self, List.self]
        )

        struct Update: NodeCommand {
            static let configuration = CommandConfiguration(
                commandName: "set",
                abstract: "Monitor an interface, or change what it does (loads the pm package if needed).",
                discussion: "A flow the node does not have yet is added: the send flow marked with DSCP, the receive flow counted, both from zero."
            )
            @Argument(help: ArgumentHelp("The interface.", valueName: "interface"))
            var interface: String
            @Option(help: ArgumentHelp("The network namespace of the interface (default: that of hike, or of the daemon that runs the request).", valueName: "name"))
            var netns: String?
            @Option(name: .customLong("send-flow"), help: ArgumentHelp("The flow of what this node sends on the interface (1–4095).", valueName: "flow"))
            var sendFlow: String?
            @Option(name: .customLong("receive-flow"), help: ArgumentHelp("The flow of what it receives on it: the neighbour's send flow.", valueName: "flow"))
            var receiveFlow: String?
            @Option(help: ArgumentHelp("Drop this share of what the interface receives, in percent (0–100; 0: none).", valueName: "percent"))
            var drop: Double = 0
            @OptionGroup var instance: InstanceOptions

            func validate() throws {
                if let sendFlow { _ = try PMCommand.flowID(sendFlow) }
                if let receiveFlow { _ = try PMCommand.flowID(receiveFlow) }
                try Self.check(drop: drop)
                if sendFlow == nil && receiveFlow == nil && drop == 0 {
                    throw ValidationError("give --send-flow, --receive-flow or --drop (`hike pm link rm` stops monitoring)")
                }
            }

            func operation() throws -> NodeOperation {
                .setLink(.with {
                    $0.target = instance.target()
                    $0.interface = interface
                    if let netns { $0.netns = netns }
                    if let sendFlow { $0.sendFlow = sendFlow }
                    if let receiveFlow { $0.receiveFlow = receiveFlow }
                    $0.dropPercent = drop
                })
            }

            static func perform(_ request: Hike_V1_SetLinkRequest) throws {
                let send = try request.sendFlow.nonEmpty.map(PMCommand.flowID)
                let receive = try request.receiveFlow.nonEmpty.map(PMCommand.flowID)
                let drop = request.dropPercent
                try check(drop: drop)
                let dataPlane = DataPlane(instance: try request.target.open())
                try dataPlane.setMonitoredLink(interface: request.interface, netns: request.netns.nonEmpty, sendFlow: send,
                                               receiveFlow: receive, dropPercent: drop)
                Terminal.line("\(request.interface) on \(dataPlane.instance.name): " + Link.describe(send: send, receive: receive, drop: drop))
            }

            static func check(drop: Double) throws {
                guard drop.isFinite, (0...100).contains(drop) else { throw ValidationError("--drop must be a percentage 0–100, not \(drop)") }
            }
        }

        struct Remove: NodeCommand {
            static let configuration = CommandConfiguration(commandName: "rm", abstract: "Stop monitoring an interface (its flows and counters stay: hike pm flow rm).")
            @Argument(help: ArgumentHelp("The interface.", valueName: "interface"))
            var interface: String
            @Option(help: ArgumentHelp("The network namespace of the interface (default: that of hike, or of the daemon that runs the request).", valueName: "name"))
            var netns: String?
            @OptionGroup var instance: InstanceOptions

            func operation() throws -> NodeOperation {
                .removeLink(.with {
                    $0.target = instance.target()
                    $0.interface = interface
                    if let netns { $0.netns = netns }
                })
            }

            static func perform(_ request: Hike_V1_RemoveLinkRequest) throws {
                try DataPlane(instance: try request.target.open()).removeMonitoredLink(interface: request.interface, netns: request.netns.nonEmpty)
            }
        }

        struct List: NodeCommand {
            static let configuration = CommandConfiguration(
                commandName: "list",
                abstract: "The monitored interfaces, their flows' counters by colour and the interfaces' own.",
                discussion: "--json is what a controller reads: with the active colour and since when (colourSince, Unix seconds) it is active."
            )
            @Option(help: ArgumentHelp("The namespace of the interfaces (default: that of hike, or of the daemon that runs the request).", valueName: "name"))
            var netns: String?
            @OptionGroup var instance: InstanceOptions
            @OptionGroup var output: JSONOption

            func operation() throws -> NodeOperation {
                .listLinks(.with {
                    $0.target = instance.target(json: output.json)
                    if let netns { $0.netns = netns }
                })
            }

            static func perform(_ request: Hike_V1_ListLinksRequest) throws {
                let report = try DataPlane(instance: try request.target.open()).linkReport(netns: request.netns.nonEmpty)
                if request.target.json {
                    Terminal.line(try Terminal.json(report))
                    return
                }
                var table = TextTable(["interface", "send flow", "sent 0", "sent 1", "receive flow", "received 0", "received 1", "drop", "tx bytes", "rx bytes"],
                                      rightAligned: Set(1...9))
                for link in report.links { table.append(row(link)) }
                Terminal.line(table.render())
                Terminal.line("active colour: \(report.activeColour.rawValue)")
            }

            static func row(_ link: LinkReport.Link) -> [String] {
                func packets(_ counts: [PacketCounter], _ colour: Int) -> String {
                    counts.count > colour ? String(counts[colour].packets) : "-"
                }
                let flows: [String] = [link.sendFlow.map(String.init) ?? "-", packets(link.sent, 0), packets(link.sent, 1),
                                       link.receiveFlow.map(String.init) ?? "-", packets(link.received, 0), packets(link.received, 1)]
                let totals: [String] = [link.interfaceCounters.map { String($0.txBytes) } ?? "-", link.interfaceCounters.map { String($0.rxBytes) } ?? "-"]
                return [link.interface] + flows + [PMCommand.percent(link.dropPercent)] + totals
            }
        }

        static func describe(send: UInt32?, receive: UInt32?, drop: Double) -> String {
            [send.map { "sends flow \($0)" }, receive.map { "receives flow \($0)" },
             drop > 0 ? "drops \(PMCommand.percent(drop)) of what it receives" : nil].compactMap { $0 }.joined(separator: ", ")
        }
    }

    // MARK: flip

    struct Flip: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Flip the colour the node marks (collect does it every period).")
        @OptionGroup var instance: InstanceOptions

        func run() throws {
            let colour = try PMCommand.node(instance).flip()
            Terminal.line("active colour: \(colour.rawValue)")
        }
    }

    // MARK: collect

    struct Collect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure loss per period between an ingress and an egress node.",
            discussion: """
                Every period T the ingress colour flips; T/2 later the colour that just ended is read \
                at both nodes. Each period prints: sent (marked at the ingress), received (counted \
                at the egress), lost, loss %. The first report comes after 1.5 T.
                """
        )
        @Option(help: ArgumentHelp("The ingress node's HIKe instance (it marks).", valueName: "instance"))
        var ingress: String
        @Option(help: ArgumentHelp("The egress node's HIKe instance (it counts).", valueName: "instance"))
        var egress: String
        @Option(help: ArgumentHelp("The period T in seconds.", valueName: "seconds"))
        var period: Double = 1
        @Option(help: ArgumentHelp("How many periods to report.", valueName: "n"))
        var periods: Int = 10
        @Option(name: .customLong("flow"), help: ArgumentHelp("Report only this flow (repeatable).", valueName: "flow"))
        var flows: [String] = []
        @OptionGroup var output: JSONOption

        func validate() throws {
            try PMCommand.checkSeconds(period, option: "--period (seconds)", in: 0.01...86_400)
            if periods < 1 || periods > 1_000_000 { throw ValidationError("--periods must be 1–1000000") }
            for flow in flows { _ = try PMCommand.flowID(flow) }
        }

        func run() throws {
            let collector = try LossCollector(
                ingress: LocalMonitoredNode(instance: try HikeInstance(name: ingress)),
                egress: LocalMonitoredNode(instance: try HikeInstance(name: egress)),
                period: PMCommand.seconds(period), flows: flows.isEmpty ? nil : Set(try flows.map(PMCommand.flowID)))
            if !output.json { Terminal.line("period  colour  flow  sent  received  lost  loss") }
            let reports = try collector.run(periods: periods, report: { report in
                if !output.json {
                    for f in report.flows {
                        Terminal.line("\(report.period)  \(report.colour.rawValue)  \(f.flow)  \(f.sent)  \(f.received)  \(f.lost)  \(PMCommand.percent(f.lossPercent))")
                    }
                }
                return true
            })
            if output.json { Terminal.line(try Terminal.json(reports)) }
        }
    }

    // MARK: stamp

    struct Stamp: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a STAMP test session (RFC 8762 with the RFC 8972 SSID) against a reflector.",
            discussion: """
                Sends test packets from a UDP socket opened inside --netns (hike's own namespace without \
                it) and prints round-trip delay (T4−T1)−(T3−T2), one-way delays T2−T1 and T4−T3 (min, \
                median, p99, max) and the test packets lost. The reflector: the stamp package's chain \
                (docs/packages.md#stamp) on the far node.
                """
        )
        @Option(help: ArgumentHelp("The reflector's IPv6 address.", valueName: "address"))
        var to: String
        @Option(help: ArgumentHelp("The namespace to send from.", valueName: "name"))
        var netns: String?
        @Option(help: "The reflector's UDP port.")
        var port: UInt16 = STAMPSessionSender.reflectorPort
        @Option(help: "The session-sender identifier (RFC 8972 SSID).")
        var ssid: UInt16 = 1
        @Option(help: "Test packets to send.")
        var count: Int = 100
        @Option(help: ArgumentHelp("Milliseconds between test packets.", valueName: "ms"))
        var interval: Double = 10
        @Option(help: ArgumentHelp("Seconds to wait for replies after the last packet.", valueName: "seconds"))
        var timeout: Double = 1
        @OptionGroup var output: JSONOption

        func validate() throws {
            if count < 1 || count > STAMPSessionSender.maxCount {
                throw ValidationError("--count must be 1–\(STAMPSessionSender.maxCount)")
            }
            try PMCommand.checkSeconds(interval, option: "--interval (milliseconds)", in: 0...60_000)
            try PMCommand.checkSeconds(timeout, option: "--timeout (seconds)", in: 0...3600)
        }

        func run() throws {
            let namespace = try netns.map { try NetworkNamespace(existing: $0) }
            let sender = try STAMPSessionSender(destination: to, port: port, ssid: ssid, namespace: namespace)
            let (result, _) = try sender.run(count: count, interval: PMCommand.seconds(interval / 1000),
                                             timeout: PMCommand.seconds(timeout))
            if output.json {
                Terminal.line(try Terminal.json(result))
                return
            }
            Terminal.line("STAMP session \(result.ssid) to \(result.destination): \(result.sent) sent, \(result.received) received, \(result.lost) lost (\(PMCommand.percent(result.lossPercent)))")
            var table = TextTable(["delay (µs)", "min", "median", "p99", "max"], rightAligned: [1, 2, 3, 4])
            for (name, stats) in [("round trip", result.roundTrip), ("forward", result.forward), ("backward", result.backward)] {
                guard let stats else { continue }
                table.append([name] + [stats.min, stats.median, stats.p99, stats.max].map(PMCommand.microseconds))
            }
            if result.received > 0 { Terminal.line(table.render()) }
        }
    }

    // MARK: loss

    struct Loss: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make pm_loss drop the next K packets of a flow and colour (fault injection for tests and demos).",
            discussion: "pm_loss must be in the node's chain before pm_count. Without --count, shows what is armed and what was dropped."
        )
        @Option(help: ArgumentHelp("The flow.", valueName: "flow"))
        var flow: String?
        @Option(help: ArgumentHelp("The colour to drop (0 or 1); default: the node's active colour.", valueName: "colour"))
        var colour: UInt32?
        @Option(help: ArgumentHelp("Packets to drop.", valueName: "k"))
        var count: Int64?
        @OptionGroup var instance: InstanceOptions

        func validate() throws {
            if let flow { _ = try PMCommand.flowID(flow) }
            if let colour, colour > 1 { throw ValidationError("--colour must be 0 or 1") }
            if let count, count < 0 { throw ValidationError("--count must not be negative") }
            if count != nil && flow == nil { throw ValidationError("--count needs --flow") }
        }

        func run() throws {
            let node = try PMCommand.node(instance)
            if let count, let flow {
                let chosen = try colour.flatMap(Colour.init(rawValue:)) ?? node.activeColour()
                try node.injectLoss(flow: try PMCommand.flowID(flow), colour: chosen, count: count)
            }
            let state = try node.lossInjection()
            Terminal.line("pm_loss on \(node.name): \(state.remaining) to drop, \(state.dropped) dropped so far")
        }
    }

    // MARK: stats

    struct Stats: NodeCommand {
        static let configuration = CommandConfiguration(abstract: "The pm programs' counters by outcome (pm_stats).")
        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @OptionGroup var watching: WatchOption

        mutating func run() async throws {
            try await instance.execute(try operation(), watch: watching.interval)
        }

        func operation() throws -> NodeOperation {
            .monitoringStats(.with {
                $0.target = instance.target(json: output.json)
            })
        }

        static func perform(_ request: Hike_V1_MonitoringStatsRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let stats = try PMCommand.node(instance).statistics()
            if output.json {
                Terminal.line(try Terminal.json(stats))
            } else {
                var table = TextTable(["outcome", "packets"], rightAligned: [1])
                for name in PMABI.statNames { table.append([name, String(stats[name] ?? 0)]) }
                Terminal.line(table.render())
            }
        }
    }

    // MARK: serve

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve Prometheus metrics (GET /metrics) until interrupted.",
            discussion: """
                Exposes the counters of --ingress and --egress at each scrape. With --period it also \
                runs the collector (per-period loss); with --stamp-to, a STAMP session every period \
                (delay). Metric names: docs/monitoring.md.
                """
        )
        @Option(help: ArgumentHelp("Where to listen: HOST:PORT, [IPV6]:PORT or :PORT.", valueName: "address"))
        var listen: String
        @Option(help: ArgumentHelp("The ingress node's HIKe instance.", valueName: "instance"))
        var ingress: String
        @Option(help: ArgumentHelp("The egress node's HIKe instance.", valueName: "instance"))
        var egress: String
        @Option(help: ArgumentHelp("Run the collector with this period, in seconds.", valueName: "seconds"))
        var period: Double?
        @Option(help: ArgumentHelp("A STAMP reflector to measure delay to, every period.", valueName: "address"))
        var stampTo: String?
        @Option(help: ArgumentHelp("The namespace STAMP sends from.", valueName: "name"))
        var stampNetns: String?
        @Option(help: "STAMP test packets per session.")
        var stampCount: Int = 10

        func validate() throws {
            if let period { try PMCommand.checkSeconds(period, option: "--period (seconds)", in: 0.01...86_400) }
            if stampTo != nil && period == nil { throw ValidationError("--stamp-to needs --period (one session per period)") }
            if stampCount < 1 || stampCount > 10_000 { throw ValidationError("--stamp-count must be 1–10000") }
        }

        func run() throws {
            let ingressNode = LocalMonitoredNode(instance: try HikeInstance(name: ingress))
            let egressNode = LocalMonitoredNode(instance: try HikeInstance(name: egress))
            let metrics = MonitoringMetrics(nodes: [(ingressNode, .ingress), (egressNode, .egress)])
            _ = try metrics.exposition()  // fail now, not at the first scrape, if a node has no pm package
            let loop = try period.map {
                try MonitoringLoop(.init(ingress: ingress, egress: egress, period: $0, stampTo: stampTo, stampNetns: stampNetns,
                                         stampCount: stampCount), ingress: ingressNode, egress: egressNode)
            }
            let endpoint = try MetricsEndpoint(listen: listen) { try metrics.exposition() }
            Terminal.line("serving \(endpoint.url)")
            guard let loop else {
                while true { pause() }  // until a signal ends the process
            }
            try loop.run(metrics: metrics)
        }
    }
}
