import Bench
import Foundation

/// The PNG of a demo run: per period, the packets lost (top) and the STAMP round-trip delay
/// (bottom: median bar, whisker from min to p99). Drawn with Bench's canvas and PNG encoder.
enum VPNDemoPlot {
    static let lossColor = Canvas.Color(200, 60, 50), delayColor = Canvas.Color(46, 104, 178)
    static let gridColor = Canvas.Color(225, 225, 225)

    static func draw(_ report: VPNDemoReport) -> Canvas {
        let n = max(1, report.periods.count)
        let width = max(720, 140 + n * 70), height = 600
        let left = 90, right = width - 30
        var canvas = Canvas(width: width, height: height)
        let title = "hike demo vpn: loss and delay per period"
        canvas.text(title, x: (width - Canvas.textWidth(title, scale: 2)) / 2, y: 10, scale: 2)
        let dropText = report.drop > 0 ? ", \(report.drop) dropped by pm_loss in period \(report.dropPeriod ?? 0)" : ", no injected drops"
        let subtitle = "flow \(report.flow), T = \(VPNDemoReport.number(report.periodSeconds)) s, \(report.rate) packets/s\(dropText)"
        canvas.text(subtitle, x: (width - Canvas.textWidth(subtitle)) / 2, y: 34)

        let slot = Double(right - left) / Double(n)
        func centre(_ index: Int) -> Int { left + Int((Double(index) + 0.5) * slot) }
        let barHalf = max(4, Int(slot * 0.3))

        // Top panel: packets lost.
        let lossTop = 80, lossBottom = 290
        let maxLost = Double(max(1, report.periods.map(\.lost).max() ?? 0))
        panel(&canvas, name: "lost packets", top: lossTop, bottom: lossBottom, left: left, right: right, maximum: maxLost) { value in
            String(Int(value))
        }
        for (index, p) in report.periods.enumerated() {
            let x = centre(index)
            let h = Int((Double(max(0, p.lost)) / axisTop(maxLost) * Double(lossBottom - lossTop)).rounded())
            if h > 0 { canvas.fill(x - barHalf, lossBottom - h, x + barHalf, lossBottom - 1, lossColor) }
            let label = p.lost == 0 ? "0" : "\(p.lost) (\(String(format: "%.1f", p.lossPercent))%)"
            canvas.text(label, x: x - Canvas.textWidth(label) / 2, y: lossBottom - h - 12)
            let name = "p\(p.period)"
            canvas.text(name, x: x - Canvas.textWidth(name) / 2, y: lossBottom + 6)
        }

        // Bottom panel: STAMP round trip, µs.
        let delayTop = 340, delayBottom = 550
        let highest = report.periods.compactMap { $0.stamp?.roundTrip?.p99 }.max().map { $0 * 1e6 } ?? 1
        panel(&canvas, name: "STAMP round trip (us): median, min-p99", top: delayTop, bottom: delayBottom, left: left, right: right,
              maximum: max(1, highest)) { value in String(Int(value)) }
        let scale = axisTop(max(1, highest))
        func y(_ micro: Double) -> Int { delayBottom - Int((micro / scale * Double(delayBottom - delayTop)).rounded()) }
        for (index, p) in report.periods.enumerated() {
            let x = centre(index)
            if let rtt = p.stamp?.roundTrip {
                let median = rtt.median * 1e6
                canvas.fill(x - barHalf, y(median), x + barHalf, delayBottom - 1, delayColor)
                let low = y(rtt.min * 1e6), high = y(rtt.p99 * 1e6)
                canvas.vline(x, high, low, .black)
                canvas.hline(x - 3, x + 3, high, .black)
                canvas.hline(x - 3, x + 3, low, .black)
                let label = String(Int(median.rounded()))
                canvas.text(label, x: x - Canvas.textWidth(label) / 2, y: high - 12)
            } else {
                canvas.text("-", x: x - 2, y: delayBottom - 12)
            }
            let name = "p\(p.period)"
            canvas.text(name, x: x - Canvas.textWidth(name) / 2, y: delayBottom + 6)
        }
        return canvas
    }

    /// The top of an axis for values up to maximum: a whole number of tick steps with headroom.
    static func axisTop(_ maximum: Double) -> Double {
        let step = tickStep(maximum * 1.15)
        return max(step, (maximum * 1.15 / step).rounded(.up) * step)
    }

    static func tickStep(_ maximum: Double) -> Double {
        guard maximum > 0, maximum.isFinite else { return 1 }
        let raw = maximum / 5
        let magnitude = pow(10, floor(log10(raw)))
        for factor in [1.0, 2, 5, 10] where factor * magnitude >= raw { return max(1, factor * magnitude) }
        return max(1, 10 * magnitude)
    }

    /// Axes, grid lines with tick labels, and the panel's name above it.
    static func panel(_ canvas: inout Canvas, name: String, top: Int, bottom: Int, left: Int, right: Int, maximum: Double,
                      label: (Double) -> String) {
        canvas.text(name, x: left, y: top - 16)
        let axis = axisTop(maximum), step = tickStep(maximum * 1.15)
        var tick = 0.0
        while tick <= axis + step / 2 {
            let y = bottom - Int((tick / axis * Double(bottom - top)).rounded())
            if tick > 0 { canvas.hline(left + 1, right, y, gridColor) }
            let text = label(tick)
            canvas.text(text, x: left - 8 - Canvas.textWidth(text), y: y - 3)
            tick += step
        }
        canvas.vline(left, top, bottom, .black)
        canvas.hline(left, right, bottom, .black)
    }

    /// Writes the plot as PNG into directory (made if missing); returns its path.
    static func write(_ report: VPNDemoReport, to directory: String, name: String) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            try Data(draw(report).png()).write(to: URL(fileURLWithPath: path))
            return path
        } catch {
            throw VPNDemoError.output("\(directory)/\(name): \(error.localizedDescription)")
        }
    }
}
