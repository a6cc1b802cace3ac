public import Logging
import PostgresNIO

extension StorageDatabase {
    /// Records a variant just written to the backend, then evicts the least recently used
    /// variants while the total is over `maximumBytes`. Returns the evicted keys (their bytes
    /// are the caller's to remove). Concurrent writers may both evict; a variant evicted twice
    /// or read just after eviction is only rendered again.
    public func recordRenderVariant(_ key: String, bytes: Int64, maximumBytes: Int64, logger: Logger) async throws -> [String] {
        try await statement(
            """
            INSERT INTO storage_api.render_variants (key, bytes) VALUES (\(key), \(bytes))
            ON CONFLICT (key) DO UPDATE SET bytes = excluded.bytes, used_at = now()
            """, logger: logger)
        // A variant goes when the variants used before it already exceed what must be freed.
        let rows = try await statement(
            """
            WITH ordered AS (
              SELECT key, sum(bytes) OVER (ORDER BY used_at, key) - bytes AS before,
                     sum(bytes) OVER () - \(maximumBytes) AS excess
                FROM storage_api.render_variants
            )
            DELETE FROM storage_api.render_variants AS variant USING ordered
             WHERE variant.key = ordered.key AND ordered.excess > 0 AND ordered.before < ordered.excess
            RETURNING variant.key
            """, logger: logger)
        return try rows.map { try $0.decode(String.self) }
    }

    /// Marks a variant as used (a cache hit), at most once a minute per variant.
    public func touchRenderVariant(_ key: String, logger: Logger) async throws {
        try await statement(
            """
            UPDATE storage_api.render_variants SET used_at = now()
             WHERE key = \(key) AND used_at < now() - interval '1 minute'
            """, logger: logger)
    }

    /// Forgets the variants recorded under `prefix` + `/` (a cache purge); returns how many.
    /// `starts_with`, not LIKE: object names may hold `%` and `_`.
    public func forgetRenderVariants(under prefix: String, logger: Logger) async throws -> Int {
        let rows = try await statement(
            "DELETE FROM storage_api.render_variants WHERE starts_with(key, \(prefix + "/")) RETURNING 1", logger: logger)
        return rows.count
    }
}
