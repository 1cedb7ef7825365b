import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - JSON values

/// A JSON value with object keys kept in order: what map keys and values decode to, and what
/// `hike map update` parses its arguments into.
public indirect enum MapJSONValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// A negative or small integer.
    case int(Int64)
    /// An integer above Int64.max.
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([MapJSONValue])
    case object([Field])

    public struct Field: Sendable, Hashable {
        public var key: String
        public var value: MapJSONValue
        public init(_ key: String, _ value: MapJSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// An object from (key, value) pairs in order.
    public static func object(_ pairs: KeyValuePairs<String, MapJSONValue>) -> MapJSONValue {
        .object(pairs.map { Field($0.key, $0.value) })
    }

    /// The member named key of an object.
    public subscript(key: String) -> MapJSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.key == key }?.value
    }

    public subscript(index: Int) -> MapJSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value as a signed integer when it is one that fits.
    public var intValue: Int64? {
        switch self {
        case .int(let value): value
        case .uint(let value): value <= UInt64(Int64.max) ? Int64(value) : nil
        default: nil
        }
    }

    public var arrayValue: [MapJSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// Compact JSON text, object keys in order.
    public var description: String { jsonText() }

    /// JSON text; `pretty` indents by two spaces and writes `"key" : value`, as Foundation's
    /// JSONEncoder does, but keeps object keys in their order.
    public func jsonText(pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        let newline = pretty ? "\n" + String(repeating: "  ", count: indent + 1) : ""
        let close = pretty ? "\n" + String(repeating: "  ", count: indent) : ""
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .uint(let value): out += String(value)
        case .double(let value):
            out += value.isFinite ? (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)) : "null"
        case .string(let text): out += Self.quoted(text)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            if pretty, items.allSatisfy(\.isScalar) {
                // Numbers and strings on one line: per-CPU values and register files stay short.
                out += "[" + items.map { $0.jsonText() }.joined(separator: ", ") + "]"
                return
            }
            out += "["
            for (index, item) in items.enumerated() {
                out += (index == 0 ? "" : ",") + newline
                item.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "]"
        case .object(let fields):
            if fields.isEmpty { out += "{}"; return }
            out += "{"
            for (index, field) in fields.enumerated() {
                out += (index == 0 ? "" : ",") + newline + Self.quoted(field.key) + (pretty ? " : " : ":")
                field.value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "}"
        }
    }

    var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension MapJSONValue: Encodable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        case .object(let fields):
            var container = encoder.container(keyedBy: Key.self)
            for field in fields { try container.encode(field.value, forKey: Key(stringValue: field.key)) }
        default:
            var container = encoder.singleValueContainer()
            switch self {
            case .null: try container.encodeNil()
            case .bool(let value): try container.encode(value)
            case .int(let value): try container.encode(value)
            case .uint(let value): try container.encode(value)
            case .double(let value): try container.encode(value)
            case .string(let text): try container.encode(text)
            case .array, .object: break
            }
        }
    }
}

// MARK: - Errors

/// Why JSON text could not be parsed or did not fit a map's key or value.
public struct MapJSONError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Where: `key`, `value.saddr`, `value[3]`, … ("" for JSON syntax errors).
    public let path: String
    public let message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

// MARK: - Parsing

extension MapJSONValue {
    /// Parses JSON text. Object keys keep their order; integers beyond 64 bits are refused.
    public static func parse(_ text: String) throws(MapJSONError) -> MapJSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        if parser.position < parser.bytes.count {
            throw parser.error("unexpected text after the JSON value")
        }
        return value
    }

    /// What the command line takes: JSON text, or any other text as a string, so an address
    /// needs no quotes (`fc00::1` means `"fc00::1"`). Text that starts like JSON (`{`, `[`, `"`,
    /// a digit or `-`) must be valid JSON.
    public static func parseArgument(_ text: String) throws(MapJSONError) -> MapJSONValue {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let first = trimmed.unicodeScalars.first else { throw MapJSONError(path: "", "empty text: give a JSON value") }
        if "{[\"-0123456789".unicodeScalars.contains(first) || ["true", "false", "null"].contains(trimmed) {
            do {
                return try parse(trimmed)
            } catch {
                // A bare IPv6 address may start with a digit ("2001:db8::1"), as may a MAC address.
                if "0123456789".unicodeScalars.contains(first), !trimmed.contains(where: { "{}[],\" ".contains($0) }) {
                    return .string(trimmed)
                }
                throw error
            }
        }
        return .string(trimmed)
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var position = 0
    static let maximumDepth = 200

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func error(_ message: String) -> MapJSONError {
        MapJSONError(path: "", "invalid JSON at offset \(position): \(message)")
    }

    mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
    }

    mutating func value(depth: Int) throws(MapJSONError) -> MapJSONValue {
        guard depth < Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) levels") }
        guard position < bytes.count else { throw error("expected a value, found the end of the text") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            position += 1
            var fields: [MapJSONValue.Field] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(fields) }
            while true {
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a quoted member name") }
                let key = try string()
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':' after \"\(key)\"") }
                position += 1
                skipSpace()
                fields.append(MapJSONValue.Field(key, try value(depth: depth + 1)))
                skipSpace()
                guard position < bytes.count else { throw error("expected ',' or '}', found the end of the text") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(fields) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            position += 1
            var items: [MapJSONValue] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard position < bytes.count else { throw error("expected ',' or ']', found the end of the text") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return try number()
        }
    }

    mutating func literal(_ word: String, _ result: MapJSONValue) throws(MapJSONError) -> MapJSONValue {
        let expected = Array(word.utf8)
        guard position + expected.count <= bytes.count, Array(bytes[position..<position + expected.count]) == expected else {
            throw error("unexpected character")
        }
        position += expected.count
        return result
    }

    mutating func number() throws(MapJSONError) -> MapJSONValue {
        let start = position
        var isInteger = true
        while position < bytes.count {
            let byte = bytes[position]
            if (0x30...0x39).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") {
                position += 1
            } else if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                isInteger = false
                position += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard !text.isEmpty else { throw error("unexpected character") }
        if isInteger {
            if let value = Int64(text) { return .int(value) }
            if let value = UInt64(text) { return .uint(value) }
            let digits = text.drop { $0 == "-" || $0 == "+" }
            if !digits.isEmpty, digits.allSatisfy(\.isNumber) {
                position = start
                throw error("\(text) does not fit in 64 bits")
            }
        } else if let value = Double(text), value.isFinite {
            return .double(value)
        }
        position = start
        throw error("'\(text)' is not a number")
    }

    mutating func string() throws(MapJSONError) -> String {
        position += 1  // the opening quote
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
            run.removeAll()
        }
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: "\"") {
                flush()
                return String(scalars)
            }
            if byte < 0x20 { position -= 1; throw error("control character in a string") }
            guard byte == UInt8(ascii: "\\") else { run.append(byte); continue }
            flush()
            guard position < bytes.count else { break }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code), position + 1 < bytes.count,
                   bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                    position += 2
                    let low = try hex4()
                    if (0xDC00...0xDFFF).contains(low) { code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) }
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                position -= 1
                throw error("unknown escape '\\\(Character(Unicode.Scalar(escape)))'")
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws(MapJSONError) -> UInt32 {
        guard position + 4 <= bytes.count,
              let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16) else {
            throw error("expected four hex digits after \\u")
        }
        position += 4
        return code
    }
}

// MARK: - The codec

/// Bytes of one map key or value ↔ JSON, following the type BTF gives for it.
///
/// Decoding:
/// - integers are JSON numbers in host byte order, except `__be16/__be32/__be64` (network
///   order, as the name says); integers beyond ±2^53 (what a JSON double holds exactly) are
///   decimal strings, which the encoder takes back;
/// - a 1-byte `_Bool` is `true`/`false`; an enum is its case's name (a number when no case has
///   the value); floats are numbers;
/// - `struct in6_addr`, and a 16-byte union, byte array or `__be16/__be32` array whose member
///   name contains `addr` (`saddr`, `daddr`, `addr`, …) or `src`, `dst`, `sender`, `ip6`,
///   `nexthop`, `gateway`, is IPv6 text (`"fc00::1"`); `struct in_addr`, and a 4-byte `__be32`
///   or byte array named like that, is IPv4 text;
/// - a 6-byte byte array named like `mac`, `h_dest`, `h_source`, `dmac`, `smac`, `hwaddr`
///   (or like an address, above) is MAC text (`"02:00:00:00:00:01"`);
/// - a `char` array is a string (up to the first NUL);
/// - other byte arrays, 128-bit integers and anything without a type are hex (memory order);
/// - structs are objects keyed by member name (members of anonymous structs and unions join
///   their parent), unions are objects with every member's view, arrays are lists.
///
/// Encoding takes the same forms back, plus: any integer as a decimal or `0x` hex string, a
/// bool as 0 or 1, an enum as its name or number, any struct, union or array as a hex string
/// of its exact size. Struct members left out are zero; unknown members are errors.
///
/// Without BTF (``MapBTF/none``), 4- and 8-byte keys and values are unsigned integers and other
/// sizes hex, as `hike map dump` always printed them.
public struct MapJSONCodec: Sendable {
    public let type: BTFType?
    public let size: Int

    public init(type: BTFType?, size: Int) {
        self.type = type?.size == size ? type : nil
        self.size = size
    }

    /// Decodes exactly `size` bytes (shorter input is zero-padded, longer truncated).
    public func decode(_ bytes: [UInt8]) -> MapJSONValue {
        var padded = Array(bytes.prefix(size))
        if padded.count < size { padded += [UInt8](repeating: 0, count: size - padded.count) }
        guard let type else { return Self.fallbackDecode(padded) }
        return Self.decode(padded[...], type, name: "", depth: 0)
    }

    /// Encodes a JSON value into `size` bytes; `path` names the whole in errors (`key`, `value`).
    public func encode(_ value: MapJSONValue, path: String) throws(MapJSONError) -> [UInt8] {
        guard let type else { return try Self.fallbackEncode(value, size: size, path: path) }
        var bytes = [UInt8](repeating: 0, count: size)
        try Self.encode(value, type, name: "", into: &bytes, at: 0, path: path, depth: 0)
        return bytes
    }

    // MARK: Without BTF

    static func fallbackDecode(_ bytes: [UInt8]) -> MapJSONValue {
        switch bytes.count {
        case 4: return number(UInt64(load(bytes[...], bigEndian: false)))
        case 8: return number(load(bytes[...], bigEndian: false))
        default: return .string(hex(bytes[...]))
        }
    }

    static func fallbackEncode(_ value: MapJSONValue, size: Int, path: String) throws(MapJSONError) -> [UInt8] {
        if size == 4 || size == 8 {
            let integer = try integerBits(value, size: size, signed: false, path: path,
                                          what: "an unsigned \(size * 8)-bit integer (the map has no BTF)")
            var bytes = [UInt8](repeating: 0, count: size)
            store(integer, into: &bytes, at: 0, size: size, bigEndian: false)
            return bytes
        }
        guard case .string(let text) = value, let bytes = parseHexBytes(text, count: size) else {
            throw MapJSONError(path: path, "expected \(size) bytes as a hex string of \(size * 2) digits (the map has no BTF), got \(value.brief)")
        }
        return bytes
    }

    // MARK: What a field is

    enum Address { case ipv4, ipv6, mac }

    /// What the name of a field holding an IP address contains (`saddr`, `dst_addr`, `sender`, …).
    static let addressNames = ["addr", "sender", "src", "dst", "ip4", "ip6", "ipv4", "ipv6", "nexthop", "gateway"]

    static let macNames = ["mac", "h_dest", "h_source", "hwaddr", "lladdr", "ether"]

    /// Whether a field of type t called name holds an address.
    static func address(_ type: BTFType, name: String) -> Address? {
        let lower = name.lowercased()
        let named = addressNames.contains { lower.contains($0) }
        switch type.size {
        case 16:
            if type.isNamed("in6_addr") { return .ipv6 }
            guard named else { return nil }
            if case .union = type.kind { return .ipv6 }
            if isByteArray(type) || isBigEndianArray(type) { return .ipv6 }
        case 4:
            if type.isNamed("in_addr") { return .ipv4 }
            guard named else { return nil }
            if type.isNamed("__be32") || isByteArray(type) { return .ipv4 }
            if case .structure = type.kind, type.members.count == 1, type.members[0].type.isNamed("__be32") { return .ipv4 }
        case 6:
            if isByteArray(type), named || macNames.contains(where: { lower.contains($0) }) { return .mac }
        default:
            break
        }
        return nil
    }

    /// An array of 1-byte integers that are not `char` text.
    static func isByteArray(_ type: BTFType) -> Bool {
        guard case .array(let element, _) = type.kind, element.size == 1, case .int(_, let isChar, let isBool, _) = element.kind else {
            return false
        }
        return !isChar && !isBool
    }

    static func isCharArray(_ type: BTFType) -> Bool {
        guard case .array(let element, _) = type.kind, element.size == 1, case .int(_, let isChar, _, _) = element.kind else {
            return false
        }
        return isChar
    }

    static func isBigEndianArray(_ type: BTFType) -> Bool {
        guard case .array(let element, _) = type.kind else { return false }
        return element.aliases.contains { $0.hasPrefix("__be") }
    }

    static func isBigEndian(_ type: BTFType) -> Bool {
        type.aliases.contains { $0.hasPrefix("__be") }
    }

    // MARK: Decoding

    static func decode(_ bytes: ArraySlice<UInt8>, _ type: BTFType, name: String, depth: Int) -> MapJSONValue {
        guard depth < 64, bytes.count == type.size else { return .string(hex(bytes)) }
        if let address = address(type, name: name) { return .string(format(address, bytes)) }
        switch type.kind {
        case .int(let signed, _, let isBool, _):
            guard [1, 2, 4, 8].contains(type.size) else { return .string(hex(bytes)) }
            let bits = load(bytes, bigEndian: isBigEndian(type))
            if isBool && type.size == 1 && bits <= 1 { return .bool(bits == 1) }
            return signed ? signedNumber(signExtend(bits, size: type.size)) : number(bits)
        case .pointer:
            return number(load(bytes, bigEndian: false))
        case .float:
            let bits = load(bytes, bigEndian: false)
            switch type.size {
            case 4: return .double(Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits))))
            case 8: return .double(Double(bitPattern: bits))
            default: return .string(hex(bytes))
            }
        case .enumeration(let cases, let signed):
            guard [1, 2, 4, 8].contains(type.size) else { return .string(hex(bytes)) }
            let bits = load(bytes, bigEndian: false)
            let value = signed ? signExtend(bits, size: type.size) : Int64(bitPattern: bits)
            if let match = cases.first(where: { truncate(UInt64(bitPattern: $0.value), size: type.size) == bits }) {
                return .string(match.name)
            }
            return signed ? signedNumber(value) : number(bits)
        case .array(let element, let count):
            if isCharArray(type) {
                if let text = text(bytes) { return .string(text) }
                // Not text: the bytes as numbers, which encode back (a string would be taken as text).
                let signed: Bool
                if case .int(let isSigned, _, _, _) = element.kind { signed = isSigned } else { signed = false }
                return .array(bytes.map { .int(signed ? Int64(Int8(bitPattern: $0)) : Int64($0)) })
            }
            if isByteArray(type) { return .string(hex(bytes)) }
            guard element.size > 0 else { return .array([]) }
            return .array((0..<count).map { index in
                let start = bytes.startIndex + index * element.size
                return decode(bytes[start..<start + element.size], element, name: name, depth: depth + 1)
            })
        case .structure(let members), .union(let members):
            var fields: [MapJSONValue.Field] = []
            decodeMembers(members, bytes, depth: depth, into: &fields)
            return .object(fields)
        case .opaque:
            return .string(hex(bytes))
        }
    }

    static func decodeMembers(_ members: [BTFMember], _ bytes: ArraySlice<UInt8>, depth: Int, into fields: inout [MapJSONValue.Field]) {
        for member in members {
            if member.bitfieldSize > 0 {
                let value = bitfield(bytes, member)
                if case .int(let signed, _, _, _) = member.type.kind, signed {
                    let shift = 64 - member.bitfieldSize
                    fields.append(MapJSONValue.Field(member.name, signedNumber(Int64(bitPattern: value << shift) >> shift)))
                } else {
                    fields.append(MapJSONValue.Field(member.name, number(value)))
                }
                continue
            }
            let start = bytes.startIndex + member.offset
            guard member.bitOffset % 8 == 0, start + member.type.size <= bytes.endIndex else { continue }
            let slice = bytes[start..<start + member.type.size]
            if member.name.isEmpty, !member.type.members.isEmpty {
                // An anonymous struct or union: its members are the parent's.
                let before = fields.count
                var inner: [MapJSONValue.Field] = []
                decodeMembers(member.type.members, slice, depth: depth + 1, into: &inner)
                fields.append(contentsOf: inner.filter { field in !fields[..<before].contains { $0.key == field.key } })
                continue
            }
            fields.append(MapJSONValue.Field(member.name, decode(slice, member.type, name: member.name, depth: depth + 1)))
        }
    }

    /// A bitfield's bits (little-endian layout: bit offsets count from the lowest bit).
    static func bitfield(_ bytes: ArraySlice<UInt8>, _ member: BTFMember) -> UInt64 {
        var value: UInt64 = 0
        for bit in 0..<min(member.bitfieldSize, 64) {
            let position = member.bitOffset + bit
            let index = bytes.startIndex + position / 8
            guard index < bytes.endIndex else { break }
            if bytes[index] >> (position % 8) & 1 == 1 { value |= 1 << bit }
        }
        return value
    }

    static func text(_ bytes: ArraySlice<UInt8>) -> String? {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        guard bytes[end...].allSatisfy({ $0 == 0 }) else { return nil }
        let prefix = bytes[..<end]
        guard let text = String(validating: prefix, as: UTF8.self),
              !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return nil }
        return text
    }

    static func format(_ address: Address, _ bytes: ArraySlice<UInt8>) -> String {
        switch address {
        case .mac:
            return bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
        case .ipv4, .ipv6:
            let family = address == .ipv4 ? AF_INET : AF_INET6
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            let raw = Array(bytes)
            let ok = raw.withUnsafeBytes { source in
                inet_ntop(family, source.baseAddress, &buffer, socklen_t(buffer.count)) != nil
            }
            guard ok else { return hex(bytes) }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// An unsigned integer: a number up to 2^53, beyond as a decimal string.
    static func number(_ value: UInt64) -> MapJSONValue {
        value <= 1 << 53 ? .int(Int64(value)) : .string(String(value))
    }

    static func signedNumber(_ value: Int64) -> MapJSONValue {
        value.magnitude <= 1 << 53 ? .int(value) : .string(String(value))
    }

    static func signExtend(_ bits: UInt64, size: Int) -> Int64 {
        let shift = UInt64(64 - size * 8)
        return Int64(bitPattern: bits << shift) >> shift
    }

    static func truncate(_ bits: UInt64, size: Int) -> UInt64 {
        size >= 8 ? bits : bits & ((1 << UInt64(size * 8)) - 1)
    }

    static func load(_ bytes: ArraySlice<UInt8>, bigEndian: Bool) -> UInt64 {
        var value: UInt64 = 0
        let ordered = bigEndian ? Array(bytes) : Array(bytes.reversed())
        for byte in ordered.prefix(8) { value = value << 8 | UInt64(byte) }
        return value
    }

    static func store(_ value: UInt64, into bytes: inout [UInt8], at offset: Int, size: Int, bigEndian: Bool) {
        for index in 0..<min(size, 8) {
            let byte = UInt8(truncatingIfNeeded: value >> UInt64(index * 8))
            bytes[offset + (bigEndian ? size - 1 - index : index)] = byte
        }
    }

    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Hex digits (optionally after 0x) for exactly count bytes.
    static func parseHexBytes(_ text: String, count: Int) -> [UInt8]? {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        let utf8 = Array(digits.utf8)
        guard utf8.count == count * 2 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var index = 0
        while index < utf8.count {
            guard let byte = UInt8(String(decoding: utf8[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
            index += 2
        }
        return bytes
    }

    // MARK: Encoding

    static func encode(_ value: MapJSONValue, _ type: BTFType, name: String, into bytes: inout [UInt8], at offset: Int,
                       path: String, depth: Int) throws(MapJSONError) {
        guard depth < 64 else { throw MapJSONError(path: path, "the type nests too deeply") }
        guard offset + type.size <= bytes.count else { throw MapJSONError(path: path, "the type does not fit its parent") }
        if let address = address(type, name: name) {
            guard case .string(let text) = value else {
                throw MapJSONError(path: path, "expected \(describe(address)) (\(type.cName)), got \(value.brief)")
            }
            let parsed: [UInt8]? = parse(address, text) ?? parseHexBytes(text, count: type.size).flatMap { text.hasPrefix("0x") ? $0 : nil }
            guard let parsed else {
                throw MapJSONError(path: path, "'\(text)' is not \(describe(address)) (\(type.cName))")
            }
            bytes.replaceSubrange(offset..<offset + type.size, with: parsed)
            return
        }
        switch type.kind {
        case .int(let signed, _, let isBool, _):
            guard [1, 2, 4, 8].contains(type.size) else { return try encodeHex(value, type, into: &bytes, at: offset, path: path) }
            var input = value
            if isBool, case .bool(let flag) = value { input = .int(flag ? 1 : 0) }
            let what = isBool ? "true, false or a number 0…255 (\(type.cName))"
                : "\(signed ? "a signed" : "an unsigned") \(type.size * 8)-bit integer (\(type.cName))"
            let bits = try integerBits(input, size: type.size, signed: signed, path: path, what: what)
            store(bits, into: &bytes, at: offset, size: type.size, bigEndian: isBigEndian(type))
        case .pointer:
            let bits = try integerBits(value, size: type.size, signed: false, path: path, what: "an address (\(type.cName))")
            store(bits, into: &bytes, at: offset, size: type.size, bigEndian: false)
        case .float:
            let number: Double
            switch value {
            case .int(let integer): number = Double(integer)
            case .uint(let integer): number = Double(integer)
            case .double(let double): number = double
            default: throw MapJSONError(path: path, "expected a number (\(type.cName)), got \(value.brief)")
            }
            switch type.size {
            case 4: store(UInt64(Float(number).bitPattern), into: &bytes, at: offset, size: 4, bigEndian: false)
            case 8: store(number.bitPattern, into: &bytes, at: offset, size: 8, bigEndian: false)
            default: try encodeHex(value, type, into: &bytes, at: offset, path: path)
            }
        case .enumeration(let cases, let signed):
            guard [1, 2, 4, 8].contains(type.size) else { return try encodeHex(value, type, into: &bytes, at: offset, path: path) }
            if case .string(let text) = value, let match = cases.first(where: { $0.name == text }) {
                store(UInt64(bitPattern: match.value), into: &bytes, at: offset, size: type.size, bigEndian: false)
                return
            }
            let names = cases.prefix(12).map(\.name).joined(separator: ", ") + (cases.count > 12 ? ", …" : "")
            let what = "one of \(type.cName)'s names (\(names)) or a number"
            if case .string(let text) = value, Int64(text) == nil, UInt64(text) == nil, !text.hasPrefix("0x") {
                throw MapJSONError(path: path, "'\(text)' is not \(what)")
            }
            let bits = try integerBits(value, size: type.size, signed: signed, path: path, what: what)
            store(bits, into: &bytes, at: offset, size: type.size, bigEndian: false)
        case .array(let element, let count):
            if case .string(let text) = value {
                if isCharArray(type) {
                    let utf8 = Array(text.utf8)
                    guard utf8.count <= type.size else {
                        throw MapJSONError(path: path, "'\(text)' is \(utf8.count) bytes, \(type.cName) holds \(type.size)")
                    }
                    bytes.replaceSubrange(offset..<offset + utf8.count, with: utf8)
                    return
                }
                return try encodeHex(value, type, into: &bytes, at: offset, path: path)
            }
            guard case .array(let items) = value else {
                let expected = isByteArray(type) ? "\(type.size) bytes as hex or a list of \(count) numbers"
                    : isCharArray(type) ? "a string of at most \(type.size) bytes" : "a list of \(count) elements"
                throw MapJSONError(path: path, "expected \(expected) (\(type.cName)), got \(value.brief)")
            }
            guard items.count == count else {
                throw MapJSONError(path: path, "expected a list of \(count) elements (\(type.cName)), got \(items.count)")
            }
            for (index, item) in items.enumerated() {
                try encode(item, element, name: name, into: &bytes, at: offset + index * element.size,
                           path: "\(path)[\(index)]", depth: depth + 1)
            }
        case .structure(let members), .union(let members):
            if case .string = value { return try encodeHex(value, type, into: &bytes, at: offset, path: path) }
            guard case .object(let fields) = value else {
                throw MapJSONError(path: path, "expected an object with members \(memberNames(members)) (\(type.cName)), got \(value.brief)")
            }
            var used = Set<String>()
            try encodeMembers(members, fields, into: &bytes, at: offset, path: path, depth: depth, used: &used)
            if let unknown = fields.first(where: { !used.contains($0.key) }) {
                throw MapJSONError(path: path, "\(type.cName) has no member '\(unknown.key)'; its members: \(memberNames(members))")
            }
            if case .union = type.kind {
                // Every member given must read back as given: they share the bytes.
                let slice = bytes[offset..<offset + type.size]
                var check: [MapJSONValue.Field] = []
                decodeMembers(members, slice, depth: depth, into: &check)
                for field in fields {
                    var alone = [UInt8](repeating: 0, count: type.size)
                    var ignored = Set<String>()
                    try encodeMembers(members, [field], into: &alone, at: 0, path: path, depth: depth, used: &ignored)
                    var aloneFields: [MapJSONValue.Field] = []
                    decodeMembers(members, alone[...], depth: depth, into: &aloneFields)
                    let want = aloneFields.first { $0.key == field.key }?.value
                    if check.first(where: { $0.key == field.key })?.value != want {
                        throw MapJSONError(path: path, "the members of \(type.cName) share their bytes and disagree; give one of them")
                    }
                }
            }
        case .opaque:
            try encodeHex(value, type, into: &bytes, at: offset, path: path)
        }
    }

    static func encodeMembers(_ members: [BTFMember], _ fields: [MapJSONValue.Field], into bytes: inout [UInt8], at offset: Int,
                              path: String, depth: Int, used: inout Set<String>) throws(MapJSONError) {
        for member in members {
            if member.name.isEmpty, !member.type.members.isEmpty, member.bitfieldSize == 0 {
                try encodeMembers(member.type.members, fields, into: &bytes, at: offset + member.offset, path: path,
                                  depth: depth + 1, used: &used)
                continue
            }
            guard let field = fields.first(where: { $0.key == member.name }) else { continue }
            used.insert(member.name)
            let memberPath = "\(path).\(member.name)"
            if member.bitfieldSize > 0 {
                let signed: Bool
                if case .int(let isSigned, _, _, _) = member.type.kind { signed = isSigned } else { signed = false }
                let width = member.bitfieldSize
                let bits = try integerBits(field.value, size: 8, signed: signed, path: memberPath,
                                           what: "a \(width)-bit integer (bitfield)")
                let limit: UInt64 = width >= 64 ? .max : (1 << UInt64(width)) - 1
                let fits = signed ? { () -> Bool in
                    let value = Int64(bitPattern: bits)
                    let half = width >= 64 ? Int64.max : (Int64(1) << Int64(width - 1))
                    return value >= -half && value < half
                }() : bits <= limit
                guard fits else { throw MapJSONError(path: memberPath, "\(field.value.brief) does not fit in \(width) bits") }
                for bit in 0..<min(width, 64) {
                    let position = member.bitOffset + bit
                    let index = offset + position / 8
                    guard index < bytes.count else { break }
                    let mask = UInt8(1) << UInt8(position % 8)
                    if bits >> UInt64(bit) & 1 == 1 { bytes[index] |= mask } else { bytes[index] &= ~mask }
                }
                continue
            }
            try encode(field.value, member.type, name: member.name, into: &bytes, at: offset + member.offset,
                       path: memberPath, depth: depth + 1)
        }
    }

    static func memberNames(_ members: [BTFMember]) -> String {
        members.flatMap { $0.name.isEmpty ? $0.type.members.map(\.name) : [$0.name] }.joined(separator: ", ")
    }

    static func encodeHex(_ value: MapJSONValue, _ type: BTFType, into bytes: inout [UInt8], at offset: Int,
                          path: String) throws(MapJSONError) {
        guard case .string(let text) = value, let parsed = parseHexBytes(text, count: type.size) else {
            throw MapJSONError(path: path, "expected \(type.size) bytes as a hex string of \(type.size * 2) digits (\(type.cName)), got \(value.brief)")
        }
        bytes.replaceSubrange(offset..<offset + type.size, with: parsed)
    }

    static func describe(_ address: Address) -> String {
        switch address {
        case .ipv4: "an IPv4 address like \"192.0.2.1\""
        case .ipv6: "an IPv6 address like \"fc00::1\""
        case .mac: "a MAC address like \"02:00:00:00:00:01\""
        }
    }

    static func parse(_ address: Address, _ text: String) -> [UInt8]? {
        switch address {
        case .mac:
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 6 else { return nil }
            var bytes: [UInt8] = []
            for part in parts {
                guard (1...2).contains(part.count), let byte = UInt8(part, radix: 16) else { return nil }
                bytes.append(byte)
            }
            return bytes
        case .ipv4, .ipv6:
            var buffer = [UInt8](repeating: 0, count: 16)
            let family = address == .ipv4 ? AF_INET : AF_INET6
            guard inet_pton(family, text, &buffer) == 1 else { return nil }
            return Array(buffer.prefix(address == .ipv4 ? 4 : 16))
        }
    }

    /// A JSON integer (number, decimal or 0x string) as the bits of a size-byte integer,
    /// checking its range.
    static func integerBits(_ value: MapJSONValue, size: Int, signed: Bool, path: String, what: String) throws(MapJSONError) -> UInt64 {
        let bits = size * 8
        let unsignedMax: UInt64 = bits >= 64 ? .max : (1 << UInt64(bits)) - 1
        let signedMin: Int64 = bits >= 64 ? .min : -(Int64(1) << Int64(bits - 1))
        let signedMax: Int64 = bits >= 64 ? .max : (Int64(1) << Int64(bits - 1)) - 1
        var negative: Int64?
        var positive: UInt64?
        switch value {
        case .int(let integer):
            if integer < 0 { negative = integer } else { positive = UInt64(integer) }
        case .uint(let integer):
            positive = integer
        case .double(let double) where double == double.rounded() && abs(double) < 9.2e18:
            if double < 0 { negative = Int64(double) } else { positive = UInt64(double) }
        case .string(let text):
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("0x") || trimmed.hasPrefix("0X") {
                positive = UInt64(trimmed.dropFirst(2), radix: 16)
            } else if let integer = Int64(trimmed), integer < 0 {
                negative = integer
            } else {
                positive = UInt64(trimmed)
            }
        default:
            break
        }
        if let negative {
            guard signed, negative >= signedMin else {
                throw MapJSONError(path: path, "expected \(what), got \(value.brief)" + (signed ? " (below \(signedMin))" : " (negative)"))
            }
            return UInt64(bitPattern: negative) & unsignedMax
        }
        guard let positive else { throw MapJSONError(path: path, "expected \(what), got \(value.brief)") }
        let limit = signed ? UInt64(signedMax) : unsignedMax
        guard positive <= limit else {
            throw MapJSONError(path: path, "expected \(what), got \(value.brief) (above \(limit))")
        }
        return positive
    }
}

extension MapJSONValue {
    /// A short rendering for error messages.
    var brief: String {
        let text: String
        switch self {
        case .object: text = "an object " + jsonText()
        case .array(let items): text = "a list of \(items.count) " + jsonText()
        case .string: text = "the string " + jsonText()
        case .bool: text = jsonText()
        case .null: text = "null"
        default: text = jsonText()
        }
        return text.count > 80 ? String(text.prefix(77)) + "…" : text
    }

    /// The element-wise sum of per-CPU values: numbers add up, objects and lists add up member
    /// by member; nil when any leaf is not an integer (an address, a name, …).
    public static func sum(_ values: [MapJSONValue]) -> MapJSONValue? {
        guard let first = values.first else { return nil }
        switch first {
        case .int, .uint, .string:
            var total: Int64 = 0
            var unsignedTotal: UInt64 = 0
            var anyNegative = false
            for value in values {
                switch value {
                case .int(let integer):
                    total &+= integer
                    unsignedTotal &+= UInt64(bitPattern: integer)
                    anyNegative = anyNegative || integer < 0
                case .uint(let integer):
                    total &+= Int64(bitPattern: integer)
                    unsignedTotal &+= integer
                case .string(let text):
                    // Integers beyond 2^53 decode as decimal strings.
                    if let integer = UInt64(text) {
                        total &+= Int64(bitPattern: integer)
                        unsignedTotal &+= integer
                    } else if let integer = Int64(text) {
                        total &+= integer
                        unsignedTotal &+= UInt64(bitPattern: integer)
                        anyNegative = true
                    } else {
                        return nil
                    }
                default:
                    return nil
                }
            }
            return anyNegative ? MapJSONCodec.signedNumber(total) : MapJSONCodec.number(unsignedTotal)
        case .object(let fields):
            var summed: [Field] = []
            for (index, field) in fields.enumerated() {
                var column: [MapJSONValue] = []
                for value in values {
                    guard case .object(let others) = value, others.count == fields.count, others[index].key == field.key else { return nil }
                    column.append(others[index].value)
                }
                guard let total = sum(column) else { return nil }
                summed.append(Field(field.key, total))
            }
            return .object(summed)
        case .array(let items):
            var summed: [MapJSONValue] = []
            for index in items.indices {
                var column: [MapJSONValue] = []
                for value in values {
                    guard case .array(let others) = value, others.count == items.count else { return nil }
                    column.append(others[index])
                }
                guard let total = sum(column) else { return nil }
                summed.append(total)
            }
            return .array(summed)
        default:
            return nil
        }
    }
}

// MARK: - A map's keys and values

/// A map's key and value codecs, with per-CPU values split into one value per possible CPU.
public struct MapJSON: Sendable {
    public let key: MapJSONCodec
    public let value: MapJSONCodec
    public let btf: MapBTF
    public let perCPU: Bool
    /// Possible CPUs (1 for maps that are not per-CPU).
    public let cpuCount: Int
    let stride: Int
    /// Why the map's BTF could not be read, when it could not (the codecs then use integers and hex).
    public private(set) var btfError: String?

    /// The codecs for a map from its BTF (`.none` for integer/hex only).
    public init(btf: MapBTF, keySize: Int, valueSize: Int, perCPU: Bool, cpuCount: Int) {
        self.btf = btf
        self.key = MapJSONCodec(type: btf.key, size: keySize)
        self.value = MapJSONCodec(type: btf.value, size: valueSize)
        self.perCPU = perCPU
        self.cpuCount = perCPU ? max(cpuCount, 1) : 1
        self.stride = perCPU ? (valueSize + 7) & ~7 : valueSize
    }

    /// The codecs for a map, from the BTF the kernel keeps for it. A map whose BTF cannot be
    /// read gets the integer/hex codecs; `btfError` says why.
    public init(map: BPFMap) throws {
        var btf = MapBTF.none
        var problem: String?
        do {
            btf = try map.btfTypes()
        } catch {
            problem = "\(error)"
        }
        self.init(btf: btf, keySize: map.keySize, valueSize: map.valueSize, perCPU: map.isPerCPU,
                  cpuCount: map.isPerCPU ? try possibleCPUCount() : 1)
        btfError = problem
    }

    public func decodeKey(_ bytes: [UInt8]) -> MapJSONValue {
        key.decode(bytes)
    }

    /// A value as the kernel returns it: one element per CPU for per-CPU maps, else one.
    public func decodeValues(_ buffer: [UInt8]) -> [MapJSONValue] {
        guard perCPU else { return [value.decode(buffer)] }
        return (0..<cpuCount).map { cpu in
            let start = cpu * stride
            guard start + value.size <= buffer.count else { return value.decode([]) }
            return value.decode(Array(buffer[start..<start + value.size]))
        }
    }

    public func encodeKey(_ json: MapJSONValue) throws(MapJSONError) -> [UInt8] {
        try key.encode(json, path: "key")
    }

    /// The buffer `BPFMap.update` takes. For per-CPU maps, one value for every CPU or a list of
    /// one value per possible CPU.
    public func encodeValue(_ json: MapJSONValue) throws(MapJSONError) -> [UInt8] {
        guard perCPU else { return try value.encode(json, path: "value") }
        var buffer = [UInt8](repeating: 0, count: cpuCount * stride)
        let perCPUList: [MapJSONValue]?
        if case .array(let items) = json {
            if let type = value.type, case .array = type.kind {
                // The value is itself a list: only a list of lists (or of hex/text strings) is per CPU.
                let textual = MapJSONCodec.isByteArray(type) || MapJSONCodec.isCharArray(type)
                let nested = !items.isEmpty && items.allSatisfy { item in
                    if case .array = item { return true }
                    if textual, case .string = item { return true }
                    return false
                }
                perCPUList = nested ? items : nil
            } else {
                perCPUList = items
            }
        } else {
            perCPUList = nil
        }
        if let items = perCPUList {
            guard items.count == cpuCount else {
                throw MapJSONError(path: "value", "expected one value for every CPU or a list of \(cpuCount) (one per possible CPU), got a list of \(items.count)")
            }
            for (cpu, item) in items.enumerated() {
                let bytes = try value.encode(item, path: "value[cpu \(cpu)]")
                buffer.replaceSubrange(cpu * stride..<cpu * stride + bytes.count, with: bytes)
            }
            return buffer
        }
        let bytes = try value.encode(json, path: "value")
        for cpu in 0..<cpuCount { buffer.replaceSubrange(cpu * stride..<cpu * stride + bytes.count, with: bytes) }
        return buffer
    }
}
