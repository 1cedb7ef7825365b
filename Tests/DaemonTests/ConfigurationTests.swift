import Daemon
import Foundation
import Testing

/// The daemon's configuration and the client's addresses, checked before anything listens.
@Suite struct ConfigurationTests {
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hike-daemon-\(getpid())-\(UUID().uuidString).yaml").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aFileWithEveryKeyReadsAsWritten() throws {
        let path = try Self.file("""
            socket: /run/x.sock
            listen: "[::]:50052"
            tls: {certificate: a.pem, key: a.key, client-ca: ca.pem}
            eclat: "50051"
            insecure: true
            metrics: "127.0.0.1:9464"
            netns: r1
            instance: r1
            max-request-bytes: 65536
            monitoring: {ingress: r1, egress: r2, period: 2, stamp-to: "fc00::2"}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try DaemonConfiguration.read(path)
        #expect(c.socket == "/run/x.sock" && c.listen == "[::]:50052" && c.eclat == "50051" && c.insecure)
        #expect(c.tls == .init(certificate: "a.pem", key: "a.key", clientCA: "ca.pem"))
        #expect(c.metrics == "127.0.0.1:9464" && c.netns == "r1" && c.instance == "r1" && c.maxRequestBytes == 65536)
        #expect(c.monitoring?.egress == "r2" && c.monitoring?.period == 2 && c.monitoring?.stampTo == "fc00::2" && c.monitoring?.stampCount == 10)
    }

    @Test func anUnknownKeyIsNamedWithItsPlace() throws {
        let path = try Self.file("socket: /run/x.sock\nlisten_on: \":1\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try DaemonConfiguration.read(path)
        } throws: { error in
            "\(error)".hasPrefix("\(path):2:1: unknown key 'listen_on'")
        }
    }

    /// A configuration that must be refused, and the words of the reason.
    struct BadCase: CustomTestStringConvertible, Sendable {
        let what: String
        let reason: String
        let change: @Sendable (inout DaemonConfiguration) -> Void
        var testDescription: String { what }
    }

    static let badCases: [BadCase] = [
        BadCase(what: "plaintext TCP", reason: "--insecure") { $0.listen = "127.0.0.1:1" },
        BadCase(what: "plaintext eclat", reason: "--insecure") { $0.eclat = "50051" },
        BadCase(what: "a bad address", reason: "is not HOST:PORT") { $0.listen = "localhost"; $0.insecure = true },
        BadCase(what: "a bad port", reason: "0–65535") { $0.metrics = "127.0.0.1:70000" },
        BadCase(what: "missing TLS files", reason: "--tls-cert /no/a: no such readable file") {
            $0.listen = ":1"
            $0.tls = .init(certificate: "/no/a", key: "/no/b", clientCA: "/no/c")
        },
        BadCase(what: "a relative socket", reason: "absolute path") { $0.socket = "hike.sock" },
        BadCase(what: "tiny requests", reason: "max-request-bytes 10") { $0.maxRequestBytes = 10 },
        BadCase(what: "monitoring without metrics", reason: "give metrics too") { $0.monitoring = .init(ingress: "a", egress: "b", period: 1) },
    ]

    /// Each is refused with a reason before anything listens.
    @Test(arguments: badCases)
    func badConfigurationsAreRefused(_ bad: BadCase) {
        var configuration = DaemonConfiguration()
        bad.change(&configuration)
        #expect {
            try configuration.check()
        } throws: { error in
            "\(error)".contains(bad.reason)
        }
    }

    @Test func clientAddressesAndTheInventory() throws {
        #expect(try DaemonAddress("unix:/run/hike/hike.sock").kind == .unix("/run/hike/hike.sock"))
        #expect(try DaemonAddress("[fd00::2]:50052").kind == .tcp(host: "fd00::2", port: 50052))
        #expect(try DaemonAddress("10.0.0.1:1").description == "10.0.0.1:1")
        #expect(throws: DaemonError.self) { try DaemonAddress("unix:relative") }
        let path = try Self.file("""
            nodes:
              r1: {address: "[fd00:1::2]:50052", tls: {ca: ca.pem, certificate: me.pem, key: /abs/me.key}}
              r2: {address: "unix:/run/hike/hike.sock"}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let inventory = try NodeInventory.read(path)
        let r1 = try inventory.address(of: "r1", file: path)
        let base = (path as NSString).deletingLastPathComponent
        #expect(r1.kind == .tcp(host: "fd00:1::2", port: 50052))
        #expect(r1.tls == .init(ca: "\(base)/ca.pem", certificate: "\(base)/me.pem", key: "/abs/me.key"))
        #expect(try inventory.address(of: "r2", file: path).tls == nil)
        #expect {
            try inventory.address(of: "r3", file: path)
        } throws: { "\($0)".contains("no node 'r3'") && "\($0)".contains("r1, r2") }
    }
}
