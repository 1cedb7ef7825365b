import ArgumentParser
import BPFKit
import Daemon
import Foundation
import HikeRPC
import HikeControl
import HikeRuntime
import HikeVM

/// `hike loader …`: the XDP entry points that start packets on chains.
struct LoaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "Attach loaders (XDP programs that start packets on chains) to interfaces.",
        subcommands: [List.self, Attach.self, Detach.self]
    )
}

/// How `--mode` is written.
/// How `--hook` is written: XDP (in the mode --mode says) or a tc clsact hook.
enum HookArgument: String, ExpressibleByArgument, CaseIterable {
    case xdp
    case tcIngress = "tc-ingress"
    case tcEgress = "tc-egress"

    func hook(mode: XDPMode) -> LoaderHook {
        switch self {
        case .xdp: .xdp(mode)
        case .tcIngress: .tc(.ingress)
        case .tcEgress: .tc(.egress)
        }
    }
}

enum ModeArgument: String, ExpressibleByArgument, CaseIterable {
    case native, generic

    var mode: XDPMode {
        switch self {
        case .native: .native
        case .generic: .generic
        }
    }
}

/// How `--default-verdict` is written.
enum VerdictArgument: String, ExpressibleByArgument, CaseIterable {
    case drop, pass, aborted, tx

    var value: UInt32 {
        switch self {
        case .drop: ABI.xdpDrop
        case .pass: ABI.xdpPass
        case .aborted: ABI.xdpAborted
        case .tx: ABI.xdpTX
        }
    }
}

/// An attachment as the listings print it.
struct AttachmentRow: Encodable {
    let loader: String
    let interface: String
    let namespace: Nullable<String>
    let mode: String
    let chain: Nullable<String>
    let defaultVerdict: String
    let directory: String
    /// The kernel's ID of the attached program; nil when it is gone (its interface or namespace
    /// was deleted).
    let programID: Nullable<UInt32>

    init(_ record: AttachmentRecord) {
        loader = record.loader
        interface = record.interface
        namespace = Nullable(record.namespace)
        mode = record.mode
        chain = Nullable(record.chain)
        defaultVerdict = Format.verdict(record.defaultVerdict)
        directory = record.directory
        programID = Nullable(HikeInstance.attachedProgramID(record))
    }

    var place: String { interface + (namespace.value.map { " in namespace \($0)" } ?? "") }
}

extension LoaderCommand {
    struct List: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the loaders hike carries and where they are attached."
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        struct Loader: Encodable {
            let name: String
            let package: String
            let maps: [String]
            let takesRoutes: Bool
            let attachments: Int
        }

        struct Listing: Encodable {
            let loaders: [Loader]
            let attachments: [AttachmentRow]
        }

        @OptionGroup var watching: WatchOption

        mutating func run() async throws {
            try await instance.execute(try operation(), watch: watching.interval)
        }

        func operation() throws -> NodeOperation {
            .listLoaders(.with {
                $0.target = instance.target(json: output.json)
            })
        }

        static func perform(_ request: Hike_V1_ListLoadersRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let hike = try instance.open()
            let records = try hike.attachments()
            let loaders = hike.catalog.entries.filter { $0.kind == .loader }.map { entry in
                Loader(name: entry.name, package: entry.package, maps: entry.maps,
                       takesRoutes: entry.maps.contains { $0.hasSuffix("_routes") },
                       attachments: records.filter { $0.loader == entry.name }.count)
            }
            let attachments = records.map(AttachmentRow.init)
            if output.json {
                Terminal.line(try Terminal.json(Listing(loaders: loaders, attachments: attachments)))
                return
            }
            var table = TextTable(["LOADER", "PACKAGE", "ROUTES", "MAPS", "ATTACHED"], rightAligned: [4])
            for loader in loaders {
                table.append([loader.name, loader.package, loader.takesRoutes ? "yes" : "no", Format.list(loader.maps),
                              String(loader.attachments)])
            }
            Terminal.line(table.render())
            Terminal.line("")
            if attachments.isEmpty {
                Terminal.line("no loader attached in instance '\(hike.name)'; attach one with: hike loader attach LOADER DEV --chain CHAIN")
                return
            }
            var attached = TextTable(["INTERFACE", "NAMESPACE", "LOADER", "MODE", "CHAIN", "DEFAULT", "PROG ID"], rightAligned: [6])
            for row in attachments {
                attached.append([row.interface, row.namespace.value ?? "-", row.loader, row.mode, row.chain.value ?? "(routes)",
                                 row.defaultVerdict, row.programID.value.map(String.init) ?? "gone"])
            }
            Terminal.line(attached.render())
        }
    }

    struct Attach: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "attach",
            abstract: "Attach a loader to an interface.",
            discussion: """
                Loads a copy of the loader with maps of its own, points it at a chain (or, for \
                ip6_lpm_classifier, at chains by destination prefix) and attaches it: at XDP \
                through a pinned bpf_link, at a tc hook (--hook tc-ingress or tc-egress: a host's \
                own traffic) as a clsact filter. It stays attached after hike exits, until hike \
                loader detach. Chains run the same at either hook; at tc they call the programs' tc \
                builds, which the packages that can run on an skb have (hike prog list shows them).
                """
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "The loader (see hike loader list).")
        var loader: String

        @Argument(help: "The interface.")
        var device: String

        @Option(help: ArgumentHelp("The network namespace the interface is in (as in ip netns list).", valueName: "name"))
        var netns: String?

        @Option(help: "xdp, or tc-ingress / tc-egress (the interface's clsact hooks, on skbs).")
        var hook: HookArgument = .xdp

        @Option(help: "At XDP: native (in the driver, the default) or generic (in the network stack, any interface).")
        var mode: ModeArgument?

        @Option(help: ArgumentHelp("The chain every matching packet starts on.", valueName: "name"))
        var chain: String?

        @Option(help: "The verdict of a packet whose chain ends without one or faults: drop, pass, aborted or tx.")
        var defaultVerdict: VerdictArgument = .drop

        @Option(help: ArgumentHelp("Start packets to PREFIX on CHAIN (ip6_lpm_classifier; repeatable).", valueName: "PREFIX=CHAIN"))
        var route: [String] = []

        func validate() throws {
            if hook != .xdp, let mode {
                throw ValidationError("--mode \(mode.rawValue) is for XDP: a tc hook has no mode")
            }
            do {
                try Self.check(loader: loader, chain: chain, route: route)
            } catch let error as CommandLineError {
                throw ValidationError(error.message)  // with the usage, as ArgumentParser shows it
            }
        }

        /// What validate checks, checked again where the request runs (a daemon's client may not be this CLI).
        /// The fastdrop loaders drop by their list without a chain; the packets they keep go to
        /// the kernel then.
        static let chainOptional: Set<String> = ["fastdrop", "fastdrop_dst"]

        static func check(loader: String, chain: String?, route: [String]) throws {
            _ = try routes(route)
            if chain == nil && route.isEmpty && !chainOptional.contains(loader) {
                throw CommandLineError("say which chain packets start on: --chain NAME (or --route PREFIX=CHAIN for ip6_lpm_classifier)")
            }
        }

        static func routes(_ route: [String]) throws -> [(prefix: String, chain: String)] {
            try route.map { text in
                let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw CommandLineError("--route \(text): write PREFIX=CHAIN (like --route fc00:2::/64=to_b)")
                }
                return (parts[0], parts[1])
            }
        }

        func operation() throws -> NodeOperation {
            .attachLoader(.with {
                $0.target = instance.target(json: output.json)
                $0.loader = loader
                $0.device = device
                if let netns { $0.netns = netns }
                $0.mode = hook.hook(mode: (mode ?? .native).mode).name
                if let chain { $0.chain = chain }
                $0.defaultVerdict = defaultVerdict.rawValue
                $0.routes = route
            })
        }

        static func perform(_ request: Hike_V1_AttachLoaderRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let loader = request.loader
            let device = request.device
            let netns = request.netns.nonEmpty
            guard let hook = request.mode.isEmpty ? .xdp(.native) : LoaderHook(name: request.mode) else {
                throw CommandLineError("mode '\(request.mode)': use " + LoaderHook.names.joined(separator: ", "))
            }
            let chain = request.chain.nonEmpty
            let defaultVerdict = try VerdictArgument.parse(request.defaultVerdict, default: .drop, option: "--default-verdict")
            let route = request.routes
            try check(loader: loader, chain: chain, route: route)
            let record = try DataPlane(instance: try instance.open()).attachLoader(LoaderAttachRequest(
                loader: loader, device: device, namespace: netns, hook: hook, chain: chain, defaultVerdict: defaultVerdict.value,
                routes: try Self.routes(route)))
            let row = AttachmentRow(record)
            if output.json {
                Terminal.line(try Terminal.json(row))
                return
            }
            var what = "attached \(loader) to \(row.place) (\(record.mode))"
            if let chain { what += ": packets start on chain \(chain)" }
            if !route.isEmpty { what += (chain == nil ? ": " : "; ") + "routes " + route.joined(separator: ", ") }
            what += "; default verdict \(row.defaultVerdict)"
            Terminal.line(what)
        }
    }

    struct Detach: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "detach",
            abstract: "Detach the loader from an interface and remove its pins."
        )

        @OptionGroup var instance: InstanceOptions

        @Argument(help: "The interface.")
        var device: String

        @Option(help: ArgumentHelp("The network namespace the interface is in.", valueName: "name"))
        var netns: String?

        @Option(help: "Only the loader at this hook: xdp, tc-ingress or tc-egress (default: at every hook).")
        var hook: HookArgument?

        func operation() throws -> NodeOperation {
            .detachLoader(.with {
                $0.target = instance.target()
                $0.device = device
                if let netns { $0.netns = netns }
                if let hook { $0.hook = hook.rawValue }
            })
        }

        static func perform(_ request: Hike_V1_DetachLoaderRequest) throws {
            let instance = request.target
            let device = request.device
            let netns = request.netns.nonEmpty
            let hook = try request.hook.nonEmpty.map { try HookArgument.parse($0, default: .xdp, option: "--hook").hook(mode: .native) }
            let records = try DataPlane(instance: try instance.open()).detachLoader(device: device, namespace: netns, hook: hook)
            for record in records {
                Terminal.line("detached \(record.loader) from \(device)" + (netns.map { " in namespace \($0)" } ?? "") + " (\(record.mode))")
            }
        }
    }
}
