import Controller
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC

/// How many HawkEye streams one controller holds: S clients' streams (100 per HTTP/2
/// connection, as many hosts would open them) each ask for a path; then one metric change moves
/// every path, and each stream is pushed its new one. Client and server run in this process on
/// loopback, so the memory per stream is an upper bound for the controller's.
public enum ControllerStreamBench {
    public struct Row: Codable, Sendable {
        public var streams: Int
        public var connections: Int
        /// From the first stream opened to every stream answered.
        public var answerSeconds: Double
        /// From the metric change to every stream pushed its new path.
        public var pushSeconds: Double
        /// Resident memory added per open stream (client and server), KiB.
        public var residentKiBPerStream: Double
    }

    static let streamsPerConnection = 100

    public static func run(streams counts: [Int], routers: Int = 100, seed: UInt64 = 1, progress: @Sendable (String) -> Void) async throws -> [Row] {
        var rows: [Row] = []
        for count in counts {
            progress("hike bench controller: \(count) streams…")
            rows.append(try await measure(streams: count, routers: routers, seed: seed))
        }
        return rows
    }

    static func measure(streams count: Int, routers: Int, seed: UInt64) async throws -> Row {
        let topology = GeneratedTopology.make(routers: routers, seed: seed)
        // Every stream asks for the same pair; the change is on the first link of its path.
        let intent = PathIntent(metrics: [.lowLatency])
        let path = try PathComputation(topology: topology).path(from: "r0", to: "r\(routers / 2)", intent: intent).get()
        let controller = IntentController(topology: topology, settings: .init(holdDown: .zero))
        var request = Api_PathRequest()
        request.ipv6SourceAddress = topology.nodes[0].prefixes[0].address.description
        request.ipv6DestinationAddress = topology.nodes[routers / 2].prefixes[0].address.description
        var encoded = Api_Intent()
        encoded.type = .lowLatency
        request.intents = [encoded]

        let (ports, portIn) = AsyncStream.makeStream(of: Int.self)
        let server = Task { try await ControllerServer.run(controller, host: "::1", port: 0) { portIn.yield($0) } }
        defer { server.cancel() }
        var portIterator = ports.makeAsyncIterator()
        guard let port = await portIterator.next() else { throw BenchError.controllerStreams("the controller did not start") }

        let (answers, answered) = AsyncStream.makeStream(of: Void.self)
        let connections = (count + streamsPerConnection - 1) / streamsPerConnection
        let before = residentBytes()
        let start = ContinuousClock.now
        let message = request
        let clients = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for c in 0..<connections {
                    let streams = min(streamsPerConnection, count - c * streamsPerConnection)
                    group.addTask {
                        let transport = try HTTP2ClientTransport.Posix(target: .ipv6(address: "::1", port: port), transportSecurity: .plaintext)
                        try await withGRPCClient(transport: transport) { client in
                            let api = Api_IntentController.Client(wrapping: client)
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                for _ in 0..<streams {
                                    group.addTask {
                                        try await api.getIntentPath(requestProducer: { writer in
                                            try await writer.write(message)
                                            // The stream stays open for pushes, until the measurement cancels it.
                                            try await Task.sleep(for: .seconds(86_400))
                                        }, onResponse: { response in
                                            for try await _ in response.messages { answered.yield() }
                                        })
                                    }
                                }
                                try await group.waitForAll()
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        // The watchdog ends the wait when the clients fail, or after 300 s.
        let watchdog = Task { () -> String? in
            let reason = await withTaskGroup(of: String?.self) { group in
                group.addTask { (try? await Task.sleep(for: .seconds(300))).map { "the streams did not all answer within 300 s" } }
                group.addTask {
                    if case .failure(let error) = await clients.result, !(error is CancellationError) { return "a client stream failed: \(error)" }
                    return Task.isCancelled ? nil : "the client streams ended early"
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let reason, !Task.isCancelled else { return nil }
            answered.finish()
            return reason
        }
        defer {
            watchdog.cancel()
            clients.cancel()
        }
        var received = answers.makeAsyncIterator()
        func wait(for n: Int) async throws {
            for _ in 0..<n where await received.next() == nil {
                throw BenchError.controllerStreams(await watchdog.value ?? "the streams ended early")
            }
        }
        try await wait(for: count)
        let answerTime = ContinuousClock.now - start
        let after = residentBytes()
        let change = ContinuousClock.now
        try await controller.set(LinkMetricsChange(delayMicroseconds: 10_000_000), from: path.routers[0], to: path.routers[1],
                                 bothDirections: false, source: "bench")
        try await wait(for: count)
        let pushTime = ContinuousClock.now - change
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        return Row(streams: count, connections: connections, answerSeconds: seconds(answerTime), pushSeconds: seconds(pushTime),
                   residentKiBPerStream: Double(max(0, after - before)) / 1024 / Double(count))
    }

    /// This process's resident set (/proc/self/statm), bytes.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }
}
