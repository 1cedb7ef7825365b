@testable import NetKit
import Testing

/// The bytes of the kernel's seg6 tunnel attribute, from include/uapi/linux/seg6_iptunnel.h
/// and RFC 8754 §2 (the kernel-side check is SegmentRoutingRouteTests, against iproute2).
@Suite struct RouteEncodingTests {
    let a = try! IPv6Address(parsing: "fc00:1::a"), b = try! IPv6Address(parsing: "fc00:1::b")

    @Test func anEncapSRHListsTheSegmentsReversed() {
        let bytes = SegmentRoutingEncap(mode: .encap, segments: [a, b]).tunnelAttribute
        // mode 1 (host order int), then NH 0, Hdr Ext Len 2n = 4, type 4, SL = LE = 1, flags, tag.
        #expect(Array(bytes[0..<12]) == [1, 0, 0, 0, 0, 4, 4, 1, 1, 0, 0, 0])
        #expect(Array(bytes[12...]) == b.bytes + a.bytes)
    }

    @Test func anInlineSRHLeavesTheFirstSlotForTheDestination() {
        let bytes = SegmentRoutingEncap(mode: .inline, segments: [a]).tunnelAttribute
        #expect(Array(bytes[0..<12]) == [0, 0, 0, 0, 0, 4, 4, 1, 1, 0, 0, 0])
        #expect(Array(bytes[12...]) == [UInt8](repeating: 0, count: 16) + a.bytes)
    }

    @Test func theTunnelAttributeDecodesToWhatWasEncoded() throws {
        for mode in SegmentRoutingEncap.Mode.allCases {
            let encap = SegmentRoutingEncap(mode: mode, segments: [a, b])
            var writer = AttributeWriter()
            writer.add(1 /* SEG6_IPTUNNEL_SRH */, bytes: encap.tunnelAttribute)
            #expect(SegmentRoutingEncap(Attributes(writer.bytes[...])) == encap, "\(mode)")
        }
    }
}
