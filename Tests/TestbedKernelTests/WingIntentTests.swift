import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC
import HikeTestSupport
import NetKit
import Testbed
import Testing
import Topology
import Wing

/// A test double of HawkEye: records the requests of the stream and writes the answers the test
/// gives it, as the published proto has them.
struct FakeIntentController: Api_IntentController.SimpleServiceProtocol {
    let requests: AsyncStream<Api_PathRequest>.Continuation
    let answers: AsyncStream<Api_PathResult>

    func getIntentPath(request: RPCAsyncSequence<Api_PathRequest, any Error>, response: RPCWriter<Api_PathResult>,
                       context: ServerContext) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { for try await message in request { requests.yield(message) } }
            group.addTask { for await answer in answers { try await response.write(answer) } }
            try await group.next()
            group.cancelAll()
        }
    }
}

/// examples/wing/wing.yaml with h1's paths from an intent controller: in WingTestbedTests'
/// suite, so the two testbeds' 100 MiB transfers do not run side by side.
extension WingTestbedTests {

    static func intentConfiguration(port: Int) throws -> WingConfiguration {
        try WingConfiguration.parse("""
            hawkeye: {enabled: true, address: "::1", port: \(port)}
            services:
              web:
                ipv6_addresses: [fd00:5::10]
                applications:
                  - port: 8000
                    sid: [fc00:2::e, fc00:5::e]
                    intents:
                      - intent: low-latency
                        max_value: 25000
                      - intent: low-packet-loss
            """)
    }

    static func answer(_ request: Api_PathRequest, sids: [String]) -> Api_PathResult {
        var result = Api_PathResult()
        result.ipv6SourceAddress = request.ipv6SourceAddress
        result.ipv6DestinationAddress = request.ipv6DestinationAddress
        result.intents = request.intents.reversed()  // the same set, another order
        result.ipv6SidAddresses = sids
        return result
    }

    static func path(_ site: WingSite, port: UInt16) throws -> [String]? {
        try WingHost.status(of: site).services.first?.applications.first { $0.port == port }?.segments
    }

    @Test("a controller moves HTTP from r2 to r3 mid-transfer: the next packets take it, the download completes intact")
    func controllerMovesAPath() async throws {
        let name = TestbedHarness.uniqueName()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hike-wing-\(name)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let blob = directory + "/blob", copy = directory + "/copy"
        try Command.check(["dd", "if=/dev/urandom", "of=\(blob)", "bs=1M", "count=100", "status=none"])
        _ = try TestbedHarness.engine.up(try TestbedFile.read(Self.file), name: name)
        defer {
            do { try TestbedHarness.engine.down(name) } catch { Issue.record("down: \(error)") }
            #expect(TestbedHarness.leftovers(name) == [])
        }
        let h1 = try TestbedHarness.engine.namespace(testbed: name, node: "h1")
        let h2 = try TestbedHarness.engine.namespace(testbed: name, node: "h2")
        let client = WingSite(interface: "h1-r1", namespace: h1.name), server = WingSite(interface: "h2-r5", namespace: h2.name)
        // Ended by down with the namespace (it inherits the runner's blocked SIGINT).
        _ = try NodeShell.start(["python3", "-m", "http.server", "8000", "--bind", "fd00:5::10", "--directory", directory], in: h2)
        try await KernelTest.waitUntil("h2's HTTP server answers", timeout: .seconds(30)) {
            (try? TestbedHarness.engine.run(testbed: name, node: "h2", ["curl", "-sf", "-o", "/dev/null", "http://[fd00:5::10]:8000/"]))?.status == 0
        }

        let (requests, requestsIn) = AsyncStream.makeStream(of: Api_PathRequest.self)
        let (answers, answersIn) = AsyncStream.makeStream(of: Api_PathResult.self)
        let (reports, reportsIn) = AsyncStream.makeStream(of: String.self)
        try await withGRPCServer(
            transport: .http2NIOPosix(address: .ipv6(host: "::1", port: 0), transportSecurity: .plaintext),
            services: [FakeIntentController(requests: requestsIn, answers: answers)]
        ) { grpc in
            let port = try #require(try await grpc.listeningAddress?.ipv6?.port)
            let configuration = try Self.intentConfiguration(port: port)
            let controller = try #require(configuration.hawkeye)
            let session = Task {
                await IntentSession.run(configuration, on: client, controller: controller,
                                        source: try! IPv6Address(parsing: "fd00:1::10")) { reportsIn.yield($0) }
            }
            defer { session.cancel() }

            // The request, as HawkWing encodes it.
            var pending = requests.makeAsyncIterator()
            let request = try #require(await pending.next())
            #expect(request.ipv6SourceAddress == "fd00:1::10")
            #expect(request.ipv6DestinationAddress == "fd00:5::10")
            #expect(request.intents.map(\.type) == [.lowLatency, .lowPacketLoss])
            #expect(request.intents.first?.values.map { "\($0.type):\($0.numberValue)" } == ["maxValue:25000"])

            // A bad answer changes nothing.
            var reported = reports.makeAsyncIterator()
            answersIn.yield(Self.answer(request, sids: ["fc00:3::e", "not-a-sid"]))
            var line: String?
            repeat { line = await reported.next() } while line.map { !$0.hasPrefix("ignored") } ?? false
            #expect(try Self.path(client, port: 8000) == ["fc00:2::e", "fc00:5::e"], "\(line ?? "no report")")

            // A download at 10 MB/s (10 s), by r2 (the static path) until the controller moves it.
            let download = try NodeShell.start(["curl", "-sS", "--fail", "--limit-rate", "10M", "-o", copy,
                                                "http://[fd00:5::10]:8000/blob"], in: h1)
            let start = try Self.linkCounters(name)
            try await KernelTest.waitUntil("the download runs by r2", timeout: .seconds(30)) {
                ((try? Self.linkCounters(name))?["r1-r2"]?.rxPackets ?? 0) > (start["r1-r2"]?.rxPackets ?? 0) + 5000
            }
            answersIn.yield(Self.answer(request, sids: ["fc00:3::e", "fc00:5::e"]))
            try await KernelTest.waitUntil("h1 takes the controller's path", timeout: .seconds(30)) {
                (try? Self.path(client, port: 8000)) == ["fc00:3::e", "fc00:5::e"]
            }
            try await KernelTest.waitUntil("h2 learns it, reversed, from h1's next packets", timeout: .seconds(30)) {
                (try? WingHost.status(of: server).flows.contains { $0.proto == "tcp" && $0.segments == ["fc00:5::e", "fc00:3::e"] }) == true
            }
            let moved = try Self.linkCounters(name)
            try download.wait().checked()
            let end = try Self.linkCounters(name)
            #expect(try Self.sha256(copy) == Self.sha256(blob))
            let (r2, r3) = (try #require(end["r1-r2"]), try #require(end["r1-r3"]))
            let (r2Moved, r3Moved) = (try #require(moved["r1-r2"]), try #require(moved["r1-r3"]))
            #expect(r3.rxPackets - r3Moved.rxPackets >= 1000, "the data comes back by r3")
            #expect(r3.txPackets - r3Moved.txPackets >= 100, "the acknowledgements go by r3")
            #expect(r2.rxPackets - r2Moved.rxPackets <= 100 && r2.txPackets - r2Moved.txPackets <= 100, "r2 no longer carries it")
            grpc.beginGracefulShutdown()
        }
    }
}
