import Controller
import HikeRPC
import NetKit
import Testing
import Wing

/// Six routers, two ways across and a short cut, with metrics chosen so that every intent has
/// one answer, worked out by hand below (sums written out in each test):
///
///         r2 ──── r3          r1: fd00:1::/64 (the client), r6: fd00:6::/64 (the server)
///        /  \       \         flex-algo 128: r1, r2, r5, r6
///      r1    ╲ r2-r5  r6      fw on r3 and r4, ids on r5
///        \     \    /
///         r4 ── r5
///
/// link   igp  bandwidth  delay  jitter  loss  utilization
/// r1-r2   10     1 G      1000    100     0      0
/// r2-r3   10     1 G      1000    500     2 %    0
/// r3-r6   10     1 G      1000    100     0      0
/// r1-r4   20    10 G      3000     50     0     10 %
/// r4-r5   10    10 G      3000    100     0     10 %
/// r5-r6   10    10 G      3000     50     0     10 %
/// r2-r5   30   100 M       500     20     0     50 %
///
/// The ways from r1 to r6:  A = r1 r2 r3 r6,  B = r1 r4 r5 r6,  C = r1 r2 r5 r6.
///                 A        B        C
/// igp             30       40       50
/// delay µs      3000     9000     4500
/// jitter µs      700      200      170
/// loss           2 %       0        0
/// available     1 G      9 G     50 M     (the narrowest link's bandwidth × (1 − utilization))
/// capacity      1 G     10 G    100 M
/// utilization     0      0.3      0.6     (summed)
enum HandTopology {
    static let yaml = """
        nodes:
          - {name: r1, sids: {0: "fc00:0:1::", 128: "fc00:80:1::"}, prefixes: ["fd00:1::/64"]}
          - {name: r2, sids: {0: "fc00:0:2::", 128: "fc00:80:2::"}}
          - {name: r3, sids: {0: "fc00:0:3::"}}
          - {name: r4, sids: {0: "fc00:0:4::"}}
          - {name: r5, sids: {0: "fc00:0:5::", 128: "fc00:80:5::"}}
          - {name: r6, sids: {0: "fc00:0:6::", 128: "fc00:80:6::"}, prefixes: ["fd00:6::/64"]}
        links:
          - {between: [r1, r2], igp-metric: 10, bandwidth: 1000000, delay: 1000, jitter: 100}
          - {between: [r2, r3], igp-metric: 10, bandwidth: 1000000, delay: 1000, jitter: 500, loss: 2}
          - {between: [r3, r6], igp-metric: 10, bandwidth: 1000000, delay: 1000, jitter: 100}
          - {between: [r1, r4], igp-metric: 20, bandwidth: 10000000, delay: 3000, jitter: 50, utilization: 10}
          - {between: [r4, r5], igp-metric: 10, bandwidth: 10000000, delay: 3000, jitter: 100, utilization: 10}
          - {between: [r5, r6], igp-metric: 10, bandwidth: 10000000, delay: 3000, jitter: 50, utilization: 10}
          - {between: [r2, r5], igp-metric: 30, bandwidth: 100000, delay: 500, jitter: 20, utilization: 50}
        services:
          - {name: fw-r3, type: fw, router: r3, sid: "fc00:0:3:f1::"}
          - {name: fw-r4, type: fw, router: r4, sid: "fc00:0:4:f1::"}
          - {name: ids-r5, type: ids, router: r5, sid: "fc00:0:5:1d5::"}
        """

    static let a = ["fc00:0:2::", "fc00:0:3::", "fc00:0:6::"]
    static let b = ["fc00:0:4::", "fc00:0:5::", "fc00:0:6::"]
    static let c = ["fc00:0:2::", "fc00:0:5::", "fc00:0:6::"]
    static let client = "fd00:1::10", server = "fd00:6::10"

    /// A request's intent, as a HawkWing client encodes it.
    static func intent(_ type: Api_IntentType, min: Int32? = nil, max: Int32? = nil, functions: [String] = [], algorithm: Int32? = nil) -> Api_Intent {
        var intent = Api_Intent()
        intent.type = type
        func value(_ type: Api_ValueType, number: Int32? = nil, text: String? = nil) -> Api_Value {
            var value = Api_Value()
            value.type = type
            if let number { value.numberValue = number }
            if let text { value.stringValue = text }
            return value
        }
        if let min { intent.values.append(value(.minValue, number: min)) }
        if let max { intent.values.append(value(.maxValue, number: max)) }
        intent.values += functions.map { value(.sfc, text: $0) }
        if let algorithm { intent.values.append(value(.flexAlgoNr, number: algorithm)) }
        return intent
    }
}

/// An intent list and the SID list it must give, as a test argument that prints its name.
struct HandCase: CustomTestStringConvertible, Sendable {
    let name: String
    let intents: [Api_Intent]
    let expected: [String]
    var testDescription: String { name }

    static let all: [HandCase] = [
        // delay: A 3000 < C 4500 < B 9000.
        HandCase(name: "low-latency", intents: [HandTopology.intent(.lowLatency)], expected: HandTopology.a),
        // jitter: C 170 < B 200 < A 700.
        HandCase(name: "low-jitter", intents: [HandTopology.intent(.lowJitter)], expected: HandTopology.c),
        // Σ −ln(1−p): B and C lose nothing; the tie goes to the lower IGP metric, B (40 < 50).
        HandCase(name: "low-packet-loss", intents: [HandTopology.intent(.lowPacketLoss)], expected: HandTopology.b),
        // utilization: A 0 < B 0.3 < C 0.6.
        HandCase(name: "low-utilization", intents: [HandTopology.intent(.lowUtilization)], expected: HandTopology.a),
        // the widest: B 9 G > A 1 G > C 50 M.
        HandCase(name: "high-bandwidth", intents: [HandTopology.intent(.highBandwidth)], expected: HandTopology.b),
        // the narrowest capacity (keep wide links free): C 100 M.
        HandCase(name: "low-bandwidth", intents: [HandTopology.intent(.lowBandwidth)], expected: HandTopology.c),
        // only B's links have 5 G available.
        HandCase(name: "high-bandwidth min 5 G", intents: [HandTopology.intent(.highBandwidth, min: 5_000_000)], expected: HandTopology.b),
        // A is the fastest (3000 µs), within 4000.
        HandCase(name: "low-latency max 4000 µs", intents: [HandTopology.intent(.lowLatency, max: 4000)], expected: HandTopology.a),
        // nothing takes less than 3000 µs: HawkEye's "no path" answer, the destination alone.
        HandCase(name: "low-latency max 2500 µs", intents: [HandTopology.intent(.lowLatency, max: 2500)], expected: [HandTopology.server]),
        // Normalised (min-max over the 14 directed links): delay 500 → 0.00001, 1000 → 0.2,
        // 3000 → 1; loss 0 → 0.00001, 2 % → 1. Weights 0.7 (latency), 0.3 (loss):
        // A = 3·0.7·0.2 + 0.3·(1 + 2·0.00001) ≈ 0.720; C = 0.7·(0.2 + 0.00001 + 1) + 0.3·3·0.00001 ≈ 0.840;
        // B = 3·0.7 + … ≈ 2.100. A wins.
        HandCase(name: "low-latency + low-packet-loss", intents: [HandTopology.intent(.lowLatency), HandTopology.intent(.lowPacketLoss)],
                 expected: HandTopology.a),
        // Loss first (0.7), then latency (0.3): A ≈ 0.7·1 + 0.3·0.6 = 0.880, C ≈ 0.3·1.2 = 0.360, B ≈ 0.3·3 = 0.900. C wins.
        HandCase(name: "low-packet-loss + low-latency", intents: [HandTopology.intent(.lowPacketLoss), HandTopology.intent(.lowLatency)],
                 expected: HandTopology.c),
        // The weighted best, A, loses 2 % > 1 %: the next best within the bound is C (0.840).
        HandCase(name: "low-latency + low-packet-loss max 1 %",
                 intents: [HandTopology.intent(.lowLatency), HandTopology.intent(.lowPacketLoss, max: 1)], expected: HandTopology.c),
        // Algorithm 128 has r1, r2, r5, r6: only C, with the algorithm's SIDs.
        HandCase(name: "flex-algo 128", intents: [HandTopology.intent(.flexAlgo, algorithm: 128)],
                 expected: ["fc00:80:2::", "fc00:80:5::", "fc00:80:6::"]),
        // IGP: fw on r3: r1 r2 r3 (20) + r3 r6 (10) = 30; fw on r4: r1 r4 (20) + r4 r5 r6 (20) = 40.
        HandCase(name: "sfc fw", intents: [HandTopology.intent(.sfc, functions: ["fw"])],
                 expected: ["fc00:0:2::", "fc00:0:3::", "fc00:0:3:f1::", "fc00:0:6::"]),
        // fw on r3 then ids on r5: 20 + r3 r6 r5 (20) + r5 r6 (10) = 50; fw on r4: 20 + 10 + 10 = 40.
        HandCase(name: "sfc fw, ids", intents: [HandTopology.intent(.sfc, functions: ["fw", "ids"])],
                 expected: ["fc00:0:4::", "fc00:0:4:f1::", "fc00:0:5::", "fc00:0:5:1d5::", "fc00:0:6::"]),
    ]
}

@Suite struct PathComputationTests {
    static func answer(_ intents: [Api_Intent], topology: NetworkTopology? = nil) throws -> [String] {
        let computation = PathComputation(topology: try topology ?? NetworkTopology.parse(HandTopology.yaml))
        let intent = try PathIntent(intents)
        switch computation.path(from: try IPv6Address(parsing: HandTopology.client), to: try IPv6Address(parsing: HandTopology.server), intent: intent) {
        case .success(let path): return path.segments.map(\.description)
        case .failure: return [HandTopology.server]
        }
    }

    @Test(arguments: HandCase.all) func eachIntentGivesTheHandWorkedPath(_ test: HandCase) throws {
        #expect(try Self.answer(test.intents) == test.expected)
    }

    @Test func pathsAddUpTheirLinks() throws {
        let computation = PathComputation(topology: try NetworkTopology.parse(HandTopology.yaml))
        let path = try computation.path(from: "r1", to: "r6", intent: PathIntent([HandTopology.intent(.lowLatency)])).get()
        #expect(path.routers == ["r1", "r2", "r3", "r6"])
        #expect(path.metrics.delayMicroseconds == 3000)
        #expect(path.metrics.jitterMicroseconds == 700)
        #expect(abs(path.metrics.loss - 0.02) < 1e-12)
        #expect(path.metrics.igpMetric == 30)
        #expect(path.metrics.availableKbps == 1_000_000)
    }

    @Test func uSIDsOfOneBlockArePackedIntoAContainer() throws {
        let yaml = """
            usid: 32/16
            nodes:
              - {name: r1, sids: {0: "fcbb:bb00:1::"}, prefixes: ["fd00:1::/64"]}
              - {name: r2, sids: {0: "fcbb:bb00:2::"}}
              - {name: r3, sids: {0: "fcbb:bb00:3::"}}
              - {name: r6, sids: {0: "fcbb:bb00:6::"}, prefixes: ["fd00:6::/64"]}
            links:
              - {between: [r1, r2]}
              - {between: [r2, r3]}
              - {between: [r3, r6]}
            """
        #expect(try Self.answer([HandTopology.intent(.lowLatency)], topology: NetworkTopology.parse(yaml)) == ["fcbb:bb00:2:3:6::"])
    }

    @Test func badIntentsAreRefusedWithTheRule() throws {
        func refusal(_ intents: [Api_Intent]) -> String? {
            do { _ = try PathIntent(intents); return nil } catch { return error.message }
        }
        #expect(refusal([]) == "no intents: ask for at least one")
        #expect(refusal([HandTopology.intent(.highBandwidth, max: 10)])?.hasPrefix("high-bandwidth takes no maximum") == true)
        #expect(refusal([HandTopology.intent(.lowLatency, min: 10)])?.hasPrefix("low-latency takes no minimum") == true)
        #expect(refusal([HandTopology.intent(.lowLatency, max: 0)]) == "low-latency: a maximum must be a number ≥ 1")
        #expect(refusal([HandTopology.intent(.flexAlgo, algorithm: 5)]) == "flex-algo: the algorithm number must be 128–255")
        #expect(refusal([HandTopology.intent(.sfc)]) == "sfc: name the functions (VALUE_TYPE_SFC strings) in traversal order")
        #expect(refusal([HandTopology.intent(.lowLatency), HandTopology.intent(.lowLatency)]) == "low-latency is asked for twice")
    }

    @Test func topologyErrorsSayWhereAndWhat() {
        let yaml = """
            nodes:
              - {name: r1, sids: {0: "fc00:0:1::"}}
              - {name: r2, sids: {7: "fc00:0:2::"}}
              - {name: r1, sids: {0: "fc00:0:3::"}}
            links:
              - {between: [r1, r9]}
              - {between: [r1, r1]}
              - {between: [r1, r2], loss: 120, colour: red}
            """
        do {
            _ = try NetworkTopology.parse(yaml, file: "t.yaml")
            Issue.record("a topology with errors was taken")
        } catch {
            let lines = error.message.split(separator: "\n").map(String.init)
            #expect(lines == [
                "t.yaml:3:22: error: node r2 needs its algorithm-0 SID (sids: {0: …})",
                "t.yaml:3:26: error: node r2: '7' is not an algorithm: 0, or 128–255 for flex-algo",
                "t.yaml:4:12: error: a node 'r1' is listed twice",
                "t.yaml:6:15: error: no node is named 'r9'",
                "t.yaml:7:15: error: a link joins two different routers, not r1 with itself",
                "t.yaml:8:31: error: loss is a percentage: 0–100",
                "t.yaml:8:36: error: unknown key 'colour' in a link; expected one of: between, igp-metric, bandwidth, delay, jitter, loss, utilization, reverse",
            ])
        }
    }
}
