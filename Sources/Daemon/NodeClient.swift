import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC
import Yams

/// Where a daemon listens, as `--connect` names it: `unix:PATH`, `HOST:PORT`, `[IPV6]:PORT`, or a
/// node of the inventory (nodes.yaml) by name.
public struct DaemonAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case unix(String)
        case tcp(host: String, port: Int)
    }

    public var kind: Kind
    /// mutual TLS files; nil for plaintext (unix sockets, or TCP to an --insecure daemon).
    public var tls: ClientTLS?

    public struct ClientTLS: Sendable, Equatable, Codable {
        /// The CA that signed the daemon's certificate.
        public var ca: String
        /// This client's certificate and key.
        public var certificate: String
        public var key: String
        /// The name the daemon's certificate must carry (default: the host).
        public var serverName: String?

        public init(ca: String, certificate: String, key: String, serverName: String? = nil) {
            self.ca = ca
            self.certificate = certificate
            self.key = key
            self.serverName = serverName
        }

        enum CodingKeys: String, CodingKey {
            case ca, certificate, key
            case serverName = "server-name"
        }
    }

    public init(kind: Kind, tls: ClientTLS? = nil) {
        self.kind = kind
        self.tls = tls
    }

    /// Parses unix:PATH or HOST:PORT.
    public init(_ text: String, tls: ClientTLS? = nil) throws(DaemonError) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else { throw .configuration("--connect \(text): write unix:/absolute/path") }
            kind = .unix(path)
        } else {
            let address = try ListenAddress(text)
            kind = .tcp(host: address.host, port: address.port)
        }
        self.tls = tls
    }

    public var description: String {
        switch kind {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// An inventory of daemons by name (`--nodes FILE`, default /etc/hike/nodes.yaml):
///
///     nodes:
///       r1: {address: "10.0.0.1:50052", tls: {ca: ca.pem, certificate: me.pem, key: me.key}}
///       r2: {address: "unix:/run/hike/hike.sock"}
///
/// Relative paths are relative to the file.
public struct NodeInventory: Sendable, Codable {
    public struct Node: Sendable, Codable {
        public var address: String
        public var tls: DaemonAddress.ClientTLS?
    }

    public var nodes: [String: Node]

    public static func read(_ path: String) throws(DaemonError) -> NodeInventory {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .configuration("cannot read the node inventory \(path)")
        }
        do {
            return try YAMLDecoder().decode(NodeInventory.self, from: text)
        } catch {
            throw .configuration("\(path): \(error)")
        }
    }

    /// The address of a node by name, its TLS paths made absolute.
    public func address(of name: String, file: String) throws(DaemonError) -> DaemonAddress {
        guard let node = nodes[name] else {
            throw .configuration("no node '\(name)' in \(file); its nodes: \(nodes.keys.sorted().joined(separator: ", "))")
        }
        let base = (file as NSString).deletingLastPathComponent
        func absolute(_ path: String) -> String { path.hasPrefix("/") || base.isEmpty ? path : "\(base)/\(path)" }
        let tls = node.tls.map {
            DaemonAddress.ClientTLS(ca: absolute($0.ca), certificate: absolute($0.certificate), key: absolute($0.key), serverName: $0.serverName)
        }
        return try DaemonAddress(node.address, tls: tls)
    }
}

/// The client side of hike.v1: sends one operation to a daemon and returns what it printed.
public enum NodeClient {
    /// A daemon's answer that is an error: what the CLI prints (stderr) and the gRPC status.
    public struct Refusal: Error, Sendable {
        public let code: RPCError.Code
        public let text: String

        public init(code: RPCError.Code, text: String) {
            self.code = code
            self.text = text
        }
    }

    public static func execute(_ operation: NodeOperation, at address: DaemonAddress) async throws -> NodeOutput {
        try await withNode(address) { node in NodeOutput(try await call(operation, on: node)) }
    }

    /// Streams a watch's lines until the daemon or the caller stops it.
    public static func watchEvents(_ request: Hike_V1_WatchEventsRequest, at address: DaemonAddress,
                                   each: @escaping @Sendable (NodeOutput) async throws -> Void) async throws {
        try await withNode(address) { node in
            try await node.watchEvents(request, options: callOptions) { response in
                for try await message in response.messages { try await each(NodeOutput(message)) }
            }
        }
    }

    /// Streams a watch's outputs (each time the read changed) until the caller stops.
    public static func watch(_ request: Hike_V1_WatchRequest, at address: DaemonAddress,
                             each: @escaping @Sendable (NodeOutput) async throws -> Void) async throws {
        try await withNode(address) { node in
            try await node.watch(request, options: callOptions) { response in
                for try await message in response.messages { try await each(NodeOutput(message)) }
            }
        }
    }

    /// body with the daemon's Node client; the daemon's refusals become Refusal (its text is
    /// what this process prints).
    static func withNode<T: Sendable>(_ address: DaemonAddress,
                                      _ body: @escaping @Sendable (Hike_V1_Node.Client<HTTP2ClientTransport.Posix>) async throws -> T)
        async throws -> T {
        try await withClient(address) { node in
            do {
                return try await body(node)
            } catch let error as RPCError where [.invalidArgument, .notFound, .failedPrecondition].contains(error.code) {
                throw Refusal(code: error.code, text: error.message)
            }
        }
    }

    static func withClient<T: Sendable>(_ address: DaemonAddress,
                                        _ body: @escaping @Sendable (Hike_V1_Node.Client<HTTP2ClientTransport.Posix>) async throws -> T)
        async throws -> T {
        let transport: HTTP2ClientTransport.Posix
        var config = HTTP2ClientTransport.Posix.Config.defaults
        let security: HTTP2ClientTransport.Posix.TransportSecurity
        if let tls = address.tls {
            security = .mTLS(certificateChain: [.file(path: tls.certificate, format: .pem)],
                             privateKey: .file(path: tls.key, format: .pem)) {
                $0.trustRoots = .certificates([.file(path: tls.ca, format: .pem)])
            }
        } else {
            security = .plaintext
        }
        do {
            switch address.kind {
            case .unix(let path):
                transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: path), transportSecurity: security, config: config)
            case .tcp(let host, let port):
                // The certificate is checked against the server name when one is given, else
                // against the host (a name, or the address itself for an IP).
                if let name = address.tls?.serverName { config.http2.authority = name }
                let resolved: any ResolvableTarget = host.contains(":") ? .ipv6(address: host, port: port)
                    : (host.allSatisfy { $0.isNumber || $0 == "." } ? .ipv4(address: host, port: port) : .dns(host: host, port: port))
                transport = try HTTP2ClientTransport.Posix(target: resolved, transportSecurity: security, config: config)
            }
        } catch {
            throw DaemonError.connection("cannot connect to the daemon at \(address): \(error)")
        }
        do {
            return try await withGRPCClient(transport: transport) { client in
                try await body(Hike_V1_Node.Client(wrapping: client))
            }
        } catch let error as RPCError where error.code == .unavailable {
            throw DaemonError.connection("cannot reach the daemon at \(address): \(error.message)"
                + (address.tls == nil && { if case .tcp = address.kind { true } else { false } }() ? " (does it want TLS? give --tls-ca, --tls-cert and --tls-key)" : ""))
        }
    }

    /// Answers can be large (a map dump runs to megabytes); requests stay within the daemon's
    /// limit. The NIO transport reads answers with the request limit (2.9.2), so both are raised.
    static var callOptions: CallOptions {
        var options = CallOptions.defaults
        options.maxResponseMessageBytes = 1 << 30
        options.maxRequestMessageBytes = 1 << 30
        return options
    }

    static func call(_ operation: NodeOperation, on node: Hike_V1_Node.Client<HTTP2ClientTransport.Posix>) async throws -> Hike_V1_Output {
        let options = callOptions
        return switch operation {
        case .info(let r): try await node.info(r, options: options)
        case .listPrograms(let r): try await node.listPrograms(r, options: options)
        case .loadPrograms(let r): try await node.loadPrograms(r, options: options)
        case .showProgram(let r): try await node.showProgram(r, options: options)
        case .loadChains(let r): try await node.loadChains(r, options: options)
        case .listChains(let r): try await node.listChains(r, options: options)
        case .showChain(let r): try await node.showChain(r, options: options)
        case .removeChains(let r): try await node.removeChains(r, options: options)
        case .loadScript(let r): try await node.loadScript(r, options: options)
        case .unloadScript(let r): try await node.unloadScript(r, options: options)
        case .listLoaders(let r): try await node.listLoaders(r, options: options)
        case .attachLoader(let r): try await node.attachLoader(r, options: options)
        case .detachLoader(let r): try await node.detachLoader(r, options: options)
        case .listMaps(let r): try await node.listMaps(r, options: options)
        case .dumpMap(let r): try await node.dumpMap(r, options: options)
        case .updateMap(let r): try await node.updateMap(r, options: options)
        case .deleteMapEntry(let r): try await node.deleteMapEntry(r, options: options)
        case .faults(let r): try await node.faults(r, options: options)
        case .reset(let r): try await node.reset(r, options: options)
        case .validateSRv6(let r): try await node.validateSRv6(r, options: options)
        case .applySRv6(let r): try await node.applySRv6(r, options: options)
        case .showSRv6(let r): try await node.showSRv6(r, options: options)
        case .listFlows(let r): try await node.listFlows(r, options: options)
        case .addFlow(let r): try await node.addFlow(r, options: options)
        case .removeFlow(let r): try await node.removeFlow(r, options: options)
        case .monitoringStats(let r): try await node.monitoringStats(r, options: options)
        case .setLink(let r): try await node.setLink(r, options: options)
        case .removeLink(let r): try await node.removeLink(r, options: options)
        case .listLinks(let r): try await node.listLinks(r, options: options)
        }
    }
}
