import CLinux
import Foundation

/// A named network namespace, kept alive by a bind mount at `/run/netns/<name>` — the
/// convention `ip netns` uses, so `ip netns list` and `ip -n <name>` see ours and we see theirs.
///
/// Code runs inside a namespace on a thread of its own that enters it with setns(2). Unlike
/// `ip netns exec`, nothing remounts /sys, so pins under /sys/fs/bpf stay visible.
public struct NetworkNamespace: Sendable, Hashable, CustomStringConvertible {
    public static let directory = "/run/netns"

    public let name: String
    public var path: String { "\(Self.directory)/\(name)" }
    public var description: String { name }

    /// A namespace that already exists.
    public init(existing name: String) throws {
        try Self.validate(name)
        self.name = name
        guard FileManager.default.fileExists(atPath: path) else {
            throw NetworkError(operation: "open network namespace '\(name)'", errno: ENOENT,
                               kernelMessage: "no \(path): create it first (ip netns add \(name))")
        }
    }

    private init(validated name: String) {
        self.name = name
    }

    /// Names of the namespaces under /run/netns.
    public static func list() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// Creates a new, empty network namespace (its loopback is down, as with `ip netns add`).
    public static func create(_ name: String) throws -> NetworkNamespace {
        try validate(name)
        let namespace = NetworkNamespace(validated: name)
        let operation = "create network namespace '\(name)'"
        try prepareDirectory()
        let fd = open(namespace.path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
        if fd < 0 {
            throw NetworkError(operation: operation, errno: errno,
                               kernelMessage: errno == EEXIST ? "\(namespace.path) already exists" : nil)
        }
        close(fd)
        do {
            try onNewThread {
                // A fresh namespace for this thread only, then a bind mount that keeps it alive
                // after the thread exits.
                if clinux_unshare_net() != 0 { throw NetworkError(operation: operation + ": unshare", errno: errno) }
                let own = "/proc/self/task/\(clinux_gettid())/ns/net"
                if mount(own, namespace.path, "none", UInt(MS_BIND), nil) != 0 {
                    throw NetworkError(operation: operation + ": bind mount \(own)", errno: errno)
                }
            }
        } catch {
            unlink(namespace.path)
            throw error
        }
        return namespace
    }

    /// Deletes the namespace: its interfaces go away with it once no process is inside.
    public func delete() throws {
        if umount2(path, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
            throw NetworkError(operation: "unmount network namespace \(path)", errno: errno)
        }
        if unlink(path) != 0 && errno != ENOENT {
            throw NetworkError(operation: "remove \(path)", errno: errno)
        }
    }

    /// Runs body on a dedicated thread inside this namespace and returns what it returns.
    /// Sockets, links and netlink requests made in body belong to this namespace.
    public func run<T>(_ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw NetworkError(operation: "open network namespace \(path)", errno: errno) }
        defer { close(fd) }
        var result: Result<T, Error>?
        try withoutActuallyEscaping(body) { body in
            try Self.onNewThread {
                if clinux_setns_net(fd) != 0 {
                    throw NetworkError(operation: "enter network namespace '\(name)'", errno: errno)
                }
                result = Result { try body() }
            }
        }
        guard let result else {
            throw NetworkError(operation: "run in namespace '\(name)'", errno: EINVAL, kernelMessage: "the thread returned nothing")
        }
        return try result.get()
    }

    /// `ip netns` makes /run/netns a shared mount so namespaces mounted later show up in every
    /// mount namespace; do the same.
    private static func prepareDirectory() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) == 0 { return }
        guard errno == EINVAL else { throw NetworkError(operation: "make \(directory) shared", errno: errno) }
        // Not a mount point yet: bind it onto itself, then share it.
        if mount(directory, directory, "none", UInt(MS_BIND | MS_REC), nil) != 0
            || mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) != 0 {
            throw NetworkError(operation: "make \(directory) a shared mount", errno: errno)
        }
    }

    private static func validate(_ name: String) throws {
        if name.isEmpty || name.count > 200 || name.contains("/") || name == "." || name == ".." {
            throw NetworkError(operation: "name a network namespace", errno: EINVAL, kernelMessage: "'\(name)' is not a valid namespace name")
        }
    }

    /// Runs work on a new thread and waits for it. The thread ends with the work, so whatever
    /// namespace it entered dies with it and never leaks into a pooled thread.
    static func onNewThread(_ work: () throws -> Void) throws {
        final class Job: @unchecked Sendable {  // handed to exactly one thread, read after join
            let work: () throws -> Void
            var error: Error?
            init(_ work: @escaping () throws -> Void) { self.work = work }
        }
        try withoutActuallyEscaping(work) { work in
            let job = Job(work)
            let context = Unmanaged.passRetained(job).toOpaque()
            var thread = pthread_t()
            let code = pthread_create(&thread, nil, { raw in
                guard let raw else { return nil }
                let job = Unmanaged<Job>.fromOpaque(raw).takeRetainedValue()
                do { try job.work() } catch { job.error = error }
                return nil
            }, context)
            if code != 0 {
                Unmanaged<Job>.fromOpaque(context).release()
                throw NetworkError(operation: "start a thread", errno: code)
            }
            pthread_join(thread, nil)
            if let error = job.error { throw error }
        }
    }
}
