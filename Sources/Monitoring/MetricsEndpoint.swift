import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The Prometheus endpoint: `GET /metrics` over HTTP/1.1 on SwiftNIO's event loops (the daemon's,
/// shared with gRPC), answering with the exposition text of a swift-prometheus registry. The
/// scrape runs on a serial queue of the endpoint's, never on an event loop nor on Swift's
/// cooperative pool: it reads kernel counters and may wait, and a caller blocked on that pool
/// (a synchronous test, the demo) must not keep it from being answered.
public final class MetricsEndpoint: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    /// How long a connection may stay without a request before it is closed.
    public static let idleTimeout = TimeAmount.seconds(10)

    /// The address and port bound (port 0 asks the kernel for one).
    public let host: String
    public let port: Int
    private let channel: any Channel

    /// Binds listen (HOST:PORT, [IPV6]:PORT or :PORT) and serves until stop(); throws when the
    /// address is wrong or taken, having bound nothing.
    public init(listen: String, group: MultiThreadedEventLoopGroup = .singleton,
                scrape: @escaping @Sendable () throws -> String) throws {
        let (host, requested) = try Self.address(listen)
        let queue = DispatchQueue(label: "hike.metrics.scrape")
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(queue: queue, scrape: scrape))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: requested).wait()
        } catch {
            throw MonitoringError.server("cannot listen on \(listen): \(error)")
        }
        self.host = host
        port = channel.localAddress?.port ?? requested
    }

    /// Stops listening (connections being answered finish).
    public func stop() {
        try? channel.close().wait()
    }

    /// http://HOST:PORT/metrics.
    public var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/metrics" }

    /// HOST:PORT, [IPV6]:PORT or :PORT (every address), checked before anything listens.
    public static func address(_ listen: String) throws(MonitoringError) -> (host: String, port: Int) {
        let (host, port) = try HostPort.split(listen, example: 9464)
        var v6 = in6_addr(), v4 = in_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 || inet_pton(AF_INET, host, &v4) == 1 else {
            throw .server("'\(listen)': \(host) is not an IPv4 or IPv6 address")
        }
        return (host, port)
    }
}

/// `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (host "::", every address): the one parser of the
/// addresses hike listens on and connects to.
public enum HostPort {
    public static func split(_ text: String, example port: Int) throws(MonitoringError) -> (host: String, port: Int) {
        let host: Substring, portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") {
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else if let colon = text.lastIndex(of: ":"), text.filter({ $0 == ":" }).count == 1 {
            (host, portText) = (text[..<colon], text[text.index(after: colon)...])
        } else {
            throw .invalidArgument("'\(text)' is not HOST:PORT (like 127.0.0.1:\(port), [::1]:\(port) or :\(port))")
        }
        guard let number = Int(portText), (0...65535).contains(number) else {
            throw .invalidArgument("'\(text)': the port must be a number 0–65535 (like 127.0.0.1:\(port))")
        }
        return (host.isEmpty ? "::" : String(host), number)
    }
}

/// One connection: GET /metrics is answered with the scrape, anything else with 404 or 405;
/// each answer closes the connection (Prometheus opens one per scrape or keeps none idle).
private final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let queue: DispatchQueue
    let scrape: @Sendable () throws -> String

    init(queue: DispatchQueue, scrape: @escaping @Sendable () throws -> String) {
        self.queue = queue
        self.scrape = scrape
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let loop = context.eventLoop, bound = NIOLoopBound(context, eventLoop: loop)
        guard head.method == .GET || head.method == .HEAD else {
            Self.respond(bound.value, .methodNotAllowed, "text/plain; charset=utf-8", "only GET /metrics\n", head: false)
            return
        }
        guard path == "/metrics" else {
            Self.respond(bound.value, .notFound, "text/plain; charset=utf-8", "no \(path): the metrics are at /metrics\n", head: head.method == .HEAD)
            return
        }
        let scrape = scrape, isHead = head.method == .HEAD
        queue.async {
            let answer: (HTTPResponseStatus, String, String)
            do {
                answer = (.ok, MetricsEndpoint.contentType, try scrape())
            } catch {
                answer = (.internalServerError, "text/plain; charset=utf-8", "cannot read the metrics: \(error)\n")
            }
            loop.execute { Self.respond(bound.value, answer.0, answer.1, answer.2, head: isHead) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    static func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ type: String, _ text: String, head isHead: Bool) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", String(buffer.readableBytes)), ("Connection", "close")])
        headers.add(name: "Server", value: "hike")
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !isHead { context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
