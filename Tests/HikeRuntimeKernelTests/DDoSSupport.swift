import BPFKit
import Foundation
import HikeTestSupport
import NetKit
import Topology

/// The DDoS script's chain (examples/ddos/ddos.eclat) written from the packages' documented
/// semantics (docs/packages.md), not from their C: what each packet of a sequence should get.
struct DDoSModel {
    enum Verdict: Equatable { case pass, drop, redirect }

    struct Pair: Hashable { let source: String, destination: String }

    /// struct tb_params: rate, bucket_size, base_time_bits, shift_tokens.
    struct Params { let rate: UInt64, bucket: UInt64, baseTimeBits: UInt64, shiftTokens: UInt64 }

    struct Bucket {
        var tokens: UInt64
        var last: UInt64
    }

    /// ip6_dst_tbmon's default (the `::` entry of tb_dst_cfg) and ip6_sd_tbmon's (the all-zero
    /// key of tb_sd_cfg) with its per-pair entries.
    let destinationParams: Params
    let pairDefault: Params
    let pairParams: [Pair: Params]
    /// ip6_hset_cfg's timeout_ns; the sample rate of ip6_sd_dec2zero(500).
    let timeout: UInt64
    let sampleEvery: UInt64 = 500

    /// The test clocks: tb_clock and ip6_hset_cfg.clock_ns.
    var tbNow: UInt64
    var hsetNow: UInt64

    var destinationBuckets: [String: Bucket] = [:]
    var pairBuckets: [Pair: Bucket] = [:]
    var blacklist: [Pair: UInt64] = [:]  // cts_ns
    var countdown: [Pair: UInt64] = [:]

    init(destinationParams: Params, pairDefault: Params, pairParams: [Pair: Params], timeout: UInt64,
         tbNow: UInt64, hsetNow: UInt64) {
        self.destinationParams = destinationParams
        self.pairDefault = pairDefault
        self.pairParams = pairParams
        self.timeout = timeout
        self.tbNow = tbNow
        self.hsetNow = hsetNow
    }

    /// A token bucket: a new one starts full; it refills Δ · rate >> base_time_bits (full after an
    /// idle 2^32 ns); a packet takes 2^shift_tokens when that many are there.
    static func take(_ bucket: inout Bucket?, _ params: Params, now: UInt64) -> Bool {
        var tokens: UInt64
        if let bucket {
            let elapsed = now > bucket.last ? now - bucket.last : 0
            tokens = elapsed >= 1 << 32 ? params.bucket
                : min(params.bucket, bucket.tokens + (elapsed * params.rate) >> params.baseTimeBits)
        } else {
            tokens = params.bucket
        }
        let cost: UInt64 = 1 << params.shiftTokens
        let inProfile = tokens >= cost
        if inProfile { tokens -= cost }
        bucket = Bucket(tokens: tokens, last: now)
        return inProfile
    }

    /// ip6_hset_srcdst(LOOKUP): an entry lives timeout_ns from when it was added; an expired one
    /// is removed by the lookup.
    mutating func blacklisted(_ pair: Pair) -> Bool {
        guard let added = blacklist[pair] else { return false }
        if hsetNow >= added + timeout {
            blacklist[pair] = nil
            return false
        }
        return true
    }

    /// ddos_tb_2_lev for one packet of pair.
    mutating func packet(_ pair: Pair) -> Verdict {
        if blacklisted(pair) {
            let left = (countdown[pair] ?? sampleEvery) - 1
            if left == 0 {
                countdown[pair] = sampleEvery
                return .redirect
            }
            countdown[pair] = left
            return .drop
        }
        if Self.take(&destinationBuckets[pair.destination], destinationParams, now: tbNow) { return .pass }
        if Self.take(&pairBuckets[pair], pairParams[pair] ?? pairDefault, now: tbNow) { return .pass }
        if !blacklisted(pair) { blacklist[pair] = hsetNow }  // ADD
        return .drop
    }
}

/// Raw frames sent from a namespace by a thread pinned to one CPU: XDP on a veth runs in the
/// receiver's NAPI poll, which the sending CPU schedules and runs, so the per-CPU token buckets
/// and countdowns of the chain all live on that CPU.
enum PinnedSender {
    private typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32

    static func send(_ frames: [[UInt8]], interface: String, in namespace: NetworkNamespace, cpu: Int) throws {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "sched_setaffinity") else {
            throw BPFError.invalid("pin a thread", "sched_setaffinity is not in the C library")
        }
        let setAffinity = unsafeBitCast(symbol, to: SetAffinity.self)
        // namespace.run runs the body on a thread of its own: pin that thread.
        try namespace.run {
            var mask = [UInt64](repeating: 0, count: 16)
            mask[cpu / 64] = 1 << UInt64(cpu % 64)
            if mask.withUnsafeBytes({ setAffinity(0, $0.count, $0.baseAddress!) }) != 0 {
                throw BPFError(operation: "pin a thread to CPU \(cpu)", errno: errno)
            }
            let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { throw BPFError(operation: "open packet socket", errno: errno) }
            defer { close(fd) }
            // struct sockaddr_ll: family, protocol, ifindex, hatype, pkttype, halen, addr[8].
            let index = try NetworkInterface.index(of: interface)
            var address = [UInt8](repeating: 0, count: 20)
            withUnsafeBytes(of: UInt16(AF_PACKET)) { address.replaceSubrange(0..<2, with: $0) }
            withUnsafeBytes(of: index) { address.replaceSubrange(4..<8, with: $0) }
            address[11] = 6
            for frame in frames {
                let sent = address.withUnsafeBytes { raw in
                    sendto(fd, frame, frame.count, 0, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
                }
                if sent != frame.count { throw BPFError(operation: "send a \(frame.count)-byte frame", errno: errno) }
            }
        }
    }
}

enum DDoSNet {
    /// The MAC address of an interface, from `ip -j link`.
    static func mac(_ interface: String, in namespace: NetworkNamespace, _ topology: Topology) throws -> [UInt8] {
        let json = try topology.ip(["-j", "link", "show", "dev", interface], in: namespace)
        guard let links = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]],
              let text = links.first?["address"] as? String else {
            throw BPFError.invalid("read the MAC of \(interface)", json)
        }
        let bytes = text.split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard bytes.count == 6 else { throw BPFError.invalid("read the MAC of \(interface)", text) }
        return bytes
    }

    /// The interface's index in its namespace.
    static func index(_ interface: String, in namespace: NetworkNamespace) throws -> Int32 {
        try namespace.run { try NetworkInterface.index(of: interface) }
    }

    static func u64s(_ values: [UInt64]) -> [UInt8] { values.flatMap { BPFMap.bytesOf($0) } }

    static func address(_ text: String) -> [UInt8] { PacketBuilder.ipv6(text) ?? [] }
}
