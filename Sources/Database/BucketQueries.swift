import PostgresNIO
public import StorageCore

extension Transaction {
    public func bucket(id: String, forUpdate: Bool = false) async throws -> Bucket? {
        let lock = RowLock(forUpdate)
        let rows = try await query(
            "SELECT \(sql: ColumnList.bucket) FROM storage.buckets WHERE id = \(id) LIMIT 1\(sql: lock)")
        return try rows.buckets().first
    }

    public func listBuckets(_ options: BucketListOptions) async throws -> [Bucket] {
        var sql = QueryBuilder("SELECT ")
        sql.append(ColumnList.bucket)
        sql.append(" FROM storage.buckets")
        if let search = options.search, !search.isEmpty {
            sql.append(" WHERE name ILIKE ")
            sql.bind("%" + Self.escapeLike(search) + "%")
        }
        if let column = options.sortColumn {
            sql.append(" ORDER BY ")
            sql.append(column)
            sql.append(" ")
            sql.append(ListSortOrder(descending: options.descending))
        }
        if let limit = options.limit {
            sql.append(" LIMIT ")
            sql.bind(Int64(limit))
        }
        if let offset = options.offset {
            sql.append(" OFFSET ")
            sql.bind(Int64(offset))
        }
        return try await query(sql.query).buckets()
    }

    public func insertBucket(
        id: String, name: String, owner: Owner, isPublic: Bool, fileSizeLimit: Int64?,
        allowedMimeTypes: [String]?, type: String
    ) async throws {
        try await query(
            """
            INSERT INTO storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types, type)
            VALUES (\(id), \(name), \(owner.uuid)::uuid, \(owner.id), \(isPublic), \(fileSizeLimit),
                    \(allowedMimeTypes), \(type)::storage.buckettype)
            """)
    }

    /// Returns how many rows the caller was allowed to update (0 or 1).
    public func updateBucket(
        id: String, isPublic: Bool?, fileSizeLimit: FieldUpdate<Int64>, allowedMimeTypes: FieldUpdate<[String]>
    ) async throws -> Int {
        var sql = QueryBuilder("UPDATE storage.buckets SET ")
        var assigned = false
        func separate() {
            if assigned { sql.append(", ") }
            assigned = true
        }
        if let isPublic {
            separate()
            sql.append("public = ")
            sql.bind(isPublic)
        }
        if case .set(let limit) = fileSizeLimit {
            separate()
            sql.append("file_size_limit = ")
            sql.bind(limit)
        }
        if case .set(let types) = allowedMimeTypes {
            separate()
            sql.append("allowed_mime_types = ")
            sql.bind(types)
        }
        guard assigned else { return 0 }
        sql.append(" WHERE id = ")
        sql.bind(id)
        sql.append(" RETURNING id")
        return try await query(sql.query).count
    }

    /// Returns how many rows the caller was allowed to delete (0 or 1).
    public func deleteBucket(id: String) async throws -> Int {
        try await query("DELETE FROM storage.buckets WHERE id = \(id) RETURNING id").count
    }

    public func bucketHasObjects(id: String) async throws -> Bool {
        try await !query("SELECT 1 FROM storage.objects WHERE bucket_id = \(id) LIMIT 1").isEmpty
    }

    /// Escapes `\`, `%` and `_` for a LIKE/ILIKE pattern with the default escape character.
    public static func escapeLike(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "\\" || character == "%" || character == "_" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
