import ArgumentParser
import BPFKit
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

    func open() throws -> HikeInstance {
        try HikeInstance(name: instance)
    }

    func validate() throws {
        guard !instance.isEmpty, !instance.contains("/"), instance != ".", instance != ".." else {
            throw ValidationError("--instance '\(instance)' is not a valid name: use letters, digits, '-' or '_'")
        }
    }
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
        errorLine("warning: \(text)")
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
