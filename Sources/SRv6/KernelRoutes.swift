import Foundation

/// The kernel's own seg6local routes that mirror hike's local SIDs: what the fast path hands
/// to the kernel (XDP_PASS: unresolved neighbours, ICMPv6 errors, the first packets before a
/// neighbour is known) is then processed by the same behaviour in the kernel.
enum KernelRoutes {
    /// `ip -6 route replace` arguments after the prefix, or nil when the kernel cannot run the
    /// behaviour the same way (End.DT4/DT46 need a VRF here; USP and USD are not in Linux,
    /// which takes PSP and NEXT-C-SID on End and only NEXT-C-SID on End.X).
    static func mirror(_ sid: LocalSID, device: String) -> [String]? {
        let kernelFlavours: Flavours = switch sid.behaviour {
        case .end: [.psp, .nextCSID]
        case .endX: [.nextCSID]
        default: []
        }
        guard sid.behaviour.kernelMirrorable, sid.flavours.isSubset(of: kernelFlavours) else { return nil }
        var words = ["encap", "seg6local", "action", sid.behaviour.name]
        switch sid.behaviour {
        case .endT, .endDT6: words += ["table", String(sid.table ?? 254)]
        case .endX, .endDX6: words += ["nh6", sid.nextHop6?.description ?? "::"]
        case .endDX4: words += ["nh4", sid.nextHop4?.description ?? "0.0.0.0"]
        default: break
        }
        if !sid.flavours.isEmpty {
            words += ["flavors", sid.flavours.description]
            if let format = sid.microSID {
                words += ["lblen", String(format.blockBits), "nflen", String(format.nodeBits)]
            }
        }
        if sid.count { words.append("count") }
        return words + ["dev", sid.interface ?? device]
    }

    static func replace(_ prefix: IPv6Network, _ arguments: [String], namespace: String?) throws(SRv6Error) {
        try ip(namespace: namespace, ["-6", "route", "replace", prefix.description] + arguments)
    }

    static func delete(_ prefix: IPv6Network, namespace: String?) throws(SRv6Error) {
        try ip(namespace: namespace, ["-6", "route", "del", prefix.description])
    }

    /// Runs iproute2 (`ip -n NS …` enters the namespace in the child process only).
    static func ip(namespace: String?, _ arguments: [String]) throws(SRv6Error) {
        let process = Process()
        guard let executable = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first(where: FileManager.default.isExecutableFile) else {
            throw .apply("iproute2's ip is not installed")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = (namespace.map { ["-n", $0] } ?? []) + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw .apply("cannot run ip: \(error)") }
        let said = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: said, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .apply("`ip \((process.arguments ?? []).joined(separator: " "))` failed: \(text)")
        }
    }
}
