import Foundation

/// The kernel's own seg6local and seg6 routes that mirror hike's local SIDs and policies: what
/// the fast path hands to the kernel untouched (XDP_PASS: unresolved neighbours, ICMPv6 errors,
/// a headend without room) is then processed by the same behaviour in the kernel. An entry
/// without one gets SRV6_FALLBACK_NONE (srv6.h).
enum KernelRoutes {
    /// `ip -6 route replace` arguments after the prefix, or nil when the kernel cannot run the
    /// behaviour the same way (End.DT4/DT46 need a VRF here; USP and USD are not in Linux,
    /// which takes PSP and NEXT-C-SID on End — not both together, see the validation — and
    /// only NEXT-C-SID on End.X; an older kernel fewer: kernelEndFlavours, what its End takes).
    static func mirror(_ sid: LocalSID, device: String, kernelEndFlavours: Flavours = [.psp, .nextCSID]) -> [String]? {
        let row = sid.behaviour.row
        guard row.kernelMirrorable, sid.flavours.isSubset(of: row.kernelFlavours.intersection(kernelEndFlavours)) else { return nil }
        var words = ["encap", "seg6local", "action", row.name]
        if row.required.contains(.table) { words += ["table", String(sid.table ?? 254)] }
        if row.required.contains(.nextHop6) { words += ["nh6", sid.nextHop6?.description ?? "::"] }
        if row.required.contains(.nextHop4) { words += ["nh4", sid.nextHop4?.description ?? "0.0.0.0"] }
        if !sid.flavours.isEmpty {
            words += ["flavors", sid.flavours.description]
            if let format = sid.microSID {
                words += ["lblen", String(format.blockBits), "nflen", String(format.nodeBits)]
            }
        }
        if sid.count { words.append("count") }
        return words + ["dev", sid.interface ?? device]
    }

    /// `ip route replace` arguments after the destination for the kernel's seg6 encap route
    /// that applies the same policy, or nil when the kernel would build another packet: a mode
    /// it lacks (H.Insert.Red), an SRH tag or flags (iproute2 cannot set them), or an outer hop
    /// limit other than the kernel's 64 for IPv4 packets. The outer source is the kernel's
    /// `ip sr tunsrc` (a per-namespace setting, left to the operator).
    static func mirror(_ policy: HeadendPolicy, device: String) -> [String]? {
        let mode: String
        switch policy.mode {
        case .encaps: mode = "encap"
        case .encapsRed: mode = "encap.red"
        case .insert: mode = "inline"
        case .encapsL2: mode = "l2encap"
        case .insertRed: return nil
        }
        guard policy.tag == 0, policy.flags == 0 else { return nil }
        if case .v4 = policy.destination, policy.hopLimit != 64 { return nil }
        return ["encap", "seg6", "mode", mode, "segs", policy.segments.map(\.description).joined(separator: ","), "dev", device]
    }

    /// `ip -6` or `ip -4`, by the prefix's family.
    static func family(_ prefix: DestinationPrefix) -> String {
        if case .v4 = prefix { return "-4" }
        return "-6"
    }

    static func replace(_ prefix: DestinationPrefix, _ arguments: [String], namespace: String?) throws(SRv6Error) {
        _ = try ip(namespace: namespace, [family(prefix), "route", "replace", prefix.description] + arguments)
    }

    static func delete(_ prefix: DestinationPrefix, namespace: String?) throws(SRv6Error) {
        _ = try ip(namespace: namespace, [family(prefix), "route", "del", prefix.description])
    }

    /// The main table's routes for exactly this prefix (`ip route show exact`), one a line.
    static func existing(_ prefix: DestinationPrefix, namespace: String?) throws(SRv6Error) -> [String] {
        try ip(namespace: namespace, [family(prefix), "route", "show", "table", "main", "exact", prefix.description])
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Whether the kernel delivers packets to this prefix locally: a `local` route in the local
    /// table (an address of the node, or `ip route add local PREFIX dev lo`).
    static func isLocal(_ prefix: IPv6Network, namespace: String?) throws(SRv6Error) -> Bool {
        try ip(namespace: namespace, ["-6", "route", "show", "table", "local", "exact", prefix.description])
            .split(separator: "\n").contains { $0.hasPrefix("local ") }
    }

    /// Runs iproute2 (`ip -n NS …` enters the namespace in the child process only); returns
    /// what it printed.
    static func ip(namespace: String?, _ arguments: [String]) throws(SRv6Error) -> String {
        let process = Process()
        guard let executable = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first(where: FileManager.default.isExecutableFile) else {
            throw .apply("iproute2's ip is not installed")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = (namespace.map { ["-n", $0] } ?? []) + arguments
        let errors = Pipe(), output = Pipe()
        process.standardError = errors
        process.standardOutput = output
        do { try process.run() } catch { throw .apply("cannot run ip: \(error)") }
        // Read both pipes at once: a full one would block ip before it exits.
        nonisolated(unsafe) var printed = Data()
        let reader = DispatchQueue(label: "srv6.ip.stdout")
        let done = DispatchSemaphore(value: 0)
        reader.async {
            printed = output.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        let said = errors.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: said, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .apply("`ip \((process.arguments ?? []).joined(separator: " "))` failed: \(text)")
        }
        return String(decoding: printed, as: UTF8.self)
    }
}
