import CBPF
import CLinux
import Foundation

/// The bpf filesystem, where maps, programs and links are pinned.
public enum BPFFileSystem {
    public static let defaultMountPoint = "/sys/fs/bpf"

    /// Whether path is on a bpffs.
    public static func isMounted(at path: String = defaultMountPoint) -> Bool {
        clinux_fs_type(path) == Int(cbpf_bpf_fs_magic)
    }

    /// Mounts a bpffs at path unless one is there already. Returns true when it mounted one.
    @discardableResult
    public static func ensureMounted(at path: String = defaultMountPoint) throws -> Bool {
        if isMounted(at: path) { return false }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        if mount("bpf", path, "bpf", 0, nil) != 0 {
            throw BPFError(operation: "mount bpffs at \(path)", errno: errno,
                           message: "hike needs root (CAP_SYS_ADMIN) to mount it")
        }
        return true
    }

    /// Creates the directories of path on the bpffs (pins need their parent directory).
    public static func makeDirectories(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
}
