import Foundation
import Synchronization

/// SIGINT and SIGTERM for the CLI's long commands, in one place: a command installs what each
/// signal does instead of ending the process (remove its namespaces and exit, or ask its own
/// thread to stop), and reads which signal came first.
enum SignalWatch {
    /// Dispatch sources fire only while referenced.
    private static let sources = Mutex<[any DispatchSourceSignal]>([])
    /// The first signal received; 0 for none.
    private static let first = Atomic<Int32>(0)

    /// Runs handler(signal, isFirst) on a dispatch queue for each SIGINT or SIGTERM from now on.
    static func install(_ handler: @escaping @Sendable (_ signal: Int32, _ isFirst: Bool) -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)  // let the dispatch source take it instead of the default
            sources.withLock { sources in
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    let isFirst = first.compareExchange(expected: 0, desired: number, ordering: .relaxed).exchanged
                    handler(number, isFirst)
                }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// Gives the signals back their default action (end the process).
    static func remove() {
        sources.withLock { sources in
            for source in sources { source.cancel() }
            sources.removeAll()
        }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// Whether a signal came.
    static var isRequested: Bool { first.load(ordering: .relaxed) != 0 }

    /// The first signal that came, SIGINT when none did (for the 128 + N exit status).
    static var signalNumber: Int32 {
        let number = first.load(ordering: .relaxed)
        return number == 0 ? SIGINT : number
    }

    /// Deletes what cleanUp removes and exits with 128 + N, for commands whose own clean-up
    /// (defer, deinit) would not run once a signal ends the process.
    static func exitAfter(_ cleanUp: @escaping @Sendable () -> String) {
        install { number, _ in
            Terminal.errorLine("\ninterrupted" + cleanUp())
            exit(128 + number)
        }
    }
}
