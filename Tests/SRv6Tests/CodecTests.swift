import BPFKit
import NetKit
import Testing
@testable import SRv6

@Suite struct LPMKeyTests {
    @Test func prefixesGiveTheLPMKeyOfSrv6H() throws {
        let prefix = try IPv6Network(parsing: "fc00:2::/48")
        #expect(try prefix.lpmKey.encoded() == [48, 0, 0, 0] + prefix.address.bytes)
        #expect(try IPv4Network(parsing: "10.2.0.0/16").lpmKey.encoded() == [16, 0, 0, 0, 10, 2, 0, 0])
    }
}

@Suite struct SRHTests {
    let a = try! IPv6Address(parsing: "fc00:1::1"), b = try! IPv6Address(parsing: "fc00:2::2"), c = try! IPv6Address(parsing: "fc00:3::3")

    @Test func aPathIsWrittenInReverseWithSegmentsLeftAtTheFirstSegment() throws {
        let srh = SegmentRoutingHeader(path: [a, b, c], nextHeader: 41)
        #expect(srh.segments == [c, b, a])
        #expect(srh.segmentsLeft == 2 && srh.lastEntry == 2)
        #expect(srh.activeSegment == a)
        let bytes = try srh.encoded()
        // RFC 8754 §2: NH, Hdr Ext Len = 2n, type 4, SL, LE, flags, tag.
        #expect(Array(bytes[0..<8]) == [41, 6, 4, 2, 2, 0, 0, 0])
        #expect(bytes.count == 8 + 48)
        #expect(Array(bytes[8..<24]) == c.bytes)
        let (decoded, length) = try SegmentRoutingHeader.decode(bytes + [0xaa, 0xbb])
        #expect(decoded == srh && length == 56)
        #expect(decoded.path == [a, b, c])
        #expect(srh.description == "srh nh 41 sl 2 le 2 [fc00:3::3, fc00:2::2, fc00:1::1]")
    }

    @Test func tlvsRoundTripAndMustPadToEightOctets() throws {
        let hmac = [UInt8](repeating: 0x5a, count: 32)
        var srh = SegmentRoutingHeader(nextHeader: 59, segmentsLeft: 0, flags: 0x80, tag: 0x1234, segments: [a],
                                       tlvs: [.hmac(destinationAddressCheckDisabled: true, keyID: 0x01020304, hmac: hmac)])
        let bytes = try srh.encoded()
        #expect(bytes.count == 8 + 16 + 40)
        #expect(bytes[1] == 7)
        #expect(Array(bytes[24..<32]) == [5, 38, 0x80, 0, 1, 2, 3, 4])
        #expect(Array(bytes[6..<8]) == [0x12, 0x34])
        #expect(try SegmentRoutingHeader.decode(bytes).header == srh)

        srh.tlvs = [.pad1, .opaque(type: 0x81, value: [1, 2, 3, 4, 5])]
        #expect(try SegmentRoutingHeader.decode(try srh.encoded()).header == srh)

        srh.tlvs = [.padN(count: 3)]
        #expect(throws: SRv6Error.self) { _ = try srh.encoded() }
    }

    /// RFC 8754 §2.1.1.1: a Pad1 is one byte. The codec follows the RFC; the kernel (and so the
    /// XDP path, see MalformedSRHTests and docs/srv6-dataplane.md) counts it as 2 + length.
    @Test func pad1IsOneByteAsTheRFCSays() throws {
        let bytes: [UInt8] = [41, 5, 4, 1, 1, 0, 0, 0] + a.bytes + b.bytes + [0, 0, 0, 0, 0, 4, 1, 0]
        let decoded = try SegmentRoutingHeader.decode(bytes)
        #expect(decoded.length == bytes.count)
        #expect(decoded.header.tlvs.count == 6)
        #expect(decoded.header.tlvs.prefix(5).allSatisfy { $0 == .pad1 })
    }

    @Test func malformedHeadersAreNamedAsRFC8754ChecksThem() throws {
        let good = try SegmentRoutingHeader(path: [a, b], nextHeader: 41).encoded()
        func reason(_ bytes: [UInt8]) -> String {
            do {
                _ = try SegmentRoutingHeader.decode(bytes)
                return "accepted"
            } catch { return error.description }
        }
        var pastLast = good
        pastLast[3] = 3
        #expect(reason(pastLast).contains("Segments Left 3 is past Last Entry 1"))
        var lastEntryTooBig = good
        lastEntryTooBig[4] = 2
        #expect(reason(lastEntryTooBig).contains("Last Entry 2 does not fit Hdr Ext Len 4"))
        #expect(reason(Array(good.prefix(30))).contains("Hdr Ext Len 4 says 40 octets but only 30"))
        var notFour = good
        notFour[2] = 0
        #expect(reason(notFour).contains("Routing Type 0"))
        #expect(reason([41, 0, 4]).contains("fixed part"))
        // A TLV longer than what is left of the header.
        var tlvOverrun = try SegmentRoutingHeader(nextHeader: 59, segmentsLeft: 0, segments: [a], tlvs: [.opaque(type: 0x81, value: [0, 0, 0, 0, 0, 0])]).encodedUnchecked()
        tlvOverrun[8 + 16 + 1] = 9
        #expect(reason(tlvOverrun).contains("runs past the header"))
        // SL = LE + 1 is allowed (RFC 8754 §4.3.1.1 tests SL > LE + 1 only) but has no active segment.
        var plusOne = good
        plusOne[3] = 2
        #expect(try SegmentRoutingHeader.decode(plusOne).header.activeSegment == nil)
    }

    @Test func pathsParseAsIpWritesSegs() throws {
        #expect(try SegmentRoutingHeader.parsePath("fc00:1::1, fc00:2::2") == [a, b])
        #expect(throws: SRv6Error.self) { _ = try SegmentRoutingHeader.parsePath("fc00:1::1,,fc00:2::2") }
        #expect(throws: SRv6Error.self) { _ = try SegmentRoutingHeader.parsePath("") }
    }
}

extension SegmentRoutingHeader {
    /// Encodes without the padding check, to build broken headers.
    func encodedUnchecked() throws -> [UInt8] {
        let tlvBytes = tlvs.flatMap(\.bytes)
        let length = 16 * segments.count + tlvBytes.count
        var out: [UInt8] = [nextHeader, UInt8(length / 8), 4, segmentsLeft, UInt8(lastEntry), flags, UInt8(tag >> 8), UInt8(tag & 0xff)]
        for segment in segments { out += segment.bytes }
        return out + tlvBytes
    }
}

@Suite struct MicroSIDTests {
    /// The thesis' Fig. 1.3 (and RFC 9800 §4.1's uN): block fcbb:bbbb::/32, 16-bit uSIDs.
    @Test func uNShiftsTheNextCSIDIntoPlaceAndZeroFills() throws {
        let format = MicroSIDFormat.linuxDefault
        var da = try IPv6Address(parsing: "fcbb:bbbb:0800:0700:0200:f00d::")
        #expect(format.csids(of: da) == [0x0800, 0x0700, 0x0200, 0xf00d])
        let expected = ["fcbb:bbbb:700:200:f00d::", "fcbb:bbbb:200:f00d::", "fcbb:bbbb:f00d::"]
        for step in expected {
            da = try #require(format.shifted(da))
            #expect(da.description == step)
        }
        // The last C-SID: the Argument is zero, the node runs plain End.
        #expect(format.shifted(da) == nil)
        #expect(format.argumentIsZero(da))
    }

    @Test func otherLengthsShiftTheirOwnWidth() throws {
        let format = try MicroSIDFormat(blockBits: 48, nodeBits: 32)
        #expect(format.capacity == 2)
        let da = try IPv6Address(parsing: "2001:db8:1:aaaa:aaaa:bbbb:bbbb:0")
        #expect(try #require(format.shifted(da)).description == "2001:db8:1:bbbb:bbbb::")
        let full = try IPv6Address(parsing: "fcbb:bbbb:1:2:3:4:5:6")
        #expect(try #require(MicroSIDFormat.linuxDefault.shifted(full)).description == "fcbb:bbbb:2:3:4:5:6:0")
        for (block, node) in [(0, 16), (32, 12), (120, 8), (36, 16)] {
            #expect(throws: SRv6Error.self, "\(block)/\(node)") { _ = try MicroSIDFormat(blockBits: block, nodeBits: node) }
        }
    }

    /// hike wing's paths: runs of uN SIDs of one block go packed, six 16-bit C-SIDs a container.
    @Test func packingPutsRunsOfUNSIDsInContainers() throws {
        let format = MicroSIDFormat.linuxDefault
        func pack(_ texts: [String]) throws -> [String] {
            try format.pack(texts.map { try IPv6Address(parsing: $0) }).map(\.description)
        }
        #expect(try pack(["fcbb:bb00:1::", "fcbb:bb00:2::", "fcbb:bb00:3::"]) == ["fcbb:bb00:1:2:3::"])
        // Seven C-SIDs: a full container and one more.
        #expect(try pack((1...7).map { "fcbb:bb00:\($0)::" }) == ["fcbb:bb00:1:2:3:4:5:6", "fcbb:bb00:7::"])
        // A SID with function bits, another block or a full SID ends a run and stays as it is.
        #expect(try pack(["fcbb:bb00:1::", "fcbb:bb00:2::5", "fcbb:bb00:3::", "fcbb:cc00:4::", "fc00::1", "fcbb:bb00:5::"])
                == ["fcbb:bb00:1::", "fcbb:bb00:2::5", "fcbb:bb00:3::", "fcbb:cc00:4::", "fc00::1", "fcbb:bb00:5::"])
        #expect(try pack(["fcbb:bb00:1::", "fcbb:bb00:2::", "fc00::1"]) == ["fcbb:bb00:1:2::", "fc00::1"])
        #expect(try pack([]) == [])
    }

    @Test func containersParseAndPrint() throws {
        let format = MicroSIDFormat.linuxDefault
        let container = try format.parseContainer("fcbb:bbbb::/32 100 200 f00d")
        #expect(container.description == "fcbb:bbbb:100:200:f00d::")
        #expect(format.describeContainer(container) == "fcbb:bbbb::/32 100 200 f00d")
        #expect(throws: SRv6Error.self) { _ = try format.parseContainer("fcbb:bbbb::/32 1 2 3 4 5 6 7") }
        #expect(throws: SRv6Error.self) { _ = try format.parseContainer("fcbb:bbbb::/32 10000") }
        #expect(throws: SRv6Error.self) { _ = try format.parseContainer("fcbb:bbbb::/48 100") }
        #expect(throws: SRv6Error.self) { _ = try format.parseContainer("fcbb:bbbb::/32 zz") }
    }
}

@Suite struct BehaviourTests {
    @Test func namesParseAsRFC8986AndIproute2WriteThem() {
        #expect(EndpointBehaviour.parse("End.DT6")?.behaviour == .endDT6)
        #expect(EndpointBehaviour.parse("end.dx4")?.behaviour == .endDX4)
        #expect(EndpointBehaviour.parse("uN")?.behaviour == .end && EndpointBehaviour.parse("uN")?.flavours == .nextCSID)
        #expect(EndpointBehaviour.parse("uA")?.behaviour == .endX && EndpointBehaviour.parse("uA")?.flavours == .nextCSID)
        #expect(EndpointBehaviour.parse("End.B6") == nil)
        #expect(HeadendMode.parse("inline") == .insert && HeadendMode.parse("encap.red") == .encapsRed)
        #expect(Flavours([.psp, .nextCSID]).description == "psp,next-csid")
        #expect(EndpointBehaviour.allCases.map(\.rawValue) == [1, 2, 3, 5, 6, 7, 8, 16, 13, 14, 128])
    }

    /// The srv6 objects' BTF lays the entries out as srv6.h declares them (the bytes below are
    /// the header's struct read by hand).
    @Test func mapValuesHaveTheLayoutsOfTheStructs() throws {
        let sid = try SRv6SIDEntry(behaviour: .endX, flavours: [.psp], table: 254, oif: 7, lblen: 32, nflen: 16,
                                   nh4: try IPv4Address(parsing: "10.1.2.3"), nh6: try IPv6Address(parsing: "fc00::9")).encoded()
        #expect(sid.count == 52)
        #expect(Array(sid[0..<24]) == [2, 0, 0, 0, 1, 0, 0, 0, 254, 0, 0, 0, 7, 0, 0, 0, 32, 16, 0, 0, 10, 1, 2, 3])
        #expect(Array(sid[24..<40]) == (try IPv6Address(parsing: "fc00::9")).bytes)
        #expect(Array(sid[40...]) == [UInt8](repeating: 0, count: 12))  // iif, inner, age_ms: a proxy's
        let policy = try SRv6PolicyEntry(mode: .encaps, segments: [try IPv6Address(parsing: "fc00::1")], flags: 0,
                                         hopLimit: 64, tag: 0x0102, source: try IPv6Address(parsing: "fc00::2"), pmFlow: 0x0a0b).encoded()
        #expect(policy.count == 156)
        #expect(Array(policy[0..<8]) == [1, 1, 0, 64, 2, 1, 0, 0])
        #expect(Array(policy[8..<24]) == (try IPv6Address(parsing: "fc00::2")).bytes)
        #expect(Array(policy[24..<40]) == (try IPv6Address(parsing: "fc00::1")).bytes)
        #expect(policy[40..<152].allSatisfy { $0 == 0 } && Array(policy[152...]) == [0x0b, 0x0a, 0, 0])

        func le(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) } }
        let codec = try SRv6ABI.codec("srv6_stats")
        let cpus = [le(3) + le(100) + le(1), le(4) + le(1 << 60) + le(1)]
        let sums = try cpus.map { try BTFCoding.decode(SRv6Stats.self, from: $0, with: codec, path: "stats") }.reduce(.zero, +)
        #expect(sums == SRv6Stats(packets: 7, bytes: 100 + 1 << 60, errors: 2))
    }

    /// A Swift entry refuses what its C struct cannot hold, naming the struct's members.
    @Test func aMemberTheStructLacksIsRefused() throws {
        struct Stray: Encodable { var behaviour: UInt32 = 1; var weight: UInt32 = 2 }
        let error = #expect(throws: MapJSONError.self) { try BTFCoding.encode(Stray(), with: try SRv6ABI.codec("srv6_sid"), path: "srv6_sid") }
        #expect(error?.description.contains("no member 'weight'") == true)
        #expect(error?.description.contains("nh6") == true)
    }
}
