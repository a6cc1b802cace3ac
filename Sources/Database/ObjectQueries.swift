public import Foundation
import PostgresNIO
public import StorageCore

/// The values an upload, copy or move writes into `storage.objects`.
public struct ObjectWrite: Sendable {
    public var bucketID: String
    public var name: String
    public var owner: Owner
    public var version: String
    public var metadata: JSONValue
    public var userMetadata: JSONValue?

    public init(bucketID: String, name: String, owner: Owner, version: String, metadata: JSONValue, userMetadata: JSONValue?) {
        self.bucketID = bucketID
        self.name = name
        self.owner = owner
        self.version = version
        self.metadata = metadata
        self.userMetadata = userMetadata
    }
}

extension Transaction {
    public func object(bucketID: String, name: String, forUpdate: Bool = false) async throws -> ObjectRecord? {
        let lock = RowLock(forUpdate)
        let rows = try await query(
            """
            SELECT \(sql: ColumnList.object) FROM storage.objects
             WHERE bucket_id = \(bucketID) AND name = \(name) LIMIT 1\(sql: lock)
            """)
        return try rows.objects().first
    }

    /// The RLS probe's candidate row (contract §2.3): the very statement the write will run —
    /// a plain insert, or the upsert (which also needs the SELECT and UPDATE policies) — so the
    /// policies judge the row that will be stored. Callers run it in a transaction that is rolled back.
    public func probeObjectWrite(_ write: ObjectWrite, upsert: Bool) async throws {
        if upsert {
            _ = try await upsertObject(write)
        } else {
            try await query(
                """
                INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata, version)
                VALUES (\(write.bucketID), \(write.name), \(write.owner.uuid)::uuid, \(write.owner.id),
                        \(write.metadata), \(write.userMetadata), \(write.version))
                """)
        }
    }

    /// Serialises writers of one key until commit, waiting at most `timeoutMilliseconds`
    /// (55P03 → LockTimeout). The key is upstream's djb2 hash, so both implementations agree.
    public func lockObjectKey(bucketID: String, name: String, timeoutMilliseconds: Int = 5000) async throws {
        let key = Int64(ObjectLockKey.hash("\(bucketID)/\(name)"))
        try await query(
            "SELECT set_config('lock_timeout', \(String(timeoutMilliseconds) + "ms"), true), pg_advisory_xact_lock(\(key))")
    }

    /// Writes the final row of an upload or copy: inserts it, or replaces the existing row's
    /// content (keeping its id and created_at). The owner columns change only when known.
    public func upsertObject(_ write: ObjectWrite) async throws -> ObjectRecord {
        // A writer without an owner id (no `sub`) keeps the row's owner columns.
        let rows = try await query(
            """
            INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata, version)
            VALUES (\(write.bucketID), \(write.name), \(write.owner.uuid)::uuid, \(write.owner.id), \(write.metadata),
                    \(write.userMetadata), \(write.version))
            ON CONFLICT (name, bucket_id) DO UPDATE SET
              metadata = EXCLUDED.metadata, user_metadata = EXCLUDED.user_metadata, version = EXCLUDED.version,
              owner = CASE WHEN EXCLUDED.owner_id IS NULL THEN storage.objects.owner ELSE EXCLUDED.owner END,
              owner_id = coalesce(EXCLUDED.owner_id, storage.objects.owner_id)
            RETURNING \(sql: ColumnList.object)
            """
        ).objects()
        guard let row = rows.first else { throw StorageError.internalError("the object row was not written") }
        return row
    }

    /// Moves a row to a new bucket and name with new content (contract §7.3); nil if the row is gone
    /// or has changed version meanwhile.
    public func moveObject(
        id: UUID, fromVersion: String?, to write: ObjectWrite
    ) async throws -> ObjectRecord? {
        try await query(
            """
            UPDATE storage.objects
               SET bucket_id = \(write.bucketID), name = \(write.name), version = \(write.version), metadata = \(write.metadata),
                   owner = CASE WHEN \(write.owner.id)::text IS NULL THEN owner ELSE \(write.owner.uuid)::uuid END,
                   owner_id = coalesce(\(write.owner.id)::text, owner_id)
             WHERE id = \(id) AND version IS NOT DISTINCT FROM \(fromVersion)
            RETURNING \(sql: ColumnList.object)
            """
        ).objects().first
    }

    /// The move probe: the same UPDATE the move will do, as the caller (needs SELECT and UPDATE).
    /// The owner columns change exactly as `moveObject` changes them, so the policies judge the stored row.
    public func probeObjectMove(bucketID: String, name: String, to destinationBucket: String, _ destinationName: String, owner: Owner) async throws -> Int {
        try await query(
            """
            UPDATE storage.objects SET bucket_id = \(destinationBucket), name = \(destinationName),
                   owner = CASE WHEN \(owner.id)::text IS NULL THEN owner ELSE \(owner.uuid)::uuid END,
                   owner_id = coalesce(\(owner.id)::text, owner_id)
             WHERE bucket_id = \(bucketID) AND name = \(name)
            RETURNING id
            """
        ).count
    }

    public func deleteObject(bucketID: String, name: String) async throws -> ObjectRecord? {
        let rows = try await query(
            "DELETE FROM storage.objects WHERE bucket_id = \(bucketID) AND name = \(name) RETURNING \(sql: ColumnList.object)")
        return try rows.objects().first
    }

    /// Which of `names` exist in the bucket and are visible to the session.
    public func visibleObjectNames(bucketID: String, names: [String]) async throws -> Set<String> {
        let rows = try await query("SELECT name FROM storage.objects WHERE bucket_id = \(bucketID) AND name = ANY(\(names))")
        return Set(try rows.map { try $0.decode(String.self) })
    }

    /// Deletes the named objects the caller may delete; returns the deleted rows.
    public func deleteObjects(bucketID: String, names: [String]) async throws -> [ObjectRecord] {
        try await query(
            "DELETE FROM storage.objects WHERE bucket_id = \(bucketID) AND name = ANY(\(names)) RETURNING \(sql: ColumnList.object)"
        ).objects()
    }

    /// Ids of the caller's visible objects of a bucket created before `before`, in id order,
    /// after `cursor`: one page of a bucket scan.
    public func objectIDs(bucketID: String, createdBefore before: Date, after cursor: UUID?, limit: Int) async throws -> [UUID] {
        let start = cursor ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        let rows = try await query(
            """
            SELECT id FROM storage.objects WHERE bucket_id = \(bucketID) AND created_at < \(before) AND id > \(start)
            ORDER BY id LIMIT \(Int64(limit))
            """)
        return try rows.map { try $0.decode(UUID.self) }
    }

    /// Deletes the objects with these ids that the caller may delete; returns the deleted rows.
    public func deleteObjects(ids: [UUID]) async throws -> [ObjectRecord] {
        try await query("DELETE FROM storage.objects WHERE id = ANY(\(ids)) RETURNING \(sql: ColumnList.object)").objects()
    }

    /// Counts the caller's visible objects of a bucket, stopping at `limit`.
    public func countObjects(bucketID: String, upTo limit: Int) async throws -> Int {
        let rows = try await query(
            "SELECT count(*) FROM (SELECT 1 FROM storage.objects WHERE bucket_id = \(bucketID) LIMIT \(Int64(limit))) AS visible")
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }

    /// List v1 through `storage.search` (RLS applies).
    public func searchObjects(bucketID: String, _ list: ListV1Query) async throws -> [ListEntry] {
        let levels = (list.prefix + list.search).split(separator: "/", omittingEmptySubsequences: false).count
        let rows = try await query(
            """
            SELECT NULL::text, name, id, updated_at, created_at, last_accessed_at, metadata
              FROM storage.search(\(list.prefix), \(bucketID), \(list.limit)::int, \(levels)::int, \(list.offset)::int,
                                  \(list.search), \(list.sortColumn.rawValue), \(list.sortOrder.rawValue))
            """)
        return try entries(rows)
    }

    /// List v2 (RLS applies): a plain key listing, or a `/`-delimited one through `storage.search_v2`.
    public func listObjectsV2(bucketID: String, _ list: ListV2Query) async throws -> [ListEntry] {
        list.withDelimiter ? try await listWithDelimiter(bucketID: bucketID, list) : try await listFlat(bucketID: bucketID, list)
    }

    private func listFlat(bucketID: String, _ list: ListV2Query) async throws -> [ListEntry] {
        var sql = QueryBuilder("SELECT NULL::text, name, id, updated_at, created_at, last_accessed_at, metadata")
        sql.append(" FROM storage.objects WHERE bucket_id = ")
        sql.bind(bucketID)
        if !list.prefix.isEmpty {
            // LIKE is not leakproof, so under RLS Postgres filters with it only after the policy,
            // row by row; the range bounds (leakproof comparisons) keep it an index range scan.
            sql.append(" AND name COLLATE \"C\" >= ")
            sql.bind(list.prefix)
            if let bound = Self.prefixUpperBound(list.prefix) {
                sql.append(" AND name COLLATE \"C\" < ")
                sql.bind(bound)
            }
            sql.append(" AND name COLLATE \"C\" LIKE ")
            sql.bind(Self.escapeLike(list.prefix) + "%")
        }
        let order = ListSortOrder(descending: list.descending)
        let timestampColumn = list.sortColumn == .name ? nil : list.sortColumn
        if let startAfter = list.startAfter {
            if let column = timestampColumn {
                sql.append(" AND (date_trunc('milliseconds', ")
                sql.append(column)
                sql.append("), name COLLATE \"C\") ")
                sql.append(order.continuation)
                sql.append(" (coalesce(nullif(")
                sql.bind(list.sortValueAfter ?? "")
                sql.append(", '')::timestamptz, 'epoch'::timestamptz), ")
                sql.bind(startAfter)
                sql.append(")")
            } else {
                sql.append(" AND name COLLATE \"C\" ")
                sql.append(order.continuation)
                sql.append(" ")
                sql.bind(startAfter)
            }
        }
        sql.append(" ORDER BY ")
        if let column = timestampColumn {
            sql.append("date_trunc('milliseconds', ")
            sql.append(column)
            sql.append(") ")
            sql.append(order)
            sql.append(", ")
        }
        sql.append("name COLLATE \"C\" ")
        sql.append(order)
        sql.append(" LIMIT ")
        sql.bind(Int64(list.limit))
        return try await entries(query(sql.query))
    }

    private func listWithDelimiter(bucketID: String, _ list: ListV2Query) async throws -> [ListEntry] {
        let levels = list.prefix.isEmpty ? 1 : list.prefix.split(separator: "/", omittingEmptySubsequences: false).count
        let rows = try await query(
            """
            SELECT key, name, id, updated_at, created_at, last_accessed_at, metadata
              FROM storage.search_v2(\(list.prefix), \(bucketID), \(list.limit)::int, \(levels)::int, \(list.startAfter ?? ""),
                                     \(ListSortOrder(descending: list.descending).rawValue), \(list.sortColumn.rawValue), \(list.sortValueAfter ?? ""))
            """)
        return try entries(rows)
    }

    /// The least string above every string starting with `prefix` in byte order (collation "C";
    /// UTF-8 keeps code point order): `prefix` with its last character incremented (trailing
    /// U+10FFFF dropped first), or nil when no such string exists.
    static func prefixUpperBound(_ prefix: String) -> String? {
        var scalars = Array(prefix.unicodeScalars)
        while let last = scalars.popLast() {
            var next = last.value + 1
            if next == 0xD800 { next = 0xE000 }  // past the surrogates, which are not scalars
            if let scalar = Unicode.Scalar(next) {
                scalars.append(scalar)
                var bound = String.UnicodeScalarView()
                bound.append(contentsOf: scalars)
                return String(bound)
            }
        }
        return nil
    }

    /// Listing rows: `key, name, id, updated_at, created_at, last_accessed_at, metadata`.
    private func entries(_ rows: [PostgresRow]) throws -> [ListEntry] {
        try rows.map { try $0.decodeListEntry() }
    }
}

extension Transaction {
    /// An S3 listing page (RLS applies): keys under `prefix` after `startAfter` in byte order, with
    /// keys below the next `delimiter` collapsed into one common-prefix row (id nil, name without
    /// the delimiter), through `storage.list_objects_with_delimiter`; no delimiter lists flat.
    public func listObjectsS3(
        bucketID: String, prefix: String, delimiter: String?, startAfter: String?, limit: Int
    ) async throws -> [ListEntry] {
        guard let delimiter, !delimiter.isEmpty else {
            return try await listFlat(
                bucketID: bucketID,
                ListV2Query(
                    prefix: prefix, limit: limit, withDelimiter: false, sortColumn: .name, descending: false,
                    startAfter: startAfter, sortValueAfter: nil))
        }
        let rows = try await query(
            """
            SELECT NULL::text, name, id, updated_at, created_at, last_accessed_at, metadata
              FROM storage.list_objects_with_delimiter(\(bucketID), \(prefix), \(delimiter), \(limit)::int, \(startAfter ?? ""), '', 'asc')
            """)
        return try entries(rows)
    }
}
