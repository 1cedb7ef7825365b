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

    /// What the protocol supplies: an error that does not come from a source file has no
    /// position and no compiler-style text (the CLI then prints `error: <message>`).
    @Test func anErrorWithoutASourceHasNoPositionOrDiagnosticText() {
        let error = Plain()
        #expect(error.position == nil && error.diagnosticText == nil)
    }
}
