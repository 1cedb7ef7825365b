import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC
import Testing
import Topology

/// `hike controller` end to end: serve the example topology, set a link, show it, stop.
@Suite struct ControllerCLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// `.build/<triple>/debug/hike`: beside the test bundle, else under the package root.
    static let binary: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("hike").path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : root.appendingPathComponent(".build/debug/hike").path
    }()

    @Test func serveSetLinkShowAndStop() async throws {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.binary)
        server.arguments = ["controller", "serve", "--topology", Self.root.appendingPathComponent("examples/controller/topology.yaml").path,
                            "--listen", "[::1]:0", "--hold-down", "0"]
        let output = Pipe()
        server.standardOutput = output
        try server.run()
        defer { if server.isRunning { server.terminate(); server.waitUntilExit() } }

        // The first line says where it listens.
        var text = ""
        while !text.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        #expect(text.hasPrefix("hike controller: 6 routers, 7 links, 3 service functions; serving HawkEye's API on [::1]:"), "\(text)")
        let port = try #require(text.split(separator: "]:").dropFirst().first?.prefix { $0.isNumber })
        let connect = ["--connect", "[::1]:\(port)"]

        let set = try Command.run([Self.binary, "controller", "set-link", "r2", "r3", "--loss", "5", "--both-directions", "--json"] + connect)
        #expect(set.status == 0, "\(set.stderr)")
        let links = try #require(try JSONSerialization.jsonObject(with: Data(set.stdout.utf8)) as? [[String: Any]])
        #expect(links.map { "\($0["from"] ?? "")→\($0["to"] ?? "")" } == ["r2→r3", "r3→r2"])
        #expect(links.allSatisfy { (($0["metrics"] as? [String: Any])?["loss"] as? Double).map { abs($0 - 0.05) < 1e-9 } == true })

        let show = try Command.run([Self.binary, "controller", "show", "--json"] + connect)
        #expect(show.status == 0, "\(show.stderr)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let shown = try #require(status["links"] as? [[String: Any]])
        #expect(shown.count == 14)
        let r2r3 = try #require(shown.first { $0["from"] as? String == "r2" && $0["to"] as? String == "r3" })
        #expect((r2r3["source"] as? String)?.hasPrefix("set by ") == true)
        #expect(r2r3["ageSeconds"] is Double)
        #expect(shown.first { $0["from"] as? String == "r1" && $0["to"] as? String == "r2" }?["source"] as? String == "topology")

        // Bad input: refused, with the reason, and nothing changed.
        let bad = try Command.run([Self.binary, "controller", "set-link", "r2", "r9", "--loss", "5"] + connect)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("no link joins r2 and r9"), "\(bad.stderr)")

        // A client's stream is open when the controller is stopped: it ends, and so does the controller.
        let (answers, answered) = AsyncStream.makeStream(of: [String].self)
        let client = Task {
            let transport = try HTTP2ClientTransport.Posix(target: .ipv6(address: "::1", port: Int(port)!), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { client in
                try await Api_IntentController.Client(wrapping: client).getIntentPath(requestProducer: { writer in
                    var request = Api_PathRequest()
                    request.ipv6SourceAddress = "fd00:1::10"
                    request.ipv6DestinationAddress = "fd00:6::10"
                    var intent = Api_Intent()
                    intent.type = .lowLatency
                    request.intents = [intent]
                    try await writer.write(request)
                }, onResponse: { response in
                    defer { answered.finish() }  // however it ends: a status, or a reset stream
                    for try await answer in response.messages { answered.yield(answer.ipv6SidAddresses) }
                })
            }
        }
        var pending = answers.makeAsyncIterator()
        #expect(await pending.next() == ["fc00:0:2::", "fc00:0:3::", "fc00:0:6::"])
        server.terminate()
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
        #expect(await pending.next() == nil, "the stream ended with the controller")
        _ = await client.result  // the stream's end, or the connection's loss: either ends the client
        let rest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(rest.contains("hike controller: stopped"), "\(rest)")
    }

    @Test func aBadTopologyFileIsRefusedAtItsLine() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hike-controller-\(getpid())-bad.yaml")
        try "nodes:\n  - {name: r1}\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try Command.run([Self.binary, "controller", "serve", "--topology", file.path, "--listen", "[::1]:0"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("\(file.path):2:12: error: node r1 needs its algorithm-0 SID (sids: {0: …})"), "\(run.stderr)")
    }
}
