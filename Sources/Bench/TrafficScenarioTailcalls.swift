import BPFKit
import BPFObjects
import Foundation
import HikeRuntime
import HikeVM

/// The programs of the scenarios beyond plain forwarding (tailcalls, ddos), loaded when first
/// needed and removed with the pipeline.
final class TrafficScenarioPrograms: @unchecked Sendable {  // used from one thread
    /// bench_tcfwd.bpf.c: raw tail-call chains ending in XDP forwarding.
    private var tailcalls: BPFObject?
    /// A HIKe instance of its own with noop, hike_drop and ip6_kroute loaded.
    var hike: HikeBenchInstance?
    /// The detached loaders of the chains installed in it, by chain.
    var hikeLoaders: [String: BPFProgram] = [:]
    /// What the ddos DUTs keep alive (raw object, ipset rules, …).
    var ddos: DDoSScenarioState?

    /// The chains' lengths of the tailcalls scenario.
    static let tailcallLengths = [1, 8]

    func destroy() {
        ddos?.destroy()
        ddos = nil
        hikeLoaders.removeAll()
        try? hike?.reset()
        hike = nil
        tailcalls = nil
    }

    /// The program d0 runs for a DUT of the tailcalls or ddos scenarios.
    func program(for dut: TrafficPipeline.DUT, pipeline: TrafficPipeline) throws -> BPFProgram {
        if let calls = dut.rawTailcalls { return try rawTailcalls(calls) }
        if let calls = dut.hikeTailcalls { return try hikeTailcalls(calls) }
        return try ddosProgram(for: dut, pipeline: pipeline)
    }

    /// tcfwd_entry with slots 0..<calls holding no-op hops and slot `calls` the forwarder.
    func rawTailcalls(_ calls: Int) throws -> BPFProgram {
        precondition((0...8).contains(calls), "raw chains have 0–8 no-op programs")
        if tailcalls == nil {
            guard let embedded = EmbeddedObjects.named("bench_tcfwd") else { throw BenchError.missingObject("bench_tcfwd") }
            tailcalls = try BPFObject(bytes: embedded.bytes, name: embedded.name)
        }
        let object = tailcalls!
        let table = try object.map("tcfwd_jmp")
        for slot in 0..<16 { _ = try? table.delete(UInt32(slot)) }
        for slot in 0..<calls {
            try table.update(UInt32(slot), UInt32(bitPattern: try object.program("tcfwd_hop_\(slot)").fd))
        }
        try table.update(UInt32(calls), UInt32(bitPattern: try object.program("tcfwd_fwd").fd))
        return try object.program("tcfwd_entry")
    }

    static func tailcallChain(_ calls: Int) -> String { "bench_fwd\(calls)" }

    /// The HIKe bench instance, with ip6_kroute loaded too.
    func hikeInstance() throws -> HikeBenchInstance {
        if let hike { return hike }
        HikeBenchInstance.removeStale()
        let instance = try HikeBenchInstance()
        hike = instance
        _ = try instance.instance.loadProgram("ip6_kroute")
        return instance
    }

    /// ip6_classifier running `calls × noop(); ip6_kroute()`; its default verdict is XDP_PASS.
    func hikeTailcalls(_ calls: Int) throws -> BPFProgram {
        let hike = try hikeInstance()
        let name = Self.tailcallChain(calls)
        if let loader = hikeLoaders[name] { return loader }
        let noop = try hike.id("noop"), kroute = try hike.id("ip6_kroute")
        var instructions: [BPFInstruction] = []
        for _ in 0..<calls { instructions += [.mov64(.r1, imm: noop), .call(helper: ABI.fnCall)] }
        instructions += [.mov64(.r1, imm: kroute), .call(helper: ABI.fnCall), .exit]
        return try installHikeChain(name, instructions: instructions)
    }

    /// Installs a chain in the bench instance and returns a detached ip6_classifier starting
    /// packets on it. Its default verdict is XDP_DROP: a chain that faults loses the packet, so
    /// the benchmark sees it as loss (with XDP_PASS the kernel would forward it and hide it).
    func installHikeChain(_ name: String, id: UInt32? = nil, instructions: [BPFInstruction]) throws -> BPFProgram {
        let hike = try hikeInstance().instance
        let chainID = try id ?? hike.symbols(addingChains: [name])[name] ?? 0
        try hike.installChains([(name: name, id: chainID, instructions: instructions, source: String?.none)])
        let loader = try hike.detachedLoader("ip6_classifier", chain: name, defaultVerdict: ABI.xdpDrop)
        hikeLoaders[name] = loader
        return loader
    }
}

extension TrafficPipeline.DUT {
    /// N for "raw N" of the tailcalls scenario.
    var rawTailcalls: Int? {
        rawValue.hasPrefix("raw ") ? Int(rawValue.dropFirst(4)) : nil
    }

    /// N for "hike N" of the tailcalls scenario.
    var hikeTailcalls: Int? {
        rawValue.hasPrefix("hike ") ? Int(rawValue.dropFirst(5)) : nil
    }
}

extension TrafficReport {
    /// The comparison lines of the tailcalls and ddos scenarios: each DUT's rate (PDR, else MRR)
    /// as a fraction of the raw program's, next to the thesis' figure.
    static func comparisonLines(_ scenario: ScenarioResult) -> [String] {
        func rate(_ dut: TrafficPipeline.DUT) -> Double? {
            guard let r = scenario.results.first(where: { $0.dut == dut }) else { return nil }
            return r.pdr?.median ?? r.mrr.median
        }
        func percent(_ a: Double, _ b: Double) -> String { TrafficBench.format(a / b * 100, decimals: 0) + " %" }
        var parts: [String] = []
        if scenario.scenario == TrafficScenario.tailcalls.rawValue {
            for calls in TrafficScenarioPrograms.tailcallLengths {
                guard let raw = TrafficPipeline.DUT(rawValue: "raw \(calls)").flatMap(rate),
                      let hike = TrafficPipeline.DUT(rawValue: "hike \(calls)").flatMap(rate) else { continue }
                parts.append("hike/raw with \(calls) call\(calls == 1 ? "" : "s"): \(percent(hike, raw))")
            }
            if !parts.isEmpty { parts.append("(thesis: 46 % with 8 calls; target ≥ 70 %)") }
        }
        if scenario.scenario == TrafficScenario.ddos.rawValue, let raw = rate(.ddosRaw) {
            if let hike = rate(.ddosHike) { parts.append("hike/raw \(percent(hike, raw))") }
            if let ipset = rate(.ddosIpset) { parts.append("ipset/raw \(percent(ipset, raw))") }
            if !parts.isEmpty { parts.append("(thesis: 72 %, 39 %)") }
        }
        return parts.isEmpty ? [] : [String(repeating: " ", count: 17) + parts.joined(separator: ", ")]
    }
}
