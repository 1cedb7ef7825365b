import BPFKit
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Monitoring

/// The routers' link reports as a Prometheus server has them from its last scrape of their
/// daemons (the metrics of docs/monitoring.md#metrics): each router's colour and since when,
/// its monitored links, their flows' counters by colour and the interfaces' byte counters, read
/// with instant queries of the HTTP API. A report's time is its scrape's.
public struct PrometheusLinkSource: Sendable {
    /// http://HOST:PORT of the server.
    public let base: String

    public init(parsing text: String) throws(ControllerError) {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw .invalidArgument("'\(text)' is not a Prometheus URL: http://HOST:PORT")
        }
        base = text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// One instant query's series: labels, value and sample time.
    struct Sample {
        let labels: [String: String]
        let value: Double
        let time: Double
    }

    struct QueryResponse: Decodable {
        let status: String
        let error: String?
        let data: DataPart?
        struct DataPart: Decodable { let result: [Series] }
        struct Series: Decodable {
            let metric: [String: String]
            let value: [ValuePart]
        }
        /// [unix time, "value"]: a number and a string.
        enum ValuePart: Decodable {
            case number(Double)
            case text(String)
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let number = try? container.decode(Double.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
            }
        }
    }

    func query(_ expression: String) async throws(ControllerError) -> [Sample] {
        var components = URLComponents(string: base + "/api/v1/query")
        components?.queryItems = [URLQueryItem(name: "query", value: expression)]
        guard let url = components?.url else { throw .invalidArgument("cannot make a query URL from \(base)") }
        let response: QueryResponse
        do {
            let (data, _) = try await URLSession.shared.data(from: url)
            response = try JSONDecoder().decode(QueryResponse.self, from: data)
        } catch {
            throw .unreachable("\(base): \(error.localizedDescription) (is Prometheus serving there?)")
        }
        guard response.status == "success", let result = response.data?.result else {
            throw .unreachable("\(base) refused \(expression): \(response.error ?? response.status)")
        }
        return result.compactMap { series in
            guard series.value.count == 2, case .number(let time) = series.value[0], case .text(let text) = series.value[1],
                  let value = Double(text) else { return nil }
            return Sample(labels: series.metric, value: value, time: time)
        }
    }

    /// Every router's report that Prometheus has, by router (the `node` label mapped by the
    /// topology's `instance:`, else the router's name).
    public func reports(for topology: NetworkTopology) async -> Result<[String: LinkReport], ControllerError> {
        do {
            typealias Name = MonitoringMetrics.Name
            let colours = try await query(Name.colour), since = try await query(Name.colourSince)
            let links = try await query(Name.link), packets = try await query(Name.packets)
            let transmitted = try await query(Name.linkTransmitBytes), received = try await query(Name.linkReceiveBytes)
            var reports: [String: LinkReport] = [:]
            for colour in colours {
                guard let node = colour.labels["node"], let router = topology.router(forInstance: node),
                      let active = Colour(rawValue: UInt32(colour.value)) else { continue }
                func counts(_ flow: UInt32, _ point: CountingPoint) -> [PacketCounter] {
                    guard flow != 0 else { return [] }
                    return Colour.allCases.map { c in
                        let value = packets.first {
                            $0.labels["node"] == node && $0.labels["point"] == point.rawValue && $0.labels["flow"] == String(flow)
                                && $0.labels["colour"] == String(c.rawValue)
                        }?.value ?? 0
                        return PacketCounter(packets: UInt64(value))
                    }
                }
                let nodeLinks = links.filter { $0.labels["node"] == node }.compactMap { link -> LinkReport.Link? in
                    guard let interface = link.labels["interface"], let send = link.labels["send_flow"].flatMap(UInt32.init),
                          let receive = link.labels["receive_flow"].flatMap(UInt32.init) else { return nil }
                    func bytes(_ samples: [Sample]) -> UInt64? {
                        samples.first { $0.labels["node"] == node && $0.labels["interface"] == interface }.map { UInt64($0.value) }
                    }
                    let totals = bytes(transmitted).map { LinkReport.InterfaceTotals(txPackets: 0, txBytes: $0, rxPackets: 0, rxBytes: bytes(received) ?? 0) }
                    return LinkReport.Link(interface: interface, ifindex: 0, sendFlow: send == 0 ? nil : send, receiveFlow: receive == 0 ? nil : receive,
                                           dropPercent: 0, sent: counts(send, .ingress), received: counts(receive, .egress), interfaceCounters: totals)
                }
                reports[router] = LinkReport(node: node, time: colour.time, activeColour: active,
                                             colourSince: since.first { $0.labels["node"] == node }?.value, links: nodeLinks)
            }
            return .success(reports)
        } catch {
            return .failure(error)
        }
    }
}
