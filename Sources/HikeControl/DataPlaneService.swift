import Dispatch
import HikeRuntime

/// The service layer for concurrent callers (the daemon's requests). A change to a data plane
/// waits: for the instance's registry lock, which other hike processes hold while they change
/// it, and for the kernel (the verifier, netlink). Each change runs on a serial queue of the
/// instance's, never on Swift's cooperative pool, so a change that waits holds no pool thread;
/// changes asked for in this process run one at a time, in the order asked.
public struct DataPlaneService: Sendable {
    public let plane: DataPlane
    private let queue: DispatchQueue

    public init(_ plane: DataPlane) {
        self.plane = plane
        queue = DispatchQueue(label: "hike.data-plane.\(plane.instance.name)")
    }

    /// Runs one change (a DataPlane call) and returns its report or its error.
    public func perform<Report: Sendable>(_ change: @escaping @Sendable (DataPlane) throws(ControlError) -> Report)
        async throws(ControlError) -> Report {
        let plane = plane
        let result: Result<Report, ControlError> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(ControlError) -> Report in try change(plane) }) }
        }
        return try result.get()
    }

    /// Runs other work that must not overlap this instance's changes (a whole request of the
    /// daemon's) on the same queue, in turn with the changes.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }

    /// As run, for a caller on a thread of its own (a metrics scrape; never Swift's cooperative
    /// pool): waits for its turn and the work.
    public func runBlocking<T>(_ work: () -> T) -> T {
        queue.sync(execute: work)
    }
}

/// The daemon's instances, each with its service (its serial queue), made on first use.
public actor DataPlaneServices {
    private var services: [String: DataPlaneService] = [:]

    public init() {}

    public func service(for instance: String) throws(ControlError) -> DataPlaneService {
        if let service = services[instance] { return service }
        let service = DataPlaneService(try DataPlane(name: instance))
        services[instance] = service
        return service
    }
}
