import BPFKit
import Foundation
import HikeRuntime
import HikeVM

/// loss-monitoring (issue 8's overhead): the same HIKe forwarding chain without monitoring
/// ("hike": ip6_kroute alone) and with the pm package's ingress marking and counting in front of
/// it, as the thesis measured it (DSCP bits: "hike+pm") and with the RFC 9343 AltMark option in
/// a Destination Options header ("hike+altmark", 8 bytes inserted per packet). The maps are
/// written directly (flow 1, both colours' counters, colour 0), as hike's Monitoring module does.
enum LossMonitoringScenario {
    static let flow: UInt32 = 1
    /// pm.h: PM_MODE_DSCP, PM_MODE_ALTMARK; pm_stats slots PM_S_MARKED and the first error.
    static let modeDSCP: UInt32 = 1, modeAltMark: UInt32 = 2
    static let statMarked: UInt32 = 0, statErrors: ClosedRange<UInt32> = 2...6

    static func mode(_ dut: TrafficPipeline.DUT) -> UInt32? {
        switch dut {
        case .hikeMonitored: modeDSCP
        case .hikeAltMark: modeAltMark
        default: nil
        }
    }
}

extension TrafficPipeline.DUT {
    /// loss-monitoring: the forwarding chain with pm_mark in AltMark mode.
    public static let hikeAltMark = TrafficPipeline.DUT(rawValue: "hike+altmark")
}

extension TrafficScenarioPrograms {
    /// The pm package's programs the loss-monitoring scenario needs (issue 8).
    static let pmPrograms = ["pm_mark"]

    /// loss-monitoring's DUTs: a detached ip6_classifier running `ip6_kroute` or
    /// `pm_mark(1); ip6_kroute` with flow 1 configured in the mode of the DUT.
    func lossMonitoring(_ dut: TrafficPipeline.DUT, pipeline: TrafficPipeline) throws -> BPFProgram {
        if dut == .hike { return try hikeTailcalls(0) }
        guard let mode = LossMonitoringScenario.mode(dut) else {
            throw BenchError.chainFailed(what: "\(dut.rawValue) DUT", detail: "not a DUT of the loss-monitoring scenario")
        }
        let bench = try hikeInstance()
        let hike = bench.instance
        if try hike.registry().programs["pm_mark"] == nil { _ = try hike.loadProgram("pm_mark") }
        try configureFlow(mode: mode, in: hike)
        let name = "bench_pm_\(mode)"
        // A new chain per mode: the flow's mode is what differs, but the chain must be installed
        // after the flow is (re)configured so both DUTs start from zeroed counters.
        let mark = try bench.id("pm_mark"), kroute = try bench.id("ip6_kroute")
        let instructions: [BPFInstruction] = [
            .mov64(.r1, imm: mark), .mov64(.r2, imm: Int32(LossMonitoringScenario.flow)), .call(helper: ABI.fnCall),
            .mov64(.r1, imm: kroute), .call(helper: ABI.fnCall), .exit,
        ]
        if let loader = hikeLoaders[name] { return loader }
        return try installHikeChain(name, instructions: instructions)
    }

    func pmMap(_ name: String, in hike: HikeInstance) throws -> BPFMap {
        try BPFMap.openPinned("\(hike.pinRoot)/maps/pm/\(name)")
    }

    /// pm_flows[1] = mode; pm_sent[(1, 0)] and [(1, 1)] zeroed; pm_colour = 0; pm_stats zeroed.
    func configureFlow(mode: UInt32, in hike: HikeInstance) throws {
        let flow = LossMonitoringScenario.flow
        try pmMap("pm_flows", in: hike).update(flow, PMFlow(mode: mode, reserved: 0))
        let sent = try pmMap("pm_sent", in: hike)
        let cpus = try sent.valueBufferSize() / MemoryLayout<PacketCounter>.stride
        for colour: UInt32 in [0, 1] {
            try sent.updatePerCPU(PMKey(flow: flow, colour: colour), [PacketCounter](repeating: .zero, count: max(cpus, 1)))
        }
        try pmMap("pm_colour", in: hike).update(UInt32(0), UInt32(0))
        let stats = try pmMap("pm_stats", in: hike)
        for reason in 0..<UInt32(stats.info.maxEntries) {
            try stats.updatePerCPU(reason, [UInt64](repeating: 0, count: max(cpus, 1)))
        }
    }

    /// After a monitored DUT's measurement: every packet the sink counted was marked and counted
    /// by pm_mark (pm_sent ≥ delivered, no error reason counted), so the time is monitoring's.
    func verifyMonitoring(_ dut: TrafficPipeline.DUT, delivered: UInt64) throws {
        guard LossMonitoringScenario.mode(dut) != nil, let hike = hike?.instance else { return }
        let sent = try pmMap("pm_sent", in: hike)
        var marked: UInt64 = 0
        for colour: UInt32 in [0, 1] {
            marked += try sent.lookupSum(PMKey(flow: LossMonitoringScenario.flow, colour: colour), as: PacketCounter.self)?.packets ?? 0
        }
        let stats = try pmMap("pm_stats", in: hike)
        var errors: UInt64 = 0
        for reason in LossMonitoringScenario.statErrors { errors += try stats.lookupSum(reason, as: UInt64.self) ?? 0 }
        guard marked >= delivered, errors == 0 else {
            throw BenchError.chainFailed(what: "\(dut.rawValue) DUT", detail: "pm_mark marked \(marked) packets for "
                + "\(delivered) delivered, \(errors) refused: the chain did not monitor what it forwarded")
        }
    }
}

/// struct pm_flow of pm.h.
struct PMFlow: BitwiseCopyable { var mode: UInt32; var reserved: UInt32 }

/// struct pm_key of pm.h.
struct PMKey: BitwiseCopyable { var flow: UInt32; var colour: UInt32 }
