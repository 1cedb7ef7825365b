import CBPF
import Foundation

/// Routes libbpf's messages to the operation that caused them.
///
/// libbpf reports through one global print callback, called synchronously on the thread that
/// called into libbpf. `Libbpf.capturing` collects what that thread prints while its body runs,
/// so a `BPFError` can carry libbpf's own words. Outside a capture, messages are dropped unless
/// `HIKE_LIBBPF_DEBUG` is set, in which case they go to stderr.
enum Libbpf {
    final class Messages: @unchecked Sendable {  // touched only by the thread that owns it
        var lines: [String] = []
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    private static let installed: Bool = {
        libbpf_set_print { level, format, args in
            guard let format, let args else { return 0 }
            var buffer = [CChar](repeating: 0, count: 16 * 1024)
            let written = vsnprintf(&buffer, buffer.count, format, args)
            guard written >= 0 else { return 0 }
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let raw = pthread_getspecific(Libbpf.key) {
                let messages = Unmanaged<Messages>.fromOpaque(raw).takeUnretainedValue()
                // libbpf tries to raise RLIMIT_MEMLOCK even where memcg accounts BPF memory;
                // its failure says nothing about the operation at hand.
                if level != LIBBPF_DEBUG && !text.contains("RLIMIT_MEMLOCK") {
                    messages.lines.append(text.trimmingCharacters(in: .newlines))
                }
            } else if getenv("HIKE_LIBBPF_DEBUG") != nil {
                FileHandle.standardError.write(Data(text.utf8))
            }
            return 0
        }
        return true
    }()

    /// Runs body, returning its result and what libbpf printed meanwhile on this thread.
    static func capturing<T>(_ body: () throws -> T) rethrows -> (T, [String]) {
        _ = installed
        let messages = Messages()
        let previous = pthread_getspecific(key)
        let retained = Unmanaged.passRetained(messages)
        pthread_setspecific(key, retained.toOpaque())
        defer {
            pthread_setspecific(key, previous)
            retained.release()
        }
        let value = try body()
        return (value, messages.lines)
    }

    /// Runs a libbpf call returning 0 or a negative errno; throws a BPFError with libbpf's words.
    @discardableResult
    static func check(_ operation: @autoclosure () -> String, _ call: () -> Int32) throws -> Int32 {
        let (code, lines) = capturing { call() }
        if code < 0 { throw BPFError.fromErrno(operation(), code: code, messages: lines) }
        return code
    }
}
