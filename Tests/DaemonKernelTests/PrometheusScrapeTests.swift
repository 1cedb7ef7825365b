import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// A real Prometheus server (Debian's `prometheus`) scrapes the daemon; what its HTTP API
/// answers for a hike counter is what `hike … --json` says.
@Suite(.serialized) struct PrometheusScrapeTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// A TCP port nobody listens on now (bound, read and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw DaemonTestError("no free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Prometheus' answer to an instant query: the first series' value, or nil while it has none.
    static func query(_ expression: String, port: Int) throws -> Double? {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        let result = try Command.run(["curl", "-sf", "http://127.0.0.1:\(port)/api/v1/query?query=\(encoded)"])
        guard result.status == 0,
              let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let data = object["data"] as? [String: Any], let series = data["result"] as? [[String: Any]],
              let value = series.first?["value"] as? [Any], let text = value.last as? String else { return nil }
        return Double(text)
    }

    @Test func prometheusReadsTheFaultCounterHikeReports() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try DaemonScratch.with { scratch in
            let daemon = try DaemonProcess(["--metrics", "127.0.0.1:0"], scratch: scratch)
            defer { _ = daemon.stop() }
            let metrics = try #require(daemon.metrics)
            let connect = ["--connect", "unix:\(daemon.socket)"]
            try scratch.installFaultingChain(in: b.name, connect: connect)
            #expect(try Traffic.ping(from: a, to: "fc00::2", count: 5, interval: 0.05).received == 5)

            let port = try Self.freePort()
            let configuration = try scratch.write("prometheus.yml", """
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: hike
                    static_configs:
                      - targets: ['\(metrics)']
                """)
            let prometheus = Process()
            prometheus.executableURL = URL(fileURLWithPath: try #require(Command.find("prometheus"), "Debian's prometheus package"))
            prometheus.arguments = ["--config.file=\(configuration)", "--storage.tsdb.path=\(scratch.directory)/tsdb",
                                    "--web.listen-address=127.0.0.1:\(port)"]
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: try scratch.write("prometheus.log", "")))
            prometheus.standardOutput = log
            prometheus.standardError = log
            try prometheus.run()
            defer {
                prometheus.terminate()
                prometheus.waitUntilExit()
            }

            // The fault counter as hike reports it, and as Prometheus has it from its last scrape:
            // equal once a scrape has seen the current count (stray neighbour discovery on the
            // link may add faults between two reads, so both are read again until they agree).
            func hikeCount() throws -> Double? {
                let output = try scratch.hike(["faults", "--json"] + connect).stdout
                let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
                let counts = object?["counts"] as? [[String: Any]] ?? []
                return (counts.first { $0["chain"] as? String == "t_oob" && $0["reason"] as? String == "INVALID_ACCESS" }?["count"] as? Int)
                    .map(Double.init)
            }
            var seen: (hike: Double?, prometheus: Double?) = (nil, nil)
            try KernelTest.waitUntil("Prometheus has hike's fault count", timeout: .seconds(40)) {
                let before = try hikeCount()
                let scraped = try Self.query("hike_chain_faults_total{chain=\"t_oob\",reason=\"INVALID_ACCESS\"}", port: port)
                let after = try hikeCount()
                seen = (after, scraped)
                return scraped != nil && before == after && scraped == after
            }
            #expect((seen.hike ?? 0) >= 5, "the 5 pings faulted: \(seen)")
            // The daemon's own request counter is there too.
            #expect(try Self.query("hike_daemon_requests_total{rpc=\"Faults\",outcome=\"ok\"}", port: port).map { $0 >= 1 } == true)
        }
    }
}

extension PrometheusScrapeTests {
    /// A sample of an exposition text: `name{labels} value`, the labels given in order.
    static func sample(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// The daemon's monitoring loop: one instance marks and counts flow 7 (both ends of the
    /// collector, as the collector's tests have it); its periods, sent and lost totals reach
    /// /metrics.
    @Test func theDaemonsMonitoringLoopReportsEveryPeriod() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try DaemonScratch.with { scratch in
            let configuration = try scratch.write("daemon.yaml", """
                metrics: "127.0.0.1:0"
                monitoring:
                  ingress: \(scratch.name)
                  egress: \(scratch.name)
                  period: 0.5
                """)
            let daemon = try DaemonProcess(["--config", configuration], scratch: scratch)
            defer { _ = daemon.stop() }
            let connect = ["--connect", "unix:\(daemon.socket)"]
            let chain = try scratch.write("pm.hasm", """
                chain t_pm
                    r2 = 7
                    call pm_mark
                    r2 = 0
                    r3 = 0
                    call pm_count
                    call hike_pass
                """)
            for command in [["pm", "flow", "add", "7", "--mode", "dscp", "--destination", "fc00::2"], ["chain", "load", chain],
                            // Only packets to fc00::2 start the chain: neighbour discovery and MLD to
                            // multicast groups would be marked and, being to another destination, not counted.
                            ["loader", "attach", "ip6_lpm_classifier", "veth0", "--netns", b.name, "--route", "fc00::2/128=t_pm",
                             "--default-verdict", "pass"]] {
                let result = try scratch.hike(command + connect)
                #expect(result.status == 0, "hike \(command.joined(separator: " ")): \(result.stderr)")
            }
            let metrics = try #require(daemon.metrics)
            var text = ""
            func scrape() throws -> (sent: Double, periods: Double) {
                text = try Command.check(["curl", "-sf", "http://\(metrics)/metrics"])
                return (Self.sample(text, "hike_pm_measured_sent_packets_total{flow=\"7\"}") ?? 0,
                        Self.sample(text, "hike_pm_periods_total{flow=\"7\"}") ?? 0)
            }
            // The loop retries every period until the flow exists and takes its baselines when it
            // starts: one ping first, until a period with flow 7 is reported, so that the 20
            // measured pings all fall after the baselines.
            #expect(try Traffic.ping(from: a, to: "fc00::2", count: 1).received == 1)
            try KernelTest.waitUntil("the loop reports flow 7", timeout: .seconds(20)) { try scrape().periods >= 1 }
            let before = try scrape()
            #expect(try Traffic.ping(from: a, to: "fc00::2", count: 20, interval: 0.02).received == 20)
            do {
                try KernelTest.waitUntil("two periods after the pings are reported", timeout: .seconds(20)) {
                    let now = try scrape()
                    return now.sent >= before.sent + 20 && now.periods >= before.periods + 4
                }
            } catch {
                Issue.record("\(error)\nbefore the pings: \(before)\n\(text)\ndaemon:\n\(daemon.output)")
                return
            }
            #expect(Self.sample(text, "hike_pm_measured_lost_packets_total{flow=\"7\"}") == 0, "\(text)")
            #expect(Self.sample(text, "hike_pm_measured_excess_packets_total{flow=\"7\"}") == 0, "\(text)")
            #expect(text.contains("hike_pm_period_loss_percent{flow=\"7\"}"))
            #expect(text.contains("hike_pm_packets_total{node=\"\(scratch.name)\",point=\"egress\",flow=\"7\""), "\(text)")
            #expect(daemon.stop() == 0, "\(daemon.output)")
        }
    }
}
