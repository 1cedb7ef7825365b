import Foundation

/// Pins the calling thread to one CPU. Swift's Glibc module hides sched_setaffinity (it needs
/// _GNU_SOURCE), so the function is looked up in the C library at run time.
public enum CPUAffinity {
    private typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
    private typealias GetCPU = @convention(c) () -> Int32

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(dlopen(nil, RTLD_NOW), name)
    }

    /// Pins the calling thread to cpu (sched_setaffinity(0, …)).
    public static func pinCurrentThread(to cpu: Int) throws {
        guard let pointer = symbol("sched_setaffinity") else {
            throw BenchError.affinity("sched_setaffinity is not in the C library")
        }
        let setAffinity = unsafeBitCast(pointer, to: SetAffinity.self)
        let bitsPerWord = UInt64.bitWidth
        guard cpu >= 0, cpu < 1024 * bitsPerWord else { throw BenchError.affinity("CPU \(cpu) is out of range") }
        var mask = [UInt64](repeating: 0, count: max(16, cpu / bitsPerWord + 1))
        mask[cpu / bitsPerWord] = 1 << UInt64(cpu % bitsPerWord)
        let code = mask.withUnsafeBytes { setAffinity(0, $0.count, $0.baseAddress!) }
        if code != 0 {
            let reason = String(cString: strerror(errno))
            throw BenchError.affinity("cannot pin to CPU \(cpu): \(reason) (online CPUs: \(ProcessInfo.processInfo.activeProcessorCount))")
        }
    }

    /// The CPU the calling thread runs on now, if the C library tells.
    public static func currentCPU() -> Int? {
        guard let pointer = symbol("sched_getcpu") else { return nil }
        let cpu = unsafeBitCast(pointer, to: GetCPU.self)()
        return cpu >= 0 ? Int(cpu) : nil
    }
}
