import BPFKit
import BPFObjects
import Foundation
import HikeControl
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
    /// What the hike SRv6 DUTs keep alive (the srv6_localsid loader).
    var srv6: SRv6ScenarioState?

    /// Whether this hike was built with the srv6 package (issue 6) and the pm package (issue 8).
    static var srv6Available: Bool { ["srv6_h_encaps", "srv6_end", "srv6_end_dt6"].allSatisfy(catalogHas) }
    static var pmAvailable: Bool { pmPrograms.allSatisfy(catalogHas) }

    /// The programs hike was built with.
    static let builtInCatalog = try? ProgramCatalog()

    static func catalogHas(_ program: String) -> Bool {
        (try? builtInCatalog?.entry(program)) != nil
    }

    func destroy() {
        ddos?.destroy()
        ddos = nil
        srv6 = nil
        hikeLoaders.removeAll()
        if let hike {
            // Not silent: a failed reset leaves the bench's pins behind.
            do { try hike.reset() } catch {
                FileHandle.standardError.write(Data("bench: could not remove HIKe instance \(hike.instance.name) (its pins stay; hike reset --instance \(hike.instance.name)): \(error)\n".utf8))
            }
        }
        hike = nil
        tailcalls = nil
    }

    /// The program d0 runs for a DUT of a scenario beyond plain forwarding.
    func program(for dut: TrafficPipeline.DUT, in scenario: TrafficScenario, pipeline: TrafficPipeline,
                 options: TrafficBench.Options) throws -> BPFProgram {
        switch scenario {
        case .tailcalls:
            if let calls = dut.rawTailcalls { return try rawTailcalls(calls) }
            if let calls = dut.hikeTailcalls { return try hikeTailcalls(calls) }
        case .ipv6Forwarding where dut == .hike:
            return try hikeTailcalls(0)
        case .ddos:
            return try ddosProgram(for: dut, pipeline: pipeline)
        case .srv6Encap, .srv6End, .srv6EndDT6:
            if dut == .hike { return try hikeSRv6(scenario, pipeline: pipeline, options: options) }
        case .srv6Proxy:
            if dut == .hike { return try hikeSRv6(.srv6End, pipeline: pipeline, options: options) }
            if dut == .endAD || dut == .endAS { return try hikeProxy(dut, pipeline: pipeline, options: options) }
        case .lossMonitoring:
            return try lossMonitoring(dut, pipeline: pipeline, options: options)
        default: break
        }
        throw BenchError.chainFailed(what: "\(dut.rawValue) DUT", detail: "not a DUT of the \(scenario.rawValue) scenario")
    }

    /// tcfwd_entry with slots 0..<calls holding no-op hops and slot `calls` the forwarder.
    func rawTailcalls(_ calls: Int) throws -> BPFProgram {
        guard (0...8).contains(calls) else {
            throw BenchError.chainFailed(what: "raw \(calls)", detail: "raw chains have 0–8 no-op programs")
        }
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
        return try installHikeChains([AssembledChain(name: name, instructions: instructions)], start: name)
    }

    /// Installs chains in the bench instance and returns a detached ip6_classifier starting
    /// packets on `start`. Its default verdict is XDP_DROP: a chain that faults loses the packet,
    /// so the benchmark sees it as loss (with XDP_PASS the kernel would forward it and hide it).
    func installHikeChains(_ chains: [AssembledChain], start: String) throws -> BPFProgram {
        let hike = try hikeInstance().instance
        _ = try DataPlane(instance: hike).installChains(chains, source: nil)
        let loader = try hike.detachedLoader("ip6_classifier", chain: start, defaultVerdict: ABI.xdpDrop)
        hikeLoaders[start] = loader
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
