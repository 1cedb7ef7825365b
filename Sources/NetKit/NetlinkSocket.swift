import CLinux
import Foundation

/// An rtnetlink socket of one network namespace: opened on a thread inside the namespace, it
/// keeps talking to that namespace from any thread. One request at a time, each acknowledged;
/// the kernel's extended ack carries its own words for a refusal.
final class NetlinkSocket {
    private let fd: Int32
    private var sequence: UInt32 = 0
    /// Which namespace, for error messages.
    let place: String

    /// A socket in namespace (nil: the caller's own).
    init(namespace: NetworkNamespace?) throws(NetworkError) {
        place = namespace.map { " in namespace \($0.name)" } ?? ""
        // errno is per thread: read it on the thread that made the call.
        let open = { () -> (fd: Int32, errno: Int32) in
            let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
            return (fd, errno)
        }
        let created: (fd: Int32, errno: Int32)
        if let namespace {
            do { created = try namespace.run(open) } catch {
                throw NetworkError(operation: "enter network namespace \(namespace.name)", errno: ENOENT, kernelMessage: "\(error)")
            }
        } else {
            created = open()
        }
        guard created.fd >= 0 else { throw NetworkError(operation: "open an rtnetlink socket" + place, errno: created.errno) }
        fd = created.fd
        var on: Int32 = 1
        // Extended acks carry the kernel's message; capped acks leave the request out of them.
        // Both are optional: without them a refusal is its errno alone.
        for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            _ = setsockopt(fd, SOL_NETLINK, option, &on, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    deinit { close(fd) }

    /// Sends a request and waits for the kernel's acknowledgement; returns what it answered
    /// before it (the link a RTM_GETLINK asked for).
    @discardableResult
    func perform(_ request: NetlinkRequest, _ operation: @autoclosure () -> String) throws(NetworkError) -> [NetlinkReply] {
        var acked = request
        acked.flags |= UInt16(NLM_F_ACK)
        return try exchange(acked, operation)
    }

    /// Sends a dump request and returns every message of the reply.
    func dump(_ request: NetlinkRequest, _ operation: @autoclosure () -> String) throws(NetworkError) -> [NetlinkReply] {
        var dump = request
        dump.flags |= UInt16(NLM_F_DUMP)
        return try exchange(dump, operation)
    }

    private func exchange(_ request: NetlinkRequest, _ operation: () -> String) throws(NetworkError) -> [NetlinkReply] {
        sequence &+= 1
        let message = request.message(sequence: sequence)
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        let sent = message.withUnsafeBytes { bytes in
            withUnsafePointer(to: &kernel) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
        }
        guard sent == message.count else { throw NetworkError(operation: operation() + place, errno: errno) }
        var replies: [NetlinkReply] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if received < 0 {
                if errno == EINTR { continue }
                throw NetworkError(operation: operation() + place, errno: errno)
            }
            var offset = 0
            while offset + MemoryLayout<nlmsghdr>.size <= received {
                let header = buffer[offset...].withUnsafeBytes { $0.loadUnaligned(as: nlmsghdr.self) }
                let length = Int(header.nlmsg_len)
                guard length >= MemoryLayout<nlmsghdr>.size, offset + length <= received else { break }
                let payload = buffer[(offset + MemoryLayout<nlmsghdr>.size)..<(offset + length)]
                offset += (length + 3) & ~3
                guard header.nlmsg_seq == sequence else { continue }  // a late answer to an earlier request
                switch Int32(header.nlmsg_type) {
                case NLMSG_ERROR:
                    let code = payload.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
                    if code == 0 { return replies }
                    throw NetworkError(operation: operation() + place, errno: -code,
                                       kernelMessage: Self.extendedAck(payload, flags: header.nlmsg_flags))
                case NLMSG_DONE:
                    return replies
                default:
                    replies.append(NetlinkReply(type: header.nlmsg_type, payload: ArraySlice(Array(payload))))
                }
            }
        }
    }

    /// NLMSGERR_ATTR_MSG of an error message sent with a capped, extended ack.
    private static func extendedAck(_ payload: ArraySlice<UInt8>, flags: UInt16) -> String? {
        guard Int32(flags) & NLM_F_ACK_TLVS != 0 else { return nil }
        let start = payload.startIndex + MemoryLayout<nlmsgerr>.size
        guard start <= payload.endIndex else { return nil }
        let message = Attributes(payload[start...]).string(Int32(NLMSGERR_ATTR_MSG.rawValue))
        return message?.isEmpty == false ? message : nil
    }
}
