import Logging
import Synchronization
import Testing

@testable import ObjectStore

@Suite struct CleanupQueueTests {
    final class Flaky: Sendable {
        let failuresLeft: Mutex<Int>
        let runs = Mutex(0)
        init(failures: Int) { failuresLeft = Mutex(failures) }

        func work() throws {
            runs.withLock { $0 += 1 }
            try failuresLeft.withLock { left in
                if left > 0 {
                    left -= 1
                    throw ObjectStoreError(.unavailable, "backend down")
                }
            }
        }
    }

    @Test func successfulWorkIsNotKept() async {
        let queue = CleanupQueue(logger: Logger(label: "test"))
        let flaky = Flaky(failures: 0)
        await queue.run("fine") { try flaky.work() }
        #expect(await queue.pending == 0)
        #expect(flaky.runs.withLock { $0 } == 1)
    }

    @Test func failedWorkIsRetriedUntilItSucceeds() async {
        let queue = CleanupQueue(logger: Logger(label: "test"))
        let flaky = Flaky(failures: 3)
        await queue.run("flaky") { try flaky.work() }
        #expect(await queue.pending == 1)
        #expect(await queue.retry() == 1)
        #expect(await queue.retry() == 1)
        #expect(await queue.retry() == 0)
        #expect(await queue.retry() == 0)
        #expect(flaky.runs.withLock { $0 } == 4)
    }
}
