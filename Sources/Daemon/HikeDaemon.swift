import Dispatch
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeControl
import Monitoring
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import HikeRuntime

/// `hike daemon`: hike.v1 and Eclat over gRPC on a root-only unix socket (and on TCP with mutual
/// TLS, or plaintext when told so), Prometheus /metrics over HTTP; all on one event-loop group,
/// in one service group that SIGTERM and SIGINT stop gracefully. The daemon owns nothing the
/// kernel holds: stopped or killed, the data plane keeps forwarding, and the next daemon serves
/// the pinned state it finds.
public struct HikeDaemon: Sendable {
    public let configuration: DaemonConfiguration
    let executor: any NodeExecutor
    let logger: Logger

    /// What is listening, once the daemon started (for the "listening" log line and tests).
    public struct Endpoints: Sendable, CustomStringConvertible {
        public var socket: String
        public var tcp: Int?
        public var eclat: Int?
        public var metrics: String?

        public var description: String {
            var parts = ["unix:\(socket)"]
            if let tcp { parts.append("tcp port \(tcp)") }
            if let eclat { parts.append("eclat port \(eclat)") }
            if let metrics { parts.append("metrics http://\(metrics)/metrics") }
            return parts.joined(separator: ", ")
        }
    }

    public init(configuration: DaemonConfiguration, executor: any NodeExecutor, logger: Logger) throws(DaemonError) {
        try configuration.check()
        self.configuration = configuration
        self.executor = executor
        self.logger = logger
    }

    /// Serves until SIGTERM, SIGINT or Eclat's Quit. `started` is called once every listener is up.
    public func run(started: @escaping @Sendable (Endpoints) -> Void = { _ in }) async throws {
        let configuration = configuration
        let planes = DataPlaneServices()
        let loop = try configuration.monitoring.map { settings in
            do {
                return try MonitoringLoop(settings, ingress: LocalMonitoredNode(instance: try HikeInstance(name: settings.ingress)),
                                          egress: LocalMonitoredNode(instance: try HikeInstance(name: settings.egress)))
            } catch {
                throw DaemonError.configuration("monitoring: \(error)")
            }
        }
        let metrics = DaemonMetrics(instance: configuration.instance, netns: configuration.netns, loop: loop)
        let group = MultiThreadedEventLoopGroup.singleton
        let stopper = Stopper()

        // Sockets first: a port in use or a bad address fails here, before anything serves.
        var tcpSockets: [(fd: Int32, secure: Bool)] = []
        var endpoints = Endpoints(socket: configuration.socket)
        do {
            if let listen = configuration.listen {
                let fd = try ListeningSocket.open(try ListenAddress(listen), namespace: configuration.netns)
                tcpSockets.append((fd, configuration.tls != nil))
                endpoints.tcp = ListeningSocket.port(fd)
            }
            if let eclat = configuration.eclat {
                let fd = try ListeningSocket.open(try ListenAddress(eclat, defaultHost: "::"), namespace: configuration.netns)
                tcpSockets.append((fd, configuration.tls != nil))
                endpoints.eclat = ListeningSocket.port(fd)
            }
        } catch {
            for socket in tcpSockets { close(socket.fd) }
            throw error
        }
        do {
            try Self.prepareSocketDirectory(configuration.socket)
        } catch {
            for socket in tcpSockets { close(socket.fd) }
            throw error
        }
        // /metrics is bound now too; its scrape reads the instance in turn with its changes.
        let endpoint: MetricsEndpoint?
        do {
            let service = try await planes.service(for: configuration.instance)
            endpoint = try configuration.metrics.map { address in
                try MetricsEndpoint(listen: address, group: group) {
                    let problems = service.runBlocking { metrics.refresh() }
                    for problem in problems { logger.warning("metrics: \(problem)") }
                    return String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
                }
            }
        } catch {
            for socket in tcpSockets { close(socket.fd) }
            throw DaemonError.listen("\(error)")
        }
        endpoints.metrics = endpoint.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }

        func services() -> [any RegistrableRPCService] {
            [NodeService(executor: executor, planes: planes, metrics: metrics, logger: logger),
             EclatService(executor: executor, planes: planes, configuration: configuration, metrics: metrics, logger: logger,
                          quit: { await stopper.stop() })]
        }
        let transportConfig = HTTP2ServerTransport.Posix.Config.defaults { $0.rpc.maxRequestPayloadSize = configuration.maxRequestBytes }
        // The socket file is made 0600 as it is created: only root may connect.
        let oldMask = umask(0o077)
        let unixServer = GRPCServer(
            transport: .http2NIOPosix(address: .unixDomainSocket(path: configuration.socket), transportSecurity: .plaintext,
                                      config: transportConfig, eventLoopGroup: group),
            services: services())
        var lifecycle: [any Service] = [GRPCServerService(server: unixServer, name: "unix:\(configuration.socket)", logger: logger)]
        for socket in tcpSockets {
            let security: HTTP2ServerTransport.Posix.TransportSecurity
            if socket.secure, let tls = configuration.tls {
                security = .mTLS(certificateChain: [.file(path: tls.certificate, format: .pem)],
                                 privateKey: .file(path: tls.key, format: .pem)) {
                    $0.trustRoots = .certificates([.file(path: tls.clientCA, format: .pem)])
                    $0.clientCertificateVerification = .noHostnameVerification
                }
            } else {
                security = .plaintext
            }
            let server = GRPCServer(
                transport: .http2NIOPosix(listeningSocketDescriptor: Int(socket.fd), transportSecurity: security,
                                          config: transportConfig, eventLoopGroup: group),
                services: services())
            lifecycle.append(GRPCServerService(server: server, name: "tcp port \(ListeningSocket.port(socket.fd))", logger: logger))
        }
        if let endpoint {
            lifecycle.append(MetricsService(endpoint: endpoint))
        }
        if let loop { lifecycle.append(MonitoringService(loop: loop, metrics: metrics.monitoring, logger: logger)) }
        if let period = configuration.colourPeriod {
            lifecycle.append(ColourFlipService(instance: configuration.instance, period: period, planes: planes, logger: logger))
        }
        let serviceGroup = ServiceGroup(configuration: .init(
            services: lifecycle.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                                            failureTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        await stopper.set(serviceGroup)

        let bound = endpoints
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await serviceGroup.run() }
            tasks.addTask {
                // Every listener is up once the unix socket answers and /metrics is bound.
                _ = try await unixServer.listeningAddress
                umask(oldMask)
                started(bound)
            }
            try await tasks.waitForAll()
        }
    }

    /// /run/hike exists (root-only writable); a stale socket of a daemon that died is replaced,
    /// a live one is refused.
    static func prepareSocketDirectory(_ path: String) throws(DaemonError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw .listen("cannot create \(directory) for the socket: \(error.localizedDescription)")
        }
        guard FileManager.default.fileExists(atPath: path) else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            path.utf8CString.withUnsafeBytes { raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(raw.count - 1))) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 { throw .listen("\(path): a daemon is already serving there (stop it first, or give another --socket)") }
    }
}

/// Runs a gRPC server as a lifecycle service: serve until the group shuts down gracefully.
struct GRPCServerService<Transport: ServerTransport>: Service {
    let server: GRPCServer<Transport>
    let name: String
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            logger.info("stopping", metadata: ["listener": "\(name)"])
            server.beginGracefulShutdown()
        }
    }
}

/// The monitoring loop as a lifecycle service: on a thread of its own (it waits for periods and
/// for the kernel), stopped after the period under way when the group shuts down. While its
/// instances cannot be measured (no pm package yet, a flow removed) it says why once and tries
/// again every period: the daemon stays up.
struct MonitoringService: Service {
    let loop: MonitoringLoop
    let metrics: MonitoringMetrics
    let logger: Logger

    func run() async throws {
        let stop = Atomic(false)
        let loop = loop, metrics = metrics, logger = logger
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    var said = ""
                    while !stop.load(ordering: .relaxed) {
                        do {
                            try loop.run(metrics: metrics) { stop.load(ordering: .relaxed) }
                        } catch {
                            if "\(error)" != said { logger.warning("monitoring: \(error); trying again every period") }
                            said = "\(error)"
                            let deadline = ContinuousClock.now + .nanoseconds(Int64(loop.settings.period * 1e9))
                            while !stop.load(ordering: .relaxed) && ContinuousClock.now < deadline { usleep(20_000) }
                        }
                    }
                    continuation.resume()
                }
                thread.name = "hike-monitoring"
                thread.start()
            }
        } onGracefulShutdown: {
            logger.info("stopping the monitoring loop after its period")
            stop.store(true, ordering: .relaxed)
        }
    }
}

/// The sending side of link monitoring: flips the instance's colour every period, on the
/// instance's queue (in turn with requests). While the instance has no pm package it says so
/// once and tries again every period.
struct ColourFlipService: Service {
    let instance: String
    let period: Double
    let planes: DataPlaneServices
    let logger: Logger

    func run() async throws {
        let clock = ContinuousClock(), step = Duration.nanoseconds(Int64(period * 1e9))
        var deadline = clock.now + step, said = ""
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Deadlines, not sleeps between flips: the periods do not drift.
            do { try await Task.sleep(until: deadline, clock: clock) } catch { return }
            deadline += step
            let instance = instance
            let problem: String?
            do {
                problem = try await planes.service(for: instance).run { () -> String? in
                    do {
                        try LocalMonitoredNode(instance: try HikeInstance(name: instance)).flip()
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
            } catch {
                problem = "\(error)"
            }
            if let problem, problem != said { logger.warning("colour-period: \(problem); trying again every period") }
            said = problem ?? ""
        }
    }
}

/// What Quit needs to stop the group.
actor Stopper {
    private var group: ServiceGroup?

    func set(_ group: ServiceGroup) { self.group = group }
    func stop() async { await group?.triggerGracefulShutdown() }
}

/// /metrics as a lifecycle service: bound before the group runs, closed when it shuts down.
struct MetricsService: Service {
    let endpoint: MetricsEndpoint

    func run() async throws {
        try? await gracefulShutdown()
        endpoint.stop()
    }
}
