import Dispatch
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The Prometheus endpoint: `GET /metrics` on Hummingbird, the exposition text of a
/// swift-prometheus registry. The daemon runs its application among its services; `hike pm
/// serve` and the VPN demo start one in the background with `start`.
public final class MetricsEndpoint: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The router: /metrics answers what scrape returns (run it off the event loop if it blocks).
    public static func router(scrape: @escaping @Sendable () async throws -> [UInt8]) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            do {
                return Response(status: .ok, headers: [.contentType: contentType],
                                body: .init(byteBuffer: ByteBuffer(bytes: try await scrape())))
            } catch {
                return Response(status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "cannot read the metrics: \(error)\n")))
            }
        }
        return router
    }

    /// HOST:PORT, [IPV6]:PORT or :PORT, checked before anything listens.
    public static func address(_ listen: String) throws(MonitoringError) -> (host: String, port: Int) {
        let host: Substring, port: Substring
        if listen.hasPrefix("["), let close = listen.firstIndex(of: "]"), listen[listen.index(after: close)...].hasPrefix(":") {
            host = listen[listen.index(after: listen.startIndex)..<close]
            port = listen[listen.index(close, offsetBy: 2)...]
        } else if let colon = listen.lastIndex(of: ":"), listen.filter({ $0 == ":" }).count == 1 {
            (host, port) = (listen[..<colon], listen[listen.index(after: colon)...])
        } else {
            throw .server("'\(listen)' is not HOST:PORT (like 127.0.0.1:9464, [::1]:9464 or :9464)")
        }
        guard let number = Int(port), (0...65535).contains(number) else {
            throw .server("'\(listen)': the port must be a number 0–65535 (like 127.0.0.1:9464)")
        }
        var v6 = in6_addr(), v4 = in_addr()
        let address = host.isEmpty ? "::" : String(host)
        guard inet_pton(AF_INET6, address, &v6) == 1 || inet_pton(AF_INET, address, &v4) == 1 else {
            throw .server("'\(listen)': \(address) is not an IPv4 or IPv6 address")
        }
        return (address, number)
    }

    /// The address and port bound (port 0 asks the kernel for one).
    public let host: String
    public let port: Int
    private let task: Task<Void, any Error>

    /// Starts serving in the background and returns once the port is bound (or throws why it
    /// could not be). scrape runs on a thread of Dispatch's, never on an event loop.
    public init(listen: String, scrape: @escaping @Sendable () throws -> String) throws {
        let (host, requested) = try Self.address(listen)
        var logger = Logger(label: "hike.metrics")
        logger.logLevel = .error
        let bound = Mutex<Result<Int, any Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let router = Self.router {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(with: Result { Array(try scrape().utf8) }) }
            }
        }
        let application = Application(
            router: router, configuration: .init(address: .hostname(host, port: requested), serverName: "hike"),
            onServerRunning: { channel in
                bound.withLock { $0 = .success(channel.localAddress?.port ?? requested) }
                ready.signal()
            }, logger: logger)
        task = Task {
            do {
                try await application.runService(gracefulShutdownSignals: [])
            } catch {
                let first = bound.withLock { state -> Bool in
                    guard state == nil else { return false }
                    state = .failure(error)
                    return true
                }
                if first { ready.signal() }
                throw error
            }
        }
        ready.wait()
        switch bound.withLock({ $0 }) {
        case .success(let port)?:
            self.host = host
            self.port = port
        case .failure(let error)?:
            throw MonitoringError.server("cannot listen on \(listen): \(error)")
        case nil:
            throw MonitoringError.server("cannot listen on \(listen)")
        }
    }

    /// Stops serving (open scrapes finish first) and waits until it has.
    public func stop() {
        task.cancel()
        let done = DispatchSemaphore(value: 0)
        let task = task
        Task.detached {
            _ = await task.result
            done.signal()
        }
        done.wait()
    }

    /// http://HOST:PORT/metrics.
    public var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/metrics" }
}
