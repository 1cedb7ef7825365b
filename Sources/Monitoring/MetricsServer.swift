import Foundation

/// A small HTTP/1.1 server over POSIX sockets for the Prometheus endpoint: `GET /metrics`
/// answers with the body the closure gives, one connection at a time, `Connection: close`.
public final class MetricsServer: @unchecked Sendable {  // fd immutable; the stop flag is behind lock
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The address and port actually bound (port 0 asks the kernel for one).
    public let host: String
    public let port: UInt16
    private let fd: Int32
    private let body: @Sendable () throws -> String
    private let lock = NSLock()
    private var stopped = false
    private var thread: Thread?

    /// Binds listen: `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (every address).
    public init(listen address: String, body: @escaping @Sendable () throws -> String) throws {
        let (host, portText) = try Self.split(address)
        guard let requested = UInt16(portText) else {
            throw MonitoringError.server("'\(address)': the port must be a number 0–65535 (like 127.0.0.1:9464)")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? "::" : host, String(requested), &hints, &list)
        guard status == 0, let info = list else {
            throw MonitoringError.server("'\(address)': cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MonitoringError.server("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if info.pointee.ai_family == AF_INET6 {
            var zero: Int32 = 0  // `:PORT` serves IPv4 too
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
        }
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, Glibc.listen(fd, 16) == 0 else {
            let error = String(cString: strerror(errno))
            close(fd)
            throw MonitoringError.server("cannot listen on '\(address)': \(error)")
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = withUnsafePointer(to: &bound) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
        }
        self.host = host.isEmpty ? "::" : host
        self.fd = fd
        self.body = body
    }

    deinit {
        stop()
        close(fd)
    }

    static func split(_ listen: String) throws -> (String, String) {
        if listen.hasPrefix("["), let close = listen.firstIndex(of: "]") {
            let host = String(listen[listen.index(after: listen.startIndex)..<close])
            let rest = listen[listen.index(after: close)...]
            guard rest.hasPrefix(":") else { throw MonitoringError.server("'\(listen)': write [IPV6]:PORT") }
            return (host, String(rest.dropFirst()))
        }
        guard let colon = listen.lastIndex(of: ":"), listen.filter({ $0 == ":" }).count == 1 else {
            throw MonitoringError.server("'\(listen)' is not HOST:PORT (like 127.0.0.1:9464, [::1]:9464 or :9464)")
        }
        return (String(listen[..<colon]), String(listen[listen.index(after: colon)...]))
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// Serves on a thread of its own until stop().
    public func start() {
        let thread = Thread { [self] in serve() }
        thread.name = "hike-metrics"
        lock.lock()
        self.thread = thread
        lock.unlock()
        thread.start()
    }

    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    /// Accepts and answers connections until stop() (checked every 200 ms).
    public func serve() {
        while !isStopped {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 200) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            answer(client)
            close(client)
        }
    }

    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16384 {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { break }
            request += buffer[..<n]
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] || String(decoding: request, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        let line = String(decoding: request, as: UTF8.self).split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = line.split(separator: " ").map(String.init)
        let (status, text, type): (String, String, String)
        if parts.count < 2 {
            (status, text, type) = ("400 Bad Request", "bad request\n", "text/plain")
        } else if parts[0] != "GET" && parts[0] != "HEAD" {
            (status, text, type) = ("405 Method Not Allowed", "only GET\n", "text/plain")
        } else if parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
            do {
                (status, text, type) = ("200 OK", try body(), Self.contentType)
            } catch {
                (status, text, type) = ("500 Internal Server Error", "\(error)\n", "text/plain")
            }
        } else if parts[1] == "/" {
            (status, text, type) = ("200 OK", "hike performance monitoring: see /metrics\n", "text/plain")
        } else {
            (status, text, type) = ("404 Not Found", "no \(parts[1]): the metrics are at /metrics\n", "text/plain")
        }
        let payload = Array(text.utf8)
        var response = Array("HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n".utf8)
        if parts.first != "HEAD" { response += payload }
        var offset = 0
        while offset < response.count {
            let n = response[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }
}
