import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import Monitoring
import Testing
import Topology

/// What the marks look like on the wire, dissected by tshark.
@Suite(.serialized) struct WireFormatTests {
    /// Captures count packets on r2's side of the r1–r2 link (capture filter: the flow's, to the
    /// SID) while traffic sends them. tshark and the pcap are cleaned up when anything throws;
    /// on success the caller owns (and removes) the pcap.
    static func capture(_ net: VPNTopology, count: Int, format: String = "pcap", filter: String = "ip6 dst \(VPNTopology.sid)",
                        traffic: () throws -> Void) throws -> String {
        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("pm-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pcap").path
        _ = FileManager.default.createFile(atPath: pcap, contents: nil)
        var tshark: RunningCommand?
        do {
            let running = try Command.start(["ip", "netns", "exec", net.r2.name, "tshark", "-q", "-i", "veth-r1",
                                             "-f", filter, "-c", String(count), "-a", "duration:120", "-F", format, "-w", pcap])
            tshark = running
            try KernelTest.waitUntil("tshark captures", timeout: .seconds(120)) {
                ((try? FileManager.default.attributesOfItem(atPath: pcap)[.size] as? Int) ?? 0) > 0
            }
            try traffic()
            let done = running.wait()
            #expect(done.status == 0, "tshark: \(done.stderr)")
            return pcap
        } catch {
            if let tshark, tshark.isRunning { tshark.interrupt() }
            _ = tshark?.wait()
            try? FileManager.default.removeItem(atPath: pcap)
            throw error
        }
    }

    /// Captures count packets of the flow, sent by a FlowSender from h1.
    static func capture(_ net: VPNTopology, count: Int, format: String) throws -> String {
        try capture(net, count: count, format: format) {
            let sender = try FlowSender(in: net.h1, to: VPNTopology.h2Address, port: VPNTopology.port)
            try sender.send(count)
        }
    }

    /// The frames of a pcap file (libpcap format, as tshark -w -F pcap writes it).
    static func frames(_ path: String) throws -> [[UInt8]] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        func le32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        var frames: [[UInt8]] = []
        var at = 24
        while at + 16 <= bytes.count {
            let length = le32(at + 8)
            guard at + 16 + length <= bytes.count else { break }
            frames.append(Array(bytes[(at + 16)..<(at + 16 + length)]))
            at += 16 + length
        }
        return frames
    }

    /// Fields of every frame, one line per frame, `|` between fields, `,` between occurrences.
    static func fields(_ pcap: String, _ names: [String], extra: [String] = []) throws -> [[String]] {
        try Command.check(["tshark", "-r", pcap] + extra + ["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
                          + names.flatMap { ["-e", $0] })
            .split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    /// tshark 4.0 does not know the AltMark option (RFC 9343, type 0x12): it dissects the
    /// Destination Options header and shows the option as an unknown one (type 0x12, length 4,
    /// "skip and continue"), then the SRH. The option's bytes are checked against RFC 9343 here.
    @Test func altMarkOptionDissectsBeforeTheSRH() throws {
        let net = try VPNTopology(mode: .altmark)
        try net.ingress.setActiveColour(.one)
        let count = 4
        let pcap = try Self.capture(net, count: count, format: "pcap")
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        let verbose = try Command.check(["tshark", "-r", pcap, "-V"])
        #expect(!verbose.contains("Malformed"))
        #expect(!verbose.contains("[Severity level: Error]") && !verbose.contains("[Severity level: Warning]"))
        let rows = try Self.fields(pcap, ["frame.protocols", "ipv6.nxt", "ipv6.dstopts.nxt", "ipv6.dstopts.len", "ipv6.opt.type",
                                          "ipv6.opt.length", "ipv6.opt.unknown", "ipv6.routing.type", "ipv6.routing.segleft",
                                          "udp.dstport"])
        #expect(rows.count == count)
        for row in rows {
            #expect(row == ["eth:ethertype:ipv6:ipv6.dstopts:ipv6.routing:ipv6:udp:data", "60,17", "43", "0", "0x12", "4",
                            "00007800", "4", "0", "7000"])
        }
        // RFC 9343 §2, byte by byte: the DOH right after the outer IPv6 header (next header 60),
        // its next header the SRH (43), Hdr Ext Len 0 (8 bytes, no padding), option type 0x12
        // (act 00, chg 0), Opt Data Len 4, FlowMonID 7 (20 bits) | L = 1 | D = 0 | reserved 0.
        let frames = try Self.frames(pcap)
        #expect(frames.count == count)
        for frame in frames {
            #expect(frame[20] == 60)
            #expect(Int(Bytes.u16(frame, 18)) == frame.count - 54)
            #expect(Array(frame[54..<62]) == [43, 0, 0x12, 4] + Bytes.be32(7 << 12 | 1 << 11))
            #expect(frame[62] == 41 && frame[64] == 4)  // the SRH: inner IPv6, routing type 4
        }
    }

    /// DSCP mode: the DSCP's two low bits carry "monitored" and the colour (RFC 9341 §3.1 in
    /// the Traffic Class), the rest of the header untouched.
    @Test func dscpMarkDissects() throws {
        let net = try VPNTopology(mode: .dscp)
        try net.ingress.setActiveColour(.one)
        let pcap = try Self.capture(net, count: 2, format: "pcap")
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        let rows = try Self.fields(pcap, ["frame.protocols", "ipv6.tclass.dscp", "ipv6.tclass.ecn", "ipv6.nxt", "_ws.malformed"])
        #expect(rows.count == 2)
        for row in rows {
            // Outer DSCP 3 (monitored 2 | colour 1), the inner packet's 0.
            #expect(row == ["eth:ethertype:ipv6:ipv6.routing:ipv6:udp:data", "3,0", "0,0", "43,17", ""])
        }
    }

    /// The STAMP session-sender's own packets on the r1–r2 link: test packets to h2 inside the
    /// SRv6 encapsulation (outer IPv6 + AltMark DOH + SRH + inner IPv6 + UDP 862) and the XDP
    /// reflector's replies (plain IPv6 back through r2), dissected by tshark as TWAMP-Test (tshark
    /// 4.0 has no STAMP dissector; unauthenticated STAMP is TWAMP-Light's layout) with no
    /// malformed field, the AltMark option in the same frames.
    @Test func stampOfTheSessionSenderDissectsOnTheSRv6Path() throws {
        let net = try VPNTopology(mode: .altmark)
        try net.ingress.setActiveColour(.one)
        let reflector = try STAMPAndMetricsTests.reflect(on: net)
        defer { withExtendedLifetime(reflector) {} }
        let count = 4
        let ssid: UInt16 = 0x0b0b
        var samples: [STAMPTimestamps] = []
        // tcpdump's ip6 filters do not follow extension headers: the test packets are caught by
        // their outer destination, the replies by their UDP port.
        let pcap = try Self.capture(net, count: 2 * count, filter: "ip6 dst \(VPNTopology.sid) or (ip6 and udp port 862)") {
            let sender = try STAMPSessionSender(destination: VPNTopology.h2Address, ssid: ssid, namespace: net.h1)
            let (result, timestamps) = try sender.run(count: count, interval: .milliseconds(5), timeout: .seconds(3))
            #expect(result.received == count)
            samples = timestamps
        }
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        let decode = ["-d", "udp.port==862,twamp.test"]
        let verbose = try Command.check(["tshark", "-r", pcap] + decode + ["-V"])
        #expect(!verbose.contains("Malformed"))
        #expect(!verbose.contains("[Severity level: Error]") && !verbose.contains("[Severity level: Warning]"))
        let rows = try Self.fields(pcap, ["frame.protocols", "ipv6.opt.type", "ipv6.opt.unknown", "ipv6.routing.type", "udp.srcport",
                                          "udp.dstport", "twamp.test.seq_number", "twamp.test.timestamp",
                                          "twamp.test.error_estimate.s", "twamp.test.error_estimate.scale",
                                          "twamp.test.error_estimate.multiplier", "twamp.test.sender_seq_number", "_ws.malformed"],
                                   extra: decode)
        #expect(rows.count == 2 * count)
        let requests = rows.filter { $0.count == 13 && $0[5] == "862" }
        let replies = rows.filter { $0.count == 13 && $0[4] == "862" }
        #expect(requests.count == count && replies.count == count)
        for (index, row) in requests.enumerated() {
            // Outer IPv6, the DOH with AltMark (FlowMonID 7, L = 1), the SRH, the inner packet.
            #expect(row[0] == "eth:ethertype:ipv6:ipv6.dstopts:ipv6.routing:ipv6:udp:twamp.test", "\(row)")
            #expect(row[1] == "0x12" && row[2] == "00007800" && row[3] == "4")
            #expect(row[6] == String(index))
            // The Error Estimate the sender claims: S = 0, scale 12, multiplier 1 (the first
            // occurrence: tshark also shows the MBZ bytes where a reflector's packet has the
            // sender's estimate).
            func first(_ field: String) -> String { String(field.split(separator: ",").first ?? "") }
            #expect(first(row[8]) == "0" && first(row[9]) == "12" && first(row[10]) == "1", "\(row)")
            #expect(row[12] == "")
        }
        for row in replies {
            #expect(row[0] == "eth:ethertype:ipv6:udp:twamp.test", "\(row)")
            #expect(Int(row[11]).map { $0 < count } == true)
            #expect(row[12] == "")
        }
        // The session matched every reply to its test packet.
        #expect(samples.map(\.sequence) == (0..<UInt32(count)).map { $0 })
    }
}
