import ArgumentParser
import Foundation
import HikeRuntime

/// `hike clock sync`: the boot-time → wall-clock offset that timestamping programs read.
struct ClockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clock",
        abstract: "Keep the wall-clock offset of timestamping programs (stamp, eip) current.",
        subcommands: [Sync.self]
    )

    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the boot-time → wall-clock offset into every clock map of the loaded objects.",
            discussion: """
                eBPF programs read only the boot-time clock; STAMP and EIP timestamps need wall-clock \
                time. hike writes the offset when such an object loads; run this after the wall clock \
                is stepped, or with --every to keep it current.
                """
        )

        @Option(help: ArgumentHelp("Repeat every this many seconds until interrupted.", valueName: "seconds"))
        var every: Double?

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        func validate() throws {
            if let every, every <= 0 { throw ValidationError("--every must be a positive number of seconds") }
        }

        func run() throws {
            let hike = try instance.open()
            repeat {
                let synced = try hike.syncClocks()
                if output.json {
                    Terminal.line(try Terminal.json(synced))
                } else if synced.isEmpty {
                    Terminal.line("no loaded object of instance '\(hike.name)' keeps a wall-clock offset")
                } else {
                    for sync in synced {
                        Terminal.line("\(sync.pin): \(sync.epoch.rawValue) offset \(sync.offsetNanoseconds) ns")
                    }
                }
                if let every { usleep(useconds_t(min(every, 3600) * 1_000_000)) }
            } while every != nil
        }
    }
}
