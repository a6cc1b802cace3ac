public import Logging

/// Backend clean-ups that failed (the backend was unreachable) and must still happen: aborting a
/// failed multipart upload, deleting bytes no row refers to. Retried until they succeed.
///
/// Held in memory: a crash loses the queue. The file backend sweeps abandoned temporary files at
/// start-up; S3 multipart uploads a crash abandons are left to the bucket's lifecycle rules.
public actor CleanupQueue {
    public typealias Work = @Sendable () async throws -> Void

    private struct Item {
        let description: String
        let work: Work
        var attempts: Int
    }

    private var items: [Item] = []
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Number of clean-ups waiting.
    public var pending: Int { items.count }

    /// Runs `work` now; if it fails, keeps it for `retry()`.
    public func run(_ description: String, _ work: @escaping Work) async {
        do {
            try await work()
        } catch {
            logger.warning("backend clean-up failed; will retry", metadata: ["cleanup": "\(description)", "error": "\(error)"])
            items.append(Item(description: description, work: work, attempts: 1))
        }
    }

    /// Tries every waiting clean-up once; returns how many are still waiting.
    @discardableResult
    public func retry() async -> Int {
        let waiting = items
        items = []
        for var item in waiting {
            do {
                try await item.work()
                logger.info("backend clean-up done", metadata: ["cleanup": "\(item.description)", "attempts": "\(item.attempts + 1)"])
            } catch {
                item.attempts += 1
                items.append(item)
            }
        }
        return items.count
    }
}
