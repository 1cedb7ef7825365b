import Foundation
import Plot

extension TrafficReport {
    /// One bar of a plot: a rate's median and its spread, pps.
    struct Bar {
        var label: String
        var spread: TrafficBench.Spread
        var color: SVGDrawing.Color
    }

    static let pdrColor = SVGDrawing.Color(46, 104, 178), ndrColor = SVGDrawing.Color(230, 140, 40)
    static let mrrColor = SVGDrawing.Color(110, 160, 110)

    /// Mpps tick labels with as many decimals as the step needs.
    static func mppsLabel(_ value: Double, step: Double) -> String {
        TrafficBench.format(value, decimals: step < 0.1 ? 2 : step < 1 ? 1 : 0)
    }

    /// A bar chart of one scenario: per DUT the PDR and NDR (MRR when no PDR was searched), in
    /// Mpps, medians with error bars from min to max. Nil for a skipped scenario.
    public func plot(_ scenario: ScenarioResult) -> SVGDrawing? {
        guard scenario.skipped == nil, !scenario.results.isEmpty else { return nil }
        let searched = scenario.results.contains { $0.pdr != nil }
        let groups: [(dut: String, bars: [Bar])] = scenario.results.map { result in
            var bars: [Bar] = []
            if searched {
                if let pdr = result.pdr, !pdr.samples.isEmpty { bars.append(Bar(label: "PDR", spread: pdr, color: Self.pdrColor)) }
                if let ndr = result.ndr, !ndr.samples.isEmpty { bars.append(Bar(label: "NDR", spread: ndr, color: Self.ndrColor)) }
            } else {
                bars.append(Bar(label: "MRR", spread: result.mrr, color: Self.mrrColor))
            }
            return (result.dut.rawValue, bars)
        }
        let o = setup.options
        let what = searched
            ? "PDR@\(TrafficBench.format(o.lossThreshold * 100, decimals: 1))% and NDR (zero loss)"
            : "MRR (no PDR search)"
        let input = scenario.results.first(where: { $0.failure == nil })?.input ?? "\(setup.frameBytes)-byte frames"
        let subtitle = "\(input), \(what): median, error bars min-max over \(o.repetitions) repetition(s)"
        let width = max(SVGDrawing.estimatedWidth(subtitle) + 40, 140 + groups.count * 150), height = 420
        let left = 80, right = width - 20, top = 70, bottom = height - 70
        var drawing = SVGDrawing(width: width, height: height)
        drawing.text(scenario.scenario, x: width / 2, y: 30, size: 20, anchor: .middle)
        drawing.text(subtitle, x: width / 2, y: 52, size: 12, anchor: .middle)

        // Y axis in Mpps, 12 % headroom above the highest error bar for the value labels and the legend.
        let highest = groups.flatMap(\.bars).map { $0.spread.max }.filter(\.isFinite).max() ?? 0
        let scale = PlotAxis.scale(maximum: highest / 1e6, headroom: 0.12)
        func y(_ pps: Double) -> Int { bottom - Int((pps / 1e6 / scale.top * Double(bottom - top)).rounded()) }
        PlotAxis.draw(&drawing, top: top, bottom: bottom, left: left, right: right, scale: scale) { Self.mppsLabel($0, step: scale.step) }
        drawing.text("Mpps", x: 24, y: (top + bottom) / 2, size: 15, anchor: .middle, vertical: true)
        drawing.text("DUT", x: (left + right) / 2, y: height - 12, size: 15, anchor: .middle)

        let groupWidth = (right - left) / max(1, groups.count)
        for (index, group) in groups.enumerated() {
            let centre = left + groupWidth * index + groupWidth / 2
            let barWidth = min(50, (groupWidth - 30) / max(1, group.bars.count))
            let start = centre - barWidth * group.bars.count / 2
            for (b, bar) in group.bars.enumerated() {
                let x0 = start + b * barWidth + 2, x1 = start + (b + 1) * barWidth - 2
                let median = bar.spread.median
                guard median.isFinite else { continue }
                if median > 0 { drawing.rectangle(x0, y(median), x1, bottom, bar.color) }
                let mid = (x0 + x1) / 2, yMax = y(bar.spread.max)
                drawing.errorBar(x: mid, yMax, y(bar.spread.min))
                drawing.text(TrafficBench.format(median / 1e6, decimals: 2), x: mid, y: yMax - 6, size: 11, anchor: .middle)
            }
            drawing.line(centre, bottom, centre, bottom + 4)
            drawing.text(group.dut, x: centre, y: bottom + 24, size: 15, anchor: .middle)
        }
        Self.legend(&drawing, searched ? [("PDR", Self.pdrColor), ("NDR", Self.ndrColor)] : [("MRR", Self.mrrColor)],
                    x: right - 70, y: top + 4)
        return drawing
    }

    /// Colour boxes with their names, one under the other from (x, y).
    static func legend(_ drawing: inout SVGDrawing, _ entries: [(String, SVGDrawing.Color)], x: Int, y: Int) {
        for (index, (label, color)) in entries.enumerated() {
            let top = y + index * 20
            drawing.rectangle(x, top, x + 12, top + 12, color)
            drawing.text(label, x: x + 18, y: top + 12, size: 14)
        }
    }

    /// Fig. 7.9 of the thesis: the tailcalls scenario's rate (PDR, else MRR) against the number
    /// of no-op programs, raw and HIKe, with hike/raw in % above each N. Nil without two rows.
    public func tailcallPlot(_ scenario: ScenarioResult) -> SVGDrawing? {
        let rows = tailcallRows(scenario)
        guard rows.count >= 2 else { return nil }
        let width = 760, height = 460, left = 80, right = width - 30, top = 80, bottom = height - 70
        var drawing = SVGDrawing(width: width, height: height)
        drawing.text("tailcalls: N no-op programs, then forwarding", x: width / 2, y: 26, size: 16, anchor: .middle)
        let what = scenario.results.contains { $0.pdr != nil } ? "PDR" : "MRR"
        drawing.text("\(setup.frameBytes)-byte frames, \(what) medians in Mpps; hike/raw in % above each N",
                     x: width / 2, y: 46, size: 12, anchor: .middle)
        let highest = rows.flatMap { [$0.raw, $0.hike] }.max() ?? 1
        let scale = PlotAxis.scale(maximum: highest / 1e6, headroom: 0.15)
        func y(_ pps: Double) -> Int { bottom - Int((pps / 1e6 / scale.top * Double(bottom - top)).rounded()) }
        let calls = rows.map(\.calls), lowest = calls.min() ?? 1, largest = calls.max() ?? 8
        func x(_ n: Int) -> Int { left + 30 + (n - lowest) * (right - left - 60) / max(1, largest - lowest) }
        PlotAxis.draw(&drawing, top: top, bottom: bottom, left: left, right: right, scale: scale) { Self.mppsLabel($0, step: scale.step) }
        drawing.text("Mpps", x: 24, y: (top + bottom) / 2, size: 15, anchor: .middle, vertical: true)
        drawing.text("N (no-op programs before forwarding)", x: (left + right) / 2, y: height - 12, size: 15, anchor: .middle)
        for row in rows {
            drawing.line(x(row.calls), bottom, x(row.calls), bottom + 4)
            drawing.text("\(row.calls)", x: x(row.calls), y: bottom + 24, size: 15, anchor: .middle)
            drawing.text(TrafficBench.format(row.hike / row.raw * 100, decimals: 0) + "%", x: x(row.calls), y: top - 6, size: 11, anchor: .middle)
        }
        for (series, color) in [(rows.map { ($0.calls, $0.raw) }, Self.pdrColor), (rows.map { ($0.calls, $0.hike) }, Self.ndrColor)] {
            for (a, b) in zip(series, series.dropFirst()) { drawing.line(x(a.0), y(a.1), x(b.0), y(b.1), color, width: 2) }
            for point in series { drawing.circle(x(point.0), y(point.1), radius: 4, color) }
        }
        Self.legend(&drawing, [("raw", Self.pdrColor), ("hike", Self.ndrColor)], x: right - 80, y: top + 4)
        return drawing
    }

    /// Writes `<scenario>.svg` into `directory` (created if needed) for every scenario that ran,
    /// and `tailcalls-by-length.svg` (Fig. 7.9) for the tailcalls scenario; returns the paths written.
    @discardableResult
    public func writePlots(to directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for scenario in scenarios {
            guard let drawing = plot(scenario) else { continue }
            let name = String(scenario.scenario.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
            let url = directory.appendingPathComponent("\(name).svg")
            try drawing.write(to: url)
            written.append(url.path)
            if scenario.scenario == TrafficScenario.tailcalls.rawValue, let figure = tailcallPlot(scenario) {
                let figureURL = directory.appendingPathComponent("tailcalls-by-length.svg")
                try figure.write(to: figureURL)
                written.append(figureURL.path)
            }
        }
        return written
    }
}
