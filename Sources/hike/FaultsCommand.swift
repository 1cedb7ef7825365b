import ArgumentParser
import BPFKit
import Daemon
import Foundation
import HikeRPC
import HikeRuntime
import HikeVM

/// `hike faults`: what went wrong in chains, and how the last packets ended.
struct FaultsCommand: NodeCommand {
    static let configuration = CommandConfiguration(
        commandName: "faults",
        abstract: "Show fault counters per chain and reason, fault events and the last result per CPU.",
        discussion: """
            A fault ends a packet's chain; the packet gets its loader's default verdict. The counters \
            add up every CPU. With --events, the events waiting in the ring buffer are read (and so \
            consumed: each is shown once).
            """
    )

    @OptionGroup var instance: InstanceOptions
    @OptionGroup var output: JSONOption

    @Flag(help: "Also read the fault events from the ring buffer (each event is shown once).")
    var events = false

    struct Count: Encodable {
        let chain: String
        let chainID: UInt32
        let reason: String
        let reasonCode: UInt32
        let description: String
        let count: UInt64
    }

    struct Event: Encodable {
        let time: String
        let timestampNanoseconds: UInt64
        let chain: String
        let chainID: UInt32
        let pc: UInt32
        let reason: String
        let reasonCode: UInt32
        let packetLength: UInt32
        let depth: UInt32
        let cpu: UInt32
    }

    struct Last: Encodable {
        let cpu: Int
        let chain: String
        let chainID: UInt32
        let pc: UInt32
        let verdict: String
        let fault: String
        let r0: UInt64
        let packets: UInt64
    }

    struct Report: Encodable {
        let counts: [Count]
        /// Nil without --events.
        let events: Nullable<[Event]>
        let lastResults: [Last]
    }

    static func reasonName(_ code: UInt32) -> String { Fault(rawValue: code)?.name ?? "reason \(code)" }
    static func reasonDescription(_ code: UInt32) -> String { Fault(rawValue: code)?.explanation ?? "unknown reason" }

    @OptionGroup var watching: WatchOption

    mutating func run() async throws {
        try await instance.execute(try operation(), watch: watching.interval)
    }

    func operation() throws -> NodeOperation {
        .faults(.with {
            $0.target = instance.target(json: output.json)
            $0.events = events
        })
    }

    static func perform(_ request: Hike_V1_FaultsRequest) throws {
        let output = JSONFlag(request.target.json), instance = request.target
        let events = request.events
        let hike = try instance.open()
        guard hike.hasVM else {
            if output.json {
                Terminal.line(try Terminal.json(Report(counts: [], events: Nullable(events ? [] : nil), lastResults: [])))
            } else {
                Terminal.line("instance '\(hike.name)' has no VM yet: nothing is loaded (hike prog load, hike chain load)")
            }
            return
        }
        let names = Names(try hike.registry())
        let counts = try hike.faultCounts().map {
            Count(chain: names.chain($0.chainID), chainID: $0.chainID, reason: Self.reasonName($0.reason), reasonCode: $0.reason,
                  description: Self.reasonDescription($0.reason), count: $0.count)
        }
        var drained: [Event]?
        if events {
            // ktime is CLOCK_MONOTONIC: shift it by the offset between the two clocks now.
            var monotonic = timespec(), realtime = timespec()
            clock_gettime(CLOCK_MONOTONIC, &monotonic)
            clock_gettime(CLOCK_REALTIME, &realtime)
            let nowMonotonic = Double(monotonic.tv_sec) + Double(monotonic.tv_nsec) / 1e9
            let nowReal = Double(realtime.tv_sec) + Double(realtime.tv_nsec) / 1e9
            drained = try hike.drainFaultEvents().map { event in
                let seconds = nowReal - (nowMonotonic - Double(event.timestampNanoseconds) / 1e9)
                return Event(time: Format.preciseDate(Date(timeIntervalSince1970: seconds)),
                             timestampNanoseconds: event.timestampNanoseconds, chain: names.chain(event.chainID),
                             chainID: event.chainID, pc: event.pc, reason: Self.reasonName(event.reason),
                             reasonCode: event.reason, packetLength: event.packetLength, depth: event.depth, cpu: event.cpu)
            }
        }
        let last = try hike.lastResults().filter { $0.sequence > 0 }.map {
            Last(cpu: $0.cpu, chain: names.chain($0.chainID), chainID: $0.chainID, pc: $0.pc, verdict: Format.verdict($0.verdict),
                 fault: Self.reasonName($0.fault), r0: $0.r0, packets: $0.sequence)
        }
        if output.json {
            Terminal.line(try Terminal.json(Report(counts: counts, events: Nullable(drained), lastResults: last)))
            return
        }

        if counts.isEmpty {
            Terminal.line("no faults in instance '\(hike.name)'")
        } else {
            var table = TextTable(["CHAIN", "ID", "REASON", "COUNT", "DESCRIPTION"], rightAligned: [3])
            for count in counts {
                table.append([count.chain, Format.hex(count.chainID), count.reason, String(count.count), count.description])
            }
            Terminal.line(table.render())
        }
        if let drained {
            Terminal.line("")
            if drained.isEmpty {
                Terminal.line("no fault events waiting")
            } else {
                var table = TextTable(["TIME", "CHAIN", "PC", "REASON", "LENGTH", "DEPTH", "CPU"], rightAligned: [2, 4, 5, 6])
                for event in drained {
                    table.append([event.time, event.chain, String(event.pc), event.reason, String(event.packetLength),
                                  String(event.depth), String(event.cpu)])
                }
                Terminal.line(table.render())
            }
        }
        Terminal.line("")
        if last.isEmpty {
            Terminal.line("no packet has run a chain yet")
        } else {
            Terminal.line("last result per CPU:")
            var table = TextTable(["CPU", "CHAIN", "PC", "VERDICT", "FAULT", "R0", "PACKETS"], rightAligned: [0, 2, 5, 6])
            for result in last {
                table.append([String(result.cpu), result.chain, String(result.pc), result.verdict, result.fault,
                              String(result.r0), String(result.packets)])
            }
            Terminal.line(table.render())
        }
    }
}
