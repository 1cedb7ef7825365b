import Foundation

/// Whether the running kernel has its own SRv6 routes (seg6 encap and seg6local, both behind
/// CONFIG_IPV6_SEG6_LWTUNNEL). hike's SRv6 runs in XDP either way; the kernel's routes are what
/// the hybrid split hands unfinished packets to, and the reference peer of the interop tests.
///
/// Detected by doing it: a seg6local route added in a namespace of its own (no sysctl or
/// config file says it: /proc/config.gz may be absent, seg6_enabled exists without the routes).
public enum KernelSRv6 {
    /// What the probe found; `reason` says what the kernel answered when it is missing.
    public struct Support: Sendable, Equatable {
        public let available: Bool
        public let reason: String
        /// The seg6local End flavours (iproute2's names) this kernel takes: `next-csid` came
        /// with 6.1, `psp` with 6.3; an older kernel answers "Unsupported Flavor operation(s)".
        public var endFlavours: Set<String> = []
    }

    /// The flavours probed on End.
    public static let probedFlavours = ["psp", "next-csid"]

    /// Probes once per process: the kernel's configuration does not change under it.
    public static var support: Support {
        get throws { try cached.get() }
    }

    public static var isAvailable: Bool {
        get throws { try support.available }
    }

    private static let cached: Result<Support, any Error> = Result { try probe() }

    /// Adds `fc00:5e96::1/128 encap seg6local action End dev lo` in a new namespace,
    /// named `hike-seg6probe-<pid>`, and deletes the namespace.
    static func probe() throws -> Support {
        let name = "hike-seg6probe-\(getpid())"
        if NetworkNamespace.list().contains(name) { try NetworkNamespace(existing: name).delete() }
        let namespace = try NetworkNamespace.create(name)
        defer { try? namespace.delete() }  // a failed delete leaves a namespace that the next probe removes
        let stack = NetworkStack(namespace: namespace)
        // A kernel with seg6 refuses a route through a device that is down.
        try stack.setUp("lo")
        func endRoute(_ n: Int, _ flavours: SegmentRoutingLocal.Flavours) throws -> Route {
            Route(destination: .v6(try IPv6Network(parsing: "fc00:5e96::\(n)/128")), device: "lo",
                  encap: .seg6local(SegmentRoutingLocal(action: .end, flavours: flavours)))
        }
        do {
            try stack.add(endRoute(1, []))
        } catch let error as NetworkError where error.isUnsupported {
            // Anything but "not supported" is not an answer, and is thrown.
            return Support(available: false, reason: "the kernel has no seg6/seg6local routes (CONFIG_IPV6_SEG6_LWTUNNEL): \(error.kernelMessage ?? error.message)")
        }
        var flavours: Set<String> = []
        for (n, name) in probedFlavours.enumerated() {
            guard let flavour = SegmentRoutingLocal.Flavours.names.first(where: { $0.0 == name })?.1 else { continue }
            do {
                try stack.add(endRoute(n + 2, flavour))
                flavours.insert(name)
            } catch let error as NetworkError where error.isUnsupported {
                continue  // "Unsupported Flavor operation(s)"
            }
        }
        let missing = probedFlavours.filter { !flavours.contains($0) }
        return Support(available: true, reason: "seg6 and seg6local routes work"
                           + (missing.isEmpty ? "" : "; End takes no flavour \(missing.joined(separator: ", "))"),
                       endFlavours: flavours)
    }
}
