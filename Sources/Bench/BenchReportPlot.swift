import Foundation

extension TrafficReport {
    /// One bar of a plot: a rate's median and its spread, pps.
    struct Bar {
        var label: String
        var spread: TrafficBench.Spread
        var color: Canvas.Color
    }

    static let pdrColor = Canvas.Color(46, 104, 178), ndrColor = Canvas.Color(230, 140, 40)
    static let mrrColor = Canvas.Color(110, 160, 110)

    /// A "nice" tick step (1, 2 or 5 × 10^k) giving about `count` ticks up to `maximum`.
    static func tickStep(maximum: Double, count: Int = 5) -> Double {
        guard maximum > 0, maximum.isFinite else { return 1 }
        let raw = maximum / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        for factor in [1.0, 2, 5, 10] where factor * magnitude >= raw { return factor * magnitude }
        return 10 * magnitude
    }

    /// A bar chart of one scenario: per DUT the PDR and NDR (MRR when no PDR was searched), in
    /// Mpps, medians with error bars from min to max. Nil for a skipped scenario.
    public func plot(_ scenario: ScenarioResult) -> Canvas? {
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
        let width = max(Canvas.textWidth(subtitle) + 40, 140 + groups.count * 150), height = 420
        let left = 80, right = width - 20, top = 70, bottom = height - 70
        var canvas = Canvas(width: width, height: height)

        // Title and subtitle.
        canvas.text(scenario.scenario, x: (width - Canvas.textWidth(scenario.scenario, scale: 3)) / 2, y: 10, scale: 3)
        canvas.text(subtitle, x: (width - Canvas.textWidth(subtitle)) / 2, y: 40)

        // Y axis: ticks in Mpps and grid lines.
        let highest = groups.flatMap(\.bars).map { $0.spread.max }.filter(\.isFinite).max() ?? 0
        // 12 % headroom above the highest error bar for the value labels and the legend.
        let step = Self.tickStep(maximum: highest * 1.12 / 1e6)
        let top_mpps = max(step, ceil(highest * 1.12 / 1e6 / step) * step)
        func y(_ pps: Double) -> Int { bottom - Int((pps / 1e6 / top_mpps * Double(bottom - top)).rounded()) }
        var tick = 0.0
        while tick <= top_mpps + step / 2 {
            let ty = y(tick * 1e6)
            if tick > 0 { canvas.hline(left + 1, right, ty, Canvas.Color(225, 225, 225)) }
            canvas.hline(left - 5, left, ty, .black)
            let decimals = step < 0.1 ? 2 : step < 1 ? 1 : 0
            let label = TrafficBench.format(tick, decimals: decimals)
            canvas.text(label, x: left - 9 - Canvas.textWidth(label), y: ty - 3)
            tick += step
        }
        canvas.vline(left, top, bottom, .black)
        canvas.hline(left, right, bottom, .black)
        canvas.text("Mpps", x: 14, y: (top + bottom) / 2 + Canvas.textWidth("Mpps", scale: 2) / 2, scale: 2, vertical: true)
        canvas.text("DUT", x: (left + right - Canvas.textWidth("DUT", scale: 2)) / 2, y: height - 24, scale: 2)

        // Bars.
        let groupWidth = (right - left) / max(1, groups.count)
        for (index, group) in groups.enumerated() {
            let centre = left + groupWidth * index + groupWidth / 2
            let barWidth = min(50, (groupWidth - 30) / max(1, group.bars.count))
            let start = centre - barWidth * group.bars.count / 2
            for (b, bar) in group.bars.enumerated() {
                let x0 = start + b * barWidth + 2, x1 = start + (b + 1) * barWidth - 2
                let median = bar.spread.median
                guard median.isFinite else { continue }
                if median > 0 { canvas.fill(x0, y(median), x1, bottom - 1, bar.color) }
                // Error bar from min to max, with caps.
                let mid = (x0 + x1) / 2
                let yMin = y(bar.spread.min), yMax = y(bar.spread.max)
                canvas.fill(mid - 1, yMax, mid, yMin, .black)
                canvas.hline(mid - 6, mid + 5, yMax, .black)
                canvas.hline(mid - 6, mid + 5, yMin, .black)
                let value = TrafficBench.format(median / 1e6, decimals: 2)
                canvas.text(value, x: mid - Canvas.textWidth(value) / 2, y: yMax - 12)
            }
            canvas.vline(centre, bottom, bottom + 4, .black)
            canvas.text(group.dut, x: centre - Canvas.textWidth(group.dut, scale: 2) / 2, y: bottom + 10, scale: 2)
        }

        // Legend, top right inside the plot area.
        let legend: [(String, Canvas.Color)] = searched
            ? [("PDR", Self.pdrColor), ("NDR", Self.ndrColor)] : [("MRR", Self.mrrColor)]
        var ly = top + 4
        for (label, color) in legend {
            let lx = right - 70
            canvas.fill(lx, ly, lx + 12, ly + 12, color)
            canvas.text(label, x: lx + 18, y: ly, scale: 2)
            ly += 20
        }
        return canvas
    }

    /// Fig. 7.9 of the thesis: the tailcalls scenario's rate (PDR, else MRR) against the number
    /// of no-op programs, raw and HIKe, with hike/raw in % above each N. Nil without two rows.
    public func tailcallPlot(_ scenario: ScenarioResult) -> Canvas? {
        let rows = tailcallRows(scenario)
        guard rows.count >= 2 else { return nil }
        let width = 760, height = 460, left = 80, right = width - 30, top = 80, bottom = height - 70
        var canvas = Canvas(width: width, height: height)
        let title = "tailcalls: N no-op programs, then forwarding"
        canvas.text(title, x: (width - Canvas.textWidth(title, scale: 2)) / 2, y: 10, scale: 2)
        let what = scenario.results.contains { $0.pdr != nil } ? "PDR" : "MRR"
        let subtitle = "\(setup.frameBytes)-byte frames, \(what) medians in Mpps; hike/raw in % above each N"
        canvas.text(subtitle, x: (width - Canvas.textWidth(subtitle)) / 2, y: 36)
        let highest = rows.flatMap { [$0.raw, $0.hike] }.max() ?? 1
        let step = Self.tickStep(maximum: highest * 1.15 / 1e6)
        let topMpps = max(step, ceil(highest * 1.15 / 1e6 / step) * step)
        func y(_ pps: Double) -> Int { bottom - Int((pps / 1e6 / topMpps * Double(bottom - top)).rounded()) }
        let calls = rows.map(\.calls), lowest = calls.min() ?? 1, largest = calls.max() ?? 8
        func x(_ n: Int) -> Int { left + 30 + (n - lowest) * (right - left - 60) / max(1, largest - lowest) }
        var tick = 0.0
        while tick <= topMpps + step / 2 {
            let ty = y(tick * 1e6)
            if tick > 0 { canvas.hline(left + 1, right, ty, Canvas.Color(225, 225, 225)) }
            canvas.hline(left - 5, left, ty, .black)
            let label = TrafficBench.format(tick, decimals: step < 0.1 ? 2 : step < 1 ? 1 : 0)
            canvas.text(label, x: left - 9 - Canvas.textWidth(label), y: ty - 3)
            tick += step
        }
        canvas.vline(left, top, bottom, .black)
        canvas.hline(left, right, bottom, .black)
        canvas.text("Mpps", x: 14, y: (top + bottom) / 2 + Canvas.textWidth("Mpps", scale: 2) / 2, scale: 2, vertical: true)
        let axis = "N (no-op programs before forwarding)"
        canvas.text(axis, x: (left + right - Canvas.textWidth(axis, scale: 2)) / 2, y: height - 24, scale: 2)
        for row in rows {
            canvas.vline(x(row.calls), bottom, bottom + 4, .black)
            canvas.text("\(row.calls)", x: x(row.calls) - Canvas.textWidth("\(row.calls)", scale: 2) / 2, y: bottom + 10, scale: 2)
            let ratio = TrafficBench.format(row.hike / row.raw * 100, decimals: 0) + "%"
            canvas.text(ratio, x: x(row.calls) - Canvas.textWidth(ratio) / 2, y: top - 14)
        }
        for (series, color) in [(rows.map { ($0.calls, $0.raw) }, Self.pdrColor), (rows.map { ($0.calls, $0.hike) }, Self.ndrColor)] {
            for (a, b) in zip(series, series.dropFirst()) { canvas.line(x(a.0), y(a.1), x(b.0), y(b.1), color) }
            for point in series { canvas.fill(x(point.0) - 3, y(point.1) - 3, x(point.0) + 3, y(point.1) + 3, color) }
        }
        var ly = top + 4
        for (label, color) in [("raw", Self.pdrColor), ("hike", Self.ndrColor)] {
            canvas.fill(right - 80, ly, right - 68, ly + 12, color)
            canvas.text(label, x: right - 62, y: ly, scale: 2)
            ly += 20
        }
        return canvas
    }

    /// Writes `<scenario>.png` into `directory` (created if needed) for every scenario that ran,
    /// and `tailcalls-by-length.png` (Fig. 7.9) for the tailcalls scenario; returns the paths written.
    @discardableResult
    public func writePlots(to directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for scenario in scenarios {
            guard let canvas = plot(scenario) else { continue }
            let name = String(scenario.scenario.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
            let url = directory.appendingPathComponent("\(name).png")
            try Data(canvas.png()).write(to: url)
            written.append(url.path)
            if scenario.scenario == TrafficScenario.tailcalls.rawValue, let figure = tailcallPlot(scenario) {
                let figureURL = directory.appendingPathComponent("tailcalls-by-length.png")
                try Data(figure.png()).write(to: figureURL)
                written.append(figureURL.path)
            }
        }
        return written
    }
}
