import ArgumentParser
import Daemon
import Foundation
import HikeRPC
import HikeRuntime
import Logging

/// `hike daemon`: serves this machine's data plane over gRPC (hike.v1 and eclatd's Eclat) and
/// Prometheus, until SIGTERM. `hike info` asks a node what it runs.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Serve this machine's data plane to remote clients: gRPC (hike.v1, eclatd's Eclat) and Prometheus /metrics.",
        discussion: """
            Listens on a root-only unix socket (default /run/hike/hike.sock, mode 0600); with \
            --listen also on TCP, with mutual TLS (--tls-cert, --tls-key, --tls-client-ca) or, \
            when --insecure says so, in plaintext. --eclat serves eclatd's service where the \
            original eclat client expects it (port 50051). The node commands (prog, chain, load, \
            loader, map, faults, srv6, pm flow, …) take --connect ADDRESS to run against a daemon \
            and print the same as they do here. \
            The data plane does not depend on the daemon: it keeps forwarding while the daemon is \
            stopped, and a new daemon serves what is pinned. SIGTERM or SIGINT stop it gracefully. \
            Logs go to stderr (one line per change and per refused request). See docs/daemon.md.
            """
    )

    @Option(help: ArgumentHelp("A YAML configuration file; the options below override it (see docs/daemon.md).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("The unix socket (default /run/hike/hike.sock).", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Also listen on TCP: HOST:PORT, [IPV6]:PORT or :PORT.", valueName: "address"))
    var listen: String?

    @Option(help: ArgumentHelp("The daemon's certificate chain (PEM), for --listen and --eclat.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The daemon's private key (PEM).", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("The CA clients' certificates must be signed by (PEM): mutual TLS.", valueName: "file"))
    var tlsClientCA: String?

    @Flag(help: "Accept plaintext TCP on --listen and --eclat: anyone who reaches the port can change the data plane.")
    var insecure = false

    @Option(help: ArgumentHelp("Serve eclatd's Eclat service (and hike.v1) on TCP: PORT or HOST:PORT (eclat's is 50051).", valueName: "address"))
    var eclat: String?

    @Option(help: ArgumentHelp("Serve Prometheus metrics at http://ADDRESS/metrics: HOST:PORT.", valueName: "address"))
    var metrics: String?

    @Option(help: ArgumentHelp("The network namespace of the TCP listeners and of Eclat scripts' devices.", valueName: "name"))
    var netns: String?

    @Option(help: ArgumentHelp("The instance Eclat requests and the metrics use (default: default).", valueName: "name"))
    var instance: String?

    @Option(help: ArgumentHelp("The largest request accepted, in bytes (default 4194304).", valueName: "bytes"))
    var maxRequestBytes: Int?

    @Option(help: ArgumentHelp("Flip the instance's colour every that many seconds: the sending side of link monitoring (hike pm link), which a controller reads.", valueName: "seconds"))
    var colourPeriod: Double?

    /// The file's configuration with the flags over it, checked.
    func configuration() throws -> DaemonConfiguration {
        var configuration = try config.map { try DaemonConfiguration.read($0) } ?? DaemonConfiguration()
        if let socket { configuration.socket = socket }
        if let listen { configuration.listen = listen }
        let files = [tlsCert, tlsKey, tlsClientCA].compactMap { $0 }
        if !files.isEmpty {
            guard let tlsCert, let tlsKey, let tlsClientCA else {
                throw ValidationError("mutual TLS needs all three of --tls-cert, --tls-key and --tls-client-ca")
            }
            configuration.tls = .init(certificate: tlsCert, key: tlsKey, clientCA: tlsClientCA)
        }
        if insecure { configuration.insecure = true }
        if let eclat { configuration.eclat = eclat }
        if let metrics { configuration.metrics = metrics }
        if let netns { configuration.netns = netns }
        if let instance { configuration.instance = instance }
        if let maxRequestBytes { configuration.maxRequestBytes = maxRequestBytes }
        if let colourPeriod { configuration.colourPeriod = colourPeriod }
        try configuration.check()
        return configuration
    }

    mutating func run() async throws {
        let configuration = try configuration()
        var logger = Logger(label: "hike.daemon")
        logger.logLevel = .info
        let daemon = try HikeDaemon(configuration: configuration, executor: CommandExecutor(), logger: logger)
        try await daemon.run { endpoints in
            // One line a supervisor (or a test) can wait for.
            Terminal.line("hike daemon \(HikeVersion.current) listening: \(endpoints)")
        }
    }

    /// What `hike info` prints.
    struct Info: Encodable {
        let version: String
        let instance: String
        let kernel: String
        let hostname: String
        let loaded: Bool
    }

    static func info(_ request: Hike_V1_InfoRequest) throws {
        let hike = try request.target.open()
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let info = Info(version: HikeVersion.current, instance: hike.name, kernel: release,
                        hostname: ProcessInfo.processInfo.hostName, loaded: hike.hasVM)
        if request.target.json {
            Terminal.line(try Terminal.json(info))
        } else {
            Terminal.line("hike \(info.version) on \(info.hostname) (kernel \(info.kernel)), instance '\(info.instance)': "
                          + (info.loaded ? "loaded" : "nothing loaded"))
        }
    }
}

/// `hike info`: which hike a node runs, on which kernel.
struct InfoCommand: NodeCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print the hike version, kernel and instance of this machine or of the daemon --connect names."
    )

    @OptionGroup var instance: InstanceOptions
    @OptionGroup var output: JSONOption

    func operation() throws -> NodeOperation {
        .info(.with { $0.target = instance.target(json: output.json) })
    }
}
