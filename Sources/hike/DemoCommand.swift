import ArgumentParser
import Demo
import Doctor
import Foundation
import Testbed

/// `hike demo …`: small, real demonstrations of the data plane.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a demonstration in network namespaces of its own.",
        subcommands: [VPN.self, PingCount.self]
    )
}

extension DemoCommand {
    /// The HIKe README's VPN testbed with loss and delay monitoring, end to end (`make demo`).
    struct VPN: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vpn",
            abstract: "IPv6 VPN over SRv6 with loss (alternate marking) and delay (STAMP) monitoring.",
            discussion: """
                Brings up the testbed of examples/vpn/demo.yaml: h1 (cafe::1) — r1 — r2 — h2 \
                (cafe::2). r1's HIKe chain encapsulates h1's traffic (H.Encaps to r2's End.DT6 SID), \
                marks it (RFC 9343 AltMark option) and forwards it in XDP; r2's chain counts it by \
                its mark and hands it to the kernel's End.DT6; the way back is kernel SRv6 only. \
                On a kernel without seg6/seg6local routes (--srv6 auto, the default, asks the \
                kernel; or --srv6 xdp) it runs examples/vpn/demo-xdp.yaml instead: the same VPN with \
                r2's End.DT6 and the way back in hike's XDP too. The first lines say which.

                Then: pings h1 → h2; sends a UDP flow h1 → h2 for --periods periods of --period \
                seconds while the loss collector flips the colour every period and reads both ends \
                half a period later, a STAMP session per period measures delay against h2's XDP \
                reflector, and pm_loss at r2 drops exactly --drop packets in period --drop-period. \
                Prints the report (ping, per-period sent/received/lost, STAMP delays), writes an SVG \
                of loss and delay per period under --output, and brings the testbed down, also on \
                failure or Ctrl-C. Needs root. Takes about 10 s plus the periods.
                """
        )

        @Option(help: ArgumentHelp("Measurement periods (1–60).", valueName: "n"))
        var periods = 6

        @Option(help: ArgumentHelp("Length of a period in seconds (0.2–10).", valueName: "seconds"))
        var period = 1.0

        @Option(help: ArgumentHelp("Packets pm_loss drops in the drop period (0: none).", valueName: "K"))
        var drop = 10

        @Option(name: .customLong("drop-period"), help: ArgumentHelp("The period (1-based) with the drops.", valueName: "p"))
        var dropPeriod = 3

        @Option(help: ArgumentHelp("Rate of the UDP flow h1 → h2, packets per second (10–20000).", valueName: "pps"))
        var rate = 200

        @Option(help: ArgumentHelp("Directory of the SVG plot (made if missing).", valueName: "dir"))
        var output = "demo-out"

        @Option(help: ArgumentHelp("The testbed topology (default: the repository's, found from here or from hike's build directory).",
                                   valueName: "file"))
        var testbed = VPN.defaultTestbed

        @Option(help: ArgumentHelp("Where SRv6 runs: kernel (the hybrid: kernel seg6/seg6local beside hike's XDP), xdp (all in hike's XDP), or auto (kernel where the kernel has seg6, else xdp). Picks the default topology.",
                                   valueName: "auto|kernel|xdp"))
        var srv6: VPNDemoSRv6 = .auto

        @Option(help: ArgumentHelp("The testbed's name (namespaces are hike-tb-<name>-<node>).", valueName: "name"))
        var name = "vpn"

        @Option(help: ArgumentHelp("Also serve the Prometheus metrics at HOST:PORT while the demo runs.", valueName: "host:port"))
        var listen: String?

        @Flag(help: "Leave the testbed up afterwards, to explore it (prints how to enter and remove it).")
        var keep = false

        @Flag(help: "Print the report as JSON on stdout (progress goes to stderr).")
        var json = false

        static let defaultTestbed = "examples/vpn/demo.yaml"

        /// Where SRv6 runs, resolved against this kernel, when the topology is the repository's.
        func placement() throws -> VPNDemoSRv6? {
            guard testbed == Self.defaultTestbed else { return nil }
            do { return try srv6.resolved() } catch { throw ValidationError("\(error)") }
        }

        /// The default topology (for the placement) from the working directory, else from the
        /// repository that holds this hike binary (.build/<config>/hike or
        /// .build/<triple>/<config>/hike). /proc/self/exe, not argv[0]: that is a bare name when
        /// hike runs from PATH.
        func testbedFile(_ placement: VPNDemoSRv6?) -> String {
            guard let placement else { return testbed }
            let testbed = placement.testbed
            guard !FileManager.default.fileExists(atPath: testbed) else { return testbed }
            guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return testbed }
            var directory = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<4 {
                directory = directory.deletingLastPathComponent()
                let candidate = directory.appendingPathComponent(testbed).path
                if FileManager.default.fileExists(atPath: candidate) { return candidate }
            }
            return testbed
        }

        func options() throws -> VPNDemoOptions {
            let placement = try placement()
            var options = VPNDemoOptions(testbedFile: testbedFile(placement), name: name, periods: periods, period: .milliseconds(Int((period * 1000).rounded())),
                           drop: drop, dropPeriod: dropPeriod, rate: rate, outputDirectory: output, keep: keep, metricsListen: listen)
            options.srv6Summary = placement?.summary
            return options
        }

        func validate() throws {
            guard period.isFinite else { throw ValidationError("--period must be a number of seconds") }
            // Checked before `options` converts it to milliseconds (Int(1e20 * 1000) would trap).
            guard period > 0, period <= 3600 else { throw ValidationError("--period must be more than 0 and at most 3600 seconds (got \(period))") }
            let options = try options()
            guard FileManager.default.fileExists(atPath: options.testbedFile) else {
                throw ValidationError("no topology at \(options.testbedFile)" + (testbed == Self.defaultTestbed
                    ? " (neither in the working directory nor in the repository of this hike binary): pass --testbed FILE, e.g. the repository's \(Self.defaultTestbed)"
                    : ": pass --testbed with an existing file"))
            }
            do { try options.validate() } catch { throw ValidationError(String(describing: error)) }
        }

        func run() throws {
            let demo = VPNDemo(options: try options())
            DemoInterrupt.install(demo, name: name)
            // A reader that goes away (`| head`) must not kill the demo before it has removed its
            // testbed: no SIGPIPE, and output that cannot be written is dropped.
            signal(SIGPIPE, SIG_IGN)
            let json = self.json
            let report: VPNDemoReport
            do {
                report = try demo.run { line in
                    // With --json, stdout carries only the JSON.
                    Self.write(line, to: json ? STDERR_FILENO : STDOUT_FILENO)
                }
            } catch VPNDemoError.interrupted {
                Self.write("interrupted: testbed \(name) removed", to: STDERR_FILENO)
                Glibc.exit(128 + SignalWatch.signalNumber)
            } catch {
                Terminal.fail(String(describing: error))
            }
            if json {
                Self.write(try Terminal.json(report), to: STDOUT_FILENO)
            } else {
                Self.write("\n" + report.text(), to: STDOUT_FILENO)
            }
            if keep {
                Self.write("""

                    testbed \(name) is still up. Explore it:
                      hike testbed exec \(name) h1 -- ping -c 3 cafe::2
                      hike testbed exec \(name) r1 -- ip -6 route
                      hike pm flow list --instance hike-tb-\(name)-r1     (and -r2)
                      hike testbed status \(name)
                    take it down with: hike testbed down \(name)
                    """, to: json ? STDERR_FILENO : STDOUT_FILENO)
            }
        }

        /// Writes text and a newline with write(2), at once; a closed pipe drops it.
        static func write(_ text: String, to fd: Int32) {
            let bytes = Array((text + "\n").utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
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

/// Ctrl-C (or SIGTERM) during `hike demo vpn`: the first asks the demo to stop, and the demo's
/// own thread brings the testbed down (a handler that tore it down meanwhile would race with the
/// running demo); a second one, for a demo that does not stop, removes the testbed from here and
/// exits at once.
enum DemoInterrupt {
    static func install(_ demo: VPNDemo, name: String) {
        SignalWatch.install { number, isFirst in
            if isFirst {
                FileHandle.standardError.write(Data("\nstopping: bringing testbed \(name) down (again to force)\n".utf8))
                demo.cancellation.request()
                return
            }
            // Forced: exit without touching the testbed (a down from here would race with the
            // demo's own); its state file records everything, and once this process is gone
            // `hike testbed down` removes it.
            let left = FileManager.default.fileExists(atPath: demo.engine.store.path(name))
            FileHandle.standardError.write(Data(("interrupted: " + (left
                ? "testbed \(name) may be left up: remove it with hike testbed down \(name)"
                : "testbed \(name) is not up")).utf8 + Data("\n".utf8)))
            exit(128 + number)
        }
    }
}

// The demo's own placement type parses as the option's value: no second copy of its cases.
extension VPNDemoSRv6: ExpressibleByArgument {}
