import Foundation

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
///   `nexthop`, `gateway`, `nh4`, `nh6`, is IPv6 text (`"fc00::1"`); `struct in_addr`, and a 4-byte `__be32`
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
    /// `exactIntegers` keeps integers beyond ±2^53 as numbers (for Swift types, not for JSON
    /// readers that hold numbers in doubles).
    public func decode(_ bytes: [UInt8], exactIntegers: Bool = false) -> MapJSONValue {
        var padded = Array(bytes.prefix(size))
        if padded.count < size { padded += [UInt8](repeating: 0, count: size - padded.count) }
        guard let type else { return Self.fallbackDecode(padded) }
        return Self.decode(padded[...], type, name: "", depth: 0, exact: exactIntegers)
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
    static let addressNames = ["addr", "sender", "src", "dst", "ip4", "ip6", "ipv4", "ipv6", "nexthop", "gateway", "nh4", "nh6"]

    static let macNames = ["mac", "h_dest", "h_source", "hwaddr", "lladdr", "ether"]

    /// Whether a field of type t called name holds an address.
    static func address(_ type: BTFType, name: String) -> Address? {
        guard [4, 6, 16].contains(type.size) else { return nil }  // before the names: this runs per member
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

    static func decode(_ bytes: ArraySlice<UInt8>, _ type: BTFType, name: String, depth: Int, exact: Bool = false) -> MapJSONValue {
        guard depth < 64, bytes.count == type.size else { return .string(hex(bytes)) }
        if let address = address(type, name: name) { return .string(format(address, bytes)) }
        switch type.kind {
        case .int(let signed, _, let isBool, _):
            guard [1, 2, 4, 8].contains(type.size) else { return .string(hex(bytes)) }
            let bits = load(bytes, bigEndian: isBigEndian(type))
            if isBool && type.size == 1 && bits <= 1 { return .bool(bits == 1) }
            return signed ? signedNumber(signExtend(bits, size: type.size), exact: exact) : number(bits, exact: exact)
        case .pointer:
            return number(load(bytes, bigEndian: false), exact: exact)
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
            return signed ? signedNumber(value, exact: exact) : number(bits, exact: exact)
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
                return decode(bytes[start..<start + element.size], element, name: name, depth: depth + 1, exact: exact)
            })
        case .structure(let members), .union(let members):
            var fields: [MapJSONValue.Field] = []
            decodeMembers(members, bytes, depth: depth, into: &fields, exact: exact)
            return .object(fields)
        case .opaque:
            return .string(hex(bytes))
        }
    }

    static func decodeMembers(_ members: [BTFMember], _ bytes: ArraySlice<UInt8>, depth: Int, into fields: inout [MapJSONValue.Field],
                              exact: Bool = false) {
        for member in members {
            if member.bitfieldSize > 0 {
                let value = bitfield(bytes, member)
                if case .int(let signed, _, _, _) = member.type.kind, signed {
                    let shift = 64 - member.bitfieldSize
                    fields.append(MapJSONValue.Field(member.name, signedNumber(Int64(bitPattern: value << shift) >> shift, exact: exact)))
                } else {
                    fields.append(MapJSONValue.Field(member.name, number(value, exact: exact)))
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
                decodeMembers(member.type.members, slice, depth: depth + 1, into: &inner, exact: exact)
                fields.append(contentsOf: inner.filter { field in !fields[..<before].contains { $0.key == field.key } })
                continue
            }
            fields.append(MapJSONValue.Field(member.name, decode(slice, member.type, name: member.name, depth: depth + 1, exact: exact)))
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

    /// An unsigned integer: a number up to 2^53, beyond as a decimal string (what a JSON
    /// double holds); `exact` keeps every integer a number, for Swift readers.
    static func number(_ value: UInt64, exact: Bool = false) -> MapJSONValue {
        exact ? .uint(value) : value <= 1 << 53 ? .int(Int64(value)) : .string(String(value))
    }

    static func signedNumber(_ value: Int64, exact: Bool = false) -> MapJSONValue {
        exact || value.magnitude <= 1 << 53 ? .int(value) : .string(String(value))
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
        case .ipv6: "an IPv6 address like \"fc00::1\" (or IPv4, held IPv4-mapped)"
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
            if inet_pton(family, text, &buffer) == 1 { return Array(buffer.prefix(address == .ipv4 ? 4 : 16)) }
            // IPv4 text in a 16-byte field: the IPv4-mapped address (::ffff:a.b.c.d), as maps
            // that hold both families keep IPv4 (the nat package's).
            guard address == .ipv6, inet_pton(AF_INET, text, &buffer) == 1 else { return nil }
            return [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + buffer.prefix(4)
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
