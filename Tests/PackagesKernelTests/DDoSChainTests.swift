import BPFKit
import BPFObjects
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// The thesis' DDoS mitigation chain (`ddos_tb_2_lev`, listing 7.2), written in the chain
/// assembler: blacklist lookup, a token bucket per destination then per (source, destination),
/// blacklisting on overload, and one blacklisted packet in 500 redirected as a sample.
@Suite(.serialized) struct DDoSChainTests {
    init() throws { try KernelTest.prepare() }

    static let source = """
        chain ddos_tb_2_lev
            r2 = 2                      ; LOOKUP
            call ip6_hset_srcdst
            if r0 != 0 goto allowed     ; 0: blacklisted
            r2 = 500
            call ip6_sd_dec2zero
            if r0 != 0 goto drop
            r2 = 2                      ; REDIRECT
            call monitor
            r2 = 6                      ; REDIRECT_IF_INDEX
            call l2_redirect
        allowed:
            call ip6_dst_tbmon
            if r0 == 0 goto pass        ; IN_PROFILE
            call ip6_sd_tbmon
            if r0 == 0 goto pass
            r2 = 1                      ; ADD
            call ip6_hset_srcdst
        drop:
            r2 = 1                      ; DROP
            call monitor
            call hike_drop
        pass:
            r2 = 0                      ; PASS
            call monitor
            call hike_pass
        """

    @Test func blacklistsOverloadingFlowsAndSamplesThem() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        for program in ["ip6_hset_srcdst", "ip6_sd_dec2zero", "monitor", "l2_redirect", "ip6_dst_tbmon", "ip6_sd_tbmon",
                        "hike_drop", "hike_pass"] {
            try hike.loadProgram(program)
        }
        _ = try hike.install(try ChainAssembler.assemble(Self.source), source: nil)
        let loader = try hike.detachedLoader("ip6_classifier", chain: "ddos_tb_2_lev")
        func map(_ object: String, _ name: String) throws -> BPFMap {
            try BPFMap.openPinned("\(hike.pinRoot)/maps/\(object)/\(name)")
        }

        // Time stands still for the buckets (no refill): a destination takes 3 packets, a pair
        // 5 more; a blacklisting lasts 1 ms of the set's clock.
        try map("ip6_tbmon", "tb_clock").update(UInt32(0), UInt64(1_000_000))
        let slow = TokenBucketModel.rate(tokensPerSecond: 1, baseTimeBits: 30, shiftTokens: 10)
        try map("ip6_tbmon", "tb_dst_cfg").update(key: [UInt8](repeating: 0, count: 16), value: NetKeys.u64s([slow, 3 << 10, 30, 10]))
        try map("ip6_tbmon", "tb_sd_cfg").update(key: [UInt8](repeating: 0, count: 32), value: NetKeys.u64s([slow, 5 << 10, 30, 10]))
        let hsetConfig = try map("ip6_hset", "ip6_hset_cfg")
        try hsetConfig.update(key: BPFMap.bytesOf(UInt32(0)), value: NetKeys.u64s([1_000_000, 50_000_000]))

        let a = NetKeys.udp("fc00::1", "fc00::2"), b = NetKeys.udp("fc00::3", "fc00::2")
        // The buckets are per CPU: the whole sequence runs on CPU 0.
        let verdicts: [String: [UInt32]] = try PinnedCPU.run(on: 0) {
            func send(_ packet: [UInt8], _ count: Int) throws -> [UInt32] {
                try (0..<count).map { _ in try loader.testRun(TestRunOptions(data: packet)).returnValue }
            }
            var verdicts: [String: [UInt32]] = [:]
            verdicts["a passes"] = try send(a, 8)            // 3 on the destination's bucket, 5 on the pair's
            verdicts["a is blacklisted"] = try send(a, 1)
            verdicts["a is dropped"] = try send(a, 499)      // the 500th blacklisted packet is the sample
            verdicts["a is sampled"] = try send(a, 1)
            verdicts["b passes"] = try send(b, 5)            // the destination is spent; b's own pair is not
            verdicts["b is blacklisted"] = try send(b, 1)
            try hsetConfig.update(key: BPFMap.bytesOf(UInt32(0)), value: NetKeys.u64s([1_000_000, 51_000_000]))
            verdicts["a expired, blacklisted again"] = try send(a, 1)  // its buckets are still empty
            return verdicts
        }
        let (pass, drop, redirect) = (ABI.xdpPass, ABI.xdpDrop, ABI.xdpRedirect)
        #expect(verdicts["a passes"] == Array(repeating: pass, count: 8))
        #expect(verdicts["a is blacklisted"] == [drop])
        #expect(verdicts["a is dropped"] == Array(repeating: drop, count: 499))
        #expect(verdicts["a is sampled"] == [redirect])
        #expect(verdicts["b passes"] == Array(repeating: pass, count: 5))
        #expect(verdicts["b is blacklisted"] == [drop])
        #expect(verdicts["a expired, blacklisted again"] == [drop])

        let events = try map("hike_default", "monitor_events")
        #expect(try events.lookupSum(UInt32(0), as: UInt64.self) == 13)        // PASS
        #expect(try events.lookupSum(UInt32(1), as: UInt64.self) == 1 + 499 + 1 + 1)  // DROP
        #expect(try events.lookupSum(UInt32(2), as: UInt64.self) == 1)         // REDIRECT
        let blacklist = try map("ip6_hset", "ip6_hset_sd")
        #expect(try blacklist.lookup(key: NetKeys.pair("fc00::1", "fc00::2")) == NetKeys.u64s([51_000_000, 1_000_000]))
        #expect(try blacklist.lookup(key: NetKeys.pair("fc00::3", "fc00::2")) == NetKeys.u64s([50_000_000, 1_000_000]))
        #expect(try hike.faultCounts().isEmpty)
    }
}
