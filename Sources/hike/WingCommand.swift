import ArgumentParser
import BPFKit
import Foundation
import SRv6
import Wing

/// `hike wing`: application-centric SRv6 on hosts (HawkWing).
struct WingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wing",
        abstract: "Application-centric SRv6 on hosts: SID lists per application, learned and reversed by servers.",
        discussion: """
            A client pushes an SRH on each packet to a configured service and application port \
            (tc egress) and removes SRHs addressed to it (XDP); a server learns each client flow's \
            path from its SRH and sends the replies back along it. HawkWing's configuration file \
            loads unchanged. The data plane stays attached after the command returns, until \
            `hike wing stop`. See docs/wing.md.
            """,
        subcommands: [Client.self, Server.self, Session.self, Show.self, Stop.self, Check.self]
    )

    struct Site: ParsableArguments {
        @Option(name: [.short, .long], help: ArgumentHelp("The host's interface toward the network.", valueName: "name"))
        var interface: String

        @Option(help: ArgumentHelp("The network namespace the interface is in (as in ip netns list).", valueName: "name"))
        var netns: String?

        var site: WingSite { WingSite(interface: interface, namespace: netns) }
    }

    static func print(_ status: WingStatus, json: Bool) throws {
        if json {
            Terminal.line(try Terminal.json(status))
            return
        }
        Terminal.line("hike wing \(status.role.rawValue) on \(status.interface)"
            + (status.namespace.map { " (namespace \($0))" } ?? "") + ", XDP \(status.xdpMode)"
            + (status.hawkeye.map { ", intent controller \($0)" } ?? "")
            + (status.microSIDs.map { ", uSID containers \($0)" } ?? ""))
        for service in status.services {
            Terminal.line("service \(service.name) (id \(service.id))" + (service.domainName.map { " \($0)" } ?? "")
                + ": " + (service.addresses.isEmpty ? "no address yet" : service.addresses.joined(separator: ", ")))
            for application in service.applications {
                let port = application.port == 0 ? "icmpv6 echo" : "port \(application.port)"
                Terminal.line("  \(port) → \(application.segments.joined(separator: " → "))" + (application.encapsulated ? "  (encapsulated)" : ""))
            }
        }
        if status.role == .server {
            Terminal.line("\(status.flows.count) learned flows (forgotten after \(status.flowIdleSeconds ?? 0) s idle)")
            for flow in status.flows {
                Terminal.line("  [\(flow.client)]:\(flow.port)/\(flow.proto) ← \(flow.segments.joined(separator: " → "))"
                    + String(format: "  idle %.1f s", flow.idleSeconds))
            }
        }
        for name in WingABI.stats where (status.counters[name] ?? 0) != 0 {
            Terminal.line("  \(name): \(status.counters[name] ?? 0)")
        }
    }

    struct Client: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a client: push each configured application's SID list.",
            discussion: """
                FILE is HawkWing's YAML configuration (client_ipv6_address, hawkeye, services with \
                domain_name or ipv6_addresses, applications with port, sid and intents). Every \
                error is reported with file:line:col before anything changes. Port 0 is hike's \
                addition: the path of ICMPv6 echo (ping). With hawkeye enabled, the command stays \
                in the foreground on HawkEye's stream (api.IntentController/GetIntentPath) and \
                writes each path it answers; Ctrl-C ends the stream and leaves the data plane.
                """
        )
        @OptionGroup var where_: Site
        @Option(help: ArgumentHelp("HawkWing's configuration file.", valueName: "file")) var config: String
        @Option(help: "native (in the driver) or generic (in the network stack, any interface).")
        var mode: ModeArgument = .native
        @Flag(help: "Start with the static sid lists only, even when the configuration enables hawkeye.")
        var noController = false
        @Option(help: ArgumentHelp("Pack each path's runs of uN SIDs of one block into NEXT-C-SID containers: the block and C-SID lengths in bits.",
                                   valueName: "block/node"))
        var usid: String?
        @OptionGroup var output: JSONOption

        func run() async throws {
            let configuration = try WingConfiguration.load(file: config)
            let site = where_.site
            let format = try usid.map { text throws(SRv6Error) in try MicroSIDFormat(parsing: text) }
            // The record keeps the file's absolute path: `hike wing session` reads it again from anywhere.
            let file = URL(fileURLWithPath: config).standardizedFileURL.path
            try WingCommand.print(WingHost.startClient(configuration, on: site, xdpMode: mode.mode, configFile: file, microSIDs: format),
                                  json: output.json)
            guard let controller = configuration.hawkeye, !noController else { return }
            try await WingCommand.askController(configuration, controller: controller, on: site)
        }
    }

    struct Session: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the intent controller of a running client for its paths, until stopped.",
            discussion: """
                For a client started without its controller (hike wing client --no-controller, or a \
                testbed's wing role, which runs this in the background): reads the client's \
                configuration file again and keeps HawkEye's stream open from this namespace, \
                writing each path it answers, as hike wing client does in the foreground. Ctrl-C \
                or SIGTERM ends it; the paths stay.
                """
        )
        @OptionGroup var where_: Site

        func run() async throws {
            let site = where_.site
            let (configuration, controller) = try WingHost.controllerSettings(of: site)
            try await WingCommand.askController(configuration, controller: controller, on: site)
        }
    }

    /// Keeps the controller's stream open, writing each path, until SIGINT or SIGTERM.
    static func askController(_ configuration: WingConfiguration, controller: HawkEyeEndpoint, on site: WingSite) async throws {
        let source = try WingHost.sourceAddress(configuration, on: site)
        Terminal.line("asking the intent controller at [\(controller.address)]:\(controller.port) as \(source) (Ctrl-C ends)")
        let session = Task {
            await IntentSession.run(configuration, on: site, controller: controller, source: source) { Terminal.line($0) }
        }
        SignalWatch.install { _, _ in session.cancel() }
        await session.value
        SignalWatch.remove()
        Terminal.line("stopped asking the controller; the paths stay (hike wing stop -i \(site.interface) removes the data plane)")
    }

    struct Server: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a server: learn each client flow's path and reply along it, reversed.",
            discussion: """
                A packet with an SRH for this host (Segments Left 0, the destination one of its \
                addresses) has the SRH removed; its list, reversed, becomes the path of the replies \
                to the client's address and port. Flows idle longer than --flow-idle are forgotten; \
                at most 65,536 are kept (the least recently used go first). With --usid, a learned \
                uSID container (a run of C-SIDs after the block, then zeros) has its C-SIDs reversed \
                too, so the replies visit its nodes backwards.
                """
        )
        @OptionGroup var where_: Site
        @Option(help: ArgumentHelp("Seconds a learned flow is kept without packets (0: until evicted).", valueName: "seconds"))
        var flowIdle: UInt32 = 300
        @Option(help: "native (in the driver) or generic (in the network stack, any interface).")
        var mode: ModeArgument = .native
        @Option(help: ArgumentHelp("Reverse the C-SIDs of learned uSID containers too: the block and C-SID lengths in bits (C-SIDs of 16).",
                                   valueName: "block/node"))
        var usid: String?
        @OptionGroup var output: JSONOption

        func run() throws {
            let format = try usid.map { text throws(SRv6Error) in try MicroSIDFormat(parsing: text) }
            try WingCommand.print(WingHost.startServer(on: where_.site, xdpMode: mode.mode, flowIdleSeconds: flowIdle, microSIDs: format),
                                  json: output.json)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show services, paths, learned flows and counters (every served interface without -i).")
        @Option(name: [.short, .long], help: ArgumentHelp("One served interface.", valueName: "name")) var interface: String?
        @Option(help: ArgumentHelp("The network namespace the interface is in.", valueName: "name")) var netns: String?
        @OptionGroup var output: JSONOption

        func run() throws {
            let sites = interface.map { [WingSite(interface: $0, namespace: netns)] } ?? WingSite.all()
            let statuses = try sites.map { site throws(WingError) in try WingHost.status(of: site) }
            if output.json {
                // One interface: its status; all: a list.
                Terminal.line(interface == nil ? try Terminal.json(statuses) : try Terminal.json(statuses[0]))
                return
            }
            if statuses.isEmpty { Terminal.line("hike wing serves no interface") }
            for status in statuses { try WingCommand.print(status, json: false) }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Detach hike wing from an interface and forget its state.")
        @OptionGroup var where_: Site

        func run() throws {
            try WingHost.stop(where_.site)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration file and print what it says, changing nothing.")
        @Argument(help: "HawkWing's configuration file.") var file: String
        @OptionGroup var output: JSONOption

        func run() throws {
            let configuration = try WingConfiguration.load(file: file)
            if output.json {
                Terminal.line(try Terminal.json(configuration))
                return
            }
            Terminal.line("\(file): \(configuration.services.count) services; intent controller "
                + (configuration.hawkeye.map { "[\($0.address)]:\($0.port)" } ?? "off"))
            for service in configuration.services {
                Terminal.line("service \(service.name) (id \(service.id))" + (service.domainName.map { " \($0)" } ?? "")
                    + (service.addresses.isEmpty ? "" : " " + service.addresses.map(\.description).joined(separator: ", ")))
                for application in service.applications {
                    let intents = application.intents.map(\.kind.rawValue).joined(separator: ", ")
                    Terminal.line("  port \(application.port): "
                        + (application.segments.isEmpty ? "no static SID list" : application.segments.map(\.description).joined(separator: " → "))
                        + (intents.isEmpty ? "" : "; intents \(intents)"))
                }
            }
        }
    }
}
