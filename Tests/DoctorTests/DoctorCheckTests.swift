import Doctor
import Foundation
import Testing

/// What `hike doctor --json` gives scripts: the same five keys on every check.
@Suite struct DoctorCheckTests {
    @Test func checksRoundTripThroughJSONWithTheSameKeys() throws {
        let checks = [
            DoctorCheck(name: "made-up", required: true, verdict: .failed, detail: "line one\nline two", hint: "do this"),
            DoctorCheck(name: "made-up-optional", required: false, verdict: .warning, detail: "missing", hint: nil),
        ]
        let data = try JSONEncoder().encode(checks)
        #expect(try JSONDecoder().decode([DoctorCheck].self, from: data) == checks)
        let objects = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        for object in objects {
            #expect(Set(object.keys) == ["name", "required", "verdict", "detail", "hint"])
        }
        #expect(objects[1]["hint"] is NSNull)
        #expect(objects[0]["verdict"] as? String == "failed")
    }
}
