import BPFKit
import Foundation
import HikeRuntime
import HikeVM
import Monitoring

/// loss-monitoring (issue 8's overhead): the VPN ingress chain of `examples/vpn/demo.yaml`'s r1,
/// `srv6_h_encaps(0); ip6_kroute()` on srv6-encap's input (IPv6/UDP → H.Encaps with --segments
/// SIDs → forwarded in XDP), without monitoring ("hike") and with the same chain monitoring the
/// policy's packets as pm flow 1: the headend counts them under (flow, colour) in pm_sent and
/// marks them as it encapsulates (srv6_policy.pm_flow), with the DSCP bits as the thesis marked
/// ("hike+pm") or with the RFC 9343 AltMark option in a Destination Options header before the
/// SRH ("hike+altmark", 8 more bytes). For comparison, "hike+pm_mark" marks with pm_mark(1) as a
/// program of its own between the two (DSCP): what one more HIKe program call costs.
/// The maps are written directly (flow 1, its counters zeroed, colour 0), as hike's Monitoring
/// module does.
enum LossMonitoringScenario {
    static let flow: UInt32 = 1
    /// pm.h: PM_MODE_DSCP, PM_MODE_ALTMARK; pm_stats' error slots (unknown flow … has_hbh, not dropped).
    static let modeDSCP: UInt32 = 1, modeAltMark: UInt32 = 2
    static let statErrors: [UInt32] = [2, 3, 4, 5, 6, 8]

    /// The flow's mode for a monitored DUT; nil for the chain without monitoring.
    static func mode(_ dut: TrafficPipeline.DUT) -> UInt32? {
        switch dut {
        case .hikeMonitored, .hikePMMark: modeDSCP
        case .hikeAltMark: modeAltMark
        default: nil
        }
    }
}

extension TrafficPipeline.DUT {
    /// loss-monitoring: the policy monitored in AltMark mode.
    public static let hikeAltMark = TrafficPipeline.DUT(rawValue: "hike+altmark")
    /// loss-monitoring: pm_mark as a program of its own in the chain (DSCP).
    public static let hikePMMark = TrafficPipeline.DUT(rawValue: "hike+pm_mark")
}

extension TrafficScenarioPrograms {
    /// The pm package's programs the loss-monitoring scenario needs (issue 8).
    static let pmPrograms = ["pm_mark"]

    /// loss-monitoring's DUTs, through the srv6_localsid loader as srv6-encap's: the chain
    /// `srv6_h_encaps(0); ip6_kroute()` with policy 0 monitored as flow 1 or not, or
    /// `srv6_h_encaps(0); pm_mark(1); ip6_kroute()` for hike+pm_mark.
    func lossMonitoring(_ dut: TrafficPipeline.DUT, pipeline: TrafficPipeline, options: TrafficBench.Options) throws -> BPFProgram {
        guard [.hike, .hikeMonitored, .hikeAltMark, .hikePMMark].contains(dut) else {
            throw BenchError.chainFailed(what: "\(dut.rawValue) DUT", detail: "not a DUT of the loss-monitoring scenario")
        }
        let bench = try hikeInstance()
        let hike = bench.instance
        if try hike.registry().programs["pm_mark"] == nil { _ = try hike.loadProgram("pm_mark") }
        let policyMonitored = dut == .hikeMonitored || dut == .hikeAltMark
        let encap = try hikeSRv6(.srv6Encap, pipeline: pipeline, options: options,
                                 pmFlow: policyMonitored ? LossMonitoringScenario.flow : 0)
        try configureFlow(mode: LossMonitoringScenario.mode(dut), in: hike)
        guard dut == .hikePMMark, let state = srv6 else { return encap }

        return try routeLocalsid((SRv6BenchPlan.encapDestination, 64), to: "bench_srv6_h_encaps_pm_mark", key: TrafficScenario.lossMonitoring.rawValue,
                                 state: state, hike: hike) {
            [
                .mov64(.r1, imm: try bench.id("srv6_h_encaps")), .mov64(.r2, imm: Int32(SRv6BenchPlan.encapPolicy)), .call(helper: ABI.fnCall),
                .mov64(.r1, imm: try bench.id("pm_mark")), .mov64(.r2, imm: Int32(LossMonitoringScenario.flow)), .call(helper: ABI.fnCall),
                .mov64(.r1, imm: try bench.id("ip6_kroute")), .call(helper: ABI.fnCall), .exit,
            ]
        }
    }

    /// The pm maps are pinned under maps/pm/ whichever object (pm or srv6) created them.
    func pmMap(_ name: String, in hike: HikeInstance) throws -> BPFMap {
        try BPFMap.openPinned("\(hike.pinRoot)/maps/pm/\(name)")
    }

    /// pm_flows[1] = mode (0: not configured); flow 1's pm_sent counters zeroed; pm_colour = 0;
    /// pm_stats zeroed.
    func configureFlow(mode: UInt32?, in hike: HikeInstance) throws {
        let flow = LossMonitoringScenario.flow
        try TypedMap<UInt32, PMFlowEntry>(pmMap(PMABI.flowsMap, in: hike)).update(flow, PMFlowEntry(mode: mode ?? 0))
        let sent = try TypedMap<UInt32, PacketCounter>(pmMap(PMABI.sentMap, in: hike))
        for colour in Colour.allCases { try sent.update(PMABI.counterIndex(flow: flow, colour: colour), .zero) }
        try pmMap("pm_colour", in: hike).update(UInt32(0), UInt32(0))
        let stats = try TypedMap<UInt32, UInt64>(pmMap(PMABI.statsMap, in: hike))
        for reason in 0..<stats.map.info.maxEntries { try stats.update(reason, 0) }
    }

    /// After a DUT's measurement: the headend encapsulated every packet the sink counted (as
    /// srv6-encap checks), and for a monitored DUT every one of them was counted and marked
    /// (pm_sent ≥ delivered, no error reason in pm_stats), so the time is monitoring's.
    func verifyMonitoring(_ dut: TrafficPipeline.DUT, delivered: UInt64) throws {
        guard dut != .baseline, let hike = hike?.instance else { return }
        try verifySRv6(.srv6Encap, hike: hike, delivered: delivered)
        guard LossMonitoringScenario.mode(dut) != nil else { return }
        let sent = try TypedMap<UInt32, PacketCounter>(pmMap(PMABI.sentMap, in: hike))
        var marked: UInt64 = 0
        for colour in Colour.allCases {
            marked += try sent.lookupSum(PMABI.counterIndex(flow: LossMonitoringScenario.flow, colour: colour))?.packets ?? 0
        }
        let stats = try pmMap("pm_stats", in: hike)
        var errors: UInt64 = 0
        for reason in LossMonitoringScenario.statErrors { errors += try stats.lookupSum(reason, as: UInt64.self) ?? 0 }
        guard marked >= delivered, errors == 0 else {
            throw BenchError.chainFailed(what: "\(dut.rawValue) DUT", detail: "pm counted \(marked) packets for "
                + "\(delivered) delivered, \(errors) refused: the chain did not monitor what it forwarded")
        }
    }
}
