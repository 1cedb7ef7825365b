import BPFKit
import Foundation
import HikeErrors
import HikeRuntime
import NetKit

/// The instance's fastdrop list (docs/packages.md "fastdrop") and what its counters say.
public struct FastDropStatus: Sendable, Codable {
    public struct Prefix: Sendable, Codable {
        public var prefix: String
        /// false: an exception inside a shorter listed prefix.
        public var drop: Bool
    }

    public var prefixes: [Prefix]
    public var dropped: PacketCounter
    public var passed: PacketCounter
    public var notIP: PacketCounter

    init(_ list: FastDropList, counters: (dropped: PacketCounter, passed: PacketCounter, notIP: PacketCounter)) {
        prefixes = list.entries.map { Prefix(prefix: $0.prefix.description, drop: $0.drop) }
        (dropped, passed, notIP) = counters
    }
}

extension DataPlane {
    /// A list file: one prefix per line (`203.0.113.0/24`, `2001:db8::/32`, a bare address is
    /// a /32 or /128), `!PREFIX` for an exception, `#` comments. Every line is checked first.
    public static func parseFastDropList(_ source: SourceText) throws(ControlError) -> FastDropList {
        var entries: [FastDropList.Entry] = []
        var seen: [DestinationPrefix: Int] = [:]
        for (number, raw) in source.text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            let exception = line.hasPrefix("!")
            let text = exception ? String(line.dropFirst()).trimmingCharacters(in: .whitespaces) : line
            let position = SourcePosition(file: source.file, line: number + 1)
            let prefix: DestinationPrefix
            do { prefix = try DestinationPrefix(parsing: text) } catch {
                throw .invalid("\(source.file):\(number + 1): \(error.message)", code: "fastdrop.prefix", position: position)
            }
            if let earlier = seen[prefix] {
                throw .invalid("\(source.file):\(number + 1): \(prefix) is already listed at line \(earlier)", code: "fastdrop.prefix",
                               position: position)
            }
            seen[prefix] = number + 1
            entries.append(FastDropList.Entry(prefix: prefix, drop: !exception))
        }
        guard entries.count <= FastDropList.capacity else {
            throw .invalid("\(source.file): \(entries.count) prefixes; the list holds at most \(FastDropList.capacity)", code: "fastdrop.too-many")
        }
        return FastDropList(entries)
    }

    /// The list and the counters.
    public func fastDropStatus() throws(ControlError) -> FastDropStatus {
        try ControlError.wrapping { FastDropStatus(try FastDropList.read(from: instance), counters: try FastDropList.counters(instance)) }
    }

    /// Makes `list` the instance's list (the trie and the IPv4 index).
    public func applyFastDrop(_ list: FastDropList) throws(ControlError) -> FastDropStatus {
        try ControlError.wrapping {
            try list.apply(to: instance)
            return FastDropStatus(try FastDropList.read(from: instance), counters: try FastDropList.counters(instance))
        }
    }

    /// Rebuilds the IPv4 index from the trie (after `hike map update fastdrop_prefixes`).
    public func syncFastDrop() throws(ControlError) -> FastDropStatus {
        try ControlError.wrapping { FastDropStatus(try FastDropList.sync(instance), counters: try FastDropList.counters(instance)) }
    }
}
