import BPFKit
import CLinux
import Foundation

/// Pins threads to CPUs: the bench's generator and control threads, tests that depend on
/// per-CPU state.
public enum CPUAffinity {
    /// Pins the calling thread to cpu.
    public static func pinCurrentThread(to cpu: Int) throws {
        guard clinux_pin_thread(Int32(cpu)) == 0 else {
            throw BPFError(operation: "pin the thread to CPU \(cpu) (online CPUs: \(ProcessInfo.processInfo.activeProcessorCount))",
                           errno: errno)
        }
    }
}
