import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import Testing
import Topology

/// `hike events` decodes what programs report; `hike clock sync` keeps wall-clock offsets current.
@Suite(.serialized) struct EventsAndClockCLITests {
    init() throws { try KernelTest.prepare() }

    @Test func eventsInfoPrintsShowPktInfoDecoded() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try HikeCLI.withInstance { cli in
            let file = try cli.write("info.hasm", """
                chain show_all
                    r2 = 7
                    r3 = 4242
                    call show_pkt_info
                    call hike_pass
                """)
            _ = try cli.check(["chain", "load", file])
            _ = try cli.check(["loader", "attach", "ip6_classifier", "veth0", "--netns", b.name, "--chain", "show_all"])
            #expect(try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.05).received == 3)

            let lines = try cli.check(["events", "info"]).split(separator: "\n")
            let requests = lines.filter { $0.contains("IPv6 fc00::1 > fc00::2 proto 58") && $0.contains("ICMP type 128") }
            #expect(requests.count == 3, "\(lines)")
            #expect(requests.allSatisfy { $0.contains("user_info 4242") && $0.hasPrefix("len 118") })
            // Each event is printed once: the echo requests do not come again (the kernel's own
            // neighbour discovery may still add events of its own meanwhile).
            #expect(!(try cli.check(["events", "info"]).contains("ICMP type 128")))
        }
    }

    @Test func clockOffsetIsWrittenAtLoadAndBySync() throws {
        try HikeCLI.withInstance { cli in
            _ = try cli.check(["prog", "load", "mcd"])
            let pin = "/sys/fs/bpf/hike/\(cli.instance)/maps/eip/eip_mcd_cfg"
            let map = try BPFMap.openPinned(pin)
            // Unix time − boot time, as this process sees it now.
            let expected = WallClock.offset(for: .unix)
            let written = try #require(try map.lookup(UInt32(0), as: UInt64.self))
            #expect(written > 0 && (written > expected ? written - expected : expected - written) < 1_000_000_000)

            try map.update(UInt32(0), UInt64(0))
            let synced = try cli.jsonArray(["clock", "sync", "--json"])
            #expect(synced.contains { $0["pin"] as? String == pin && $0["epoch"] as? String == "unix" })
            let resynced = try #require(try map.lookup(UInt32(0), as: UInt64.self))
            #expect((resynced > expected ? resynced - expected : expected - resynced) < 1_000_000_000)
        }
    }
}
