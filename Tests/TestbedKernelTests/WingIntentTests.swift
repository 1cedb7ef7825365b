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

    /// h2's TCP sink: on each connection, counts the bytes until EOF and writes the count to path.
    static func sink(writingTo path: String) -> String {
        """
        import socket
        server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("fd00:5::10", 8000))
        server.listen(1)
        connection, _ = server.accept()
        total = 0
        while True:
            data = connection.recv(65536)
            if not data:
                break
            total += len(data)
        open("\(path).tmp", "w").write(str(total))
        import os; os.rename("\(path).tmp", "\(path)")
        """
    }

    /// h1's sender: 1 KiB every millisecond on one TCP connection until `stop` exists; prints
    /// the bytes sent.
    static func sender(stopFile stop: String) -> String {
        """
        import os, socket, time
        for attempt in range(100):
            try:
                s = socket.create_connection(("fd00:5::10", 8000))
                break
            except OSError:
                time.sleep(0.1)
        total = 0
        block = b"w" * 1024
        while not os.path.exists("\(stop)"):
            s.sendall(block)
            total += len(block)
            time.sleep(0.001)
        s.close()
        print(total)
        """
    }

    @Test("a controller moves a TCP flow from r2 to r3: the next packets take it, the connection carries on")
    func controllerMovesAPath() async throws {
        let name = TestbedHarness.uniqueName()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hike-wing-\(name)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let received = directory + "/received", stop = directory + "/stop"
        _ = try TestbedHarness.engine.up(try TestbedFile.read(Self.file), name: name)
        defer {
            do { try TestbedHarness.engine.down(name) } catch { Issue.record("down: \(error)") }
            #expect(TestbedHarness.leftovers(name) == [])
        }
        let h1 = try TestbedHarness.engine.namespace(testbed: name, node: "h1")
        let h2 = try TestbedHarness.engine.namespace(testbed: name, node: "h2")
        let client = WingSite(interface: "h1-r1", namespace: h1.name), server = WingSite(interface: "h2-r5", namespace: h2.name)
        // Ended by down with the namespace if the test fails before its connection closes.
        _ = try NodeShell.start(["python3", "-c", Self.sink(writingTo: received)], in: h2)

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

            // One TCP connection, sending until told to stop, by r2 (the static path)…
            let sender = try NodeShell.start(["python3", "-c", Self.sender(stopFile: stop)], in: h1)
            let start = try Self.linkCounters(name)
            try await KernelTest.waitUntil("the flow runs by r2", timeout: .seconds(30)) {
                ((try? Self.linkCounters(name))?["r1-r2"]?.txPackets ?? 0) > (start["r1-r2"]?.txPackets ?? 0) + 200
            }
            // …until the controller moves it to r3.
            answersIn.yield(Self.answer(request, sids: ["fc00:3::e", "fc00:5::e"]))
            try await KernelTest.waitUntil("h1 takes the controller's path", timeout: .seconds(30)) {
                (try? Self.path(client, port: 8000)) == ["fc00:3::e", "fc00:5::e"]
            }
            do {
                try await KernelTest.waitUntil("h2 learns it, reversed, from h1's next packets", timeout: .seconds(30)) {
                    (try? WingHost.status(of: server).flows.contains { $0.proto == "tcp" && $0.segments == ["fc00:5::e", "fc00:3::e"] }) == true
                }
            } catch {
                let flows = (try? WingHost.status(of: server).flows).map { "\($0)" } ?? "unreadable"
                Issue.record(Comment(rawValue: "h2's flows: \(flows); sender running: \(sender.isRunning)"))
                throw error
            }
            let moved = try Self.linkCounters(name)
            try await KernelTest.waitUntil("the flow runs by r3", timeout: .seconds(30)) {
                ((try? Self.linkCounters(name))?["r1-r3"]?.txPackets ?? 0) > (moved["r1-r3"]?.txPackets ?? 0) + 200
            }
            _ = FileManager.default.createFile(atPath: stop, contents: nil)
            let sent = try sender.wait().checked().trimmingCharacters(in: .whitespacesAndNewlines)
            try await KernelTest.waitUntil("h2's sink reports", timeout: .seconds(30)) { FileManager.default.fileExists(atPath: received) }
            let end = try Self.linkCounters(name)
            // Every byte arrived on the one connection: it was not dropped.
            #expect(try String(contentsOfFile: received, encoding: .utf8) == sent)
            let (r2, r3) = (try #require(end["r1-r2"]), try #require(end["r1-r3"]))
            let (r2Moved, r3Moved) = (try #require(moved["r1-r2"]), try #require(moved["r1-r3"]))
            #expect(r3.txPackets - r3Moved.txPackets >= 200, "the data goes by r3")
            #expect(r3.rxPackets - r3Moved.rxPackets >= 100, "the acknowledgements come back by r3")
            #expect(r2.rxPackets - r2Moved.rxPackets <= 20 && r2.txPackets - r2Moved.txPackets <= 20, "r2 no longer carries it")
            grpc.beginGracefulShutdown()
        }
    }
}

/// The testbed's wing role with hawkeye enabled: `up` starts `hike wing session` in the
/// background, which asks the controller and applies its answer; `down` ends it.
extension WingTestbedTests {
    /// The next element of iterator, or nil when none comes within timeout.
    static func next<T: Sendable>(_ stream: AsyncStream<T>, within timeout: Duration) async -> T? {
        await withTaskGroup(of: T?.self) { group in
            group.addTask { var iterator = stream.makeAsyncIterator(); return await iterator.next() }
            group.addTask { try? await Task.sleep(for: timeout); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    @Test("a testbed's wing client with hawkeye enabled asks its controller in the background; down ends the session")
    func testbedClientAsksItsController() async throws {
        let name = TestbedHarness.uniqueName()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hike-wing-\(name)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let examples = Examples.root.appendingPathComponent("examples/wing").path
        for file in try FileManager.default.contentsOfDirectory(atPath: examples) {
            try FileManager.default.copyItem(atPath: "\(examples)/\(file)", toPath: "\(directory)/\(file)")
        }

        let (requests, requestsIn) = AsyncStream.makeStream(of: Api_PathRequest.self)
        let (answers, answersIn) = AsyncStream.makeStream(of: Api_PathResult.self)
        try await withGRPCServer(
            transport: .http2NIOPosix(address: .ipv6(host: "::1", port: 0), transportSecurity: .plaintext),
            services: [FakeIntentController(requests: requestsIn, answers: answers)]
        ) { grpc in
            let port = try #require(try await grpc.listeningAddress?.ipv6?.port)
            // h1's configuration with the controller, and intents for HTTP.
            let client = "\(directory)/client.yaml"
            var text = try String(contentsOfFile: client, encoding: .utf8)
            let http = "      - port: 8000          # HTTP: by r2\n        sid: [fc00:2::e, fc00:5::e]\n"
            #expect(text.contains(http))
            text = "hawkeye: {enabled: true, address: \"::1\", port: \(port)}\n" + text.replacingOccurrences(
                of: http, with: http + "        intents:\n          - intent: low-latency\n")
            try text.write(toFile: client, atomically: true, encoding: .utf8)

            var options = TestbedEngine.UpOptions()
            options.wingSession = { site in [TestbedHarness.binary, "wing", "session", "-i", site.interface, "--netns", site.namespace ?? ""] }
            let state = try TestbedHarness.engine.up(try TestbedFile.read("\(directory)/wing.yaml"), name: name, options: options)
            var down = false
            defer {
                if !down { _ = try? TestbedHarness.engine.down(name) }
            }
            let session = try #require(state.wingSessions?.first)
            let h1 = try TestbedHarness.engine.namespace(testbed: name, node: "h1")
            let site = WingSite(interface: "h1-r1", namespace: h1.name)

            let request = try #require(await Self.next(requests, within: .seconds(60)), "the session asked nothing")
            #expect(request.ipv6DestinationAddress == "fd00:5::10")
            #expect(request.intents.map(\.type) == [.lowLatency])
            answersIn.yield(Self.answer(request, sids: ["fc00:3::e", "fc00:5::e"]))
            try await KernelTest.waitUntil("the controller's path is h1's for HTTP", timeout: .seconds(30)) {
                try Self.path(site, port: 8000) == ["fc00:3::e", "fc00:5::e"]
            }

            #expect(kill(session.pid, 0) == 0)
            _ = try TestbedHarness.engine.down(name)
            down = true
            #expect(!FileManager.default.fileExists(atPath: "/proc/\(session.pid)/cmdline")
                    || (try? String(contentsOfFile: "/proc/\(session.pid)/stat", encoding: .utf8))?.contains(") Z ") == true,
                    "the session ended with the testbed")
            #expect(!FileManager.default.fileExists(atPath: session.log))
            #expect(TestbedHarness.leftovers(name) == [])
        }
    }
}
