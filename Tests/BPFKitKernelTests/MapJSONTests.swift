import BPFKit
import BPFObjects
import HikeTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Map keys and values as JSON, typed from the BTF the kernel keeps with each map.
@Suite(.serialized) struct MapJSONTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// `struct ip6_sd_key { struct in6_addr saddr, daddr; }` → `{"saddr": "fc00::1", …}`.
    @Test func ip6SetKeysAreAddresses() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.ip6Hset.bytes, name: "ip6_hset")
        let map = try object.map("ip6_hset_sd")
        let btf = try map.btfTypes()
        let keyType = try #require(btf.key)
        #expect(keyType.cName == "struct ip6_sd_key")
        #expect(keyType.members.map(\.name) == ["saddr", "daddr"])
        #expect(keyType.members.map(\.offset) == [0, 16])
        #expect(btf.value?.members.map(\.name) == ["cts_ns", "timeout_ns"])

        let codec = try MapJSON(map: map)
        let key = try codec.encodeKey(.parse(#"{"saddr": "fc00::1", "daddr": "fc00::2"}"#))
        #expect(key == [0xfc, 0] + [UInt8](repeating: 0, count: 13) + [1] + [0xfc, 0] + [UInt8](repeating: 0, count: 13) + [2])
        let value = try codec.encodeValue(.parse(#"{"cts_ns": 5, "timeout_ns": "18446744073709551615"}"#))
        try map.update(key: key, value: value)

        let entries = try map.entries()
        #expect(entries.count == 1)
        let entry = try #require(entries.first)
        let decodedKey = codec.decodeKey(entry.key)
        #expect(decodedKey["saddr"]?.stringValue == "fc00::1")
        #expect(decodedKey["daddr"]?.stringValue == "fc00::2")
        #expect(decodedKey.jsonText() == #"{"saddr":"fc00::1","daddr":"fc00::2"}"#)
        let decodedValue = try #require(codec.decodeValues(entry.value).first)
        #expect(decodedValue["cts_ns"]?.intValue == 5)
        // Beyond 2^53 a u64 is a decimal string, which encodes back to the same bits.
        #expect(decodedValue["timeout_ns"]?.stringValue == "18446744073709551615")
        #expect(try codec.encodeValue(decodedValue) == value)
        #expect(try codec.encodeKey(decodedKey) == key)

        // The config array: __u32 key, plain integers.
        let cfg = try MapJSON(map: object.map("ip6_hset_cfg"))
        #expect(try cfg.encodeKey(.int(0)) == [0, 0, 0, 0])
        #expect(cfg.decodeKey([7, 0, 0, 0]) == .int(7))
    }

    /// `struct ip6_lpm_key { __u32 prefixlen; __u8 addr[16]; }`: the byte array named addr is IPv6.
    @Test func lpmKeysRoundTrip() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.ip6LpmClassifier.bytes, name: "ip6_lpm_classifier")
        let map = try object.map("ip6_lpm_routes")
        let codec = try MapJSON(map: map)
        #expect(codec.btf.key?.cName == "struct ip6_lpm_key")
        let key = try codec.encodeKey(.parse(#"{"prefixlen": 64, "addr": "fc00:1::"}"#))
        try map.update(key: key, value: codec.encodeValue(.int(0x4000_0001)))
        let (storedKey, storedValue) = try #require(try map.entries().first)
        #expect(codec.decodeKey(storedKey).jsonText() == #"{"prefixlen":64,"addr":"fc00:1::"}"#)
        #expect(codec.decodeValues(storedValue) == [.int(0x4000_0001)])
        // The kernel finds the route by its longest prefix.
        let probe = try codec.encodeKey(.parse(#"{"prefixlen": 128, "addr": "fc00:1::99"}"#))
        #expect(try map.lookup(key: probe) == storedValue)

        // hvm_loader_config: a struct of two __u32.
        let cfg = try MapJSON(map: object.map("ip6_lpm_cfg"))
        let config = try cfg.encodeValue(.parse(#"{"chain_id": 7, "default_verdict": 1}"#))
        #expect(config == [7, 0, 0, 0, 1, 0, 0, 0])
        #expect(cfg.decodeValues(config).first?.jsonText() == #"{"chain_id":7,"default_verdict":1}"#)
        // Members left out are zero.
        #expect(try cfg.encodeValue(.parse(#"{"chain_id": 7}"#)) == [7, 0, 0, 0, 0, 0, 0, 0])
    }

    /// `struct stamp_session_key { __u8 sender[16]; __u16 sender_port, ssid; }`: a byte array
    /// named sender is an address too.
    @Test func stampSessionSenderIsAnAddress() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.stamp.bytes, name: "stamp")
        let codec = try MapJSON(map: object.map("stamp_sessions"))
        let key = try codec.encodeKey(.parse(#"{"sender": "2001:db8::7", "sender_port": 862, "ssid": 1}"#))
        #expect(Array(key.prefix(4)) == [0x20, 0x01, 0x0d, 0xb8])
        #expect(codec.decodeKey(key).jsonText() == #"{"sender":"2001:db8::7","sender_port":862,"ssid":1}"#)
    }

    /// A key that is `struct in6_addr` itself; a per-CPU value of `struct tb_flow`.
    @Test func bareAddressKeysAndPerCPUValues() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.ip6Tbmon.bytes, name: "ip6_tbmon")
        let cfgMap = try object.map("tb_dst_cfg")
        let cfg = try MapJSON(map: cfgMap)
        #expect(cfg.btf.key?.cName == "struct in6_addr")
        let key = try cfg.encodeKey(.parse(#""fc00::1""#))
        #expect(cfg.decodeKey(key) == .string("fc00::1"))
        #expect(try cfg.encodeKey(MapJSONValue.parseArgument("fc00::1")) == key)  // unquoted on the command line

        let flows = try object.map("pcpu_tb_dst")
        let codec = try MapJSON(map: flows)
        let cpus = try possibleCPUCount()
        #expect(codec.perCPU && codec.cpuCount == cpus)
        // One value for every CPU.
        let one = try codec.encodeValue(.parse(#"{"rate": 10, "bucket_size": 20}"#))
        try flows.update(key: key, value: one)
        let stored = try #require(try flows.lookup(key: key))
        let values = codec.decodeValues(stored)
        #expect(values.count == cpus)
        #expect(values.allSatisfy { $0["rate"]?.intValue == 10 && $0["bucket_size"]?.intValue == 20 && $0["last_time"]?.intValue == 0 })
        #expect(MapJSONValue.sum(values)?["rate"]?.intValue == Int64(10 * cpus))
        // A list, one per CPU.
        let list = MapJSONValue.array((0..<cpus).map { .object(["rate": .int(Int64($0))]) })
        try flows.update(key: key, value: codec.encodeValue(list))
        let storedList = try #require(try flows.lookup(key: key))
        let perCPU = codec.decodeValues(storedList)
        #expect(perCPU.map { $0["rate"]?.intValue } == (0..<cpus).map { Int64($0) })
        // A list of the wrong length.
        let short = #expect(throws: MapJSONError.self) {
            try codec.encodeValue(.array([.object(["rate": .int(1)])] + (cpus == 1 ? [.object([:])] : [])))
        }
        #expect(short?.message.contains("one per possible CPU") == true)
    }

    @Test func badInputNamesTheFieldAndWhatItNeeds() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.ip6Hset.bytes, name: "ip6_hset")
        let codec = try MapJSON(map: object.map("ip6_hset_sd"))

        let badAddress = #expect(throws: MapJSONError.self) {
            try codec.encodeKey(.parse(#"{"saddr": "fc00::zz", "daddr": "fc00::2"}"#))
        }
        #expect(badAddress?.path == "key.saddr")
        #expect(badAddress?.message.contains("not an IPv6 address") == true)

        let number = #expect(throws: MapJSONError.self) { try codec.encodeKey(.parse(#"{"saddr": 5}"#)) }
        #expect(number?.description.hasPrefix("key.saddr: expected an IPv6 address") == true)

        let unknown = #expect(throws: MapJSONError.self) { try codec.encodeKey(.parse(#"{"src": "fc00::1"}"#)) }
        #expect(unknown?.message.contains("no member 'src'") == true)
        #expect(unknown?.message.contains("saddr, daddr") == true)

        let notObject = #expect(throws: MapJSONError.self) { try codec.encodeKey(.int(3)) }
        #expect(notObject?.message.contains("expected an object with members saddr, daddr") == true)

        let negative = #expect(throws: MapJSONError.self) { try codec.encodeValue(.parse(#"{"cts_ns": -1}"#)) }
        #expect(negative?.path == "value.cts_ns")
        #expect(negative?.message.contains("unsigned 64-bit") == true)

        let fraction = #expect(throws: MapJSONError.self) { try codec.encodeValue(.parse(#"{"cts_ns": 1.5}"#)) }
        #expect(fraction?.path == "value.cts_ns")

        // JSON syntax errors say where.
        let syntax = #expect(throws: MapJSONError.self) { try MapJSONValue.parse(#"{"saddr": "fc00::1""#) }
        #expect(syntax?.message.contains("invalid JSON at offset") == true)
        #expect(throws: MapJSONError.self) { try MapJSONValue.parseArgument("{saddr}") }
        #expect(throws: MapJSONError.self) { try MapJSONValue.parse("99999999999999999999999") }
        #expect(throws: MapJSONError.self) { try MapJSONValue.parse(String(repeating: "[", count: 1000)) }

        // u32 range.
        let cfg = try MapJSON(map: object.map("ip6_hset_cfg"))
        let range = #expect(throws: MapJSONError.self) { try cfg.encodeKey(.int(1 << 32)) }
        #expect(range?.message.contains("above 4294967295") == true)
    }

    /// Maps without BTF keep the old rules: 4 and 8 bytes are integers, the rest hex.
    @Test func withoutBTFIntegersAndHex() throws {
        let narrow = MapJSON(btf: .none, keySize: 4, valueSize: 3, perCPU: false, cpuCount: 1)
        #expect(narrow.decodeKey([1, 1, 0, 0]) == .int(257))
        #expect(narrow.decodeValues([0xab, 0xcd, 0xef]) == [.string("abcdef")])
        #expect(try narrow.encodeValue(.string("abcdef")) == [0xab, 0xcd, 0xef])
        #expect(try narrow.encodeValue(.string("0xabcdef")) == [0xab, 0xcd, 0xef])
        #expect(try narrow.encodeKey(.string("0x101")) == [1, 1, 0, 0])
        let short = #expect(throws: MapJSONError.self) { try narrow.encodeValue(.string("abcd")) }
        #expect(short?.message.contains("6 digits") == true)
    }

    /// Hand-made types for what the packages' maps do not have: MAC, IPv4, bool, char text,
    /// enums, signed and big-endian integers, bitfields, anonymous unions.
    @Test func theOtherShapes() throws {
        let u8 = BTFType(name: "unsigned char", aliases: ["__u8"], size: 1, kind: .int(signed: false, isChar: false, isBool: false, bits: 8))
        let char = BTFType(name: "char", size: 1, kind: .int(signed: true, isChar: true, isBool: false, bits: 8))
        let be32 = BTFType(name: "unsigned int", aliases: ["__be32", "__u32"], size: 4, kind: .int(signed: false, isChar: false, isBool: false, bits: 32))
        let be16 = BTFType(name: "unsigned short", aliases: ["__be16"], size: 2, kind: .int(signed: false, isChar: false, isBool: false, bits: 16))
        let s32 = BTFType(name: "int", size: 4, kind: .int(signed: true, isChar: false, isBool: false, bits: 32))
        let bool = BTFType(name: "_Bool", size: 1, kind: .int(signed: false, isChar: false, isBool: true, bits: 8))
        let mode = BTFType(name: "mode", size: 4, kind: .enumeration(cases: [BTFEnumCase(name: "MODE_A", value: 0),
                                                                             BTFEnumCase(name: "MODE_B", value: 2)], signed: false))
        let u32 = BTFType(name: "unsigned int", size: 4, kind: .int(signed: false, isChar: false, isBool: false, bits: 32))
        let anonymous = BTFType(name: "", size: 4, kind: .union(members: [BTFMember(name: "word", bitOffset: 0, type: u32)]))
        let type = BTFType(name: "everything", size: 40, kind: .structure(members: [
            BTFMember(name: "h_dest", bitOffset: 0, type: BTFType(name: "", size: 6, kind: .array(element: u8, count: 6))),
            BTFMember(name: "port", bitOffset: 48, type: be16),
            BTFMember(name: "daddr", bitOffset: 64, type: be32),
            BTFMember(name: "delta", bitOffset: 96, type: s32),
            BTFMember(name: "name", bitOffset: 128, type: BTFType(name: "", size: 8, kind: .array(element: char, count: 8))),
            BTFMember(name: "on", bitOffset: 192, type: bool),
            BTFMember(name: "low", bitOffset: 200, bitfieldSize: 3, type: u8),
            BTFMember(name: "high", bitOffset: 203, bitfieldSize: 5, type: u8),
            BTFMember(name: "mode", bitOffset: 224, type: mode),
            BTFMember(name: "", bitOffset: 256, type: anonymous),
            BTFMember(name: "hash", bitOffset: 288, type: BTFType(name: "", size: 4, kind: .array(element: u8, count: 4))),
        ]))
        let codec = MapJSONCodec(type: type, size: 40)
        let input = try MapJSONValue.parse("""
            {"h_dest": "02:00:00:00:00:0a", "port": 443, "daddr": "192.0.2.1", "delta": -5, "name": "eth0",
             "on": true, "low": 5, "high": 17, "mode": "MODE_B", "word": "0xdeadbeef", "hash": "01020304"}
            """)
        let bytes = try codec.encode(input, path: "value")
        #expect(Array(bytes[0..<6]) == [2, 0, 0, 0, 0, 10])
        #expect(Array(bytes[6..<8]) == [0x01, 0xbb])  // network order
        #expect(Array(bytes[8..<12]) == [192, 0, 2, 1])
        #expect(Array(bytes[16..<20]) == Array("eth0".utf8))
        #expect(bytes[25] == 5 | 17 << 3)
        let output = codec.decode(bytes)
        #expect(output.jsonText() == """
            {"h_dest":"02:00:00:00:00:0a","port":443,"daddr":"192.0.2.1","delta":-5,"name":"eth0","on":true,\
            "low":5,"high":17,"mode":"MODE_B","word":3735928559,"hash":"01020304"}
            """)
        #expect(try codec.encode(output, path: "value") == bytes)

        // A char array that is not text comes out as numbers, and goes back.
        var garbled = bytes
        garbled[16..<24] = [0x65, 0x00, 0x7f, 0xff, 0, 0, 0, 0]
        let garbledJSON = codec.decode(garbled)
        #expect(garbledJSON["name"] == .array([101, 0, 127, -1, 0, 0, 0, 0].map { .int($0) }))
        #expect(try codec.encode(garbledJSON, path: "value") == garbled)

        let tooLong = #expect(throws: MapJSONError.self) { try codec.encode(.parse(#"{"name": "a-very-long-name"}"#), path: "value") }
        #expect(tooLong?.path == "value.name")
        let badMode = #expect(throws: MapJSONError.self) { try codec.encode(.parse(#"{"mode": "MODE_C"}"#), path: "value") }
        #expect(badMode?.message.contains("MODE_A, MODE_B") == true)
        let bits = #expect(throws: MapJSONError.self) { try codec.encode(.parse(#"{"low": 8}"#), path: "value") }
        #expect(bits?.message.contains("3 bits") == true)
        let mac = #expect(throws: MapJSONError.self) { try codec.encode(.parse(#"{"h_dest": "02:00:00"}"#), path: "value") }
        #expect(mac?.message.contains("MAC address") == true)
    }

    /// A named union prints every member's view and takes any one of them; members given
    /// together must agree.
    @Test func unionsAndCommandLineText() throws {
        let u32 = BTFType(name: "unsigned int", aliases: ["__u32"], size: 4, kind: .int(signed: false, isChar: false, isBool: false, bits: 32))
        let u8 = BTFType(name: "unsigned char", aliases: ["__u8"], size: 1, kind: .int(signed: false, isChar: false, isBool: false, bits: 8))
        let union = BTFType(name: "word", size: 4, kind: .union(members: [
            BTFMember(name: "value", bitOffset: 0, type: u32),
            BTFMember(name: "bytes", bitOffset: 0, type: BTFType(name: "", size: 4, kind: .array(element: u8, count: 4))),
        ]))
        let codec = MapJSONCodec(type: union, size: 4)
        #expect(codec.decode([1, 0, 0, 0]).jsonText() == #"{"value":1,"bytes":"01000000"}"#)
        #expect(try codec.encode(.parse(#"{"bytes":"02000000"}"#), path: "key") == [2, 0, 0, 0])
        #expect(try codec.encode(.parse(#"{"value":1,"bytes":"01000000"}"#), path: "key") == [1, 0, 0, 0])
        let disagree = #expect(throws: MapJSONError.self) { try codec.encode(.parse(#"{"value":1,"bytes":"02000000"}"#), path: "key") }
        #expect(disagree?.message.contains("disagree") == true)

        // Addresses need no quotes on the command line; JSON still parses as JSON.
        #expect(try MapJSONValue.parseArgument("192.0.2.1") == .string("192.0.2.1"))
        #expect(try MapJSONValue.parseArgument("2001:db8::1") == .string("2001:db8::1"))
        #expect(try MapJSONValue.parseArgument("02:00:00:00:00:01") == .string("02:00:00:00:00:01"))
        #expect(try MapJSONValue.parseArgument("MODE_B") == .string("MODE_B"))
        #expect(try MapJSONValue.parseArgument("42") == .int(42))
        #expect(try MapJSONValue.parseArgument(#"{"a": [1, "x\u00e9"]}"#) == .object(["a": .array([.int(1), .string("xé")])]))
        #expect(throws: MapJSONError.self) { try MapJSONValue.parseArgument("") }
    }

    /// No input crashes the codec: every map of every embedded object, fed odd JSON.
    @Test func oddInputThrowsInsteadOfCrashing() throws {
        let odd = ["null", "true", "[]", "{}", "[[[]]]", "\"\"", "-1", "18446744073709551615", "1e308", "\"0x\"",
                   #"{"":1}"#, "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]", #""\u0000""#, "\"ff\""]
        for embedded in [EmbeddedObjects.ip6Hset, EmbeddedObjects.ip6LpmClassifier, EmbeddedObjects.ip6Tbmon] {
            let object = try BPFObject(bytes: embedded.bytes, name: embedded.name)
            for map in object.maps.values where map.type != .ringbuf {
                let codec = try MapJSON(map: map)
                for text in odd {
                    let value = try MapJSONValue.parse(text)
                    _ = try? codec.encodeKey(value)
                    _ = try? codec.encodeValue(value)
                }
                // Zero bytes decode and encode back.
                let zeroKey = [UInt8](repeating: 0, count: map.keySize)
                #expect(try codec.encodeKey(codec.decodeKey(zeroKey)) == zeroKey, "\(map.name) key")
            }
        }
    }

    /// Random bytes for every key and value of every embedded object's maps decode, encode back
    /// to bytes that decode the same, and survive JSON text.
    @Test func randomBytesRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        var seen = Set<String>()  // the VM's maps are in every object: once is enough
        for embedded in EmbeddedObjects.all {
            let object = try BPFObject(bytes: embedded.bytes, name: embedded.name)
            for map in object.maps.values where map.type != .ringbuf && seen.insert(map.name).inserted {
                let codec = try MapJSON(map: map)
                for _ in 0..<(map.valueSize > 1024 ? 2 : 20) {
                    for (part, size) in [(codec.key, map.keySize), (codec.value, map.valueSize)] {
                        let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
                        let json = part.decode(bytes)
                        let again = try part.encode(json, path: "\(map.name)")
                        #expect(part.decode(again) == json, "\(embedded.name)/\(map.name): \(json)")
                        #expect(try MapJSONValue.parse(json.jsonText()) == json, "\(embedded.name)/\(map.name)")
                        #expect(try MapJSONValue.parse(json.jsonText(pretty: true)) == json, "\(embedded.name)/\(map.name)")
                    }
                }
            }
        }
    }

    /// A global-data map's value is its section: an object of the variables in it.
    @Test func globalDataIsItsVariables() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.benchTailcall.bytes, name: "bench_tailcall")
        let map = try #require(object.maps.values.first { $0.name.hasSuffix(".bss") })
        let codec = try MapJSON(map: map)
        #expect(codec.btf.value?.cName == ".bss")
        let before = try #require(try map.lookup(key: [0, 0, 0, 0]))
        #expect(codec.decodeValues(before).first?["bench_rt_zero"] == .int(0))
        try map.update(key: [0, 0, 0, 0], value: codec.encodeValue(.parse(#"{"bench_rt_zero": 3}"#)))
        let after = try #require(try map.lookup(key: [0, 0, 0, 0]))
        #expect(codec.decodeValues(after).first?["bench_rt_zero"] == .int(3))
    }
}
