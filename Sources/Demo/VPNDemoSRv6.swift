import Foundation
import NetKit
import Topology

/// Where the demo's SRv6 behaviours run: the seed's hybrid (HIKe encapsulates at r1, the
/// kernel's seg6/seg6local does the rest) needs the kernel's SRv6; without it hike's XDP does all
/// of it, with the same addresses, monitoring and checks.
public enum VPNDemoSRv6: String, Sendable, CaseIterable {
    /// kernel where the kernel has seg6/seg6local routes, else xdp.
    case auto
    /// examples/vpn/demo.yaml: the hybrid.
    case kernel
    /// examples/vpn/demo-xdp.yaml: every behaviour in XDP.
    case xdp

    /// The placement this machine gets: auto asks the kernel; kernel on a kernel without seg6 is
    /// an error, raised before anything is made.
    public func resolved() throws -> VPNDemoSRv6 {
        if self == .xdp { return self }
        let support = try KernelSRv6.support
        switch (self, support.available) {
        case (.auto, let available): return available ? .kernel : .xdp
        case (_, false):
            throw VPNDemoError.invalidOption("--srv6 kernel, but \(support.reason): use --srv6 xdp (or auto)")
        default: return self
        }
    }

    /// The repository's topology for a resolved placement.
    public var testbed: String {
        self == .xdp ? "examples/vpn/demo-xdp.yaml" : "examples/vpn/demo.yaml"
    }

    /// The demo's first line about it, for a resolved placement.
    public var summary: String {
        switch self {
        case .xdp:
            "SRv6 in hike's XDP only (no kernel seg6/seg6local here, or --srv6 xdp): H.Encaps and End.DT6 at r1 and at r2"
        default:
            "SRv6 hybrid: r1's H.Encaps in hike's XDP; r2's End.DT6 and the way back (r2's H.Encaps, r1's End.DT6) in the kernel's seg6/seg6local"
        }
    }
}
