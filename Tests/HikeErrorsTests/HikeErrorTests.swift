import HikeErrors
import Testing

/// The one error protocol: a stable code, a message, and a position where the input has one.
@Suite struct HikeErrorTests {
    struct Plain: HikeError {
        var code: String { "test.plain" }
        var message: String { "it failed" }
        var description: String { message }
    }

    @Test func positionsPrintAsFileLineColumn() {
        #expect(SourcePosition(file: "x.eclat", line: 3, column: 7).description == "x.eclat:3:7")
        #expect(SourcePosition(file: "x.yaml", line: 12).description == "x.yaml:12")
    }

    @Test func anErrorWithoutASourceHasNoPositionOrDiagnosticText() {
        let error = Plain()
        #expect(error.position == nil && error.diagnosticText == nil)
        #expect(error.code == "test.plain" && error.message == "it failed")
    }
}
