import Foundation
import NetKit

/// A bound, listening TCP socket, made before anything serves so that a port in use or an
/// address that does not exist fails the start with its reason; in a network namespace when
/// asked (the socket keeps it: the daemon itself stays in its own).
enum ListeningSocket {
    static func open(_ address: ListenAddress, namespace: String?) throws(DaemonError) -> Int32 {
        do {
            if let namespace {
                return try NetworkNamespace(existing: namespace).run { try bind(address) }
            }
            return try bind(address)
        } catch let error as DaemonError {
            throw error
        } catch {
            throw .listen("listen on \(address)\(namespace.map { " in namespace \($0)" } ?? ""): \(error)")
        }
    }

    private static func bind(_ address: ListenAddress) throws -> Int32 {
        var v6 = in6_addr(), v4 = in_addr()
        let isV6 = inet_pton(AF_INET6, address.host, &v6) == 1
        guard isV6 || inet_pton(AF_INET, address.host, &v4) == 1 else {
            throw DaemonError.listen("listen on \(address): '\(address.host)' is not an IPv4 or IPv6 address")
        }
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DaemonError.listen("listen on \(address): socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var result: Int32
        if isV6 {
            var zero: Int32 = 0
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = UInt16(address.port).bigEndian
            sa.sin6_addr = v6
            result = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = UInt16(address.port).bigEndian
            sa.sin_addr = v4
            result = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        if result != 0 || listen(fd, 128) != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw DaemonError.listen("listen on \(address): \(reason)")
        }
        return fd
    }

    /// The port a socket is bound to (when the configuration asked for port 0).
    static func port(_ fd: Int32) -> Int {
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return withUnsafePointer(to: &bound) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
        }
    }
}
