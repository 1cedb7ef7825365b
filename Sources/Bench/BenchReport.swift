import Foundation

/// The output formats of `hike bench run`: the terminal table (`TrafficReport.table()`), and
/// Markdown, CSV and JSON here; an SVG bar chart per scenario in BenchReportPlot.swift.
public enum BenchReportFormat: String, CaseIterable, Sendable {
    case table, markdown, csv, json
}

extension TrafficReport {
    /// The report in `format`.
    public func rendered(_ format: BenchReportFormat) throws -> String {
        switch format {
        case .table: table()
        case .markdown: markdown()
        case .csv: csv()
        case .json: try json()
        }
    }

    /// The rate DUT costs are computed from: the PDR median, else the MRR median.
    static func costRate(_ result: TrafficBench.DUTResult) -> Double { result.pdr?.median ?? result.mrr.median }

    /// ns per packet and DUT cost (ns per packet over the scenario's baseline) of one row.
    static func costs(_ result: TrafficBench.DUTResult, in scenario: ScenarioResult) -> (nsPerPacket: Double, dutCost: Double?) {
        let nsPerPacket = cost(costRate(result))
        guard result.dut != .baseline,
              let base = scenario.results.first(where: { $0.dut == .baseline && $0.failure == nil }) else {
            return (nsPerPacket, nil)
        }
        return (nsPerPacket, nsPerPacket - cost(costRate(base)))
    }

    /// One line describing the run's set-up (frame, CPU, repetitions, search).
    var setupLine: String {
        let o = setup.options
        let search = o.searchPDR
            ? "PDR@\(TrafficBench.format(o.lossThreshold * 100, decimals: 1)) % and NDR (zero loss) to \(TrafficBench.format(o.precision * 100, decimals: 0)) %"
            : "MRR only (no PDR/NDR search)"
        return "\(setup.frameBytes)-byte frames (SRv6 inputs wrap that packet), generator on CPU \(o.cpu), \(o.flows) flows; "
            + "kernel \(setup.kernel), \(setup.cpus) CPUs, \(setup.date); \(o.repetitions) repetition(s), "
            + "trials of \(TrafficBench.format(o.trialSeconds, decimals: 1)) s, \(search)"
            + (setup.platform.map { "; platform: \($0)" } ?? "")
    }

    /// A GitHub-flavoured Markdown table: one row per DUT, skipped scenarios with their reason.
    public func markdown() -> String {
        func cell(_ spread: TrafficBench.Spread?) -> String {
            guard let spread, !spread.samples.isEmpty else { return "–" }
            return "\(TrafficBench.mpps(spread.median)) [\(TrafficBench.mpps(spread.min))–\(TrafficBench.mpps(spread.max))]"
        }
        func escape(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }
        var lines = [
            "**hike bench run**: \(escape(setupLine)).",
            "",
            "Mpps cells: median [min–max]; ns/pkt = 1e9 / PDR median (MRR without a PDR); "
                + "DUT cost = ns/pkt − ns/pkt of the baseline.",
            "",
            "| scenario | DUT | MRR Mpps | PDR Mpps | NDR Mpps | ns/pkt | DUT cost ns |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for scenario in scenarios {
            if let skipped = scenario.skipped {
                lines.append("| \(escape(scenario.scenario)) | – | skipped: \(escape(skipped)) | | | | |")
                continue
            }
            for result in scenario.results {
                if let failure = result.failure {
                    lines.append("| \(escape(scenario.scenario)) | \(escape(result.dut.rawValue)) | \(result.failureText(escape(failure))) | | | | |")
                    continue
                }
                let (ns, dutCost) = Self.costs(result, in: scenario)
                lines.append("| \(escape(scenario.scenario)) | \(escape(result.dut.rawValue)) | \(cell(result.mrr)) | "
                    + "\(cell(result.pdr)) | \(cell(result.ndr)) | \(TrafficBench.format(ns)) | "
                    + "\(dutCost.map { TrafficBench.format($0) } ?? "–") |")
            }
        }
        let comparisons = scenarios.flatMap { scenario in comparisonLines(scenario).map { "- \(scenario.scenario): \(escape($0))" } }
        if !comparisons.isEmpty { lines += [""] + comparisons }
        return lines.joined(separator: "\n")
    }

    /// The CSV columns, in order.
    public static let csvHeader = [
        "scenario", "dut", "status", "mrr_median_pps", "mrr_min_pps", "mrr_max_pps",
        "pdr_median_pps", "pdr_min_pps", "pdr_max_pps", "ndr_median_pps", "ndr_min_pps", "ndr_max_pps",
        "ns_per_packet", "dut_cost_ns", "repetitions", "frame_bytes", "loss_threshold", "date",
    ]

    /// RFC 4180 CSV: a header, then one row per DUT (rates in pps, no thousands separators;
    /// an empty cell is a figure not measured). A skipped scenario is one row with status
    /// "skipped: reason".
    public func csv() -> String {
        func field(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        func number(_ value: Double?, decimals: Int = 0) -> String {
            guard let value, value.isFinite else { return "" }
            return String(format: "%.\(decimals)f", value)
        }
        func spread(_ s: TrafficBench.Spread?) -> [String] {
            guard let s, !s.samples.isEmpty else { return ["", "", ""] }
            return [number(s.median), number(s.min), number(s.max)]
        }
        let common = [String(setup.options.repetitions), String(setup.frameBytes),
                      number(setup.options.lossThreshold, decimals: 4), setup.date]
        var rows = [Self.csvHeader.joined(separator: ",")]
        for scenario in scenarios {
            if let skipped = scenario.skipped {
                let row = [scenario.scenario, "", "skipped: \(skipped)"] + Array(repeating: "", count: 11) + common
                rows.append(row.map(field).joined(separator: ","))
                continue
            }
            for result in scenario.results {
                if let failure = result.failure {
                    let row = [scenario.scenario, result.dut.rawValue, result.failureText(failure)] + Array(repeating: "", count: 11) + common
                    rows.append(row.map(field).joined(separator: ","))
                    continue
                }
                let (ns, dutCost) = Self.costs(result, in: scenario)
                let row = [scenario.scenario, result.dut.rawValue, "measured"] + spread(result.mrr) + spread(result.pdr)
                    + spread(result.ndr) + [number(ns, decimals: 1), number(dutCost, decimals: 1)] + common
                rows.append(row.map(field).joined(separator: ","))
            }
        }
        return rows.joined(separator: "\n")
    }

    /// The whole report, every trial included, as pretty-printed JSON with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
