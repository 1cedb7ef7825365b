import ArgumentParser
import BPFKit
import Foundation
import Testbed
import Topology

/// `hike testbed …`: declarative topologies in YAML (docs/testbed.md).
struct TestbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "Bring YAML topologies of namespaces, veths, routes and hike chains up and down.",
        discussion: """
            A testbed file names nodes (network namespaces), the veth links between them, addresses, \
            routes (kernel SRv6 seg6/seg6local included), sysctls, static neighbours, eCLAT scripts \
            and map entries for a HIKe instance per node, and commands to run once up \
            (docs/testbed.md; examples/vpn/). Node N of testbed T lives in namespace hike-tb-T-N. \
            What up makes is recorded in /run/hike/testbeds/T.json before it is made, so down \
            removes all of it, also after a crash.
            """,
        subcommands: [Up.self, Down.self, Status.self, Exec.self, List.self]
    )

    /// Runs body, printing a testbed error as hike's other errors (`error: …`, status 1).
    static func reporting<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as TestbedError {
            if case .invalidMany = error {
                Terminal.failDiagnostics(error.description)
            }
            if case .invalid = error {
                Terminal.failDiagnostics(error.description)
            }
            throw CommandLineError(error.description)
        }
    }
}

extension TestbedCommand {
    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "up",
            abstract: "Create a testbed's nodes, links, addresses, routes and hike chains.",
            discussion: """
                Checks the whole file first (YAML, names, addresses, routes, interfaces, eCLAT \
                scripts) and makes nothing if anything is wrong. Then makes everything in order: \
                namespaces, veth links, sysctls, addresses, neighbours, routes, HIKe instances (map \
                entries, scripts), commands. If a step fails, everything made so far is removed and \
                the error names the step. With --tmux, opens a tmux session with a window per node, \
                each a shell inside the node (and attaches to it when run from a terminal).
                """
        )

        @Argument(help: "The topology file (YAML).")
        var file: String

        @Option(help: "The testbed's name (default: the file's name:). Letters, digits, '-', '_'.")
        var name: String?

        @Flag(help: "Start a tmux session with a window per node (tmux must be installed).")
        var tmux = false

        @Option(help: ArgumentHelp("The first part of every namespace and HIKe instance name.", valueName: "prefix"))
        var prefix = TestbedEngine.defaultPrefix

        @Flag(help: "Print the resulting status as JSON.")
        var json = false

        @Flag(name: [.short, .long], help: "Print each step as it starts (to stderr).")
        var verbose = false

        func run() throws {
            let engine = TestbedEngine(prefix: prefix)
            let loaded = try TestbedCommand.reporting { try TestbedFile.read(file) }
            guard let testbed = name ?? loaded.spec.name else { throw CommandLineError("\(file) has no `name:`: give the testbed one with --name") }
            TestbedInterrupt.install(name: testbed)
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "hike"
            let shell = Command.findShell()
            var options = TestbedEngine.UpOptions(progress: { step in if verbose { Terminal.errorLine("  \(step)") } },
                                                  shouldStop: { SignalWatch.isRequested },
                                                  wingSession: { site in
                                                      [executable, "wing", "session", "-i", site.interface] + (site.namespace.map { ["--netns", $0] } ?? [])
                                                  })
            if tmux {
                options.tmuxShell = { node in [executable, "testbed", "exec", testbed, node, "--", shell] }
            }
            let state: TestbedState
            do {
                state = try engine.up(loaded, name: testbed, options: options)
            } catch TestbedError.interrupted(_, let leftovers) {
                Terminal.errorLine("interrupted: " + (leftovers.isEmpty ? "testbed \(testbed) removed"
                    : "could not remove: " + leftovers.joined(separator: "; ") + " (run `hike testbed down \(testbed)`)"))
                Glibc.exit(128 + SignalWatch.signalNumber)
            } catch {
                try TestbedCommand.reporting { () throws -> Void in throw error }
                return
            }
            SignalWatch.remove()
            // Ctrl-C after up's last check: the testbed is complete, and is removed here, on this thread.
            if SignalWatch.isRequested {
                do {
                    let removed = try engine.down(testbed)
                    Terminal.errorLine("interrupted: removed " + (removed.isEmpty ? "nothing" : removed.joined(separator: ", ")))
                } catch {
                    Terminal.errorLine("interrupted, and could not remove testbed \(testbed): \(error)")
                }
                Glibc.exit(128 + SignalWatch.signalNumber)
            }
            if json {
                Terminal.line(try Terminal.json(engine.status(testbed)))
            } else {
                Terminal.line("testbed \(testbed) is up: \(Format.plural(state.spec.nodes.count, "node")) "
                    + "(\(state.namespaces.joined(separator: ", "))), \(Format.plural(state.spec.links.count, "link"))"
                    + (state.instances.isEmpty ? "" : ", HIKe in \(state.instances.joined(separator: ", "))"))
                Terminal.line("run a command in a node: hike testbed exec \(testbed) NODE -- CMD; remove it: hike testbed down \(testbed)")
            }
            if let session = state.tmuxSession {
                if isatty(STDIN_FILENO) == 1 && !json {
                    let tmuxPath = Command.find("tmux") ?? "/usr/bin/tmux"
                    let words: [String] = ["tmux", "attach-session", "-t", session]
                    var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
                    execv(tmuxPath, &argv)
                    throw CommandLineError("could not attach to tmux session \(session): \(String(cString: strerror(errno)))")
                }
                Terminal.line("tmux session \(session): attach with tmux attach -t \(session)")
            }
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "down",
            abstract: "Remove everything a testbed's up made.",
            discussion: """
                Ends processes left inside the nodes, kills the tmux session, resets the nodes' \
                HIKe instances (detaches loaders, removes pins and registries) and deletes the \
                namespaces (with their veths, routes and programs), then the state file. Works \
                after a crashed or failed up too. If something cannot be removed, the state file \
                stays and down can be run again.
                """
        )

        @Argument(help: "The testbed's name (see hike testbed list).")
        var name: String

        func run() throws {
            let removed = try TestbedCommand.reporting { try TestbedEngine().down(name) }
            for item in removed { Terminal.line("removed \(item)") }
            Terminal.line("testbed \(name) is down")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show a testbed's nodes, links, addresses and hike attachments, and whether they are up.",
            discussion: "Reads the kernel and compares it with the topology; without NAME, every testbed. Exit status 1 if one is not healthy."
        )

        @Argument(help: "The testbed's name (default: every testbed).")
        var name: String?

        @OptionGroup var output: JSONOption

        func run() throws {
            let engine = TestbedEngine()
            let names = name.map { [$0] } ?? engine.store.names()
            let statuses = try TestbedCommand.reporting { try names.map { try engine.status($0) } }
            if output.json {
                Terminal.line(try Terminal.json(name == nil ? AnyEncodable(statuses) : AnyEncodable(statuses[0])))
            } else if statuses.isEmpty {
                Terminal.line("no testbed is up")
            } else {
                Terminal.line(statuses.map(Self.text).joined(separator: "\n\n"))
            }
            if statuses.contains(where: { !$0.healthy }) { throw ExitCode(1) }
        }

        static func text(_ status: TestbedStatus) -> String {
            var lines = ["testbed \(status.name): \(status.healthy ? "up" : "NOT HEALTHY") (phase \(status.phase)"
                + (status.phase == "up" ? "" : ", last step: \(status.step), up \(status.upRunning ? "running" : "not running")")
                + ", since \(Format.date(status.startedAt)))"]
            if let file = status.file { lines.append("file: \(file)") }
            lines += status.problems.map { "problem: \($0)" }
            if let session = status.tmuxSession { lines.append("tmux: \(session) (\(status.tmuxRunning ? "running" : "gone"))") }
            var table = TextTable(["NODE", "NAMESPACE", "INTERFACE", "STATE", "MAC", "ADDRESSES"])
            for node in status.nodes {
                if node.interfaces.isEmpty {
                    table.append([node.name, node.namespace + (node.exists ? "" : " (missing)"), "-", "-", "-", "-"])
                }
                for (index, interface) in node.interfaces.enumerated() {
                    let addresses = interface.addresses.filter { !$0.hasPrefix("fe80:") } + interface.missing.map { "\($0) (missing)" }
                    table.append([index == 0 ? node.name : "", index == 0 ? node.namespace + (node.exists ? "" : " (missing)") : "",
                                  interface.name, interface.exists ? interface.state ?? "?" : "missing", interface.mac ?? "-",
                                  Format.list(addresses)])
                }
            }
            lines.append(table.render())
            var links = TextTable(["LINK", "STATE"])
            for link in status.links { links.append(["\(link.a) — \(link.b)", link.up ? "up" : "DOWN"]) }
            if !status.links.isEmpty { lines.append(links.render()) }
            let hikeRows = status.nodes.compactMap { node in node.hike.map { (node.name, $0) } }
            if !hikeRows.isEmpty {
                var hike = TextTable(["NODE", "INSTANCE", "CHAINS", "ATTACHED"])
                for (node, info) in hikeRows {
                    let attached = info.attachments.map { "\($0.loader)@\($0.interface)→\($0.chain ?? "routes")\($0.attached ? "" : " (DETACHED)")" }
                    hike.append([node, info.instance, Format.list(info.chains), Format.list(attached)])
                }
                lines.append(hike.render())
            }
            return lines.joined(separator: "\n")
        }
    }

    struct Exec: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exec",
            abstract: "Run a command inside a node of a testbed.",
            discussion: """
                Enters the node's network namespace with setns(2) and executes CMD there (unlike \
                ip netns exec, /sys is not remounted, so hike sees its pins): \
                hike testbed exec vpn h1 -- ping -c 3 cafe::2
                """
        )

        @Argument(help: "The testbed's name.")
        var name: String

        @Argument(help: "The node (as in the topology file).")
        var node: String

        @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "cmd"))
        var command: [String] = []

        func validate() throws {
            guard !command.isEmpty else { throw ValidationError("give the command after --, like: hike testbed exec \(name) \(node) -- ip -6 route") }
        }

        func run() throws {
            try TestbedCommand.reporting {
                let namespace = try TestbedEngine().namespace(testbed: name, node: node)
                try NodeShell.exec(command, in: namespace)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the testbeds that are up (or left behind by a crash)."
        )

        @OptionGroup var output: JSONOption

        struct Row: Encodable {
            let name: String
            let phase: String
            let nodes: [String]
            let file: String?
            let pid: Int32
            let upRunning: Bool
            /// Why the state file cannot be read, for a broken one.
            let problem: String?
        }

        func run() throws {
            let engine = TestbedEngine()
            var rows = engine.list().map { state in
                Row(name: state.name, phase: state.phase.rawValue, nodes: state.spec.nodes.map(\.name), file: state.file,
                    pid: state.pid, upRunning: state.upIsRunning, problem: nil)
            }
            // A state file that cannot be read is listed, as broken, with why: it may record a live testbed.
            rows += engine.unreadable().map { broken in
                Row(name: broken.name, phase: "broken", nodes: [], file: nil, pid: 0, upRunning: false,
                    problem: "unreadable state file \(engine.store.path(broken.name)): \(broken.reason)")
            }
            rows.sort { $0.name < $1.name }
            if output.json {
                Terminal.line(try Terminal.json(rows))
                return
            }
            guard !rows.isEmpty else {
                Terminal.line("no testbed is up")
                return
            }
            var table = TextTable(["NAME", "PHASE", "NODES", "FILE"])
            for row in rows {
                let phase = row.phase == "coming-up" && !row.upRunning ? "crashed (run down)" : row.phase
                table.append([row.name, phase, row.problem ?? row.nodes.joined(separator: ", "), row.file ?? "-"])
            }
            Terminal.line(table.render())
        }
    }
}

/// An Encodable of any type (one JSON shape for one testbed, another for all).
private struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }
}

extension Command {
    /// The shell for tmux windows: bash when installed, else sh.
    static func findShell() -> String {
        find("bash") ?? find("sh") ?? "/bin/sh"
    }
}

/// Ctrl-C or SIGTERM during `up` only sets a flag (SignalWatch): `up` checks it before each step
/// and removes what it made on its own thread (a handler tearing down meanwhile would race with
/// it and could leave namespaces without a state file). A second one does not force anything: up
/// still owns the testbed, and says so.
enum TestbedInterrupt {
    static func install(name: String) {
        SignalWatch.install { _, isFirst in
            Terminal.errorLine(isFirst ? "\nstopping: removing what testbed \(name) made so far"
                                       : "still removing testbed \(name); wait for it")
        }
    }
}
