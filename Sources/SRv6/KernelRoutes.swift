import Foundation
import NetKit

/// The kernel's own seg6local and seg6 routes that mirror hike's local SIDs and policies: what
/// the fast path hands to the kernel untouched (XDP_PASS: unresolved neighbours, ICMPv6 errors,
/// a headend without room) is then processed by the same behaviour in the kernel. An entry
/// without one gets SRV6_FALLBACK_NONE (srv6.h).
enum KernelRoutes {
    /// The seg6local route that mirrors the SID, or nil when the kernel cannot run the behaviour
    /// the same way (End.DT4/DT46 need a VRF here; USP and USD are not in Linux, which takes
    /// PSP and NEXT-C-SID on End — not both together, see the validation — and only NEXT-C-SID
    /// on End.X; an older kernel fewer: kernelEndFlavours, what its End takes).
    static func mirror(_ sid: LocalSID, device: String, kernelEndFlavours: Flavours = [.psp, .nextCSID]) -> Route? {
        let row = sid.behaviour.row
        guard let action = row.kernelAction,
              sid.flavours.isSubset(of: row.kernelFlavours.intersection(kernelEndFlavours)) else { return nil }
        var local = SegmentRoutingLocal(action: action, flavours: sid.flavours.kernelFlavours, counters: sid.count)
        if row.required.contains(.table) { local.table = sid.table ?? Route.mainTable }
        if row.required.contains(.nextHop6) { local.nextHop6 = sid.nextHop6 ?? .zero }
        if row.required.contains(.nextHop4) { local.nextHop4 = sid.nextHop4 ?? IPv4Address(unchecked: [0, 0, 0, 0]) }
        if !sid.flavours.isEmpty, let format = sid.microSID {
            local.blockBits = UInt8(format.blockBits)
            local.nodeFunctionBits = UInt8(format.nodeBits)
        }
        return Route(destination: .v6(sid.prefix), device: sid.interface ?? device, encap: .seg6local(local))
    }

    /// The kernel's seg6 encap route that applies the same policy, or nil when the kernel would
    /// build another packet: a mode it lacks (H.Insert.Red), an SRH tag or flags (its seg6 routes
    /// set neither here), or an outer hop limit other than the kernel's 64 for IPv4 packets. The
    /// outer source is the kernel's `ip sr tunsrc` (a per-namespace setting, left to the operator).
    static func mirror(_ policy: HeadendPolicy, device: String) -> Route? {
        let mode: SegmentRoutingEncap.Mode
        switch policy.mode {
        case .encaps: mode = .encap
        case .encapsRed: mode = .encapRed
        case .insert: mode = .inline
        case .encapsL2: mode = .l2encap
        case .insertRed: return nil
        }
        guard policy.tag == 0, policy.flags == 0 else { return nil }
        if case .v4 = policy.destination, policy.hopLimit != 64 { return nil }
        return Route(destination: policy.destination, device: device,
                     encap: .seg6(SegmentRoutingEncap(mode: mode, segments: policy.segments)))
    }

    static func replace(_ route: Route, namespace: String?) throws(SRv6Error) {
        try network(namespace) { stack throws(NetworkError) in try stack.replace(route) }
    }

    static func delete(_ prefix: DestinationPrefix, namespace: String?) throws(SRv6Error) {
        try network(namespace) { stack throws(NetworkError) in try stack.deleteRoute(to: prefix) }
    }

    /// The main table's routes for exactly this prefix.
    static func existing(_ prefix: DestinationPrefix, namespace: String?) throws(SRv6Error) -> [Route] {
        try network(namespace) { stack throws(NetworkError) in
            try stack.routes(family: prefix.family, exactly: prefix)
        }
    }

    /// Whether the kernel delivers packets to this prefix locally: a `local` route in the local
    /// table (an address of the node, or `ip route add local PREFIX dev lo`).
    static func isLocal(_ prefix: IPv6Network, namespace: String?) throws(SRv6Error) -> Bool {
        try network(namespace) { stack throws(NetworkError) in
            try stack.routes(family: AF_INET6, table: Route.localTable, exactly: .v6(prefix)).contains { $0.kind == .local }
        }
    }

    /// A change or a read of the namespace's routes; the kernel's refusal becomes an apply error.
    private static func network<T>(_ namespace: String?, _ body: (NetworkStack) throws(NetworkError) -> T) throws(SRv6Error) -> T {
        do { return try body(NetworkStack(namespaceNamed: namespace)) } catch { throw .apply(error.message) }
    }
}

extension Flavours {
    /// The same flavours as the kernel's seg6local numbers them.
    var kernelFlavours: SegmentRoutingLocal.Flavours {
        var out: SegmentRoutingLocal.Flavours = []
        for (name, flavour) in Self.names where contains(flavour) {
            if let kernel = SegmentRoutingLocal.Flavours.names.first(where: { $0.0 == name })?.1 { out.insert(kernel) }
        }
        return out
    }
}
