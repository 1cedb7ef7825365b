import BPFKit
import Foundation
import NetKit
import SRv6

/// The service layer of hike wing: every change to a host's wing data plane is one call here,
/// done whole or not at all. The CLI, the testbed and the tests call it.
public enum WingHost {
    /// The tc filter wing_egress is attached as (clsact egress).
    static let tcHandle: UInt32 = 0x57
    static let tcPriority: UInt32 = 0x57

    /// Starts a client on site: every configured application's path pushed at tc egress, SRHs
    /// for this host removed and DNS answers mapped at XDP ingress. With microSIDs, each path's
    /// runs of uN SIDs of one block go as NEXT-C-SID containers.
    @discardableResult
    public static func startClient(_ configuration: WingConfiguration, on site: WingSite, xdpMode: XDPMode = .native,
                                   configFile: String? = nil, microSIDs: MicroSIDFormat? = nil) throws(WingError) -> WingStatus {
        let services = configuration.services.map {
            WingRecord.Service(id: $0.id, name: $0.name, domainName: $0.domainName)
        }
        var record = WingRecord(role: .client, xdpMode: xdpMode.rawValue, tcHandle: tcHandle, tcPriority: tcPriority,
                                interfaceIndex: 0, services: services, configFile: configFile, flowIdleSeconds: 0,
                                hawkeye: configuration.hawkeye.map { "[\($0.address)]:\($0.port)" },
                                microSIDs: microSIDs.map { WingRecord.MicroSIDs(blockBits: $0.blockBits, nodeBits: $0.nodeBits) })
        try start(on: site, record: &record, extraLocal: configuration.clientAddress.map { [$0] } ?? []) { object in
            try object.configure(WingConfigEntry(flags: WingABI.dnsFlag, flowIdleSeconds: 0))
            try object.addServices(configuration, microSIDs: microSIDs)
        }
        return try status(of: site)
    }

    /// Starts a server on site: flows' paths learned from incoming SRHs, replies sent back along
    /// them; a flow idle for flowIdleSeconds is forgotten (0: never), at most WingABI.flowsMax.
    /// With microSIDs (16-bit C-SIDs), a learned uSID container has its C-SIDs reversed too, so
    /// the replies visit its nodes backwards.
    @discardableResult
    public static func startServer(on site: WingSite, xdpMode: XDPMode = .native, flowIdleSeconds: UInt32 = 300,
                                   microSIDs: MicroSIDFormat? = nil) throws(WingError) -> WingStatus {
        let blockWords = try microSIDs.map(reversibleBlockWords) ?? 0
        var record = WingRecord(role: .server, xdpMode: xdpMode.rawValue, tcHandle: tcHandle, tcPriority: tcPriority,
                                interfaceIndex: 0, services: [], configFile: nil, flowIdleSeconds: flowIdleSeconds,
                                hawkeye: nil, microSIDs: microSIDs.map { WingRecord.MicroSIDs(blockBits: $0.blockBits, nodeBits: $0.nodeBits) })
        try start(on: site, record: &record, extraLocal: []) { object in
            try object.configure(WingConfigEntry(flags: WingABI.learnFlag, flowIdleSeconds: flowIdleSeconds, usidBlockWords: blockWords))
        }
        return try status(of: site)
    }

    /// The block of a uSID format the server reverses containers of, in 16-bit words: the C-SIDs
    /// must be 16 bits (the uSID of RFC 9800) and the block a multiple of them.
    public static func reversibleBlockWords(_ format: MicroSIDFormat) throws(WingError) -> UInt32 {
        guard format.nodeBits == 16, format.blockBits % 16 == 0, (16...96).contains(format.blockBits) else {
            throw .invalidArgument("a server reverses uSID containers of 16-bit C-SIDs after a block of 16–96 bits "
                + "in steps of 16 (like 32/16), not \(format.blockBits)/\(format.nodeBits)")
        }
        return UInt32(format.blockBits / 16)
    }

    /// Detaches both programs and removes the pins and the record. When the namespace or the
    /// interface is gone, so are the attachments: only the pins and the record are left to remove.
    public static func stop(_ site: WingSite) throws(WingError) {
        let record = try WingRecord.read(site)
        var problems: [String] = []
        if site.interfaceExists {
            do {
                try site.run {
                    try TCAttachment(interfaceIndex: record.interfaceIndex, direction: .egress, handle: record.tcHandle,
                                     priority: record.tcPriority).detach()
                }
            } catch {
                problems.append("\(error)")
            }
            do {
                try XDPLink.openPinned(site.linkPin).detach()
            } catch {
                problems.append("\(error)")
            }
        }
        try? FileManager.default.removeItem(atPath: site.recordFile)
        removePins(site)
        if !problems.isEmpty {
            throw .kernel("stopped hike wing on \(site) (pins and record removed), but: " + problems.joined(separator: "; "))
        }
    }

    /// Sets (or, with no segments, removes) the path of one application of a client's service:
    /// what a controller's answer changes. The next packet takes it.
    public static func setPath(on site: WingSite, service: UInt32, port: UInt16, segments: [IPv6Address],
                               encapsulate: Bool = false) throws(WingError) {
        let format = try WingRecord.read(site).microSIDs?.format()
        let packed = try WingObject.packed(segments, format)
        guard packed.count <= WingABI.segmentsMax else {
            throw .state("a path holds at most \(WingABI.segmentsMax) SIDs, not \(packed.count)")
        }
        do {
            let apps = try TypedMap<WingAppKey, WingPathEntry>(BPFMap.openPinned(site.mapPin(WingABI.appsMap)))
            let key = WingAppKey(service: service, port: port)
            if packed.isEmpty {
                _ = try apps.delete(key)
            } else {
                try apps.update(key, WingPathEntry(traversal: packed, encapsulate: encapsulate))
            }
        } catch {
            throw .kernel("set the path of service \(service) port \(port) on \(site): \(error)")
        }
    }

    /// What a controller session of a running client needs: its configuration, read again
    /// from the file its record names, and the controller that configuration enables.
    public static func controllerSettings(of site: WingSite) throws(WingError) -> (configuration: WingConfiguration,
                                                                                   controller: HawkEyeEndpoint) {
        let record = try WingRecord.read(site)
        guard record.role == .client, let file = record.configFile else {
            throw .state("\(site) runs a wing \(record.role.rawValue) without a configuration file: only a client asks a controller")
        }
        let configuration = try WingConfiguration.load(file: file)
        guard let controller = configuration.hawkeye else {
            throw .state("\(file) does not enable hawkeye: the client keeps its static sid lists")
        }
        return (configuration, controller)
    }

    /// The address a client asks the controller for paths from: `client_ipv6_address`, or the
    /// interface's first global IPv6 address (HawkWing's rule).
    public static func sourceAddress(_ configuration: WingConfiguration, on site: WingSite) throws(WingError) -> IPv6Address {
        if let address = configuration.clientAddress { return address }
        let addresses: [InterfaceAddress]
        do {
            addresses = try NetworkStack(namespaceNamed: site.namespace).addresses()[site.interface] ?? []
        } catch {
            throw .kernel("read the addresses of \(site): \(error)")
        }
        // Global: not link-local (fe80::/10).
        guard let global = addresses.first(where: { $0.family == AF_INET6 && !($0.bytes[0] == 0xfe && $0.bytes[1] & 0xc0 == 0x80) }) else {
            throw .state("\(site) has no global IPv6 address to ask the controller from: set client_ipv6_address")
        }
        return IPv6Address(unchecked: global.bytes)
    }

    /// The destination addresses of each service now: configured, or from DNS answers.
    public static func serviceAddresses(_ site: WingSite) throws(WingError) -> [UInt32: [IPv6Address]] {
        do {
            var addresses: [UInt32: [IPv6Address]] = [:]
            for (key, value) in try BPFMap.openPinned(site.mapPin(WingABI.servicesMap)).entries()
            where key.count == 16 && value.count == 4 {
                addresses[value.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }, default: []].append(IPv6Address(unchecked: key))
            }
            return addresses
        } catch {
            throw .kernel("read the services of \(site): \(error)")
        }
    }

    // MARK: - Start, whole or not at all

    private static func start(on site: WingSite, record: inout WingRecord, extraLocal: [IPv6Address],
                              fill: (WingObject) throws -> Void) throws(WingError) {
        if FileManager.default.fileExists(atPath: site.recordFile) {
            throw .state("hike wing already serves \(site); stop it first (`hike wing stop -i \(site.interface)`)")
        }
        // Pins without a record are what a start that crashed left: nothing serves them.
        removePins(site)
        var xdp: XDPLink?
        var tc: TCAttachment?
        do {
            _ = try BPFFileSystem.ensureMounted()
            let stack = try NetworkStack(namespaceNamed: site.namespace)
            record.interfaceIndex = try stack.interfaceIndex(site.interface)
            let wing = try WingObject()
            let object = wing.object
            try wing.addLocal(try stack.addresses().values.joined().filter { $0.family == AF_INET6 }
                .map { IPv6Address(unchecked: $0.bytes) } + extraLocal)
            try fill(wing)
            let mode: XDPMode = XDPMode(rawValue: record.xdpMode) ?? .native
            let index = record.interfaceIndex
            xdp = try site.run { try XDPLink.attach(object.program(WingABI.ingressProgram), interfaceIndex: index, mode: mode) }
            tc = try site.run {
                try TCAttachment.attach(object.program(WingABI.egressProgram), interfaceIndex: index, direction: .egress,
                                        handle: tcHandle, priority: tcPriority)
            }
            try BPFFileSystem.makeDirectories(site.pinDirectory)
            for name in WingABI.maps { try object.map(name).pin(at: site.mapPin(name)) }
            try xdp?.pin(at: site.linkPin)
            try record.write(to: site)
        } catch {
            if let tc { try? site.run { try tc.detach() } }
            try? xdp?.detach()
            try? FileManager.default.removeItem(atPath: site.recordFile)
            removePins(site)
            if let error = error as? WingError { throw error }
            throw .kernel("start hike wing \(record.role.rawValue) on \(site): \(error)")
        }
    }

    /// Removes the pins and the directories left empty (the record goes first).
    private static func removePins(_ site: WingSite) {
        for name in WingABI.maps { try? BPFMap.unpin(site.mapPin(name)) }
        try? FileManager.default.removeItem(atPath: site.linkPin)
        try? FileManager.default.removeItem(atPath: site.pinDirectory)
        // The namespace's directories go with their last site.
        for directory in [(site.pinDirectory as NSString).deletingLastPathComponent,
                          (site.recordFile as NSString).deletingLastPathComponent]
        where (try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty == true {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}

/// The wing object loaded and its maps filled, not attached: what a start attaches and pins, and
/// what the tests run packets through.
struct WingObject {
    let object: BPFObject

    init() throws {
        object = try BPFObject(bytes: WingABI.objectBytes, name: "wing")
    }

    func configure(_ entry: WingConfigEntry) throws {
        try TypedMap<UInt32, WingConfigEntry>(object.map(WingABI.configMap)).update(0, entry)
    }

    /// The host's addresses: an SRH is removed only from packets to one of them.
    func addLocal(_ addresses: [IPv6Address]) throws {
        let local = try object.map(WingABI.localMap)
        for address in Set(addresses) { try local.update(key: address.bytes, value: [1]) }
    }

    /// segments with the runs of uN SIDs packed into containers when a format is given.
    static func packed(_ segments: [IPv6Address], _ format: MicroSIDFormat?) throws(WingError) -> [IPv6Address] {
        guard let format else { return segments }
        do {
            return try format.pack(segments)
        } catch {
            throw .state("pack \(segments.map(\.description).joined(separator: ", ")) as uSIDs (\(format)): \(error)")
        }
    }

    /// Each service's addresses and domain name, and its applications' static paths.
    func addServices(_ configuration: WingConfiguration, microSIDs: MicroSIDFormat? = nil) throws {
        let services = try object.map(WingABI.servicesMap)
        let dns = try object.map(WingABI.dnsMap)
        let apps = try TypedMap<WingAppKey, WingPathEntry>(object.map(WingABI.appsMap))
        for service in configuration.services {
            for address in service.addresses {
                try services.update(key: address.bytes, value: BPFMap.bytesOf(service.id))
            }
            if let domain = service.domainName {
                guard let name = WingDNSName(domain: domain) else {
                    throw WingError.state("service \(service.name): '\(domain)' is not a DNS name")
                }
                try dns.update(key: name.bytes, value: BPFMap.bytesOf(service.id))
            }
            for application in service.applications where !application.segments.isEmpty {
                try apps.update(WingAppKey(service: service.id, port: application.port),
                                WingPathEntry(traversal: Self.packed(application.segments, microSIDs),
                                              encapsulate: application.encapsulate))
            }
        }
    }
}
