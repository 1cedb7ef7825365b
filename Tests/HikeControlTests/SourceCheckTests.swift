import HikeControl
import HikeErrors
import HikeRuntime
import HikeTestSupport
import Testing

/// What the service layer checks before it touches a kernel: eCLAT scripts compile against the
/// program catalog of the embedded objects, chain files assemble after their `-D` replacements,
/// and every refusal carries a stable code and the place in the text as it was written.
@Suite struct SourceCheckTests {
    @Test func theExampleScriptsCompileWithoutAKernel() throws {
        let catalog = try ProgramCatalog()
        let script = try DataPlane.compile(SourceText.read(Examples.path("r1-xdp.eclat"),
                                                           defines: ["DEVNAME": "veth-r1h1", "CORE": "veth-r1r2", "POLICY": "0",
                                                                     "SIDX": "0", "SID": "fc00:1::d6/128"]),
                                           catalog: catalog)
        #expect(!script.compiled.chains.isEmpty)
        #expect(script.warnings.isEmpty, "\(script.warnings)")
    }

    @Test func aDefineNothingUsesIsAWarning() throws {
        let script = try DataPlane.compile(SourceText.read(Examples.path("h2-receive.eclat"),
                                                           defines: ["DEVNAME": "veth0", "UNUSED_NAME": "1"]),
                                           catalog: try ProgramCatalog())
        #expect(script.warnings.contains { $0.hasPrefix("-D UNUSED_NAME is not used in ") })
    }

    @Test func aScriptErrorIsASourceErrorAtItsLineAndColumn() throws {
        let text = "from programs.hike_default import hike_pass\n\ndef receive():\n    hike_pass()\n\ndef other():\n    no_such_program()\n"
        let catalog = try ProgramCatalog()
        do {
            _ = try DataPlane.compile(SourceText(file: "bad.eclat", text: text), catalog: catalog)
            Issue.record("a call of an unknown program compiled")
        } catch {
            #expect(error.code == "source")
            #expect(error.position?.file == "bad.eclat" && error.position?.line == 7, "\(String(describing: error.position))")
            #expect(error.diagnosticText?.contains("bad.eclat:7:") == true, "\(error.diagnosticText ?? "no text")")
        }
    }

    /// A -D replacement that makes a line wrong is reported at the column of the name as written.
    @Test func anAssemblerErrorPointsAtTheTextAsWritten() throws {
        let text = "chain first\n    r1 = ANSWER\n    exit\n"
        let good = try DataPlane.assemble(SourceText(file: "c.hasm", text: text, defines: ["ANSWER": "42"]))
        #expect(good.chains.map(\.name) == ["first"])
        do {
            _ = try DataPlane.assemble(SourceText(file: "c.hasm", text: text, defines: ["ANSWER": "r99 + + 1"]))
            Issue.record("r1 = r99 + + 1 assembled")
        } catch {
            #expect(error.code == "source")
            #expect(error.position == SourcePosition(file: "c.hasm", line: 2, column: 10), "\(String(describing: error.position))")
        }
    }
}
