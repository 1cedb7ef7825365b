import Foundation
import SRv6
import Wing
import NetKit

/// The checks a topology must pass before anything is made: every name, address and reference,
/// each reported at its place in the file.
struct TestbedValidator {
    let file: TestbedFile

    struct Problem {
        var path: [PathComponent]
        var message: String
    }

    func problems() -> [Problem] {
        var problems: [Problem] = []
        func problem(_ path: [PathComponent], _ message: String) { problems.append(Problem(path: path, message: message)) }
        let spec = file.spec

        if let name = spec.name, let issue = Self.nameIssue(name) { problem([.key("name")], "testbed name '\(name)': \(issue)") }
        if spec.nodes.isEmpty { problem([.key("nodes")], "a testbed needs at least one node") }
        for node in spec.nodes {
            if let issue = Self.nameIssue(node.name) { problem([.key("nodes"), .key(node.name)], "node name '\(node.name)': \(issue)") }
        }

        // Links: known nodes, valid and unused interface names.
        var ends: [String: Int] = [:]
        for (index, link) in spec.links.enumerated() {
            for end in [link.a, link.b] {
                let at: [PathComponent] = [.key("links"), .index(index)]
                guard spec.node(end.node) != nil else {
                    problem(at, "link end \(end): no node '\(end.node)'; nodes: \(spec.nodes.map(\.name).joined(separator: ", "))")
                    continue
                }
                if let issue = Self.interfaceIssue(end.interface) { problem(at, "link end \(end): \(issue)") }
                if end.interface == "lo" { problem(at, "link end \(end): 'lo' is the loopback, not a veth") }
                if let other = ends[end.description] {
                    problem(at, "\(end) is already an end of link \(other) (each interface joins one link)")
                }
                ends[end.description] = index
            }
        }

        for node in spec.nodes {
            let base: [PathComponent] = [.key("nodes"), .key(node.name)]
            let linked = Set(spec.links.flatMap { [$0.a, $0.b] }.filter { $0.node == node.name }.map(\.interface))
            let devices = linked.union(["lo"])
            let deviceList = devices.sorted().joined(separator: ", ")

            for sysctl in node.sysctls {
                let at = base + [.key("sysctls"), .key(sysctl.key)]
                let parts = sysctl.key.split(separator: ".", omittingEmptySubsequences: false)
                if parts.count < 2 || parts.contains(where: \.isEmpty) || sysctl.key.contains("/") || sysctl.key.contains(" ") {
                    problem(at, "'\(sysctl.key)' is not a sysctl name (like net.ipv6.conf.all.forwarding)")
                }
                if sysctl.value.isEmpty { problem(at, "sysctl \(sysctl.key) has no value") }
            }

            for interface in node.interfaces {
                let at = base + [.key("interfaces"), .key(interface.name)]
                if !devices.contains(interface.name) {
                    problem(at, "node \(node.name) has no interface '\(interface.name)': add a link to it (its interfaces: \(deviceList))")
                }
                for (index, address) in interface.addresses.enumerated() where Address.prefix(address) == nil {
                    problem(at + [.key("addresses"), .index(index)],
                            "'\(address)' is not an address with a prefix length (like cafe::1/64 or 10.0.0.1/24)")
                }
                if let mac = interface.mac {
                    if !Address.isMAC(mac) { problem(at + [.key("mac")], "'\(mac)' is not a MAC address (like 00:00:00:00:01:00)") }
                    if interface.name == "lo" { problem(at + [.key("mac")], "the loopback takes no MAC address") }
                }
                if let mtu = interface.mtu, !(68...65535).contains(mtu) {
                    problem(at + [.key("mtu")], "MTU \(mtu) is out of range (68–65535)")
                }
            }

            for (index, route) in node.routes.enumerated() {
                let at = base + [.key("routes"), .index(index)]
                for issue in Self.routeIssues(route, devices: devices) { problem(at, issue) }
            }

            for (index, neighbour) in node.neighbours.enumerated() {
                let at = base + [.key("neighbours"), .index(index)]
                if Address.family(neighbour.address) == nil { problem(at + [.key("address")], "'\(neighbour.address)' is not an IP address") }
                if !Address.isMAC(neighbour.lladdr) { problem(at + [.key("lladdr")], "'\(neighbour.lladdr)' is not a MAC address") }
                if !devices.contains(neighbour.dev) {
                    problem(at + [.key("dev")], "node \(node.name) has no interface '\(neighbour.dev)' (its interfaces: \(deviceList))")
                }
            }

            if let hike = node.hike {
                for (index, script) in hike.scripts.enumerated() {
                    let at = base + [.key("hike"), .key("scripts"), .index(index)]
                    let path = file.resolve(script.file)
                    if !FileManager.default.isReadableFile(atPath: path) {
                        problem(at + [.key("file")], "cannot read the script \(script.file) (looked at \(path))")
                    }
                    if let interface = script.interface, !devices.contains(interface) {
                        problem(at + [.key("interface")], "node \(node.name) has no interface '\(interface)' (its interfaces: \(deviceList))")
                    }
                    for define in script.defines where !Self.isIdentifier(define.key) {
                        problem(at + [.key("defines"), .key(define.key)], "-D \(define.key): not an identifier (letters, digits, '_')")
                    }
                }
                for (index, entry) in hike.maps.enumerated() where entry.map.isEmpty || entry.map.hasPrefix("/") || entry.map.contains("..") {
                    problem(base + [.key("hike"), .key("maps"), .index(index), .key("map")],
                            "'\(entry.map)': name a map of the node's instance (like srv6_policies or maps/srv6/srv6_policies)")
                }
            }

            if let wing = node.wing {
                if !devices.contains(wing.interface) {
                    problem(base + [.key("wing"), .key("interface")], "node \(node.name) has no interface '\(wing.interface)' (its interfaces: \(deviceList))")
                }
                switch (wing.role, wing.config) {
                case (.client, nil): problem(base + [.key("wing")], "a wing client needs config: (HawkWing's configuration file)")
                case (.server, .some): problem(base + [.key("wing"), .key("config")], "a wing server takes no configuration")
                case (.client, .some(let config)) where !FileManager.default.isReadableFile(atPath: file.resolve(config)):
                    problem(base + [.key("wing"), .key("config")], "cannot read the wing configuration \(config) (looked at \(file.resolve(config)))")
                default: break
                }
                if let usid = wing.usid {
                    do {
                        let format = try MicroSIDFormat(parsing: usid)
                        if wing.role == .server { _ = try WingHost.reversibleBlockWords(format) }
                    } catch {
                        problem(base + [.key("wing"), .key("usid")], "\(error)")
                    }
                }
                if let mode = wing.mode, mode != "native", mode != "generic" {
                    problem(base + [.key("wing"), .key("mode")], "mode '\(mode)' is not native or generic")
                }
            }
            if let srv6 = node.srv6, !FileManager.default.isReadableFile(atPath: file.resolve(srv6)) {
                problem(base + [.key("srv6")], "cannot read the SRv6 configuration \(srv6) (looked at \(file.resolve(srv6)))")
            }
            for (index, command) in node.commands.enumerated()
            where command.trimmingCharacters(in: .whitespaces).isEmpty {
                problem(base + [.key("commands"), .index(index)], "an empty command")
            }
        }
        return problems
    }

    static func routeIssues(_ route: RouteSpec, devices: Set<String>) -> [String] {
        var issues: [String] = []
        if let raw = route.raw {
            if route.to != nil || route.via != nil || route.dev != nil || route.seg6 != nil || route.seg6local != nil
                || route.table != nil || route.metric != nil || route.src != nil {
                issues.append("give a route either as `raw` arguments or as fields, not both")
            }
            if raw.trimmingCharacters(in: .whitespaces).isEmpty { issues.append("an empty route") }
        } else {
            guard let to = route.to else { return ["a route needs `to` (a prefix or default)"] }
            if to != "default" && Address.prefix(to) == nil && Address.family(to) == nil {
                issues.append("'\(to)' is not a destination (a prefix like cafe::2/128, an address, or default)")
            }
            if let via = route.via, Address.family(via) == nil { issues.append("via '\(via)' is not an IP address") }
            if let src = route.src, Address.family(src) == nil { issues.append("src '\(src)' is not an IP address") }
            if let table = route.table, table <= 0 { issues.append("table \(table) must be positive") }
            if let metric = route.metric, metric < 0 { issues.append("metric \(metric) must not be negative") }
            if route.seg6 != nil && route.seg6local != nil { issues.append("a route has one encap: seg6 or seg6local, not both") }
            if let seg6 = route.seg6 {
                if !RouteSpec.Seg6Encap.modes.contains(seg6.mode) {
                    issues.append("seg6 mode '\(seg6.mode)' is not one of \(RouteSpec.Seg6Encap.modes.joined(separator: ", "))")
                }
                if seg6.segs.isEmpty { issues.append("seg6 needs at least one SID in segs") }
                for sid in seg6.segs where Address.family(sid) != 6 { issues.append("seg6 segment '\(sid)' is not an IPv6 address") }
            }
            if let local = route.seg6local {
                if let needs = RouteSpec.Seg6Local.actions[local.action] {
                    for need in needs {
                        let options = need.split(separator: "|").map(String.init)
                        let given = options.filter { option in
                            switch option {
                            case "table": local.table != nil
                            case "vrftable": local.vrftable != nil
                            case "nh6": local.nh6 != nil
                            case "nh4": local.nh4 != nil
                            case "oif": local.oif != nil
                            default: false
                            }
                        }
                        if given.isEmpty { issues.append("seg6local \(local.action) needs \(options.joined(separator: " or "))") }
                    }
                } else {
                    issues.append("seg6local action '\(local.action)' is not one of "
                                  + RouteSpec.Seg6Local.actions.keys.sorted().joined(separator: ", "))
                }
                if let nh6 = local.nh6, Address.family(nh6) != 6 { issues.append("nh6 '\(nh6)' is not an IPv6 address") }
                if let nh4 = local.nh4, Address.family(nh4) != 4 { issues.append("nh4 '\(nh4)' is not an IPv4 address") }
                if let oif = local.oif, !devices.contains(oif) { issues.append("oif '\(oif)' is not an interface of the node") }
                for flavor in local.flavors ?? [] where !RouteSpec.Seg6Local.flavorNames.contains(flavor) {
                    issues.append("flavor '\(flavor)' is not one of \(RouteSpec.Seg6Local.flavorNames.joined(separator: ", "))")
                }
                for (label, value) in [("lblen", local.lblen), ("nflen", local.nflen)] {
                    if let value, value <= 0 || value > 128 || value % 8 != 0 {
                        issues.append("\(label) \(value) must be a multiple of 8 in 8–128")
                    }
                }
            }
        }
        if let device = route.device, !devices.contains(device) {
            issues.append("dev '\(device)' is not an interface of the node (its interfaces: \(devices.sorted().joined(separator: ", ")))")
        }
        return issues
    }

    /// Why a testbed or node name is unusable in namespace, instance and tmux names, or nil.
    static func nameIssue(_ name: String) -> String? {
        if name.isEmpty { return "empty" }
        if name.count > 32 { return "longer than 32 characters" }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        if name.unicodeScalars.contains(where: { !allowed.contains($0) }) { return "use letters, digits, '-' and '_'" }
        if name.hasPrefix("-") { return "must not start with '-'" }
        return nil
    }

    /// Why an interface name is unusable, or nil (the kernel's IFNAMSIZ is 16 with the NUL).
    static func interfaceIssue(_ name: String) -> String? {
        if name.isEmpty { return "empty interface name" }
        if name.utf8.count > 15 { return "interface name '\(name)' is longer than 15 bytes" }
        if name.contains(where: { $0 == "/" || $0 == ":" || $0 == " " || $0 == "%" }) || name == "." || name == ".." {
            return "'\(name)' is not a valid interface name"
        }
        return nil
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}

/// Address syntax, by NetKit's parsers (what the engine later hands the kernel).
enum Address {
    /// 4 or 6 for an IPv4 or IPv6 address, nil otherwise.
    static func family(_ text: String) -> Int? {
        if (try? IPv6Address(parsing: text)) != nil { return 6 }
        if (try? IPv4Address(parsing: text)) != nil { return 4 }
        return nil
    }

    /// The family of `address/length`, or nil when it is not one.
    static func prefix(_ text: String) -> Int? {
        guard text.contains("/"), let address = try? InterfaceAddress(parsing: text) else { return nil }
        return address.family == AF_INET6 ? 6 : 4
    }

    static func isMAC(_ text: String) -> Bool { (try? MACAddress(parsing: text)) != nil }
}
