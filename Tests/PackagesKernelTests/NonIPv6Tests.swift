import BPFKit
import BPFObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// The IPv6 programs on an IPv4 frame (through ip46_classifier): -EINVAL and no map touched;
/// ip6_kroute hands it to the kernel.
@Suite(.serialized) struct NonIPv6Tests {
    init() throws { try KernelTest.prepare() }

    static let einval = NetKeys.r0(-22)

    @Test(arguments: [("ip6_hset_srcdst", "ip6_hset", "ip6_hset_sd", Int32(1)),
                      ("ip6_dst_tbmon", "ip6_tbmon", "pcpu_tb_dst", 0), ("ip6_sd_tbmon", "ip6_tbmon", "pcpu_sd_tbmon", 0),
                      ("ip6_dst_meter", "ip6_meter", "pcpu_dst_meter", 0), ("ip6_sd_meter", "ip6_meter", "pcpu_sd_meter", 0),
                      ("ip6_src_meter", "ip6_meter", "pcpu_src_meter", 0),
                      ("ip6_sd_dec2zero", "ip6_sd_dec2zero", "pcpu_dec2zero", 5)])
    func refusedWithEINVAL(program: String, object: String, map: String, argument: Int32) throws {
        let runner = try NetPackageRunner(program: program, arguments: [argument], loader: "ip46_classifier")
        let (run, result) = try runner.run(NetKeys.ipv4)
        #expect(result.r0 == Self.einval)
        #expect(run.returnValue == ABI.xdpPass)
        #expect(run.data == NetKeys.ipv4)
        #expect(try runner.map(object, map).keys().isEmpty)
    }

    @Test func kroutePassesIPv4ToTheKernel() throws {
        let runner = try NetPackageRunner(program: "ip6_kroute", final: true, loader: "ip46_classifier")
        let (run, result) = try runner.run(NetKeys.ipv4)
        #expect(run.returnValue == ABI.xdpPass)
        #expect(result.verdict == ABI.xdpPass)
        #expect(run.data == NetKeys.ipv4)
    }
}
