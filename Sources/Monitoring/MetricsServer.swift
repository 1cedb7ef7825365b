import Foundation
import Synchronization

/// A small HTTP/1.1 server over POSIX sockets for the Prometheus endpoint: `GET /metrics`
/// answers with the body the closure gives, `Connection: close`. Each connection is served on a
/// thread of its own (at most maxConnections at once) with a deadline for the request and
/// timeouts on every receive and send, so a slow or idle client never holds up the others.
public final class MetricsServer: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    /// Connections served at once; more are answered 503 and closed.
    public static let maxConnections = 16

    /// The address and port actually bound (port 0 asks the kernel for one).
    public let host: String
    public let port: UInt16
    private let fd: Int32
    private let body: @Sendable () throws -> String
    private let state = Mutex((stopped: false, active: 0))
    /// How long a client has to send its request, and each send of the answer may block.
    public let clientTimeout: Duration

    /// Binds listen: `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (every address).
    public convenience init(listen address: String, body: @escaping @Sendable () throws -> String) throws {
        try self.init(listen: address, clientTimeout: .seconds(2), body: body)
    }

    /// clientTimeout: how long a connection may take to send its request (and each send of the
    /// answer may block) before the server closes it.
    public init(listen address: String, clientTimeout: Duration, body: @escaping @Sendable () throws -> String) throws {
        guard clientTimeout >= .milliseconds(10), clientTimeout <= .seconds(600) else {
            throw MonitoringError.server("the client timeout must be 10 ms – 600 s")
        }
        self.clientTimeout = clientTimeout
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

    private var isStopped: Bool { state.withLock { $0.stopped } }

    /// Serves on a thread of its own until stop().
    public func start() {
        let thread = Thread { [self] in serve() }
        thread.name = "hike-metrics"
        thread.start()
    }

    public func stop() {
        state.withLock { $0.stopped = true }
    }

    /// Accepts connections until stop() (checked every 200 ms) and serves each on a thread of its
    /// own. When accept fails for lack of descriptors or memory it backs off instead of spinning.
    public func serve() {
        while !isStopped {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 200) > 0 else { continue }
            let client = accept(fd, nil, nil)
            if client < 0 {
                switch errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // The pending connection stays queued: wait for descriptors to be freed.
                    var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
                    nanosleep(&pause, nil)
                default:
                    break  // EINTR, ECONNABORTED, EAGAIN: that connection is gone, go on
                }
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            setTimeouts(client)
            let admitted = state.withLock { state -> Bool in
                guard state.active < Self.maxConnections else { return false }
                state.active += 1
                return true
            }
            guard admitted else {
                respond(client, status: "503 Service Unavailable", text: "too many connections, retry\n", type: "text/plain", head: false)
                close(client)
                continue
            }
            let worker = Thread { [self] in
                answer(client)
                close(client)
                state.withLock { $0.active -= 1 }
            }
            worker.name = "hike-metrics-client"
            worker.start()
        }
    }

    /// Connections being served now.
    public var activeConnections: Int { state.withLock { $0.active } }

    private func setTimeouts(_ client: Int32) {
        let (seconds, attoseconds) = clientTimeout.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    private func answer(_ client: Int32) {
        // One deadline for the whole request: a client trickling bytes cannot stay forever.
        let clock = ContinuousClock()
        let deadline = clock.now + clientTimeout
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var complete = false, closedByPeer = false
        while request.count < 16384, clock.now < deadline {
            let n = recv(client, &buffer, buffer.count, 0)
            if n == 0 { closedByPeer = true }
            if n <= 0 { break }
            request += buffer[..<n]
            if String(decoding: request, as: UTF8.self).contains("\r\n\r\n") {
                complete = true
                break
            }
        }
        if !complete && !closedByPeer && request.count < 16384 {
            // Timed out: the client did not send its request in time.
            respond(client, status: "408 Request Timeout", text: "no request within the time allowed\n", type: "text/plain", head: false)
            return
        }
        if request.isEmpty { return }  // the client left without asking anything
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
        respond(client, status: status, text: text, type: type, head: parts.first == "HEAD")
    }

    /// Sends the response; gives up when a send fails or times out (SO_SNDTIMEO).
    private func respond(_ client: Int32, status: String, text: String, type: String, head: Bool) {
        let payload = Array(text.utf8)
        var response = Array("HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n".utf8)
        if !head { response += payload }
        var offset = 0
        while offset < response.count {
            let n = response[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }
}
