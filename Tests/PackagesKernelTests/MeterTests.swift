import BPFKit
import BPFObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Foundation
import Testing

/// The token bucket of the meter package, written from its definition (docs/packages.md), not
/// from the C: refill Δns · rate >> base_time_bits up to bucket_size (full after an idle 2^32 ns),
/// a packet takes 2^shift_tokens units, a new bucket starts full.
struct TokenBucketModel {
    let rate: UInt64, bucket: UInt64, baseTimeBits: UInt64, shiftTokens: UInt64
    var tokens: UInt64 = 0
    var last: UInt64 = 0
    var started = false

    init(rate: UInt64, bucket: UInt64, baseTimeBits: UInt64, shiftTokens: UInt64) {
        self.rate = rate
        self.bucket = bucket
        self.baseTimeBits = baseTimeBits
        self.shiftTokens = shiftTokens
    }

    /// Whether a packet at time now is in profile.
    mutating func take(at now: UInt64) -> Bool {
        if !started {
            tokens = bucket
        } else {
            let elapsed = now > last ? now - last : 0
            if elapsed >= 1 << 32 {
                tokens = bucket
            } else {
                // Δ < 2^32 and rate < 2^32: the product fits; the sum saturates at the bucket.
                tokens = min(bucket, tokens + (elapsed * rate) >> baseTimeBits)
            }
        }
        started = true
        last = now
        let cost: UInt64 = 1 << shiftTokens
        guard tokens >= cost else { return false }
        tokens -= cost
        return true
    }

    /// The map value (struct tb_flow) the program should have left.
    var flow: [UInt64] { [rate, bucket, tokens, last, baseTimeBits, shiftTokens] }

    /// The fixed-point rate for R tokens/s: R · 2^shift · 2^base / 10^9.
    static func rate(tokensPerSecond: Double, baseTimeBits: UInt64, shiftTokens: UInt64) -> UInt64 {
        UInt64(tokensPerSecond * Double(UInt64(1) << shiftTokens) * Double(UInt64(1) << baseTimeBits) / 1e9)
    }
}

@Suite(.serialized) struct MeterTests {
    init() throws { try KernelTest.prepare() }

    static let inProfile: UInt64 = 0, outProfile = NetKeys.r0(-1)

    func tbmon() throws -> NetPackageRunner {
        try NetPackageRunner([.init(chain: "dst", program: "ip6_dst_tbmon"), .init(chain: "sd", program: "ip6_sd_tbmon")])
    }

    /// The presets of the original's tb_defs.h follow from the documented formula.
    @Test func originalPresetsMatchTheUnits() {
        #expect(TokenBucketModel.rate(tokensPerSecond: 10_000, baseTimeBits: 30, shiftTokens: 10) == 10_995_116)
        #expect(TokenBucketModel.rate(tokensPerSecond: 100_000, baseTimeBits: 30, shiftTokens: 10) == 109_951_162)
        #expect(TokenBucketModel.rate(tokensPerSecond: 20, baseTimeBits: 30, shiftTokens: 20) == 22_517_998)
    }

    @Test func defaultBucketIsTwentyPerSecondWithBurstFive() throws {
        let runner = try tbmon()
        let clock = try runner.map("ip6_tbmon", "tb_clock")
        let flows = try runner.map("ip6_tbmon", "pcpu_tb_dst")
        let packet = NetKeys.udp("fc00::1", "fc00::2")
        var models: [Int: TokenBucketModel] = [:]
        let start: UInt64 = 5_000_000_000
        // 8 packets at once (5 in profile), then one every 60 ms (1.2 tokens each; at 50 ms the
        // fixed point gives 0.99999 of a token).
        let times = Array(repeating: start, count: 8) + (1...4).map { start + UInt64($0) * 60_000_000 }
        var passed = 0
        for now in times {
            try clock.update(UInt32(0), now)
            let (run, result) = try runner.run(packet, chain: "dst")
            #expect(run.returnValue == ABI.xdpPass)
            #expect(run.data == packet)
            var model = models[result.cpu] ?? TokenBucketModel(rate: 22_517_998, bucket: 5_242_880, baseTimeBits: 30, shiftTokens: 20)
            let expected = model.take(at: now)
            models[result.cpu] = model
            #expect(result.r0 == (expected ? Self.inProfile : Self.outProfile), "at \(now - start) ns")
            let state = try #require(try NetKeys.onCPU(flows, key: PacketBuilder.address("fc00::2"), cpu: result.cpu))
            #expect((0..<6).map { NetKeys.u64(state, at: $0) } == model.flow)
            if result.r0 == Self.inProfile { passed += 1 }
        }
        // All on one CPU: 5 + 4; spread over CPUs, each CPU's bucket starts full.
        if models.count == 1 { #expect(passed == 9) }
    }

    /// Per-key and default parameters from the config map, against the model over a random
    /// timed sequence (a fixed seed): r0 and the bucket state after every packet.
    @Test(arguments: ["dst", "sd"])
    func configuredBucketsFollowTheModel(program: String) throws {
        let runner = try tbmon()
        let clock = try runner.map("ip6_tbmon", "tb_clock")
        let flows = try runner.map("ip6_tbmon", program == "dst" ? "pcpu_tb_dst" : "pcpu_sd_tbmon")
        let config = try runner.map("ip6_tbmon", program == "dst" ? "tb_dst_cfg" : "tb_sd_cfg")
        // The default (all-zero key): 1000 tokens/s, burst 3; fc00::2's own: 200 tokens/s, burst 2.
        let fallback: [UInt64] = [TokenBucketModel.rate(tokensPerSecond: 1000, baseTimeBits: 30, shiftTokens: 10), 3 << 10, 30, 10]
        let own: [UInt64] = [TokenBucketModel.rate(tokensPerSecond: 200, baseTimeBits: 20, shiftTokens: 16), 2 << 16, 20, 16]
        func key(_ source: String, _ destination: String) -> [UInt8] {
            program == "dst" ? PacketBuilder.address(destination) : NetKeys.pair(source, destination)
        }
        let zero = [UInt8](repeating: 0, count: program == "dst" ? 16 : 32)
        try config.update(key: zero, value: NetKeys.u64s(fallback))
        try config.update(key: key("fc00::1", "fc00::2"), value: NetKeys.u64s(own))
        let flowsUnderTest = [("fc00::1", "fc00::2", own), ("fc00::1", "fc00::3", fallback), ("fc00::4", "fc00::3", fallback)]

        var models: [String: TokenBucketModel] = [:]
        var seed: UInt64 = 0x2545_f491_4f6c_dd1d
        var now: UInt64 = 1_000_000_000
        var inProfile = 0, outOfProfile = 0
        for step in 0..<300 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Mostly sub-millisecond gaps, sometimes none, once an idle gap beyond 2^32 ns.
            now += step == 150 ? 5_000_000_000 : (seed >> 33) % 3 == 0 ? 0 : (seed >> 40) % 2_000_000
            let (source, destination, parameters) = flowsUnderTest[Int((seed >> 20) % 3)]
            try clock.update(UInt32(0), now)
            let (_, result) = try runner.run(NetKeys.udp(source, destination), chain: program)
            let name = "\(result.cpu)/" + (program == "dst" ? destination : source + ">" + destination)
            var model = models[name] ?? TokenBucketModel(rate: parameters[0], bucket: parameters[1],
                                                          baseTimeBits: parameters[2], shiftTokens: parameters[3])
            let expected = model.take(at: now)
            models[name] = model
            #expect(result.r0 == (expected ? Self.inProfile : Self.outProfile), "step \(step), \(name)")
            let state = try #require(try NetKeys.onCPU(flows, key: key(source, destination), cpu: result.cpu))
            #expect((0..<6).map { NetKeys.u64(state, at: $0) } == model.flow, "step \(step), \(name)")
            if expected { inProfile += 1 } else { outOfProfile += 1 }
        }
        // The sequence exercises both outcomes.
        #expect(inProfile > 20)
        #expect(outOfProfile > 20)
        if program == "dst" {
            // fc00::1 → fc00::3 and fc00::4 → fc00::3 share a destination bucket.
            #expect(try flows.keys().count == 2)
        } else {
            #expect(try flows.keys().count == 3)
        }
    }

    /// Whatever the arithmetic, a bucket never lets through more than its burst plus its rate:
    /// packets in profile over [0, T] ≤ burst + R · T (real time here: the program's own clock).
    @Test func realClockStaysWithinTheProfile() throws {
        let runner = try tbmon()
        let config = try runner.map("ip6_tbmon", "tb_dst_cfg")
        let rate = 2000.0, burst: UInt64 = 10
        try config.update(key: [UInt8](repeating: 0, count: 16),
                          value: NetKeys.u64s([TokenBucketModel.rate(tokensPerSecond: rate, baseTimeBits: 30, shiftTokens: 10), burst << 10, 30, 10]))
        let clock = ContinuousClock()
        let started = clock.now
        var passed: [Int: Int] = [:]
        for _ in 0..<400 {
            let (_, result) = try runner.run(NetKeys.udp("fc00::1", "fc00::9"), chain: "dst")
            if result.r0 == Self.inProfile { passed[result.cpu, default: 0] += 1 }
        }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        for (_, count) in passed {
            #expect(Double(count) <= Double(burst) + rate * seconds + 1)
        }
        #expect(passed.values.reduce(0, +) >= Int(burst))
    }

    @Test(arguments: [("ip6_dst_meter", "pcpu_dst_meter"), ("ip6_sd_meter", "pcpu_sd_meter"), ("ip6_src_meter", "pcpu_src_meter")])
    func countersCountPacketsAndBytesPerKey(program: String, map: String) throws {
        let runner = try NetPackageRunner(program: program)
        let counters = try runner.map("ip6_meter", map)
        let traffic = [("fc00::1", "fc00::2", 10), ("fc00::1", "fc00::2", 100), ("fc00::1", "fc00::3", 0), ("fc00::5", "fc00::2", 30)]
        var expected: [[UInt8]: [UInt64]] = [:]
        for (source, destination, payload) in traffic {
            let packet = NetKeys.udp(source, destination, payload: payload)
            let (run, result) = try runner.run(packet)
            #expect(result.r0 == 0)
            #expect(run.returnValue == ABI.xdpPass)
            #expect(run.data == packet)
            let key = switch program {
            case "ip6_dst_meter": PacketBuilder.address(destination)
            case "ip6_src_meter": PacketBuilder.address(source)
            default: NetKeys.pair(source, destination)
            }
            let now = expected[key] ?? [0, 0]
            expected[key] = [now[0] + 1, now[1] + UInt64(packet.count)]
        }
        #expect(Set(try counters.keys()) == Set(expected.keys))
        for (key, value) in expected {
            #expect(try NetKeys.summed(counters, key: key, words: 2) == value)
        }
    }
}

extension MeterTests {
    /// Each CPU has its own bucket: a destination drained on one CPU starts full on another.
    @Test(.enabled(if: PinnedCPU.usable.count > 1, "the per-CPU behaviour needs two CPUs this process may run on"))
    func eachCPUHasItsOwnBucket() throws {
        let (first, second) = (PinnedCPU.usable[0], PinnedCPU.usable[1])
        let runner = try tbmon()
        try runner.map("ip6_tbmon", "tb_clock").update(UInt32(0), UInt64(100_000))  // early: a zeroed slot would not refill
        let flows = try runner.map("ip6_tbmon", "pcpu_tb_dst")
        let packet = NetKeys.udp("fc00::1", "fc00::2")
        func run(on cpu: Int) throws -> UInt64 {
            let result = try PinnedCPU.run(on: cpu) { try runner.run(packet, chain: "dst").result }
            #expect(result.cpu == cpu)
            return result.r0
        }
        let drained = try (0..<6).map { _ in try run(on: first) }
        #expect(drained == [0, 0, 0, 0, 0, Self.outProfile])
        #expect(try run(on: second) == Self.inProfile)
        func tokens(_ cpu: Int) throws -> UInt64? {
            try NetKeys.onCPU(flows, key: PacketBuilder.address("fc00::2"), cpu: cpu).map { NetKeys.u64($0, at: 2) }
        }
        #expect(try tokens(first) == 0)
        #expect(try tokens(second) == 4 << 20)
    }
}
