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
                return EntryStatus(prefix: entry.prefix, index: entry.index, chain: entry.chain, program: entry.program,
                                   summary: entry.summary, kernelRoute: entry.kernelRoute != nil,
                                   packets: sums.packets, bytes: sums.bytes, errors: sums.errors)
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
}
