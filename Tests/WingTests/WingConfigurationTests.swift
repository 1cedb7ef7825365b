import Foundation
import HikeErrors
import NetKit
import SRv6
import Testing
@testable import Wing

/// A configuration that must be refused, and where and why.
struct Malformed: Sendable, CustomTestStringConvertible {
    let name: String
    let yaml: String
    let line: Int
    let column: Int
    let phrase: String
    /// How many diagnostics in all (a mistake must not drag consequential ones along).
    var count = 1

    var testDescription: String { name }
}

@Suite struct WingConfigurationTests {
    /// HawkWing's own client example, unchanged.
    static let seed = """
        ---
        hawkeye:
          enabled: true
          address: fcbb:cc00:5::f
          port: 5001
        services:
          service1:
            domain_name: service1.com
            applications:
              - port: 80
                sid:
                  - fcbb:bb00:1::2
                  - fcbb:bb00:2::2
                intents:
                  - intent: sfc
                    functions:
                      - function1
                      - function2
              - port: 8080
                intents:
                  - intent: flex-algo
                    flex_algo_number: 1
          service2:
            domain_name: service2.com
            applications:
              - port: 1433
                sid:
                  - fcbb:bb00:2::2
                  - fcbb:bb00:3::2
                intents:
                  - intent: high-bandwidth
                    min_value: 1
                    max_value: 2
          service3:
            ipv6_addresses:
              - fcbb:cc00:4::a
              - fcbb:cc00:4::b
              - fcbb:cc00:4::c
            applications:
              - port: 443
                intents:
                  - intent: flex-algo
                    flex_algo_number: 1
                  - intent: low-bandwidth
                    min_value: 1
                    max_value: 2
                  - intent: low-latency
                    min_value: 1
                    max_value: 2
              - port: 8080
                intents:
                  - intent: sfc
                    functions:
                      - function1
                      - function2
              - port: 18
                intents:
                  - intent: low-bandwidth
              - port: 19
                intents:
                  - intent: low-bandwidth

        """

    static func ip(_ text: String) -> IPv6Address {
        // Literals of this file only.
        (try? IPv6Address(parsing: text)) ?? .zero
    }

    /// The diagnostics of text (none when it is valid).
    static func diagnostics(_ text: String) -> [ConfigurationDiagnostic] {
        do {
            _ = try WingConfiguration.parse(text, file: "wing.yaml")
            return []
        } catch {
            guard case .configuration(let diagnostics) = error else {
                Issue.record("not a configuration error: \(error)")
                return []
            }
            return diagnostics
        }
    }

    @Test func theSeedExampleLoadsAsHawkWingMeansIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wing-seed-\(getpid()).yaml").path
        try Self.seed.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try WingConfiguration.load(file: path)

        let sfc = WingIntent(kind: .sfc, functions: ["function1", "function2"])
        let flexAlgo1 = WingIntent(kind: .flexAlgo, flexAlgorithm: 1)
        let expected = WingConfiguration(
            clientAddress: nil,
            hawkeye: HawkEyeEndpoint(address: Self.ip("fcbb:cc00:5::f"), port: 5001),
            services: [
                WingService(id: 1, name: "service1", domainName: "service1.com", applications: [
                    WingApplication(port: 80, segments: [Self.ip("fcbb:bb00:1::2"), Self.ip("fcbb:bb00:2::2")], intents: [sfc]),
                    WingApplication(port: 8080, intents: [flexAlgo1]),
                ]),
                WingService(id: 2, name: "service2", domainName: "service2.com", applications: [
                    WingApplication(port: 1433, segments: [Self.ip("fcbb:bb00:2::2"), Self.ip("fcbb:bb00:3::2")],
                                    intents: [WingIntent(kind: .highBandwidth, minValue: 1, maxValue: 2)]),
                ]),
                WingService(id: 3, name: "service3",
                            addresses: [Self.ip("fcbb:cc00:4::a"), Self.ip("fcbb:cc00:4::b"), Self.ip("fcbb:cc00:4::c")],
                            applications: [
                                WingApplication(port: 443, intents: [flexAlgo1,
                                                                     WingIntent(kind: .lowBandwidth, minValue: 1, maxValue: 2),
                                                                     WingIntent(kind: .lowLatency, minValue: 1, maxValue: 2)]),
                                WingApplication(port: 8080, intents: [sfc]),
                                WingApplication(port: 18, intents: [WingIntent(kind: .lowBandwidth)]),
                                WingApplication(port: 19, intents: [WingIntent(kind: .lowBandwidth)]),
                            ]),
            ])
        #expect(configuration.services.map(\.id) == [1, 2, 3])
        #expect(configuration.services.map(\.name) == ["service1", "service2", "service3"])
        #expect(configuration.hawkeye == expected.hawkeye)
        for (got, want) in zip(configuration.services, expected.services) { #expect(got == want) }
        #expect(configuration == expected)
    }

    /// Service IDs follow the file, not the names' order.
    @Test func serviceIDsFollowTheFileOrder() throws {
        let configuration = try WingConfiguration.parse("""
            client_ipv6_address: fcbb:cc00:1::a
            services:
              zeta:
                domain_name: zeta.example.
                applications: [{port: 0, sid: [fcbb:bb00:1::2]}]
              alpha:
                ipv6_addresses: [fcbb:cc00:4::a]
                applications: [{port: 53, sid: [fcbb:bb00:1::2]}]
            """)
        #expect(configuration.services.map(\.name) == ["zeta", "alpha"])
        #expect(configuration.services.map(\.id) == [1, 2])
        #expect(configuration.clientAddress == Self.ip("fcbb:cc00:1::a"))
        // No hawkeye section: hawkeye is off.
        #expect(configuration.hawkeye == nil)
        // Port 0 is ICMPv6; a trailing dot is the DNS root.
        #expect(configuration.services[0].applications[0].port == 0)
        #expect(configuration.services[0].domainName == "zeta.example.")
    }

    @Test func flexAlgoMayFollowSfcAndHawkEyeOffNeedsNoSidForOtherIntents() throws {
        let configuration = try WingConfiguration.parse("""
            hawkeye:
              enabled: false
              address: fcbb:cc00:5::f
              port: 5001
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - {intent: sfc, functions: [fw]}
                      - {intent: flex-algo, flex_algo_number: 128}
                  - port: 81
                    intents: [{intent: low-latency, max_value: 10}]
            """)
        #expect(configuration.hawkeye == nil)
        #expect(configuration.services[0].applications[0].intents.map(\.kind) == [.sfc, .flexAlgo])
        #expect(configuration.services[0].applications[1].intents == [WingIntent(kind: .lowLatency, maxValue: 10)])
    }

    @Test func domainNamesFollowTheDNSRules() {
        let valid = WingValidator.isDomainName
        #expect(valid("service1.com") && valid("a-b.example.") && valid(String(repeating: "a", count: 63) + ".com"))
        #expect(!valid(String(repeating: "a", count: 64) + ".com"))
        for bad in ["", ".", "a..com", "-a.com", "a-.com", "a_b.com", "a b.com", "é.com"] { #expect(!valid(bad), "\(bad)") }
        // 5 labels of 49 and 4 dots: 249 characters.
        let long = Array(repeating: String(repeating: "a", count: 49), count: 5).joined(separator: ".")
        #expect(valid(long + ".abc") && valid(long + ".abc."))
        #expect(!valid(long + ".abcd"))
    }

    @Test func intentKindsHaveHawkEyesProtoNumbers() {
        #expect(WingIntentKind.allCases.map(\.protoNumber) == Array(1...8))
        #expect(WingIntentKind.allCases.map(\.rawValue) == ["high-bandwidth", "low-bandwidth", "low-latency", "low-packet-loss",
                                                            "low-jitter", "flex-algo", "sfc", "low-utilization"])
    }

    static let malformed: [Malformed] = [
        Malformed(name: "unknown key in an intent", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    intents:
                      - intent: low-latency
                        min: 1
            """, line: 8, column: 13, phrase: "unknown key 'min' in an intent; expected one of: intent, min_value, max_value"),
        Malformed(name: "unknown top-level key", yaml: """
            hawkeye:
              enabled: false
            service:
              s1: {}
            """, line: 3, column: 1, phrase: "unknown key 'service' in the configuration", count: 2),
        Malformed(name: "IPv4 in sid", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid:
                      - fcbb:bb00:1::2
                      - 10.0.0.2
            """, line: 8, column: 13, phrase: "sid '10.0.0.2' is not an IPv6 address"),
        Malformed(name: "IPv4-mapped service address", yaml: """
            services:
              s1:
                ipv6_addresses: ["::ffff:10.0.0.2"]
                applications: [{port: 80, sid: [fcbb:bb00:1::2]}]
            """, line: 3, column: 22, phrase: "is an IPv4-mapped address"),
        Malformed(name: "garbage client address", yaml: """
            client_ipv6_address: fcbb::zz
            services:
              s1:
                domain_name: s1.com
                applications: [{port: 80, sid: [fcbb:bb00:1::2]}]
            """, line: 1, column: 22, phrase: "client_ipv6_address 'fcbb::zz' is not an IPv6 address"),
        Malformed(name: "hawkeye port 65535", yaml: """
            hawkeye:
              enabled: true
              address: fcbb:cc00:5::f
              port: 65535
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
            """, line: 4, column: 9, phrase: "hawkeye port 65535 is not in 1–65534"),
        Malformed(name: "enabled hawkeye without address", yaml: """
            hawkeye:
              enabled: true
              port: 5001
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    intents:
                      - intent: low-latency
            """, line: 1, column: 1, phrase: "hawkeye is enabled but has no 'address'"),
        Malformed(name: "service without domain_name or ipv6_addresses", yaml: """
            services:
              s1:
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
            """, line: 2, column: 3, phrase: "service s1 needs 'domain_name' or 'ipv6_addresses'"),
        Malformed(name: "service without applications", yaml: """
            services:
              s1:
                domain_name: s1.com
            """, line: 2, column: 3, phrase: "service s1 has no applications"),
        Malformed(name: "bad domain name", yaml: """
            services:
              s1:
                domain_name: -bad-.com
                applications: [{port: 80, sid: [fcbb:bb00:1::2]}]
            """, line: 3, column: 18, phrase: "'-bad-.com' is not a domain name"),
        Malformed(name: "application without sid or intents", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
            """, line: 5, column: 9, phrase: "application port 80 of s1 needs 'sid' or 'intents'"),
        Malformed(name: "unknown intent", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: fast
            """, line: 8, column: 21, phrase: "unknown intent 'fast'; expected one of: high-bandwidth, low-bandwidth"),
        Malformed(name: "sfc not first", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: low-latency
                      - intent: sfc
                        functions: [fw]
            """, line: 9, column: 21, phrase: "sfc must be the first intent of application port 80 of s1"),
        Malformed(name: "flex-algo third", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - {intent: sfc, functions: [fw]}
                      - {intent: low-latency}
                      - {intent: flex-algo, flex_algo_number: 128}
            """, line: 10, column: 22, phrase: "flex-algo must be the first intent"),
        Malformed(name: "intent listed twice", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: low-latency
                      - intent: low-latency
            """, line: 9, column: 21, phrase: "the intent low-latency is listed twice"),
        Malformed(name: "flex-algo without number", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: flex-algo
            """, line: 8, column: 21, phrase: "flex-algo needs 'flex_algo_number'"),
        Malformed(name: "flex_algo_number 256", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: flex-algo
                        flex_algo_number: 256
            """, line: 9, column: 31, phrase: "flex_algo_number 256 is not in 1–255"),
        Malformed(name: "sfc without functions", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: sfc
                        functions: []
            """, line: 9, column: 24, phrase: "sfc needs 'functions'"),
        Malformed(name: "functions on low-latency", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: low-latency
                        functions: [fw]
            """, line: 9, column: 24, phrase: "'functions' is only for sfc intents"),
        Malformed(name: "min_value on sfc", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: sfc
                        functions: [fw]
                        min_value: 1
            """, line: 10, column: 24, phrase: "sfc takes no min_value or max_value"),
        Malformed(name: "min_value above max_value", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                    intents:
                      - intent: low-latency
                        min_value: 5
                        max_value: 2
            """, line: 9, column: 24, phrase: "min_value 5 is greater than max_value 2"),
        Malformed(name: "negative max_value", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    intents: [{intent: low-jitter, max_value: -1}]
            """, line: 6, column: 51, phrase: "max_value -1 is negative"),
        Malformed(name: "duplicate port", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [fcbb:bb00:1::2]
                  - port: 80
                    sid: [fcbb:bb00:2::2]
            """, line: 7, column: 15, phrase: "port 80 is given twice in service s1"),
        Malformed(name: "port 70000", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 70000
                    sid: [fcbb:bb00:1::2]
            """, line: 5, column: 15, phrase: "port 70000 is not in 0–65535"),
        Malformed(name: "port not a number", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: http
                    sid: [fcbb:bb00:1::2]
            """, line: 5, column: 15, phrase: "'services.s1.applications[0].port' must be a number"),
        Malformed(name: "empty sid list", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: []
            """, line: 6, column: 14, phrase: "has an empty 'sid'"),
        Malformed(name: "127 SIDs", yaml: """
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 80
                    sid: [\((1...127).map { "fcbb:bb00:\($0)::2" }.joined(separator: ", "))]
            """, line: 6, column: 14, phrase: "127 SIDs: an SRH holds at most 126"),
        Malformed(name: "flex-algo without sid when hawkeye is disabled", yaml: """
            hawkeye:
              enabled: false
            services:
              service1:
                domain_name: service1.com
                applications:
                  - port: 8080
                    intents:
                      - intent: flex-algo
                        flex_algo_number: 1
            """, line: 9, column: 21,
            phrase: "application port 8080 of service1 has a flex-algo intent but no 'sid': without hawkeye a static SID list is needed"),
        Malformed(name: "no services", yaml: """
            hawkeye:
              enabled: false
            """, line: 1, column: 1, phrase: "no services"),
        Malformed(name: "a service name twice", yaml: """
            services:
              s1:
                domain_name: a.com
                applications: [{port: 80, sid: [fcbb:bb00:1::2]}]
              s1:
                domain_name: b.com
                applications: [{port: 80, sid: [fcbb:bb00:1::2]}]
            """, line: 2, column: 3, phrase: "the key 's1' is given twice in one mapping"),
        Malformed(name: "bad YAML syntax", yaml: """
            services:
              s1: domain_name: s1.com
            """, line: 2, column: 18, phrase: "YAML: mapping values are not allowed"),
        Malformed(name: "empty file", yaml: "# nothing yet\n", line: 1, column: 1, phrase: "the file is empty"),
        Malformed(name: "not a mapping", yaml: "- services\n", line: 1, column: 1, phrase: "must be a mapping"),
    ]

    @Test(arguments: malformed)
    func malformedConfigurationsSayWhereAndWhy(_ bad: Malformed) {
        let diagnostics = Self.diagnostics(bad.yaml)
        #expect(diagnostics.count == bad.count, "\(diagnostics)")
        let place = "wing.yaml:\(bad.line):\(bad.column): error: "
        #expect(diagnostics.contains { $0.description.hasPrefix(place) && $0.message.contains(bad.phrase) },
                "expected \(place)…\(bad.phrase)… in \(diagnostics.map(\.description))")
    }

    @Test func everyProblemIsReportedInFileOrder() {
        let diagnostics = Self.diagnostics("""
            hawkeye:
              enabled: true
              address: 10.0.0.5
              port: 5001
            services:
              s1:
                domain_name: s1.com
                applications:
                  - port: 70000
                    sid: [fcbb:bb00:1::2, 10.0.0.2]
                    intents:
                      - intent: low-latency
                      - intent: sfc
                  - port: 443
                    prot: 1
                    intents: [{intent: high-bandwidth, min_value: 9, max_value: 1}]
              s2:
                applications: []
            """)
        #expect(diagnostics.map(\.description) == [
            "wing.yaml:3:12: error: hawkeye address '10.0.0.5' is not an IPv6 address (like fc00::1)",
            "wing.yaml:9:15: error: port 70000 is not in 0–65535 (0 is ICMPv6)",
            "wing.yaml:10:31: error: sid '10.0.0.2' is not an IPv6 address (like fc00::1)",
            "wing.yaml:13:21: error: sfc must be the first intent of application port 70000 of s1",
            "wing.yaml:13:21: error: sfc needs 'functions' (the service functions, in order)",
            "wing.yaml:15:9: error: unknown key 'prot' in an application of s1; expected one of: port, sid, intents, encap",
            "wing.yaml:16:55: error: min_value 9 is greater than max_value 1",
            "wing.yaml:17:3: error: service s2 needs 'domain_name' or 'ipv6_addresses' (or both): how its traffic is recognised",
            "wing.yaml:18:5: error: service s2 has no applications: list at least one (a port with its sid or intents)",
        ])
        let error = WingError.configuration(diagnostics)
        #expect(error.description == diagnostics.map(\.description).joined(separator: "\n"))
        #expect(error.code == "wing.configuration")
        #expect(error.position == SourcePosition(file: "wing.yaml", line: 3, column: 12))
    }
}
