import NetKit
/// The NEXT-C-SID (uSID) format of RFC 9800 §4.1: a locator block of `blockBits` followed by
/// compressed SIDs (locator-node + function) of `nodeBits` each, packed in one IPv6 address
/// (a container). Linux and hike take byte-aligned lengths (`lblen 32 nflen 16` by default).
public struct MicroSIDFormat: Sendable, Hashable, CustomStringConvertible {
    public let blockBits: Int
    public let nodeBits: Int

    public static let linuxDefault = MicroSIDFormat(uncheckedBlock: 32, node: 16)

    init(uncheckedBlock: Int, node: Int) {
        blockBits = uncheckedBlock
        nodeBits = node
    }

    public init(blockBits: Int, nodeBits: Int) throws(SRv6Error) {
        guard blockBits > 0, blockBits % 8 == 0, nodeBits > 0, nodeBits % 8 == 0 else {
            throw .invalidValue("uSID block (\(blockBits)) and node (\(nodeBits)) lengths must be positive multiples of 8 bits")
        }
        guard blockBits + nodeBits < 128 else {
            throw .invalidValue("uSID block \(blockBits) + node \(nodeBits) bits leave no room for a next C-SID in 128 bits")
        }
        self.blockBits = blockBits
        self.nodeBits = nodeBits
    }

    /// `32/16`: the block's and the C-SIDs' lengths in bits, as `hike wing --usid` takes them.
    public init(parsing text: String) throws(SRv6Error) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let block = parts[0], let node = parts[1] else {
            throw .invalidValue("'\(text)' is not a uSID format: write BLOCK/NODE in bits, like 32/16")
        }
        try self.init(blockBits: block, nodeBits: node)
    }

    /// How many C-SIDs one container holds after the block.
    public var capacity: Int { (128 - blockBits) / nodeBits }

    public var description: String { "lblen \(blockBits) nflen \(nodeBits)" }

    /// The bits of address in [from, from + count) as a number (count ≤ 64).
    static func bits(_ address: IPv6Address, from: Int, count: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in from..<from + count {
            value = value << 1 | (address.bytes[index / 8] >> UInt8(7 - index % 8) & 1 == 1 ? 1 : 0)
        }
        return value
    }

    /// The Argument of RFC 9800 §4.1.2: whatever follows block and node in the address.
    public func argumentIsZero(_ address: IPv6Address) -> Bool {
        let start = (blockBits + nodeBits) / 8
        return address.bytes[start...].allSatisfy { $0 == 0 }
    }

    /// The C-SIDs after the block, up to the first zero one (the end-of-container).
    public func csids(of address: IPv6Address) -> [UInt64] {
        var out: [UInt64] = []
        var at = blockBits
        while at + nodeBits <= 128 {
            let value = Self.bits(address, from: at, count: min(nodeBits, 64))
            if value == 0 { break }
            out.append(value)
            at += nodeBits
        }
        return out
    }

    /// The NEXT-C-SID shift of RFC 9800 §4.1.2 (what uN does when the Argument is not zero):
    /// the block stays, the Argument moves left into the bits of the current C-SID and zeros fill
    /// the end. nil when the Argument is zero: the node then runs plain End (or End.X).
    public func shifted(_ address: IPv6Address) -> IPv6Address? {
        if argumentIsZero(address) { return nil }
        let block = blockBits / 8, node = nodeBits / 8
        var out = Array(address.bytes[0..<block])
        out += address.bytes[(block + node)...]
        out += [UInt8](repeating: 0, count: node)
        return IPv6Address(unchecked: out)
    }

    /// A container: the block prefix followed by C-SIDs (each < 2^nodeBits), zero-filled.
    public func container(block: IPv6Network, csids: [UInt64]) throws(SRv6Error) -> IPv6Address {
        guard block.length == blockBits else {
            throw .invalidValue("the block \(block) is not \(blockBits) bits long")
        }
        guard !csids.isEmpty, csids.count <= capacity else {
            throw .invalidValue("a container holds 1–\(capacity) C-SIDs of \(nodeBits) bits after a /\(blockBits) block, not \(csids.count)")
        }
        var bytes = block.address.bytes
        let node = nodeBits / 8
        for (n, csid) in csids.enumerated() {
            guard csid != 0, nodeBits >= 64 || csid < UInt64(1) << UInt64(nodeBits) else {
                throw .invalidValue("C-SID \(String(csid, radix: 16)) is zero or does not fit \(nodeBits) bits")
            }
            let start = blockBits / 8 + n * node
            for byte in 0..<node {
                let shift = 8 * (node - 1 - byte)
                bytes[start + byte] = shift >= 64 ? 0 : UInt8(truncatingIfNeeded: csid >> UInt64(shift))
            }
        }
        return IPv6Address(unchecked: bytes)
    }

    /// Parses `fcbb:bbbb::/32 100 200 f00d` (the block, then hexadecimal C-SIDs) into a container.
    public func parseContainer(_ text: String) throws(SRv6Error) -> IPv6Address {
        let words = text.split(separator: " ").map(String.init)
        guard let first = words.first else { throw .invalidValue("an empty uSID container") }
        let block = try SRv6Error.parsing { () throws(AddressError) in try IPv6Network(parsing: first) }
        var csids: [UInt64] = []
        for word in words.dropFirst() {
            guard let value = UInt64(word, radix: 16) else { throw .invalidValue("'\(word)' is not a hexadecimal C-SID") }
            csids.append(value)
        }
        return try container(block: block, csids: csids)
    }

    /// The inverse of parseContainer: `fcbb:bbbb::/32 100 200 f00d`.
    public func describeContainer(_ address: IPv6Address) -> String {
        let block = address.masked(to: blockBits)
        return (["\(block)/\(blockBits)"] + csids(of: address).map { String($0, radix: 16) }).joined(separator: " ")
    }

    /// A SID list in traversal order with every run of uN SIDs of one block (block, one C-SID,
    /// nothing after it) packed into containers of up to `capacity` C-SIDs, in order. Other SIDs
    /// stay as they are and end a run.
    public func pack(_ segments: [IPv6Address]) throws(SRv6Error) -> [IPv6Address] {
        var out: [IPv6Address] = []
        var run: (block: IPv6Address, csids: [UInt64])?
        func flush() throws(SRv6Error) {
            guard let current = run else { return }
            let network = try SRv6Error.parsing { () throws(AddressError) in try IPv6Network(address: current.block, length: blockBits) }
            out.append(try container(block: network, csids: current.csids))
            run = nil
        }
        for sid in segments {
            let csid = Self.bits(sid, from: blockBits, count: min(nodeBits, 64))
            guard csid != 0, argumentIsZero(sid) else {
                try flush()
                out.append(sid)
                continue
            }
            let block = sid.masked(to: blockBits)
            if let current = run, current.block == block, current.csids.count < capacity {
                run?.csids.append(csid)
            } else {
                try flush()
                run = (block, [csid])
            }
        }
        try flush()
        return out
    }
}
