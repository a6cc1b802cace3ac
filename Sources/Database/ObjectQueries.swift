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
        let lock = forUpdate ? " FOR UPDATE" : ""
        let rows = try await query(
            PostgresQuery(
                unsafeSQL: "SELECT \(Columns.object) FROM storage.objects WHERE bucket_id = $1 AND name = $2 LIMIT 1\(lock)",
                binds: bindings(bucketID, name)))
        return try rows.objects().first
    }

    /// The RLS probe's candidate row (spec §2.3): a plain insert, or an upsert that also needs the
    /// SELECT and UPDATE policies. Callers run it in a transaction that is rolled back.
    public func probeObjectWrite(_ write: ObjectWrite, upsert: Bool) async throws {
        if upsert {
            try await query(
                """
                INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata, version)
                VALUES (\(write.bucketID), \(write.name), \(write.owner.uuid)::uuid, \(write.owner.id),
                        \(write.metadata), \(write.userMetadata), \(write.version))
                ON CONFLICT (name, bucket_id) DO UPDATE SET
                  metadata = EXCLUDED.metadata, user_metadata = EXCLUDED.user_metadata, version = EXCLUDED.version,
                  owner = EXCLUDED.owner, owner_id = EXCLUDED.owner_id
                RETURNING id
                """)
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
        let ownerAssignments = write.owner.id == nil ? "" : ", owner = EXCLUDED.owner, owner_id = EXCLUDED.owner_id"
        var binds = PostgresBindings()
        binds.append(write.bucketID)
        binds.append(write.name)
        binds.append(write.owner.uuid)
        binds.append(write.owner.id)
        try binds.append(write.metadata)
        try binds.append(write.userMetadata)
        binds.append(write.version)
        let sql = """
            INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata, version)
            VALUES ($1, $2, $3::uuid, $4, $5, $6, $7)
            ON CONFLICT (name, bucket_id) DO UPDATE SET
              metadata = EXCLUDED.metadata, user_metadata = EXCLUDED.user_metadata, version = EXCLUDED.version\(ownerAssignments)
            RETURNING \(Columns.object)
            """
        let rows = try await query(PostgresQuery(unsafeSQL: sql, binds: binds)).objects()
        guard let row = rows.first else { throw StorageError.internalError("the object row was not written") }
        return row
    }

    /// Moves a row to a new bucket and name with new content (spec §7.3); nil if the row is gone
    /// or has changed version meanwhile.
    public func moveObject(
        id: UUID, fromVersion: String?, to write: ObjectWrite
    ) async throws -> ObjectRecord? {
        var binds = PostgresBindings()
        binds.append(write.bucketID)
        binds.append(write.name)
        binds.append(write.version)
        try binds.append(write.metadata)
        binds.append(id)
        binds.append(fromVersion)
        binds.append(write.owner.uuid)
        binds.append(write.owner.id)
        let sql = """
            UPDATE storage.objects
               SET bucket_id = $1, name = $2, version = $3, metadata = $4,
                   owner = CASE WHEN $8::text IS NULL THEN owner ELSE $7::uuid END,
                   owner_id = coalesce($8::text, owner_id)
             WHERE id = $5 AND version IS NOT DISTINCT FROM $6
            RETURNING \(Columns.object)
            """
        return try await query(PostgresQuery(unsafeSQL: sql, binds: binds)).objects().first
    }

    /// The move probe: the same UPDATE the move will do, as the caller (needs SELECT and UPDATE).
    public func probeObjectMove(bucketID: String, name: String, to destinationBucket: String, _ destinationName: String, owner: Owner) async throws -> Int {
        try await query(
            """
            UPDATE storage.objects SET bucket_id = \(destinationBucket), name = \(destinationName),
                   owner = coalesce(\(owner.uuid)::uuid, owner), owner_id = coalesce(\(owner.id), owner_id)
             WHERE bucket_id = \(bucketID) AND name = \(name)
            RETURNING id
            """
        ).count
    }

    public func deleteObject(bucketID: String, name: String) async throws -> ObjectRecord? {
        let rows = try await query(
            PostgresQuery(
                unsafeSQL: "DELETE FROM storage.objects WHERE bucket_id = $1 AND name = $2 RETURNING \(Columns.object)",
                binds: bindings(bucketID, name)))
        return try rows.objects().first
    }

    /// Which of `names` exist in the bucket and are visible to the session.
    public func visibleObjectNames(bucketID: String, names: [String]) async throws -> Set<String> {
        var binds = PostgresBindings()
        binds.append(bucketID)
        binds.append(names)
        let rows = try await query(
            PostgresQuery(
                unsafeSQL: "SELECT name FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2)", binds: binds))
        return Set(try rows.map { try $0.decode(String.self) })
    }

    /// Deletes the named objects the caller may delete; returns the deleted rows.
    public func deleteObjects(bucketID: String, names: [String]) async throws -> [ObjectRecord] {
        var binds = PostgresBindings()
        binds.append(bucketID)
        binds.append(names)
        return try await query(
            PostgresQuery(
                unsafeSQL: "DELETE FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2) RETURNING \(Columns.object)",
                binds: binds)
        ).objects()
    }

    /// Ids of the caller's visible objects of a bucket created before `before`, in id order,
    /// after `cursor`: one page of a bucket scan.
    public func objectIDs(bucketID: String, createdBefore before: Date, after cursor: UUID?, limit: Int) async throws -> [UUID] {
        var binds = PostgresBindings()
        binds.append(bucketID)
        binds.append(before)
        binds.append(cursor ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        binds.append(Int64(limit))
        let rows = try await query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT id FROM storage.objects WHERE bucket_id = $1 AND created_at < $2 AND id > $3
                    ORDER BY id LIMIT $4
                    """,
                binds: binds))
        return try rows.map { try $0.decode(UUID.self) }
    }

    /// Deletes the objects with these ids that the caller may delete; returns the deleted rows.
    public func deleteObjects(ids: [UUID]) async throws -> [ObjectRecord] {
        var binds = PostgresBindings()
        binds.append(ids)
        return try await query(
            PostgresQuery(
                unsafeSQL: "DELETE FROM storage.objects WHERE id = ANY($1) RETURNING \(Columns.object)", binds: binds)
        ).objects()
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
        var conditions = ["bucket_id = $1"]
        var binds = PostgresBindings()
        binds.append(bucketID)
        if !list.prefix.isEmpty {
            // LIKE is not leakproof, so under RLS Postgres filters with it only after the policy,
            // row by row; the range bounds (leakproof comparisons) keep it an index range scan.
            binds.append(list.prefix)
            conditions.append("name COLLATE \"C\" >= $\(binds.count)")
            if let bound = Self.prefixUpperBound(list.prefix) {
                binds.append(bound)
                conditions.append("name COLLATE \"C\" < $\(binds.count)")
            }
            binds.append(Self.escapeLike(list.prefix) + "%")
            conditions.append("name COLLATE \"C\" LIKE $\(binds.count)")
        }
        let comparison = list.descending ? "<" : ">"
        let direction = list.descending ? "DESC" : "ASC"
        // An enum's raw value, never client text: the only SQL here not passed as a bind.
        let timestampColumn = list.sortColumn == .name ? nil : list.sortColumn.rawValue
        if let startAfter = list.startAfter {
            binds.append(startAfter)
            let nameIndex = binds.count
            if let column = timestampColumn {
                binds.append(list.sortValueAfter ?? "")
                conditions.append(
                    "(date_trunc('milliseconds', \(column)), name COLLATE \"C\") \(comparison) "
                        + "(coalesce(nullif($\(binds.count), '')::timestamptz, 'epoch'::timestamptz), $\(nameIndex))")
            } else {
                conditions.append("name COLLATE \"C\" \(comparison) $\(nameIndex)")
            }
        }
        binds.append(Int64(list.limit))
        let order = timestampColumn.map { "date_trunc('milliseconds', \($0)) \(direction), " } ?? ""
        let sql = """
            SELECT NULL::text, name, id, updated_at, created_at, last_accessed_at, metadata
              FROM storage.objects
             WHERE \(conditions.joined(separator: " AND "))
             ORDER BY \(order)name COLLATE "C" \(direction)
             LIMIT $\(binds.count)
            """
        return try await entries(query(PostgresQuery(unsafeSQL: sql, binds: binds)))
    }

    private func listWithDelimiter(bucketID: String, _ list: ListV2Query) async throws -> [ListEntry] {
        let levels = list.prefix.isEmpty ? 1 : list.prefix.split(separator: "/", omittingEmptySubsequences: false).count
        let rows = try await query(
            """
            SELECT key, name, id, updated_at, created_at, last_accessed_at, metadata
              FROM storage.search_v2(\(list.prefix), \(bucketID), \(list.limit)::int, \(levels)::int, \(list.startAfter ?? ""),
                                     \(list.descending ? "desc" : "asc"), \(list.sortColumn.rawValue), \(list.sortValueAfter ?? ""))
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
        try rows.map { row in
            let (key, name, id, updatedAt, createdAt, lastAccessedAt, metadata) = try row.decode(
                (String?, String?, UUID?, Date?, Date?, Date?, JSONValue?).self)
            return ListEntry(
                key: key, name: name ?? "", id: id, updatedAt: updatedAt, createdAt: createdAt,
                lastAccessedAt: lastAccessedAt, metadata: metadata)
        }
    }
}
