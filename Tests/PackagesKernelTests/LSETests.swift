import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// hike_default: lse() answers how long ago (ns) this CPU last saw the packet's IPv6
/// (source, destination) pair, ~0 the first time, and records now.
@Suite(.serialized) struct LSETests {
    static let first = UInt64.max

    let h: MeasurementHarness

    init() throws {
        h = try MeasurementHarness(programs: ["lse"])
        try h.install("chain seen\n    call lse\n    exit\n")
    }

    func map() throws -> BPFMap { try h.map("lse", "lse_map") }

    /// The last_ns lse_map holds for a pair on cpu (nil: no entry).
    func last(_ key: [UInt8], cpu: Int) throws -> UInt64? {
        try NetKeys.onCPU(map(), key: key, cpu: cpu).map { Bytes.le64($0, 0) }
    }

    /// Runs packet through lse on the current CPU: r0, after checking that lse continued the
    /// chain and left the packet as it was.
    func lse(_ packet: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> UInt64 {
        try h.runToExit("seen", packet, sourceLocation: sourceLocation)
    }

    /// The CPUs this test may pin to (not always 0 and 1: a cpuset may leave them out).
    static let cpus = PinnedCPU.usable

    /// The first CPU the test may pin to.
    func firstCPU() throws -> Int { try #require(Self.cpus.first, "no CPU in this thread's affinity mask") }

    static func monotonic() -> UInt64 { MeasurementClock.nanoseconds(CLOCK_MONOTONIC) }

    @Test func firstSightThenTheTimeSinceTheLast() throws {
        let packet = NetKeys.udp("fc00::1", "fc00::2"), key = NetKeys.pair("fc00::1", "fc00::2")
        let cpu = try firstCPU()
        try PinnedCPU.run(on: cpu) { () throws in
            let t0 = Self.monotonic()
            #expect(try lse(packet) == Self.first)
            let t1 = Self.monotonic()
            let seen = try #require(try last(key, cpu: cpu))
            #expect(t0 <= seen && seen <= t1)

            let r0 = try lse(packet)
            let t2 = Self.monotonic()
            let now = try #require(try last(key, cpu: cpu))
            #expect(t1 <= now && now <= t2)
            #expect(r0 == now - seen)

            let third = try lse(packet)
            #expect(third == (try #require(try last(key, cpu: cpu))) - now)
        }
        #expect(try map().keys() == [key])
    }

    @Test func eachPairAndDirectionIsItsOwn() throws {
        try PinnedCPU.run(on: try firstCPU()) { () throws in
            #expect(try lse(NetKeys.udp("fc00::1", "fc00::2")) == Self.first)
            #expect(try lse(NetKeys.udp("fc00::2", "fc00::1")) == Self.first)
            #expect(try lse(NetKeys.udp("fc00::1", "fc00::3")) == Self.first)
            #expect(try lse(NetKeys.udp("fc00::1", "fc00::2")) != Self.first)
        }
        #expect(Set(try map().keys()) == [NetKeys.pair("fc00::1", "fc00::2"), NetKeys.pair("fc00::2", "fc00::1"),
                                          NetKeys.pair("fc00::1", "fc00::3")])
    }

    @Test(.enabled(if: Self.cpus.count > 1, "the per-CPU behaviour needs two CPUs this process may run on"))
    func aPairIsNewOnEachCPU() throws {
        let packet = NetKeys.udp("fc00::a", "fc00::b"), key = NetKeys.pair("fc00::a", "fc00::b")
        let (a, b) = (Self.cpus[0], Self.cpus[1])
        try PinnedCPU.run(on: a) { () throws in #expect(try lse(packet) == Self.first) }
        let onA = try #require(try last(key, cpu: a))
        #expect(try last(key, cpu: b) == 0)
        // CPU b has not seen the pair: first sight there, and CPU a's time is left alone.
        try PinnedCPU.run(on: b) { () throws in #expect(try lse(packet) == Self.first) }
        let onB = try #require(try last(key, cpu: b))
        #expect(onB >= onA)
        #expect(try last(key, cpu: a) == onA)
        try PinnedCPU.run(on: b) { () throws in
            let r0 = try lse(packet)
            #expect(r0 == (try #require(try last(key, cpu: b))) - onB)
        }
        #expect(try last(key, cpu: a) == onA)
    }

    @Test func nonIPv6PacketsAreAlwaysFirstAndNotRecorded() throws {
        try PinnedCPU.run(on: try firstCPU()) { () throws in
            #expect(try lse(NetKeys.ipv4) == Self.first)
            #expect(try lse(NetKeys.ipv4) == Self.first)
            // Ethernet + half an IPv6 header.
            #expect(try lse(Array(NetKeys.udp("fc00::1", "fc00::2")[..<34])) == Self.first)
        }
        #expect(try map().keys().isEmpty)
    }
}
