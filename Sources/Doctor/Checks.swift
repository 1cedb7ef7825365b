import BPFKit
import BPFObjects
import Foundation
import NetKit
import Topology

/// The bodies of the doctor's checks. Each returns a one-line account of what it did and saw,
/// or throws: a CheckFailure for what it diagnosed, BPFError/CommandError for what went wrong.
enum Checks {
    // MARK: The machine

    static func privileges() throws -> String {
        let euid = geteuid()
        let effective = try Capabilities.effective()
        let missing = Capabilities.needed.filter { !effective.contains($0.bit) }.map(\.name)
        let who = euid == 0 ? "root (euid 0)" : "euid \(euid)"
        guard missing.isEmpty else {
            // Root without the capabilities is a container that dropped them; say so.
            throw CheckFailure("\(who), but the effective capabilities lack \(missing.joined(separator: ", "))",
                               hint: euid == 0
                                   ? "root inside a container that drops capabilities: run it privileged or add \(missing.joined(separator: ", "))"
                                   : "run hike as root (sudo hike …) or grant the capabilities (setcap cap_bpf,cap_net_admin,cap_sys_admin+ep …)")
        }
        return "\(who) with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN"
    }

    /// iproute2 4.14 brought seg6local and JSON output for the commands hike reads.
    static let minimumIPRoute2 = (major: 4, minor: 14)

    static func iproute2() throws -> String {
        let banner = try Command.check(["ip", "-V"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let version = IPRoute2Version(banner: banner)
        if let version, !version.isAtLeast(minimumIPRoute2) {
            throw CheckFailure("\(banner): older than iproute2 \(minimumIPRoute2.major).\(minimumIPRoute2.minor)")
        }
        // The real test of `-j`: a JSON array that names the loopback.
        let json = try Command.check(["ip", "-j", "link", "show", "lo"])
        let parsed = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        guard parsed?.first?["ifname"] as? String == "lo" else {
            throw CheckFailure("\(banner): `ip -j link show lo` printed no JSON for lo: \(json.prefix(120))")
        }
        return "\(banner); `ip -j` prints JSON"
    }

    static func ping() throws -> String {
        let result = try Command.run(["ping", "-V"])
        let banner = (result.stdout + result.stderr).split(separator: "\n").first.map(String.init) ?? ""
        guard result.status == 0, banner.contains("iputils") else {
            throw CheckFailure("`ping -V` said '\(banner)' (exit \(result.status)): hike reads iputils ping's summary",
                               hint: "install iputils-ping (apt-get install iputils-ping)")
        }
        return banner
    }

    // MARK: BPF

    static func bpfSyscall() throws -> String {
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let info = try object.program("xdp_count").info()
        // A program that is not JIT-compiled runs in the interpreter, much slower; worth a word.
        let jit = info.jitedSize > 0 ? "JIT-compiled to \(info.jitedSize) bytes" : "not JIT-compiled (bpf_jit_enable is 0?)"
        return "loaded xdp_count (\(object.programs.count) programs, \(object.maps.count) maps); program id \(info.id), \(jit)"
    }

    static func kernelBTF() throws -> String {
        let path = "/sys/kernel/btf/vmlinux"
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CheckFailure("\(path) is missing or unreadable")
        }
        defer { try? handle.close() }
        // Reading the whole file proves it readable and gives its size (sysfs reports 0 or a guess).
        let data = try handle.readToEnd() ?? Data()
        // struct btf_header starts with magic 0xeB9F (little-endian on x86 and arm64).
        guard data.count >= 24, data[data.startIndex] == 0x9f, data[data.startIndex + 1] == 0xeb else {
            throw CheckFailure("\(path) does not start with the BTF magic 0xeb9f (\(data.count) bytes)")
        }
        return "\(path) readable, \(formatBytes(data.count)) of BTF"
    }

    static func bpffs() throws -> String {
        let mountPoint = BPFFileSystem.defaultMountPoint
        let mounted = try BPFFileSystem.ensureMounted()
        // Pinning is what hike uses the bpffs for: pin a map, open it again by path, unpin it.
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let map = try object.map("prog_counters")
        let path = "\(mountPoint)/\(Doctor.namespacePrefix)-\(getpid())-pin"
        try map.pin(at: path)
        defer { try? BPFMap.unpin(path) }
        let reopened = try BPFMap.openPinned(path)
        guard reopened.info.id == map.info.id else {
            throw CheckFailure("pinned map id \(map.info.id) at \(path) but opened id \(reopened.info.id) there")
        }
        let how = mounted ? "was not mounted: mounted a bpffs at \(mountPoint)" : "mounted at \(mountPoint)"
        return "\(how); pinned a map there and opened it again"
    }

    static func networkNamespaces() throws -> String {
        let name = "\(Doctor.namespacePrefix)-\(getpid())-netns"
        let namespace = try NetworkNamespace.create(name)
        var deleted = false
        defer { if !deleted { try? namespace.delete() } }
        let outside = try namespaceInode()
        let (inside, interfaces) = try namespace.run { (try namespaceInode(), try interfaceNames()) }
        guard inside != outside else {
            throw CheckFailure("a thread entered \(name) but still sees the namespace it came from (inode \(inside))")
        }
        guard interfaces == ["lo"] else {
            throw CheckFailure("a new namespace should hold only lo; \(name) holds \(interfaces.joined(separator: ", "))")
        }
        try namespace.delete()
        deleted = true
        guard !FileManager.default.fileExists(atPath: namespace.path) else {
            throw CheckFailure("\(namespace.path) is still there after deleting it")
        }
        return "created \(name), ran a thread inside (only lo there), deleted it"
    }

    static func nativeXDPOnVeth() throws -> String {
        let report = try PingCountDemo.run(count: 3, prefix: Doctor.namespacePrefix)
        guard report.received == report.transmitted else {
            throw CheckFailure("with xdp_count on veth0, \(report.received) of \(report.transmitted) pings to \(report.address) came back",
                               hint: "xdp_count passes every packet: look for a firewall or a veth problem in the kernel log")
        }
        guard report.echoRequests.packets == UInt64(report.transmitted) else {
            throw CheckFailure("xdp_count counted \(report.echoRequests.packets) echo requests of \(report.transmitted) sent",
                               hint: "the program is attached but did not see the packets: native XDP on veth is not running")
        }
        return "xdp_count attached in driver mode to veth0; counted \(report.echoRequests.packets) of \(report.transmitted) echo requests"
    }

    static func tailCalls() throws -> String {
        let object = try BPFObject(bytes: EmbeddedObjects.doctorTailcall.bytes, name: "doctor_tailcall")
        let entry = try object.program("probe_entry")
        let empty = try entry.testRun(TestRunOptions(data: probeFrame)).returnValue
        guard empty == XDPVerdict.aborted else {
            throw CheckFailure("probe_entry returned \(XDPVerdict.name(empty)) with an empty program array, expected XDP_ABORTED")
        }
        let target = try object.program("probe_target")
        try object.map("probe_jumps").update(UInt32(0), UInt32(bitPattern: target.fd))
        let jumped = try entry.testRun(TestRunOptions(data: probeFrame)).returnValue
        guard jumped == XDPVerdict.tx else {
            throw CheckFailure("probe_entry returned \(XDPVerdict.name(jumped)) with probe_target in probe_jumps[0], expected the target's XDP_TX")
        }
        return "probe_entry reached probe_target through probe_jumps (XDP_TX); an empty slot fell through"
    }

    static func bpfLoop() throws -> String {
        let object = try BPFObject(bytes: EmbeddedObjects.doctorLoop.bytes, name: "doctor_loop")
        let verdict = try object.program("probe_loop").testRun(TestRunOptions(data: probeFrame)).returnValue
        guard verdict == XDPVerdict.pass else {
            throw CheckFailure("probe_loop returned \(XDPVerdict.name(verdict)): bpf_loop did not run its callback 10 times")
        }
        return "probe_loop ran a bpf_loop of 10 steps (XDP_PASS)"
    }

    static func liveFrames() throws -> String {
        let object = try BPFObject(bytes: EmbeddedObjects.doctorTailcall.bytes, name: "doctor_tailcall")
        let frames: UInt32 = 64
        let result = try object.program("probe_drop").testRun(
            TestRunOptions(data: probeFrame, repeatCount: frames, flags: .xdpLiveFrames))
        let nanoseconds = result.duration.components.seconds * 1_000_000_000
            + result.duration.components.attoseconds / 1_000_000_000
        return "\(frames) live frames through probe_drop, \(nanoseconds) ns each"
    }

    /// Every object hike carries, loaded (and so verified) by this kernel. One the verifier
    /// rejects takes its programs out of use here; the others work.
    static func objectsLoad() throws -> String {
        var rejected: [String] = []
        for embedded in EmbeddedObjects.all {
            do {
                _ = try BPFObject(bytes: embedded.bytes, name: embedded.name)
            } catch let error as BPFError {
                // The verifier's last words say why; the whole log can be thousands of lines.
                let why = error.verifierLog?.split(separator: "\n").last(where: { !$0.hasPrefix("processed ") && !$0.isEmpty })
                    .map(String.init) ?? error.message
                rejected.append("\(embedded.name): \(why)")
            }
        }
        guard rejected.isEmpty else {
            throw CheckFailure("\(rejected.count) of \(EmbeddedObjects.all.count) objects do not load here:\n"
                               + rejected.joined(separator: "\n"))
        }
        return "all \(EmbeddedObjects.all.count) objects load (verified by this kernel)"
    }

    // MARK: SRv6

    static func seg6Routes() throws -> String {
        try routeReadBack(label: "seg6", prefix: "fc00:1::/64",
                          encap: ["encap", "seg6", "mode", "encap", "segs", "fc00:2::1"],
                          expect: ["encap seg6", "mode encap", "fc00:2::1"])
    }

    static func seg6LocalRoutes() throws -> String {
        try routeReadBack(label: "seg6local", prefix: "fc00:3::1",
                          encap: ["encap", "seg6local", "action", "End"],
                          expect: ["encap seg6local", "action End "],
                          addAs: "fc00:3::1/128")
    }

    /// The End flavours the kernel takes (next-csid 6.1, psp 6.3): a SID with one it lacks gets
    /// no mirror route, and its fast path drops what it cannot finish.
    static func seg6LocalFlavours() throws -> String {
        let support = try KernelSRv6.support
        guard support.available else {
            throw CheckFailure("no seg6local routes at all: \(support.reason)")
        }
        let missing = KernelSRv6.probedFlavours.filter { !support.endFlavours.contains($0) }
        guard missing.isEmpty else {
            throw CheckFailure("seg6local End takes no flavour \(missing.joined(separator: ", "))"
                               + (support.endFlavours.isEmpty ? "" : " (it takes \(support.endFlavours.sorted().joined(separator: ", ")))"))
        }
        return "seg6local End takes the flavours \(KernelSRv6.probedFlavours.joined(separator: ", "))"
    }

    /// Adds `prefix encap … dev lo` in a namespace of its own and finds it in `ip -6 route show`.
    /// A /128 reads back without its length, hence addAs.
    private static func routeReadBack(label: String, prefix: String, encap: [String], expect: [String],
                                      addAs: String? = nil) throws -> String {
        let topology = Topology(prefix: Doctor.namespacePrefix)
        defer { topology.destroy() }
        let namespace = try topology.addNamespace(label)  // brings lo up
        try topology.ip(["-6", "route", "add", addAs ?? prefix] + encap + ["dev", "lo"], in: namespace)
        let routes = try topology.ip(["-6", "route", "show"], in: namespace)
        let lines = routes.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        guard let line = lines.first(where: { line in
            line.hasPrefix(prefix + " ") && expect.allSatisfy { (line + " ").contains($0) }
        }) else {
            throw CheckFailure("added `\(addAs ?? prefix) \(encap.joined(separator: " ")) dev lo` but `ip -6 route show` shows no such route:\n\(routes)")
        }
        return "added and read back: \(line)"
    }

    // MARK: Helpers

    /// A minimal Ethernet + IPv6 frame for test runs (the kernel wants at least an Ethernet header).
    static let probeFrame: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd]
        + [0x60, 0, 0, 0, 0, 0, 59, 64] + [UInt8](repeating: 0, count: 32)

    /// The inode of the calling thread's network namespace: equal inodes, same namespace.
    private static func namespaceInode() throws -> UInt64 {
        var info = stat()
        guard stat("/proc/thread-self/ns/net", &info) == 0 else {
            throw BPFError(operation: "stat /proc/thread-self/ns/net", errno: errno)
        }
        return UInt64(info.st_ino)
    }

    /// The interfaces of the calling thread's network namespace.
    private static func interfaceNames() throws -> [String] {
        guard let list = if_nameindex() else { throw BPFError(operation: "list interfaces", errno: errno) }
        defer { if_freenameindex(list) }
        var names: [String] = []
        var entry = list
        while entry.pointee.if_index != 0, let name = entry.pointee.if_name {
            names.append(String(cString: name))
            entry += 1
        }
        return names.sorted()
    }

    static func formatBytes(_ count: Int) -> String {
        count >= 1 << 20 ? String(format: "%.1f MiB", Double(count) / Double(1 << 20))
            : count >= 1 << 10 ? String(format: "%.1f KiB", Double(count) / Double(1 << 10)) : "\(count) bytes"
    }
}

/// XDP verdicts as test runs report them (enum xdp_action).
enum XDPVerdict {
    static let aborted: UInt32 = 0
    static let drop: UInt32 = 1
    static let pass: UInt32 = 2
    static let tx: UInt32 = 3
    static let redirect: UInt32 = 4

    static func name(_ verdict: UInt32) -> String {
        switch verdict {
        case aborted: "XDP_ABORTED"
        case drop: "XDP_DROP"
        case pass: "XDP_PASS"
        case tx: "XDP_TX"
        case redirect: "XDP_REDIRECT"
        default: "verdict \(verdict)"
        }
    }
}

/// The process's effective capabilities, from /proc/self/status.
enum Capabilities {
    static let needed: [(name: String, bit: Int)] = [("CAP_BPF", 39), ("CAP_NET_ADMIN", 12), ("CAP_SYS_ADMIN", 21)]

    static func effective() throws -> Set<Int> {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) else {
            throw CheckFailure("no CapEff line in /proc/self/status")
        }
        return Set((0..<64).filter { mask & (1 << UInt64($0)) != 0 })
    }
}

/// The version in `ip -V`'s banner: `iproute2-6.1.0`, `iproute2-v5.10.0` or the old `iproute2-ss171113`.
struct IPRoute2Version {
    let major: Int
    let minor: Int

    init?(banner: String) {
        guard let range = banner.range(of: "iproute2-") else { return nil }
        var text = banner[range.upperBound...].prefix { !$0.isWhitespace && $0 != "," }
        if text.hasPrefix("ss") {
            // Snapshot dates: ss171113 was released with 4.14.
            guard let date = Int(text.dropFirst(2)) else { return nil }
            (major, minor) = date >= 171113 ? (4, 14) : (4, 0)
            return
        }
        if text.hasPrefix("v") { text = text.dropFirst() }
        let parts = text.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return nil }
        (major, minor) = (parts[0], parts[1])
    }

    func isAtLeast(_ minimum: (major: Int, minor: Int)) -> Bool {
        (major, minor) >= minimum
    }
}
