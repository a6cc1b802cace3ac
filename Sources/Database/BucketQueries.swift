import PostgresNIO
public import StorageCore

extension Transaction {
    public func bucket(id: String, forUpdate: Bool = false) async throws -> Bucket? {
        let lock = forUpdate ? " FOR UPDATE" : ""
        let rows = try await query(
            PostgresQuery(unsafeSQL: "SELECT \(Columns.bucket) FROM storage.buckets WHERE id = $1 LIMIT 1\(lock)",
                          binds: bindings(id)))
        return try rows.buckets().first
    }

    public func listBuckets(_ options: BucketListOptions) async throws -> [Bucket] {
        var sql = "SELECT \(Columns.bucket) FROM storage.buckets"
        var binds = PostgresBindings()
        if let search = options.search, !search.isEmpty {
            binds.append("%" + Self.escapeLike(search) + "%")
            sql += " WHERE name ILIKE $\(binds.count)"
        }
        if let column = options.sortColumn {
            sql += " ORDER BY \(column.rawValue) \(options.descending ? "DESC" : "ASC")"
        }
        if let limit = options.limit {
            binds.append(Int64(limit))
            sql += " LIMIT $\(binds.count)"
        }
        if let offset = options.offset {
            binds.append(Int64(offset))
            sql += " OFFSET $\(binds.count)"
        }
        return try await query(PostgresQuery(unsafeSQL: sql, binds: binds)).buckets()
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
        var assignments: [String] = []
        var binds = PostgresBindings()
        if let isPublic {
            binds.append(isPublic)
            assignments.append("public = $\(binds.count)")
        }
        if case .set(let limit) = fileSizeLimit {
            binds.append(limit)
            assignments.append("file_size_limit = $\(binds.count)")
        }
        if case .set(let types) = allowedMimeTypes {
            binds.append(types)
            assignments.append("allowed_mime_types = $\(binds.count)")
        }
        guard !assignments.isEmpty else { return 0 }
        binds.append(id)
        let sql = "UPDATE storage.buckets SET \(assignments.joined(separator: ", ")) WHERE id = $\(binds.count) RETURNING id"
        return try await query(PostgresQuery(unsafeSQL: sql, binds: binds)).count
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

func bindings(_ values: String...) -> PostgresBindings {
    var binds = PostgresBindings()
    for value in values { binds.append(value) }
    return binds
}
