import BPFKit
import BPFObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// hike_default's set and redirect programs on crafted packets: r0 or verdict, the packet, and
/// the maps they leave.
@Suite(.serialized) struct HikeDefaultNetTests {
    init() throws { try KernelTest.prepare() }

    static let add: Int32 = 1, lookup: Int32 = 2, lookupAndClean: Int32 = 3
    static let enoent = NetKeys.r0(-2), eexist = NetKeys.r0(-17), einval = NetKeys.r0(-22)

    func hset() throws -> NetPackageRunner {
        try NetPackageRunner([
            .init(chain: "add", program: "ip6_hset_srcdst", arguments: [Self.add]),
            .init(chain: "lookup", program: "ip6_hset_srcdst", arguments: [Self.lookup]),
            .init(chain: "lookup0", program: "ip6_hset_srcdst", arguments: [0]),
            .init(chain: "clean", program: "ip6_hset_srcdst", arguments: [Self.lookupAndClean]),
            .init(chain: "bad", program: "ip6_hset_srcdst", arguments: [4]),
        ])
    }

    /// ip6_hset_cfg[0] = {timeout_ns, clock_ns}.
    func configure(_ runner: NetPackageRunner, timeout: UInt64, clock: UInt64) throws {
        try runner.map("ip6_hset", "ip6_hset_cfg").update(key: BPFMap.bytesOf(UInt32(0)), value: NetKeys.u64s([timeout, clock]))
    }

    @Test func addThenLookupUntilTheEntryExpires() throws {
        let runner = try hset()
        let set = try runner.map("ip6_hset", "ip6_hset_sd")
        let packet = NetKeys.udp("fc00::1", "fc00::2"), other = NetKeys.udp("fc00::1", "fc00::3")
        let key = NetKeys.pair("fc00::1", "fc00::2")
        try configure(runner, timeout: 5_000, clock: 1_000_000)

        var (run, result) = try runner.run(packet, chain: "lookup")
        #expect(result.r0 == Self.enoent)
        #expect(run.returnValue == ABI.xdpPass)
        #expect(run.data == packet)
        #expect(try set.keys().isEmpty)

        (run, result) = try runner.run(packet, chain: "add")
        #expect(result.r0 == 0)
        #expect(run.data == packet)
        #expect(try set.lookup(key: key) == NetKeys.u64s([1_000_000, 5_000]))
        #expect(try runner.run(packet, chain: "add").result.r0 == Self.eexist)
        #expect(try set.lookup(key: key) == NetKeys.u64s([1_000_000, 5_000]), "ADD of a present pair changed it")

        #expect(try runner.run(packet, chain: "lookup").result.r0 == 0)
        #expect(try runner.run(packet, chain: "lookup0").result.r0 == 0)  // upstream's LOOKUP = 0
        #expect(try runner.run(other, chain: "lookup").result.r0 == Self.enoent)
        // The other direction is another pair.
        #expect(try runner.run(NetKeys.udp("fc00::2", "fc00::1"), chain: "lookup").result.r0 == Self.enoent)

        try configure(runner, timeout: 5_000, clock: 1_004_999)
        #expect(try runner.run(packet, chain: "lookup").result.r0 == 0)
        try configure(runner, timeout: 5_000, clock: 1_005_000)
        #expect(try runner.run(packet, chain: "lookup").result.r0 == Self.enoent)
        #expect(try set.lookup(key: key) == nil, "the expired entry was not cleaned up")
    }

    @Test func lookupAndCleanAddsMissingAndExpiredPairs() throws {
        let runner = try hset()
        let set = try runner.map("ip6_hset", "ip6_hset_sd")
        let packet = NetKeys.udp("fc00::a", "fc00::b")
        let key = NetKeys.pair("fc00::a", "fc00::b")
        try configure(runner, timeout: 100, clock: 7_000)
        #expect(try runner.run(packet, chain: "clean").result.r0 == Self.enoent)
        #expect(try set.lookup(key: key) == NetKeys.u64s([7_000, 100]))
        #expect(try runner.run(packet, chain: "clean").result.r0 == 0)
        // Expired: it answers "not in the set" and adds the pair again, with the new time.
        try configure(runner, timeout: 100, clock: 7_100)
        #expect(try runner.run(packet, chain: "clean").result.r0 == Self.enoent)
        #expect(try set.lookup(key: key) == NetKeys.u64s([7_100, 100]))
        // ADD replaces an expired pair too.
        try configure(runner, timeout: 300, clock: 9_000)
        #expect(try runner.run(packet, chain: "add").result.r0 == 0)
        #expect(try set.lookup(key: key) == NetKeys.u64s([9_000, 300]))
    }

    @Test func defaultTimeoutIsTenSecondsOfTheRealClock() throws {
        let runner = try hset()
        let set = try runner.map("ip6_hset", "ip6_hset_sd")
        #expect(try runner.run(NetKeys.udp("fc00::1", "fc00::2"), chain: "add").result.r0 == 0)
        let value = try #require(try set.lookup(key: NetKeys.pair("fc00::1", "fc00::2")))
        #expect(NetKeys.u64(value, at: 1) == 10_000_000_000)
        #expect(NetKeys.u64(value, at: 0) > 0)
        #expect(try runner.run(NetKeys.udp("fc00::1", "fc00::2"), chain: "lookup").result.r0 == 0)
    }

    @Test func unknownActionIsInvalid() throws {
        let runner = try hset()
        let packet = NetKeys.udp("fc00::1", "fc00::2")
        let (run, result) = try runner.run(packet, chain: "bad")
        #expect(result.r0 == Self.einval)
        #expect(run.returnValue == ABI.xdpPass)
        #expect(try runner.map("ip6_hset", "ip6_hset_sd").keys().isEmpty)
    }

    @Test func l2RedirectEndsTheChainWithRedirect() throws {
        let runner = try NetPackageRunner([
            .init(chain: "to7", program: "l2_redirect", arguments: [7], final: true),
            .init(chain: "toBad", program: "l2_redirect", arguments: [-1], final: true),
        ])
        let packet = NetKeys.udp("fc00::1", "fc00::2")
        var (run, result) = try runner.run(packet, chain: "to7")
        #expect(run.returnValue == ABI.xdpRedirect)
        #expect(result.verdict == ABI.xdpRedirect)
        #expect(run.data == packet)
        (run, result) = try runner.run(packet, chain: "toBad")  // not a 32-bit ifindex
        #expect(run.returnValue == ABI.xdpDrop)
    }

    @Test func l2xconRedirectsByIngressInterface() throws {
        let runner = try NetPackageRunner(program: "l2xcon", final: true)
        let xcon = try runner.map("l2_redirect", "l2xcon_map")
        let packet = NetKeys.udp("fc00::1", "fc00::2")
        // A test run comes in on the loopback device (ifindex 1).
        let context = NetKeys.xdpContext(length: packet.count, ingress: 1)
        var (run, result) = try runner.run(packet, context: context)
        #expect(run.returnValue == ABI.xdpDrop, "no cross-connect for ifindex 1 yet")
        #expect(result.verdict == ABI.xdpDrop)
        try xcon.update(UInt32(1), UInt32(7))
        (run, result) = try runner.run(packet, context: context)
        #expect(run.returnValue == ABI.xdpRedirect)
        #expect(run.data == packet)
        #expect(try xcon.lookup(UInt32(1), as: UInt32.self) == 7)
    }
}
