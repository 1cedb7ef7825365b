import Foundation
import Testing
import Topology

/// `hike pm` refuses times that are not finite numbers in range before it touches anything
/// (it used to trap on NaN, infinity or huge values converting them to a Duration).
@Suite struct PMCommandTests {
    static let binary: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("hike").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/hike").path
    }()

    @Test(arguments: [
        (["collect", "--ingress", "a", "--egress", "b", "--period", "nan"], "--period (seconds) must be a number from 0.01 to 86400"),
        (["collect", "--ingress", "a", "--egress", "b", "--period", "1e300"], "--period (seconds) must be a number"),
        (["collect", "--ingress", "a", "--egress", "b", "--period", "inf"], "--period (seconds) must be a number"),
        (["stamp", "--to", "::1", "--interval", "inf"], "--interval (milliseconds) must be a number from 0.0 to 60000"),
        (["stamp", "--to", "::1", "--timeout", "nan"], "--timeout (seconds) must be a number from 0.0 to 3600"),
        (["stamp", "--to", "::1", "--count", "99999999999"], "--count must be 1–1000000"),
        (["serve", "--listen", ":0", "--ingress", "a", "--egress", "b", "--period", "nan"], "--period (seconds) must be a number"),
        (["serve", "--listen", ":0", "--ingress", "a", "--egress", "b", "--stamp-count", "0"], "--stamp-count must be 1–10000"),
    ])
    func badTimesAreRefusedWithAClearError(arguments: [String], message: String) throws {
        let result = try Command.run([Self.binary, "pm"] + arguments)
        #expect(result.status == 64, "\(arguments): \(result.stderr)")  // a usage error, not a trap
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
}
