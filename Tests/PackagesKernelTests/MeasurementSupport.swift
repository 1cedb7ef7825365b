import BPFKit
import BPFObjects
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// A HIKe instance with some programs loaded, chains written in the chain assembler's text and
/// test runs through a detached loader (the info, alt_mark, stamp, eip, tutorial, contribs, lse
/// and routingpaolo tests).
struct MeasurementHarness {
    let test: TestInstance
    var hike: HikeInstance { test.instance }

    /// The default verdict of runToExit's loader: XDP_TX, which none of the programs under test
    /// gives, so a packet that gets it ran its chain to `exit`: every program continued the chain.
    /// (XDP_PASS would not tell: programs give it too, and it is the usual default.)
    static let continued = ABI.xdpTX

    init(programs: [String]) throws {
        try KernelTest.prepare()
        test = try KernelTest.instance()
        for program in programs { try hike.loadProgram(program) }
    }

    /// Assembles, links and installs the chains of source.
    func install(_ source: String) throws {
        _ = try hike.install(try ChainAssembler.assemble(source, file: "test"), source: nil)
    }

    /// Runs packet through an ip6_classifier on chain: the test run and the VM's last result.
    /// With ingress, the packet comes in on that interface (an ifindex of the namespace the call
    /// runs in), as bpf_fib_lookup and redirects need.
    func run(_ chain: String, _ packet: [UInt8], defaultVerdict: UInt32 = ABI.xdpPass,
             loader name: String = "ip6_classifier", ingress: Int32? = nil) throws -> (TestRunResult, VMResult) {
        let loader = try hike.detachedLoader(name, chain: chain, defaultVerdict: defaultVerdict)
        let context = ingress.map { NetKeys.xdpContext(length: packet.count, ingress: UInt32($0)) }
        let before = try hike.lastResults()
        let run = try loader.testRun(TestRunOptions(data: packet, context: context))
        let result = try #require(try hike.resultAfter(before))
        return (run, result)
    }

    /// Runs packet through chain behind an ip46_classifier (IPv4 frames run too) whose default
    /// verdict is `continued`, and checks that the chain ran to its `exit` with the packet as it
    /// came: no fault, the default verdict, the same bytes. The VM's r0.
    func runToExit(_ chain: String, _ packet: [UInt8], _ what: Comment? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> UInt64 {
        let (run, result) = try self.run(chain, packet, defaultVerdict: Self.continued, loader: "ip46_classifier")
        #expect(result.fault == 0, what, sourceLocation: sourceLocation)
        #expect(run.returnValue == Self.continued, what, sourceLocation: sourceLocation)
        #expect(run.data == packet, what, sourceLocation: sourceLocation)
        return result.r0
    }

    /// A map of a loaded object (`maps/<object>/<map>` under the instance's pins).
    func map(_ object: String, _ name: String) throws -> BPFMap {
        try BPFMap.openPinned("\(hike.pinRoot)/maps/\(object)/\(name)")
    }

    /// The sum over CPUs of a per-CPU u64 array slot.
    func perCPUSum(_ object: String, _ name: String, _ slot: UInt32) throws -> UInt64 {
        try map(object, name).lookupSum(slot, as: UInt64.self) ?? 0
    }

    /// A slot of a per-CPU struct hike_counter array, summed over the CPUs.
    func counter(_ object: String, _ name: String, _ slot: UInt32) throws -> PacketCounter {
        try TypedMap<UInt32, PacketCounter>(map(object, name)).lookupSum(slot) ?? PacketCounter()
    }
}

/// A packet with a short name: the argument of a parameterized test, which names the case.
struct NamedPacket: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]

    var testDescription: String { name }
}

/// Byte helpers for the tests (network order).
enum Bytes {
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (24 - 8 * $0)) & 0xff) } }
    static func be64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (56 - 8 * $0)) & 0xff) } }
    static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(b[at + $1]) } }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(b[at + $1]) } }
    static func le32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
    static func le64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }
    static func le16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
}

/// IPv6 packets with extension headers, built on PacketBuilder.
enum ExtPacket {
    static let source = PacketBuilder.address("fc00::1")
    static let destination = PacketBuilder.address("fc00::2")

    /// An options header (Hop-by-Hop or Destination Options) holding options, padded with PadN
    /// (or Pad1) to a multiple of 8 bytes.
    static func optionsHeader(nextHeader: UInt8, options: [UInt8]) -> [UInt8] {
        var body = options
        let pad = (8 - (2 + body.count) % 8) % 8
        if pad == 1 { body += [0] } else if pad > 1 { body += [1, UInt8(pad - 2)] + Array(repeating: 0, count: pad - 2) }
        return [nextHeader, UInt8((2 + body.count) / 8 - 1)] + body
    }

    /// Ethernet + IPv6 + extension headers (each [next header, …], chained by their first byte)
    /// + UDP with a correct checksum. firstNextHeader is the IPv6 header's.
    static func udp(firstNextHeader: UInt8, extensions: [UInt8], sourcePort: UInt16 = 1000,
                    destinationPort: UInt16 = 2000, payload: [UInt8] = Array(repeating: 0x5a, count: 16)) -> [UInt8] {
        var udp = Bytes.be16(sourcePort) + Bytes.be16(destinationPort) + Bytes.be16(UInt16(8 + payload.count)) + [0, 0] + payload
        let checksum = PacketBuilder.transportChecksum(source: source, destination: destination, nextHeader: 17, segment: udp)
        udp[6] = UInt8(checksum >> 8)
        udp[7] = UInt8(checksum & 0xff)
        let ip: [UInt8] = [0x60, 0, 0, 0] + Bytes.be16(UInt16(extensions.count + udp.count)) + [firstNextHeader, 64] + source + destination
        return PacketBuilder.ethernet(destination: [2, 0, 0, 0, 0, 2], source: [2, 0, 0, 0, 0, 1], etherType: 0x86dd) + ip + extensions + udp
    }
}

/// Wall-clock arithmetic for checking timestamps (hike itself keeps the programs' offsets:
/// HikeRuntime's WallClock and `hike clock sync`).
enum MeasurementClock {
    /// Seconds from 1900-01-01 (the NTP era 0) to 1970-01-01.
    static let ntpUnixOffset: UInt64 = 2_208_988_800

    static func nanoseconds(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Now as an NTP 32.32 timestamp.
    static func ntpNow() -> UInt64 { ntp(fromNanoseconds: nanoseconds(CLOCK_REALTIME) + ntpUnixOffset * 1_000_000_000) }

    static func ntp(fromNanoseconds ns: UInt64) -> UInt64 {
        let seconds = ns / 1_000_000_000
        let fraction = ((ns % 1_000_000_000) << 32) / 1_000_000_000
        return seconds << 32 | fraction
    }

    /// Seconds between two NTP timestamps (b − a).
    static func seconds(from a: UInt64, to b: UInt64) -> Double { Double(Int64(bitPattern: b &- a)) / 4_294_967_296 }
}
