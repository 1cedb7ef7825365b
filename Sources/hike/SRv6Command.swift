import ArgumentParser
import Daemon
import Foundation
import HikeRPC
import HikeControl
import HikeRuntime
import SRv6

/// `hike srv6 …`: SRv6 local SIDs and headend policies in XDP, from a YAML file.
struct SRv6Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "srv6",
        abstract: "SRv6 endpoint behaviours and headend policies in XDP, configured from a YAML file.",
        discussion: """
            A configuration names the interfaces the srv6_localsid loader attaches to, the local SIDs \
            (End, End.X, End.T, End.DT4/6/46, End.DX4/6, uN, uA, with flavours) and the headend \
            policies by destination prefix. See docs/srv6.md and examples/srv6/.
            """,
        subcommands: [Apply.self, Show.self, Validate.self]
    )
}

extension SRv6Command {
    struct Validate: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check a configuration file without touching the kernel.",
            discussion: "Every error is printed as FILE:LINE:COLUMN: error: MESSAGE; the exit status is 1 if there is one."
        )

        @OptionGroup var instance: InstanceOptions

        @Argument(help: "The YAML configuration.")
        var file: String

        func operation() throws -> NodeOperation {
            let source = try Hike_V1_SourceFile.readConfiguration(file)
            return .validateSRv6(.with {
                $0.target = instance.target()
                $0.file = source
            })
        }

        static func perform(_ request: Hike_V1_SRv6ConfigurationRequest) throws {
            let file = request.file
            let configuration = try SRv6Configuration.parse(file.text, file: file.name)
            Terminal.line("\(file.name): \(Format.plural(configuration.localSIDs.count, "local SID")), "
                          + "\(configuration.policies.count) \(configuration.policies.count == 1 ? "policy" : "policies"), "
                          + "\(Format.plural(configuration.interfaces.count, "interface")): valid")
        }
    }

    struct Apply: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Install a configuration, changing only what differs from the last apply.",
            discussion: """
                Validates the whole file (and that its namespace and interfaces exist, that USP SIDs \
                are local addresses, and that no route apply did not install has a mirror route's \
                prefix) before changing anything: a bad file changes nothing. New and changed entries \
                are written before the loader's LPM entry points at them, with the kernel's mirror \
                routes (seg6local for SIDs, seg6 for policies) where the kernel runs the same \
                behaviour (kernel-routes: auto, the default, mirrors only where the kernel has \
                seg6/seg6local; true requires them; false never mirrors); removed ones are unlinked \
                before they are cleared. If a step fails, what was \
                done is undone. Applying the same file again changes nothing. A warning names each \
                veth whose peer cannot receive XDP-redirected frames (no XDP program, GRO off): \
                packets routed there are handed to the kernel (reason tx_unready), not lost.
                """
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "The YAML configuration.")
        var file: String

        @Flag(name: .long, help: "Print what would change; change nothing.")
        var dryRun = false

        func operation() throws -> NodeOperation {
            let source = try Hike_V1_SourceFile.readConfiguration(file)
            return .applySRv6(.with {
                $0.target = instance.target(json: output.json)
                $0.file = source
                $0.dryRun = dryRun
            })
        }

        static func perform(_ request: Hike_V1_SRv6ConfigurationRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let file = request.file
            let dryRun = request.dryRun
            let configuration = try SRv6Configuration.parse(file.text, file: file.name)
            let plan = try DataPlane(instance: try instance.open()).applySRv6(configuration, dryRun: dryRun)
            if output.json {
                Terminal.line(try Terminal.json(Report(dryRun: dryRun, plan: plan)))
                return
            }
            for warning in plan.warnings { Terminal.warning(warning) }
            if plan.changesNothing {
                Terminal.line("nothing to change: instance '\(instance.instance)' already runs \(file.name)")
                return
            }
            Terminal.line("kernel routes: \(plan.kernelRoutes)")
            let verb = dryRun ? "would" : "did"
            for (what, items) in [("add SID", plan.addedSIDs), ("change SID", plan.changedSIDs), ("remove SID", plan.removedSIDs),
                                  ("add policy", plan.addedPolicies), ("change policy", plan.changedPolicies),
                                  ("remove policy", plan.removedPolicies), ("attach to", plan.attach), ("detach from", plan.detach)] {
                for item in items { Terminal.line("\(verb) \(what) \(item)") }
            }
        }

        struct Report: Encodable {
            let dryRun: Bool
            let plan: ApplyPlan
        }
    }

    struct Show: NodeCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show the local SIDs and policies with their counters, and why packets left the fast path.",
            discussion: """
                Packets, bytes and errors are summed over the CPUs, per local SID and per policy (like \
                `ip -s -6 route show` for a seg6local route with `count`). The reasons count packets \
                handed to the kernel or dropped, by cause (hop_limit, fib_miss, sl_past_last, …). \
                Where no kernel route mirrors a SID, its endpoint answers hop limit ≤ 1 and a bad SRH \
                with ICMPv6 Time Exceeded or Parameter Problem itself (at most 100 a second per CPU); \
                those are counted too.
                """
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @OptionGroup var watching: WatchOption

        mutating func run() async throws {
            try await instance.execute(try operation(), watch: watching.interval)
        }

        func operation() throws -> NodeOperation {
            .showSRv6(.with {
                $0.target = instance.target(json: output.json)
            })
        }

        static func perform(_ request: Hike_V1_ShowSRv6Request) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let status = try DataPlane(instance: try instance.open()).srv6Status()
            if output.json {
                Terminal.line(try Terminal.json(status))
                return
            }
            if status.sids.isEmpty && status.policies.isEmpty && status.interfaces.isEmpty {
                Terminal.line("instance '\(status.instance)' has no SRv6 configuration; install one with: hike srv6 apply FILE")
                return
            }
            Terminal.line("interfaces: " + Format.list(status.interfaces) + (status.namespace.map { " (namespace \($0))" } ?? ""))
            if let kernelRoutes = status.kernelRoutes { Terminal.line("kernel routes: \(kernelRoutes)") }
            for (title, rows) in [("LOCAL SID", status.sids), ("POLICY", status.policies)] where !rows.isEmpty {
                var table = TextTable([title, "INDEX", "BEHAVIOUR", "PACKETS", "BYTES", "ERRORS", "KERNEL"], rightAligned: [1, 3, 4, 5])
                for row in rows {
                    table.append([row.prefix, String(row.index), row.summary, String(row.packets), String(row.bytes),
                                  String(row.errors), row.kernelRoute ? "mirror" : "-"])
                }
                Terminal.line("")
                Terminal.line(table.render())
            }
            let proxies = status.sids.filter { $0.proxy != nil }
            if !proxies.isEmpty {
                var table = TextTable(["SR PROXY", "TO FUNCTION", "BACK", "LEARNED", "HEADERS (SL)", "REASONS"], rightAligned: [1, 2, 3])
                for row in proxies {
                    guard let proxy = row.proxy else { continue }
                    let learned = proxy.learned == 0 ? "-" : "\(proxy.learned)" + (proxy.learnedAgo.map { String(format: " (%.1fs ago)", $0) } ?? "")
                    let headers = row.program == EndpointBehaviour.endAM.program ? "the packet's own"
                        : proxy.segments.isEmpty ? "none yet" : proxy.segments.joined(separator: ",") + " (\(proxy.segmentsLeft ?? 0))"
                    let reasons = proxy.reasons.filter { $0.key != "ok" }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                    table.append([row.prefix, String(proxy.toFunction), String(proxy.fromFunction), learned, headers,
                                  reasons.isEmpty ? "-" : reasons.joined(separator: ", ")])
                }
                Terminal.line("")
                Terminal.line(table.render())
            }
            let reasons = status.reasons.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            Terminal.line("")
            Terminal.line("reasons: " + (reasons.isEmpty ? "none counted" : reasons.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
            let icmp = status.icmpErrors.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            if !icmp.isEmpty {
                Terminal.line("ICMPv6 errors sent by XDP: " + icmp.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
    }
}
