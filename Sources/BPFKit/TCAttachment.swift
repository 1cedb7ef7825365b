import CBPF
import Foundation

/// A tc clsact hook point.
public enum TCDirection: String, Sendable, CaseIterable {
    case ingress
    case egress

    var attachPoint: bpf_tc_attach_point {
        switch self {
        case .ingress: BPF_TC_INGRESS
        case .egress: BPF_TC_EGRESS
        }
    }
}

/// A program attached as a direct-action filter on an interface's clsact qdisc.
///
/// tc attachments are made through netlink in the calling thread's network namespace; detach
/// from the same namespace. They are not links: they stay until detached or until the
/// interface goes away.
public struct TCAttachment: Sendable, Hashable {
    public let interfaceIndex: Int32
    public let direction: TCDirection
    public let handle: UInt32
    public let priority: UInt32

    /// A filter attached earlier (by another process): what `detach()` needs to remove it.
    public init(interfaceIndex: Int32, direction: TCDirection, handle: UInt32, priority: UInt32) {
        self.interfaceIndex = interfaceIndex
        self.direction = direction
        self.handle = handle
        self.priority = priority
    }

    /// Creates the clsact qdisc when it is missing and attaches program in direct-action mode.
    public static func attach(_ program: BPFProgram, interfaceIndex: Int32, direction: TCDirection,
                              handle: UInt32 = 1, priority: UInt32 = 1) throws -> TCAttachment {
        var hook = cbpf_bpf_tc_hook()
        hook.ifindex = interfaceIndex
        hook.attach_point = direction.attachPoint
        let operation = "attach tc \(direction.rawValue) program '\(program.name)' to interface \(interfaceIndex)"
        let (created, lines) = Libbpf.capturing { bpf_tc_hook_create(&hook) }
        // EEXIST: the clsact qdisc is already there, which is fine.
        if created < 0 && created != -EEXIST {
            throw BPFError.fromErrno(operation, code: created, messages: lines)
        }
        var opts = cbpf_bpf_tc_opts()
        opts.prog_fd = program.fd
        opts.handle = handle
        opts.priority = priority
        try Libbpf.check(operation) { bpf_tc_attach(&hook, &opts) }
        return TCAttachment(interfaceIndex: interfaceIndex, direction: direction, handle: opts.handle,
                            priority: opts.priority)
    }

    /// Attaches to the named interface of the calling thread's network namespace.
    public static func attach(_ program: BPFProgram, interface: String, direction: TCDirection,
                              handle: UInt32 = 1, priority: UInt32 = 1) throws -> TCAttachment {
        try attach(program, interfaceIndex: NetworkInterface.index(of: interface), direction: direction,
                   handle: handle, priority: priority)
    }

    /// The kernel's ID of the program the filter runs (bpf_tc_query): fails when the filter or
    /// its interface is gone.
    public func programID() throws -> UInt32 {
        var (hook, opts) = request()
        try Libbpf.check("query tc \(direction.rawValue) filter on interface \(interfaceIndex)") { bpf_tc_query(&hook, &opts) }
        return opts.prog_id
    }

    /// The hook and the options that name this filter to libbpf.
    private func request() -> (bpf_tc_hook, bpf_tc_opts) {
        var hook = cbpf_bpf_tc_hook()
        hook.ifindex = interfaceIndex
        hook.attach_point = direction.attachPoint
        var opts = cbpf_bpf_tc_opts()
        opts.handle = handle
        opts.priority = priority
        return (hook, opts)
    }

    /// Removes the filter (the clsact qdisc stays).
    public func detach() throws {
        var (hook, opts) = request()
        try Libbpf.check("detach tc \(direction.rawValue) filter from interface \(interfaceIndex)") {
            bpf_tc_detach(&hook, &opts)
        }
    }
}
