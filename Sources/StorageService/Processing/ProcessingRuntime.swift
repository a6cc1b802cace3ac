public import Foundation
public import Logging
public import ObjectStore
public import Processing
public import StorageCore
import Synchronization

/// Settings of processing (docs/contract.md §12.3).
public struct ProcessingSettings: Sendable {
    /// `PROCESSING_CONFIG`, validated.
    public var config: ProcessingConfig
    /// How long an upload waits for its steps before it answers 202 (`PROCESSING_WAIT_MS`).
    public var wait: Duration
    /// How long a pipeline's claim on a job keeps other replicas off; renewed while a step runs.
    public var lease: Duration
    /// Jobs one replica runs at once (`PROCESSING_CONCURRENCY`).
    public var concurrency: Int
    /// HTTP for the `webhook` step, and the signed URLs it sends.
    public var hooks: (any ProcessingHooks)?
    /// The stores of the configuration's delivery targets, by name (the composition root makes them).
    public var targets: [String: any ObjectStore]

    public init(
        config: ProcessingConfig, wait: Duration = .seconds(30), lease: Duration = .seconds(30), concurrency: Int = 4,
        hooks: (any ProcessingHooks)? = nil, targets: [String: any ObjectStore] = [:]
    ) {
        self.targets = targets
        self.hooks = hooks
        self.config = config
        self.wait = wait
        self.lease = lease
        self.concurrency = max(1, concurrency)
    }
}

/// What the `webhook` step needs from outside the use cases: an HTTP client and the signer of
/// download URLs (the composition root provides both).
public protocol ProcessingHooks: Sendable {
    /// POSTs `document` to `url` and says what the receiver answered.
    func ask(_ url: URL, document: JSONValue, timeout: Duration, logger: Logger) async -> PipelineMachine.StepOutcome
    /// A URL that downloads `version` of the object for `lifetime` seconds, pending or not.
    func signedURL(bucketID: String, name: String, version: String, lifetime: Int64) -> String
}

/// What a replica shares between the uploads that wait for their jobs and its pipeline: a
/// doorbell the pipeline wakes on, and the waiters a finished job releases at once (a job
/// another replica finished is seen by the waiters' own polling).
final class ProcessingRuntime: Sendable {
    let settings: ProcessingSettings
    let doorbell = Doorbell()

    /// One upload's interest in a job: registered before the job can run, so a job that
    /// finishes at once is not missed.
    struct Ticket: Hashable, Sendable {
        let job: UUID
        let id = UUID()
    }

    private struct Waiter {
        var continuation: CheckedContinuation<Void, Never>?
        /// The job finished (or the wait ended) before anybody waited.
        var rung = false
    }

    private let waiters = Mutex<[Ticket: Waiter]>([:])

    init(settings: ProcessingSettings) {
        self.settings = settings
    }

    func register(_ job: UUID) -> Ticket {
        let ticket = Ticket(job: job)
        waiters.withLock { $0[ticket] = Waiter() }
        return ticket
    }

    func unregister(_ ticket: Ticket) {
        let continuation = waiters.withLock { $0.removeValue(forKey: ticket)?.continuation }
        continuation?.resume()
    }

    /// Wakes the uploads waiting for `job`.
    func finished(_ job: UUID) {
        let continuations = waiters.withLock { waiters -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            for (ticket, waiter) in waiters where ticket.job == job {
                if let continuation = waiter.continuation { woken.append(continuation) }
                waiters[ticket] = Waiter(continuation: nil, rung: true)
            }
            return woken
        }
        for continuation in continuations { continuation.resume() }
    }

    /// Returns when the ticket's job finished here (now or since the last wait), after
    /// `timeout`, or when the task is cancelled.
    func wait(_ ticket: Ticket, upTo timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                try? await Task.sleep(for: timeout)
                ring(ticket)
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = waiters.withLock { waiters -> Bool in
                        guard var waiter = waiters[ticket], !waiter.rung else {
                            waiters[ticket]?.rung = false
                            return true
                        }
                        waiter.continuation = continuation
                        waiters[ticket] = waiter
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                self.ring(ticket)
            }
            group.cancelAll()
        }
    }

    private func ring(_ ticket: Ticket) {
        let continuation = waiters.withLock { waiters -> CheckedContinuation<Void, Never>? in
            guard var waiter = waiters[ticket] else { return nil }
            let continuation = waiter.continuation
            waiter.continuation = nil
            waiter.rung = continuation == nil
            waiters[ticket] = waiter
            return continuation
        }
        continuation?.resume()
    }
}

extension StorageService {
    /// What this replica's pipeline waits on: rung by its own uploads' new jobs. Nil without processing.
    public var processingDoorbell: Doorbell? { processing?.doorbell }
}
