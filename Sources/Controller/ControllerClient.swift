import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC

/// Where a controller listens: `[::1]:10000`, `127.0.0.1:10000`, `host:10000`.
public struct ControllerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// HawkEye's port.
    public static let defaultPort = 10000

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(ControllerError) {
        let host: Substring, port: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .invalidArgument("'\(text)': write [ADDRESS]:PORT, like [::1]:10000") }
            port = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            throw .invalidArgument("'\(text)' is not HOST:PORT (an IPv6 address in brackets: [::1]:10000)")
        }
        guard !host.isEmpty, let number = Int(port), (0...65535).contains(number) else {
            throw .invalidArgument("'\(text)' is not HOST:PORT with a port 0–65535")
        }
        self.init(host: String(host), port: number)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    var target: any ResolvableTarget {
        host.contains(":") ? .ipv6(address: host, port: port) as ResolvableTargets.IPv6 : .dns(host: host, port: port) as ResolvableTargets.DNS
    }
}

/// `hike controller show` and `set-link`: hike.v1.Controller calls to a running controller.
public enum ControllerClient {
    public static func show(_ address: ControllerAddress) async throws(ControllerError) -> ControllerStatus {
        try await call(address) { try await $0.show(Hike_V1_ShowControllerRequest()) }
    }

    public static func set(_ change: LinkMetricsChange, from: String, to: String, bothDirections: Bool,
                           at address: ControllerAddress) async throws(ControllerError) -> ControllerStatus {
        try change.validate()
        var request = Hike_V1_SetLinkMetricsRequest()
        request.from = from
        request.to = to
        request.bothDirections = bothDirections
        if let value = change.delayMicroseconds { request.delayUs = value }
        if let value = change.jitterMicroseconds { request.jitterUs = value }
        if let value = change.lossPercent { request.lossPercent = value }
        if let value = change.utilizationPercent { request.utilizationPercent = value }
        if let value = change.igpMetric { request.igpMetric = value }
        if let value = change.bandwidthKbps { request.bandwidthKbps = value }
        let message = request
        return try await call(address) { try await $0.setLinkMetrics(message) }
    }

    static func call(_ address: ControllerAddress,
                     _ body: @Sendable (Hike_V1_Controller.Client<HTTP2ClientTransport.Posix>) async throws -> Hike_V1_ControllerState)
        async throws(ControllerError) -> ControllerStatus {
        let state: Hike_V1_ControllerState
        do {
            let transport = try HTTP2ClientTransport.Posix(target: address.target, transportSecurity: .plaintext)
            state = try await withGRPCClient(transport: transport) { client in
                try await body(Hike_V1_Controller.Client(wrapping: client))
            }
        } catch let error as RPCError where error.code == .invalidArgument {
            throw .invalidArgument(error.message)
        } catch let error as RPCError {
            throw .unreachable("the controller at \(address): \(error.message) (is `hike controller serve` running there?)")
        } catch {
            throw .unreachable("the controller at \(address): \(error)")
        }
        do {
            return try JSONDecoder().decode(ControllerStatus.self, from: Data(state.json.utf8))
        } catch {
            throw .unreachable("the controller at \(address) answered what is not its state: \(error)")
        }
    }
}
