import Foundation
import NetKit
import Testing

@Suite struct AddressTests {
    @Test func addressesParseAndPrintInRFC5952Form() throws {
        let address = try IPv6Address(parsing: "FC00:0000:0:0::0001")
        #expect(address.description == "fc00::1")
        #expect(address.bytes == [0xfc, 0] + [UInt8](repeating: 0, count: 13) + [1])
        #expect(try IPv6Address(bytes: address.bytes) == address)
        for bad in ["fc00::1::2", "fc00::/64", "10.0.0.1", "", "fc00::g"] {
            #expect(throws: AddressError.self, "\(bad)") { _ = try IPv6Address(parsing: bad) }
        }
        #expect(throws: AddressError.self) { _ = try IPv6Address(bytes: [1, 2, 3]) }
    }

    @Test func prefixesRefuseHostBits() throws {
        let prefix = try IPv6Network(parsing: "fc00:2::/48")
        #expect(prefix.description == "fc00:2::/48")
        #expect(prefix.contains(try IPv6Address(parsing: "fc00:2:0:ff::1")))
        #expect(!prefix.contains(try IPv6Address(parsing: "fc00:3::1")))
        #expect(try IPv6Network(parsing: "fc00::1").length == 128)
        #expect(throws: AddressError.self) { _ = try IPv6Network(parsing: "fc00:2::1/48") }
        do {
            _ = try IPv6Network(parsing: "fc00:2::1/48")
        } catch {
            #expect(error.message == "'fc00:2::1/48' has host bits set: write fc00:2::/48")
            #expect(error.code == "address.invalid")
        }
        #expect(throws: AddressError.self) { _ = try IPv6Network(parsing: "fc00::/129") }
        #expect(throws: AddressError.self) { _ = try IPv4Network(parsing: "10.2.0.1/16") }
        #expect(try DestinationPrefix(parsing: "10.0.0.0/8") == .v4(try IPv4Network(parsing: "10.0.0.0/8")))
    }

    /// An interface address keeps its host bits; its length is the subnet's.
    @Test func interfaceAddressesKeepHostBits() throws {
        #expect(try InterfaceAddress(parsing: "fc00::1/64").description == "fc00::1/64")
        #expect(try InterfaceAddress(parsing: "10.0.0.1/24").family == AF_INET)
        #expect(try InterfaceAddress(parsing: "10.0.0.1").length == 32)
        #expect(throws: AddressError.self) { _ = try InterfaceAddress(parsing: "10.0.0.1/33") }
    }

    /// JSON carries them as `ip -j` writes them: text.
    @Test func addressesAreTextInJSON() throws {
        let prefixes = [try DestinationPrefix(parsing: "fc00:1::/64"), try DestinationPrefix(parsing: "10.1.0.0/16")]
        let json = try JSONEncoder().encode(prefixes)
        #expect(String(decoding: json, as: UTF8.self) == #"["fc00:1::\/64","10.1.0.0\/16"]"#)
        #expect(try JSONDecoder().decode([DestinationPrefix].self, from: json) == prefixes)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([IPv6Address].self, from: Data(#"["10.0.0.1"]"#.utf8)) }
    }
}
