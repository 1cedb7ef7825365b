import BPFKit
import Demo
import Foundation
import HikeRuntime
import HikeTestSupport
import Monitoring
import NetKit
import Synchronization
import Testbed
import Testing
import Topology

/// `hike demo vpn` end to end with small parameters, in testbeds named after the test process
/// (`hiket-<pid>-d<n>-<node>`), each removed by the demo itself: the tests check that nothing is
/// left behind.
@Suite(.serialized) struct VPNDemoTests {
    static let counter = Atomic<Int>(0)

    /// Options for a fresh, uniquely named testbed from the repository's topology for the
    /// placement (auto: examples/vpn/demo.yaml where the kernel has seg6, else demo-xdp.yaml).
    static func options(periods: Int, period: Duration, drop: Int, dropPeriod: Int = 1, rate: Int = 200,
                        srv6: VPNDemoSRv6 = .auto) throws -> VPNDemoOptions {
        try KernelTest.prepare()
        let placement = try srv6.resolved()
        let n = counter.add(1, ordering: .relaxed).newValue
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("hike-demo-test-\(getpid())-\(n)").path
        var options = VPNDemoOptions(testbedFile: repository.appendingPathComponent(placement.testbed).path,
                                     name: "\(getpid())-d\(n)", prefix: KernelTest.prefix, periods: periods, period: period,
                                     drop: drop, dropPeriod: dropPeriod, rate: rate, outputDirectory: output,
                                     // Generous: on a loaded 2-core CI a reply later than T/5 is not lost.
                                     stampTimeout: .seconds(2))
        options.srv6Summary = placement.summary
        return options
    }

    /// What a testbed of these options would leave: namespaces, HIKe pins and state, the state file.
    static func leftovers(_ o: VPNDemoOptions) -> [String] {
        let stem = "\(o.prefix)-\(o.name)-"
        var left = NetworkNamespace.list().filter { $0.hasPrefix(stem) }.map { "namespace \($0)" }
        for directory in ["\(BPFFileSystem.defaultMountPoint)/hike", "/run/hike"] {
            left += ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(stem) }
                .map { "\(directory)/\($0)" }
        }
        if FileManager.default.fileExists(atPath: TestbedStateStore().path(o.name)) { left.append("state file of \(o.name)") }
        return left
    }

    static func run(_ o: VPNDemoOptions, hooks: VPNDemo.Hooks = VPNDemo.Hooks()) throws -> VPNDemoReport {
        defer { try? FileManager.default.removeItem(atPath: o.outputDirectory) }
        let report = try VPNDemo(options: o).run(progress: { _ in }, hooks: hooks)
        #expect(leftovers(o).isEmpty, "left behind: \(leftovers(o))")
        if let plot = report.plot {
            // An SVG figure with both panels, written where the options said.
            let svg = try String(contentsOfFile: plot, encoding: .utf8)
            #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.hasSuffix("</svg>\n"))
            #expect(svg.contains(">lost packets</text>") && svg.contains(">STAMP round trip (us): median, min-p99</text>"))
            #expect(plot.hasPrefix(o.outputDirectory + "/") && plot.hasSuffix(".svg"))
        } else {
            Issue.record("the report names no plot")
        }
        return report
    }

    @Test func reportsExactlyKLostInTheDropPeriodAndNoneElsewhere() throws {
        let o = try Self.options(periods: 4, period: .milliseconds(500), drop: 7, dropPeriod: 3)
        let report = try Self.run(o)
        #expect(report.ping.transmitted == 3 && report.ping.received == 3)
        #expect(report.periods.map(\.period) == [1, 2, 3, 4])
        for p in report.periods {
            // Counters, exact whatever the scheduling; no minimum rate (a loaded CI sends less).
            #expect(p.sent > 0, "period \(p.period): \(p)")
            #expect(p.lost == (p.period == 3 ? 7 : 0), "period \(p.period): \(p)")
            #expect(p.received == p.sent - UInt64(p.period == 3 ? 7 : 0))
            #expect(p.stamp.map { $0.sent > 0 } == true, "period \(p.period): no STAMP session")
        }
        #expect(report.stamp.received > 0, "no STAMP reply at all")
        #expect(report.injectedDrops == 7 && report.totalLost == 7)
        // End to end: h2 got every data datagram but those pm_loss dropped (some drops may be STAMP packets).
        #expect(report.dataDelivered <= report.dataSent && report.dataDelivered >= report.dataSent - 7)
        let dataDropped = report.dataSent - report.dataDelivered
        // The other drops were STAMP test packets, lost to their session (late replies may add to it).
        let stampLost = report.periods.reduce(0) { $0 + ($1.stamp?.lost ?? 0) }
        #expect(dataDropped + stampLost >= 7, "data dropped \(dataDropped), STAMP lost \(stampLost)")
        let rtt = try #require(report.stamp.roundTrip)
        #expect(rtt.min > 0 && rtt.min <= rtt.median && rtt.median <= rtt.p99 && rtt.p99 <= rtt.max && rtt.max < 1)
        let text = report.text()
        #expect(text.contains("exactly the 7 dropped packets found, in period 3, and no loss in the other periods"))
        // The JSON form carries the same figures.
        let decoded = try JSONDecoder().decode(VPNDemoReport.self, from: JSONEncoder().encode(report))
        #expect(decoded.periods == report.periods && decoded.injectedDrops == 7)
    }

    /// The seed's hybrid (r2's End.DT6 and the way back in the kernel's seg6/seg6local) where
    /// the kernel has it: run in the reference VM on a host without (scripts/run-tests.sh).
    @Test func theKernelsHybridFindsExactlyKLost() throws {
        try KernelTest.requireKernelSRv6()
        let o = try Self.options(periods: 3, period: .milliseconds(500), drop: 5, dropPeriod: 2, srv6: .kernel)
        #expect(o.testbedFile.hasSuffix("examples/vpn/demo.yaml"))
        let report = try Self.run(o)
        #expect(report.ping.received == 3)
        #expect(report.periods.map(\.lost) == [0, 5, 0], "\(report.periods)")
        #expect(report.stamp.received > 0, "no STAMP reply at all")
    }

    /// Without the kernel's SRv6, auto runs every behaviour in XDP (demo-xdp.yaml); with it, the hybrid.
    @Test func autoPicksThePlacementTheKernelCanRun() throws {
        let placement = try VPNDemoSRv6.auto.resolved()
        #expect(placement == (try KernelSRv6.isAvailable ? .kernel : .xdp))
        #expect(placement.testbed == (placement == .xdp ? "examples/vpn/demo-xdp.yaml" : "examples/vpn/demo.yaml"))
        if try !KernelSRv6.isAvailable {
            #expect(throws: VPNDemoError.self) { try VPNDemoSRv6.kernel.resolved() }
        }
        #expect(try VPNDemoSRv6.xdp.resolved() == .xdp)
    }

    @Test func tenPeriodsWithoutDropsReportZeroLoss() throws {
        let o = try Self.options(periods: 10, period: .milliseconds(400), drop: 0)
        let report = try Self.run(o)
        #expect(report.periods.count == 10)
        for p in report.periods {
            #expect(p.sent > 0 && p.lost == 0 && p.lossPercent == 0, "period \(p.period): \(p)")
        }
        #expect(report.injectedDrops == 0 && report.dropPeriod == nil)
        #expect(report.text().contains("no loss in any period"))
    }

    /// tshark on r2's side of the r1–r2 link (r1's redirected frames are not seen on r1's side),
    /// capturing inside the namespace for the whole run: the AltMark option before the SRH,
    /// checked byte by byte against RFC 9343, and the STAMP packets, decoded as TWAMP-Test, with
    /// no malformed field. The hybrid only: there r2 hands the frames to its kernel, where the
    /// capture sees them; with every behaviour in XDP (demo-xdp.yaml) r2's XDP redirects them
    /// before any packet tap (r1's too), so no capture point exists on the path.
    @Test func theKernelsHybridCarriesAltMarkAndSTAMPThatTsharkDissects() throws {
        try KernelTest.requireKernelSRv6()
        let o = try Self.options(periods: 2, period: .milliseconds(400), drop: 0, rate: 50, srv6: .kernel)
        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("hike-demo-\(o.name).pcap").path
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        let capture = CaptureBox()
        let hooks = VPNDemo.Hooks(afterUp: { session in
            _ = FileManager.default.createFile(atPath: pcap, contents: nil)  // tshark writing it is what the wait below checks
            let r2 = try session.namespace("r2")
            // Stopped with SIGTERM at the end. The test runner's threads block signals and a child
            // inherits the mask: python unblocks SIGTERM (and resets its handling) before exec.
            let tshark = Process()
            tshark.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            tshark.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT}); "
                                + "signal.signal(signal.SIGTERM, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])",
                                "ip", "netns", "exec", r2.name, "tshark", "-q", "-i", "veth-r2r1", "-f", "ip6",
                                "-a", "duration:60", "-F", "pcap", "-w", pcap]
            tshark.standardInput = FileHandle.nullDevice
            tshark.standardOutput = FileHandle.nullDevice
            tshark.standardError = FileHandle.nullDevice
            try tshark.run()
            capture.process = tshark
            try KernelTest.waitUntil("tshark captures", timeout: .seconds(120)) {
                ((try? FileManager.default.attributesOfItem(atPath: pcap)[.size] as? Int) ?? 0) > 0
            }
        }, beforeDown: { _, _ in
            if let tshark = capture.process {
                tshark.terminate()
                tshark.waitUntilExit()
                capture.status = tshark.terminationStatus
            }
        })
        let report = try Self.run(o, hooks: hooks)
        #expect(capture.status == 0)

        let verbose = try Command.check(["tshark", "-r", pcap, "-d", "udp.port==862,twamp.test", "-V"])
        #expect(!verbose.contains("Malformed"))
        #expect(!verbose.contains("[Severity level: Error]"))
        let rows = try Command.check(["tshark", "-r", pcap, "-d", "udp.port==862,twamp.test", "-T", "fields", "-E", "separator=|",
                                      "-E", "occurrence=a", "-e", "frame.number", "-e", "ipv6.nxt", "-e", "ipv6.dstopts.nxt",
                                      "-e", "ipv6.opt.type", "-e", "ipv6.opt.length", "-e", "ipv6.routing.type", "-e", "udp.dstport",
                                      "-e", "udp.srcport", "-e", "twamp.test.seq_number", "-e", "_ws.malformed"])
            .split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        let marked = rows.filter { $0.count == 10 && $0[2] == "43" }
        // At least every packet r1 marked during the periods (the capture also saw the ones before); no rate assumed.
        let markedInPeriods = report.periods.reduce(0) { $0 + Int($1.sent) }
        #expect(markedInPeriods > 0 && marked.count >= markedInPeriods, "\(rows.count) frames, \(marked.count) with the AltMark DOH, r1 counted \(markedInPeriods)")
        for row in marked {
            // Outer IPv6 → DOH (60) → SRH (43, routing type 4) → inner IPv6 → UDP (ICMPv6 for the ping).
            #expect(["60,17", "60,58"].contains(row[1]) && row[3] == "0x12" && row[4] == "4" && row[5] == "4" && row[9].isEmpty, "\(row)")
        }
        let requests = marked.filter { $0[6] == "862" }
        let replies = rows.filter { $0.count == 10 && $0[7] == "862" }
        #expect(!requests.isEmpty && !replies.isEmpty, "STAMP: \(requests.count) test packets, \(replies.count) replies")
        for row in requests + replies { #expect(!row[8].isEmpty, "STAMP packet not dissected: \(row)") }

        // RFC 9343 §2 byte by byte: DOH right after the outer header (next header 60), its next
        // header the SRH, Hdr Ext Len 0, option 0x12 (act 00, chg 0), length 4, FlowMonID 7 | L | D = 0.
        var altMarkFrames = 0
        for frame in try PcapFile.frames(pcap) where frame.count > 66 && frame[12] == 0x86 && frame[13] == 0xdd && frame[20] == 60 {
            altMarkFrames += 1
            #expect(Array(frame[54..<58]) == [43, 0, 0x12, 4])
            let data = UInt32(frame[58]) << 24 | UInt32(frame[59]) << 16 | UInt32(frame[60]) << 8 | UInt32(frame[61])
            #expect(data >> 12 == 7 && data & 0x7ff == 0, "option data \(String(data, radix: 16))")
            #expect(frame[62] == 41 && frame[64] == 4)  // the SRH: inner IPv6, routing type 4
        }
        #expect(altMarkFrames == marked.count)
    }

    /// The demo's own endpoint (--listen), scraped while the testbed is up and parsed by the
    /// Prometheus client's text parser (Debian's python3-prometheus-client): the report's figures.
    @Test func prometheusEndpointCarriesTheReportsFigures() throws {
        var o = try Self.options(periods: 3, period: .milliseconds(400), drop: 4, dropPeriod: 2)
        o.metricsListen = "127.0.0.1:0"
        let scraped = CaptureBox()
        let hooks = VPNDemo.Hooks(beforeDown: { session, _ in
            let endpoint = try #require(session.metricsEndpoint)
            let script = """
                import json, sys, urllib.request
                from prometheus_client.parser import text_string_to_metric_families
                with urllib.request.urlopen("http://%s/metrics" % sys.argv[1]) as r:
                    text = r.read().decode()
                print(json.dumps([[s.name, s.labels, repr(s.value)] for f in text_string_to_metric_families(text) for s in f.samples]))
                """
            scraped.output = try Command.check(["/usr/bin/python3", "-c", script, endpoint])
            // The nodes' counters at the same moment (the traffic is over).
            scraped.counters = try [(session.ingress, CountingPoint.ingress), (session.egress, .egress)].flatMap { node, point in
                try node.counters(at: point).map { (node.name, point.rawValue, $0) }
            }
        })
        let report = try Self.run(o, hooks: hooks)
        let samples = try #require(try JSONSerialization.jsonObject(with: Data((scraped.output ?? "").utf8)) as? [[Any]])
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            samples.first { ($0[0] as? String) == name && ($0[1] as? [String: String]).map { l in labels.allSatisfy { l[$0.key] == $0.value } } == true }
                .flatMap { ($0[2] as? String).flatMap(Double.init) }
        }
        let flow = ["flow": "7"]
        let last = try #require(report.periods.last)
        #expect(value(MonitoringMetrics.Name.periodNumber, flow) == 3)
        #expect(value(MonitoringMetrics.Name.periodSent, flow) == Double(last.sent))
        #expect(value(MonitoringMetrics.Name.periodReceived, flow) == Double(last.received))
        #expect(value(MonitoringMetrics.Name.periodLost, flow) == Double(last.lost))
        #expect(value(MonitoringMetrics.Name.periodLossPercent, flow) == last.lossPercent)
        #expect(value(MonitoringMetrics.Name.sentTotal, flow) == Double(report.totalSent))
        #expect(value(MonitoringMetrics.Name.lostTotal, flow) == 4 && report.totalLost == 4)
        #expect(value(MonitoringMetrics.Name.periodsTotal, flow) == 3)
        #expect(scraped.counters.count == 4)
        for (node, point, c) in scraped.counters {
            let labels = ["node": node, "point": point, "flow": String(c.flow), "colour": String(c.colour.rawValue)]
            #expect(value(MonitoringMetrics.Name.packets, labels) == Double(c.packets), "\(labels)")
            #expect(value(MonitoringMetrics.Name.bytes, labels) == Double(c.bytes), "\(labels)")
        }
        // STAMP: the last period's session.
        let stamp = try #require(last.stamp)
        let session = ["ssid": String(VPNDemoOptions.stampSSID)]
        #expect(value(MonitoringMetrics.Name.stampSent, session) == Double(stamp.sent))
        #expect(value(MonitoringMetrics.Name.stampReceived, session) == Double(stamp.received))
        let rtt = try #require(stamp.roundTrip)
        for (stat, figure) in [("min", rtt.min), ("median", rtt.median), ("p99", rtt.p99), ("max", rtt.max)] {
            #expect(value(MonitoringMetrics.Name.stampDelay, session.merging(["direction": "round_trip", "stat": stat]) { a, _ in a }) == figure)
        }
    }

    /// A failure while the testbed is up brings it down all the same, and the error comes out.
    @Test func failureWhileUpLeavesNothing() throws {
        let o = try Self.options(periods: 2, period: .milliseconds(400), drop: 0)
        struct Stop: Error {}
        let second = CaptureBox()
        let hooks = VPNDemo.Hooks(afterUp: { _ in
            // A second demo of the same name is refused while this one is up, and touches nothing.
            do {
                _ = try VPNDemo(options: o).run(progress: { _ in })
                second.output = "accepted"
            } catch let error as VPNDemoError {
                second.output = error.description
            }
            throw Stop()
        })
        #expect(throws: Stop.self) { try VPNDemo(options: o).run(progress: { _ in }, hooks: hooks) }
        #expect(second.output?.contains("a testbed named \(o.name) is up already") == true, "\(second.output ?? "")")
        #expect(Self.leftovers(o).isEmpty, "left behind: \(Self.leftovers(o))")
        #expect(!FileManager.default.fileExists(atPath: o.outputDirectory))
    }

    /// A stop request (what Ctrl-C makes) during the periods: the demo's own thread brings the
    /// testbed down and the run ends with `.interrupted`.
    @Test func stopRequestBringsTheTestbedDown() throws {
        let o = try Self.options(periods: 30, period: .milliseconds(400), drop: 0)
        let cancellation = VPNDemoCancellation()
        let lines = LinesBox()
        #expect(throws: VPNDemoError.interrupted) {
            try VPNDemo(options: o, cancellation: cancellation).run(progress: { line in
                lines.append(line)
                if line.contains("period 2: sent") { cancellation.request() }
            })
        }
        #expect(lines.all.contains { $0.contains("period 2: sent") } && !lines.all.contains { $0.contains("period 3: sent") })
        #expect(Self.leftovers(o).isEmpty, "left behind: \(Self.leftovers(o))")
    }

    /// Bad options are refused before anything is made, all problems in one message.
    @Test func badOptionsChangeNothing() throws {
        var o = try Self.options(periods: 3, period: .milliseconds(500), drop: 80, dropPeriod: 5, rate: 100)
        do {
            _ = try VPNDemo(options: o).run(progress: { _ in })
            Issue.record("bad options were accepted")
        } catch let error as VPNDemoError {
            let text = error.description
            #expect(text.contains("--drop-period must be one of the periods, 1–3, not 5"))
            #expect(text.contains("--drop 80 is more than half the 50 packets"))
        }
        o = try Self.options(periods: 2, period: .milliseconds(400), drop: 0)
        o.testbedFile = "/nonexistent/demo.yaml"
        #expect(throws: (any Error).self) { try VPNDemo(options: o).run(progress: { _ in }) }
        #expect(Self.leftovers(o).isEmpty)
        // A --listen address that does not parse fails before the testbed is made.
        o = try Self.options(periods: 2, period: .milliseconds(400), drop: 0)
        o.metricsListen = "127.0.0.1"
        var progress: [String] = []
        let lines = LinesBox()
        #expect(throws: MonitoringError.self) { try VPNDemo(options: o).run(progress: { lines.append($0) }) }
        progress = lines.all
        #expect(!progress.contains { $0.contains("bringing up") }, "\(progress)")
        #expect(Self.leftovers(o).isEmpty)
    }
}

/// Values the hooks hand back to the test (the suite is serialized; one hook runs at a time).
final class CaptureBox: @unchecked Sendable {
    var process: Process?
    var status: Int32?
    var output: String?
    var counters: [(String, String, FlowCounter)] = []
}

/// Progress lines collected from the demo's callback.
final class LinesBox: @unchecked Sendable {  // behind lock
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }
    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}

/// The frames of a libpcap file as tshark -F pcap writes it.
enum PcapFile {
    static func frames(_ path: String) throws -> [[UInt8]] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        func le32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        var frames: [[UInt8]] = []
        var at = 24
        while at + 16 <= bytes.count {
            let length = le32(at + 8)
            guard at + 16 + length <= bytes.count else { break }
            frames.append(Array(bytes[(at + 16)..<(at + 16 + length)]))
            at += 16 + length
        }
        return frames
    }
}
