import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeTestSupport
import NetKit
import Testing
import Topology

/// The data plane does not depend on the daemon, and the daemon does not fall to bad clients.
@Suite(.serialized) struct DaemonRobustnessTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// kill -9 of the daemon while a ping flood crosses the chain it installed: no packet lost;
    /// the next daemon, on the same socket, serves the same state.
    @Test func killingTheDaemonLosesNoPacketAndTheNextOneServesTheSameState() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        try DaemonScratch.with { scratch in
            let first = try DaemonProcess([], scratch: scratch)
            let connect = ["--connect", "unix:\(first.socket)"]
            let chain = try scratch.write("pass.hasm", "chain t_pass\n    call hike_pass\n")
            #expect(try scratch.hike(["chain", "load", chain] + connect).status == 0)
            let attach = try scratch.hike(["loader", "attach", "ip6_classifier", "veth0", "--netns", b.name, "--chain", "t_pass"] + connect)
            #expect(attach.status == 0, "\(attach.stderr)")
            /// The chains and loaders, without what traffic changes (the chains' run counts).
            func state(_ socket: String) throws -> String {
                let chains = try scratch.hike(["chain", "list", "--json", "--connect", "unix:\(socket)"]).stdout
                    .split(separator: "\n").filter { !$0.contains("\"runs\"") }.joined(separator: "\n")
                return chains + (try scratch.hike(["loader", "list", "--json", "--connect", "unix:\(socket)"]).stdout)
            }
            let before = try state(first.socket)
            let runsBefore = try Self.runs(of: "t_pass", scratch: scratch, socket: first.socket)

            let start = try InterfaceCounters.read("veth0", in: b).rxPackets
            let ping = try Traffic.startPing(from: a, to: "fc00::2", count: 15000, interval: 0.001)
            try KernelTest.waitUntil("the flood is under way", timeout: .seconds(30)) { try InterfaceCounters.read("veth0", in: b).rxPackets > start + 300 }
            #expect(first.stop(signal: SIGKILL) == SIGKILL)
            // With no daemon at all, the flood goes on through the chain.
            let killed = try InterfaceCounters.read("veth0", in: b).rxPackets
            try KernelTest.waitUntil("packets cross while no daemon runs", timeout: .seconds(30)) {
                try InterfaceCounters.read("veth0", in: b).rxPackets > killed + 200
            }

            let second = try DaemonProcess([], scratch: scratch, tag: "daemon")  // the same socket path: the stale file is replaced
            let result = try ping.finish()
            #expect(result.transmitted == 15000)
            #expect(result.received == result.transmitted, "\(result)")
            #expect(try state(second.socket) == before)
            // The chain ran every echo request of the flood, with and without a daemon.
            #expect(try Self.runs(of: "t_pass", scratch: scratch, socket: second.socket) >= runsBefore + 15000)
            #expect(second.stop() == 0, "\(second.output)")
        }
    }
}

extension DaemonRobustnessTests {
    static func runs(of chain: String, scratch: DaemonScratch, socket: String) throws -> Int {
        let output = try scratch.hike(["chain", "list", "--json", "--connect", "unix:\(socket)"]).stdout
        let rows = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
        return rows.first { $0["name"] as? String == chain }?["runs"] as? Int ?? -1
    }

    /// Random bytes, truncated HTTP/2, undecodable messages, oversized messages and huge strings,
    /// in a loop: every bad request gets an error, the daemon stays up and nothing changes.
    @Test func malformedAndOversizedRequestsChangeNothing() async throws {
        try await DaemonScratch.with { scratch in
            let daemon = try DaemonProcess(["--max-request-bytes", "65536"], scratch: scratch)
            defer { _ = daemon.stop() }
            let connect = ["--connect", "unix:\(daemon.socket)"]
            let chain = try scratch.write("pass.hasm", "chain t_pass\n    call hike_pass\n")
            #expect(try scratch.hike(["chain", "load", chain] + connect).status == 0)
            let before = try scratch.hike(["chain", "list", "--json"] + connect).stdout

            var generator = SystemRandomNumberGenerator()
            let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
            var codes: [String: [RPCError.Code: Int]] = [:]
            for round in 0..<20 {
                // Raw bytes on the socket: noise, a cut preface, a preface and noise frames.
                let noise = (0..<Int.random(in: 1...4096, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                for bytes in [noise, Array(preface.prefix(round % preface.count)), preface + noise] {
                    try RawSocket.send(bytes, to: daemon.socket)
                }
                // Well-framed gRPC with undecodable, oversized or absurd messages.
                for (method, message) in [
                    // A leading 0 is a tag of field 0, which no protobuf message has: undecodable
                    // whatever follows (plain noise decodes now and then, and is refused by hike instead).
                    ("LoadChains", [0] + noise),
                    ("LoadChains", [UInt8](repeating: 0x41, count: 70_000)),  // over --max-request-bytes
                    ("ShowChain", Self.showChain(name: String(repeating: "x", count: 60_000), instance: scratch.name)),
                    ("RemoveChains", Self.removeChain(name: "t_pass\u{0}", instance: scratch.name)),
                ] {
                    do {
                        _ = try await RawGRPC.unary(method: method, message: message, socket: daemon.socket)
                        Issue.record("\(method) with \(message.count) bad bytes was answered as if valid")
                    } catch let error as RPCError {
                        codes[method + (message.count > 65536 ? " oversized" : ""), default: [:]][error.code, default: 0] += 1
                    }
                }
            }
            #expect(daemon.process.isRunning, "\(daemon.output)")
            // What gRPC itself refuses: a message it cannot decode is INVALID_ARGUMENT; one over the
            // limit has its stream reset (the NIO transport's answer: UNAVAILABLE at the client).
            #expect(codes["LoadChains"] == [.invalidArgument: 20], "\(codes)")
            #expect(codes["LoadChains oversized"] == [.unavailable: 20], "\(codes)")
            // What hike refuses: an unknown (huge) name, a name with a NUL.
            #expect(codes["ShowChain"] == [.notFound: 20], "\(codes)")
            #expect(codes["RemoveChains"]?.keys.allSatisfy { [.invalidArgument, .notFound].contains($0) } == true, "\(codes)")
            #expect(try scratch.hike(["chain", "list", "--json"] + connect).stdout == before)
            #expect(try scratch.hike(["info"] + connect).status == 0)
        }
    }

    /// A ShowChainRequest's bytes, written by hand (protobuf: field 1 target {1: instance}, 2: name).
    static func showChain(name: String, instance: String) -> [UInt8] {
        field(1, field(1, Array(instance.utf8))) + field(2, Array(name.utf8))
    }

    static func removeChain(name: String, instance: String) -> [UInt8] {
        field(1, field(1, Array(instance.utf8))) + field(2, Array(name.utf8))
    }

    static func field(_ number: Int, _ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8(number << 3 | 2)]
        var length = bytes.count
        repeat {
            out.append(UInt8(length & 0x7f) | (length > 0x7f ? 0x80 : 0))
            length >>= 7
        } while length > 0
        return out + bytes
    }
}

/// Bytes straight to a unix socket (no gRPC, no HTTP/2), then close.
enum RawSocket {
    static func send(_ bytes: [UInt8], to path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DaemonTestError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            path.utf8CString.withUnsafeBytes { raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(raw.count - 1))) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw DaemonTestError("connect \(path): \(String(cString: strerror(errno)))") }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

/// A gRPC call whose message is whatever bytes the test gives.
enum RawGRPC {
    struct Bytes: MessageSerializer, MessageDeserializer {
        func serialize<Output: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Output { Output(message) }
        func deserialize<Input: GRPCContiguousBytes>(_ bytes: Input) throws -> [UInt8] {
            bytes.withUnsafeBytes { Array($0) }
        }
    }

    static func unary(method: String, message: [UInt8], socket: String) async throws -> [UInt8] {
        let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { client in
            var options = CallOptions.defaults
            options.maxRequestMessageBytes = 1 << 20
            return try await client.unary(request: ClientRequest(message: message),
                                          descriptor: MethodDescriptor(fullyQualifiedService: "hike.v1.Node", method: method),
                                          serializer: Bytes(), deserializer: Bytes(), options: options) { try $0.message }
        }
    }
}
