import NetKit
import Testing
@testable import Wing

/// What a client asks HawkEye for, and which applications an answer serves.
struct IntentPlanTests {
    static let yaml = """
        services:
          web:
            ipv6_addresses: [fd00:5::10, fd00:5::11]
            applications:
              - port: 80
                sid: [fc00:2::e]
                intents:
                  - {intent: sfc, functions: [fw, ids]}
                  - {intent: flex-algo, flex_algo_number: 128}
                  - {intent: low-latency, min_value: 1, max_value: 20}
              - port: 443
                sid: [fc00:3::e]
              - port: 8080
                sid: [fc00:4::e]
                intents:
                  - intent: low-packet-loss
          named:
            domain_name: www.example.org
            applications:
              - port: 53
                sid: [fc00:5::e]
                intents:
                  - intent: low-jitter
        """

    static func plan(learned: [UInt32: [IPv6Address]] = [:]) throws -> IntentPlan {
        try IntentPlan(configuration: WingConfiguration.parse(yaml), source: IPv6Address(parsing: "fd00:1::10"), addresses: learned)
    }

    @Test func oneRequestPerApplicationWithIntentsAndAddress() throws {
        let requests = try Self.plan().requests.map { "\($0.service):\($0.port)@\($0.destination)" }
        // 443 has no intents; `named` has no address until DNS gives it one.
        #expect(requests == ["1:80@fd00:5::10", "1:8080@fd00:5::10", "1:80@fd00:5::11", "1:8080@fd00:5::11"])
        let learned = try Self.plan(learned: [2: [IPv6Address(parsing: "fd00:9::1")]]).requests.map { "\($0.service):\($0.port)@\($0.destination)" }
        #expect(learned.last == "2:53@fd00:9::1")
    }

    @Test func requestsAreEncodedAsHawkWingDoes() throws {
        let request = try #require(try Self.plan().requests.first)
        let message = IntentSession.message(request, source: try IPv6Address(parsing: "fd00:1::10"))
        #expect(message.ipv6SourceAddress == "fd00:1::10" && message.ipv6DestinationAddress == "fd00:5::10")
        #expect(message.intents.map(\.type.rawValue) == [7, 6, 3])
        // One SFC value per function, the flex-algo number, then min and max.
        #expect(message.intents[0].values.map { "\($0.type.rawValue):\($0.stringValue)" } == ["3:fw", "3:ids"])
        #expect(message.intents[1].values.map { "\($0.type.rawValue):\($0.numberValue)" } == ["4:128"])
        #expect(message.intents[2].values.map { "\($0.type.rawValue):\($0.numberValue)" } == ["1:1", "2:20"])
    }

    @Test func anAnswerServesTheRequestsOfTheSameIntentSetInAnyOrder() throws {
        let plan = try Self.plan()
        let request = try #require(plan.requests.first)
        let message = IntentSession.message(request, source: plan.source)
        let reordered = try #require(IntentSession.intentKeys(message.intents.reversed()))
        let served = plan.requests(answering: try IPv6Address(parsing: "fd00:5::10"), intents: reordered)
        #expect(served.map(\.port) == [80])
        // Another value is another intent: the answer serves nothing.
        var changed = message.intents
        changed[2].values[1].numberValue = 21
        #expect(plan.requests(answering: try IPv6Address(parsing: "fd00:5::10"), intents: try #require(IntentSession.intentKeys(changed))).isEmpty)
        // An intent type the proto does not define is refused.
        var unknown = message.intents
        unknown[0].type = .UNRECOGNIZED(42)
        #expect(IntentSession.intentKeys(unknown) == nil)
    }
}
