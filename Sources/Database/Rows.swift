import Foundation
public import PostgresNIO
import StorageCore

// jsonb columns (metadata, user_metadata) travel as JSONValue in both directions.
extension JSONValue: PostgresEncodable, PostgresDecodable {}

extension PostgresRow {
    func decodeBucket() throws -> Bucket {
        let (id, name, owner, ownerID, isPublic, type, limit, mimeTypes, createdAt, updatedAt) = try decode(
            (String, String, String?, String?, Bool, String, Int64?, [String]?, Date?, Date?).self)
        return Bucket(
            id: id, name: name, owner: owner, ownerID: ownerID, isPublic: isPublic, type: type,
            fileSizeLimit: limit, allowedMimeTypes: mimeTypes, createdAt: createdAt, updatedAt: updatedAt)
    }

    func decodeObject() throws -> ObjectRecord {
        let (id, bucketID, name, owner, ownerID, version, createdAt, updatedAt, lastAccessedAt, metadata, userMetadata) =
            try decode(
                (UUID, String, String, String?, String?, String?, Date?, Date?, Date?, JSONValue?, JSONValue?).self)
        return ObjectRecord(
            id: id, bucketID: bucketID, name: name, owner: owner, ownerID: ownerID, version: version,
            createdAt: createdAt, updatedAt: updatedAt, lastAccessedAt: lastAccessedAt,
            metadata: metadata, userMetadata: userMetadata)
    }
}

extension Array where Element == PostgresRow {
    func buckets() throws -> [Bucket] { try map { try $0.decodeBucket() } }
    func objects() throws -> [ObjectRecord] { try map { try $0.decodeObject() } }
}
