import Testing
@testable import SRv6

/// apply's undo: every step runs, last first, even after one failed, and each failure is
/// returned for the error apply throws (none is swallowed).
@Suite struct RollBackTests {
    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    @Test func everyStepRunsInReverseAndEveryFailureIsReported() {
        nonisolated(unsafe) var ran: [Int] = []
        let steps: [() throws -> Void] = [
            { ran.append(1) },
            { ran.append(2); throw Refused(description: "route fd00:9::/64 could not be restored") },
            { ran.append(3) },
            { ran.append(4); throw Refused(description: "chain srv6_sid_3 could not be removed") },
        ]
        let failures = SRv6Node.rollBack(steps)
        #expect(ran == [4, 3, 2, 1])
        #expect(failures == ["chain srv6_sid_3 could not be removed", "route fd00:9::/64 could not be restored"])
        #expect(SRv6Node.rollBack([{ ran.append(5) }]).isEmpty)
    }
}
