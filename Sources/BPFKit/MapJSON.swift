import Foundation

// MARK: - A map's keys and values

/// A map's key and value codecs, with per-CPU values split into one value per possible CPU.
public struct MapJSON: Sendable {
    public let key: MapJSONCodec
    public let value: MapJSONCodec
    public let btf: MapBTF
    public let perCPU: Bool
    /// Possible CPUs (1 for maps that are not per-CPU).
    public let cpuCount: Int
    let stride: Int
    /// Why the map's BTF could not be read, when it could not (the codecs then use integers and hex).
    public private(set) var btfError: String?

    /// The codecs for a map from its BTF (`.none` for integer/hex only).
    public init(btf: MapBTF, keySize: Int, valueSize: Int, perCPU: Bool, cpuCount: Int) {
        self.btf = btf
        self.key = MapJSONCodec(type: btf.key, size: keySize)
        self.value = MapJSONCodec(type: btf.value, size: valueSize)
        self.perCPU = perCPU
        self.cpuCount = perCPU ? max(cpuCount, 1) : 1
        self.stride = perCPU ? (valueSize + 7) & ~7 : valueSize
    }

    /// The codecs for a map, from the BTF the kernel keeps for it. A map whose BTF cannot be
    /// read gets the integer/hex codecs; `btfError` says why.
    public init(map: BPFMap) throws {
        var btf = MapBTF.none
        var problem: String?
        do {
            btf = try map.btfTypes()
        } catch {
            problem = "\(error)"
        }
        self.init(btf: btf, keySize: map.keySize, valueSize: map.valueSize, perCPU: map.isPerCPU,
                  cpuCount: map.isPerCPU ? try possibleCPUCount() : 1)
        btfError = problem
    }

    public func decodeKey(_ bytes: [UInt8]) -> MapJSONValue {
        key.decode(bytes)
    }

    /// A value as the kernel returns it: one element per CPU for per-CPU maps, else one.
    public func decodeValues(_ buffer: [UInt8], exactIntegers: Bool = false) -> [MapJSONValue] {
        guard perCPU else { return [value.decode(buffer, exactIntegers: exactIntegers)] }
        return (0..<cpuCount).map { cpu in
            let start = cpu * stride
            guard start + value.size <= buffer.count else { return value.decode([], exactIntegers: exactIntegers) }
            return value.decode(Array(buffer[start..<start + value.size]), exactIntegers: exactIntegers)
        }
    }

    public func encodeKey(_ json: MapJSONValue) throws(MapJSONError) -> [UInt8] {
        try key.encode(json, path: "key")
    }

    /// The buffer `BPFMap.update` takes. For per-CPU maps, one value for every CPU or a list of
    /// one value per possible CPU.
    public func encodeValue(_ json: MapJSONValue) throws(MapJSONError) -> [UInt8] {
        guard perCPU else { return try value.encode(json, path: "value") }
        var buffer = [UInt8](repeating: 0, count: cpuCount * stride)
        let perCPUList: [MapJSONValue]?
        if case .array(let items) = json {
            if let type = value.type, case .array = type.kind {
                // The value is itself a list: only a list of lists (or of hex/text strings) is per CPU.
                let textual = MapJSONCodec.isByteArray(type) || MapJSONCodec.isCharArray(type)
                let nested = !items.isEmpty && items.allSatisfy { item in
                    if case .array = item { return true }
                    if textual, case .string = item { return true }
                    return false
                }
                perCPUList = nested ? items : nil
            } else {
                perCPUList = items
            }
        } else {
            perCPUList = nil
        }
        if let items = perCPUList {
            guard items.count == cpuCount else {
                throw MapJSONError(path: "value", "expected one value for every CPU or a list of \(cpuCount) (one per possible CPU), got a list of \(items.count)")
            }
            for (cpu, item) in items.enumerated() {
                let bytes = try value.encode(item, path: "value[cpu \(cpu)]")
                buffer.replaceSubrange(cpu * stride..<cpu * stride + bytes.count, with: bytes)
            }
            return buffer
        }
        let bytes = try value.encode(json, path: "value")
        for cpu in 0..<cpuCount { buffer.replaceSubrange(cpu * stride..<cpu * stride + bytes.count, with: bytes) }
        return buffer
    }
}
