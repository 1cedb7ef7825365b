import Foundation

/// A figure as SVG text: shapes in pixel coordinates (origin top left, y down), text set by the
/// viewer in its own font. Any browser shows it; nothing of ours encodes images or draws glyphs.
public struct SVGDrawing: Sendable, Equatable {
    public struct Color: Sendable, Equatable {
        public var r: UInt8, g: UInt8, b: UInt8
        public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
            self.r = r
            self.g = g
            self.b = b
        }
        public static let black = Color(0, 0, 0), white = Color(255, 255, 255), grid = Color(225, 225, 225)
        /// `#rrggbb`.
        public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
    }

    /// Where a text's x is: its start, its middle or its end.
    public enum Anchor: String, Sendable { case start, middle, end }

    public let width: Int
    public let height: Int
    /// The shapes and texts, in drawing order (later ones on top).
    public private(set) var elements: [String] = []

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        rectangle(0, 0, width, height, .white)
    }

    /// A filled rectangle from (x0, y0) to (x1, y1), in either order.
    public mutating func rectangle(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: Color) {
        elements.append("<rect x=\"\(min(x0, x1))\" y=\"\(min(y0, y1))\" width=\"\(abs(x1 - x0))\" height=\"\(abs(y1 - y0))\" fill=\"\(color.hex)\"/>")
    }

    public mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: Color = .black, width: Double = 1) {
        elements.append("<line x1=\"\(x0)\" y1=\"\(y0)\" x2=\"\(x1)\" y2=\"\(y1)\" stroke=\"\(color.hex)\" stroke-width=\"\(width)\"/>")
    }

    public mutating func circle(_ x: Int, _ y: Int, radius: Int, _ color: Color) {
        elements.append("<circle cx=\"\(x)\" cy=\"\(y)\" r=\"\(radius)\" fill=\"\(color.hex)\"/>")
    }

    /// Text with its baseline at y; `vertical` turns it to read bottom to top around (x, y).
    public mutating func text(_ text: String, x: Int, y: Int, size: Int = 12, anchor: Anchor = .start, color: Color = .black,
                              vertical: Bool = false) {
        let rotation = vertical ? " transform=\"rotate(-90 \(x) \(y))\"" : ""
        elements.append("<text x=\"\(x)\" y=\"\(y)\" font-size=\"\(size)\" text-anchor=\"\(anchor.rawValue)\" fill=\"\(color.hex)\"\(rotation)>"
            + Self.escaped(text) + "</text>")
    }

    /// A vertical error bar from y0 to y1 with caps `cap` pixels wide each side.
    public mutating func errorBar(x: Int, _ y0: Int, _ y1: Int, cap: Int = 5) {
        line(x, y0, x, y1, width: 2)
        line(x - cap, y0, x + cap, y0, width: 2)
        line(x - cap, y1, x + cap, y1, width: 2)
    }

    /// The SVG document.
    public var svg: String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
            + "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n" + elements.joined(separator: "\n") + "\n</svg>\n"
    }

    /// Writes the document to path.
    public func write(to path: URL) throws {
        try Data(svg.utf8).write(to: path)
    }

    /// A rough width of text at size, to make room for it (the viewer's font decides).
    public static func estimatedWidth(_ text: String, size: Int = 12) -> Int {
        text.count * size * 6 / 10
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}

/// Value axes of the plots.
public enum PlotAxis {
    /// A "nice" tick step (1, 2 or 5 × 10^k) giving about `count` ticks up to `maximum`.
    public static func tickStep(maximum: Double, count: Int = 5) -> Double {
        guard maximum > 0, maximum.isFinite else { return 1 }
        let raw = maximum / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        for factor in [1.0, 2, 5, 10] where factor * magnitude >= raw { return factor * magnitude }
        return 10 * magnitude
    }

    /// The top of an axis for values up to maximum with `headroom` (0.12: 12 %) above them: a
    /// whole number of steps. Returns the top and the step.
    public static func scale(maximum: Double, headroom: Double, minimumStep: Double = 0) -> (top: Double, step: Double) {
        let step = max(minimumStep, tickStep(maximum: maximum * (1 + headroom)))
        return (max(step, (maximum * (1 + headroom) / step).rounded(.up) * step), step)
    }

    /// Horizontal grid lines with tick labels left of the axis, and the two axes.
    public static func draw(_ drawing: inout SVGDrawing, top: Int, bottom: Int, left: Int, right: Int, scale: (top: Double, step: Double),
                            label: (Double) -> String) {
        var tick = 0.0
        while tick <= scale.top + scale.step / 2 {
            let y = bottom - Int((tick / scale.top * Double(bottom - top)).rounded())
            if tick > 0 { drawing.line(left + 1, y, right, y, .grid) }
            drawing.line(left - 5, y, left, y)
            drawing.text(label(tick), x: left - 9, y: y + 4, size: 11, anchor: .end)
            tick += scale.step
        }
        drawing.line(left, top, left, bottom)
        drawing.line(left, bottom, right, bottom)
    }
}
