import BPFKit
import Foundation

/// An info_event of `show_pkt_info` (bpf/packages/info/info.bpf.c), decoded; `hike events info` prints them.
public struct InfoEvent: Codable, Sendable, Hashable, CustomStringConvertible {
    public static let size = 104
    public var timestampNS: UInt64
    public var userInfo: UInt64
    public var packetLength: UInt32
    public var selected: UInt8
    public var present: UInt8
    public var etherType: UInt16
    public var destinationMAC: [UInt8]
    public var sourceMAC: [UInt8]
    public var ipVersion: UInt8
    public var hopLimit: UInt8
    public var trafficClass: UInt8
    public var l4Protocol: UInt8
    public var flowLabel: UInt32
    public var ipPayloadLength: UInt16
    public var l4Offset: UInt16
    public var sourceAddress: [UInt8]
    public var destinationAddress: [UInt8]
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var l4Length: UInt16
    public var tcpFlags: UInt8
    public var tcpSequence: UInt32

    public init?(record b: [UInt8]) {
        guard b.count >= Self.size else { return nil }
        timestampNS = Layout.u64(b, 0); userInfo = Layout.u64(b, 8); packetLength = Layout.u32(b, 16)
        selected = b[20]; present = b[21]; etherType = Layout.u16(b, 22)
        destinationMAC = Array(b[24..<30]); sourceMAC = Array(b[30..<36])
        ipVersion = b[36]; hopLimit = b[37]; trafficClass = b[38]; l4Protocol = b[39]
        flowLabel = Layout.u32(b, 40); ipPayloadLength = Layout.u16(b, 44); l4Offset = Layout.u16(b, 46)
        sourceAddress = Array(b[48..<64]); destinationAddress = Array(b[64..<80])
        sourcePort = Layout.u16(b, 80); destinationPort = Layout.u16(b, 82); l4Length = Layout.u16(b, 84)
        tcpFlags = b[86]; tcpSequence = Layout.u32(b, 88)
    }

    static func mac(_ m: [UInt8]) -> String { m.map { String(format: "%02x", $0) }.joined(separator: ":") }

    static func address(_ a: [UInt8], version: UInt8) -> String {
        var text = [CChar](repeating: 0, count: 64)
        if version == 4 { return a[0..<4].map(String.init).joined(separator: ".") }
        guard a.withUnsafeBytes({ inet_ntop(AF_INET6, $0.baseAddress, &text, 64) }) != nil else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// One line per event, as `hike events info` should print it.
    public var description: String {
        var parts = ["len \(packetLength)", "user_info \(userInfo)"]
        if present & 1 != 0 {
            parts.append("L2 \(Self.mac(sourceMAC)) > \(Self.mac(destinationMAC)) type 0x\(String(etherType, radix: 16))")
        }
        if present & 2 != 0 {
            parts.append("IPv\(ipVersion) \(Self.address(sourceAddress, version: ipVersion)) > \(Self.address(destinationAddress, version: ipVersion)) "
                + "proto \(l4Protocol) hlim \(hopLimit) tc \(trafficClass) flow \(flowLabel) plen \(ipPayloadLength)")
        }
        if present & 4 != 0 {
            switch l4Protocol {
            case 17: parts.append("UDP \(sourcePort) > \(destinationPort) len \(l4Length)")
            case 6: parts.append("TCP \(sourcePort) > \(destinationPort) seq \(tcpSequence) flags 0x\(String(tcpFlags, radix: 16))")
            default: parts.append("ICMP type \(sourcePort >> 8) code \(sourcePort & 0xff) id \(destinationPort)")
            }
        }
        return parts.joined(separator: " | ")
    }
}

extension HikeInstance {
    /// The show_pkt_info events waiting in the info package's ring buffer (each is read once).
    public func drainInfoEvents() throws -> [InfoEvent] {
        try BPFRingBuffer(map: BPFMap.openPinned("\(pinRoot)/maps/info/info_events")).drain().compactMap(InfoEvent.init(record:))
    }
}
