import BPFKit
import BPFObjects
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import Topology

/// STAMP test packets (RFC 8762 unauthenticated, RFC 8972 SSID) and their replies.
enum STAMPPacket {
    static let port: UInt16 = 862
    static let length = 44

    /// The session-sender's test packet: Seq, Timestamp, Error Estimate, SSID, 28 bytes MBZ.
    static func sender(sequence: UInt32, timestamp: UInt64, errorEstimate: UInt16 = 0x8001, ssid: UInt16) -> [UInt8] {
        Bytes.be32(sequence) + Bytes.be64(timestamp) + Bytes.be16(errorEstimate) + Bytes.be16(ssid) + Array(repeating: 0, count: 28)
    }

    /// The reflector's packet, parsed (offsets of RFC 8762 §4.3.1).
    struct Reply: Equatable {
        var sequence: UInt32
        var timestamp: UInt64
        var errorEstimate: UInt16
        var ssid: UInt16
        var receiveTimestamp: UInt64
        var senderSequence: UInt32
        var senderTimestamp: UInt64
        var senderErrorEstimate: UInt16
        var mbz1: UInt16
        var senderTTL: UInt8
        var mbz2: [UInt8]

        init(_ b: [UInt8]) {
            sequence = Bytes.u32(b, 0); timestamp = Bytes.u64(b, 4); errorEstimate = Bytes.u16(b, 12)
            ssid = Bytes.u16(b, 14); receiveTimestamp = Bytes.u64(b, 16); senderSequence = Bytes.u32(b, 24)
            senderTimestamp = Bytes.u64(b, 28); senderErrorEstimate = Bytes.u16(b, 36); mbz1 = Bytes.u16(b, 38)
            senderTTL = b[40]; mbz2 = Array(b[41..<44])
        }
    }

    static let a = PacketBuilder.address("fc00::1")
    static let b = PacketBuilder.address("fc00::2")
    static let macA: [UInt8] = [2, 0, 0, 0, 0, 1]
    static let macB: [UInt8] = [2, 0, 0, 0, 0, 2]

    /// A test packet from a (fc00::1, port 40000) to b's reflector.
    static func frame(sequence: UInt32 = 7, ssid: UInt16 = 0x1234, timestamp: UInt64 = MeasurementClock.ntpNow(),
                      destinationPort: UInt16 = port, payload: [UInt8]? = nil) -> [UInt8] {
        PacketBuilder.udp6(sourceMAC: macA, destinationMAC: macB, source: a, destination: b, sourcePort: 40000,
                           destinationPort: destinationPort,
                           payload: payload ?? sender(sequence: sequence, timestamp: timestamp, ssid: ssid))
    }

    /// The UDP payload of an Ethernet + IPv6 + UDP frame.
    static func payload(_ frame: [UInt8]) -> [UInt8] { Array(frame[62...]) }

    /// True when the UDP checksum of an Ethernet + IPv6 + UDP frame verifies.
    static func checksumValid(_ frame: [UInt8]) -> Bool {
        let segment = Array(frame[54...])
        var pseudo = Array(frame[22..<54])
        pseudo += [0, 0] + Bytes.be16(UInt16(segment.count)) + [0, 0, 0, 17]
        return PacketBuilder.onesComplementSum(pseudo + segment) == 0xffff
    }
}

/// The stamp package: filter, stamp, udp_checksum, l234_addr_swap, hike_tx, stamp_mono, collector.
@Suite(.serialized) struct StampTests {
    let h: MeasurementHarness

    static let reflector = """
        chain stamp_reflector
            call filter
            if r0 != 0 goto pass
            call stamp
            if r0 != 0 goto pass
            call l234_addr_swap
            call udp_checksum
            call hike_tx
        pass:
            call hike_pass
        """

    init() throws {
        h = try MeasurementHarness(programs: ["hike_pass", "filter"])
    }

    func expectReflected(_ request: [UInt8], _ reply: [UInt8], sequence: UInt32, before: UInt64, after: UInt64) {
        let sent = STAMPPacket.payload(request)
        let r = STAMPPacket.Reply(STAMPPacket.payload(reply))
        #expect(r.sequence == sequence)
        #expect(r.senderSequence == Bytes.u32(sent, 0))
        #expect(r.senderTimestamp == Bytes.u64(sent, 4))
        #expect(r.senderErrorEstimate == Bytes.u16(sent, 12))
        #expect(r.ssid == Bytes.u16(sent, 14))
        #expect(r.errorEstimate == 0x0001)
        #expect(r.senderTTL == request[21])
        #expect(r.mbz1 == 0 && r.mbz2 == [0, 0, 0])
        // Reflector timestamps: NTP, between the test's own readings, receive ≤ transmit.
        #expect(r.receiveTimestamp >= before && r.receiveTimestamp <= after)
        #expect(r.timestamp >= r.receiveTimestamp && r.timestamp <= after)
    }

    @Test func filterAcceptsOnlyStampTestPacketsToTheReflectorPort() throws {
        try h.install("chain f\n    call filter\n    exit\n")
        #expect(try h.run("f", STAMPPacket.frame()).1.r0 == 0)
        #expect(try h.run("f", STAMPPacket.frame(destinationPort: 863)).1.r0 == 1)
        #expect(try h.run("f", STAMPPacket.frame(payload: Array(repeating: 0, count: 43))).1.r0 == 1)
        #expect(try h.run("f", ExtPacket.udp(firstNextHeader: 17, extensions: [])).1.r0 == 1)
        #expect(try h.perCPUSum("stamp", "stamp_stats", 1) == 3)
        // The port is configurable.
        try h.map("stamp", "stamp_cfg").update(key: BPFMap.bytesOf(UInt32(0)), value: [0x5f, 0x03, 0, 0, 0, 0, 0, 0])
        #expect(try h.run("f", STAMPPacket.frame(destinationPort: 863)).1.r0 == 0)
        #expect(try h.run("f", STAMPPacket.frame()).1.r0 == 1)
    }

    @Test func stampFillsTheReflectorFields() throws {
        try h.hike.loadProgram("stamp")
        try h.hike.syncClocks()
        try h.install("chain s\n    call stamp\n    exit\n")
        let request = STAMPPacket.frame(sequence: 41, ssid: 0xbeef)
        let before = MeasurementClock.ntpNow()
        let (run, result) = try h.run("s", request)
        let after = MeasurementClock.ntpNow()
        #expect(result.r0 == 0)
        #expect(run.returnValue == ABI.xdpPass)  // the chain's default verdict
        #expect(run.data[..<62] == request[..<62])  // headers untouched
        expectReflected(request, run.data, sequence: 0, before: before, after: after)
        // The same session goes on counting; another SSID is another session.
        #expect(STAMPPacket.Reply(STAMPPacket.payload(try h.run("s", request).0.data)).sequence == 1)
        #expect(STAMPPacket.Reply(STAMPPacket.payload(try h.run("s", request).0.data)).sequence == 2)
        #expect(STAMPPacket.Reply(STAMPPacket.payload(try h.run("s", STAMPPacket.frame(ssid: 1)).0.data)).sequence == 0)
        #expect(try h.perCPUSum("stamp", "stamp_stats", 0) == 4)
        // Stateless: the reflector's sequence number is the sender's.
        try h.map("stamp", "stamp_cfg").update(key: BPFMap.bytesOf(UInt32(0)), value: [0, 0, 0x05, 0x80, 1, 0, 0, 0])
        let stateless = STAMPPacket.Reply(STAMPPacket.payload(try h.run("s", request).0.data))
        #expect(stateless.sequence == 41)
        #expect(stateless.errorEstimate == 0x8005)
    }

    @Test func stampWithoutAClockOffsetLeavesThePacketAlone() throws {
        try h.hike.loadProgram("stamp")
        // hike wrote the offset when the object loaded: take it away.
        try h.map("stamp", "stamp_time").update(UInt32(0), UInt64(0))
        try h.install("chain s\n    call stamp\n    exit\n")
        let request = STAMPPacket.frame()
        let (run, result) = try h.run("s", request)
        #expect(result.r0 == 2)
        #expect(run.data == request)
        #expect(try h.perCPUSum("stamp", "stamp_stats", 2) == 1)
        // Too short for STAMP.
        #expect(try h.run("s", STAMPPacket.frame(payload: [1, 2, 3])).1.r0 == 1)
    }

    @Test(arguments: [0, 1, 44, 45, 1000])
    func udpChecksumIsRecomputed(payloadLength: Int) throws {
        try h.install("chain c\n    call udp_checksum\n    exit\n")
        let good = STAMPPacket.frame(payload: (0..<payloadLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        var bad = good
        bad[60] ^= 0x5a
        bad[61] = 0x13
        let (run, result) = try h.run("c", bad)
        #expect(result.r0 == 0)
        #expect(run.data == good)
        #expect(STAMPPacket.checksumValid(run.data))
    }

    @Test func udpChecksumLeavesOtherPacketsAlone() throws {
        try h.install("chain c\n    call udp_checksum\n    exit\n")
        var icmp = STAMPPacket.frame()
        icmp[20] = 58
        let (run, result) = try h.run("c", icmp)
        #expect(result.r0 == 1)
        #expect(run.data == icmp)
    }

    @Test func addressesAndPortsAreSwapped() throws {
        try h.install("chain w\n    call l234_addr_swap\n    exit\n")
        let request = STAMPPacket.frame()
        let (run, result) = try h.run("w", request)
        #expect(result.r0 == 0)
        let d = run.data
        #expect(Array(d[0..<6]) == STAMPPacket.macA && Array(d[6..<12]) == STAMPPacket.macB)
        #expect(Array(d[22..<38]) == STAMPPacket.b && Array(d[38..<54]) == STAMPPacket.a)
        #expect(Bytes.u16(d, 54) == 862 && Bytes.u16(d, 56) == 40000)
        #expect(Array(d[58...]) == Array(request[58...]))
        #expect(STAMPPacket.checksumValid(d))
    }

    @Test func reflectorChainSendsTheReplyBack() throws {
        try h.hike.syncClocks()
        try h.install(Self.reflector)
        let request = STAMPPacket.frame(sequence: 9)
        let before = MeasurementClock.ntpNow()
        let (run, result) = try h.run("stamp_reflector", request)
        let after = MeasurementClock.ntpNow()
        #expect(run.returnValue == ABI.xdpTX)
        #expect(result.verdict == ABI.xdpTX && result.fault == 0)
        #expect(Array(run.data[0..<6]) == STAMPPacket.macA)
        #expect(Array(run.data[38..<54]) == STAMPPacket.a)
        #expect(Bytes.u16(run.data, 56) == 40000)
        #expect(STAMPPacket.checksumValid(run.data))
        expectReflected(request, run.data, sequence: 0, before: before, after: after)
        // Anything else goes to the kernel.
        let other = STAMPPacket.frame(destinationPort: 53)
        let (passed, _) = try h.run("stamp_reflector", other)
        #expect(passed.returnValue == ABI.xdpPass)
        #expect(passed.data == other)
    }

    @Test func reflectorChainSkipsExtensionHeaders() throws {
        try h.hike.syncClocks()
        try h.install(Self.reflector)
        // Hop-by-Hop and Destination Options before UDP (no Routing header: the checksum uses
        // the IPv6 header's addresses).
        let hbh = ExtPacket.optionsHeader(nextHeader: 60, options: [1, 2, 0, 0])
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: AltMarkTests.option(flow: 3, l: true, d: false))
        let payload = STAMPPacket.sender(sequence: 5, timestamp: MeasurementClock.ntpNow(), ssid: 9)
        let request = ExtPacket.udp(firstNextHeader: 0, extensions: hbh + doh, sourcePort: 40000, destinationPort: 862,
                                    payload: payload)
        let (run, _) = try h.run("stamp_reflector", request)
        #expect(run.returnValue == ABI.xdpTX)
        let udp = 14 + 40 + hbh.count + doh.count
        let reply = STAMPPacket.Reply(Array(run.data[(udp + 8)...]))
        #expect(reply.senderSequence == 5 && reply.ssid == 9 && reply.sequence == 0)
        #expect(Bytes.u16(run.data, udp) == 862 && Bytes.u16(run.data, udp + 2) == 40000)
        #expect(Array(run.data[54..<udp]) == Array(request[54..<udp]))  // extension headers kept
        let segment = Array(run.data[udp...])
        #expect(PacketBuilder.transportChecksum(source: Array(run.data[22..<38]), destination: Array(run.data[38..<54]),
                                                nextHeader: 17, segment: segment.enumerated().map { $0.offset == 6 || $0.offset == 7 ? 0 : $0.element })
                == Bytes.u16(run.data, udp + 6))
    }

    @Test func stampMonoReflectsInOneProgram() throws {
        try h.hike.loadProgram("stamp_mono")
        try h.hike.syncClocks()
        try h.install("chain m\n    call stamp_mono\n    r6 = r0\n    call hike_pass\n")
        let request = STAMPPacket.frame(sequence: 3)
        let before = MeasurementClock.ntpNow()
        let (run, _) = try h.run("m", request)
        let after = MeasurementClock.ntpNow()
        #expect(run.returnValue == ABI.xdpTX)
        #expect(Array(run.data[22..<38]) == STAMPPacket.b)
        #expect(STAMPPacket.checksumValid(run.data))
        expectReflected(request, run.data, sequence: 0, before: before, after: after)
        let (other, result) = try h.run("m", STAMPPacket.frame(destinationPort: 9))
        #expect(other.returnValue == ABI.xdpPass)
        #expect(result.r0 != 0)  // hike_pass ran after stamp_mono said 1
    }

    @Test func collectorRecordsTheFourTimestamps() throws {
        try h.hike.loadProgram("collector")
        try h.hike.syncClocks()
        try h.install(Self.reflector + "\nchain col\n    call collector\n    exit\n")
        let t1 = MeasurementClock.ntpNow()
        let reply = try h.run("stamp_reflector", STAMPPacket.frame(sequence: 77, ssid: 5, timestamp: t1)).0.data
        let (run, result) = try h.run("col", reply)
        let after = MeasurementClock.ntpNow()
        #expect(result.r0 == 0)
        #expect(run.data == reply)
        // Key: {u16 ssid, u16 pad, u32 seq} in host order.
        let raw = try #require(try h.map("stamp", "stamp_collect").lookup(key: [5, 0, 0, 0, 77, 0, 0, 0]))
        let r = STAMPPacket.Reply(STAMPPacket.payload(reply))
        #expect(Bytes.le64(raw, 0) == t1)
        #expect(Bytes.le64(raw, 8) == r.receiveTimestamp)
        #expect(Bytes.le64(raw, 16) == r.timestamp)
        #expect(Bytes.le64(raw, 24) >= r.timestamp && Bytes.le64(raw, 24) <= after)
        #expect(Bytes.le32(raw, 32) == r.sequence)
        // A test packet (to port 862, not from it) is no reply.
        #expect(try h.run("col", STAMPPacket.frame()).1.r0 == 1)
    }

    /// The reflector chain on a veth in a namespace answers real STAMP packets from the other
    /// namespace; the collector chain on the sender's side records them; tshark dissects both
    /// directions.
    @Test func reflectorAnswersRealSTAMPTraffic() throws {
        try h.hike.loadProgram("collector")
        try h.install(Self.reflector + "\nchain stamp_collector\n    call collector\n    call hike_pass\n")
        try h.hike.syncClocks()
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try h.hike.attach(loader: "ip6_classifier", interface: "veth0", namespace: b, chain: "stamp_reflector",
                          defaultVerdict: ABI.xdpPass)
        try h.hike.attach(loader: "ip6_classifier", interface: "veth0", namespace: a, chain: "stamp_collector",
                          defaultVerdict: ABI.xdpPass)

        let count = 3
        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("stamp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pcap").path
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        try #require(FileManager.default.createFile(atPath: pcap, contents: nil), "cannot create \(pcap)")
        let capture = try Command.start(["ip", "netns", "exec", a.name, "tshark", "-q", "-i", "veth0", "-f", "udp port 862",
                                         "-c", String(2 * count), "-a", "duration:20", "-w", pcap])
        try KernelTest.waitUntil("tshark captures", timeout: .seconds(120)) {
            ((try? FileManager.default.attributesOfItem(atPath: pcap)[.size] as? Int) ?? 0) > 0
        }

        let sender = try STAMPSender(in: a, to: "fc00::2", port: STAMPPacket.port)
        var replies: [(sent: [UInt8], reply: STAMPPacket.Reply, before: UInt64, after: UInt64)] = []
        for sequence in 0..<UInt32(count) {
            let before = MeasurementClock.ntpNow()
            let sent = STAMPPacket.sender(sequence: sequence, timestamp: before, ssid: 0x0abc)
            try sender.send(sent)
            let reply = try #require(try sender.receive(timeout: 3), "no reply to STAMP packet \(sequence)")
            replies.append((sent, STAMPPacket.Reply(reply), before, MeasurementClock.ntpNow()))
            #expect(reply.count == STAMPPacket.length)
        }
        for (index, r) in replies.enumerated() {
            #expect(r.reply.sequence == UInt32(index))
            #expect(r.reply.senderSequence == UInt32(index))
            #expect(r.reply.senderTimestamp == r.before)
            #expect(r.reply.ssid == 0x0abc)
            #expect(r.reply.senderErrorEstimate == 0x8001)
            #expect(r.reply.senderTTL == 64)
            #expect(r.reply.receiveTimestamp >= r.before && r.reply.timestamp <= r.after)
            #expect(r.reply.timestamp >= r.reply.receiveTimestamp)
        }
        #expect(try h.perCPUSum("stamp", "stamp_stats", 0) == UInt64(count))
        #expect(try h.perCPUSum("stamp", "stamp_stats", 3) == UInt64(count))
        #expect(try h.map("stamp", "stamp_collect").keys().count == count)
        for (index, r) in replies.enumerated() {
            // The collector's record: t1…t4 and a round-trip delay of (t4 − t1) − (t3 − t2).
            let key: [UInt8] = [0xbc, 0x0a, 0, 0] + withUnsafeBytes(of: UInt32(index).littleEndian, Array.init)
            let raw = try #require(try h.map("stamp", "stamp_collect").lookup(key: key))
            let (t1, t2, t3, t4) = (Bytes.le64(raw, 0), Bytes.le64(raw, 8), Bytes.le64(raw, 16), Bytes.le64(raw, 24))
            #expect(t1 == r.before && t2 == r.reply.receiveTimestamp && t3 == r.reply.timestamp)
            #expect(t4 >= t3 && t4 <= r.after)
            let delay = MeasurementClock.seconds(from: t1, to: t4) - MeasurementClock.seconds(from: t2, to: t3)
            #expect(delay > 0 && delay < 1, "round-trip delay \(delay) s")
        }

        let captured = capture.wait()
        #expect(captured.status == 0, "tshark: \(captured.stderr)")
        let dissection = try TsharkSTAMP(pcap: pcap)
        #expect(dissection.packets.count == 2 * count)
        #expect(!dissection.malformed)
        let requests = dissection.packets.filter { $0.destinationPort == 862 }
        let responses = dissection.packets.filter { $0.sourcePort == 862 }
        #expect(requests.count == count && responses.count == count)
        for packet in dissection.packets { #expect(packet.twamp["twamp.test.seq_number"] != nil) }
        for packet in responses {
            for field in ["twamp.test.timestamp", "twamp.test.receive_timestamp", "twamp.test.sender_seq_number",
                          "twamp.test.sender_timestamp", "twamp.test.sender_error_estimate", "twamp.test.sender_ttl"] {
                #expect(packet.twamp[field] != nil, "\(field) missing in a reply")
            }
            #expect(packet.twamp["twamp.test.sender_ttl"] == "64")
            #expect(packet.udpChecksumStatus == "1", "UDP checksum status \(packet.udpChecksumStatus ?? "none")")
        }
        let sample = try Command.run(["tshark", "-r", pcap, "-d", "udp.port==862,twamp.test", "-V", "-o", "udp.check_checksum:TRUE"])
        // The STAMP layers of the dissection, for a person to read.
        let stampLines = sample.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { $0.hasPrefix("Frame ") || $0.hasPrefix("User Datagram") || $0.hasPrefix("    ") && !$0.hasPrefix("     ") }
        FileHandle.standardError.write(Data(("tshark -V (frames, UDP and TWAMP-Test/STAMP top-level fields):\n"
            + stampLines.joined(separator: "\n") + "\n").utf8))
    }
}

/// A STAMP session-sender's UDP socket inside a namespace.
final class STAMPSender {
    let fd: Int32
    var destination = sockaddr_in6()

    /// A UDP socket in namespace that sends to address:port, from sourcePort if one is given
    /// (the original collector's 42069; a receiver's port).
    init(in namespace: NetworkNamespace, to address: String, port: UInt16, sourcePort: UInt16? = nil) throws {
        fd = try namespace.run {
            let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { throw BPFError(operation: "open STAMP socket", errno: errno) }
            guard let sourcePort else { return fd }
            var local = sockaddr_in6()
            local.sin6_family = sa_family_t(AF_INET6)
            local.sin6_port = sourcePort.bigEndian
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
            if bound != 0 {
                let error = BPFError(operation: "bind UDP port \(sourcePort)", errno: errno)
                close(fd)
                throw error
            }
            return fd
        }
        destination.sin6_family = sa_family_t(AF_INET6)
        destination.sin6_port = port.bigEndian
        guard inet_pton(AF_INET6, address, &destination.sin6_addr) == 1 else {
            close(fd)
            throw BPFError.invalid("STAMP sender", "'\(address)' is not an IPv6 address")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        let sent = withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        if sent < 0 { throw BPFError(operation: "send STAMP packet", errno: errno) }
    }

    /// The next datagram, or nil after timeout seconds.
    func receive(timeout: Int) throws -> [UInt8]? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0 { throw BPFError(operation: "receive STAMP reply", errno: errno) }
        return Array(buffer[..<n])
    }
}

/// tshark's dissection of a capture of STAMP traffic (decoded as TWAMP-Test: tshark 4.0 has no
/// STAMP dissector, and STAMP's unauthenticated packets are TWAMP-Light's layout).
struct TsharkSTAMP {
    struct Packet {
        var sourcePort: Int
        var destinationPort: Int
        var twamp: [String: String]
        var udpChecksumStatus: String?
    }

    var packets: [Packet] = []
    var malformed = false
    var json: String

    init(pcap: String) throws {
        json = try Command.check(["tshark", "-r", pcap, "-d", "udp.port==862,twamp.test", "-T", "json",
                                  "-o", "udp.check_checksum:TRUE"])
        malformed = json.contains("_ws.malformed")
        guard let list = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { return }
        for entry in list {
            guard let layers = (entry["_source"] as? [String: Any])?["layers"] as? [String: Any],
                  let udp = layers["udp"] as? [String: Any] else { continue }
            var twamp: [String: String] = [:]
            func flatten(_ value: Any) {
                guard let dict = value as? [String: Any] else { return }
                for (key, inner) in dict {
                    if let text = inner as? String { twamp[key] = text } else { flatten(inner) }
                }
            }
            flatten(layers["twamp.test"] ?? [:])
            packets.append(Packet(sourcePort: Int(udp["udp.srcport"] as? String ?? "") ?? 0,
                                  destinationPort: Int(udp["udp.dstport"] as? String ?? "") ?? 0, twamp: twamp,
                                  udpChecksumStatus: udp["udp.checksum.status"] as? String))
        }
    }
}
