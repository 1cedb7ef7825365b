import Foundation
import HikeTestSupport

/// IPv4 and IPv6 packets with TCP, UDP and ICMP, built field by field from RFC 791, 793, 768,
/// 792, 8200 and 4443 with every checksum computed here, and a reader that checks every
/// checksum of a frame (the quoted packet of an ICMP error too) by summing it whole: what the
/// nat package's incremental updates must agree with.
enum NATWire {
    static let tcp: UInt8 = 6, udp: UInt8 = 17

    static func isV4(_ address: String) -> Bool { !address.contains(":") }

    static func addr(_ text: String) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 16)
        if isV4(text) {
            precondition(inet_pton(AF_INET, text, &buffer) == 1, "'\(text)' in a test")
            return Array(buffer.prefix(4))
        }
        precondition(inet_pton(AF_INET6, text, &buffer) == 1, "'\(text)' in a test")
        return buffer
    }

    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let raw = Array(bytes)
        _ = inet_ntop(raw.count == 4 ? AF_INET : AF_INET6, raw, &buffer, 64)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func be16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    static func sum(_ bytes: [UInt8]) -> UInt16 { PacketBuilder.onesComplementSum(bytes) }

    /// The pseudo-header of a transport checksum (RFC 768 / RFC 8200 §8.1).
    static func pseudo(_ source: [UInt8], _ destination: [UInt8], _ proto: UInt8, length: Int) -> [UInt8] {
        source.count == 4
            ? source + destination + [0, proto] + be16(length)
            : source + destination + [0, 0] + be16(length) + [0, 0, 0, proto]
    }

    /// An IP header (IPv4 with its checksum, TTL/hop limit 64) in front of payload.
    static func ip(_ source: String, _ destination: String, proto: UInt8, payload: [UInt8]) -> [UInt8] {
        if isV4(source) {
            var h: [UInt8] = [0x45, 0] + be16(20 + payload.count) + [0x12, 0x34, 0x40, 0, 64, proto, 0, 0] + addr(source) + addr(destination)
            let s = ~sum(h)
            h[10] = UInt8(s >> 8)
            h[11] = UInt8(s & 0xff)
            return h + payload
        }
        return [0x60, 0, 0, 0] + be16(payload.count) + [proto, 64] + addr(source) + addr(destination) + payload
    }

    /// A TCP segment (20-byte header, ACK|PSH) or a UDP datagram in its IP packet.
    static func packet(_ proto: UInt8, _ source: String, _ sport: Int, _ destination: String, _ dport: Int,
                       payload: [UInt8] = Array("hike nat".utf8), udpChecksum: Bool = true) -> [UInt8] {
        var l4: [UInt8]
        let checkAt: Int
        if proto == tcp {
            l4 = be16(sport) + be16(dport) + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18] + be16(65535) + [0, 0, 0, 0] + payload
            checkAt = 16
        } else {
            l4 = be16(sport) + be16(dport) + be16(8 + payload.count) + [0, 0] + payload
            checkAt = 6
        }
        if proto == tcp || udpChecksum || !isV4(source) {
            var s = ~sum(pseudo(addr(source), addr(destination), proto, length: l4.count) + l4)
            if s == 0 && proto == udp { s = 0xffff }
            l4[checkAt] = UInt8(s >> 8)
            l4[checkAt + 1] = UInt8(s & 0xff)
        }
        return ip(source, destination, proto: proto, payload: l4)
    }

    static func icmpProto(_ v4: Bool) -> UInt8 { v4 ? 1 : 58 }

    /// An ICMP message (type, code, 4 bytes of rest, body) with its checksum, in its IP packet.
    static func icmp(_ source: String, _ destination: String, type: UInt8, rest: [UInt8], body: [UInt8]) -> [UInt8] {
        let v4 = isV4(source)
        var message: [UInt8] = [type, 0, 0, 0] + rest + body
        let covered = v4 ? message : pseudo(addr(source), addr(destination), 58, length: message.count) + message
        let s = ~sum(covered)
        message[2] = UInt8(s >> 8)
        message[3] = UInt8(s & 0xff)
        return ip(source, destination, proto: icmpProto(v4), payload: message)
    }

    /// An echo request or reply (RFC 792 type 8/0, RFC 4443 type 128/129).
    static func echo(_ source: String, _ destination: String, id: Int, request: Bool) -> [UInt8] {
        let v4 = isV4(source)
        let type: UInt8 = request ? (v4 ? 8 : 128) : (v4 ? 0 : 129)
        return icmp(source, destination, type: type, rest: be16(id) + be16(7), body: Array("ping".utf8))
    }

    /// Destination (port) unreachable quoting a packet (RFC 792 type 3 code 3; RFC 4443 type 1
    /// code 4 would differ only in its code, which nat does not read).
    static func unreachable(_ source: String, _ destination: String, quoting quote: [UInt8]) -> [UInt8] {
        icmp(source, destination, type: isV4(source) ? 3 : 1, rest: [0, 0, 0, 0], body: quote)
    }

    static func frame(_ l3: [UInt8]) -> [UInt8] {
        PacketBuilder.ethernet(destination: [2, 0, 0, 0, 0, 2], source: [2, 0, 0, 0, 0, 1],
                               etherType: l3[0] >> 4 == 4 ? 0x0800 : 0x86dd) + l3
    }

    /// What a packet carries: addresses, ports (an echo's identifier as sport of a request and
    /// dport of a reply), and for an ICMP error the quoted packet.
    struct Fields: Equatable, CustomStringConvertible {
        var source: String, destination: String
        var sport: Int, dport: Int
        var proto: UInt8
        var quoted: [Fields] = []

        var description: String {
            "\(proto) \(source):\(sport) → \(destination):\(dport)" + (quoted.first.map { " quoting [\($0)]" } ?? "")
        }
    }

    /// Reads an IP packet (no Ethernet).
    static func fields(_ p: [UInt8]) -> Fields {
        let v4 = p[0] >> 4 == 4
        let (a, b, l4, proto) = v4 ? (p[12..<16], p[16..<20], 20, p[9]) : (p[8..<24], p[24..<40], 40, p[6])
        var f = Fields(source: text(a), destination: text(b), sport: 0, dport: 0, proto: proto)
        let u = Array(p[l4...])
        func port(_ at: Int) -> Int { Int(u[at]) << 8 | Int(u[at + 1]) }
        if proto == tcp || proto == udp {
            f.sport = port(0)
            f.dport = port(2)
        } else if proto == icmpProto(v4) {
            let type = u[0]
            if type == (v4 ? 8 : 128) { f.sport = port(4) }
            if type == (v4 ? 0 : 129) { f.dport = port(4) }
            if v4 ? [3, 11, 12].contains(type) : (1...4).contains(type) { f.quoted = [fields(Array(u[8...]))] }
        }
        return f
    }

    /// Every checksum of an IP packet that does not add up (empty: all valid): the IPv4 header,
    /// TCP/UDP over the pseudo-header, ICMP (ICMPv6 with its pseudo-header), and inside an ICMP
    /// error the quoted IPv4 header and, when quoted whole, its TCP/UDP.
    static func badChecksums(_ p: [UInt8], quoted: Bool = false) -> [String] {
        let v4 = p[0] >> 4 == 4
        var bad: [String] = []
        let where_ = quoted ? "quoted " : ""
        if v4 && sum(Array(p[0..<20])) != 0xffff { bad.append(where_ + "IPv4 header") }
        let (source, destination, l4, proto) = v4 ? (Array(p[12..<16]), Array(p[16..<20]), 20, p[9]) : (Array(p[8..<24]), Array(p[24..<40]), 40, p[6])
        let length = v4 ? (Int(p[2]) << 8 | Int(p[3])) - 20 : (Int(p[4]) << 8 | Int(p[5]))
        let u = Array(p[l4...])
        let whole = u.count >= length
        if proto == tcp || proto == udp {
            let absent = proto == udp && v4 && u.count > 7 && u[6] == 0 && u[7] == 0
            if whole && !absent && sum(pseudo(source, destination, proto, length: length) + Array(u.prefix(length))) != 0xffff {
                bad.append(where_ + (proto == tcp ? "TCP" : "UDP"))
            }
        } else if proto == icmpProto(v4) && !quoted {
            let covered = v4 ? Array(u.prefix(length)) : pseudo(source, destination, 58, length: length) + Array(u.prefix(length))
            if sum(covered) != 0xffff { bad.append(v4 ? "ICMP" : "ICMPv6") }
            if v4 ? [3, 11, 12].contains(u[0]) : (1...4).contains(u[0]) { bad += badChecksums(Array(u[8...]), quoted: true) }
        }
        return bad
    }
}
