import Foundation
import HikeErrors

/// A text that is not an address or a prefix, or a prefix with host bits set.
public struct AddressError: HikeError, Equatable {
    public let message: String
    public var code: String { "address.invalid" }
    public var description: String { message }

    init(_ message: String) { self.message = message }
}

/// An IPv6 address as its 16 network-order bytes (a SID is one).
public struct IPv6Address: Sendable, Hashable, Comparable, AddressText {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(AddressError) {
        guard bytes.count == 16 else { throw AddressError("an IPv6 address has 16 bytes, not \(bytes.count)") }
        self.bytes = bytes
    }

    /// bytes must be 16 (from a decoded header, a masked address).
    public init(unchecked bytes: [UInt8]) {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        self.bytes = bytes
    }

    /// Parses the text form (`fc00::1`, RFC 4291); anything else is an error.
    public init(parsing text: String) throws(AddressError) {
        var raw = in6_addr()
        guard !text.contains("/"), inet_pton(AF_INET6, text, &raw) == 1 else {
            throw AddressError("'\(text)' is not an IPv6 address (like fc00::1)")
        }
        bytes = withUnsafeBytes(of: raw) { Array($0) }
    }

    public static let zero = IPv6Address(unchecked: [UInt8](repeating: 0, count: 16))

    /// The RFC 5952 text form, as `ip` prints it.
    public var description: String {
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The address with every bit from length on cleared.
    public func masked(to length: Int) -> IPv6Address {
        var out = bytes
        for index in 0..<16 {
            let start = index * 8
            if start >= length { out[index] = 0 } else if start + 8 > length {
                out[index] &= UInt8(truncatingIfNeeded: 0xff << (8 - (length - start)))
            }
        }
        return IPv6Address(unchecked: out)
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

}

/// An IPv4 address as its 4 network-order bytes.
public struct IPv4Address: Sendable, Hashable, Comparable, AddressText {
    public let bytes: [UInt8]

    public init(parsing text: String) throws(AddressError) {
        var raw = in_addr()
        guard !text.contains("/"), inet_pton(AF_INET, text, &raw) == 1 else {
            throw AddressError("'\(text)' is not an IPv4 address (like 10.0.0.1)")
        }
        bytes = withUnsafeBytes(of: raw) { Array($0) }
    }

    /// bytes must be 4.
    public init(unchecked bytes: [UInt8]) {
        precondition(bytes.count == 4, "an IPv4 address has 4 bytes")
        self.bytes = bytes
    }

    public static let zero = IPv4Address(unchecked: [0, 0, 0, 0])

    public var description: String { bytes.map(String.init).joined(separator: ".") }

    public func masked(to length: Int) -> IPv4Address {
        let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
        let masked = value & mask
        return IPv4Address(unchecked: (0..<4).map { UInt8(truncatingIfNeeded: masked >> UInt32(24 - 8 * $0)) })
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

/// An IPv6 prefix (`fc00:1::/64`); a bare address is a /128. Host bits must be zero, as `ip
/// route` demands, so that one prefix has one spelling.
public struct IPv6Network: Sendable, Hashable, Comparable, AddressText {
    public let address: IPv6Address
    public let length: Int

    public init(address: IPv6Address, length: Int) throws(AddressError) {
        guard (0...128).contains(length) else { throw AddressError("the prefix length \(length) is not in 0–128") }
        guard address.masked(to: length) == address else {
            throw AddressError("'\(address)/\(length)' has host bits set: write \(address.masked(to: length))/\(length)")
        }
        self.address = address
        self.length = length
    }

    public init(parsing text: String) throws(AddressError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let address = try IPv6Address(parsing: parts[0])
        var length = 128
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...128).contains(value) else {
                throw AddressError("'\(text)': the prefix length must be a number in 0–128")
            }
            length = value
        }
        try self.init(address: address, length: length)
    }

    public func contains(_ other: IPv6Address) -> Bool { other.masked(to: length) == address }

    /// Whether other lies inside this prefix (or equals it).
    public func contains(_ other: IPv6Network) -> Bool { other.length >= length && contains(other.address) }

    public var description: String { "\(address)/\(length)" }

    public static func < (lhs: IPv6Network, rhs: IPv6Network) -> Bool {
        lhs.address == rhs.address ? lhs.length < rhs.length : lhs.address < rhs.address
    }
}

/// An IPv4 prefix (`10.1.0.0/16`); a bare address is a /32.
public struct IPv4Network: Sendable, Hashable, Comparable, AddressText {
    public let address: IPv4Address
    public let length: Int

    public init(parsing text: String) throws(AddressError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        address = try IPv4Address(parsing: parts[0])
        var length = 32
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...32).contains(value) else {
                throw AddressError("'\(text)': the prefix length must be a number in 0–32")
            }
            length = value
        }
        guard address.masked(to: length) == address else {
            throw AddressError("'\(text)' has host bits set: write \(address.masked(to: length))/\(length)")
        }
        self.length = length
    }

    public var description: String { "\(address)/\(length)" }

    public static func < (lhs: IPv4Network, rhs: IPv4Network) -> Bool {
        lhs.address == rhs.address ? lhs.length < rhs.length : lhs.address < rhs.address
    }
}

/// A headend policy's destination: the IPv6 or IPv4 traffic it steers.
public enum DestinationPrefix: Sendable, Hashable, Comparable, AddressText {
    case v6(IPv6Network)
    case v4(IPv4Network)

    public init(parsing text: String) throws(AddressError) {
        if text.contains(":") { self = .v6(try IPv6Network(parsing: text)) } else { self = .v4(try IPv4Network(parsing: text)) }
    }

    public var description: String {
        switch self {
        case .v6(let network): network.description
        case .v4(let network): network.description
        }
    }

    public static func < (lhs: DestinationPrefix, rhs: DestinationPrefix) -> Bool { lhs.description < rhs.description }
}

/// Addresses and prefixes are written as text in JSON (`"fc00::1"`, `"10.0.0.0/24"`), as `ip -j`
/// writes them.
public protocol AddressText: Codable, CustomStringConvertible {
    init(parsing text: String) throws(AddressError)
}

extension AddressText {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension DestinationPrefix {
    /// The address family (AF_INET6 or AF_INET).
    public var family: Int32 {
        switch self {
        case .v6: AF_INET6
        case .v4: AF_INET
        }
    }

    public var addressBytes: [UInt8] {
        switch self {
        case .v6(let network): network.address.bytes
        case .v4(let network): network.address.bytes
        }
    }

    public var length: Int {
        switch self {
        case .v6(let network): network.length
        case .v4(let network): network.length
        }
    }
}
