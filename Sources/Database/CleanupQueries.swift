public import Logging
import PostgresNIO
public import StorageCore

/// A row of `storage_api.backend_cleanups`: backend work recorded durably.
public struct QueuedCleanup: Sendable, Equatable {
    public let id: Int64
    public let cleanup: BackendCleanup
    /// How many drainers have claimed it so far.
    public let attempts: Int
}

extension Transaction {
    /// Records backend work in this transaction, due after `grace` (the request that freed the
    /// bytes tries first, once the transaction has committed). Returns the rows. Works under any
    /// role the transaction has taken on, and leaves it in that role.
    @discardableResult
    public func enqueueCleanups(_ cleanups: [BackendCleanup], dueIn grace: Duration) async throws -> [QueuedCleanup] {
        guard !cleanups.isEmpty else { return [] }
        // The change that freed the bytes was checked as the caller; this only records what it freed.
        let restore = try await stepOutOfRequestRole()
        let rows = try await query(
            """
            INSERT INTO storage_api.backend_cleanups (kind, key, upload_id, due_at)
            SELECT kind, key, nullif(upload_id, ''),
                   now() + make_interval(secs => \(StorageDatabase.milliseconds(grace))::bigint / 1000.0)
              FROM unnest(\(cleanups.map(\.kind))::text[], \(cleanups.map(\.key))::text[],
                          \(cleanups.map { $0.uploadID ?? "" })::text[]) AS given(kind, key, upload_id)
            RETURNING id, kind, key, upload_id, attempts
            """)
        if let restore { try await query("SELECT set_config('role', \(restore), true)") }
        return try StorageDatabase.decodeCleanups(rows)
    }
}

extension StorageDatabase {
    /// Records backend work on its own (a request's inline clean-up failed, or a store gave up).
    @discardableResult
    public func enqueueCleanups(_ cleanups: [BackendCleanup], dueIn grace: Duration, logger: Logger) async throws -> [QueuedCleanup] {
        try await internalTransaction(logger: logger) { try await $0.enqueueCleanups(cleanups, dueIn: grace) }
    }

    /// Forgets cleanups that were done. One statement, no transaction around it.
    public func forgetCleanups(_ ids: [Int64], logger: Logger) async throws {
        guard !ids.isEmpty else { return }
        try await statement("DELETE FROM storage_api.backend_cleanups WHERE id = ANY(\(ids))", logger: logger)
    }

    /// Claims up to `limit` due cleanups for this drainer for `lease` (no other drainer takes
    /// them meanwhile), oldest first.
    public func claimDueCleanups(limit: Int, lease: Duration, logger: Logger) async throws -> [QueuedCleanup] {
        let rows = try await statement(
            """
            UPDATE storage_api.backend_cleanups AS cleanup
               SET attempts = cleanup.attempts + 1,
                   due_at = now() + make_interval(secs => \(Self.milliseconds(lease))::bigint / 1000.0)
              FROM (SELECT id FROM storage_api.backend_cleanups WHERE due_at <= now()
                    ORDER BY due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED) AS due
             WHERE cleanup.id = due.id
            RETURNING cleanup.id, cleanup.kind, cleanup.key, cleanup.upload_id, cleanup.attempts
            """, logger: logger)
        return try Self.decodeCleanups(rows)
    }

    /// Puts a failed cleanup back, due again after `delay`, with what went wrong.
    public func rescheduleCleanup(_ cleanup: QueuedCleanup, after delay: Duration, error: String, logger: Logger) async throws {
        try await statement(
            """
            UPDATE storage_api.backend_cleanups
               SET due_at = now() + make_interval(secs => \(Self.milliseconds(delay))::bigint / 1000.0),
                   last_error = \(String(error.prefix(1000)))
             WHERE id = \(cleanup.id)
            """, logger: logger)
    }

    /// How many cleanups wait, and how many of them are due now (for metrics and tests).
    public func cleanupBacklog(logger: Logger) async throws -> (waiting: Int, due: Int) {
        let rows = try await statement(
            "SELECT count(*), count(*) FILTER (WHERE due_at <= now()) FROM storage_api.backend_cleanups", logger: logger)
        guard let row = rows.first else { return (0, 0) }
        let (waiting, due) = try row.decode((Int64, Int64).self)
        return (Int(waiting), Int(due))
    }

    /// Which of `keys` a queued cleanup is about.
    public func keysWithQueuedCleanups(_ keys: [String], logger: Logger) async throws -> Set<String> {
        guard !keys.isEmpty else { return [] }
        let rows = try await statement("SELECT key FROM storage_api.backend_cleanups WHERE key = ANY(\(keys))", logger: logger)
        return Set(try rows.map { try $0.decode(String.self) })
    }

    static func decodeCleanups(_ rows: [PostgresRow]) throws -> [QueuedCleanup] {
        try rows.compactMap { row in
            let (id, kind, key, uploadID, attempts) = try row.decode((Int64, String, String, String?, Int32).self)
            guard let cleanup = BackendCleanup(kind: kind, key: key, uploadID: uploadID) else { return nil }
            return QueuedCleanup(id: id, cleanup: cleanup, attempts: Int(attempts))
        }
    }
}
