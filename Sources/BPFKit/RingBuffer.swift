import CBPF
import Foundation

/// Reads records from a `BPF_MAP_TYPE_RINGBUF` map. Each record is read once: a record consumed
/// here is gone for every other reader.
public final class BPFRingBuffer {
    private final class Sink {
        var records: [[UInt8]] = []
    }

    private let handle: OpaquePointer
    private let sink = Sink()
    private let map: BPFMap

    public init(map: BPFMap) throws {
        guard map.type == .ringbuf else {
            throw BPFError.invalid("read ring buffer '\(map.name)'", "the map is a \(map.type), not a ringbuf")
        }
        self.map = map
        let context = Unmanaged.passUnretained(sink).toOpaque()
        let (pointer, lines) = Libbpf.capturing {
            ring_buffer__new(map.fd, { context, data, size in
                guard let context, let data else { return 0 }
                let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
                sink.records.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
                return 0
            }, context, nil)
        }
        guard let pointer else { throw BPFError.fromErrno("open ring buffer '\(map.name)'", messages: lines) }
        handle = pointer
    }

    deinit { ring_buffer__free(handle) }

    /// Every record available now, oldest first, without waiting.
    public func drain() throws -> [[UInt8]] {
        let code = ring_buffer__consume(handle)
        if code < 0 { throw BPFError.fromErrno("read ring buffer '\(map.name)'", code: code) }
        defer { sink.records.removeAll() }
        return sink.records
    }

    /// Waits up to timeout for records, then returns what arrived.
    public func poll(timeout: Duration) throws -> [[UInt8]] {
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let code = ring_buffer__poll(handle, milliseconds)
        if code < 0 && code != -EINTR { throw BPFError.fromErrno("poll ring buffer '\(map.name)'", code: code) }
        defer { sink.records.removeAll() }
        return sink.records
    }
}
