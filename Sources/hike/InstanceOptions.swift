import ArgumentParser
import BPFKit
import Daemon
import HikeRPC
import Foundation
import HikeErrors
import HikeRuntime
import HikeVM

/// `--instance NAME`, shared by every command that manages a HIKe instance.
struct InstanceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The HIKe instance to manage: its pins live under /sys/fs/bpf/hike/NAME, its registry under /run/hike/NAME.",
        valueName: "name"))
    var instance = "default"

    @Option(help: ArgumentHelp(
        "Ask the hike daemon there instead of changing this machine: unix:PATH, HOST:PORT, or a node of --nodes by name.",
        valueName: "address"))
    var connect: String?

    @Option(help: ArgumentHelp("The node inventory that --connect NAME looks up.", valueName: "file"))
    var nodes = "/etc/hike/nodes.yaml"

    @Option(help: ArgumentHelp("With --connect HOST:PORT: the CA that signed the daemon's certificate (mutual TLS).", valueName: "file"))
    var tlsCA: String?

    @Option(help: ArgumentHelp("With --connect HOST:PORT: this client's certificate (PEM).", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("With --connect HOST:PORT: this client's private key (PEM).", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("With --connect and TLS: the name the daemon's certificate must carry (default: the host).", valueName: "name"))
    var tlsServerName: String?

    /// The instance on this machine, for the commands that only work here (clock, pm flip,
    /// pm loss): they refuse --connect rather than ignore it.
    func open() throws -> HikeInstance {
        if let connect {
            throw CommandLineError("--connect \(connect): this command works on this machine's instances only "
                                   + "(the node commands take --connect: see docs/daemon.md)")
        }
        return try HikeInstance(name: instance)
    }

    func validate() throws {
        guard !instance.isEmpty, !instance.contains("/"), instance != ".", instance != ".." else {
            throw ValidationError("--instance '\(instance)' is not a valid name: use letters, digits, '-' or '_'")
        }
        let tlsFiles = [tlsCA, tlsCert, tlsKey].compactMap { $0 }
        if !tlsFiles.isEmpty || tlsServerName != nil {
            guard connect != nil else { throw ValidationError("--tls-ca, --tls-cert, --tls-key and --tls-server-name go with --connect") }
            guard tlsFiles.count == 3 else { throw ValidationError("mutual TLS needs all three of --tls-ca, --tls-cert and --tls-key") }
        }
    }

    /// The request's target: this instance, in JSON or not.
    func target(json: Bool = false) -> Hike_V1_Target {
        .with {
            $0.instance = instance
            $0.json = json
        }
    }

    /// The daemon --connect names, or nil to work in-process.
    func daemon() throws -> DaemonAddress? {
        guard let connect else { return nil }
        let tls = tlsCA.map { DaemonAddress.ClientTLS(ca: $0, certificate: tlsCert ?? "", key: tlsKey ?? "", serverName: tlsServerName) }
        if connect.hasPrefix("unix:") || connect.contains(":") { return try DaemonAddress(connect, tls: tls) }
        var address = try NodeInventory.read(nodes).address(of: connect, file: nodes)
        if let tls { address.tls = tls }
        return address
    }

    /// As execute, again every interval, printing each time the output changed (the first time
    /// always), until interrupted: a read of counters watched here or through the daemon.
    func execute(_ operation: NodeOperation, watch interval: Duration?) async throws {
        guard let interval else { return try await execute(operation) }
        guard let request = operation.watch(every: interval) else {
            throw CommandLineError("--watch: this command reads nothing that changes")
        }
        if let address = try daemon() {
            try await NodeClient.watch(request, at: address) { output in Self.print(output) }
            return
        }
        var last: NodeOutput?
        while true {
            let output: NodeOutput
            do {
                output = try CommandExecutor().execute(operation)
            } catch {
                throw NodeClient.Refusal(code: .failedPrecondition, text: error.text)
            }
            if output != last { Self.print(output) }
            last = output
            try await Task.sleep(for: interval)
        }
    }

    static func print(_ output: NodeOutput) {
        for warning in output.warnings { Terminal.warning(warning) }
        if !output.text.isEmpty { FileHandle.standardOutput.write(Data(output.text.utf8)) }
    }

    /// Runs an operation here or on the daemon --connect names, and prints what it printed.
    func execute(_ operation: NodeOperation) async throws {
        guard let address = try daemon() else {
            try CommandExecutor.perform(operation)
            return
        }
        Self.print(try await NodeClient.execute(operation, at: address))
    }
}

/// `--watch SECONDS`, for the reads of counters.
struct WatchOption: ParsableArguments {
    @Option(help: ArgumentHelp("Read again every SECONDS (0.1–3600) and print each time the output changed, until interrupted.",
                               valueName: "seconds"))
    var watch: Double?

    func validate() throws {
        if let watch, !(watch.isFinite && (0.1...3600).contains(watch)) {
            throw ValidationError("--watch \(watch): give 0.1 to 3600 seconds")
        }
    }

    var interval: Duration? { watch.map { .milliseconds(Int64(($0 * 1000).rounded())) } }
}

/// `-j/--json`, shared by the listings.
struct JSONOption: ParsableArguments {
    @Flag(name: [.short, .long], help: "Print JSON (stable keys) instead of a table.")
    var json = false
}

/// An error of the command line itself (not of the kernel or the runtime): printed as
/// `error: …` with exit status 1.
struct CommandLineError: HikeError {
    let message: String
    var code: String { "cli" }
    var description: String { message }
    init(_ message: String) { self.message = message }
}

extension Terminal {
    /// Prints diagnostics that carry their own `file:line:col: error:` prefixes and exits with 1.
    static func failDiagnostics(_ text: String) -> Never {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
        exit(1)
    }

    static func warning(_ text: String) {
        if let capture = OutputCapture.current {
            capture.warn(text)
        } else {
            errorLine("warning: \(text)")
        }
    }
}

/// A table with a header row and columns aligned to their widest cell.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []
    /// Columns whose cells are right-aligned (numbers).
    var rightAligned: Set<Int> = []

    init(_ headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    mutating func append(_ row: [String]) {
        rows.append(row)
    }

    func render() -> String {
        let all = [headers] + rows
        let widths = headers.indices.map { column in
            all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0
        }
        return all.map { row in
            var cells: [String] = []
            for column in headers.indices {
                let text = row.indices.contains(column) ? row[column] : ""
                let padding = String(repeating: " ", count: widths[column] - text.count)
                let isLast = column == headers.count - 1
                if rightAligned.contains(column) {
                    cells.append(padding + text)
                } else {
                    cells.append(isLast ? text : text + padding)
                }
            }
            var line = cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}

/// Formatting shared by the commands.
enum Format {
    static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    static func hexBytes(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func list(_ items: [String]) -> String { items.isEmpty ? "-" : items.joined(separator: ", ") }

    static func date(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone.current
        return formatter.string(from: date)
    }

    /// A date with milliseconds, for events.
    static func preciseDate(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone.current
        return formatter.string(from: date)
    }

    static func verdict(_ value: UInt32) -> String {
        switch value {
        case ABI.xdpAborted: "aborted"
        case ABI.xdpDrop: "drop"
        case ABI.xdpPass: "pass"
        case ABI.xdpTX: "tx"
        case ABI.xdpRedirect: "redirect"
        case ABI.hikeXDPVM: "vm"
        default: String(value)
        }
    }

    static func plural(_ count: Int, _ word: String) -> String {
        "\(count) \(word)\(count == 1 ? "" : "s")"
    }
}

/// What a HIKe instance knows by name: the registry's programs and chains, both ways.
struct Names {
    let byID: [UInt32: String]

    init(_ registry: Registry) {
        var names: [UInt32: String] = [:]
        for record in registry.programs.values { names[record.id] = record.name }
        for record in registry.chains.values { names[record.id] = record.name }
        byID = names
    }

    /// The chain's name, or its ID in hex when no installed chain has it.
    func chain(_ id: UInt32) -> String {
        byID[id] ?? (id == 0 ? "-" : Format.hex(id))
    }
}

extension HikeInstance {
    /// Whether any HIKe object has been loaded (the VM's maps are pinned).
    var hasVM: Bool {
        FileManager.default.fileExists(atPath: "\(pinRoot)/vm/hvm_chains")
    }
}

/// An Encodable value that writes `null` for nil, so JSON keys stay the same from one run to
/// the next (JSONEncoder leaves nil optionals out).
struct Nullable<Wrapped: Encodable>: Encodable {
    let value: Wrapped?

    init(_ value: Wrapped?) { self.value = value }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}
