import BPFKit
import BPFObjects
import ECLAT
import Foundation
import HikeControl
import HikeRuntime
import HikeVM
import Topology

/// What the ddos DUTs keep alive between configure and destroy.
final class DDoSScenarioState: @unchecked Sendable {  // used from one thread
    /// bench_ddos.bpf.c, the hand-written program.
    var raw: BPFObject?
    /// The ipset/ip6tables rules are in the DUT namespace (deleted with it); true once made.
    var ipsetReady = false

    func destroy() {
        raw = nil
    }
}

/// The ddos scenario (Table 7.2): the two-level token-bucket DDoS chain of Listing 7.2 written
/// by hand as one program ("raw"), as the eCLAT script compiled and run by the HIKe VM ("hike"),
/// and as ipset + ip6tables rules with the kernel forwarding ("ipset"). The traffic stays in
/// profile (the buckets are configured far above any rate the generator reaches), so every
/// packet takes the longest pass path (blacklist lookup, destination bucket, monitor) and is
/// forwarded to the sink.
enum DDoSScenario {
    /// examples/ddos/ddos.eclat with the final hike_pass() replaced by ip6_kroute(), so that what
    /// passes is forwarded in XDP as in the raw program.
    static let script = ECLATExamples.ddos.replacingOccurrences(of: "hike_pass", with: "ip6_kroute")
    static let chain = "ddos_tb_2_lev"

    /// struct tb_params: about 4·10^9 tokens/s (rate 2^32 − 1 units per 2^30 ns, one unit a
    /// token), bucket 2^40 tokens: nothing the generator sends gets out of profile.
    static let inProfile: [UInt8] = [UInt64(0xffff_ffff), 1 << 40, 30, 0].flatMap { BPFMap.bytesOf($0) }
}

extension TrafficScenarioPrograms {
    func ddosProgram(for dut: TrafficPipeline.DUT, pipeline: TrafficPipeline) throws -> BPFProgram {
        let state = ddos ?? DDoSScenarioState()
        ddos = state
        switch dut {
        case .ddosRaw:
            if state.raw == nil {
                guard let embedded = EmbeddedObjects.named("bench_ddos") else { throw BenchError.missingObject("bench_ddos") }
                let object = try BPFObject(bytes: embedded.bytes, name: embedded.name)
                let zeroDst = [UInt8](repeating: 0, count: 16), zeroSD = [UInt8](repeating: 0, count: 32)
                try object.map("ddos_tb_dst_cfg").update(key: zeroDst, value: DDoSScenario.inProfile)
                try object.map("ddos_tb_sd_cfg").update(key: zeroSD, value: DDoSScenario.inProfile)
                state.raw = object
            }
            return try state.raw!.program("ddos_raw")
        case .ddosHike:
            return try hikeDDoS()
        case .ddosIpset:
            if !state.ipsetReady {
                try ipsetRules(pipeline)
                state.ipsetReady = true
            }
            return pipeline.programs.pass
        default:
            throw BenchError.chainFailed(what: "\(dut.rawValue) DUT", detail: "not a DUT of the tailcalls or ddos scenarios")
        }
    }

    /// Compiles the script, loads its programs into the bench instance, installs the chain,
    /// puts the buckets in profile and returns a detached ip6_classifier starting packets on it
    /// (default verdict XDP_DROP).
    private func hikeDDoS() throws -> BPFProgram {
        let bench = try hikeInstance()
        if let loader = hikeLoaders[DDoSScenario.chain] { return loader }
        let hike = bench.instance
        let script = SourceText(file: "ddos-kroute.eclat", text: DDoSScenario.script, defines: ["DEVNAME": "d0"])
        let compiled = try DataPlane(instance: hike).compile(script).compiled
        let loader = try installHikeChains(compiled.chains, start: DDoSScenario.chain)
        let maps = "\(hike.pinRoot)/maps/ip6_tbmon"
        try BPFMap.openPinned("\(maps)/tb_dst_cfg").update(key: [UInt8](repeating: 0, count: 16), value: DDoSScenario.inProfile)
        try BPFMap.openPinned("\(maps)/tb_sd_cfg").update(key: [UInt8](repeating: 0, count: 32), value: DDoSScenario.inProfile)
        return loader
    }

    /// The same policy in the DUT's kernel: a (src, dst) blacklist in an ipset (10 s timeout),
    /// hashlimit buckets per destination then per (src, dst); over both → add to the blacklist
    /// and drop. In the raw table's PREROUTING (no conntrack). This kernel has no hash:ip,ip or
    /// hash:net,net set type, so the set is hash:ip,port,ip keyed (src, dst port, dst): the
    /// rules only see UDP, whose destination port is the same for all the generator's frames.
    /// hashlimit's ceiling is 10^6/s and a burst of 10^6 per bucket: the destination bucket
    /// can run out above 1 Mpps, but each of the 256 (src, dst) buckets would need 1 Mpps of its
    /// own, so nothing is blacklisted. The 1-in-500 sampling of blacklisted packets has no
    /// ipset counterpart and is left out (no packet is blacklisted here).
    private func ipsetRules(_ pipeline: TrafficPipeline) throws {
        guard Command.find("ipset") != nil, Command.find("ip6tables") != nil else {
            throw BenchError.chainFailed(what: "ipset DUT", detail: "needs the ipset and ip6tables tools (apt-get install ipset iptables)")
        }
        let ns = pipeline.dut.name
        func run(_ arguments: [String]) throws { try Command.check(["ip", "netns", "exec", ns] + arguments) }
        try run(["ipset", "create", "hikeb_bl", "hash:ip,port,ip", "family", "inet6", "timeout", "10"])
        let rules: [[String]] = [
            ["-N", "hikeb_ddos"],
            ["-A", "hikeb_ddos", "-m", "set", "--match-set", "hikeb_bl", "src,dst,dst", "-j", "DROP"],
            ["-A", "hikeb_ddos", "-m", "hashlimit", "--hashlimit-upto", "1000000/sec", "--hashlimit-burst", "1000000",
             "--hashlimit-mode", "dstip", "--hashlimit-name", "hikeb_dst", "-j", "ACCEPT"],
            ["-A", "hikeb_ddos", "-m", "hashlimit", "--hashlimit-upto", "1000000/sec", "--hashlimit-burst", "1000000",
             "--hashlimit-mode", "srcip,dstip", "--hashlimit-name", "hikeb_sd", "-j", "ACCEPT"],
            ["-A", "hikeb_ddos", "-j", "SET", "--add-set", "hikeb_bl", "src,dst,dst"],
            ["-A", "hikeb_ddos", "-j", "DROP"],
            ["-A", "PREROUTING", "-i", "d0", "-p", "udp", "-j", "hikeb_ddos"],
        ]
        for rule in rules { try run(["ip6tables", "-t", "raw"] + rule) }
    }
}
