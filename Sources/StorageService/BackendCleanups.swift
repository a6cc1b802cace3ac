public import Database
public import Logging
public import ObjectStore
public import StorageCore
import Synchronization

/// Keeps clean-ups a store could not do (the backend failed) in Postgres, due again after a
/// short back-off. Given to the S3 store, which has no database of its own.
public struct DurableCleanupSink: CleanupSink {
    let database: StorageDatabase

    /// How long a postponed clean-up waits before a drainer retries it.
    static let retryDelay: Duration = .seconds(2)

    public init(database: StorageDatabase) {
        self.database = database
    }

    public func postpone(_ cleanups: [BackendCleanup], after error: any Error, logger: Logger) async {
        logger.warning("backend clean-up failed; queued for retry", metadata: [
            "keys": "\(cleanups.map(\.key))", "error": "\(String(reflecting: error))"])
        do {
            try await database.enqueueCleanups(cleanups, dueIn: Self.retryDelay, logger: logger)
        } catch {
            // Both the backend and Postgres failed: `storage-api reconcile` finds these bytes.
            logger.error("could not queue a backend clean-up; reconcile will find the bytes", metadata: [
                "keys": "\(cleanups.map(\.key))", "error": "\(String(reflecting: error))"])
        }
    }
}

/// Removes bytes no row refers to any more, so that none are lost and none are orphaned
/// (docs/hardening.md, "Deletion").
///
/// The transaction that frees bytes (a delete, an overwrite, a move) records them in
/// `storage_api.backend_cleanups`; a failed COMMIT takes the record with it and the bytes stay.
/// After COMMIT the request removes them and forgets the record; what it could not do (the
/// process died, the backend failed) a drainer on any replica does once the record is due.
struct BackendJanitor: Sendable {
    let database: StorageDatabase
    let store: any ObjectStore
    let sink: DurableCleanupSink
    /// How long the request has to do its clean-ups before a drainer may.
    let grace: Duration

    /// How long a drainer's claim keeps other drainers off a clean-up (one that died holding it
    /// delays the clean-up by this much; two doing it at once is harmless).
    static let claimLease: Duration = .seconds(30)
    /// The longest back-off between two attempts.
    static let maximumBackoff: Duration = .seconds(300)

    /// Records `cleanups` in `transaction`, the one that frees the bytes.
    func record(_ cleanups: [BackendCleanup], in transaction: Transaction) async throws -> [QueuedCleanup] {
        try await transaction.enqueueCleanups(cleanups, dueIn: grace)
    }

    /// Does recorded clean-ups once their transaction has committed, and forgets the ones done;
    /// the rest stay for a drainer.
    func finish(_ queued: [QueuedCleanup], logger: Logger) async {
        guard !queued.isEmpty else { return }
        let (done, failed) = await perform(queued, logger: logger)
        for (item, error) in failed {
            logger.warning("backend clean-up failed; a drainer retries it", metadata: [
                "key": "\(item.cleanup.key)", "error": "\(String(reflecting: error))"])
        }
        do {
            try await database.forgetCleanups(done, logger: logger)
        } catch {
            // Done twice later is harmless: every clean-up is idempotent.
            logger.warning("could not forget finished clean-ups", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Does each clean-up; returns the ids done and the ones that failed, with why.
    private func perform(_ items: [QueuedCleanup], logger: Logger) async -> (done: [Int64], failed: [(QueuedCleanup, any Error)]) {
        var done: [Int64] = []
        var failed: [(QueuedCleanup, any Error)] = []
        for item in items {
            do {
                try await store.perform(item.cleanup, logger: logger)
                done.append(item.id)
            } catch {
                failed.append((item, error))
            }
        }
        return (done, failed)
    }

    /// Removes bytes no row ever referred to (a write whose row was not committed): now, or
    /// through the queue when the backend fails.
    func discard(_ cleanups: [BackendCleanup], logger: Logger) async {
        var failed: [BackendCleanup] = []
        var lastError: (any Error)?
        for cleanup in cleanups {
            do {
                try await store.perform(cleanup, logger: logger)
            } catch {
                failed.append(cleanup)
                lastError = error
            }
        }
        if let lastError { await sink.postpone(failed, after: lastError, logger: logger) }
    }

    /// One drainer round: claims up to `limit` due clean-ups, does them, forgets the done ones
    /// and puts the failed ones back with a longer back-off. Returns how many it claimed.
    func drain(limit: Int, logger: Logger) async throws -> Int {
        let claimed = try await database.claimDueCleanups(limit: limit, lease: Self.claimLease, logger: logger)
        let (done, failed) = await perform(claimed, logger: logger)
        for (item, error) in failed {
            let delay = Self.backoff.delay(afterAttempt: item.attempts, jitter: .random(in: 0...1))
            logger.warning("queued backend clean-up failed", metadata: [
                "key": "\(item.cleanup.key)", "attempts": "\(item.attempts)", "retryInMs": "\(delay.components.seconds * 1000)",
                "error": "\(String(reflecting: error))"])
            try await database.rescheduleCleanup(item, after: delay, error: String(describing: error), logger: logger)
        }
        try await database.forgetCleanups(done, logger: logger)
        if !done.isEmpty { logger.info("queued backend clean-ups done", metadata: ["count": "\(done.count)"]) }
        return claimed.count
    }

    /// 1 s, 2 s, 4 s … up to five minutes, jittered so replicas do not retry in step.
    static let backoff = Backoff(initial: .seconds(1), maximum: maximumBackoff)
}

/// Clean-ups recorded inside a transaction closure, read once it has committed.
final class RecordedCleanups: Sendable {
    private let recorded = Mutex<[QueuedCleanup]>([])

    func add(_ cleanups: [QueuedCleanup]) { recorded.withLock { $0 += cleanups } }

    var all: [QueuedCleanup] { recorded.withLock { $0 } }
}

extension StorageService {
    /// The clean-ups a row's removal frees: its bytes, and its rendered variants.
    func freedBytes(_ objects: [ObjectRecord]) -> [BackendCleanup] {
        objects.flatMap { object -> [BackendCleanup] in
            var cleanups: [BackendCleanup] = [.object(backendKey(object))]
            // With rendering or its cache off there are no variants to look for (variants kept
            // before the cache was turned off stay until reconcile or a hand removes them).
            if images != nil, settings.render.cacheEnabled, object.version != nil, Self.isImage(object) {
                cleanups.append(.prefix(renderPrefix(object)))
            }
            return cleanups
        }
    }

    /// One round of the clean-up drainer (see `BackendJanitor.drain`); `logger` is the round's.
    public func drainCleanups(limit: Int = 100, logger: Logger) async throws -> Int {
        try await janitor.drain(limit: limit, logger: logger)
    }
}
