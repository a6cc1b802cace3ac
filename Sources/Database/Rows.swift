import Foundation
public import PostgresNIO
public import NIOCore
public import StorageCore

// jsonb columns (metadata, user_metadata) travel as JSONValue in both directions: encoded by
// Codable, decoded by the single-pass parser (listings decode two documents per row).
extension JSONValue: PostgresEncodable {}

extension JSONValue: PostgresDecodable {
    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        // Binary jsonb is a version byte (1) and the text; json and text formats are the text.
        if type == .jsonb, format == .binary {
            guard buffer.readInteger(as: UInt8.self) == 1 else { throw PostgresDecodingError.Code.failure }
        } else if type != .json, type != .jsonb {
            throw PostgresDecodingError.Code.typeMismatch
        }
        let parsed = buffer.readableBytesView.withUnsafeBytes { bytes in
            Result { () throws(JSONParseError) -> JSONValue in try JSONValue(parsing: bytes) }
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        self = try parsed.mapError { _ in PostgresDecodingError.Code.failure }.get()
    }
}

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
