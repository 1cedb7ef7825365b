import BPFKit
import BPFObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Foundation
import Testing

/// sampler's ip6_sd_dec2zero against a per-CPU countdown model.
@Suite(.serialized) struct SamplerTests {
    init() throws { try KernelTest.prepare() }

    /// The countdown of one (CPU, pair): r0 for the next packet, and the value left in the map.
    struct Countdown {
        var left: UInt64?
        mutating func next(count: UInt64) -> (r0: UInt64, stored: UInt64) {
            let current = min(left ?? count, count)
            let r0 = current <= 1 ? 0 : current - 1
            left = r0 == 0 ? count : r0
            return (r0, left ?? 0)
        }
    }

    func expectCountdown(count: Int32, packets: [(String, String)], runner: NetPackageRunner,
                         models: inout [String: Countdown]) throws -> Int {
        let map = try runner.map("ip6_sd_dec2zero", "pcpu_dec2zero")
        var zeros = 0
        for (index, (source, destination)) in packets.enumerated() {
            let packet = NetKeys.udp(source, destination)
            let (run, result) = try runner.run(packet, chain: "c\(count)")
            #expect(run.returnValue == ABI.xdpPass)
            #expect(run.data == packet)
            let name = "\(result.cpu)/\(source)>\(destination)"
            var model = models[name] ?? Countdown()
            let (r0, stored) = model.next(count: UInt64(count))
            models[name] = model
            #expect(result.r0 == r0, "packet \(index) of \(name)")
            let value = try #require(try NetKeys.onCPU(map, key: NetKeys.pair(source, destination), cpu: result.cpu))
            #expect(NetKeys.u64(value, at: 0) == stored, "packet \(index) of \(name)")
            if r0 == 0 { zeros += 1 }
        }
        return zeros
    }

    @Test func countsDownPerPairAndRestarts() throws {
        let runner = try NetPackageRunner([.init(chain: "c5", program: "ip6_sd_dec2zero", arguments: [5]),
                                           .init(chain: "c3", program: "ip6_sd_dec2zero", arguments: [3])])
        var models: [String: Countdown] = [:]
        // Two pairs interleaved: each has its own countdown.
        let packets = (0..<12).map { $0 % 3 == 2 ? ("fc00::9", "fc00::2") : ("fc00::1", "fc00::2") }
        _ = try expectCountdown(count: 5, packets: packets, runner: runner, models: &models)
        // A lower count applies at once to a pair counting down from a higher one.
        _ = try expectCountdown(count: 3, packets: Array(repeating: ("fc00::1", "fc00::2"), count: 7), runner: runner, models: &models)
        // On one CPU the first pair's r0 runs 4 3 2 1 0 4 3 2, then 1 0 2 1 0 2 1 with count 3.
        if models.count == 2, let first = models.first(where: { $0.key.hasSuffix("/fc00::1>fc00::2") }) {
            #expect(first.value.left == 1)
        }
    }

    @Test(arguments: [Int32(0), 1])
    func countZeroOrOneSamplesEveryPacket(count: Int32) throws {
        let runner = try NetPackageRunner([.init(chain: "c\(count)", program: "ip6_sd_dec2zero", arguments: [count])])
        var models: [String: Countdown] = [:]
        let zeros = try expectCountdown(count: count, packets: Array(repeating: ("fc00::1", "fc00::2"), count: 4),
                                        runner: runner, models: &models)
        #expect(zeros == 4)
    }

    /// The DDoS chain's use: one packet in 500.
    @Test func oneInFiveHundred() throws {
        let runner = try NetPackageRunner([.init(chain: "c500", program: "ip6_sd_dec2zero", arguments: [500])])
        var models: [String: Countdown] = [:]
        let zeros = try expectCountdown(count: 500, packets: Array(repeating: ("fc00::1", "fc00::2"), count: 1000),
                                        runner: runner, models: &models)
        // Per CPU: exactly ⌊packets on it / 500⌋ samples.
        #expect(zeros >= 0 && zeros <= 2)
        if models.count == 1 { #expect(zeros == 2) }
    }
}

extension SamplerTests {
    /// A pair first counted on one CPU starts at count on another (its slot there is zero, not a
    /// countdown that reached zero).
    @Test(.enabled(if: PinnedCPU.usable.count > 1, "the per-CPU behaviour needs two CPUs this process may run on"))
    func eachCPUCountsDownFromCount() throws {
        let (first, second) = (PinnedCPU.usable[0], PinnedCPU.usable[1])
        let runner = try NetPackageRunner([.init(chain: "c5", program: "ip6_sd_dec2zero", arguments: [5])])
        let map = try runner.map("ip6_sd_dec2zero", "pcpu_dec2zero")
        let packet = NetKeys.udp("fc00::1", "fc00::2"), key = NetKeys.pair("fc00::1", "fc00::2")
        func run(on cpu: Int) throws -> UInt64 {
            let result = try PinnedCPU.run(on: cpu) { try runner.run(packet).result }
            #expect(result.cpu == cpu)
            return result.r0
        }
        #expect(try [run(on: first), run(on: first), run(on: first)] == [4, 3, 2])
        #expect(try run(on: second) == 4)
        #expect(try run(on: first) == 1)
        #expect(try NetKeys.onCPU(map, key: key, cpu: first).map { NetKeys.u64($0, at: 0) } == 1)
        #expect(try NetKeys.onCPU(map, key: key, cpu: second).map { NetKeys.u64($0, at: 0) } == 4)
    }
}
