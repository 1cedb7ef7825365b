/// The sections of a 64-bit little-endian ELF file (what clang emits for eBPF), by name.
/// Enough to read the data sections hike puts metadata in; libbpf does the real loading.
public struct ELFSections: Sendable {
    public let sections: [String: [UInt8]]

    public init(bytes: [UInt8]) throws {
        func fail(_ why: String) -> BPFError { BPFError.invalid("read ELF sections", why) }
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw fail("not an ELF file")
        }
        guard bytes[4] == 2, bytes[5] == 1 else { throw fail("not a 64-bit little-endian ELF file") }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> Int { u32(at) | u32(at + 4) << 32 }
        let headerOffset = u64(0x28), headerSize = u16(0x3a), count = u16(0x3c), namesIndex = u16(0x3e)
        guard headerSize >= 64, headerOffset >= 0, headerOffset + count * headerSize <= bytes.count,
              namesIndex < count else {
            throw fail("section header table outside the file")
        }
        func header(_ index: Int) -> (name: Int, type: Int, offset: Int, size: Int) {
            let at = headerOffset + index * headerSize
            return (u32(at), u32(at + 4), u64(at + 0x18), u64(at + 0x20))
        }
        let names = header(namesIndex)
        guard names.offset >= 0, names.offset + names.size <= bytes.count else { throw fail("section names outside the file") }
        var sections: [String: [UInt8]] = [:]
        for index in 0..<count {
            let section = header(index)
            guard section.name < names.size else { throw fail("section \(index) has a name outside the name table") }
            let nameStart = names.offset + section.name
            let nameEnd = bytes[nameStart..<(names.offset + names.size)].firstIndex(of: 0) ?? (names.offset + names.size)
            let name = String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self)
            // SHT_NOBITS (8) has no bytes in the file.
            if section.type == 8 { sections[name] = []; continue }
            guard section.offset >= 0, section.size >= 0, section.offset + section.size <= bytes.count else {
                throw fail("section '\(name)' lies outside the file")
            }
            sections[name] = Array(bytes[section.offset..<(section.offset + section.size)])
        }
        self.sections = sections
    }

    public subscript(name: String) -> [UInt8]? { sections[name] }
}
