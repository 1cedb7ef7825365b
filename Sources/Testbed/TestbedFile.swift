import Foundation
import Yams

/// A topology file read and checked: the spec, where it came from, and the places of its parts
/// so every problem is reported as `file:line:col`.
public struct TestbedFile: Sendable {
    public let spec: TestbedSpec
    /// The file's path as given (what messages print).
    public let path: String
    /// The directory that script and srv6 paths are relative to.
    public let directory: String

    /// Reads and decodes a topology file. Syntax and shape errors come with the place Yams gives.
    public static func read(_ path: String) throws -> TestbedFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
            throw TestbedError.invalid(file: path, line: nil, column: nil, message: "cannot read the topology: \(reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TestbedError.invalid(file: path, line: nil, column: nil, message: "the topology is not UTF-8 text")
        }
        let directory = URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path
        return try parse(text, path: path, directory: directory)
    }

    /// Decodes topology text; `path` names it in messages.
    public static func parse(_ text: String, path: String = "<input>", directory: String? = nil) throws -> TestbedFile {
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw TestbedError.invalid(file: path, line: 1, column: 1, message: "the topology is empty: it needs at least `nodes:`")
            }
            node = composed
        } catch let error as YamlError {
            throw Self.error(error, path: path)
        }
        let places = SourcePlaces(root: node)
        let spec: TestbedSpec
        do {
            spec = try YAMLDecoder().decode(TestbedSpec.self, from: node)
        } catch let error as DecodingError {
            throw places.error(error, path: path)
        } catch let error as YamlError {
            throw Self.error(error, path: path)
        }
        let file = TestbedFile(spec: spec, path: path,
                               directory: directory ?? FileManager.default.currentDirectoryPath)
        let problems = TestbedValidator(file: file).problems()
        if !problems.isEmpty {
            let errors = problems.map { problem in
                let mark = places.mark(problem.path)
                return (mark?.line ?? 0, mark?.column ?? 0,
                        TestbedError.invalid(file: path, line: mark?.line, column: mark?.column, message: problem.message))
            }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
            throw errors.count == 1 ? errors[0] : TestbedError.invalidMany(errors)
        }
        return file
    }

    /// The absolute path of a file the topology names (scripts, srv6 configurations).
    public func resolve(_ relative: String) -> String {
        relative.hasPrefix("/") ? relative : URL(fileURLWithPath: directory).appendingPathComponent(relative).standardizedFileURL.path
    }

    static func error(_ error: YamlError, path: String) -> TestbedError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return .invalid(file: path, line: mark.line, column: mark.column, message: "YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return .invalid(file: path, line: context.mark.line, column: context.mark.column,
                            message: "duplicate key\(duplicates.count == 1 ? "" : "s") \(duplicates.joined(separator: ", "))")
        default:
            return .invalid(file: path, line: nil, column: nil, message: "YAML: \(error)")
        }
    }
}

/// The places of a composed YAML document's nodes, found by coding path.
struct SourcePlaces {
    let root: Node

    /// The mark of the node at path: for a mapping key, the key itself (the line a reader looks
    /// for); the deepest node found when the path goes further than the document.
    func mark(_ path: [PathComponent]) -> Mark? {
        var node = root
        var best = root.mark
        for component in path {
            switch (component, node) {
            case (.key(let key), .mapping(let mapping)):
                guard let pair = mapping.first(where: { $0.key.string == key }) else { return best }
                best = pair.key.mark ?? best
                node = pair.value
            case (.index(let index), .sequence(let sequence)):
                guard sequence.indices.contains(index) else { return best }
                node = sequence[index]
                best = node.mark ?? best
            default:
                return best
            }
        }
        return best
    }

    func error(_ error: DecodingError, path: String) -> TestbedError {
        let (codingPath, message): ([CodingKey], String) = switch error {
        case .typeMismatch(let type, let context):
            (context.codingPath, "expected \(Self.describe(type)) here")
        case .valueNotFound(let type, let context):
            (context.codingPath, "expected \(Self.describe(type)), found nothing")
        case .keyNotFound(let key, let context):
            (context.codingPath, "missing key '\(key.stringValue)'")
        case .dataCorrupted(let context):
            (context.codingPath, context.debugDescription)
        @unknown default:
            ([], "\(error)")
        }
        let components = codingPath.map { key in key.intValue.map(PathComponent.index) ?? .key(key.stringValue) }
        let mark = self.mark(components)
        let place = components.isEmpty ? "" : " (at \(PathComponent.text(components)))"
        return .invalid(file: path, line: mark?.line, column: mark?.column, message: message + place)
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "text"
        case is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        default:
            "\(type)".hasPrefix("Array") ? "a list"
                : "\(type)".contains("Mapping") || "\(type)".contains("Dictionary") ? "a mapping" : "a \(type)"
        }
    }
}

/// A step into a YAML document: a mapping key or a list index.
enum PathComponent: Equatable {
    case key(String)
    case index(Int)

    static func text(_ path: [PathComponent]) -> String {
        path.map { component in
            switch component {
            case .key(let key): key
            case .index(let index): "[\(index)]"
            }
        }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }
}
