import ArgumentParser
import Daemon
import Foundation
import HikeRPC
import HikeRuntime
import HikeVM

/// `hike events`: what programs reported through their ring buffers, decoded.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the events programs sent: show_pkt_info packets (info) or VM faults (faults).",
        discussion: """
            Events wait in ring buffers in the kernel; each is printed once, oldest first. With \
            --follow, hike keeps printing them as they come until interrupted.
            """
    )

    enum Source: String, ExpressibleByArgument, CaseIterable {
        case info, faults
    }

    @Argument(help: "Which events: info (show_pkt_info) or faults (the VM's fault events).")
    var source: Source = .info

    @Flag(name: .shortAndLong, help: "Keep printing events as they arrive (Ctrl-C to stop).")
    var follow = false

    @OptionGroup var instance: InstanceOptions
    @OptionGroup var output: JSONOption

    mutating func run() async throws {
        let request = Hike_V1_WatchEventsRequest.with {
            $0.target = instance.target(json: output.json)
            $0.source = source.rawValue
            $0.follow = follow
        }
        if let address = try instance.daemon() {
            try await NodeClient.watchEvents(request, at: address) { batch in
                for warning in batch.warnings { Terminal.warning(warning) }
                if !batch.text.isEmpty { FileHandle.standardOutput.write(Data(batch.text.utf8)) }
            }
            return
        }
        repeat {
            try Self.drain(request)
            if follow { usleep(200_000) }
        } while follow
    }

    /// Prints the events waiting in the ring buffer (each is read once).
    static func drain(_ request: Hike_V1_WatchEventsRequest) throws {
        let hike = try request.target.open(), json = request.target.json
        guard let source = Source(rawValue: request.source.isEmpty ? "info" : request.source) else {
            throw CommandLineError("events '\(request.source)': use info or faults")
        }
        let registry = try hike.registry()
        if source == .info && !registry.objects.contains("info") {
            throw CommandLineError("the info package is not loaded in instance '\(hike.name)': load a chain that calls show_pkt_info")
        }
        switch source {
        case .info:
            for event in try hike.drainInfoEvents() {
                Terminal.line(json ? try Terminal.json(event) : event.description)
            }
        case .faults:
            for event in try hike.drainFaultEvents() {
                let chain = registry.name(of: event.chainID) ?? Format.hex(event.chainID)
                if json {
                    Terminal.line(try Terminal.json(event))
                } else {
                    let reason = Fault(rawValue: event.reason)?.name ?? "reason \(event.reason)"
                    Terminal.line("chain \(chain) pc \(event.pc): \(reason) (packet of \(event.packetLength) bytes, depth \(event.depth), cpu \(event.cpu))")
                }
            }
        }
    }
}
