import CLinux
import Foundation

/// One rtnetlink request as bytes: the netlink header, the family header (ifinfomsg, ifaddrmsg,
/// rtmsg) and the attributes, each padded to 4 bytes as the kernel's nla_* expects.
struct NetlinkRequest {
    let type: UInt16
    var flags: UInt16
    private(set) var body: [UInt8]

    /// header is the family struct (`ifinfomsg`, `rtmsg` …) copied as its bytes.
    init<Header>(type: Int32, flags: Int32, header: Header) {
        self.type = UInt16(type)
        self.flags = UInt16(flags)
        body = withUnsafeBytes(of: header) { Array($0) }
        body.padToAlignment()
    }

    mutating func add(_ type: Int32, bytes: [UInt8]) {
        body.appendAttribute(type, bytes)
    }

    mutating func add<T: FixedWidthInteger>(_ type: Int32, _ value: T) {
        add(type, bytes: withUnsafeBytes(of: value) { Array($0) })
    }

    /// A NUL-terminated string (an interface name, a link kind).
    mutating func add(_ type: Int32, string: String) {
        add(type, bytes: Array(string.utf8) + [0])
    }

    /// Attributes written apart (shared with a nested description).
    mutating func append(_ attributes: AttributeWriter) {
        body += attributes.bytes
    }

    /// A nested attribute whose payload `build` writes.
    mutating func nest(_ type: Int32, _ build: (inout AttributeWriter) -> Void) {
        var writer = AttributeWriter()
        build(&writer)
        body.appendAttribute(type | Int32(NLA_F_NESTED), writer.bytes)
    }

    /// The whole message with its header, sequence number seq.
    func message(sequence: UInt32) -> [UInt8] {
        var header = nlmsghdr()
        header.nlmsg_len = UInt32(MemoryLayout<nlmsghdr>.size + body.count)
        header.nlmsg_type = type
        header.nlmsg_flags = flags
        header.nlmsg_seq = sequence
        return withUnsafeBytes(of: header) { Array($0) } + body
    }
}

/// The attributes inside a nested one.
struct AttributeWriter {
    private(set) var bytes: [UInt8] = []

    mutating func add(_ type: Int32, bytes payload: [UInt8]) { bytes.appendAttribute(type, payload) }

    mutating func add<T: FixedWidthInteger>(_ type: Int32, _ value: T) {
        add(type, bytes: withUnsafeBytes(of: value) { Array($0) })
    }

    mutating func add(_ type: Int32, string: String) { add(type, bytes: Array(string.utf8) + [0]) }

    mutating func nest(_ type: Int32, _ build: (inout AttributeWriter) -> Void) {
        var inner = AttributeWriter()
        build(&inner)
        bytes.appendAttribute(type | Int32(NLA_F_NESTED), inner.bytes)
    }

    /// Raw bytes that are not an attribute (the ifinfomsg a veth peer starts with).
    mutating func append(raw: [UInt8]) {
        bytes += raw
        bytes.padToAlignment()
    }
}

extension [UInt8] {
    mutating func padToAlignment() {
        while count % 4 != 0 { append(0) }
    }

    mutating func appendAttribute(_ type: Int32, _ payload: [UInt8]) {
        let length = UInt16(4 + payload.count)
        Swift.withUnsafeBytes(of: length) { append(contentsOf: $0) }
        Swift.withUnsafeBytes(of: UInt16(truncatingIfNeeded: type)) { append(contentsOf: $0) }
        append(contentsOf: payload)
        padToAlignment()
    }
}

/// The attributes of a received message (or of a nested attribute), by type; a type seen twice
/// keeps its first value.
struct Attributes {
    private(set) var values: [UInt16: ArraySlice<UInt8>] = [:]

    init(_ bytes: ArraySlice<UInt8>) {
        var offset = bytes.startIndex
        while offset + 4 <= bytes.endIndex {
            let length = Int(UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)
            let type = (UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8) & 0x3fff  // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
            guard length >= 4, offset + length <= bytes.endIndex else { break }
            if values[type] == nil { values[type] = bytes[(offset + 4)..<(offset + length)] }
            offset += (length + 3) & ~3
        }
    }

    subscript(type: Int32) -> ArraySlice<UInt8>? { values[UInt16(type)] }

    func integer<T: FixedWidthInteger>(_ type: Int32, as: T.Type = T.self) -> T? {
        guard let bytes = self[type], bytes.count >= MemoryLayout<T>.size else { return nil }
        return bytes.prefix(MemoryLayout<T>.size).withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    func string(_ type: Int32) -> String? {
        self[type].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    func nested(_ type: Int32) -> Attributes? { self[type].map(Attributes.init) }
}

/// A message the kernel sent back: its type and the bytes after the netlink header.
struct NetlinkReply {
    let type: UInt16
    let payload: ArraySlice<UInt8>

    /// The family header at the start of the payload, and the attributes after it.
    func parse<Header>(_: Header.Type) -> (header: Header, attributes: Attributes)? {
        let size = MemoryLayout<Header>.size
        guard payload.count >= size else { return nil }
        let header = payload.prefix(size).withUnsafeBytes { $0.loadUnaligned(as: Header.self) }
        let start = payload.startIndex + ((size + 3) & ~3)
        return (header, Attributes(payload[min(start, payload.endIndex)...]))
    }
}
