public import Foundation
import PostgresNIO
public import StorageCore

/// A row of `storage.s3_multipart_uploads`: an `/s3` multipart upload in progress.
public struct MultipartUploadRecord: Sendable {
    public var id: String
    public var bucketID: String
    public var key: String
    /// The version the object gets on completion (its backend key's last segment).
    public var version: String
    public var ownerID: String?
    /// Bytes of the parts recorded so far.
    public var inProgressSize: Int64
    public var createdAt: Date
    public var userMetadata: JSONValue?

    public init(
        id: String, bucketID: String, key: String, version: String, ownerID: String?, inProgressSize: Int64 = 0,
        createdAt: Date = Date(), userMetadata: JSONValue?
    ) {
        self.id = id
        self.bucketID = bucketID
        self.key = key
        self.version = version
        self.ownerID = ownerID
        self.inProgressSize = inProgressSize
        self.createdAt = createdAt
        self.userMetadata = userMetadata
    }
}

/// A row of `storage.s3_multipart_uploads_parts`.
public struct MultipartPartRecord: Sendable, Equatable {
    public var number: Int
    public var eTag: String
    public var size: Int64
    public var createdAt: Date
}

extension Transaction {
    public func insertMultipartUpload(_ upload: MultipartUploadRecord) async throws {
        // upload_signature: upstream's column, not null; here it names the version the upload writes.
        try await query(
            """
            INSERT INTO storage.s3_multipart_uploads (id, bucket_id, key, version, owner_id, upload_signature, user_metadata)
            VALUES (\(upload.id), \(upload.bucketID), \(upload.key), \(upload.version), \(upload.ownerID),
                    \(upload.version), \(upload.userMetadata))
            """)
    }

    /// The upload, if it is in progress (and, with `forUpdate`, locked until commit).
    public func multipartUpload(id: String, forUpdate: Bool = false) async throws -> MultipartUploadRecord? {
        let rows = try await query(
            "SELECT \(sql: ColumnList.multipartUpload) FROM storage.s3_multipart_uploads WHERE id = \(id)\(sql: RowLock(forUpdate))")
        return try rows.first.map(Self.decodeUpload)
    }

    /// Records a part, replacing an earlier part of the same number, and returns the upload's bytes
    /// in progress afterwards. The upload row is locked, so parts recorded at once add up.
    public func recordMultipartPart(_ part: MultipartPart, upload: MultipartUploadRecord) async throws -> Int64 {
        let replaced = try await query(
            """
            DELETE FROM storage.s3_multipart_uploads_parts WHERE upload_id = \(upload.id) AND part_number = \(part.number)
            RETURNING size
            """
        ).reduce(Int64(0)) { $0 + (try $1.decode(Int64.self)) }
        try await query(
            """
            INSERT INTO storage.s3_multipart_uploads_parts (upload_id, size, part_number, bucket_id, key, etag, owner_id, version)
            VALUES (\(upload.id), \(part.size), \(part.number), \(upload.bucketID), \(upload.key), \(part.eTag),
                    \(upload.ownerID), \(upload.version))
            """)
        let rows = try await query(
            """
            UPDATE storage.s3_multipart_uploads SET in_progress_size = in_progress_size + \(part.size - replaced)
             WHERE id = \(upload.id) RETURNING in_progress_size
            """)
        return try rows.first?.decode(Int64.self) ?? 0
    }

    /// The upload's parts above `marker`, by number, at most `limit`.
    public func multipartParts(uploadID: String, after marker: Int = 0, limit: Int = 10_001) async throws -> [MultipartPartRecord] {
        try await query(
            """
            SELECT part_number, etag, size, created_at FROM storage.s3_multipart_uploads_parts
             WHERE upload_id = \(uploadID) AND part_number > \(marker) ORDER BY part_number LIMIT \(limit)
            """
        ).map { row in
            let (number, eTag, size, createdAt) = try row.decode((Int, String, Int64, Date).self)
            return MultipartPartRecord(number: number, eTag: eTag, size: size, createdAt: createdAt)
        }
    }

    /// Removes the upload and its parts' rows; false when it was already gone.
    @discardableResult
    public func deleteMultipartUpload(id: String) async throws -> Bool {
        try await !query("DELETE FROM storage.s3_multipart_uploads WHERE id = \(id) RETURNING id").isEmpty
    }

    /// Uploads in progress in a bucket under `prefix`, S3's ListMultipartUploads order (key, then
    /// creation), after the markers; with a delimiter, keys below it collapse into one entry whose
    /// id is empty (a common prefix).
    public func listMultipartUploads(
        bucketID: String, prefix: String, delimiter: String?, keyMarker: String, uploadIDMarker: String, limit: Int
    ) async throws -> [MultipartUploadRecord] {
        if let delimiter, !delimiter.isEmpty {
            let rows = try await query(
                """
                SELECT key, id, created_at FROM storage.list_multipart_uploads_with_delimiter(
                  \(bucketID), \(Self.escapeLike(prefix)), \(delimiter), \(limit)::int, \(keyMarker), \(uploadIDMarker))
                """)
            return try rows.map { row in
                let (key, id, createdAt) = try row.decode((String, String, Date).self)
                // A key holding the delimiter past the prefix is a collapsed one (a common prefix),
                // returned with some upload's id it does not stand for.
                let collapsed = String(key.dropFirst(prefix.count)).contains(delimiter)
                return MultipartUploadRecord(
                    id: collapsed ? "" : id, bucketID: bucketID, key: key, version: "", ownerID: nil,
                    createdAt: createdAt, userMetadata: nil)
            }
        }
        var sql = QueryBuilder("SELECT ")
        sql.append(ColumnList.multipartUpload)
        sql.append(" FROM storage.s3_multipart_uploads WHERE bucket_id = ")
        sql.bind(bucketID)
        sql.append(" AND key COLLATE \"C\" LIKE ")
        sql.bind(Self.escapeLike(prefix) + "%")
        if !keyMarker.isEmpty {
            sql.append(" AND (key COLLATE \"C\" > ")
            sql.bind(keyMarker)
            sql.append(" OR (key = ")
            sql.bind(keyMarker)
            sql.append(" AND id COLLATE \"C\" > ")
            sql.bind(uploadIDMarker)
            sql.append("))")
        }
        sql.append(" ORDER BY key COLLATE \"C\", created_at, id LIMIT ")
        sql.bind(Int64(limit))
        return try await query(sql.query).map(Self.decodeUpload)
    }

    private static func decodeUpload(_ row: PostgresRow) throws -> MultipartUploadRecord {
        let (id, bucketID, key, version, ownerID, size, createdAt, userMetadata) = try row.decode(
            (String, String, String, String, String?, Int64, Date, JSONValue?).self)
        return MultipartUploadRecord(
            id: id, bucketID: bucketID, key: key, version: version, ownerID: ownerID, inProgressSize: size,
            createdAt: createdAt, userMetadata: userMetadata)
    }
}
