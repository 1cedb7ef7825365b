import BPFKit
import Foundation
import NetKit
import Topology

/// What hike needs from the kernel and the machine, each checked by doing it for real: loading
/// programs, attaching to a veth pair, adding routes in a namespace of its own.
///
/// Every check cleans up after itself: the namespaces it makes are named `hike-doctor-<pid>-…`
/// and deleted even when the check fails; a run that was killed is swept by the next one.
public enum Doctor {
    /// The first part of the name of every namespace a check creates.
    public static let namespacePrefix = "hike-doctor"

    /// The names of the checks, in the order `runAll` runs them.
    public static var checkNames: [String] { probes.map(\.name) }

    /// Runs every check in order; progress sees each result as soon as it is known.
    public static func runAll(progress: (DoctorCheck) -> Void = { _ in }) -> [DoctorCheck] {
        Topology.removeStale(prefix: namespacePrefix)
        return probes.map { probe in
            let check = probe.run()
            progress(check)
            return check
        }
    }

    /// Runs the one check of that name, or returns nil when there is none.
    public static func run(_ name: String) -> DoctorCheck? {
        probes.first { $0.name == name }?.run()
    }

    // Ordered so that a missing tool or privilege shows up before the checks that need it.
    static let probes: [Probe] = [
        Probe("privileges", required: true,
              hint: "run hike as root (sudo hike …) or give it CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN",
              Checks.privileges),
        Probe("iproute2", required: true,
              hint: "install iproute2 4.14 or newer (apt-get install iproute2): hike drives namespaces and SRv6 routes with `ip`",
              Checks.iproute2),
        Probe("ping", required: false,
              hint: "install iputils-ping (apt-get install iputils-ping): the demos and kernel tests send pings",
              Checks.ping),
        Probe("bpf-syscall", required: true,
              hint: "the kernel needs CONFIG_BPF_SYSCALL=y, and hike needs root; libbpf's messages above say more",
              Checks.bpfSyscall),
        Probe("kernel-btf", required: false,
              hint: "the kernel was built without CONFIG_DEBUG_INFO_BTF: hike's programs load without it, but CO-RE and kfunc-based programs will not",
              Checks.kernelBTF),
        Probe("bpffs", required: true,
              hint: "mount it: mount -t bpf bpf /sys/fs/bpf (hike pins its data plane there so it outlives the process)",
              Checks.bpffs),
        Probe("netns", required: true,
              hint: "the kernel needs CONFIG_NET_NS=y, and hike needs CAP_SYS_ADMIN to create namespaces",
              Checks.networkNamespaces),
        Probe("xdp-native-veth", required: true,
              hint: "the kernel needs CONFIG_VETH with native XDP (4.19+); check that nothing else holds XDP on new veths",
              Checks.nativeXDPOnVeth),
        Probe("tail-calls", required: true,
              hint: "the HIKe VM calls programs through bpf_tail_call on a program array: the kernel must support BPF_MAP_TYPE_PROG_ARRAY",
              Checks.tailCalls),
        Probe("bpf-loop", required: true,
              hint: "bpf_loop needs kernel 5.17 or newer: the HIKe VM's interpreter loop is built on it",
              Checks.bpfLoop),
        // Optional: only `hike bench run` sends its traffic this way; the data plane, the demos
        // and the testbeds do not use it. Some kernels refuse it (EPERM) although they are new
        // enough: a sandbox's, or one built to refuse it.
        Probe("test-run-live-frames", required: false,
              hint: "BPF_F_TEST_XDP_LIVE_FRAMES needs kernel 5.18 or newer and a kernel that allows it: hike's data plane "
                  + "runs without it, but `hike bench run` generates its traffic with it and cannot measure here "
                  + "(`hike bench vm`, `compile` and `fastdrop` can; make test runs the generator's tests in the reference VM)",
              Checks.liveFrames),
        Probe("objects-load", required: false,
              hint: "this kernel's verifier rejects the objects named: their programs cannot be used here, the others "
                  + "work (the README's table of kernels says what each lacks; HIKE_LIBBPF_DEBUG=1 shows the whole log)",
              Checks.objectsLoad),
        // Optional: the hybrid split hands the kernel what XDP does not finish. Without them
        // hike's XDP does all of SRv6 and drops (and counts) what it cannot finish.
        Probe("seg6-routes", required: false,
              hint: "the kernel lacks CONFIG_IPV6_SEG6_LWTUNNEL: hike's SRv6 headends run in XDP without it; "
                  + "`hike srv6 apply` installs no kernel seg6 mirror routes (kernel-routes: auto), and a packet a headend "
                  + "cannot encapsulate is dropped and counted instead of going to the kernel",
              Checks.seg6Routes),
        Probe("seg6local-routes", required: false,
              hint: "the kernel lacks CONFIG_IPV6_SEG6_LWTUNNEL: hike's SRv6 endpoints (End … End.DT46, uN) run in XDP "
                  + "without it; no kernel seg6local mirror routes are installed, and malformed SRv6 packets that XDP "
                  + "does not finish are dropped and counted instead of going to the kernel",
              Checks.seg6LocalRoutes),
        Probe("seg6local-flavours", required: false,
              hint: "SIDs with a flavour the kernel's End lacks (psp needs 6.3, next-csid 6.1) get no kernel mirror route: "
                  + "hike's XDP runs them and drops, counted, what it cannot finish",
              Checks.seg6LocalFlavours),
    ]
}

/// A failure a check diagnosed itself, with a hint more precise than its probe's.
struct CheckFailure: Error, CustomStringConvertible {
    let detail: String
    let hint: String?

    init(_ detail: String, hint: String? = nil) {
        self.detail = detail
        self.hint = hint
    }

    var description: String { detail }
}

/// One check: its body returns what it saw when the check passes and throws when it fails.
struct Probe: Sendable {
    let name: String
    let required: Bool
    let hint: String
    let body: @Sendable () throws -> String

    init(_ name: String, required: Bool, hint: String, _ body: @escaping @Sendable () throws -> String) {
        self.name = name
        self.required = required
        self.hint = hint
        self.body = body
    }

    func run() -> DoctorCheck {
        do {
            let detail = try body()
            return DoctorCheck(name: name, required: required, verdict: .ok, detail: detail)
        } catch {
            return DoctorCheck(name: name, required: required, verdict: required ? .failed : .warning,
                               detail: String(describing: error), hint: hint(for: error))
        }
    }

    private func hint(for error: any Error) -> String {
        if let failure = error as? CheckFailure, let hint = failure.hint { return hint }
        // Without privileges every kernel check fails the same way: say the one thing to do.
        let errno = (error as? BPFError)?.errno ?? (error as? NetworkError)?.errno
        if errno == EPERM, geteuid() != 0 {
            return "not permitted: run hike as root (sudo hike doctor)"
        }
        if let error = error as? CommandError, error.status == 127 {
            return "\(error.command.first ?? "a tool") is missing: " + hint
        }
        return hint
    }
}
