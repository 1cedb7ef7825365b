import CBPF
import Foundation

/// How an XDP program is attached.
public enum XDPMode: String, Sendable, CaseIterable {
    /// In the driver (`xdpdrv`): the fast path. veth supports it.
    case native
    /// In the generic network stack (`xdpgeneric`), on any interface; slower.
    case generic

    var flags: UInt32 {
        switch self {
        case .native: cbpf_xdp_flags_drv_mode
        case .generic: cbpf_xdp_flags_skb_mode
        }
    }
}

/// An XDP program attached to an interface through a bpf_link.
///
/// The link is the attachment: it detaches when `detach()` is called or when its last file
/// descriptor closes (this object is dropped) unless it is pinned. Replacing the program is
/// atomic: every packet sees either the old program or the new one.
public final class XDPLink: @unchecked Sendable {  // the fd is immutable; the program is swapped by the kernel
    public let fd: Int32
    public let interfaceIndex: Int32
    public let mode: XDPMode

    private init(fd: Int32, interfaceIndex: Int32, mode: XDPMode) {
        self.fd = fd
        self.interfaceIndex = interfaceIndex
        self.mode = mode
    }

    deinit { close(fd) }

    /// Opens an XDP link pinned on a bpffs (it stays attached while pinned).
    public static func openPinned(_ path: String) throws -> XDPLink {
        let (fd, lines) = Libbpf.capturing { bpf_obj_get(path) }
        if fd < 0 { throw BPFError.fromErrno("open pinned XDP link \(path)", code: fd, messages: lines) }
        var info = bpf_link_info()
        var length = UInt32(MemoryLayout<bpf_link_info>.size)
        let code = bpf_obj_get_info_by_fd(fd, &info, &length)
        guard code == 0, info.type == BPF_LINK_TYPE_XDP.rawValue else {
            close(fd)
            throw BPFError(operation: "open pinned XDP link \(path)", errno: code < 0 ? -code : EINVAL,
                           message: code < 0 ? "" : "the pin is not an XDP link")
        }
        return XDPLink(fd: fd, interfaceIndex: Int32(bitPattern: info.xdp.ifindex), mode: .native)
    }

    /// Attaches program to the interface with that index, in the calling thread's network
    /// namespace (use `NetworkNamespace.run` to attach inside another one).
    public static func attach(_ program: BPFProgram, interfaceIndex: Int32, mode: XDPMode = .native) throws -> XDPLink {
        var opts = cbpf_bpf_link_create_opts()
        opts.flags = mode.flags
        let (fd, lines) = Libbpf.capturing {
            bpf_link_create(program.fd, interfaceIndex, BPF_XDP, &opts)
        }
        if fd < 0 {
            var hint = lines
            if fd == -EBUSY || fd == -EEXIST {
                hint.append("another XDP program is already attached to interface \(interfaceIndex)")
            }
            throw BPFError.fromErrno("attach XDP program '\(program.name)' (\(mode.rawValue)) to interface \(interfaceIndex)",
                                     code: fd, messages: hint)
        }
        return XDPLink(fd: fd, interfaceIndex: interfaceIndex, mode: mode)
    }

    /// Attaches program to the named interface of the calling thread's network namespace.
    public static func attach(_ program: BPFProgram, interface: String, mode: XDPMode = .native) throws -> XDPLink {
        try attach(program, interfaceIndex: NetworkInterface.index(of: interface), mode: mode)
    }

    /// Atomically swaps the attached program. With `expected`, the swap happens only if that
    /// program is still the attached one (EPERM otherwise), so two writers cannot both win.
    public func update(to program: BPFProgram, expected: BPFProgram? = nil) throws {
        var opts = cbpf_bpf_link_update_opts()
        if let expected {
            opts.old_prog_fd = UInt32(bitPattern: expected.fd)
            opts.flags = UInt32(BPF_F_REPLACE)
        }
        let (code, lines) = Libbpf.capturing { bpf_link_update(fd, program.fd, &opts) }
        if code < 0 {
            throw BPFError.fromErrno("replace XDP program on interface \(interfaceIndex) with '\(program.name)'",
                                     code: code, messages: lines)
        }
    }

    /// Detaches the program now, even if the link is pinned elsewhere.
    public func detach() throws {
        let (code, lines) = Libbpf.capturing { bpf_link_detach(fd) }
        if code < 0 { throw BPFError.fromErrno("detach XDP link from interface \(interfaceIndex)", code: code, messages: lines) }
    }

    /// Pins the link on a bpffs: the program stays attached after this process exits.
    public func pin(at path: String) throws {
        let (code, lines) = Libbpf.capturing { bpf_obj_pin(fd, path) }
        if code < 0 { throw BPFError.fromErrno("pin XDP link at \(path)", code: code, messages: lines) }
    }

    /// The ID of the program the link runs now.
    public func programID() throws -> UInt32 {
        var info = bpf_link_info()
        var length = UInt32(MemoryLayout<bpf_link_info>.size)
        let code = bpf_obj_get_info_by_fd(fd, &info, &length)
        if code < 0 { throw BPFError.fromErrno("read XDP link info", code: code) }
        return info.prog_id
    }
}

/// Network interfaces of the calling thread's network namespace.
public enum NetworkInterface {
    /// The index of the named interface.
    public static func index(of name: String) throws -> Int32 {
        let index = if_nametoindex(name)
        if index == 0 {
            throw BPFError(operation: "find interface '\(name)'", errno: Glibc.errno,
                           message: "no interface of that name in this network namespace")
        }
        return Int32(index)
    }
}
