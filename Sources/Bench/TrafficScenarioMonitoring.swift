import BPFKit
import Foundation

extension TrafficScenarioPrograms {
    /// The pm package's programs the loss-monitoring scenario needs (issue 8).
    static let pmPrograms = ["pm_mark_count"]

    /// loss-monitoring: the forwarding chain without and with the pm package's marking and counting.
    func lossMonitoring(_ dut: TrafficPipeline.DUT, pipeline: TrafficPipeline) throws -> BPFProgram {
        throw BenchError.chainFailed(what: "\(dut.rawValue) DUT", detail: "the pm package is not built into hike")
    }
}
