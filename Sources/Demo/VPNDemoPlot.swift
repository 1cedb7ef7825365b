import Foundation
import Plot

/// The figure of a demo run, as SVG: per period, the packets lost (top) and the STAMP round-trip
/// delay (bottom: median bar, whisker from min to p99).
enum VPNDemoPlot {
    static let lossColor = SVGDrawing.Color(200, 60, 50), delayColor = SVGDrawing.Color(46, 104, 178)

    static func draw(_ report: VPNDemoReport) -> SVGDrawing {
        let n = max(1, report.periods.count)
        let width = max(720, 140 + n * 70), height = 600
        let left = 90, right = width - 30
        var drawing = SVGDrawing(width: width, height: height)
        drawing.text("hike demo vpn: loss and delay per period", x: width / 2, y: 26, size: 16, anchor: .middle)
        let dropText = report.drop > 0 ? ", \(report.drop) dropped by pm_loss in period \(report.dropPeriod ?? 0)" : ", no injected drops"
        drawing.text("flow \(report.flow), T = \(VPNDemoReport.number(report.periodSeconds)) s, \(report.rate) packets/s\(dropText)",
                     x: width / 2, y: 46, size: 12, anchor: .middle)

        let slot = Double(right - left) / Double(n)
        func centre(_ index: Int) -> Int { left + Int((Double(index) + 0.5) * slot) }
        let barHalf = max(4, Int(slot * 0.3))

        // Top panel: packets lost.
        let lossTop = 80, lossBottom = 290
        let lossScale = panel(&drawing, name: "lost packets", top: lossTop, bottom: lossBottom, left: left, right: right,
                              maximum: Double(max(1, report.periods.map(\.lost).max() ?? 0)))
        for (index, p) in report.periods.enumerated() {
            let x = centre(index)
            let h = Int((Double(max(0, p.lost)) / lossScale.top * Double(lossBottom - lossTop)).rounded())
            if h > 0 { drawing.rectangle(x - barHalf, lossBottom - h, x + barHalf, lossBottom, lossColor) }
            let label = p.lost == 0 ? "0" : "\(p.lost) (\(String(format: "%.1f", p.lossPercent))%)"
            drawing.text(label, x: x, y: lossBottom - h - 5, size: 11, anchor: .middle)
            drawing.text("p\(p.period)", x: x, y: lossBottom + 16, size: 11, anchor: .middle)
        }

        // Bottom panel: STAMP round trip, µs.
        let delayTop = 340, delayBottom = 550
        let highest = report.periods.compactMap { $0.stamp?.roundTrip?.p99 }.max().map { $0 * 1e6 } ?? 1
        let delayScale = panel(&drawing, name: "STAMP round trip (us): median, min-p99", top: delayTop, bottom: delayBottom,
                               left: left, right: right, maximum: max(1, highest))
        func y(_ micro: Double) -> Int { delayBottom - Int((micro / delayScale.top * Double(delayBottom - delayTop)).rounded()) }
        for (index, p) in report.periods.enumerated() {
            let x = centre(index)
            if let rtt = p.stamp?.roundTrip {
                let median = rtt.median * 1e6
                drawing.rectangle(x - barHalf, y(median), x + barHalf, delayBottom, delayColor)
                let high = y(rtt.p99 * 1e6)
                drawing.errorBar(x: x, high, y(rtt.min * 1e6), cap: 3)
                drawing.text(String(Int(median.rounded())), x: x, y: high - 5, size: 11, anchor: .middle)
            } else {
                drawing.text("-", x: x, y: delayBottom - 5, size: 11, anchor: .middle)
            }
            drawing.text("p\(p.period)", x: x, y: delayBottom + 16, size: 11, anchor: .middle)
        }
        return drawing
    }

    /// Axes, grid lines with tick labels (whole numbers), and the panel's name above it.
    static func panel(_ drawing: inout SVGDrawing, name: String, top: Int, bottom: Int, left: Int, right: Int,
                      maximum: Double) -> (top: Double, step: Double) {
        drawing.text(name, x: left, y: top - 6, size: 12)
        let scale = PlotAxis.scale(maximum: maximum, headroom: 0.15, minimumStep: 1)
        PlotAxis.draw(&drawing, top: top, bottom: bottom, left: left, right: right, scale: scale) { String(Int($0)) }
        return scale
    }

    /// Writes the figure into directory (made if missing); returns its path.
    static func write(_ report: VPNDemoReport, to directory: String, name: String) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            try draw(report).write(to: URL(fileURLWithPath: path))
            return path
        } catch {
            throw VPNDemoError.output("\(directory)/\(name): \(error.localizedDescription)")
        }
    }
}
