import BPFKit
import BPFObjects
import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// The thesis' DDoS script (Listing 7.2, examples/ddos/ddos.eclat) loaded with `hike load` on a
/// DUT namespace and fed real frames: a flooded (source, destination) flow is blacklisted for the
/// hold time, its packets dropped but one in 500 redirected to the collector on ifindex 6, another
/// flow to the same destination passes, and monitor's counters match what each side counted and
/// what the documented semantics predict (DDoSModel).
///
///     sender (snd)                DUT (dut)                         collector (col)
///     veth0 ──────────────────── veth0 [ip6_classifier → chain]
///                                 col0 (ifindex 6) ──────────────── col0 [xdp_count]
///
/// Deterministic: both test clocks are frozen (tb_clock, ip6_hset_cfg.clock_ns), and the frames
/// are sent by a thread pinned to CPU 0, so the per-CPU buckets and countdowns are CPU 0's. The
/// sender sends raw frames and has IPv6 disabled, so nothing else (ND, MLD, RS) reaches the chain.
@Suite(.serialized) struct DDoSTrafficTests {
    init() throws { try KernelTest.prepare() }

    static let flooded = DDoSModel.Pair(source: "fc00::1", destination: "fc00::2")
    static let gentle = DDoSModel.Pair(source: "fc00::3", destination: "fc00::2")
    static let (floodedPort, gentlePort): (UInt16, UInt16) = (5001, 5002)
    static let (pass, drop, redirect): (UInt32, UInt32, UInt32) = (0, 1, 2)  // the script's events
    static let cpu = 0

    @Test func floodedFlowIsBlacklistedSampledAndReleased() throws {
        let topology = KernelTest.topology()
        defer { topology.destroy() }
        let sender = try topology.addNamespace("snd")
        let dut = try topology.addNamespace("dut")
        let collector = try topology.addNamespace("col")
        for namespace in [sender, collector] {
            for scope in ["all", "default"] { try topology.sysctl("net.ipv6.conf.\(scope).disable_ipv6", "1", in: namespace) }
        }
        // The collector link first, with the script's REDIRECT_IF_INDEX on the DUT's side; no
        // IPv6 on it, so the DUT sends nothing of its own there.
        try topology.ip(["link", "add", "name", "col0", "index", "6", "type", "veth", "peer", "name", "col0",
                         "netns", collector.name], in: dut)
        try topology.sysctl("net.ipv6.conf.col0.disable_ipv6", "1", in: dut)
        try topology.ip(["link", "set", "col0", "up"], in: dut)
        try topology.ip(["link", "set", "col0", "up"], in: collector)
        try topology.addVethPair(sender, "veth0", dut, "veth0")
        try topology.addAddress("fc00::2/64", interface: "veth0", in: dut)
        #expect(try DDoSNet.index("col0", in: dut) == 6)
        #expect(try DDoSNet.index("veth0", in: dut) != 6)
        let senderMAC = try DDoSNet.mac("veth0", in: sender, topology)
        let dutMAC = try DDoSNet.mac("veth0", in: dut, topology)

        // The collector counts what arrives (a veth takes redirected frames only when its peer
        // runs XDP).
        let counter = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let counterLink = try collector.run { try XDPLink.attach(try counter.program("xdp_count"), interface: "col0", mode: .native) }
        defer { try? counterLink.detach() }
        let kinds = try counter.map("kind_counters")
        func collected() throws -> UInt64 { try TypedMap<UInt32, PacketCounter>(kinds).lookupSum(UInt32(2))?.packets ?? 0 }  // IPv6, not ICMPv6

        let floodedReceiver = try UDPReceiver(in: dut, port: Self.floodedPort)
        let gentleReceiver = try UDPReceiver(in: dut, port: Self.gentlePort)

        try HikeCLI.withInstance { cli in
            let load = try cli.check(["load", ECLATKernelTests.ddosPath, "-D", "DEVNAME", "veth0", "--netns", dut.name])
            #expect(load.contains("installed chain ddos_tb_2_lev"))
            #expect(load.contains("attached ip6_classifier to veth0 in namespace \(dut.name) (native)"))
            let pins = "\(BPFFileSystem.defaultMountPoint)/hike/\(cli.instance)/maps"
            func map(_ object: String, _ name: String) throws -> BPFMap { try BPFMap.openPinned("\(pins)/\(object)/\(name)") }
            let events = try map("hike_default", "monitor_events")
            func event(_ number: UInt32) throws -> UInt64 { try events.lookupSum(number, as: UInt64.self) ?? 0 }
            func allEvents() throws -> UInt64 { try event(Self.pass) + event(Self.drop) + event(Self.redirect) }
            #expect(try allEvents() == 0)

            // Frozen clocks. Buckets (1 token/s, so no refill while frozen): the destination 3
            // packets, a pair 5, the gentle pair 1,000; a blacklisting lasts 1 ms of the set's clock.
            let slow = UInt64(1.0 * 1024 * Double(UInt64(1) << 30) / 1e9)
            let destination = DDoSModel.Params(rate: slow, bucket: 3 << 10, baseTimeBits: 30, shiftTokens: 10)
            let pairDefault = DDoSModel.Params(rate: slow, bucket: 5 << 10, baseTimeBits: 30, shiftTokens: 10)
            let gentleParams = DDoSModel.Params(rate: slow, bucket: 1000 << 10, baseTimeBits: 30, shiftTokens: 10)
            func params(_ p: DDoSModel.Params) -> [UInt8] { DDoSNet.u64s([p.rate, p.bucket, p.baseTimeBits, p.shiftTokens]) }
            let timeout: UInt64 = 1_000_000
            var tbNow: UInt64 = 1_000_000, hsetNow: UInt64 = 50_000_000
            let tbClock = try map("ip6_tbmon", "tb_clock"), hsetConfig = try map("ip6_hset", "ip6_hset_cfg")
            func setClocks() throws {
                try tbClock.update(UInt32(0), tbNow)
                try hsetConfig.update(key: BPFMap.bytesOf(UInt32(0)), value: DDoSNet.u64s([timeout, hsetNow]))
            }
            try setClocks()
            try map("ip6_tbmon", "tb_dst_cfg").update(key: [UInt8](repeating: 0, count: 16), value: params(destination))
            let pairConfig = try map("ip6_tbmon", "tb_sd_cfg")
            try pairConfig.update(key: [UInt8](repeating: 0, count: 32), value: params(pairDefault))
            try pairConfig.update(key: DDoSNet.address(Self.gentle.source) + DDoSNet.address(Self.gentle.destination),
                                  value: params(gentleParams))
            var model = DDoSModel(destinationParams: destination, pairDefault: pairDefault,
                                  pairParams: [Self.gentle: gentleParams], timeout: timeout, tbNow: tbNow, hsetNow: hsetNow)

            // What was sent and what the model says of it, by flow.
            var sent: [DDoSModel.Pair: Int] = [:]
            var predicted: [DDoSModel.Pair: [DDoSModel.Verdict: Int]] = [:]
            func frame(_ pair: DDoSModel.Pair) -> [UInt8] {
                PacketBuilder.udp6(sourceMAC: senderMAC, destinationMAC: dutMAC, source: DDoSNet.address(pair.source),
                                   destination: DDoSNet.address(pair.destination), sourcePort: 4000,
                                   destinationPort: pair == Self.flooded ? Self.floodedPort : Self.gentlePort,
                                   payload: Array(repeating: 0x5a, count: 32))
            }
            // Sends in batches of 100 and waits until the chain has seen each batch (the veth's
            // ring holds 256 frames: a burst beyond it would be dropped before XDP).
            func send(_ pairs: [DDoSModel.Pair]) throws {
                for start in stride(from: 0, to: pairs.count, by: 100) {
                    let batch = Array(pairs[start..<min(start + 100, pairs.count)])
                    let before = try allEvents()
                    try PinnedSender.send(batch.map(frame), interface: "veth0", in: sender, cpu: Self.cpu)
                    for pair in batch {
                        sent[pair, default: 0] += 1
                        predicted[pair, default: [:]][model.packet(pair), default: 0] += 1
                    }
                    try KernelTest.waitUntil("the chain has seen \(batch.count) more frames") {
                        try allEvents() == before + UInt64(batch.count)
                    }
                }
            }
            func predictedTotal(_ verdict: DDoSModel.Verdict) -> Int { predicted.values.reduce(0) { $0 + ($1[verdict] ?? 0) } }

            // 1. A flood of 1,200 frames of one pair, with a frame of the other every 60th.
            var sequence: [DDoSModel.Pair] = []
            for i in 0..<1200 {
                sequence.append(Self.flooded)
                if i % 60 == 59 { sequence.append(Self.gentle) }
            }
            try send(sequence)
            // 3 on the destination's bucket + 5 on the pair's, the 9th blacklists; of the 1,191
            // blacklisted frames the 500th and the 1,000th are sampled.
            #expect(predicted[Self.flooded] == [.pass: 8, .drop: 1 + 1189, .redirect: 2])
            #expect(predicted[Self.gentle] == [.pass: 20])
            let blacklist = try map("ip6_hset", "ip6_hset_sd")
            let floodedKey = DDoSNet.address(Self.flooded.source) + DDoSNet.address(Self.flooded.destination)
            let gentleKey = DDoSNet.address(Self.gentle.source) + DDoSNet.address(Self.gentle.destination)
            #expect(try blacklist.lookup(key: floodedKey) == DDoSNet.u64s([hsetNow, timeout]))
            #expect(try blacklist.lookup(key: gentleKey) == nil)

            // 2. The hold time is over but the buckets are still empty: blacklisted again at once.
            hsetNow += 2 * timeout
            model.hsetNow = hsetNow
            try setClocks()
            try send([Self.flooded])
            #expect(try blacklist.lookup(key: floodedKey) == DDoSNet.u64s([hsetNow, timeout]))

            // 3. The hold time is over and the buckets are full again (idle ≥ 2^32 ns): the first
            // 8 pass, the 9th blacklists the pair again, the rest are dropped.
            hsetNow += 2 * timeout
            tbNow += (1 << 32) + 1_000
            (model.hsetNow, model.tbNow) = (hsetNow, tbNow)
            try setClocks()
            let before = predicted[Self.flooded] ?? [:]
            try send(Array(repeating: Self.flooded, count: 20) + [Self.gentle])
            let after = predicted[Self.flooded] ?? [:]
            #expect((after[.pass] ?? 0) - (before[.pass] ?? 0) == 8)
            #expect((after[.drop] ?? 0) - (before[.drop] ?? 0) == 12)
            #expect(try blacklist.lookup(key: floodedKey) == DDoSNet.u64s([hsetNow, timeout]))

            // What each side saw.
            let (floodedSent, gentleSent) = (sent[Self.flooded] ?? 0, sent[Self.gentle] ?? 0)
            try KernelTest.waitUntil("the DUT's sockets have every passed datagram") {
                floodedReceiver.drain() + gentleReceiver.drain() >= predictedTotal(.pass)
            }
            try KernelTest.waitUntil("the collector has every redirected frame") { try collected() >= UInt64(predictedTotal(.redirect)) }
            let received = floodedReceiver.drain() + gentleReceiver.drain()
            let redirected = try collected()
            let total = floodedSent + gentleSent
            #expect(gentleReceiver.received == gentleSent)
            #expect(floodedReceiver.received == predicted[Self.flooded]?[.pass])

            #expect(try event(Self.pass) == UInt64(received))
            #expect(try event(Self.drop) == UInt64(total - received) - redirected)
            #expect(try event(Self.redirect) == redirected)
            #expect(try event(Self.pass) == UInt64(predictedTotal(.pass)))
            #expect(try event(Self.drop) == UInt64(predictedTotal(.drop)))
            #expect(try event(Self.redirect) == UInt64(predictedTotal(.redirect)))

            // The samples arrived whole.
            #expect(try TypedMap<UInt32, PacketCounter>(kinds).lookupSum(UInt32(2))?.bytes == redirected * UInt64(frame(Self.flooded).count))

            // Every frame was seen on the sending CPU, and none was lost on the way. The flooded
            // pair's countdown on that CPU is the model's: 1,191 blacklisted, then 11, since the
            // last sample at the 1,000th.
            let perCPU = try #require(try events.lookupPerCPU(Self.drop, as: UInt64.self))
            #expect(perCPU.enumerated().allSatisfy { $0.offset == Self.cpu || $0.element == 0 })
            let countdowns = try #require(try map("ip6_sd_dec2zero", "pcpu_dec2zero").lookup(key: floodedKey))
            #expect(Array(countdowns[Self.cpu * 8..<Self.cpu * 8 + 8]) == BPFMap.bytesOf(try #require(model.countdown[Self.flooded])))
            #expect(model.countdown[Self.flooded] == 500 - 191 - 11)
            let senderCounters = try InterfaceCounters.read("veth0", in: sender)
            #expect(senderCounters.txDropped == 0)
            #expect(senderCounters.txPackets == UInt64(total))

            let report = "sent \(floodedSent) flooded + \(gentleSent) gentle; received \(floodedReceiver.received) + "
                + "\(gentleReceiver.received); collected \(redirected); monitor pass \(try event(Self.pass)) "
                + "drop \(try event(Self.drop)) redirect \(try event(Self.redirect))"
            print("DDoSTrafficTests: \(report)")
        }
    }
}
