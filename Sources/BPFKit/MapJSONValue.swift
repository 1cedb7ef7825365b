import Foundation
import HikeErrors

// MARK: - JSON values

/// A JSON value with object keys kept in order: what map keys and values decode to, and what
/// `hike map update` parses its arguments into.
public indirect enum MapJSONValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// A negative or small integer.
    case int(Int64)
    /// An integer above Int64.max.
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([MapJSONValue])
    case object([Field])

    public struct Field: Sendable, Hashable {
        public var key: String
        public var value: MapJSONValue
        public init(_ key: String, _ value: MapJSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// An object from (key, value) pairs in order.
    public static func object(_ pairs: KeyValuePairs<String, MapJSONValue>) -> MapJSONValue {
        .object(pairs.map { Field($0.key, $0.value) })
    }

    /// The member named key of an object.
    public subscript(key: String) -> MapJSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.key == key }?.value
    }

    public subscript(index: Int) -> MapJSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value as a signed integer when it is one that fits.
    public var intValue: Int64? {
        switch self {
        case .int(let value): value
        case .uint(let value): value <= UInt64(Int64.max) ? Int64(value) : nil
        default: nil
        }
    }

    public var arrayValue: [MapJSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// Compact JSON text, object keys in order.
    public var description: String { jsonText() }

    /// JSON text; `pretty` indents by two spaces and writes `"key" : value`, as Foundation's
    /// JSONEncoder does, but keeps object keys in their order.
    public func jsonText(pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        let newline = pretty ? "\n" + String(repeating: "  ", count: indent + 1) : ""
        let close = pretty ? "\n" + String(repeating: "  ", count: indent) : ""
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .uint(let value): out += String(value)
        case .double(let value):
            out += value.isFinite ? (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)) : "null"
        case .string(let text): out += Self.quoted(text)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            if pretty, items.allSatisfy(\.isScalar) {
                // Numbers and strings on one line: per-CPU values and register files stay short.
                out += "[" + items.map { $0.jsonText() }.joined(separator: ", ") + "]"
                return
            }
            out += "["
            for (index, item) in items.enumerated() {
                out += (index == 0 ? "" : ",") + newline
                item.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "]"
        case .object(let fields):
            if fields.isEmpty { out += "{}"; return }
            out += "{"
            for (index, field) in fields.enumerated() {
                out += (index == 0 ? "" : ",") + newline + Self.quoted(field.key) + (pretty ? " : " : ":")
                field.value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "}"
        }
    }

    var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension MapJSONValue: Encodable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        case .object(let fields):
            var container = encoder.container(keyedBy: Key.self)
            for field in fields { try container.encode(field.value, forKey: Key(stringValue: field.key)) }
        default:
            var container = encoder.singleValueContainer()
            switch self {
            case .null: try container.encodeNil()
            case .bool(let value): try container.encode(value)
            case .int(let value): try container.encode(value)
            case .uint(let value): try container.encode(value)
            case .double(let value): try container.encode(value)
            case .string(let text): try container.encode(text)
            case .array, .object: break
            }
        }
    }
}

// MARK: - Errors

/// Why JSON text could not be parsed or did not fit a map's key or value.
public struct MapJSONError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Where: `key`, `value.saddr`, `value[3]`, … ("" for JSON syntax errors).
    public let path: String
    public let message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}


extension MapJSONValue {
    /// A short rendering for error messages.
    var brief: String {
        let text: String
        switch self {
        case .object: text = "an object " + jsonText()
        case .array(let items): text = "a list of \(items.count) " + jsonText()
        case .string: text = "the string " + jsonText()
        case .bool: text = jsonText()
        case .null: text = "null"
        default: text = jsonText()
        }
        return text.count > 80 ? String(text.prefix(77)) + "…" : text
    }

    /// The element-wise sum of per-CPU values: numbers add up, objects and lists add up member
    /// by member; nil when any leaf is not an integer (an address, a name, …).
    public static func sum(_ values: [MapJSONValue]) -> MapJSONValue? {
        guard let first = values.first else { return nil }
        switch first {
        case .int, .uint, .string:
            var total: Int64 = 0
            var unsignedTotal: UInt64 = 0
            var anyNegative = false
            for value in values {
                switch value {
                case .int(let integer):
                    total &+= integer
                    unsignedTotal &+= UInt64(bitPattern: integer)
                    anyNegative = anyNegative || integer < 0
                case .uint(let integer):
                    total &+= Int64(bitPattern: integer)
                    unsignedTotal &+= integer
                case .string(let text):
                    // Integers beyond 2^53 decode as decimal strings.
                    if let integer = UInt64(text) {
                        total &+= Int64(bitPattern: integer)
                        unsignedTotal &+= integer
                    } else if let integer = Int64(text) {
                        total &+= integer
                        unsignedTotal &+= UInt64(bitPattern: integer)
                        anyNegative = true
                    } else {
                        return nil
                    }
                default:
                    return nil
                }
            }
            return anyNegative ? MapJSONCodec.signedNumber(total) : MapJSONCodec.number(unsignedTotal)
        case .object(let fields):
            var summed: [Field] = []
            for (index, field) in fields.enumerated() {
                var column: [MapJSONValue] = []
                for value in values {
                    guard case .object(let others) = value, others.count == fields.count, others[index].key == field.key else { return nil }
                    column.append(others[index].value)
                }
                guard let total = sum(column) else { return nil }
                summed.append(Field(field.key, total))
            }
            return .object(summed)
        case .array(let items):
            var summed: [MapJSONValue] = []
            for index in items.indices {
                var column: [MapJSONValue] = []
                for value in values {
                    guard case .array(let others) = value, others.count == items.count else { return nil }
                    column.append(others[index])
                }
                guard let total = sum(column) else { return nil }
                summed.append(total)
            }
            return .array(summed)
        default:
            return nil
        }
    }
}


extension MapJSONError: HikeError {
    public var code: String { "map.value" }
}
