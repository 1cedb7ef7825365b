@testable import Bench
import Foundation
import Testing

/// The report formats and the PNG plots of `hike bench run`, from hand-made results (pure: no
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

    @Test func checksumsMatchKnownVectors() {
        #expect(PNGEncoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(PNGEncoder.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(PNGEncoder.adler32([UInt8](repeating: 0xFF, count: 100_000)) == Self.referenceAdler([UInt8](repeating: 0xFF, count: 100_000)))
    }

    /// Adler-32 the slow way (a modulo every byte).
    static func referenceAdler(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return b << 16 | a
    }

    /// Reads a PNG back: checks the signature and every chunk's CRC, inflates the stored zlib
    /// stream and checks its Adler-32; returns the size and the RGB pixels.
    static func decode(_ png: [UInt8]) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        struct Bad: Error { var what: String }
        func be32(_ at: Int) -> Int { Int(png[at]) << 24 | Int(png[at + 1]) << 16 | Int(png[at + 2]) << 8 | Int(png[at + 3]) }
        guard Array(png.prefix(8)) == PNGEncoder.signature else { throw Bad(what: "signature") }
        var offset = 8, width = 0, height = 0, idat: [UInt8] = [], types: [String] = []
        while offset < png.count {
            let length = be32(offset)
            let type = String(decoding: png[offset + 4..<offset + 8], as: UTF8.self)
            let body = Array(png[offset + 8..<offset + 8 + length])
            let crc = UInt32(be32(offset + 8 + length))
            guard crc == PNGEncoder.crc32(png[offset + 4..<offset + 8 + length]) else { throw Bad(what: "CRC of \(type)") }
            types.append(type)
            if type == "IHDR" {
                width = Int(body[0]) << 24 | Int(body[1]) << 16 | Int(body[2]) << 8 | Int(body[3])
                height = Int(body[4]) << 24 | Int(body[5]) << 16 | Int(body[6]) << 8 | Int(body[7])
                guard Array(body[8...]) == [8, 2, 0, 0, 0] else { throw Bad(what: "IHDR depth/colour") }
            }
            if type == "IDAT" { idat += body }
            offset += 12 + length
        }
        guard types.first == "IHDR", types.last == "IEND" else { throw Bad(what: "chunk order \(types)") }
        // zlib: header, stored blocks, Adler-32.
        guard idat[0] == 0x78, (UInt16(idat[0]) << 8 | UInt16(idat[1])) % 31 == 0 else { throw Bad(what: "zlib header") }
        var at = 2, raw: [UInt8] = []
        while true {
            let header = idat[at]
            guard header & 0x06 == 0 else { throw Bad(what: "not a stored block") }
            let len = Int(idat[at + 1]) | Int(idat[at + 2]) << 8, nlen = Int(idat[at + 3]) | Int(idat[at + 4]) << 8
            guard len ^ nlen == 0xFFFF else { throw Bad(what: "LEN/NLEN") }
            raw += idat[at + 5..<at + 5 + len]
            at += 5 + len
            if header & 1 == 1 { break }
        }
        let adler = UInt32(idat[at]) << 24 | UInt32(idat[at + 1]) << 16 | UInt32(idat[at + 2]) << 8 | UInt32(idat[at + 3])
        guard adler == referenceAdler(raw), at + 4 == idat.count else { throw Bad(what: "Adler-32") }
        let stride: Int = 1 + 3 * width
        guard raw.count == height * stride else { throw Bad(what: "scanline bytes") }
        var rgb: [UInt8] = []
        for row in 0..<height {
            let start: Int = row * stride
            guard raw[start] == 0 else { throw Bad(what: "filter type") }
            rgb += raw[(start + 1)..<(start + stride)]
        }
        return (width, height, rgb)
    }

    @Test func pngDecodesBack() throws {
        var canvas = Canvas(width: 300, height: 250)  // 225 751 raw bytes: four stored blocks
        canvas.fill(10, 20, 30, 40, Canvas.Color(1, 2, 3))
        canvas.text("PDR 1.5", x: 50, y: 50, scale: 2)
        let decoded = try Self.decode(canvas.png())
        #expect(decoded.width == 300 && decoded.height == 250)
        #expect(decoded.rgb == canvas.pixels)
        #expect(canvas.pixel(10, 20) == Canvas.Color(1, 2, 3) && canvas.pixel(31, 41) == .white)
        #expect(canvas.pixels.contains(0), "the text drew black pixels")
    }

    @Test func plotIsAValidPNGForEveryScenarioThatRan() throws {
        let report = Self.report()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hike-plot-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try report.writePlots(to: directory)
        #expect(written == [directory.appendingPathComponent("ipv6-forwarding.png").path])
        let png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: written[0])))
        let decoded = try Self.decode(png)
        #expect(decoded.width >= 480 && decoded.height == 420)
        // Both bar colours are drawn.
        let canvas = try #require(report.plot(report.scenarios[0]))
        let reds = Set(Swift.stride(from: 0, to: canvas.pixels.count, by: 3).map { (i: Int) -> UInt8 in canvas.pixels[i] })
        #expect(reds.contains(TrafficReport.pdrColor.r) && reds.contains(TrafficReport.ndrColor.r))
        #expect(report.plot(report.scenarios[1]) == nil)
        // To look at the plot: HIKE_TEST_PLOT_DIR=/tmp/x swift test --filter BenchReportTests
        if let keep = ProcessInfo.processInfo.environment["HIKE_TEST_PLOT_DIR"] {
            try report.writePlots(to: URL(fileURLWithPath: keep))
        }
    }

    /// An independent check: Python's zlib verifies the chunk CRCs and inflates the IDAT.
    @Test func pythonZlibAcceptsThePNG() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { return }
        let canvas = try #require(Self.report(searched: false).plot(Self.report(searched: false).scenarios[0]))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hike-plot-\(getpid()).png")
        defer { try? FileManager.default.removeItem(at: path) }
        try Data(canvas.png()).write(to: path)
        let script = """
            import sys, struct, zlib
            d = open(sys.argv[1], 'rb').read()
            assert d[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            i, idat = 8, b''
            while i < len(d):
                n, = struct.unpack('>I', d[i:i+4]); t = d[i+4:i+8]; body = d[i+8:i+8+n]
                assert struct.unpack('>I', d[i+8+n:i+12+n])[0] == zlib.crc32(t + body), t
                if t == b'IHDR': w, h = struct.unpack('>II', body[:8])
                if t == b'IDAT': idat += body
                i += 12 + n
            raw = zlib.decompress(idat)
            assert len(raw) == h * (1 + 3 * w)
            print(w, h)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, path.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(printed == "\(canvas.width) \(canvas.height)\n")
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
        #expect(TrafficReport.tickStep(maximum: 20) == 5)
        #expect(TrafficReport.tickStep(maximum: 4.2) == 1)
        #expect(TrafficReport.tickStep(maximum: 0.9) == 0.2)
    }
}
