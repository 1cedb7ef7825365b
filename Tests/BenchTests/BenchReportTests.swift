@testable import Bench
import Foundation
import Plot
import Testing

/// The report formats and the SVG plots of `hike bench run`, from hand-made results (pure: no
/// kernel, no namespaces).
struct BenchReportTests {
    /// A report with a baseline and a kernel DUT, and one skipped scenario.
    static func report(searched: Bool = true) -> TrafficReport {
        var options = TrafficBench.Options.quick
        options.repetitions = 3
        options.searchPDR = searched
        func result(_ dut: TrafficPipeline.DUT, mrr: [Double], pdr: [Double], ndr: [Double]) -> TrafficBench.DUTResult {
            TrafficBench.DUTResult(dut: dut, mrr: .init(mrr), offered: .init(mrr), pdr: searched ? .init(pdr) : nil,
                                   ndr: searched ? .init(ndr) : nil, mrrTrials: [], searches: [], forwarderCounts: nil)
        }
        let baseline = result(.baseline, mrr: [19e6, 20e6, 18e6], pdr: [10e6, 12e6, 11e6], ndr: [4e6, 5e6, 3e6])
        let kernel = result(.kernelForwarding, mrr: [4e6, 4.2e6, 4.1e6], pdr: [3.9e6, 4e6, 3.8e6], ndr: [2e6, 2.5e6, 3e6])
        let setup = TrafficReport.Setup(date: "2026-11-22T23:00:00Z", kernel: "6.18.44", cpus: 2, options: options, frameBytes: 64)
        return TrafficReport(setup: setup, scenarios: [
            .init(scenario: "ipv6-forwarding", skipped: nil, results: [baseline, kernel]),
            .init(scenario: "srv6-end", skipped: "needs issue 6, skipped", results: []),
        ])
    }

    @Test func markdownRows() {
        let lines = Self.report().markdown().split(separator: "\n").map(String.init)
        #expect(lines.contains("| scenario | DUT | MRR Mpps | PDR Mpps | NDR Mpps | ns/pkt | DUT cost ns |"))
        // ns/pkt: 1e9 / 11e6 = 91; kernel 1e9 / 3.9e6 = 256; cost 256.4 − 90.9 = 165.5.
        #expect(lines.contains("| ipv6-forwarding | baseline | 19.000 [18.000–20.000] | 11.000 [10.000–12.000] | 4.000 [3.000–5.000] | 91 | – |"))
        #expect(lines.contains("| ipv6-forwarding | kernel | 4.100 [4.000–4.200] | 3.900 [3.800–4.000] | 2.500 [2.000–3.000] | 256 | 166 |"))
        #expect(lines.contains("| srv6-end | – | skipped: needs issue 6, skipped | | | | |"))
    }

    @Test func thePlatformIsNamedInTheReport() {
        // The kernel says which spectre_v2 mitigation runs (kernel paths cost several times more
        // under some): the report carries it so figures are compared within one platform.
        let platform = TrafficBench.platform()
        let spectre = (try? String(contentsOfFile: "/sys/devices/system/cpu/vulnerabilities/spectre_v2", encoding: .utf8)) ?? ""
        #expect(!spectre.isEmpty && platform.contains("spectre_v2: " + spectre.trimmingCharacters(in: .whitespacesAndNewlines)))
        var report = Self.report()
        report.setup.platform = platform
        #expect(report.markdown().contains("; platform: \(platform)"))
        #expect(report.table().contains("platform: \(platform)"))
        #expect(!Self.report().table().contains("platform:"))
    }

    @Test func csvRows() {
        let lines = Self.report().csv().split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0] == TrafficReport.csvHeader.joined(separator: ","))
        #expect(lines[1] == "ipv6-forwarding,baseline,measured,19000000,18000000,20000000,11000000,10000000,12000000,"
            + "4000000,3000000,5000000,90.9,,3,64,0.0050,2026-11-22T23:00:00Z")
        #expect(lines[2] == "ipv6-forwarding,kernel,measured,4100000,4000000,4200000,3900000,3800000,4000000,"
            + "2500000,2000000,3000000,256.4,165.5,3,64,0.0050,2026-11-22T23:00:00Z")
        // The reason has a comma: quoted.
        #expect(lines[3] == "srv6-end,,\"skipped: needs issue 6, skipped\",,,,,,,,,,,,3,64,0.0050,2026-11-22T23:00:00Z")
        for line in lines.dropLast() { #expect(line.split(separator: ",", omittingEmptySubsequences: false).count == 18) }
    }

    @Test func csvWithoutSearchLeavesPDRAndNDREmpty() {
        let lines = Self.report(searched: false).csv().split(separator: "\n").map(String.init)
        #expect(lines[1].hasPrefix("ipv6-forwarding,baseline,measured,19000000,18000000,20000000,,,,,,,52.6,,"))
    }

    @Test func jsonRoundTrips() throws {
        let text = try Self.report().json()
        let decoded = try JSONDecoder().decode(TrafficReport.self, from: Data(text.utf8))
        #expect(decoded.scenarios.count == 2)
        #expect(decoded.scenarios[0].results[1].ndr?.median == 2.5e6)
        #expect(text.contains("\"ndr\""))
        #expect(try Self.report().rendered(.table) == Self.report().table())
    }

    /// What an independent XML parser (Python's ElementTree) reads in an SVG document: its size,
    /// the fill colours of its rectangles and its texts.
    static func parseSVG(_ svg: String) throws -> (width: Int, height: Int, fills: Set<String>, texts: [String]) {
        let script = """
            import sys, json, xml.etree.ElementTree as E
            root = E.fromstring(sys.stdin.read())
            ns = '{http://www.w3.org/2000/svg}'
            assert root.tag == ns + 'svg', root.tag
            print(json.dumps({'width': int(root.get('width')), 'height': int(root.get('height')),
                              'fills': sorted({r.get('fill') for r in root.iter(ns + 'rect')}),
                              'texts': [t.text or '' for t in root.iter(ns + 'text')]}))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(svg.utf8))
        try input.fileHandleForWriting.close()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        struct Parsed: Decodable { var width: Int; var height: Int; var fills: [String]; var texts: [String] }
        guard process.terminationStatus == 0 else { throw SVGRejected(reason: said) }
        let parsed = try JSONDecoder().decode(Parsed.self, from: printed)
        return (parsed.width, parsed.height, Set(parsed.fills), parsed.texts)
    }

    struct SVGRejected: Error { var reason: String }

    @Test func plotIsWellFormedSVGForEveryScenarioThatRan() throws {
        let report = Self.report()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hike-plot-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try report.writePlots(to: directory)
        #expect(written == [directory.appendingPathComponent("ipv6-forwarding.svg").path])
        let svg = try Self.parseSVG(String(contentsOfFile: written[0], encoding: .utf8))
        #expect(svg.width >= 480 && svg.height == 420)
        // Both bar colours are drawn, and the title and the DUTs are written.
        #expect(svg.fills.isSuperset(of: [TrafficReport.pdrColor.hex, TrafficReport.ndrColor.hex]), "\(svg.fills)")
        #expect(svg.texts.contains("ipv6-forwarding") && svg.texts.contains("baseline") && svg.texts.contains("kernel"), "\(svg.texts)")
        #expect(report.plot(report.scenarios[1]) == nil)
        // To look at the plot: HIKE_TEST_PLOT_DIR=/tmp/x swift test --filter BenchReportTests
        if let keep = ProcessInfo.processInfo.environment["HIKE_TEST_PLOT_DIR"] {
            try report.writePlots(to: URL(fileURLWithPath: keep))
        }
    }

    /// Text is escaped: a label with XML's special characters reads back as written.
    @Test func textIsEscaped() throws {
        var drawing = SVGDrawing(width: 100, height: 50)
        drawing.text("a < b & \"c\" > d", x: 1, y: 20)
        #expect(try Self.parseSVG(drawing.svg).texts == ["a < b & \"c\" > d"])
    }

    /// NDR's "no drop": every sent packet counted (one batch of slack), at the requested rate.
    @Test func noDropJudgesSentAgainstDelivered() {
        func trial(requested: Double, sent: Double, delivered: Double) -> TrafficBench.Trial {
            let none = TrafficPipeline.Interfaces(g0tx: 0, d0rx: 0, d0rxDropped: 0, d1tx: 0, d1txDropped: 0, s0rx: 0, s0rxDropped: 0)
            return TrafficBench.Trial(requestedPPS: requested, offeredPPS: sent, deliveredPPS: delivered,
                                      deliveredBytesPerSecond: delivered * 64, seconds: 1, interfaces: none, sinkShareByCPU: [1])
        }
        #expect(trial(requested: 1e6, sent: 1e6, delivered: 1e6).isNoDrop(threshold: 0, rateTolerance: 0.005))
        #expect(trial(requested: 1e6, sent: 1e6, delivered: 1e6 - 64).isNoDrop(threshold: 0, rateTolerance: 0.005))
        #expect(!trial(requested: 1e6, sent: 1e6, delivered: 1e6 - 65).isNoDrop(threshold: 0, rateTolerance: 0.005))
        #expect(trial(requested: 1e6, sent: 1e6, delivered: 0.9999e6).isNoDrop(threshold: 0.0001, rateTolerance: 0.005))
        // The generator fell short of the requested rate: not a no-drop rate, even with no loss.
        #expect(!trial(requested: 1e6, sent: 0.99e6, delivered: 0.99e6).isNoDrop(threshold: 0, rateTolerance: 0.005))
        #expect(trial(requested: 1e6, sent: 0.996e6, delivered: 0.996e6).isNoDrop(threshold: 0, rateTolerance: 0.005))
    }

    @Test func tickSteps() {
        #expect(PlotAxis.tickStep(maximum: 20) == 5)
        #expect(PlotAxis.tickStep(maximum: 4.2) == 1)
        #expect(PlotAxis.tickStep(maximum: 0.9) == 0.2)
    }
}
