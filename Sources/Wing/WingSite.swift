import BPFKit
import Foundation
import NetKit
import SRv6

/// What `hike wing` runs on an interface.
public enum WingRole: String, Sendable, Codable, CaseIterable {
    /// Pushes each configured application's path; maps DNS answers to services.
    case client
    /// Learns each client flow's path from its SRH and sends the replies back along it.
    case server
}

/// One interface served by hike wing: where its state lives. The maps and the XDP link are
/// pinned under /sys/fs/bpf/hike-wing/<namespace>/<interface>/ (the data plane outlives the
/// process), the record (role, services' names, tc filter) is /run/hike-wing/<namespace>/<interface>.json;
/// `-` stands for hike's own namespace.
public struct WingSite: Sendable, Hashable, Codable, CustomStringConvertible {
    public let namespace: String?
    public let interface: String

    public init(interface: String, namespace: String? = nil) {
        self.interface = interface
        self.namespace = namespace
    }

    public var description: String { namespace.map { "\(interface) in namespace \($0)" } ?? interface }

    static let pinRoot = BPFFileSystem.defaultMountPoint + "/hike-wing"
    static let recordRoot = "/run/hike-wing"

    private var namespaceKey: String { namespace ?? "-" }
    /// bpffs refuses '.' in names (and interface names may have one, eth0.100).
    private var pinName: String { interface.replacingOccurrences(of: ".", with: ":") }

    var pinDirectory: String { "\(Self.pinRoot)/\(namespaceKey.replacingOccurrences(of: ".", with: ":"))/\(pinName)" }
    var recordFile: String { "\(Self.recordRoot)/\(namespaceKey)/\(interface).json" }
    var linkPin: String { "\(pinDirectory)/xdp_link" }
    func mapPin(_ name: String) -> String { "\(pinDirectory)/\(name)" }

    /// Every site with a record, sorted.
    public static func all() -> [WingSite] {
        let manager = FileManager.default
        let namespaces = ((try? manager.contentsOfDirectory(atPath: recordRoot)) ?? []).sorted()
        return namespaces.flatMap { namespace in
            ((try? manager.contentsOfDirectory(atPath: "\(recordRoot)/\(namespace)")) ?? []).sorted()
                .filter { $0.hasSuffix(".json") }
                .map { WingSite(interface: String($0.dropLast(5)), namespace: namespace == "-" ? nil : namespace) }
        }
    }

    /// Whether the namespace and the interface are still there.
    var interfaceExists: Bool {
        if let namespace, !FileManager.default.fileExists(atPath: "\(NetworkNamespace.directory)/\(namespace)") { return false }
        return (try? NetworkStack(namespaceNamed: namespace).interfaceIndex(interface)) != nil
    }

    /// Runs body inside the site's namespace (on a thread of its own), or here.
    func run<T>(_ body: () throws -> T) throws -> T {
        guard let namespace else { return try body() }
        return try NetworkNamespace(existing: namespace).run(body)
    }
}

/// What a site's record keeps: what the maps cannot say.
struct WingRecord: Codable, Sendable {
    struct Service: Codable, Sendable {
        var id: UInt32
        var name: String
        var domainName: String?
    }

    var role: WingRole
    var xdpMode: String
    var tcHandle: UInt32
    var tcPriority: UInt32
    var interfaceIndex: Int32
    var services: [Service]
    var configFile: String?
    var flowIdleSeconds: UInt32
    var hawkeye: String?
    /// The NEXT-C-SID format a client packs its paths with.
    var microSIDs: MicroSIDs?

    struct MicroSIDs: Codable, Sendable {
        var blockBits: Int
        var nodeBits: Int
        func format() throws(WingError) -> MicroSIDFormat {
            do {
                return try MicroSIDFormat(blockBits: blockBits, nodeBits: nodeBits)
            } catch {
                throw .state("the record's uSID format: \(error)")
            }
        }
    }

    func write(to site: WingSite) throws {
        try FileManager.default.createDirectory(atPath: (site.recordFile as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: site.recordFile), options: .atomic)
    }

    static func read(_ site: WingSite) throws(WingError) -> WingRecord {
        guard let data = FileManager.default.contents(atPath: site.recordFile) else {
            throw .state("hike wing does not serve \(site) (no \(site.recordFile)); start it with `hike wing client` or `hike wing server`")
        }
        do {
            return try JSONDecoder().decode(WingRecord.self, from: data)
        } catch {
            throw .state("\(site.recordFile) does not read: \(error)")
        }
    }
}
