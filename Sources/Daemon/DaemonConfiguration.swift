import Foundation
import Monitoring
import Yams

/// What `hike daemon` serves and where: its configuration file (YAML, keys as below) with the
/// command line's flags over it. Checked whole before anything listens.
public struct DaemonConfiguration: Codable, Sendable, Equatable {
    /// The root-only unix socket of hike.v1 and Eclat (mode 0600).
    public var socket: String = "/run/hike/hike.sock"
    /// HOST:PORT of a TCP listener of hike.v1 and Eclat (mutual TLS unless insecure).
    public var listen: String?
    public var tls: TLSFiles?
    /// Accept plaintext TCP: whoever reaches the port can change the data plane.
    public var insecure: Bool = false
    /// HOST:PORT (or PORT) of eclatd's listener (Eclat and hike.v1; plaintext needs insecure).
    public var eclat: String?
    /// HOST:PORT of the Prometheus endpoint (GET /metrics).
    public var metrics: String?
    /// The network namespace the TCP listeners and the Eclat scripts' devices are in.
    public var netns: String?
    /// The instance Eclat's requests and the metrics use.
    public var instance: String = "default"
    /// The largest request accepted, in bytes.
    public var maxRequestBytes: Int = 4 << 20
    /// Loss by alternate marking between two instances of this machine every period, with
    /// STAMP delay, into the metrics (what `hike pm serve --period` does).
    public var monitoring: MonitoringLoop.Settings?
    /// Seconds between flips of the instance's colour: the sending side of link monitoring (`hike
    /// pm link`), whose loss the neighbours' counters and a controller then read.
    public var colourPeriod: Double?

    public struct TLSFiles: Codable, Sendable, Equatable {
        /// The daemon's certificate chain (PEM).
        public var certificate: String
        /// Its private key (PEM).
        public var key: String
        /// The CA whose certificates clients must present (PEM).
        public var clientCA: String

        public init(certificate: String, key: String, clientCA: String) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }

        enum CodingKeys: String, CodingKey {
            case certificate, key
            case clientCA = "client-ca"
        }
    }

    enum CodingKeys: String, CodingKey {
        case socket, listen, tls, insecure, eclat, metrics, netns, instance, monitoring
        case maxRequestBytes = "max-request-bytes"
        case colourPeriod = "colour-period"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DaemonConfiguration()
        socket = try c.decodeIfPresent(String.self, forKey: .socket) ?? defaults.socket
        listen = try c.decodeIfPresent(String.self, forKey: .listen)
        tls = try c.decodeIfPresent(TLSFiles.self, forKey: .tls)
        insecure = try c.decodeIfPresent(Bool.self, forKey: .insecure) ?? false
        eclat = try c.decodeIfPresent(String.self, forKey: .eclat)
        metrics = try c.decodeIfPresent(String.self, forKey: .metrics)
        netns = try c.decodeIfPresent(String.self, forKey: .netns)
        instance = try c.decodeIfPresent(String.self, forKey: .instance) ?? defaults.instance
        maxRequestBytes = try c.decodeIfPresent(Int.self, forKey: .maxRequestBytes) ?? defaults.maxRequestBytes
        monitoring = try c.decodeIfPresent(MonitoringLoop.Settings.self, forKey: .monitoring)
        colourPeriod = try c.decodeIfPresent(Double.self, forKey: .colourPeriod)
    }

    /// Reads a configuration file; an unknown key or a wrong type is an error naming the file.
    public static func read(_ path: String) throws(DaemonError) -> DaemonConfiguration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .configuration("cannot read the configuration file \(path)")
        }
        do {
            let node = try Yams.compose(yaml: text)
            if case .mapping(let mapping)? = node {
                let known = Set(CodingKeys.allKeys)
                for key in mapping.keys { if let name = key.string, !known.contains(name) {
                    throw DaemonError.configuration("\(path):\(key.mark.map { "\($0.line):\($0.column)" } ?? "1:1"): unknown key '\(name)' (known: \(known.sorted().joined(separator: ", ")))")
                } }
            }
            return try YAMLDecoder().decode(DaemonConfiguration.self, from: text)
        } catch let error as DaemonError {
            throw error
        } catch {
            throw .configuration("\(path): \(error)")
        }
    }

    /// The listeners this configuration asks for, checked: a plaintext TCP listener needs insecure,
    /// TLS files must exist, addresses must parse.
    public func check() throws(DaemonError) {
        guard !socket.isEmpty, socket.hasPrefix("/") else { throw .configuration("socket '\(socket)': give an absolute path") }
        if let listen {
            _ = try ListenAddress(listen)
            if tls == nil && !insecure {
                throw .configuration("listen \(listen) without TLS: give --tls-cert, --tls-key and --tls-client-ca (mutual TLS), or --insecure to accept plaintext connections that anyone who reaches the port can use to change the data plane")
            }
        }
        if let eclat {
            _ = try ListenAddress(eclat, defaultHost: "::")
            if tls == nil && !insecure {
                throw .configuration("eclat \(eclat) is plaintext, as eclatd was: add --insecure to accept connections that anyone who reaches the port can use to change the data plane (or give TLS files)")
            }
        }
        if let metrics { _ = try ListenAddress(metrics) }
        if let tls {
            for (what, path) in [("--tls-cert", tls.certificate), ("--tls-key", tls.key), ("--tls-client-ca", tls.clientCA)]
            where !FileManager.default.isReadableFile(atPath: path) {
                throw .configuration("\(what) \(path): no such readable file")
            }
        }
        guard (1024...(256 << 20)).contains(maxRequestBytes) else {
            throw .configuration("max-request-bytes \(maxRequestBytes): give 1024 to \(256 << 20)")
        }
        guard !instance.isEmpty, !instance.contains("/") else { throw .configuration("instance '\(instance)' is not a valid name") }
        if let monitoring {
            guard metrics != nil else { throw .configuration("monitoring: the loss and delay it measures go to the metrics: give metrics too") }
            do { try monitoring.check() } catch { throw .configuration("monitoring: \(error)") }
        }
        if let colourPeriod {
            guard colourPeriod.isFinite, (0.01...86_400).contains(colourPeriod) else {
                throw .configuration("colour-period \(colourPeriod): give 0.01–86400 seconds")
            }
            if monitoring?.ingress == instance {
                throw .configuration("colour-period: monitoring's collector already flips instance '\(instance)' (its ingress): give one of them")
            }
        }
    }
}

extension CodingKey where Self: CaseIterable {
    static var allKeys: [String] { allCases.map(\.stringValue) }
}
extension DaemonConfiguration.CodingKeys: CaseIterable {}

/// A TCP address to listen on: HOST:PORT, [IPV6]:PORT, :PORT (all addresses) or, where a default
/// host is given, PORT.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(_ text: String, defaultHost: String? = nil) throws(DaemonError) {
        if let defaultHost, !text.contains(":") {
            guard let number = Int(text), (0...65535).contains(number) else {
                throw .configuration("'\(text)': the port must be a number 0–65535")
            }
            (host, port) = (defaultHost, number)
            return
        }
        do {
            (host, port) = try HostPort.split(text, example: 50051)
        } catch {
            throw .configuration(error.description)
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
