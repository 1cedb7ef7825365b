import BPFKit
import Foundation
import HikeRuntime

/// Counters of one local SID or policy, summed over the CPUs (like seg6local's `count`).
public struct EntryStatus: Sendable, Codable, Equatable {
    public var prefix: String
    public var index: UInt32
    public var chain: String
    public var program: String
    public var summary: String
    public var kernelRoute: Bool
    public var packets: UInt64
    public var bytes: UInt64
    public var errors: UInt64
    /// SR proxies: what went to the function and came back.
    public var proxy: ProxyStatus? = nil
}

/// An SR proxy's counters and the headers its function's packets get.
public struct ProxyStatus: Sendable, Codable, Equatable {
    public var toFunction: UInt64
    public var toFunctionBytes: UInt64
    public var fromFunction: UInt64
    public var fromFunctionBytes: UInt64
    /// End.AD: how many times the headers were learned, and how long ago the last time (seconds).
    public var learned: UInt64
    public var learnedAgo: Double?
    /// The segment list the function's packets get (visiting order, the first SID first) and SL.
    public var segments: [String]
    public var segmentsLeft: Int?
    /// SRV6_R_* name → packets, for the reasons that counted any.
    public var reasons: [String: UInt64]
}

/// What `hike srv6 show` prints.
public struct SRv6Status: Sendable, Codable, Equatable {
    public var instance: String
    public var namespace: String?
    public var interfaces: [String]
    /// Whether the entries are mirrored as kernel seg6/seg6local routes, and why.
    public var kernelRoutes: String?
    public var sids: [EntryStatus]
    public var policies: [EntryStatus]
    /// SRV6_R_* name → packets, summed over the CPUs.
    public var reasons: [String: UInt64]
    /// ICMPv6 errors the endpoints sent themselves (SIDs without a kernel mirror route):
    /// time_exceeded, parameter_problem, and not_sent (rate limit, multicast source, no room).
    public var icmpErrors: [String: UInt64] = [:]
}

extension SRv6Node {
    /// The installed entries with their counters. Nothing applied yet: empty lists.
    public func status() throws(SRv6Error) -> SRv6Status {
        let state = try AppliedState.read(stateDirectory: hike.stateDirectory)
        var status = SRv6Status(instance: hike.name, namespace: state.namespace, interfaces: state.interfaces,
                                kernelRoutes: state.kernelRoutes, sids: [], policies: [], reasons: [:])
        if state.sids.isEmpty && state.policies.isEmpty && state.interfaces.isEmpty { return status }
        do {
            let directory = try mapsDirectory()
            let sidStats = try BPFMap.openPinned("\(directory)/\(SRv6ABI.sidStatsMap)")
            let policyStats = try BPFMap.openPinned("\(directory)/\(SRv6ABI.policyStatsMap)")
            let reasons = try BPFMap.openPinned("\(directory)/\(SRv6ABI.reasonsMap)")
            func row(_ entry: AppliedState.Entry, _ map: BPFMap) throws -> EntryStatus {
                guard let perCPU = try TypedMap<UInt32, SRv6Stats>(map).lookupPerCPU(entry.index) else {
                    throw SRv6Error.state("\(entry.prefix) has no counters at index \(entry.index) of \(map.name): "
                                          + "the state file does not match the maps; re-apply the configuration")
                }
                let sums = perCPU.reduce(.zero, +)
                var status = EntryStatus(prefix: entry.prefix, index: entry.index, chain: entry.chain, program: entry.program,
                                         summary: entry.summary, kernelRoute: entry.kernelRoute != nil,
                                         packets: sums.packets, bytes: sums.bytes, errors: sums.errors)
                if EndpointBehaviour.allCases.contains(where: { $0.program == entry.program && $0.isProxy }) {
                    status.proxy = try proxyStatus(index: entry.index, directory: directory)
                }
                return status
            }
            status.sids = try state.sids.map { try row($0, sidStats) }
            status.policies = try state.policies.map { try row($0, policyStats) }
            for reason in SRv6ABI.reasons {
                status.reasons[reason.name] = try reasons.lookupSum(UInt32(reason.value), as: UInt64.self) ?? 0
            }
            let icmp = try TypedMap<UInt32, PacketCounter>(BPFMap.openPinned("\(directory)/\(SRv6ABI.icmpMap)"))
            for (slot, name) in SRv6ABI.icmpSlots.enumerated() {
                status.icmpErrors[name] = try icmp.lookupSum(UInt32(slot))?.packets ?? 0
            }
        } catch {
            throw .state("cannot read the srv6 counters of instance '\(hike.name)': \(error)")
        }
        return status
    }

    func proxyStatus(index: UInt32, directory: String) throws -> ProxyStatus {
        let stats = try TypedMap<UInt32, SRv6ProxyStats>(BPFMap.openPinned("\(directory)/\(SRv6ABI.proxyStatsMap)"))
        let cache = try TypedMap<UInt32, SRv6ProxyCache>(BPFMap.openPinned("\(directory)/\(SRv6ABI.proxyCacheMap)"))
        let sums = (try stats.lookupPerCPU(index) ?? []).reduce(SRv6ProxyStats.zero, +)
        let headers = try cache.lookup(index)
        var reasons: [String: UInt64] = [:]
        for reason in SRv6ABI.reasons where reason.value < sums.reasons.count && sums.reasons[reason.value] > 0 {
            reasons[reason.name] = sums.reasons[reason.value]
        }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nowNs = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        let learnedAgo = headers.flatMap { $0.learnedNs == 0 || $0.learnedNs > nowNs ? nil : Double(nowNs - $0.learnedNs) / 1e9 }
        let list = headers?.segments
        return ProxyStatus(toFunction: sums.toFunction, toFunctionBytes: sums.toFunctionBytes, fromFunction: sums.fromFunction,
                           fromFunctionBytes: sums.fromFunctionBytes, learned: sums.learned, learnedAgo: learnedAgo,
                           segments: list?.list.map(\.description) ?? [], segmentsLeft: list?.segmentsLeft, reasons: reasons)
    }
}
