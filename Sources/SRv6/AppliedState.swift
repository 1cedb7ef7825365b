import Foundation
import NetKit

/// What `hike srv6 apply` last installed in an instance, kept beside the instance's registry
/// (`/run/hike/<instance>/srv6.json`) so that the next apply changes only what differs and
/// `show` can name the counters.
public struct AppliedState: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        /// The LPM key: a local SID prefix or a policy destination.
        public var prefix: String
        /// The index in srv6_sids or srv6_policies (the program's argument).
        public var index: UInt32
        /// The chain the loader's LPM entry points at.
        public var chain: String
        /// The program the chain calls.
        public var program: String
        /// The map value, hex: equal values mean nothing to change.
        public var value: String
        /// The behaviour and its arguments, for people.
        public var summary: String
        /// The kernel mirror route, if any.
        public var kernelRoute: Route?
    }

    public var namespace: String?
    public var interfaces: [String] = []
    public var genericXDP = false
    /// Whether the entries are mirrored as kernel routes, and why (ApplyPlan.kernelRoutes).
    public var kernelRoutes: String?
    public var sids: [Entry] = []
    public var policies: [Entry] = []

    public init() {}

    static func path(for stateDirectory: String) -> String { "\(stateDirectory)/srv6.json" }

    static func read(stateDirectory: String) throws(SRv6Error) -> AppliedState {
        let path = path(for: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return AppliedState() }
        do {
            return try JSONDecoder().decode(AppliedState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .state("\(path) is unreadable (\(error)); hike srv6 cannot tell what it installed: reset the instance")
        }
    }

    /// Writes the file whole or not at all (a temporary file renamed over the old one).
    func write(stateDirectory: String) throws(SRv6Error) {
        let path = Self.path(for: stateDirectory)
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let temporary = path + ".tmp"
            try encoder.encode(self).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw SRv6Error.state("cannot rename \(temporary): errno \(errno)") }
        } catch let error as SRv6Error {
            throw error
        } catch {
            throw .state("cannot write \(path): \(error)")
        }
    }
}
