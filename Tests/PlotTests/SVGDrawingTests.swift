import Foundation
import Plot
import Testing

@Suite struct SVGDrawingTests {
    /// Text reaches the document escaped: a label never opens an element of its own.
    @Test func textIsEscaped() {
        var drawing = SVGDrawing(width: 100, height: 50)
        drawing.text("<b> & \"q\"", x: 1, y: 2, anchor: .middle)
        #expect(Array(drawing.elements.dropFirst()) == [  // after the white background
            "<text x=\"1\" y=\"2\" font-size=\"12\" text-anchor=\"middle\" fill=\"#000000\">&lt;b&gt; &amp; &quot;q&quot;</text>",
        ])
    }

    @Test func theDocumentHasItsSizeAndEveryElement() {
        var drawing = SVGDrawing(width: 300, height: 200)
        drawing.rectangle(0, 0, 10, 20, .white)
        drawing.line(0, 0, 5, 5)
        let svg = drawing.svg
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"200\" viewBox=\"0 0 300 200\""))
        #expect(svg.hasSuffix("\n</svg>\n"))
        // A white background, then the two shapes.
        #expect(drawing.elements.count == 3 && drawing.elements.allSatisfy { svg.contains($0) })
    }

    /// Ticks are 1, 2 or 5 × 10^k, about five of them; the top is a whole number of ticks
    /// above the maximum and its headroom.
    @Test func axesTickAtRoundNumbers() {
        #expect(PlotAxis.tickStep(maximum: 100) == 20)
        #expect(PlotAxis.tickStep(maximum: 7) == 2)
        #expect(PlotAxis.tickStep(maximum: 0.3) == 0.1)
        #expect(PlotAxis.tickStep(maximum: 0) == 1 && PlotAxis.tickStep(maximum: .infinity) == 1)
        let scale = PlotAxis.scale(maximum: 80, headroom: 0.25)
        #expect(scale.step == 20 && scale.top == 100)
        var drawing = SVGDrawing(width: 200, height: 200)
        PlotAxis.draw(&drawing, top: 10, bottom: 110, left: 40, right: 190, scale: scale) { String(Int($0)) }
        let labels = drawing.elements.filter { $0.hasPrefix("<text") }
        #expect(labels.count == 6 && labels.last?.contains(">100</text>") == true)
    }
}
