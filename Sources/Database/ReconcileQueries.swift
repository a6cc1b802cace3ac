public import Logging
public import Foundation
import PostgresNIO

/// A backend key read back as the object version it would hold: `<tenant>/<bucket>/<name>/<version>`
/// (or, for rows from before versions, `<tenant>/<bucket>/<name>`).
public struct StoredVersion: Sendable, Hashable {
    public var bucketID: String
    public var name: String
    /// nil: the legacy layout, the name is the whole rest of the key.
    public var version: String?

    public init(bucketID: String, name: String, version: String?) {
        self.bucketID = bucketID
        self.name = name
        self.version = version
    }
}

/// An object row, as `storage-api reconcile` walks them.
public struct StoredObjectRow: Sendable {
    public let id: UUID
    public let bucketID: String
    public let name: String
    public let version: String?
}

extension StorageDatabase {
    /// Which of `candidates` an object row, a resumable upload or a pending (or quarantined)
    /// processed version refers to. The server's own role reads every row, whatever the policies.
    public func referencedVersions(_ candidates: [StoredVersion], logger: Logger) async throws -> Set<StoredVersion> {
        guard !candidates.isEmpty else { return [] }
        let rows = try await statement(
            """
            SELECT given.i::bigint FROM unnest(\(candidates.map(\.bucketID))::text[],
                                               \(candidates.map(\.name))::text[],
                                               \(candidates.map { $0.version ?? "" })::text[])
                   WITH ORDINALITY AS given(bucket_id, name, version, i)
             WHERE EXISTS (SELECT 1 FROM storage.objects AS o
                            WHERE o.bucket_id = given.bucket_id AND o.name = given.name
                              AND o.version IS NOT DISTINCT FROM nullif(given.version, ''))
                OR EXISTS (SELECT 1 FROM storage_api.resumable_uploads AS r
                            WHERE r.bucket_id = given.bucket_id AND r.name = given.name
                              AND r.version = given.version)
                OR EXISTS (SELECT 1 FROM storage_api.processing_jobs AS p
                            WHERE p.bucket_id = given.bucket_id AND p.name = given.name AND p.version = given.version
                              AND (p.state = 'pending' OR p.quarantined))
            """, logger: logger)
        return Set(try rows.map { candidates[Int(try $0.decode(Int64.self)) - 1] })
    }

    /// Which of `versions` a resumable upload still has (its pieces are in use).
    public func resumableVersions(_ versions: [String], logger: Logger) async throws -> Set<String> {
        guard !versions.isEmpty else { return [] }
        let rows = try await statement(
            "SELECT version FROM storage_api.resumable_uploads WHERE version = ANY(\(versions))", logger: logger)
        return Set(try rows.map { try $0.decode(String.self) })
    }

    /// Object rows in id order, `limit` at a time after `after`.
    public func objectRows(after: UUID?, limit: Int, logger: Logger) async throws -> [StoredObjectRow] {
        let rows = try await statement(
            """
            SELECT id, bucket_id, name, version FROM storage.objects
             WHERE \(after == nil) OR id > \(after ?? UUID())
             ORDER BY id LIMIT \(limit)
            """, logger: logger)
        return try rows.map { row in
            let (id, bucketID, name, version) = try row.decode((UUID, String, String, String?).self)
            return StoredObjectRow(id: id, bucketID: bucketID, name: name, version: version)
        }
    }
}
