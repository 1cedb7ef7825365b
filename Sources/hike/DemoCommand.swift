import ArgumentParser
import Doctor
import Foundation

/// `hike demo …`: small, real demonstrations of the data plane.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a demonstration in network namespaces of its own.",
        subcommands: [PingCount.self]
    )
}

extension DemoCommand {
    /// Two namespaces, xdp_count on the receiver, pings across, counters per CPU.
    struct PingCount: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ping-count",
            abstract: "Count pings with xdp_count attached natively to a veth in a namespace.",
            discussion: """
                Creates two namespaces (hike-demo-<pid>-…) joined by a veth pair, attaches xdp_count \
                in driver mode on the receiving end, pings across and prints what the program counted \
                on each CPU. Deletes the namespaces afterwards, also on error or Ctrl-C.
                """
        )

        @Flag(help: "Print the report as JSON (progress goes to stderr).")
        var json = false

        @Option(help: "How many echo requests to send (1–10000).")
        var count = 5

        func validate() throws {
            guard (1...10_000).contains(count) else {
                throw ValidationError("--count must be between 1 and 10000, not \(count)")
            }
        }

        func run() throws {
            InterruptCleanup.install(prefixes: [PingCountDemo.defaultPrefix])
            let report = try PingCountDemo.run(count: count) { line in
                // With --json, stdout carries only the JSON.
                if json { Terminal.errorLine(line) } else { Terminal.line(line) }
            }
            if json {
                Terminal.line(try Terminal.json(report))
                return
            }
            Terminal.line("")
            Terminal.line("ping fc00::2 from \(report.sender): \(report.transmitted) transmitted, \(report.received) received")
            Terminal.line("xdp_count (\(report.attachMode)) on \(report.interface) in \(report.receiver) counted:")
            Terminal.line("")
            Terminal.line(Self.table(report))
            let requests = report.echoRequests.packets
            Terminal.line("")
            Terminal.line(requests == UInt64(report.transmitted)
                ? "every echo request was seen by xdp_count (\(requests) of \(report.transmitted))."
                : "xdp_count saw \(requests) echo requests of \(report.transmitted) sent.")
        }

        /// kind | packets per CPU and total | bytes per CPU and total. Beyond 8 possible CPUs,
        /// those that counted nothing are left out so the table stays readable.
        static func table(_ report: PingCountReport) -> String {
            var cpus = Array(0..<report.cpuCount)
            if cpus.count > 8 {
                cpus = cpus.filter { cpu in report.rows.contains { $0.packets.indices.contains(cpu) && $0.packets[cpu] > 0 } }
            }
            if cpus.isEmpty { cpus = [0] }
            let cpuHeaders = cpus.map { "cpu\($0)" } + ["total"]
            let kindWidth = max(4, report.rows.map(\.name.count).max() ?? 0)

            func cell(_ values: [UInt64], total: UInt64) -> [String] {
                cpus.map { values.indices.contains($0) ? String(values[$0]) : "-" } + [String(total)]
            }
            let packetCells = report.rows.map { cell($0.packets, total: $0.totalPackets) }
            let byteCells = report.rows.map { cell($0.bytes, total: $0.totalBytes) }
            func widths(_ cells: [[String]]) -> [Int] {
                cpuHeaders.indices.map { column in
                    max(cpuHeaders[column].count, cells.map { $0[column].count }.max() ?? 0)
                }
            }
            let packetWidths = widths(packetCells)
            let byteWidths = widths(byteCells)
            func group(_ values: [String], _ widths: [Int]) -> String {
                zip(values, widths).map { String(repeating: " ", count: $1 - $0.count) + $0 }.joined(separator: "  ")
            }
            func padRight(_ text: String, _ width: Int) -> String {
                text + String(repeating: " ", count: max(0, width - text.count))
            }
            let packetSpan = packetWidths.reduce(0, +) + 2 * (packetWidths.count - 1)
            let byteSpan = byteWidths.reduce(0, +) + 2 * (byteWidths.count - 1)

            var lines = [
                padRight("", kindWidth) + " | " + padRight("packets", packetSpan) + " | bytes",
                padRight("kind", kindWidth) + " | " + group(cpuHeaders, packetWidths) + " | " + group(cpuHeaders, byteWidths),
                String(repeating: "-", count: kindWidth + 1) + "+" + String(repeating: "-", count: packetSpan + 2)
                    + "+" + String(repeating: "-", count: byteSpan + 1),
            ]
            for (index, row) in report.rows.enumerated() {
                lines.append(padRight(row.name, kindWidth) + " | " + group(packetCells[index], packetWidths)
                             + " | " + group(byteCells[index], byteWidths))
            }
            if cpus.count < report.cpuCount {
                lines.append("(\(report.cpuCount - cpus.count) of \(report.cpuCount) possible CPUs counted nothing and are not shown)")
            }
            return lines.joined(separator: "\n")
        }
    }
}
