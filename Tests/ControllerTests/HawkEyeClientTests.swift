import Controller
import Foundation
import HikeRPC
import Testing
import Topology

/// HawkEye's own API, asked by a Python client generated now from Protos/hawkeye/intent.proto
/// with grpcio-tools (PyPI, in the environment scripts/install-deps.sh makes): every intent
/// kind of HandTopology on one stream, as a HawkWing client asks.
@Suite struct HawkEyeClientTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = "/var/cache/hike/python/bin/python"

    /// Sends every case's request on one stream, prints each answer as a JSON line, then cancels.
    static let client = """
        import json, sys, grpc, intent_pb2 as api, intent_pb2_grpc
        port, cases = sys.argv[1], json.load(open(sys.argv[2]))
        def request(case):
            intents = []
            for i in case["intents"]:
                values = [api.Value(type=api.ValueType.Value(v["type"]), **({"number_value": v["number"]} if "number" in v else {"string_value": v["text"]}))
                          for v in i["values"]]
                intents.append(api.Intent(type=api.IntentType.Value(i["type"]), values=values))
            return api.PathRequest(ipv6_source_address="fd00:1::10", ipv6_destination_address="fd00:6::10", intents=intents)
        stub = intent_pb2_grpc.IntentControllerStub(grpc.insecure_channel("[::1]:" + port))
        answers = stub.GetIntentPath(iter([request(c) for c in cases]), timeout=300)  # a net for a hang; CI's load makes 30 s too short
        for case, answer in zip(cases, answers):
            print(json.dumps({"name": case["name"], "source": answer.ipv6_source_address, "destination": answer.ipv6_destination_address,
                              "intents": len(answer.intents), "sids": list(answer.ipv6_sid_addresses)}), flush=True)
        answers.cancel()
        """

    /// A case's intents in the proto's enum names, for the client.
    static func json(_ test: HandCase) -> [String: Any] {
        ["name": test.name, "intents": test.intents.map { intent -> [String: Any] in
            ["type": Self.name(intent.type), "values": intent.values.map { value -> [String: Any] in
                var out: [String: Any] = ["type": Self.name(value.type)]
                if value.hasNumberValue { out["number"] = value.numberValue }
                if value.hasStringValue { out["text"] = value.stringValue }
                return out
            }]
        }]
    }

    static func name(_ type: Api_IntentType) -> String {
        ["INTENT_TYPE_UNSPECIFIED", "INTENT_TYPE_HIGH_BANDWIDTH", "INTENT_TYPE_LOW_BANDWIDTH", "INTENT_TYPE_LOW_LATENCY", "INTENT_TYPE_LOW_PACKET_LOSS",
         "INTENT_TYPE_LOW_JITTER", "INTENT_TYPE_FLEX_ALGO", "INTENT_TYPE_SFC", "INTENT_TYPE_LOW_UTILIZATION"][type.rawValue]
    }

    static func name(_ type: Api_ValueType) -> String {
        ["VALUE_TYPE_UNSPECIFIED", "VALUE_TYPE_MIN_VALUE", "VALUE_TYPE_MAX_VALUE", "VALUE_TYPE_SFC", "VALUE_TYPE_FLEX_ALGO_NR"][type.rawValue]
    }

    @Test func aGeneratedPythonClientGetsTheHandWorkedPathOfEveryIntent() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hike-hawkeye-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let generate = try Command.run([Self.python, "-m", "grpc_tools.protoc", "-I", Self.root.appendingPathComponent("Protos/hawkeye").path,
                                        "--python_out=\(directory.path)", "--grpc_python_out=\(directory.path)", "intent.proto"])
        try #require(generate.status == 0, "grpc_tools.protoc (scripts/install-deps.sh installs it): \(generate.stderr)")
        try Self.client.write(to: directory.appendingPathComponent("client.py"), atomically: true, encoding: .utf8)
        let cases = try JSONSerialization.data(withJSONObject: HandCase.all.map(Self.json))
        try cases.write(to: directory.appendingPathComponent("cases.json"))

        let controller = IntentController(topology: try NetworkTopology.parse(HandTopology.yaml))
        let (ports, portIn) = AsyncStream.makeStream(of: Int.self)
        let server = Task { try await ControllerServer.run(controller, host: "::1", port: 0) { portIn.yield($0) } }
        defer { server.cancel() }
        var next = ports.makeAsyncIterator()
        let port = try #require(await next.next())

        let run = try Command.run(["env", "PYTHONPATH=\(directory.path)", Self.python, directory.appendingPathComponent("client.py").path,
                                   String(port), directory.appendingPathComponent("cases.json").path])
        try #require(run.status == 0, "the Python client: \(run.stderr)")
        var answers: [String: [String: Any]] = [:]
        for line in run.stdout.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            answers[object["name"] as? String ?? ""] = object
        }
        #expect(answers.count == HandCase.all.count)
        for test in HandCase.all {
            let answer = answers[test.name]
            #expect(answer?["sids"] as? [String] == test.expected, "\(test.name)")
            #expect(answer?["source"] as? String == HandTopology.client && answer?["destination"] as? String == HandTopology.server)
            #expect(answer?["intents"] as? Int == test.intents.count, "the answer carries the request's intents back")
        }
        // The client went away: its session is closed.
        try await waitUntil("the session closes") { await controller.status().sessions.isEmpty }
    }
}

/// Polls a condition (a state another task changes) every 20 ms until it holds or 10 s pass.
func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimeout(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

struct WaitTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting until \(what)" }
}
