import Demo
import Testing

/// The demo's options are checked before anything is made, every problem at once.
@Suite struct VPNDemoOptionsTests {
    @Test func theDefaultsAreValid() throws {
        try VPNDemoOptions().validate()
        // 200 packets/s for 1 s, 60 % of it for STAMP at 10 ms: 60 test packets a period.
        #expect(VPNDemoOptions().stampPacketsPerPeriod == 60)
    }

    @Test func everyProblemIsNamedInOneError() {
        let options = VPNDemoOptions(periods: 0, period: .milliseconds(100), drop: -1, rate: 5)
        let error = #expect(throws: VPNDemoError.self) { try options.validate() }
        let text = error.map { "\($0)" } ?? ""
        for part in ["--periods must be 1–60", "--period must be 0.2–10 s", "--rate must be 10–20000", "--drop must be 0 or more"] {
            #expect(text.contains(part), "\(part) missing from: \(text)")
        }
    }

    /// pm_loss drops the first K packets of the period: K must stay well under what it carries.
    @Test func aDropTheRateCannotCarryIsRefused() {
        let error = #expect(throws: VPNDemoError.self) { try VPNDemoOptions(drop: 150, rate: 200).validate() }
        #expect(error.map { "\($0)" }?.contains("more than half the 200 packets a period carries") == true)
        #expect(throws: VPNDemoError.self) { try VPNDemoOptions(periods: 3, drop: 5, dropPeriod: 4).validate() }
    }
}
