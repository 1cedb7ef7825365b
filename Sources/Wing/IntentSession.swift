import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import HikeRPC
import NetKit
import Synchronization

/// A path the session set from a controller's answer.
public struct IntentUpdate: Sendable, Equatable, CustomStringConvertible {
    public var service: UInt32
    public var port: UInt16
    /// SIDs in traversal order; empty: the application goes without an SRH.
    public var segments: [IPv6Address]
    /// The controller found no path: the configuration's static `sid` list is used (or none).
    public var fellBack: Bool

    public var description: String {
        let path = segments.isEmpty ? "no SRH" : segments.map(\.description).joined(separator: " → ")
        return "service \(service) port \(port): \(path)" + (fellBack ? " (no path from the controller: the configured sid list)" : "")
    }
}

/// hike wing's side of HawkEye's `api.IntentController/GetIntentPath` stream: one request per
/// application with intents and destination address, and each PathResult written into the
/// client's paths. Any controller that speaks the published proto drives it.
public enum IntentSession {
    /// Runs until the task is cancelled. A failed or closed stream is opened again after 1 s,
    /// doubling to 30 s; addresses that DNS answers give a service later are asked for as they
    /// appear. Bad answers are reported and change nothing.
    public static func run(_ configuration: WingConfiguration, on site: WingSite, controller: HawkEyeEndpoint,
                           source: IPv6Address, report: @escaping @Sendable (String) -> Void,
                           applied: @escaping @Sendable (IntentUpdate) -> Void = { _ in }) async {
        var backoff: Duration = .seconds(1)
        while !Task.isCancelled {
            let answered = Atomic<Bool>(false)
            do {
                let transport = try HTTP2ClientTransport.Posix(
                    target: .ipv6(address: controller.address.description, port: Int(controller.port)), transportSecurity: .plaintext)
                try await withGRPCClient(transport: transport) { client in
                    let api = Api_IntentController.Client(wrapping: client)
                    try await api.getIntentPath(requestProducer: { writer in
                        try await produce(configuration, site: site, source: source, into: writer, report: report)
                    }, onResponse: { response in
                        for try await result in response.messages {
                            answered.store(true, ordering: .relaxed)
                            do {
                                for update in try apply(result, configuration: configuration, site: site, source: source) {
                                    report("path: \(update)")
                                    applied(update)
                                }
                            } catch {
                                report("ignored an answer for \(result.ipv6DestinationAddress): \(error)")
                            }
                        }
                    })
                }
                report("the controller at [\(controller.address)]:\(controller.port) closed the stream")
            } catch {
                if Task.isCancelled { return }
                report("the controller at [\(controller.address)]:\(controller.port): \(error)")
            }
            // A stream that answered starts the waits over.
            if answered.load(ordering: .relaxed) { backoff = .seconds(1) }
            do { try await Task.sleep(for: backoff) } catch { return }
            backoff = min(backoff * 2, .seconds(30))
        }
    }

    /// Writes the plan's requests, then those for addresses that appear later (DNS answers),
    /// checking once a second until the stream ends.
    static func produce(_ configuration: WingConfiguration, site: WingSite, source: IPv6Address,
                        into writer: RPCWriter<Api_PathRequest>, report: @Sendable (String) -> Void) async throws {
        var asked = Set<IntentPlan.Request>()
        while !Task.isCancelled {
            let plan = IntentPlan(configuration: configuration, source: source, addresses: try WingHost.serviceAddresses(site))
            for request in plan.requests where !asked.contains(request) {
                try await writer.write(message(request, source: source))
                asked.insert(request)
                report("asked for service \(request.service) port \(request.port) to \(request.destination): "
                       + request.intents.map(\.kind.rawValue).joined(separator: ", "))
            }
            try await Task.sleep(for: .seconds(1))  // the period of the check for new addresses
        }
    }

    /// The PathRequest of a request, as HawkWing encodes it.
    static func message(_ request: IntentPlan.Request, source: IPv6Address) -> Api_PathRequest {
        var message = Api_PathRequest()
        message.ipv6SourceAddress = source.description
        message.ipv6DestinationAddress = request.destination.description
        message.intents = request.intents.map { intent in
            var encoded = Api_Intent()
            encoded.type = Api_IntentType(rawValue: intent.kind.protoNumber) ?? .unspecified
            encoded.values = IntentPlan.values(of: intent).map { value in
                var out = Api_Value()
                switch value {
                case .minimum(let number): out.type = .minValue; out.numberValue = Int32(clamping: number)
                case .maximum(let number): out.type = .maxValue; out.numberValue = Int32(clamping: number)
                case .function(let name): out.type = .sfc; out.stringValue = name
                case .flexAlgorithm(let number): out.type = .flexAlgoNr; out.numberValue = Int32(clamping: number)
                }
                return out
            }
            return encoded
        }
        return message
    }

    /// The intents of an answer, as the plan compares them; nil for a kind or value it does not know.
    static func intentKeys(_ intents: [Api_Intent]) -> Set<IntentPlan.IntentKey>? {
        var keys = Set<IntentPlan.IntentKey>()
        for intent in intents {
            guard let kind = WingIntentKind.allCases.first(where: { $0.protoNumber == intent.type.rawValue }) else { return nil }
            var values = Set<IntentPlan.IntentValue>()
            for value in intent.values {
                switch value.type {
                case .minValue: values.insert(.minimum(Int(value.numberValue)))
                case .maxValue: values.insert(.maximum(Int(value.numberValue)))
                case .sfc: values.insert(.function(value.stringValue))
                case .flexAlgoNr: values.insert(.flexAlgorithm(Int(value.numberValue)))
                default: return nil
                }
            }
            keys.insert(IntentPlan.IntentKey(kind: kind, values: values))
        }
        return keys
    }

    /// Writes an answer into the paths of the applications it serves. Everything is checked
    /// before anything is written.
    static func apply(_ result: Api_PathResult, configuration: WingConfiguration, site: WingSite,
                      source: IPv6Address) throws(WingError) -> [IntentUpdate] {
        guard let destination = try? IPv6Address(parsing: result.ipv6DestinationAddress) else {
            throw .controller("'\(result.ipv6DestinationAddress)' is not an IPv6 address")
        }
        var segments: [IPv6Address] = []
        for text in result.ipv6SidAddresses {
            guard let sid = try? IPv6Address(parsing: text) else { throw .controller("SID '\(text)' is not an IPv6 address") }
            segments.append(sid)
        }
        guard segments.count <= WingABI.segmentsMax else {
            throw .controller("\(segments.count) SIDs: an SRH holds at most \(WingABI.segmentsMax) besides the destination")
        }
        guard let intents = intentKeys(result.intents) else { throw .controller("an intent or value of a kind HawkEye's proto does not define") }
        let plan = IntentPlan(configuration: configuration, source: source, addresses: try WingHost.serviceAddresses(site))
        let served = plan.requests(answering: destination, intents: intents)
        guard !served.isEmpty else { throw .controller("it answers no request (destination and intents)") }
        // HawkEye answers [destination] when it finds no path.
        let noPath = segments.isEmpty || segments == [destination]
        var updates: [IntentUpdate] = []
        for request in served {
            let application = configuration.services.first { $0.id == request.service }?
                .applications.first { $0.port == request.port }
            let path = noPath ? application?.segments ?? [] : segments
            try WingHost.setPath(on: site, service: request.service, port: request.port, segments: path,
                                 encapsulate: application?.encapsulate ?? false)
            updates.append(IntentUpdate(service: request.service, port: request.port, segments: path, fellBack: noPath))
        }
        return updates
    }
}
